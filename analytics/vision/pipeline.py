"""Per-camera analytics: detections in, tracks, line crossings, zone states and the project's events out.

:class:`CameraAnalytics` is the runtime step for one camera: it turns the camera's config (data) into a
tracker, one :class:`LineCounter` per counting line and one :class:`ZoneOccupancy` per zone, then
:meth:`process` runs them on each analysed frame and :meth:`flush` turns what happened since the last flush
into ``ioc.events``:

- one ``DetectionSummary`` per interval; its ``counts`` are the distinct tracks of each class seen in the
  window (objects, not boxes, so a car seen in ten frames counts once);
- one ``LineCrossing`` per crossing, with ``event_id = stable_id(camera, line, track, crossed_at)``, so
  replaying the same frames gives the same ids and writes stay idempotent;
- one ``ZoneOccupancy`` per zone: its state at the last frame of the window.

Before tracking, each frame's detections are put in the site's terms (``DetectorConfig.class_map``, e.g. a
model's ``pickup`` counts as ``car``) and two-wheelers are made whole (``analytics.vision.twowheelers``: a
rider merges into the bike it rides; an unsure ``car`` box as wide as this camera's motorbikes at its row is
one); after tracking,
a ``person`` track moving at motorbike speed counts as a ``motorcycle``. So a rider never crosses a line as a
pedestrian.

No I/O happens here: the ingest worker decodes frames and runs the detector, this module decides.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime

from analytics.vision.congestion import CongestionLevel, CongestionThresholds, congestion_level
from analytics.vision.lines import Crossing, LineCounter
from analytics.vision.tracking import Tracker
from analytics.vision.twowheelers import RiderSpeed, SizePrior, merge_riders
from analytics.vision.types import VEHICLE_CLASSES, Detections
from analytics.vision.zones import ZoneOccupancy, ZoneState
from ioc import events
from ioc.config.models import Camera
from ioc.events import stable_id

logger = logging.getLogger(__name__)

# Without a declared frame size, geometry tolerances assume a small (320 x 240) picture.
_DEFAULT_DIAGONAL_PX = 400.0


@dataclass(frozen=True)
class FrameResult:
    """What one analysed frame produced."""

    camera_id: str
    at: datetime
    tracks: Detections
    crossings: list[Crossing] = field(default_factory=list)
    zones: dict[str, ZoneState] = field(default_factory=dict)
    congestion: dict[str, CongestionLevel] = field(default_factory=dict)


class CameraAnalytics:
    """Tracking, counting lines and zones of one camera; verbs: :meth:`process` each frame, :meth:`flush`."""

    def __init__(self, camera: Camera, fps: float | None = None, lost_track_s: float = 2.0) -> None:
        """Build tracker, counters and zones from the camera's config; ``fps`` defaults to sample_fps."""
        self.camera = camera
        self.fps = fps or camera.sample_fps
        diagonal = (
            math.hypot(camera.frame_size.width, camera.frame_size.height)
            if camera.frame_size
            else _DEFAULT_DIAGONAL_PX
        )
        # Tolerances scale with the picture: ~1.2 % of the diagonal for the line's jitter band (5 px at
        # 320x240, 18 px at 1280x720), which covers the box wobble of a detector on a still object.
        band_px = max(4.0, 0.012 * diagonal)
        # Any box the detector passes may start a track: a threshold above the detector's (0.5 against
        # 0.25) kept a third of the people and most small motorbikes from ever being tracked.
        confidence = camera.detector.confidence
        self.tracker = Tracker(
            fps=self.fps,
            lost_track_s=lost_track_s,
            activation_confidence=confidence,
            high_confidence=confidence,
        )
        self.riders = RiderSpeed()
        self.sizes = SizePrior()
        self._class_map = dict(camera.detector.class_map)
        self.lines = [
            LineCounter(
                line.id,
                line.points[0],
                line.points[1],
                line.in_side,
                band_px=band_px,
                memory_s=max(3.0, lost_track_s + 1.0),
            )
            for line in camera.lines
        ]
        self.zones = [
            ZoneOccupancy(
                zone.id,
                zone.polygon,
                area_m2=zone.area_m2,
                classes=zone.classes,
                max_count=zone.thresholds.max_count,
                max_density_per_m2=zone.thresholds.max_density_per_m2,
                rematch_px=max(15.0, 0.02 * diagonal),
            )
            for zone in camera.zones
        ]
        # A zone's max_count is the most vehicles it should hold, which is what congestion needs as capacity.
        self._capacity = {zone.id: zone.thresholds.max_count for zone in camera.zones}
        self._congestion = CongestionThresholds().for_frame_height(
            camera.frame_size.height if camera.frame_size else 720.0
        )
        self._window_start: datetime | None = None
        self._frames = 0
        self._seen: dict[int, str] = {}
        self._crossings: list[Crossing] = []
        self._last_zones: dict[str, ZoneState] = {}
        self._last_congestion: dict[str, str] = {}

    def process(self, frame_at: datetime, detections: Detections) -> FrameResult:
        """Track one frame's detections and update every line and zone."""
        if self._window_start is None:
            self._window_start = frame_at
        tracks = self.tracker.update(self.prepare(detections), frame_at)
        tracks = self.riders.relabel(tracks, frame_at.timestamp())
        first_anchors = self.tracker.first_anchors
        crossings = [c for line in self.lines for c in line.trigger(tracks, frame_at, first_anchors)]
        zones = {zone.zone_id: zone.update(tracks, frame_at) for zone in self.zones}
        congestion = {
            zone_id: congestion_level(
                sum(n for name, n in state.counts.items() if name in VEHICLE_CLASSES),
                state.mean_speed_px_s,
                capacity=self._capacity[zone_id],
                thresholds=self._congestion,
            )
            for zone_id, state in zones.items()
            if any(name in VEHICLE_CLASSES for name in state.counts) or self._capacity[zone_id] is not None
        }
        self._frames += 1
        assert tracks.track_id is not None  # the tracker always sets ids
        self._seen.update(zip(tracks.track_id.tolist(), tracks.class_names, strict=True))
        self._crossings.extend(crossings)
        self._last_zones.update(zones)
        if crossings:
            logger.debug(
                "camera %s: %d crossings at %s", self.camera.id, len(crossings), frame_at.isoformat()
            )
        self._last_congestion = {zone_id: str(level) for zone_id, level in congestion.items()}
        return FrameResult(self.camera.id, frame_at, tracks, crossings, zones, congestion)

    def prepare(self, detections: Detections) -> Detections:
        """Return one frame's detections in the site's classes with two-wheelers made whole (docstring)."""
        if self._class_map and any(n in self._class_map for n in detections.class_names):
            names = tuple(self._class_map.get(n, n) for n in detections.class_names)
            detections = Detections(detections.xyxy, names, detections.confidence)
        return self.sizes.relabel(merge_riders(detections))

    def flush(self, window_end: datetime) -> list[events.Event]:
        """Return the events of the window that ends at ``window_end`` and start a new window."""
        camera_id = self.camera.id
        start = self._window_start or window_end
        counts: dict[str, int] = {}
        for name in self._seen.values():
            counts[name] = counts.get(name, 0) + 1
        out: list[events.Event] = [
            events.DetectionSummary(
                event_id=stable_id("detection_summary", camera_id, start, window_end),
                camera_id=camera_id,
                window_start=start,
                window_end=window_end,
                frames_analysed=self._frames,
                counts=counts,
            )
        ]
        out.extend(
            events.LineCrossing(
                event_id=stable_id(camera_id, c.line_id, c.track_id, c.at),
                camera_id=camera_id,
                line_id=c.line_id,
                track_id=c.track_id,
                object_class=c.object_class,
                direction=c.direction,
                crossed_at=c.at,
            )
            for c in self._crossings
        )
        out.extend(
            events.ZoneOccupancy(
                event_id=stable_id("zone_occupancy", camera_id, s.zone_id, s.at),
                camera_id=camera_id,
                zone_id=s.zone_id,
                at=s.at,
                counts=s.counts,
                density_per_m2=s.density_per_m2,
                max_dwell_s=s.max_dwell_s,
                congestion=self._last_congestion.get(s.zone_id),
            )
            for s in self._last_zones.values()
        )
        self._window_start = window_end
        self._frames = 0
        self._seen = {}
        self._crossings = []
        self._last_zones = {}
        return out
