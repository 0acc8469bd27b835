"""The groundtruth detector returns the truth of the stamped frame, exactly or within the configured noise."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from analytics.vision.types import COUNTED_CLASSES, Detections, Frame
from camera_sim.detector import GroundTruthDetector, NoiseSpec
from camera_sim.render import Renderer
from camera_sim.scene import Faults, road_scene
from camera_sim.stamp import stamp_frame_index
from camera_sim.truth import load_truth, write_truth
from camera_sim.world import build_world

SPEC = road_scene(seed=21, duration_s=30, faults=Faults(freeze=[(10.0, 11.0)], black=[(12.0, 13.0)]))


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Renderer]:
    path = tmp_path_factory.mktemp("gt") / "road.truth.jsonl"
    world = build_world(SPEC)
    write_truth(world, path)
    return path, Renderer(SPEC, world)


def _frame(renderer: Renderer, index: int) -> Frame:
    image = renderer.frame(index)
    assert image is not None
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 70])  # as it comes off a camera
    assert ok
    return Frame("sim-road", index, datetime.now(UTC), cv2.imdecode(buf, cv2.IMREAD_COLOR))


def test_name_matches_the_config_backend() -> None:
    assert GroundTruthDetector.name == "groundtruth"


def test_without_noise_returns_the_truth_exactly(clip) -> None:
    path, renderer = clip
    detector = GroundTruthDetector(path)
    truth = load_truth(path)
    busy = 0
    for i in range(0, SPEC.n_frames, 5):
        if truth.frame(i).fault is not None:
            continue
        dets = detector.detect(_frame(renderer, i))
        objects = truth.frame(i).objects
        assert dets.track_id is None
        assert dets.class_names == tuple(o.cls for o in objects)
        np.testing.assert_array_equal(
            dets.xyxy, np.array([o.box for o in objects], np.float32).reshape(-1, 4)
        )
        assert np.all(dets.confidence == 1.0)
        busy += len(objects) > 0
    assert busy > 20


def test_frozen_picture_gives_the_boxes_it_shows_and_black_gives_none(clip) -> None:
    path, renderer = clip
    detector = GroundTruthDetector(path)
    truth = load_truth(path)
    frozen = detector.detect(_frame(renderer, 105))
    assert frozen.class_names == tuple(o.cls for o in truth.frame(100).objects)
    assert len(detector.detect(_frame(renderer, 125))) == 0


def _match(dets: Detections, objects, tol: float) -> int:
    """Count truth boxes that have a detection of any class with every corner within ``tol`` pixels."""
    hits = 0
    for o in objects:
        diff = np.abs(dets.xyxy - np.array(o.box, np.float32))
        hits += bool(np.any(np.all(diff <= tol + 1e-3, axis=1)))
    return hits


def test_noise_stays_within_its_spec(clip) -> None:
    path, renderer = clip
    noise = NoiseSpec(jitter_px=4.0, miss_rate=0.2, false_positives=0.5, confusion_rate=0.1, seed=3)
    detector = GroundTruthDetector(path, noise)
    truth = load_truth(path)
    n_true = n_hit = n_extra = n_confused = n_frames = 0
    for i in range(0, SPEC.n_frames, 2):
        if truth.frame(i).fault is not None:
            continue
        objects = truth.frame(i).objects
        frame = _frame(renderer, i)
        dets = detector.detect(frame)
        again = detector.detect(frame)
        np.testing.assert_array_equal(dets.xyxy, again.xyxy)  # same frame, same noise
        assert set(dets.class_names) <= set(COUNTED_CLASSES)
        assert np.all((dets.confidence >= 0.3) & (dets.confidence <= 1.0))
        hits = _match(dets, objects, noise.jitter_px)
        n_true += len(objects)
        n_hit += hits
        n_extra += len(dets) - hits
        n_frames += 1
        for o in objects:
            diff = np.abs(dets.xyxy - np.array(o.box, np.float32)).max(axis=1)
            near = [c for c, d in zip(dets.class_names, diff, strict=True) if d <= noise.jitter_px + 1e-3]
            n_confused += bool(near) and o.cls not in near
    assert n_true > 500
    assert n_hit / n_true == pytest.approx(1 - noise.miss_rate, abs=0.05)
    assert n_extra / n_frames == pytest.approx(noise.false_positives, abs=0.2)
    assert n_confused / n_hit == pytest.approx(noise.confusion_rate, abs=0.04)


def test_no_jitter_keeps_kept_boxes_exact(clip) -> None:
    path, renderer = clip
    detector = GroundTruthDetector(path, NoiseSpec(miss_rate=0.5, seed=1))
    truth = load_truth(path)
    dets = detector.detect(_frame(renderer, 50))
    assert 0 < len(dets) <= len(truth.frame(50).objects)
    assert _match(dets, truth.frame(50).objects, 0.0) == len(dets)


@pytest.mark.parametrize(
    "kwargs",
    [{"jitter_px": -1.0}, {"miss_rate": 1.5}, {"confusion_rate": -0.1}, {"false_positives": -2.0}],
)
def test_bad_noise_is_refused(kwargs) -> None:
    with pytest.raises(ValueError):
        NoiseSpec(**kwargs)


def test_unstamped_or_unknown_frames_give_nothing(clip) -> None:
    path, _ = clip
    detector = GroundTruthDetector(path)
    beyond = np.zeros((720, 1280, 3), np.uint8)
    stamp_frame_index(beyond, 5000)  # another, longer clip
    assert len(detector.detect(Frame("sim-road", 0, datetime.now(UTC), beyond))) == 0
    blank = Frame("sim-road", 0, datetime.now(UTC), np.zeros((720, 1280, 3), np.uint8))
    assert len(detector.detect(blank)) == 0
