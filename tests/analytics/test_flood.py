"""Flood alarm levels: thresholds, hysteresis, transitions, replays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.flood import AlarmRules, StationState, evaluate, level_of, step
from ioc.events import AlertTransition, SensorReading, Severity

RULES = AlarmRules("NS-01", "Nậm Mức - Na Sang", (2.0, 3.0, 4.0), hysteresis_m=0.2, area_code="03172")
T0 = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "current", "expected"),
    [
        (1.0, 0, 0), (2.0, 0, 1), (3.5, 0, 2), (9.0, 0, 3),   # rising: a threshold reached is a level entered
        (1.9, 1, 1), (1.81, 1, 1), (1.79, 1, 0),               # falling: leave only 0.2 m below the threshold
        (2.85, 2, 2), (2.79, 2, 1), (1.5, 3, 0), (3.85, 3, 3), (3.7, 3, 2),
    ],
)
def test_level_of_with_hysteresis(value: float, current: int, expected: int) -> None:
    assert level_of(value, RULES.thresholds, current, RULES.hysteresis_m) == expected


def reading(minutes: int, level: float) -> SensorReading:
    return SensorReading.create("NS-01", T0 + timedelta(minutes=minutes), {"water_level_m": level}, source="sim")


def run(levels: list[float]) -> list[tuple[str, str]]:
    state = StationState()
    out = []
    for i, lv in enumerate(levels):
        state, alerts = evaluate(RULES, state, reading(i, lv))
        out += [(a.transition.value, a.severity.value) for a in alerts]
    return out


def test_flood_rises_to_level_three_and_back() -> None:
    levels = [1.0, 1.5, 2.1, 2.05, 1.95, 2.5, 3.2, 4.1, 4.3, 3.9, 3.7, 2.7, 1.9, 1.7, 1.2]
    assert run(levels) == [
        ("opened", "warning"), ("escalated", "major"), ("escalated", "critical"),
        ("updated", "major"), ("updated", "warning"), ("resolved", "warning"),
    ]


def test_hovering_at_a_threshold_opens_once() -> None:
    assert run([1.9, 2.0, 1.95, 2.01, 1.85, 2.02, 1.9]) == [("opened", "warning")]


def test_alert_ids_are_stable_across_a_replay() -> None:
    def ids() -> list[str]:
        state, out = StationState(), []
        for i, lv in enumerate([1.0, 2.5, 3.5, 1.0]):
            state, alerts = evaluate(RULES, state, reading(i, lv))
            out += [str(a.event_id) for a in alerts]
        return out
    assert ids() == ids()


def test_every_transition_of_one_occurrence_shares_its_alert_id() -> None:
    state, alerts = StationState(), []
    for i, lv in enumerate([1.0, 2.5, 3.5, 1.0, 2.5]):
        state, out = evaluate(RULES, state, reading(i, lv))
        alerts += out
    first, second = alerts[:3], alerts[3:]
    assert len({a.alert_id for a in first}) == 1
    assert [a.transition for a in second] == [AlertTransition.OPENED]
    assert second[0].alert_id != first[0].alert_id
    assert first[1].severity is Severity.MAJOR and first[1].area_code == "03172"


def test_old_or_repeated_readings_change_nothing() -> None:
    state, _ = evaluate(RULES, StationState(), reading(5, 3.5))
    again, alerts = evaluate(RULES, state, reading(5, 3.5))
    older, alerts_old = evaluate(RULES, state, reading(1, 1.0))
    assert (again, alerts) == (state, []) and (older, alerts_old) == (state, [])


def test_readings_without_water_level_are_ignored() -> None:
    r = SensorReading.create("NS-01", T0, {"rainfall_mm": 3.0}, source="sim")
    assert evaluate(RULES, StationState(), r) == (StationState(), [])


def test_state_survives_serialisation() -> None:
    stored, alerts = step({"NS-01": RULES}, None, reading(0, 3.2))
    assert alerts and stored is not None
    restored = StationState.from_dict(stored)
    assert restored.level == 2 and restored.opened_at == T0


def test_unknown_station_is_not_processed() -> None:
    r = SensorReading.create("XX-99", T0, {"water_level_m": 9.0}, source="sim")
    assert step({"NS-01": RULES}, None, r) == (None, [])
