"""Counting lines on synthetic tracks: side convention, direction both ways at many angles, segment ends,
jitter, parked vehicles, id switches and per-class totals."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from analytics.vision.lines import Crossing, LineCounter, side_of, signed_distance
from analytics.vision.types import Detections
from ioc.events import Direction

T0 = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
DT = timedelta(seconds=0.2)  # 5 analysed frames per second
BAND = 6.0

Obs = tuple[int, str, tuple[float, float]]  # track id, class, anchor


def frame(observations: Sequence[Obs]) -> Detections:
    """Tracked detections whose anchors (bottom-centre) are exactly the given points."""
    if not observations:
        return Detections(np.zeros((0, 4), np.float32), (), np.zeros(0, np.float32), np.zeros(0, np.int64))
    xyxy = np.array([[x - 10, y - 30, x + 10, y] for _, _, (x, y) in observations], np.float32)
    return Detections(
        xyxy,
        tuple(c for _, c, _ in observations),
        np.full(len(observations), 0.9, np.float32),
        np.array([t for t, _, _ in observations], np.int64),
    )


def run(counter: LineCounter, frames: Sequence[Sequence[Obs]], start: datetime = T0) -> list[Crossing]:
    """Feed frames 0.2 s apart; return every crossing."""
    out: list[Crossing] = []
    for k, observations in enumerate(frames):
        out.extend(counter.trigger(frame(observations), start + k * DT))
    return out


def straight(
    track_id: int, cls: str, a: tuple[float, float], b: tuple[float, float], steps: int
) -> list[Obs]:
    """One track moving in a straight line from a to b in ``steps`` equal steps."""
    return [
        (track_id, cls, (a[0] + (b[0] - a[0]) * k / steps, a[1] + (b[1] - a[1]) * k / steps))
        for k in range(steps + 1)
    ]


def test_side_convention_is_the_documented_one() -> None:
    # Horizontal line left to right: left is above (smaller y), right below, on the picture as shown.
    assert side_of((0, 100), (100, 100), (50, 40)) == "left"
    assert side_of((0, 100), (100, 100), (50, 160)) == "right"
    # Vertical line going down the picture: walking down-screen, left hand points to larger x.
    assert side_of((100, 0), (100, 100), (160, 50)) == "left"
    assert side_of((100, 0), (100, 100), (40, 50)) == "right"
    assert side_of((0, 100), (100, 100), (50, 100)) is None
    # The written formula, by hand: (x1-x0)*(y-y0) - (y1-y0)*(x-x0) over the length.
    assert signed_distance((0, 0), (3, 4), np.array([[4.0, 0.0]]))[0] == pytest.approx((3 * 0 - 4 * 4) / 5)


ANGLES = [0, 30, 45, 90, 135, 180, 200, 270, 315]


@pytest.mark.parametrize("angle", ANGLES)
@pytest.mark.parametrize(
    ("in_side", "towards", "expected"),
    [
        ("left", "left", Direction.IN),
        ("left", "right", Direction.OUT),
        ("right", "right", Direction.IN),
        ("right", "left", Direction.OUT),
    ],
)
def test_direction_at_every_angle(angle: int, in_side: str, towards: str, expected: Direction) -> None:
    c = (500.0, 400.0)
    u = (math.cos(math.radians(angle)), math.sin(math.radians(angle)))
    p0, p1 = (c[0] - 100 * u[0], c[1] - 100 * u[1]), (c[0] + 100 * u[0], c[1] + 100 * u[1])
    left = (u[1], -u[0])  # unit normal pointing to the left side, image y down
    sign = 1 if towards == "left" else -1
    start = (c[0] - sign * 60 * left[0], c[1] - sign * 60 * left[1])
    end = (c[0] + sign * 60 * left[0], c[1] + sign * 60 * left[1])
    assert side_of(p0, p1, end) == towards
    counter = LineCounter("l", p0, p1, in_side=in_side, band_px=BAND)  # type: ignore[arg-type]
    crossings = run(counter, [[o] for o in straight(7, "car", start, end, 12)])
    assert [(c.direction, c.track_id, c.object_class) for c in crossings] == [(expected, 7, "car")]
    assert counter.counts[expected] == {"car": 1}
    assert counter.in_count + counter.out_count == 1


@pytest.mark.parametrize(
    ("x_at_line", "counted"),
    [
        (150.0, True),  # middle of the segment
        (101.0, True),  # just inside the first end
        (299.0, True),  # just inside the second end
        (90.0, False),  # beside the segment, before p0
        (320.0, False),  # beside the segment, past p1
        (-200.0, False),  # far beside
    ],
)
def test_only_the_segment_counts(x_at_line: float, counted: bool) -> None:
    counter = LineCounter("l", (100, 200), (300, 200), band_px=BAND)
    crossings = run(counter, [[o] for o in straight(1, "car", (x_at_line, 260), (x_at_line, 140), 12)])
    assert len(crossings) == (1 if counted else 0)


def test_slanted_path_is_judged_where_it_meets_the_line() -> None:
    counter = LineCounter("l", (100, 200), (300, 200), band_px=BAND)
    # Starts beside the segment but cuts the line inside it (x = 120 at y = 200).
    assert len(run(counter, [[o] for o in straight(1, "car", (60, 280), (180, 120), 16)])) == 1
    # Starts over the segment but cuts the line outside it (x = 330 at y = 200).
    assert run(counter, [[o] for o in straight(2, "car", (290, 280), (370, 120), 16)]) == []


def test_going_round_the_end_then_through_counts_once() -> None:
    counter = LineCounter("l", (100, 200), (300, 200), band_px=BAND)
    path = straight(1, "car", (200, 260), (350, 260), 5)  # right side, then beside the end
    path += straight(1, "car", (350, 260), (350, 140), 5)[1:]  # crosses the infinite line beside the segment
    path += straight(1, "car", (350, 140), (200, 140), 5)[1:]  # now left of it
    path += straight(1, "car", (200, 140), (200, 260), 6)[1:]  # back through the segment: a real crossing
    crossings = run(counter, [[o] for o in path])
    assert [c.direction for c in crossings] == [Direction.OUT]  # left -> right with in_side left


@pytest.mark.parametrize("amplitude", [1.0, 3.0, BAND - 0.5])
def test_jitter_inside_the_band_never_counts(amplitude: float) -> None:
    counter = LineCounter("l", (0, 200), (400, 200), band_px=BAND)
    rng = np.random.default_rng(1)
    frames: list[list[Obs]] = [[(1, "car", (200, 150))], [(1, "car", (200, 190))]]
    frames += [
        [(1, "car", (200 + rng.normal(0, 2), 200 + rng.uniform(-amplitude, amplitude)))] for _ in range(300)
    ]
    assert run(counter, frames) == []


def test_wide_jitter_counts_at_most_once_each_way() -> None:
    counter = LineCounter("l", (0, 200), (400, 200), band_px=BAND)
    frames = [[(1, "motorcycle", (200, 150))]]
    frames += [[(1, "motorcycle", (200, 200 + (15 if k % 2 else -15)))] for k in range(60)]
    crossings = run(counter, frames)
    assert sorted(c.direction for c in crossings) == [Direction.IN, Direction.OUT]


def test_a_real_u_turn_counts_both_ways() -> None:
    counter = LineCounter("l", (0, 200), (400, 200), band_px=BAND)
    path = straight(1, "car", (200, 260), (200, 140), 8) + straight(1, "car", (200, 140), (200, 260), 8)[1:]
    assert [c.direction for c in run(counter, [[o] for o in path])] == [Direction.IN, Direction.OUT]


@pytest.mark.parametrize("rest_offset", [0.0, 2.5, -2.5])
def test_vehicle_parked_on_the_line_never_counts(rest_offset: float) -> None:
    counter = LineCounter("l", (0, 200), (400, 200), band_px=BAND)
    rng = np.random.default_rng(7)
    arrive = straight(1, "car", (200, 260), (200, 200 + rest_offset), 6)
    parked = [
        (1, "car", (200 + rng.normal(0, 1.5), 200 + rest_offset + rng.normal(0, 0.5))) for _ in range(3000)
    ]
    crossings = run(counter, [[o] for o in arrive + parked])  # 10 minutes parked at 5 fps
    assert crossings == []


def test_parked_beside_the_line_counts_only_its_one_arrival() -> None:
    counter = LineCounter("l", (0, 200), (400, 200), band_px=BAND)
    rng = np.random.default_rng(3)
    arrive = straight(1, "truck", (200, 260), (200, 190), 6)
    parked = [(1, "truck", (200, 190 + rng.normal(0, 2.0))) for _ in range(1000)]
    assert [c.direction for c in run(counter, [[o] for o in arrive + parked])] == [Direction.IN]


def test_id_switch_in_the_band_counts_the_crossing_once() -> None:
    counter = LineCounter("l", (0, 200), (400, 200), band_px=BAND)
    before = straight(1, "car", (200, 260), (200, 202), 6)  # track 1 reaches the band, then is lost
    gap: list[list[Obs]] = [[], []]
    after = straight(2, "car", (201, 199), (201, 120), 6)  # re-found as track 2, finishes the crossing
    crossings = run(counter, [[o] for o in before] + gap + [[o] for o in after])
    assert [(c.track_id, c.direction) for c in crossings] == [(2, Direction.IN)]


def test_id_switch_after_crossing_does_not_count_again() -> None:
    counter = LineCounter("l", (0, 200), (400, 200), band_px=BAND)
    before = straight(1, "car", (200, 260), (200, 180), 6)  # counted while track 1
    # The box jumps back into the band and a new id is born there; it then goes on (and wobbles back a bit).
    after = [
        (2, "car", (200, 197.0)),
        (2, "car", (200, 208.0)),
        (2, "car", (200, 170.0)),
        (2, "car", (200, 120.0)),
    ]
    crossings = run(counter, [[o] for o in before] + [[]] + [[o] for o in after])
    assert [(c.track_id, c.direction) for c in crossings] == [(1, Direction.IN)]


def test_new_track_far_from_a_lost_one_does_not_inherit() -> None:
    counter = LineCounter("l", (0, 200), (400, 200), band_px=BAND)
    frames = [[o] for o in straight(1, "car", (100, 260), (100, 203), 6)]
    frames += [
        [o] for o in straight(2, "car", (300, 197), (300, 120), 6)
    ]  # a different car, born in the band
    assert run(counter, frames) == []  # neither was seen clearly on both sides


def test_memory_expires() -> None:
    counter = LineCounter("l", (0, 200), (400, 200), band_px=BAND, memory_s=1.0)
    run(counter, [[o] for o in straight(1, "car", (200, 260), (200, 202), 6)])
    later = T0 + timedelta(seconds=30)
    crossings = run(counter, [[o] for o in straight(2, "car", (200, 199), (200, 120), 6)], start=later)
    assert crossings == []  # 30 s later, a new object in the band is not the old one


def test_a_new_track_never_takes_over_one_still_in_view() -> None:
    counter = LineCounter("l", (0, 200), (400, 200), band_px=BAND)
    # Car 1 waits clearly on the left; car 2 is born in the band 10 px away, listed first in the frame.
    frames: list[list[Obs]] = [[(1, "car", (200, 150.0))], [(1, "car", (200, 180.0))]]
    frames += [[(2, "car", (205, 195.0 + 10 * k)), (1, "car", (200, 180.0))] for k in range(8)]
    assert run(counter, frames) == []  # car 2 was never clearly on the left, car 1 never moved


def test_per_class_and_per_direction_totals() -> None:
    counter = LineCounter("l", (0, 200), (800, 200), in_side="right", band_px=BAND)
    plan = [  # (class, going down = towards the right side = in)
        ("car", True), ("car", True), ("car", False), ("motorcycle", True), ("motorcycle", True),
        ("motorcycle", True), ("motorcycle", False), ("bus", False), ("truck", True), ("bicycle", False),
        ("person", True),
    ]  # fmt: skip
    paths = [
        straight(i, cls, (40 + 60 * i, 120 if down else 280), (40 + 60 * i, 280 if down else 120), 10)
        for i, (cls, down) in enumerate(plan)
    ]
    frames = [[p[k] for p in paths] for k in range(11)]
    crossings = run(counter, frames)
    assert len(crossings) == len(plan)
    assert counter.counts == {
        Direction.IN: {"car": 2, "motorcycle": 3, "truck": 1, "person": 1},
        Direction.OUT: {"car": 1, "motorcycle": 1, "bus": 1, "bicycle": 1},
    }
    assert (counter.in_count, counter.out_count) == (7, 4)


def test_class_filter() -> None:
    counter = LineCounter("l", (0, 200), (800, 200), classes=["car", "bus"], band_px=BAND)
    paths = [
        straight(i, cls, (100 * i + 50, 260), (100 * i + 50, 140), 8)
        for i, cls in enumerate(["car", "person"])
    ]
    crossings = run(counter, [[p[k] for p in paths] for k in range(9)])
    assert [c.object_class for c in crossings] == ["car"]


@pytest.mark.parametrize(
    ("p0", "p1", "band"),
    [((5, 5), (5, 5), 1.0), ((0, 0), (10, 0), -1.0)],
)
def test_bad_lines_are_refused(p0: tuple[float, float], p1: tuple[float, float], band: float) -> None:
    with pytest.raises(ValueError):
        LineCounter("l", p0, p1, band_px=band)


def test_untracked_detections_are_refused() -> None:
    d = Detections(np.zeros((1, 4), np.float32), ("car",), np.ones(1, np.float32))
    with pytest.raises(ValueError, match="track_id"):
        LineCounter("l", (0, 0), (10, 0)).trigger(d, T0)
