"""Traffic, crowds and camera health as observations for the rule engine (``analytics.rules``).

Nothing is held here: every "held for a minimum time", "once per stay" and "offline for longer than N minutes" is a
rule's ``for_s`` / ``clear_for_s`` in the engine, so congestion, overcrowding, parked vehicles and dead cameras follow
the same life (open once, escalate, resolve) as flood alerts. What each event becomes:

- ``ZoneOccupancy`` (subject ``<camera>/<zone>``, source ``zone``): ``occupancy`` (objects inside, all classes),
  ``density_per_m2`` and ``congestion`` when the zone reports them, and ``dwell_s`` (the longest stay inside; 0 for an
  empty zone). A parked vehicle keeps ``dwell_s`` above the rule's threshold for its whole stay, so its alert opens
  once and resolves when it leaves, instead of firing again at every event.
- ``CameraHealth`` (subject ``<camera>``, source ``camera``): ``camera_status`` (online, offline, frozen, black).
- ``DetectionSummary`` (subject ``<camera>``, source ``camera``): ``objects`` seen in the interval and
  ``frames_analysed`` (0 analysed frames over an interval is a stalled analysis even if the stream is up).
"""

from __future__ import annotations

from analytics.rules import Observation
from analytics.vision.congestion import CongestionLevel
from ioc.events import CameraHealth, CameraStatus, DetectionSummary, ZoneOccupancy

ZONE = "zone"
CAMERA = "camera"
CONGESTION_LEVELS: tuple[str, ...] = tuple(level.value for level in CongestionLevel)
CAMERA_STATUSES: tuple[str, ...] = tuple(status.value for status in CameraStatus)
ZONE_METRICS: tuple[str, ...] = ("occupancy", "density_per_m2", "dwell_s", "congestion")
CAMERA_METRICS: tuple[str, ...] = ("camera_status", "objects", "frames_analysed")


def zone_subject(camera_id: str, zone_id: str) -> str:
    """Return the subject id of a camera zone, as used in alert keys: ``<camera>/<zone>``."""
    return f"{camera_id}/{zone_id}"


def zone_observations(event: ZoneOccupancy) -> list[Observation]:
    """Return what one zone occupancy event says: count, density, dwell and congestion."""
    subject, at = zone_subject(event.camera_id, event.zone_id), event.at
    total = sum(event.counts.values())
    out = [Observation(ZONE, subject, "occupancy", float(total), at)]
    if event.density_per_m2 is not None:
        out.append(Observation(ZONE, subject, "density_per_m2", event.density_per_m2, at))
    dwell = event.max_dwell_s if event.max_dwell_s is not None else (0.0 if total == 0 else None)
    if dwell is not None:
        out.append(Observation(ZONE, subject, "dwell_s", dwell, at))
    if event.congestion is not None:
        out.append(Observation(ZONE, subject, "congestion", event.congestion, at))
    return out


def health_observations(event: CameraHealth) -> list[Observation]:
    """Return a camera's status change."""
    return [Observation(CAMERA, event.camera_id, "camera_status", event.status.value, event.at)]


def detection_observations(event: DetectionSummary) -> list[Observation]:
    """Return the totals of one detection interval: objects seen and frames analysed."""
    at = event.window_end
    return [
        Observation(CAMERA, event.camera_id, "objects", float(sum(event.counts.values())), at),
        Observation(CAMERA, event.camera_id, "frames_analysed", float(event.frames_analysed), at),
    ]
