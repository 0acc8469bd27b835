"""Zone occupancy (counts, dwell, density, crowd flag, speed) and congestion levels, on synthetic tracks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from analytics.vision.congestion import CongestionLevel, CongestionThresholds, congestion_level
from analytics.vision.types import Detections
from analytics.vision.zones import ZoneOccupancy, ZoneState

T0 = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
SQUARE = [(100.0, 100.0), (300.0, 100.0), (300.0, 300.0), (100.0, 300.0)]

Obs = tuple[int, str, tuple[float, float]]


def frame(observations: Sequence[Obs]) -> Detections:
    """Tracked detections whose anchors (bottom-centre) are the given points."""
    xyxy = np.array([[x - 10, y - 30, x + 10, y] for _, _, (x, y) in observations], np.float32).reshape(-1, 4)
    return Detections(
        xyxy,
        tuple(c for _, c, _ in observations),
        np.full(len(observations), 0.9, np.float32),
        np.array([t for t, _, _ in observations], np.int64),
    )


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("observations", "expected"),
    [
        ([], {}),
        ([(1, "car", (200, 200))], {"car": 1}),
        (
            [(1, "car", (200, 200)), (2, "car", (150, 250)), (3, "person", (120, 120))],
            {"car": 2, "person": 1},
        ),
        ([(1, "car", (50, 200)), (2, "bus", (200, 350))], {}),  # outside
        ([(1, "car", (300, 200)), (2, "truck", (100, 100))], {"car": 1, "truck": 1}),  # on the edge, a corner
        ([(1, "car", (200, 310)), (2, "car", (200, 299))], {"car": 1}),  # the anchor decides, not the box
    ],
)
def test_counts_per_class(observations: list[Obs], expected: dict[str, int]) -> None:
    state = ZoneOccupancy("z", SQUARE).update(frame(observations), T0)
    assert state.counts == expected
    assert state.total == sum(expected.values())


def test_class_filter() -> None:
    zone = ZoneOccupancy("z", SQUARE, classes=["car", "truck"])
    state = zone.update(
        frame([(1, "car", (200, 200)), (2, "person", (210, 210)), (3, "truck", (150, 150))]), T0
    )
    assert state.counts == {"car": 1, "truck": 1}


def test_dwell_grows_and_resets_after_leaving() -> None:
    zone = ZoneOccupancy("z", SQUARE, exit_grace_s=2.0)
    states = [zone.update(frame([(1, "car", (200, 200))]), at(t)) for t in range(0, 61, 10)]
    assert [s.dwell_s[1] for s in states] == [0, 10, 20, 30, 40, 50, 60]
    assert states[-1].max_dwell_s == 60
    assert zone.update(frame([]), at(61)).max_dwell_s is None
    zone.update(frame([]), at(70))  # gone longer than the grace
    assert zone.update(frame([(1, "car", (200, 200))]), at(71)).dwell_s[1] == 0


def test_short_miss_keeps_dwell() -> None:
    zone = ZoneOccupancy("z", SQUARE, exit_grace_s=2.0)
    zone.update(frame([(1, "car", (200, 200))]), at(0))
    zone.update(frame([]), at(1))  # one missed detection
    zone.update(frame([(1, "car", (200, 320))]), at(1.5))  # anchor wobbles over the edge
    assert zone.update(frame([(1, "car", (200, 200))]), at(3)).dwell_s == {1: 3}


def test_parked_vehicle_keeps_its_dwell_through_an_id_switch() -> None:
    zone = ZoneOccupancy("z", SQUARE, rematch_px=15)
    for t in [*range(0, 300, 5), 299]:
        zone.update(frame([(1, "car", (200, 200))]), at(t))
    zone.update(frame([]), at(300))  # a bus hides it
    state = zone.update(frame([(9, "car", (203, 198))]), at(301))  # re-found under a new id
    assert state.dwell_s == {9: 301}
    assert state.over_dwell(300) == (9,)
    # A different car arriving elsewhere starts from zero.
    assert zone.update(frame([(9, "car", (203, 198)), (10, "car", (120, 280))]), at(302)).dwell_s[10] == 0


def test_dwell_is_exposed_not_alerted() -> None:
    zone = ZoneOccupancy("z", SQUARE, max_count=5)
    states = [zone.update(frame([(1, "car", (200, 200))]), at(t)) for t in range(0, 3600, 60)]
    # An hour parked: the dwell keeps growing and nothing in the state flips on and off.
    assert states[-1].dwell_s[1] == 3540
    assert not any(s.crowd for s in states)


@pytest.mark.parametrize(
    ("persons", "cars", "area", "max_count", "max_density", "density", "crowd"),
    [
        (0, 0, 50.0, None, None, 0.0, False),
        (10, 0, 50.0, None, 1.5, 0.2, False),
        (80, 0, 50.0, None, 1.5, 1.6, True),  # denser than 1.5 persons/m²
        (75, 0, 50.0, None, 1.5, 1.5, False),  # at the threshold is not over it
        (10, 5, 50.0, None, None, 0.2, False),  # cars are not crowd density
        (10, 5, None, 12, None, None, True),  # more than 12 objects
        (10, 2, None, 12, None, None, False),
    ],
)
def test_density_and_crowd(
    persons: int, cars: int, area: float | None, max_count: int | None, max_density: float | None,
    density: float | None, crowd: bool,
) -> None:  # fmt: skip
    zone = ZoneOccupancy("z", SQUARE, area_m2=area, max_count=max_count, max_density_per_m2=max_density)
    obs = [(i, "person", (110.0 + (i % 18) * 10, 110.0 + (i // 18) * 10)) for i in range(persons)]
    obs += [(1000 + i, "car", (150.0 + 20 * i, 280.0)) for i in range(cars)]
    state = zone.update(frame(obs), T0)
    assert state.counts.get("person", 0) == persons
    assert state.density_per_m2 == (pytest.approx(density) if density is not None else None)
    assert state.crowd is crowd


def test_no_density_when_persons_are_not_counted() -> None:
    zone = ZoneOccupancy("z", SQUARE, area_m2=100, classes=["car"])
    assert zone.update(frame([(1, "car", (200, 200))]), T0).density_per_m2 is None


def test_mean_speed_of_the_tracks_inside() -> None:
    zone = ZoneOccupancy("z", SQUARE)
    state = ZoneState("z", T0, {})
    for k in range(5):  # car 1 moves 10 px per 0.5 s = 20 px/s, car 2 stands still
        state = zone.update(frame([(1, "car", (120 + 10 * k, 200)), (2, "car", (250, 250))]), at(k * 0.5))
    assert state.mean_speed_px_s == pytest.approx(10.0)
    assert ZoneOccupancy("z", SQUARE).update(frame([(1, "car", (200, 200))]), T0).mean_speed_px_s is None


def test_bad_polygon_is_refused() -> None:
    with pytest.raises(ValueError, match="zone z"):
        ZoneOccupancy("z", [(0, 0), (10, 10), (0, 10), (10, 0)])  # a bow tie


# -- congestion --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vehicles", "speed", "capacity", "expected"),
    [
        (0, None, 20, CongestionLevel.FREE),
        (2, 60.0, 20, CongestionLevel.FREE),  # few, fast
        (2, 0.0, 20, CongestionLevel.FREE),  # one or two parked on an empty road
        (4, 2.0, 20, CongestionLevel.MODERATE),  # few but stopped: at most one level above occupancy
        (8, 60.0, 20, CongestionLevel.MODERATE),  # 40 % full, flowing
        (8, 10.0, 20, CongestionLevel.HEAVY),  # 40 % full, crawling
        (13, 50.0, 20, CongestionLevel.HEAVY),  # 65 % full, flowing
        (13, 2.0, 20, CongestionLevel.JAMMED),  # 65 % full, stopped
        (18, 50.0, 20, CongestionLevel.JAMMED),  # 90 % full
        (18, None, 20, CongestionLevel.JAMMED),  # no speed yet: occupancy alone
        (2, 2.0, None, CongestionLevel.FREE),  # no capacity, too few to judge
        (5, 60.0, None, CongestionLevel.FREE),
        (5, 20.0, None, CongestionLevel.MODERATE),
        (5, 5.0, None, CongestionLevel.HEAVY),
        (5, 1.0, None, CongestionLevel.HEAVY),  # never jammed without a capacity
    ],
)
def test_congestion_levels(
    vehicles: int, speed: float | None, capacity: int | None, expected: CongestionLevel
) -> None:
    assert congestion_level(vehicles, speed, capacity) is expected


def test_congestion_thresholds_scale_with_the_picture() -> None:
    small = CongestionThresholds().for_frame_height(240)
    assert small.free_speed_px_s == pytest.approx(40 / 3)
    assert congestion_level(8, 12.0, 20, small) is CongestionLevel.MODERATE  # 12 px/s is fast on 240 px
    assert congestion_level(8, 12.0, 20) is CongestionLevel.HEAVY  # and slow on 720 px
    assert [level.rank for level in CongestionLevel] == [0, 1, 2, 3]
