"""Counting on two real clips with the real detector (yolov3-tiny, converted by ``ioc models prepare``),
against the hand counts in ``tests/data/real_clip_counts.yaml``. The floors are loose on purpose and say what
was measured; ``docs/ACCURACY.md`` has the figures and why they are poor.

Settings, as a site would configure a CPU-only camera: ``onnx`` detector, confidence 0.25, 5 analysed frames
per second, the hand count's line, ``in_side: right`` (both lines run left to right, so "in" = down).

Hand-count erratum (measured, not assumed): on the bgslib clip every vehicle inside the line's span moves UP
the picture (box bottoms go 204 -> 185 -> 167 -> 153 -> 133 px over 0.8 s around t = 1 s; the frames show
the cars' rears), while the YAML says "down". For that clip the test compares counts without direction and
checks that what is counted goes up; the YAML's owner should correct it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import pytest
import yaml

from analytics.vision import accuracy
from analytics.vision.detectors.onnx import OnnxDetector
from analytics.vision.pipeline import CameraAnalytics
from analytics.vision.types import VEHICLE_CLASSES, Frame
from ioc import models
from ioc.config.models import Camera

REPO = Path(__file__).resolve().parents[2]
VIDEO_DIR = REPO.parent / "shared" / "data" / "video"
COUNTS = yaml.safe_load((REPO / "tests" / "data" / "real_clip_counts.yaml").read_text(encoding="utf-8"))
CONFIDENCE = 0.25
FPS = 5.0
T0 = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
IMAGE_DIRECTION = {"in": "down", "out": "up"}  # with in_side: right on a left-to-right line


@pytest.fixture(scope="module")
def detector() -> OnnxDetector:
    return OnnxDetector(models.prepare().onnx_path, CONFIDENCE, threads=2)


def count_clip(name: str, detector: OnnxDetector) -> dict[str, dict[str, int]]:
    """Run the clip at FPS through detector, tracker and the hand count's line; class -> up/down -> n."""
    clip = COUNTS[name]
    path = VIDEO_DIR / name
    assert path.exists(), f"{path} is missing; the real clips live in <repo>/../shared/data/video"
    camera = Camera.model_validate(
        {
            "id": "real-clip",
            "name": name,
            "area_code": "03172",
            "lon": 103.08484,
            "lat": 21.75908,
            "source": f"file:{name}",
            "sample_fps": FPS,
            "frame_size": {"width": clip["size"][0], "height": clip["size"][1]},
            "detector": {"name": "onnx", "model_path": str(models.model_path()), "confidence": CONFIDENCE},
            "lines": [{"id": "hand", "points": clip["line"], "in_side": "right"}],
        }
    )
    analytics = CameraAnalytics(camera)
    capture = cv2.VideoCapture(str(path))
    source_fps = capture.get(cv2.CAP_PROP_FPS)
    index, due = 0, 0.0
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                break
            t = index / source_fps
            if t + 1e-9 >= due:  # sample by video time, as the ingest worker does for files
                due += 1.0 / FPS
                at = T0 + timedelta(seconds=t)
                analytics.process(at, detector.detect(Frame(camera.id, index, at, image)))
            index += 1
    finally:
        capture.release()
    assert index > 300
    counted = accuracy.by_class(analytics.lines[0].counts)
    return {cls: {IMAGE_DIRECTION[d]: n for d, n in dirs.items()} for cls, dirs in counted.items()}


def vehicles(counts: dict[str, dict[str, int]], direction: str | None = None) -> int:
    return sum(
        n
        for cls, dirs in counts.items()
        if cls in VEHICLE_CLASSES
        for d, n in dirs.items()
        if direction in (None, d)
    )


def show(name: str, counted: dict[str, dict[str, int]], truth: dict[str, dict[str, int]]) -> None:
    rows = accuracy.compare(truth, counted, directions=("up", "down"))
    print(f"\n{name}, yolov3-tiny, confidence {CONFIDENCE}, {FPS:g} fps")
    print(accuracy.markdown(rows))


def test_intel_clip_finds_some_of_the_four_cars(detector: OnnxDetector) -> None:
    """Measured: 2 crossings, both "up", labelled bus, at 17.6-17.8 s, where the hand count has a grey sedan
    going down and a red one going up at 16.3-16.6 s (one of them is counted the wrong way, or the red one
    twice under two ids); the white cars at 6.0 s and 26.3 s are never detected well enough to be tracked.
    Floor: at least one crossing found, no more than the 4 true ones counted, at most 2 each way.
    """
    name = "intel_car-detection.mp4"
    counted = count_clip(name, detector)
    show(name, counted, COUNTS[name]["totals"])
    assert 1 <= vehicles(counted) <= 4
    assert vehicles(counted, "up") <= 2 and vehicles(counted, "down") <= 2


def test_bgslib_clip_counts_over_half_of_the_vehicles(detector: OnnxDetector) -> None:
    """Measured: 14 of 22 motor vehicles (13 cars, the lorry), 64 %, all going up; the cyclist is never found.
    Floor: >= 50 % of the 22 (11), at most 22 + 2 counted, at most 1 counted the other way.
    """
    name = "bgslib_dataset_video02.avi"
    counted = count_clip(name, detector)
    truth = {cls: {"up": sum(d.values())} for cls, d in COUNTS[name]["totals"].items()}  # erratum, docstring
    show(name, counted, truth)
    assert vehicles(counted, "up") >= 11
    assert vehicles(counted) <= 24
    assert vehicles(counted, "down") <= 1
