"""Detector regions: tiling, motion regions, merging parts of one frame, and the wrapper's choice per
frame."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from analytics.vision.regions import (
    MotionRegions,
    Region,
    RegionDetector,
    RegionSettings,
    cut_by,
    merge,
    shift,
    tile_regions,
)
from analytics.vision.sampling import is_due
from analytics.vision.types import Detections, Frame

AT = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def dets(*rows: tuple[float, float, float, float, str, float]) -> Detections:
    if not rows:
        return Detections.empty()
    return Detections(
        np.array([r[:4] for r in rows], np.float32),
        tuple(r[4] for r in rows),
        np.array([r[5] for r in rows], np.float32),
    )


@pytest.mark.parametrize(
    ("size", "tiles"),
    [
        ((960, 540), 2),  # one row of 520 px tiles stretched to 540 high, two across
        ((1280, 720), 6),
        ((320, 240), 1),
    ],
)
def test_tiles_cover_the_frame_with_overlap(size: tuple[int, int], tiles: int) -> None:
    width, height = size
    got = tile_regions(width, height, 520)
    assert len(got) == tiles
    covered = np.zeros((height, width), bool)
    for t in got:
        assert t.x >= 0 and t.y >= 0 and t.x + t.w <= width and t.y + t.h <= height
        covered[t.y : t.y + t.h, t.x : t.x + t.w] = True
    assert covered.all()


def test_tiles_can_be_limited_to_the_far_part_of_the_road() -> None:
    got = tile_regions(1280, 720, 520, area=Region(0, 0, 1280, 300))
    assert len(got) == 3 and all(t.y == 0 and t.h == 300 for t in got)
    with pytest.raises(ValueError, match="outside"):
        tile_regions(640, 480, 520, area=Region(700, 0, 10, 10))


def test_a_box_cut_by_a_tile_edge_gives_way_to_the_whole_object_of_another_class() -> None:
    """Seen on the junction clip: the left tile saw half a pickup as 'car' 0.73 inside the full frame's
    'truck' 0.65; both reached the tracker as two objects."""
    whole = dets((462, 137, 660, 355, "truck", 0.65))
    tile = Region(0, 0, 520, 540)
    half = dets((462, 163, 519, 345, "car", 0.73))
    merged = merge(
        [whole, half], [cut_by(whole, Region(0, 0, 960, 540), 960, 540), cut_by(half, tile, 960, 540)]
    )
    assert merged.class_names == ("truck",)


def test_merge_keeps_neighbours_drops_nested_and_same_object_in_two_classes() -> None:
    full = dets((100, 100, 140, 180, "motorcycle", 0.6), (300, 100, 360, 160, "car", 0.5))
    tile = dets(
        (102, 101, 141, 181, "motorcycle", 0.8),  # the same bike: NMS keeps one
        (305, 110, 330, 140, "car", 0.9),  # nested in the car: a duplicate
        (150, 100, 190, 180, "motorcycle", 0.7),  # a neighbour: kept
        (301, 101, 359, 161, "truck", 0.4),  # the car again as truck, less sure: dropped
    )
    merged = merge([full, tile])
    assert sorted(merged.class_names) == ["car", "motorcycle", "motorcycle"]
    assert len(merge([dets()])) == 0


def test_shift_moves_crop_boxes_into_the_frame() -> None:
    moved = shift(dets((1, 2, 3, 4, "car", 0.9)), Region(100, 50, 10, 10))
    np.testing.assert_allclose(moved.xyxy, [[101, 52, 103, 54]])


def test_motion_regions_are_squares_around_what_moved() -> None:
    motion = MotionRegions(side=200)
    still = np.zeros((540, 960, 3), np.uint8)
    assert motion.update(still) == []  # nothing to compare with yet
    assert motion.update(still) == []
    moved = still.copy()
    moved[300:340, 700:730] = 255  # a bright object appeared
    (region,) = motion.update(moved)
    assert region.w == region.h >= 200
    assert region.x <= 700 and region.x + region.w >= 730 and region.y <= 300 and region.y + region.h >= 340


def test_many_motion_regions_become_their_bounding_box() -> None:
    motion = MotionRegions(side=100, max_regions=2)
    motion.update(np.zeros((540, 960, 3), np.uint8))
    moved = np.zeros((540, 960, 3), np.uint8)
    for x in (50, 300, 600, 850):
        moved[200:220, x : x + 20] = 255
    (region,) = motion.update(moved)
    assert region.x <= 50 and region.x + region.w >= 870


class Recorder:
    """A detector that records the size of each image it is given and finds one box in the middle."""

    name = "recorder"

    def __init__(self) -> None:
        self.sizes: list[tuple[int, int]] = []

    def detect(self, frame: Frame) -> Detections:
        h, w = frame.image.shape[:2]
        self.sizes.append((w, h))
        return dets((w / 2 - 5, h / 2 - 5, w / 2 + 5, h / 2 + 5, "car", 0.9))


def test_region_detector_runs_the_model_on_each_part() -> None:
    image = np.zeros((540, 960, 3), np.uint8)
    tiles = Recorder()
    RegionDetector(tiles, RegionSettings(mode="tiles")).detect(Frame("c", 0, AT, image))
    assert tiles.sizes == [(960, 540), (520, 540), (520, 540)]
    full = Recorder()
    assert len(RegionDetector(full, RegionSettings(mode="full")).detect(Frame("c", 0, AT, image))) == 1
    assert full.sizes == [(960, 540)]


def test_motion_mode_looks_at_the_whole_frame_every_full_every_s() -> None:
    rec = Recorder()
    detector = RegionDetector(rec, RegionSettings(mode="motion", full_every_s=1.0))
    image = np.zeros((540, 960, 3), np.uint8)
    wholes = []
    for i in range(10):  # 5 fps for 2 s, nothing moving
        before = len(rec.sizes)
        detector.detect(Frame("c", i, AT + timedelta(seconds=i * 0.2), image))
        wholes.append(rec.sizes[before:] == [(960, 540)])
    assert wholes == [True, False, False, False, False, True, False, False, False, False]
    with pytest.raises(ValueError, match="regions must be one of"):
        RegionDetector(rec, RegionSettings(mode="everywhere"))  # type: ignore[arg-type]


@pytest.mark.parametrize(("source", "sample"), [(25, 10), (30, 5), (25, 2), (12.5, 5), (29.97, 5), (10, 30)])
def test_frames_are_sampled_evenly_at_the_requested_rate(source: float, sample: float) -> None:
    """Regression: 10 fps on a 25 fps source analysed 12.5 frames per second (every 2nd frame)."""
    frames = round(source * 60)
    taken = [i for i in range(frames) if is_due(i, source, sample)]
    assert abs(len(taken) - min(sample, source) * 60) <= 1
    gaps = np.diff(taken) / source
    assert gaps.max() - gaps.min() <= 1 / source + 1e-9  # as even as the source's frames allow
