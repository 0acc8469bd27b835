"""Counting lines: how many tracked objects of each class cross a line segment, in each direction.

Sides and directions (the convention the config's ``in_side`` refers to)
-----------------------------------------------------------------------
The line runs from ``p0 = (x0, y0)`` to ``p1 = (x1, y1)`` in image pixels, x to the right and **y down**. For
an anchor ``p = (x, y)`` (the bottom-centre of a tracked box) the signed distance to the line is::

    d(p) = ((x1 - x0) * (y - y0) - (y1 - y0) * (x - x0)) / |p1 - p0|

``d < 0`` is the **left** side and ``d > 0`` the **right** side: the hand you would hold out when standing on
``p0``, looking at ``p1``, on the picture as it is shown on screen. (With y down the sign is the opposite of
the y-up maths convention.) Example: for a horizontal line from ``(0, 100)`` to ``(100, 100)``, left is above
the line (smaller y) and right is below it.

``in_side`` names the side an object goes **to** when it goes "in": a crossing from the other side onto
``in_side`` is ``in``, a crossing from ``in_side`` to the other side is ``out``. So ``in_side: left`` on the
line above counts objects moving up the picture as ``in``. (:func:`side_of` and
:meth:`LineCounter.direction_of` make this checkable.)

What counts as a crossing
-------------------------
- **Hysteresis band.** A track's side is only known when its anchor is at least ``band_px`` from the line;
  inside the band the last known side is kept. A crossing is a change of known side, so an anchor jittering
  around the line within the band never counts, and a vehicle parked on the line never changes side and never
  counts.
- **Segment, not line.** The step from the track's last position clearly on the old side to its first position
  clearly on the new side must cut the segment ``p0-p1`` (its intersection with the infinite line lies between
  the end points). Passing beside the segment updates the track's side without counting.
- **Once per direction per track.** A track counts at most one ``in`` and one ``out`` in its life: a genuine
  U-turn counts both ways, large jitter or a vehicle manoeuvring on the line cannot inflate the totals.
- **Settling time.** After a track (or the track it took over, below) counts, a crossing back within
  ``settle_s`` seconds is not counted (its side still follows): a box jumping back over the line right after a
  crossing is detector noise, not a vehicle turning round in under a second.
- **First sighting.** A tracker gives an id only once a track is confirmed, a frame or two after the object
  is first seen. ``trigger`` accepts where each track was first seen (``first_anchors``, from
  :attr:`analytics.vision.tracking.Tracker.first_anchors`); a new track starts from that side when the point
  is clearly on one, so an object first seen just before the line and confirmed just after it still counts.
- **Id switches.** A track that disappears is remembered for ``memory_s`` seconds. A new track id first seen
  within ``rematch_px`` of where a remembered track was last seen takes over that track's side and the
  directions it already counted, so an object re-found under a new id next to the line neither counts twice
  nor loses its crossing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np

from analytics.vision.types import Detections
from ioc.events import Direction

logger = logging.getLogger(__name__)

Side = Literal["left", "right"]
Point = tuple[float, float]


def signed_distance(p0: Point, p1: Point, points: np.ndarray) -> np.ndarray:
    """Return d(p) for each point (N x 2): negative left of p0->p1, positive right (image y down)."""
    x0, y0 = p0
    x1, y1 = p1
    length = math.hypot(x1 - x0, y1 - y0)
    if length == 0:
        raise ValueError("a counting line needs two distinct points")
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return ((x1 - x0) * (pts[:, 1] - y0) - (y1 - y0) * (pts[:, 0] - x0)) / length


def side_of(p0: Point, p1: Point, point: Point) -> Side | None:
    """Return the side of p0->p1 a point is on, or None when it is exactly on the line."""
    d = float(signed_distance(p0, p1, np.array([point]))[0])
    return None if d == 0 else ("left" if d < 0 else "right")


@dataclass(frozen=True)
class Crossing:
    """One track crossing one counting line."""

    line_id: str
    track_id: int
    object_class: str
    direction: Direction
    at: datetime
    point: Point = field(compare=False)


@dataclass
class _TrackState:
    side: Side | None  # last side the anchor was clearly on
    side_point: Point  # where it was last clearly on that side
    last_point: Point
    last_seen: datetime
    counted: set[Direction] = field(default_factory=set)
    counted_at: datetime | None = None
    inherited: bool = False  # already taken over by a new track id


class LineCounter:
    """Counts tracks whose anchor crosses one segment; one verb: :meth:`trigger`."""

    def __init__(
        self,
        line_id: str,
        p0: Point,
        p1: Point,
        in_side: Side = "left",
        classes: Iterable[str] | None = None,
        band_px: float = 6.0,
        memory_s: float = 3.0,
        rematch_px: float | None = None,
        settle_s: float = 1.0,
    ) -> None:
        """Count crossings of segment p0-p1; ``in_side`` is the side "in" goes to (module docstring)."""
        if tuple(p0) == tuple(p1):
            raise ValueError(f"line {line_id}: both points are the same")
        if band_px < 0 or memory_s < 0:
            raise ValueError(f"line {line_id}: band_px and memory_s must not be negative")
        self.line_id = line_id
        self.p0: Point = (float(p0[0]), float(p0[1]))
        self.p1: Point = (float(p1[0]), float(p1[1]))
        self.in_side: Side = in_side
        self.classes = frozenset(classes) if classes is not None else None
        self.band_px = band_px
        self.memory_s = memory_s
        self.settle_s = settle_s
        self.rematch_px = rematch_px if rematch_px is not None else max(4 * band_px, 20.0)
        self._tracks: dict[int, _TrackState] = {}
        self._counts: dict[Direction, dict[str, int]] = {Direction.IN: {}, Direction.OUT: {}}

    # -- results ---------------------------------------------------------------------------------------------
    @property
    def counts(self) -> dict[Direction, dict[str, int]]:
        """Return totals since start: direction -> class -> count."""
        return {d: dict(c) for d, c in self._counts.items()}

    @property
    def in_count(self) -> int:
        """Return all classes' ``in`` crossings since start."""
        return sum(self._counts[Direction.IN].values())

    @property
    def out_count(self) -> int:
        """Return all classes' ``out`` crossings since start."""
        return sum(self._counts[Direction.OUT].values())

    def direction_of(self, from_side: Side, to_side: Side) -> Direction:
        """Return the direction of a move from one side to the other: ``in`` when it ends on ``in_side``."""
        if from_side == to_side:
            raise ValueError("a crossing goes from one side to the other")
        return Direction.IN if to_side == self.in_side else Direction.OUT

    # -- the verb --------------------------------------------------------------------------------------------
    def trigger(
        self, tracks: Detections, at: datetime, first_anchors: Mapping[int, Point] | None = None
    ) -> list[Crossing]:
        """Update with one frame's tracks seen at ``at``; return the crossings completed in this frame.

        ``first_anchors``: where tracks were first seen before the tracker confirmed them (module docstring).
        """
        crossings: list[Crossing] = []
        if tracks.track_id is None:
            raise ValueError(f"line {self.line_id}: trigger needs tracked detections (track_id set)")
        anchors = tracks.anchors().astype(np.float64)
        distances = signed_distance(self.p0, self.p1, anchors) if len(tracks) else np.zeros(0)
        present = set(tracks.track_id.tolist())
        seen: set[int] = set()
        for i, track_id in enumerate(tracks.track_id.tolist()):
            object_class = tracks.class_names[i]
            if self.classes is not None and object_class not in self.classes:
                continue
            seen.add(track_id)
            point: Point = (float(anchors[i, 0]), float(anchors[i, 1]))
            d = float(distances[i])
            now_side: Side | None = None if abs(d) < self.band_px else ("left" if d < 0 else "right")
            state = self._tracks.get(track_id)
            if state is None:
                origin = first_anchors.get(track_id) if first_anchors is not None else None
                state = self._new_track(point, at, present, origin)
                self._tracks[track_id] = state
            if now_side is not None:
                if state.side is not None and now_side != state.side:
                    direction = self.direction_of(state.side, now_side)
                    settling = state.counted_at is not None and (
                        (at - state.counted_at).total_seconds() < self.settle_s
                    )
                    if (
                        self._cuts_segment(state.side_point, point)
                        and direction not in state.counted
                        and not settling
                    ):
                        state.counted.add(direction)
                        state.counted_at = at
                        crossing = Crossing(self.line_id, track_id, object_class, direction, at, point)
                        crossings.append(crossing)
                        per_class = self._counts[direction]
                        per_class[object_class] = per_class.get(object_class, 0) + 1
                state.side, state.side_point = now_side, point
            state.last_point, state.last_seen = point, at
        self._expire(at, seen)
        return crossings

    # -- internals -------------------------------------------------------------------------------------------
    def _new_track(
        self, point: Point, at: datetime, present: set[int], origin: Point | None = None
    ) -> _TrackState:
        """Start a track, taking over the state of a recently lost one last seen close by (an id switch).

        A track that takes over nothing starts on the side of ``origin`` (where it was first seen, before the
        tracker confirmed it) when that point is clearly on one side.
        """
        best: _TrackState | None = None
        best_dist = self.rematch_px
        for old_id, old in self._tracks.items():
            if old_id in present or old.inherited or (at - old.last_seen).total_seconds() > self.memory_s:
                continue
            dist = math.dist(old.last_point, point)
            if dist <= best_dist:
                best, best_dist = old, dist
        if best is None:
            side: Side | None = None
            if origin is not None:
                d = float(signed_distance(self.p0, self.p1, np.array([origin]))[0])
                side = None if abs(d) < self.band_px else ("left" if d < 0 else "right")
            return _TrackState(
                side=side,
                side_point=origin if side is not None and origin is not None else point,
                last_point=point,
                last_seen=at,
            )
        best.inherited = True
        logger.debug("line %s: new track at %s takes over a lost track's state", self.line_id, point)
        return _TrackState(
            side=best.side,
            side_point=best.side_point,
            last_point=point,
            last_seen=at,
            counted=set(best.counted),
            counted_at=best.counted_at,
        )

    def _cuts_segment(self, a: Point, b: Point) -> bool:
        """Return whether the step a->b meets the line between p0 and p1 (ends included)."""
        da, db = signed_distance(self.p0, self.p1, np.array([a, b]))
        if da == db:
            return False
        s = da / (da - db)  # where along a->b the infinite line is met
        hit = (a[0] + s * (b[0] - a[0]), a[1] + s * (b[1] - a[1]))
        (x0, y0), (x1, y1) = self.p0, self.p1
        t = ((hit[0] - x0) * (x1 - x0) + (hit[1] - y0) * (y1 - y0)) / ((x1 - x0) ** 2 + (y1 - y0) ** 2)
        return bool(0.0 <= t <= 1.0)

    def _expire(self, at: datetime, seen: set[int]) -> None:
        for track_id in [
            t
            for t, s in self._tracks.items()
            if t not in seen and (at - s.last_seen).total_seconds() > self.memory_s
        ]:
            del self._tracks[track_id]
