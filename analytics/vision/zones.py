"""Zone occupancy: what is inside one polygon of a camera's picture, for how long, and whether it is a crowd.

An object is inside when its anchor (bottom-centre of its box, where it touches the ground) lies in the
polygon or on its edge. The polygon is a shapely geometry, prepared once when the :class:`ZoneOccupancy` is
built from config (the runtime step), never inside the config models.

Dwell is the time since a track entered the zone. A track that drops out for up to ``exit_grace_s`` (a missed
detection, an anchor wobbling over the edge) keeps its dwell, and a new track id appearing within
``rematch_px`` of where a track that just vanished was last seen inherits its entry time, so a parked
vehicle's dwell keeps growing through occlusions and id switches. The zone only reports state (counts, dwell,
density, a ``crowd`` flag); deciding when to raise, repeat or clear an alert, e.g. for a vehicle parked for
hours, is the alert engine's job, so occupancy never fires anything by itself.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import shapely

from analytics.status import over_capacity
from analytics.vision.types import PERSON, Detections

logger = logging.getLogger(__name__)

Point = tuple[float, float]


@dataclass(frozen=True)
class ZoneState:
    """One zone at one moment."""

    zone_id: str
    at: datetime
    counts: dict[str, int]
    dwell_s: dict[int, float] = field(default_factory=dict)
    density_per_m2: float | None = None
    mean_speed_px_s: float | None = None
    crowd: bool = False

    @property
    def total(self) -> int:
        """Return how many objects of all counted classes are inside."""
        return sum(self.counts.values())

    @property
    def max_dwell_s(self) -> float | None:
        """Return the longest dwell of the tracks inside, None when the zone is empty."""
        return max(self.dwell_s.values()) if self.dwell_s else None

    def over_dwell(self, limit_s: float) -> tuple[int, ...]:
        """Return the ids of tracks inside for longer than ``limit_s`` seconds."""
        return tuple(sorted(t for t, d in self.dwell_s.items() if d > limit_s))


@dataclass
class _Inside:
    entered_at: datetime
    last_seen: datetime
    point: Point
    speed_px_s: float | None = None


class ZoneOccupancy:
    """Counts the tracks whose anchor is in one polygon; one verb: :meth:`update`."""

    def __init__(
        self,
        zone_id: str,
        polygon: Sequence[Point],
        area_m2: float | None = None,
        classes: Iterable[str] | None = None,
        max_count: int | None = None,
        max_density_per_m2: float | None = None,
        exit_grace_s: float = 2.0,
        rematch_px: float = 30.0,
    ) -> None:
        """Build the prepared polygon; ``area_m2`` (ground area) enables crowd density in persons/m²."""
        geometry = shapely.Polygon(polygon)
        if not geometry.is_valid or geometry.area == 0:
            raise ValueError(f"zone {zone_id}: polygon is not a simple polygon with an area")
        shapely.prepare(geometry)
        self.zone_id = zone_id
        self.polygon = geometry
        self.area_m2 = area_m2
        self.classes = frozenset(classes) if classes is not None else None
        self.max_count = max_count
        self.max_density_per_m2 = max_density_per_m2
        self.exit_grace_s = exit_grace_s
        self.rematch_px = rematch_px
        self._inside: dict[int, _Inside] = {}

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Return, for each (x, y) point, whether it is in the polygon or on its edge."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return np.asarray(shapely.intersects_xy(self.polygon, pts[:, 0], pts[:, 1]), dtype=bool)

    def update(self, tracks: Detections, at: datetime) -> ZoneState:
        """Update with one frame's tracks seen at ``at``; return the zone's state."""
        if tracks.track_id is None:
            raise ValueError(f"zone {self.zone_id}: update needs tracked detections (track_id set)")
        anchors = tracks.anchors().astype(np.float64)
        inside = self.contains(anchors) if len(tracks) else np.zeros(0, bool)
        counts: dict[str, int] = {}
        dwell: dict[int, float] = {}
        speeds: list[float] = []
        present = set(tracks.track_id.tolist())
        for i, track_id in enumerate(tracks.track_id.tolist()):
            name = tracks.class_names[i]
            if not inside[i] or (self.classes is not None and name not in self.classes):
                continue
            point: Point = (float(anchors[i, 0]), float(anchors[i, 1]))
            state = self._inside.get(track_id)
            if state is None:
                state = self._inherit(point, at, present) or _Inside(entered_at=at, last_seen=at, point=point)
                self._inside[track_id] = state
            elif at > state.last_seen:
                step = math.dist(state.point, point) / (at - state.last_seen).total_seconds()
                # Smooth over two frames: one jittery box should not swing the zone's speed.
                state.speed_px_s = step if state.speed_px_s is None else 0.5 * state.speed_px_s + 0.5 * step
            state.point, state.last_seen = point, at
            counts[name] = counts.get(name, 0) + 1
            dwell[track_id] = (at - state.entered_at).total_seconds()
            if state.speed_px_s is not None:
                speeds.append(state.speed_px_s)
        self._forget(at)
        density = self._density(counts)
        crowd = over_capacity(sum(counts.values()), self.max_count, density, self.max_density_per_m2)
        return ZoneState(
            zone_id=self.zone_id,
            at=at,
            counts=counts,
            dwell_s=dwell,
            density_per_m2=density,
            mean_speed_px_s=float(np.mean(speeds)) if speeds else None,
            crowd=crowd,
        )

    def _density(self, counts: dict[str, int]) -> float | None:
        if self.area_m2 is None or (self.classes is not None and PERSON not in self.classes):
            return None
        return counts.get(PERSON, 0) / self.area_m2

    def _inherit(self, point: Point, at: datetime, present: set[int]) -> _Inside | None:
        """Take over a vanished track last seen close by (an id switch), keeping its entry time."""
        best_id, best_dist = None, self.rematch_px
        for track_id, old in self._inside.items():
            if track_id in present or old.last_seen >= at:
                continue
            dist = math.dist(old.point, point)
            if dist <= best_dist:
                best_id, best_dist = track_id, dist
        if best_id is None:
            return None
        old = self._inside.pop(best_id)
        return _Inside(
            entered_at=old.entered_at, last_seen=old.last_seen, point=old.point, speed_px_s=old.speed_px_s
        )

    def _forget(self, at: datetime) -> None:
        for track_id in [
            t for t, s in self._inside.items() if (at - s.last_seen).total_seconds() > self.exit_grace_s
        ]:
            del self._inside[track_id]
