"""The wall's statuses from values and limits (analytics.status): flood levels, crowded zones, KPI targets."""

from __future__ import annotations

import pytest

from analytics.status import (
    CROWD_WARNING_FRACTION,
    crowd_status,
    flood_status,
    kpi_status,
    meets_target,
    over_capacity,
)


@pytest.mark.parametrize(
    ("level", "expected"), [(None, None), (0, "ok"), (1, "warning"), (2, "major"), (3, "alarm")]
)
def test_flood_status_by_alarm_level(level: int | None, expected: str | None) -> None:
    assert flood_status(level) == expected


@pytest.mark.parametrize(
    ("count", "max_count", "density", "max_density", "congestion", "expected"),
    [
        (45, 40, None, None, None, "alarm"),  # over the count: the sample site's crowded one-stop shop
        (40, 40, None, None, None, "warning"),  # at the limit is not over it, but above 80 %
        (33, 40, None, None, None, "warning"),  # 33 > 0.8 x 40 = 32
        (32, 40, None, None, None, "ok"),  # exactly 80 % is not above it
        (5, 40, 2.5, 2.0, None, "alarm"),  # over the density, whatever the count
        (5, 40, 1.5, 2.0, None, "ok"),
        (5, None, None, 2.0, None, "ok"),  # density limit without a measured density
        (5, None, None, None, "heavy", "warning"),
        (5, None, None, None, "jammed", "warning"),
        (5, None, None, None, "moderate", "ok"),
        (1000, None, None, None, None, "ok"),  # no limit, no congestion: nothing to compare with
    ],
)
def test_crowd_status(
    count: float,
    max_count: int | None,
    density: float | None,
    max_density: float | None,
    congestion: str | None,
    expected: str,
) -> None:
    assert crowd_status(count, max_count, density, max_density, congestion) == expected


def test_crowd_warning_is_at_eighty_percent_of_the_maximum() -> None:
    assert CROWD_WARNING_FRACTION == 0.8
    assert crowd_status(80.5, 100) == "warning" and crowd_status(80, 100) == "ok"


def test_over_capacity_is_strictly_above_a_limit() -> None:
    assert over_capacity(41, 40) and not over_capacity(40, 40)
    assert over_capacity(0, None, 2.01, 2.0) and not over_capacity(0, None, 2.0, 2.0)
    assert not over_capacity(10**6, None, None, None)


@pytest.mark.parametrize(
    ("value", "target", "higher", "met"),
    [(98, 98, True, True), (97.9, 98, True, False), (3, 3, False, True), (3.1, 3, False, False)],
)
def test_meets_target_either_way(value: float, target: float, higher: bool, met: bool) -> None:
    assert meets_target(value, target, higher) is met
    assert kpi_status(value, target, higher) == ("ok" if met else "warning")


def test_kpi_status_needs_a_value_and_a_target() -> None:
    assert kpi_status(None, 98, True) is None
    assert kpi_status(98, None, True) is None


def test_the_crowd_warning_words_are_congestion_levels() -> None:
    # analytics.status spells them out instead of importing the vision package (which imports it): keep them true.
    from analytics.status import CROWD_WARNING_CONGESTION
    from analytics.vision.congestion import CongestionLevel

    assert {CongestionLevel.HEAVY.value, CongestionLevel.JAMMED.value} == CROWD_WARNING_CONGESTION
