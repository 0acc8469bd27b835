"""The leaders' index as arithmetic (analytics.kpi_index): attainment, points, index, ranks, improvement."""

from __future__ import annotations

import pytest

from analytics.kpi_index import attainment, competition_ranks, index, is_improvement, points


@pytest.mark.parametrize(
    ("value", "target", "higher", "expected"),
    [
        (49, 98, True, 0.5),
        (98, 98, True, 1.0),
        (120, 98, True, 1.0),  # exceeding earns no more than meeting
        (-5, 98, True, 0.0),
        (5, 0, True, 1.0),
        (4, 2, False, 0.5),  # lower is better: target / value
        (1, 2, False, 1.0),
        (0, 0, False, 1.0),
        (3, 0, False, 0.0),
    ],
)
def test_attainment(value: float, target: float, higher: bool, expected: float) -> None:
    assert attainment(value, target, higher) == pytest.approx(expected)


def test_points_of_an_unreported_kpi_are_zero() -> None:
    assert points(20.0, 0.5) == 10.0
    assert points(20.0, None) == 0.0


def test_index_on_0_to_100_and_none_without_scored_kpis() -> None:
    assert index(42.5, 85.0) == pytest.approx(50.0)
    assert index(0.0, 0.0) is None


def test_competition_ranks_share_and_skip() -> None:
    assert competition_ranks([50.0, 70.0, 50.0, None, 10.0]) == [2, 1, 2, 5, 4]
    assert competition_ranks([88.82353, 88.823529]) == [1, 1]  # equal to three decimals
    assert competition_ranks([]) == []


@pytest.mark.parametrize(
    ("change", "higher", "expected"),
    [(1.0, True, True), (-1.0, True, False), (-2.0, False, True), (2.0, False, False), (0.0, True, None),
     (1e-12, True, None), (None, True, None)],
)
def test_is_improvement(change: float | None, higher: bool, expected: bool | None) -> None:
    assert is_improvement(change, higher) is expected
