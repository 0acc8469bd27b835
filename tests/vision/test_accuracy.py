"""Counting accuracy on camera_sim scenes: rendered frames, the groundtruth detector with noise, injected
id switches, ``CameraAnalytics`` built from a ``Camera`` config, counts compared with the truth file.

Noise: box corners jittered +/-4 px, 10 % of boxes missed, 0.5 false positives a frame, 3 % of boxes given
another class. Id switches: every 15 s every box within 80 px of the line is dropped for 0.6 s (3 frames at
5 fps), so the tracker loses the tracks right at the line and finds them again, often under new ids.

Tolerance, for EVERY class and direction (``analytics.vision.accuracy.allowed_error``):

- at 10 fps: |counted - truth| <= max(1, 2 % of truth);
- at 5 fps: <= max(2, 5 % of truth). Measured cause: a motorbike doing 10 m/s near the camera enters at the
  bottom edge and reaches the line in 0.5 s, i.e. 2-3 analysed frames; ByteTrack needs two consecutive
  sightings for an id, so one missed box among those and the crossing is never seen (3 of 61 motorbikes "in"
  on seed 3, none at 10 fps).

A harsher injection, the whole tracker reset every 20 s (every live track changes id at once), is checked
against a looser, stated bound: class votes start again, so a track confirmed on a mislabelled box can cross
under the wrong class, and a fast motorbike is beyond the re-match radius before its new id is confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from analytics.vision import accuracy
from analytics.vision.pipeline import CameraAnalytics
from analytics.vision.types import Detections, Frame
from analytics.vision.zones import ZoneState
from camera_sim.detector import GroundTruthDetector, NoiseSpec
from camera_sim.render import Renderer
from camera_sim.scene import SceneSpec, plaza_scene, road_scene
from camera_sim.truth import Truth, load_truth, write_truth
from camera_sim.world import build_world
from ioc.config.models import Camera

T0 = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
PER_MINUTE = 40.0  # vehicles a minute over the four lanes: ~250 crossings in 5 min, 60 motorbikes each way


def noise(seed: int) -> NoiseSpec:
    """The detector noise of every accuracy run."""
    return NoiseSpec(jitter_px=4.0, miss_rate=0.10, false_positives=0.5, confusion_rate=0.03, seed=seed)


@dataclass(frozen=True)
class IdSwitches:
    """Id switches injected between the detector and the pipeline."""

    occlude_every_s: float = 15.0  # drop every box near the line for ``occlude_s`` this often
    occlude_s: float = 0.6
    occlude_px: float = 80.0
    reset_every_s: float = 0.0  # reset the whole tracker this often (0: never)


@dataclass(frozen=True)
class Run:
    """What one clip gave: the truth file read back, the table and each analysed frame's zone states."""

    truth: Truth
    rows: list[accuracy.Row]
    zones: list[tuple[int, dict[str, ZoneState]]]


def camera_for(spec: SceneSpec, fps: float) -> Camera:
    """Return the site config a camera looking at this scene would have: its line and zones, ``fps``."""
    return Camera.model_validate(
        {
            "id": spec.name,
            "name": f"camera_sim {spec.name}",
            "area_code": "03172",
            "lon": 103.08484,
            "lat": 21.75908,
            "source": f"sim:{spec.name}",
            "sample_fps": fps,
            "frame_size": {"width": spec.width, "height": spec.height},
            "detector": {"name": "groundtruth"},
            "lines": [line.model_dump() for line in spec.lines],
            "zones": [zone.model_dump() for zone in spec.zones],
        }
    )


def _near_line(dets: Detections, points: tuple[tuple[float, float], ...], px: float) -> np.ndarray:
    (x0, y0), (x1, y1) = points
    a = dets.anchors().astype(np.float64)
    d = np.abs((x1 - x0) * (a[:, 1] - y0) - (y1 - y0) * (a[:, 0] - x0)) / np.hypot(x1 - x0, y1 - y0)
    return d <= px


def run_clip(spec: SceneSpec, fps: float, workdir: Path, switches: IdSwitches | None = None) -> Run:
    """Render ``spec`` frame by frame at the analysed ``fps``, detect with noise, count; compare to truth."""
    switches = switches or IdSwitches()
    world = build_world(spec)
    path = workdir / f"{spec.name}-{spec.seed}-{spec.variant}.truth.jsonl"
    write_truth(world, path)
    renderer = Renderer(spec, world)
    detector = GroundTruthDetector(path, noise(spec.seed))
    analytics = CameraAnalytics(camera_for(spec, fps))
    line = spec.lines[0]
    next_reset = switches.reset_every_s or None
    zones = []
    for index in range(0, spec.n_frames, round(spec.fps / fps)):
        t = index / spec.fps
        at = T0 + timedelta(seconds=t)
        image = renderer.frame(index)
        assert image is not None
        dets = detector.detect(Frame(spec.name, index, at, image))
        if switches.occlude_every_s and t % switches.occlude_every_s < switches.occlude_s and len(dets):
            keep = ~_near_line(dets, line.points, switches.occlude_px)
            names = tuple(n for n, k in zip(dets.class_names, keep, strict=True) if k)
            dets = Detections(dets.xyxy[keep], names, dets.confidence[keep])
        if next_reset is not None and t >= next_reset:
            analytics.tracker.reset()
            next_reset += switches.reset_every_s
        zones.append((index, analytics.process(at, dets).zones))
    truth = load_truth(path)
    counted = accuracy.by_class(analytics.lines[0].counts)
    rows = accuracy.compare(truth.totals.get(line.id, {}), counted)
    print(f"\n{spec.name} seed {spec.seed} {spec.variant} {spec.duration_s:.0f} s at {fps:g} fps")
    print(accuracy.markdown(rows))
    return Run(truth, rows, zones)


TOLERANCE = {10.0: (0.02, 1), 5.0: (0.05, 2)}  # analysed fps -> (relative, absolute), module docstring


def assert_within_tolerance(rows: list[accuracy.Row], fps: float) -> None:
    relative, absolute = TOLERANCE[fps]
    bad = accuracy.failures(rows, relative, absolute)
    assert not bad, f"outside max({absolute}, {100 * relative:g} %): " + ", ".join(
        f"{r.object_class} {r.direction} {r.counted}/{r.truth}" for r in bad
    )


ROAD_CASES = [  # (seed, variant, parked car on the line, minutes, analysed fps)
    (3, "day", True, 5, 5.0),
    (3, "day", True, 5, 10.0),
    (7, "night", False, 3, 5.0),
    (11, "rain", True, 3, 5.0),
]


@pytest.mark.parametrize(("seed", "variant", "parked", "minutes", "fps"), ROAD_CASES)
def test_road_counts_every_class_and_direction_within_tolerance(
    tmp_path: Path, seed: int, variant: str, parked: bool, minutes: int, fps: float
) -> None:
    spec = road_scene(
        seed,
        60.0 * minutes,
        variant=variant,
        parked=parked,
        per_minute=PER_MINUTE,  # type: ignore[arg-type]
    )
    result = run_clip(spec, fps, tmp_path)
    assert accuracy.totals(result.rows).truth > 100
    assert_within_tolerance(result.rows, fps)


def test_whole_tracker_resets_cost_at_most_5_percent(tmp_path: Path) -> None:
    spec = road_scene(7, 180.0, per_minute=PER_MINUTE)
    result = run_clip(spec, 5.0, tmp_path, IdSwitches(reset_every_s=20.0))
    assert accuracy.recall(result.rows) >= 0.95
    all_rows = accuracy.totals(result.rows)
    assert abs(all_rows.error) <= 0.05 * all_rows.truth


@pytest.mark.parametrize("fps", [5.0, 10.0])
def test_car_first_seen_just_before_the_line_at_clip_start_counts(tmp_path: Path, fps: float) -> None:
    """Regression: road_scene(seed=3) at 40 vehicles/min counted 16 of 17 cars "in" at both 5 and 10 fps.

    The 17th is on the road when the clip starts, 31 px below the line, and crosses 0.2 s in. ByteTrack only
    gives an id at the second sighting, 9 px from the line at 10 fps (inside the 17.6 px hysteresis band) and
    already past it at 5 fps, so the counter never knew which side the car came from. The tracker adapter now
    keeps where each track was first seen (``Tracker.first_anchors``) and the counter starts new tracks there.
    Without detector noise, so the crossing is observable at all (with 10 % misses the car's only sightings
    before the line are sometimes all missed, which the one-vehicle slack of the tolerance covers).
    """
    spec = road_scene(3, 30.0, per_minute=PER_MINUTE)
    world = build_world(spec)
    path = tmp_path / "road.truth.jsonl"
    write_truth(world, path)
    renderer = Renderer(spec, world)
    detector = GroundTruthDetector(path)
    analytics = CameraAnalytics(camera_for(spec, fps))
    for index in range(0, spec.n_frames, round(spec.fps / fps)):
        at = T0 + timedelta(seconds=index / spec.fps)
        image = renderer.frame(index)
        assert image is not None
        analytics.process(at, detector.detect(Frame(spec.name, index, at, image)))
    truth = load_truth(path)
    first = truth.frame(2).crossings
    assert [(c.cls, c.direction) for c in first] == [("car", "in")]  # the car of the bug report
    rows = accuracy.compare(truth.totals["main"], accuracy.by_class(analytics.lines[0].counts))
    assert all(r.error == 0 for r in rows), accuracy.markdown(rows)


def test_plaza_zone_occupancy_and_density_follow_the_truth(tmp_path: Path) -> None:
    """Occupancy of zone ``stage`` and crowd density against the truth's zone counts, frame by frame.

    Tolerance: a box the detector misses is not in that frame's tracks, so per-frame occupancy runs low by
    about the miss rate (10 %). While the crowd is there (>= 10 people) the mean error must be between -15 %
    and +5 %, the peak count within 10 % of the true peak, and density exactly count / area_m2.
    """
    spec = plaza_scene(4, 120.0)
    result = run_clip(spec, 5.0, tmp_path)
    zone = spec.zones[0]
    assert zone.area_m2 is not None
    true = np.array([result.truth.frame(i).zones[zone.id].get("person", 0) for i, _ in result.zones])
    counted = np.array([z[zone.id].counts.get("person", 0) for _, z in result.zones])
    density = np.array([z[zone.id].density_per_m2 for _, z in result.zones], dtype=np.float64)
    crowded = true >= 10
    assert crowded.sum() > 100
    mean_error = float(np.mean((counted[crowded] - true[crowded]) / true[crowded]))
    print(f"stage: peak {counted.max()} of {true.max()}, mean error {100 * mean_error:+.1f} % while crowded")
    assert -0.15 <= mean_error <= 0.05
    assert abs(int(counted.max()) - int(true.max())) <= 0.10 * true.max()
    np.testing.assert_allclose(density, counted / zone.area_m2)
    assert_within_tolerance(result.rows, 5.0)  # its entrance line counts walkers too
