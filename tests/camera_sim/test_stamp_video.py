"""The stamped frame index survives compression; MP4 files hold the clip as the camera sent it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from camera_sim.render import Renderer
from camera_sim.scene import Faults, plaza_scene, road_scene
from camera_sim.stamp import MAX_INDEX, read_frame_index, stamp_frame_index
from camera_sim.truth import load_truth
from camera_sim.video import write_mp4


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


@pytest.mark.parametrize("index", [0, 1, 255, 256, 65_535, 123_456, MAX_INDEX])
@pytest.mark.parametrize(("width", "height"), [(1280, 720), (640, 360), (320, 240)])
def test_stamp_survives_jpeg_quality_50(index: int, width: int, height: int) -> None:
    rng = np.random.default_rng(index)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)  # noise is the hardest background
    stamp_frame_index(image, index)
    assert read_frame_index(image) == index
    assert read_frame_index(_jpeg(image, 50)) == index


@pytest.mark.parametrize("variant", ["day", "night", "rain"])
def test_rendered_frames_read_back_after_jpeg(variant: str) -> None:
    renderer = Renderer(plaza_scene(seed=1, duration_s=30, variant=variant))
    for i in (0, 7, 150, 299):
        assert read_frame_index(_jpeg(renderer.picture(i), 50)) == i


def test_stamp_reads_after_resizing() -> None:
    image = Renderer(road_scene(seed=1, duration_s=5)).picture(42)
    assert read_frame_index(cv2.resize(image, (640, 360), interpolation=cv2.INTER_AREA)) == 42


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((720, 1280, 3), np.uint8),
        np.full((720, 1280, 3), 255, np.uint8),
        np.full((720, 1280, 3), 128, np.uint8),
        np.random.default_rng(0).integers(0, 256, (720, 1280, 3), dtype=np.uint8),
    ],
    ids=["black", "white", "grey", "noise"],
)
def test_no_stamp_reads_as_none(image: np.ndarray) -> None:
    assert read_frame_index(image) is None


def test_index_too_large_is_refused() -> None:
    with pytest.raises(ValueError, match="24 bits"):
        stamp_frame_index(np.zeros((720, 1280, 3), np.uint8), MAX_INDEX + 1)


def test_mp4_round_trip_with_faults(tmp_path) -> None:
    faults = Faults(freeze=[(1.0, 2.0)], black=[(3.0, 3.5)], drop=[(4.0, 5.0)])
    spec = road_scene(seed=3, duration_s=6, faults=faults)
    summary = write_mp4(spec, tmp_path / "road.mp4")
    assert summary.truth_path == tmp_path / "road.truth.jsonl"
    assert summary.frames == 60 and summary.frames_written == 50

    cap = cv2.VideoCapture(str(summary.video_path))
    read = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        read.append(read_frame_index(image))
    cap.release()

    expected: list[int | None] = []
    for ft in load_truth(summary.truth_path).frames:
        if ft.fault == "drop":
            continue
        expected.append(ft.shows)  # None for black frames, the freeze's first frame while frozen
    assert read == expected
    assert read[10:20] == [10] * 10
    assert read[30:35] == [None] * 5
    assert read[40] == 50  # the stream resumes at the frame after the drop


def test_mp4_truth_totals_match_frames(tmp_path) -> None:
    summary = write_mp4(road_scene(seed=4, duration_s=20), tmp_path / "a.mp4")
    truth = load_truth(summary.truth_path)
    n = sum(len(f.crossings) for f in truth.frames)
    assert n > 0
    assert sum(summary.count(line.id, d) for line in truth.spec.lines for d in ("in", "out")) == n
    assert truth.totals == summary.totals
