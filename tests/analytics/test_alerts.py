"""Rule engine: open once after for_s, escalate, de-escalate, resolve after clear_for_s, no re-open in a flap."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from analytics.alerts import AlertEngine, AlertRule, Observation
from ioc.events import AlertEvent, Severity

T0 = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
W, M, C = Severity.WARNING, Severity.MAJOR, Severity.CRITICAL

RISE = AlertRule(
    id="fast-rise",
    source="flood",
    observes="flood",
    subject="*",
    metric="rise_m_per_h",
    op=">=",
    levels=((W, 0.5), (M, 1.0), (C, 2.0)),
    hysteresis=0.1,
    clear_for_s=600,
    message_key="alert.rule.fast-rise",
    area_code="03172",
    params={"station": "Na Sang"},
)
CROWD = AlertRule(
    id="crowd",
    source="crowd",
    observes="zone",
    subject="plaza/stage",
    metric="occupancy",
    op=">",
    levels=((M, 40),),
    for_s=60,
    clear_for_s=120,
)
JAM = AlertRule(
    id="jam",
    source="traffic",
    observes="zone",
    subject="*",
    metric="congestion",
    op=">=",
    levels=((W, "heavy"), (M, "jammed")),
    for_s=120,
    categories=("free", "moderate", "heavy", "jammed"),
)
OFFLINE = AlertRule(
    id="offline",
    source="camera",
    observes="camera",
    subject="*",
    metric="camera_status",
    op="!=",
    levels=((M, "online"),),
    for_s=300,
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def run(rule: AlertRule, script: list[tuple[float, object]]) -> list[tuple[str, str, int]]:
    """Feed (seconds, value) observations; a value of None is a tick. Return (transition, severity, at seconds)."""
    subject = "NS-01" if rule.subject == "*" else rule.subject
    engine = AlertEngine([rule])
    out: list[AlertEvent] = []
    for seconds, value in script:
        if value is None:
            out += engine.tick(at(seconds))
        else:
            out += engine.observe(Observation(rule.observes, subject, rule.metric, value, at(seconds)))  # type: ignore[arg-type]
    return [(e.transition.value, e.severity.value, int((e.at - T0).total_seconds())) for e in out]


# fmt: off
CASES = [
    ("opens-escalates-deescalates-resolves", RISE,
     [(0, 0.2), (60, 0.6), (120, 1.2), (180, 2.5), (240, 1.5), (300, 0.3), (600, 0.2), (900, 0.1)],
     [("opened", "warning", 60), ("escalated", "major", 120), ("escalated", "critical", 180),
      ("updated", "major", 240), ("resolved", "major", 900)]),
    ("hysteresis-keeps-the-level", RISE,
     [(0, 1.05), (60, 0.95), (120, 0.91), (180, 1.02), (240, 0.89)],
     [("opened", "major", 0), ("updated", "warning", 240)]),
    ("flap-does-not-reopen", RISE,
     [(0, 0.6), (60, 0.1), (120, 0.7), (180, 0.1), (240, 0.8), (300, 0.1), (900, 0.1)],
     [("opened", "warning", 0), ("resolved", "warning", 900)]),
    ("resolve-by-tick", RISE, [(0, 0.6), (60, 0.1), (600, None), (660, None), (700, None)],
     [("opened", "warning", 0), ("resolved", "warning", 660)]),
    ("crowd-held", CROWD, [(0, 45), (30, 50), (60, 48), (90, 30), (200, None), (210, 30)],
     [("opened", "major", 60), ("resolved", "major", 210)]),
    ("crowd-not-held", CROWD, [(0, 45), (30, 50), (50, 20), (70, 45), (100, None)], []),
    ("crowd-held-opens-by-tick-at-due-time", CROWD, [(0, 45), (100, None)], [("opened", "major", 60)]),
    ("congestion-held", JAM, [(0, "heavy"), (60, "jammed"), (120, "jammed"), (180, "moderate")],
     [("opened", "major", 120), ("resolved", "major", 180)]),
    ("congestion-not-held", JAM, [(0, "heavy"), (60, "moderate"), (100, "jammed"), (200, None)], []),
    ("camera-offline-for-5-min", OFFLINE, [(0, "offline"), (200, None), (299, None), (301, None), (400, "online")],
     [("opened", "major", 300), ("resolved", "major", 400)]),
    ("camera-blip", OFFLINE, [(0, "frozen"), (100, "online"), (400, None)], []),
]
# fmt: on


@pytest.mark.parametrize(("name", "rule", "script", "expected"), CASES, ids=[c[0] for c in CASES])
def test_rule_life(
    name: str, rule: AlertRule, script: list[tuple[float, object]], expected: list[object]
) -> None:
    assert run(rule, script) == expected


def test_update_delta_reports_value_changes() -> None:
    rule = replace(RISE, update_delta=0.2)
    assert run(rule, [(0, 0.6), (60, 0.7), (120, 0.85), (180, 0.9)]) == [
        ("opened", "warning", 0),
        ("updated", "warning", 120),
    ]


def test_event_carries_key_area_message_and_params() -> None:
    engine = AlertEngine([RISE])
    (event,) = engine.observe(Observation("flood", "NS-01", "rise_m_per_h", 1.23456, T0))
    assert event.alert_key == "flood:NS-01:fast-rise"
    assert event.area_code == "03172"
    assert event.source_kind == "flood" and event.source_id == "NS-01"
    assert event.message_key == "alert.rule.fast-rise"
    assert event.params == {
        "subject": "NS-01",
        "station": "Na Sang",
        "value": 1.235,
        "threshold": 1.0,
        "severity": "major",
    }


def test_late_and_replayed_observations_change_nothing() -> None:
    assert run(RISE, [(0, 0.6), (60, 2.5), (30, 0.1), (60, 0.1)]) == [
        ("opened", "warning", 0),
        ("escalated", "critical", 60),
    ]


def test_other_subjects_and_metrics_are_ignored() -> None:
    engine = AlertEngine([CROWD])
    assert engine.observe(Observation("zone", "plaza/other", "occupancy", 99, T0)) == []
    assert engine.observe(Observation("zone", "plaza/stage", "density_per_m2", 99, T0)) == []
    assert engine.to_dict()["alerts"] == {}


SCRIPT = [(0, 0.2), (60, 0.6), (120, 1.2), (180, 2.5), (240, 1.5), (300, 0.3), (600, None), (900, 0.1)]


def test_state_round_trip_mid_stream_gives_the_same_events() -> None:
    def feed(engine: AlertEngine, part: list[tuple[float, object]]) -> list[AlertEvent]:
        out: list[AlertEvent] = []
        for seconds, value in part:
            if value is None:
                out += engine.tick(at(seconds))
            else:
                out += engine.observe(Observation("flood", "NS-01", "rise_m_per_h", value, at(seconds)))  # type: ignore[arg-type]
        return out

    straight = feed(AlertEngine([RISE]), SCRIPT)
    for cut in range(len(SCRIPT)):
        first = AlertEngine([RISE])
        events = feed(first, SCRIPT[:cut])
        stored = json.loads(json.dumps(first.to_dict()))
        events += feed(AlertEngine.from_dict([RISE], stored), SCRIPT[cut:])
        assert [e.event_id for e in events] == [e.event_id for e in straight], cut
    assert len({e.alert_id for e in straight}) == 1


def test_replay_gives_identical_ids() -> None:
    def ids() -> list[str]:
        engine = AlertEngine([RISE])
        out = []
        for seconds, value in SCRIPT:
            events = (
                engine.tick(at(seconds))
                if value is None
                else engine.observe(Observation("flood", "NS-01", "rise_m_per_h", value, at(seconds)))
            )  # type: ignore[arg-type]
            out += [str(e.event_id) for e in events]
        return out

    assert ids() == ids()


def test_state_of_a_removed_rule_is_dropped() -> None:
    engine = AlertEngine([RISE])
    engine.observe(Observation("flood", "NS-01", "rise_m_per_h", 0.7, T0))
    assert AlertEngine.from_dict([CROWD], engine.to_dict()).to_dict()["alerts"] == {}


def test_processor_runs_the_builtin_kpi_checks_with_history() -> None:
    """KPI values through the processor: below target opens once and resolves when the target is met again."""
    from datetime import UTC, datetime

    from analytics.alerts import AlertProcessor
    from ioc.app.site import SiteRuntime
    from ioc.config.loader import default_site_path, load_site
    from ioc.events import KpiValue, PeriodKind, stable_id

    site = load_site(default_site_path())
    runtime = SiteRuntime.build(site, default_site_path())
    kpi = next(k for k in site.kpis if k.unit == "%" and k.target is not None and k.higher_is_better
               and k.period.value == "month")
    unit = site.areas[1].code

    def value(month: int, v: float) -> KpiValue:
        start = datetime(2025, month, 1, tzinfo=UTC)
        return KpiValue(event_id=stable_id("k", month, v), kpi_id=kpi.id, unit_code=unit,
                        period_kind=PeriodKind.MONTH, period_start=start, value=v, source="test")

    processor = AlertProcessor(runtime.alerts)
    below = kpi.target - 5
    transitions = []
    for month, v in [(1, kpi.target + 1), (2, below), (3, below), (4, kpi.target + 1)]:
        state = processor.state()
        processor = AlertProcessor.from_state(runtime.alerts, state)  # survives a restart between values
        transitions += [(a.alert_key.rsplit(":", 1)[-1], a.transition.value) for a in processor.handle(value(month, v))
                        if a.alert_key.endswith(":below_target")]
    assert transitions == [("below_target", "opened"), ("below_target", "resolved")]
