"""The runtime step for cameras: from a site's camera config to running capture workers.

Each camera gets its detector (by name, from config), its analytics (tracker, lines, zones, built from config) and a
capture worker. ``sim:<scene>`` sources are served by ``camera_sim`` on loopback and then read over HTTP like any IP
camera; their ground truth is written next to the cache so the ``groundtruth`` detector can use it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import camera_sim.detector  # noqa: F401  (registers the groundtruth backend)
from analytics.vision.detectors import MODEL_BACKENDS, build_detector
from analytics.vision.pipeline import CameraAnalytics
from analytics.vision.regions import RegionDetector, settings_for
from analytics.vision.types import Detections, Detector, Frame
from camera_sim.scene import Faults, SceneSpec, plaza_scene, road_scene
from camera_sim.server import SimServer, serve
from camera_sim.truth import write_truth
from camera_sim.world import build_world
from ingest.camera import CameraFleet, CameraWorker, CaptureSettings
from ioc.app.site import SiteRuntime
from ioc.config.models import Camera
from ioc.errors import IocError
from ioc.events import CameraHealth, CameraStatus, DetectionSummary, Event, stable_id, utcnow
from ioc.store.snapshots import SnapshotStore

logger = logging.getLogger(__name__)

Emit = Callable[[Event], None]

# Named scenes a site may use as ``sim:<name>``: deterministic, long enough to loop without a visible seam.
# Each takes the camera id and the clip length (``Settings.sim_seconds``, ``IOC_SIM_SECONDS``: tests shorten it);
# faults in ``road-faults`` scale with the length.
def _faults(d: float) -> Faults:
    return Faults(freeze=[(0.2 * d, 0.4 * d)], drop=[(0.5 * d, 0.7 * d)])


SCENES: dict[str, Callable[[str, float], SceneSpec]] = {
    "road-day": lambda name, d: road_scene(seed=11, duration_s=d, name=name, parked=True),
    "road-night": lambda name, d: road_scene(seed=12, duration_s=d, name=name, variant="night"),
    "road-rain": lambda name, d: road_scene(seed=13, duration_s=d, name=name, variant="rain"),
    "road-faults": lambda name, d: road_scene(seed=14, duration_s=d, name=name, faults=_faults(d),
                                              width=640, height=360),
    "plaza-crowd": lambda name, d: plaza_scene(seed=21, duration_s=d, name=name, crowd_size=60),
}


@dataclass
class VisionAnalyser:
    """Detector, then tracker and counters, for one camera (the ``FrameAnalyser`` of a capture worker)."""

    detector: Detector
    analytics: CameraAnalytics
    _last_boxes: tuple[list[dict[str, Any]], int, int] | None = field(default=None, init=False, repr=False)

    def analyse(self, frame: Frame) -> None:
        """Detect, track and count one sampled frame."""
        result = self.analytics.process(frame.at, self.detector.detect(frame))
        height, width = frame.image.shape[:2]
        self._last_boxes = (boxes_of(result.tracks), width, height)

    def flush(self, window_end: datetime, snapshot: str | None) -> list[Event]:
        """Return the interval's events, the summary carrying the snapshot of its last analysed frame.

        The tracked boxes of that frame are written beside the snapshot for the wall to draw.
        """
        if snapshot and self._last_boxes is not None:
            SnapshotStore.write_boxes(snapshot, *self._last_boxes)
        out: list[Event] = []
        for event in self.analytics.flush(window_end):
            if snapshot and isinstance(event, DetectionSummary):
                event = event.model_copy(update={"snapshot": snapshot})
            out.append(event)
        return out


def boxes_of(tracks: Detections) -> list[dict[str, Any]]:
    """Return tracked boxes as plain values: pixel corners, class, confidence and track id."""
    ids = tracks.track_id.tolist() if tracks.track_id is not None else [None] * len(tracks)
    return [
        {"xyxy": [round(float(v), 1) for v in box], "class": name, "confidence": round(float(conf), 3),
         "track_id": tid}
        for box, name, conf, tid in zip(tracks.xyxy.tolist(), tracks.class_names, tracks.confidence.tolist(), ids,
                                        strict=True)
    ]


@dataclass
class CameraRuntime:
    """Everything running for a site's cameras: the fleet and, if any camera is simulated, its server."""

    fleet: CameraFleet
    sim: SimServer | None = None
    truth_paths: dict[str, Path] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        """Start every camera."""
        self.fleet.start()

    def stop(self) -> None:
        """Stop the cameras, then the simulator."""
        self.fleet.stop()
        if self.sim is not None:
            self.sim.stop()


def serve_simulated(
    cameras: list[Camera], truth_dir: Path, *, seconds: float = 300.0, loop: bool = True
) -> tuple[SimServer | None, dict[str, str], dict[str, Path], dict[str, float]]:
    """Serve the ``sim:`` cameras on loopback; return the server, their stream URLs and truth files.

    ``seconds`` is each clip's length; without ``loop`` (tests) each clip plays once, from frame 0 for its first
    reader, then the stream ends.
    """
    specs: list[SceneSpec] = []
    truth: dict[str, Path] = {}
    fps: dict[str, float] = {}
    for cam in cameras:
        if not cam.source.startswith("sim:"):
            continue
        scene = cam.source[len("sim:"):]
        if scene not in SCENES:
            raise ValueError(f"camera {cam.id}: unknown simulated scene {scene!r}; choose one of {', '.join(SCENES)}")
        spec = SCENES[scene](cam.id, seconds)
        specs.append(spec)
        fps[cam.id] = spec.fps
        truth_dir.mkdir(parents=True, exist_ok=True)
        path = truth_dir / f"{cam.id}-{scene}-{int(spec.duration_s)}s.truth.jsonl"
        if not path.exists():
            write_truth(build_world(spec), path)
        truth[cam.id] = path
    if not specs:
        return None, {}, {}, {}
    once = not loop
    server = serve(specs, loop=not once, start_on_connect=once)
    return server, dict(server.urls), truth, fps


def resolve_source(camera: Camera, site_dir: Path, sim_urls: dict[str, str]) -> str:
    """Return what OpenCV should open for a camera: sim URLs, site-relative files made absolute."""
    if camera.source.startswith("sim:"):
        return sim_urls[camera.id]
    if camera.source.startswith("file:"):
        path = Path(camera.source[len("file:"):])
        return f"file:{path if path.is_absolute() else (site_dir / path).resolve()}"
    return camera.source


def build_cameras(site: SiteRuntime, emit: Emit, cache_dir: Path, *, only: set[str] | None = None,
                  summary_interval_s: float = 10.0, sim_seconds: float = 300.0,
                  sim_loop: bool = True) -> CameraRuntime:
    """Build a capture worker for every camera of the site (or those in ``only``).

    ``cache_dir``, ``sim_seconds`` and ``sim_loop`` come from ``Settings`` (``IOC_CACHE_DIR``, ``IOC_SIM_*``).
    """
    cameras = [c for c in site.config.cameras if only is None or c.id in only]
    sim, sim_urls, truth, sim_fps = serve_simulated(cameras, cache_dir / "camera_sim", seconds=sim_seconds,
                                                    loop=sim_loop)
    snapshots = SnapshotStore(cache_dir / "snapshots")
    workers = []
    skipped: dict[str, str] = {}
    for cam in cameras:
        try:
            detector = build_detector(cam.detector, truth_path=truth.get(cam.id), base_dir=site.directory,
                                      model_cache=cache_dir)
            if cam.detector.name in MODEL_BACKENDS:
                # Models look at the regions the camera's `detect` config asks for; the motion and truth
                # detectors already see the whole frame at native resolution.
                detector = RegionDetector(detector, settings_for(cam, getattr(detector, "input_wh", (416,))[0]))
        except IocError as exc:
            # A bad or missing model stops this camera only; the operators see it as an offline camera with why.
            logger.error("camera %s: detector %s unusable: %s", cam.id, cam.detector.name, exc)
            skipped[cam.id] = str(exc)
            now = utcnow()
            emit(CameraHealth(event_id=stable_id("camera-health", cam.id, "detector", now), camera_id=cam.id, at=now,
                              status=CameraStatus.OFFLINE, detail=f"detector {cam.detector.name}: {exc}"[:500]))
            continue
        analyser = VisionAnalyser(detector, CameraAnalytics(cam, fps=cam.sample_fps))
        settings = CaptureSettings(camera_id=cam.id, source=resolve_source(cam, site.directory, sim_urls),
                                   sample_fps=cam.sample_fps, summary_interval_s=summary_interval_s,
                                   loop_file=True, source_fps=sim_fps.get(cam.id))
        worker = CameraWorker(settings, analyser, emit, snapshots)
        worker.health.offline_after_s = cam.offline_after_s
        worker.health.frozen_after_s = cam.frozen_after_s
        workers.append(worker)
    return CameraRuntime(CameraFleet(workers), sim, truth, skipped)
