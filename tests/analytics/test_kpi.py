"""KPI alert core: below target (both directions), sudden change per unit, missing reports, stable ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics.kpi import CHANGE_THRESHOLDS, alert_key, evaluate, misses_target, missing_reports
from ioc import i18n
from ioc.config.loader import load_site
from ioc.config.models import Kpi
from ioc.events import AlertTransition, KpiValue, PeriodKind, Severity, stable_id


@pytest.fixture(scope="module")
def kpis(site_dir: Path) -> dict[str, Kpi]:
    return {k.id: k for k in load_site(site_dir).kpis}


def month(year: int, m: int) -> datetime:
    return datetime(year, m, 1, tzinfo=UTC) - timedelta(hours=7)


def val(
    kpi: str,
    m: int,
    value: float,
    unit: str = "03172",
    target: float | None = None,
    kind: PeriodKind = PeriodKind.MONTH,
) -> KpiValue:
    start = month(2025, m)
    return KpiValue(
        event_id=stable_id(kpi, unit, start, value),
        kpi_id=kpi,
        unit_code=unit,
        period_kind=kind,
        period_start=start,
        value=value,
        target=target,
        source="test",
    )


def run(kpi: Kpi, values: list[float], unit: str = "03172") -> list[list[tuple[str, str]]]:
    """Feed the values month by month; return, per month, the (rule, transition) pairs raised."""
    history: list[KpiValue] = []
    out = []
    for i, v in enumerate(values, start=1):
        new = val(kpi.id, i, v, unit)
        out.append([(a.alert_key.rsplit(":", 1)[1], a.transition.value) for a in evaluate(kpi, history, new)])
        history.append(new)
    return out


def test_below_target_opens_once_and_resolves_when_met(kpis: dict[str, Kpi]) -> None:
    # dossiers_on_time_pct: target 98 %, higher is better. The 96.63 % of 2022 misses it.
    got = run(kpis["dossiers_on_time_pct"], [98.5, 96.63, 97.0, 97.5, 98.2, 99.0])
    assert got == [[], [("below_target", "opened")], [], [], [("below_target", "resolved")], []]


def test_resolution_belongs_to_the_occurrence_that_opened(kpis: dict[str, Kpi]) -> None:
    kpi = kpis["dossiers_on_time_pct"]
    history = [val(kpi.id, 1, 99), val(kpi.id, 2, 96.63), val(kpi.id, 3, 97)]
    [opened] = evaluate(kpi, history[:1], history[1])
    [resolved] = evaluate(kpi, history, val(kpi.id, 4, 98.5))
    assert opened.alert_key == resolved.alert_key == "kpi:dossiers_on_time_pct:03172:below_target"
    assert resolved.opened_at == opened.opened_at == month(2025, 2)
    assert resolved.alert_id == opened.alert_id
    assert (opened.area_code, opened.source_kind, opened.severity) == ("03172", "kpi", Severity.WARNING)


def test_lower_is_better_and_the_values_own_target(kpis: dict[str, Kpi]) -> None:
    base = kpis["dossiers_on_time_pct"]
    late = base.model_copy(update={"id": "late_dossiers_pct", "higher_is_better": False, "target": 5.0})
    assert misses_target(late, val(late.id, 1, 6)) and not misses_target(late, val(late.id, 1, 4))
    assert not misses_target(base, val(base.id, 1, 96, target=95))  # the row's target beats the config's 98
    no_target = kpis["online_procedures_l3_count"]
    assert not misses_target(no_target, val(no_target.id, 1, 0))


SUDDEN = [
    # (kpi, series, month where a sudden change opens) thresholds: 10 points for %, 50 % (and >= 5) for counts
    ("online_dossiers_l34_pct", [25, 30, 34.9], None),
    ("online_dossiers_l34_pct", [25, 25, 36], 3),
    ("online_dossiers_l34_pct", [60, 60, 45], 3),
    ("online_procedures_l4_count", [69, 69, 30], 3),
    ("online_procedures_l4_count", [2, 4, 6], None),  # doubling a tiny count is not news
    ("online_procedures_l4_count", [0, 0, 16], 3),
]


@pytest.mark.parametrize(("kpi_id", "series", "opens"), SUDDEN)
def test_sudden_change(kpis: dict[str, Kpi], kpi_id: str, series: list[float], opens: int | None) -> None:
    kpi = kpis[kpi_id].model_copy(update={"target": None})  # only the change rule here
    got = run(kpi, series)
    opened = [i + 1 for i, alerts in enumerate(got) if ("sudden_change", "opened") in alerts]
    assert opened == ([opens] if opens else [])


def test_sudden_change_updates_then_resolves(kpis: dict[str, Kpi]) -> None:
    kpi = kpis["online_dossiers_l34_pct"].model_copy(update={"target": None})
    got = run(kpi, [25, 50, 20, 21])
    assert got == [
        [],
        [("sudden_change", "opened")],
        [("sudden_change", "updated")],
        [("sudden_change", "resolved")],
    ]


def test_a_fall_is_a_warning_a_rise_is_information(kpis: dict[str, Kpi]) -> None:
    kpi = kpis["online_dossiers_l34_pct"].model_copy(update={"target": None})
    [fall] = evaluate(kpi, [val(kpi.id, 1, 40)], val(kpi.id, 2, 25))
    [rise] = evaluate(kpi, [val(kpi.id, 1, 25)], val(kpi.id, 2, 40))
    assert (fall.severity, rise.severity) == (Severity.WARNING, Severity.INFO)
    assert fall.params["previous"] == 40 and fall.value == 25
    assert "%" in CHANGE_THRESHOLDS and CHANGE_THRESHOLDS["%"].absolute == 10


def test_history_of_other_units_and_a_correction_of_the_same_period_are_ignored(kpis: dict[str, Kpi]) -> None:
    kpi = kpis["dossiers_on_time_pct"]
    history = [val(kpi.id, 1, 99), val(kpi.id, 1, 50, unit="03181"), val(kpi.id, 2, 96)]
    corrected = val(kpi.id, 2, 98.5)  # the February figure re-imported, corrected
    assert evaluate(kpi, history, corrected) == []  # compared with January, not with the wrong February


def test_a_late_report_of_a_past_period_raises_nothing(kpis: dict[str, Kpi]) -> None:
    kpi = kpis["dossiers_on_time_pct"]
    assert evaluate(kpi, [val(kpi.id, 5, 99)], val(kpi.id, 3, 50)) == []


def test_replaying_gives_the_same_event_ids(kpis: dict[str, Kpi]) -> None:
    kpi = kpis["dossiers_on_time_pct"]
    history = [val(kpi.id, 1, 99)]
    first = evaluate(kpi, history, val(kpi.id, 2, 90))
    again = evaluate(kpi, list(reversed(history)), val(kpi.id, 2, 90))
    assert [a.event_id for a in first] == [a.event_id for a in again] and first


def test_messages_render_in_both_languages(kpis: dict[str, Kpi]) -> None:
    kpi = kpis["dossiers_on_time_pct"]
    [alert] = evaluate(kpi, [], val(kpi.id, 7, 96.63), unit_name="Na Sang")
    vi = i18n.t(alert.message_key, "vi", **alert.params)
    en = i18n.t(alert.message_key, "en", **alert.params)
    assert vi == (
        "Na Sang: Hồ sơ thủ tục hành chính giải quyết đúng hạn, trước hạn đạt 96,63 %, "
        "chưa đạt chỉ tiêu 98 % (kỳ 07/2025)"
    )
    assert en.startswith("Na Sang: ") and "short of the target 98 %" in en
    for key in [k for k in i18n.catalog() if k.startswith("alert.kpi.")]:
        vi_t, en_t = i18n.catalog()[key]
        assert vi_t != en_t


# --- missing reports --------------------------------------------------------------------------------------


UNITS = {"03172": "Na Sang", "03181": "Mường Tùng"}


def test_missing_report_after_the_grace_period(kpis: dict[str, Kpi]) -> None:
    monthly = [kpis["dossiers_on_time_pct"], kpis["households_online_pct"]]  # the yearly one is not checked
    latest = {
        ("dossiers_on_time_pct", "03172"): month(2025, 7),
        ("dossiers_on_time_pct", "03181"): month(2025, 6),
    }
    # 10 August (local): July's deadline (31 July + 10 days) has not passed; 03181 did report June.
    assert missing_reports(monthly, UNITS, latest, datetime(2025, 8, 10, 12, tzinfo=UTC)) == []
    # 11 August, 00:00 local: July is due. 03181 last reported June.
    now = datetime(2025, 8, 10, 17, 30, tzinfo=UTC)
    [alert] = missing_reports(monthly, UNITS, latest, now)
    assert alert.alert_key == alert_key("dossiers_on_time_pct", "03181", "missing_report")
    assert alert.transition is AlertTransition.OPENED
    assert alert.opened_at == alert.at == datetime(2025, 8, 10, 17, tzinfo=UTC)
    assert alert.params["period"] == "07/2025" and alert.params["months"] == 1
    assert alert.severity is Severity.WARNING
    assert i18n.t(alert.message_key, "vi", **alert.params) == (
        "Mường Tùng: chưa báo cáo Hồ sơ thủ tục hành chính giải quyết đúng hạn, trước hạn tháng 07/2025 "
        "(hạn 11/08/2025, thiếu 1 kỳ)"
    )
    # Asking again later the same month gives the same event (idempotent), not a second alert.
    [again] = missing_reports(monthly, UNITS, latest, now + timedelta(days=5))
    assert again.event_id == alert.event_id


def test_never_reported_and_several_months_missing(kpis: dict[str, Kpi]) -> None:
    kpi = kpis["dossiers_on_time_pct"]
    latest = {("dossiers_on_time_pct", "03172"): month(2025, 3)}
    alerts = missing_reports([kpi], UNITS, latest, datetime(2025, 9, 1, tzinfo=UTC), grace_days=5)
    by_unit = {a.area_code: a for a in alerts}
    assert by_unit["03172"].params["months"] == 4  # April to July; August is due on 6 September
    assert by_unit["03172"].severity is Severity.MAJOR
    assert by_unit["03181"].params["months"] == 1  # never reported: at least the month due


def test_a_report_that_arrived_resolves_the_open_alert(kpis: dict[str, Kpi]) -> None:
    kpi = kpis["dossiers_on_time_pct"]
    key = alert_key(kpi.id, "03172", "missing_report")
    opened = datetime(2025, 8, 10, 17, tzinfo=UTC)
    now = datetime(2025, 8, 20, tzinfo=UTC)
    latest = {(kpi.id, "03172"): month(2025, 7), (kpi.id, "03181"): month(2025, 7)}
    [resolved] = missing_reports([kpi], UNITS, latest, now, open_alerts={key: opened})
    assert (resolved.alert_key, resolved.transition, resolved.opened_at) == (
        key,
        AlertTransition.RESOLVED,
        opened,
    )
    assert missing_reports([kpi], UNITS, latest, now) == []


# --- missing reports through the alert processor (what both runtimes tick) ----------------------------------


def _processor(kpis: dict[str, Kpi], required_from: str | None = None):  # type: ignore[no-untyped-def]
    from analytics.alerts import AlertProcessor, AlertSetup

    setup = AlertSetup(kpis={"dossiers_on_time_pct": kpis["dossiers_on_time_pct"],
                             "villages_2g_pct": kpis["villages_2g_pct"]},  # yearly: never "missing"
                       unit_names=UNITS, reporting_units=tuple(UNITS), kpi_grace_days=10,
                       kpi_reports_from=required_from)
    return AlertProcessor(setup)


def _keys(events) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    return [(e.area_code, e.transition.value, e.severity.value) for e in events]


def test_processor_watches_a_unit_that_stops_reporting_and_raises_once(kpis: dict[str, Kpi]) -> None:
    proc = _processor(kpis)
    proc.handle(val("dossiers_on_time_pct", 5, 99.0, unit="03172"))
    proc.handle(val("dossiers_on_time_pct", 6, 99.0, unit="03172"))
    # 03181 never reported and nothing requires it yet: not watched. 03172's July is due on 11 August.
    assert proc.tick(datetime(2025, 8, 10, 16, tzinfo=UTC)) == []
    first = proc.tick(datetime(2025, 8, 10, 17, 30, tzinfo=UTC))
    assert _keys(first) == [("03172", "opened", "warning")]
    assert proc.tick(datetime(2025, 8, 12, tzinfo=UTC)) == []  # once
    # August is missing too: the same alert escalates, it does not open a second one.
    [esc] = proc.tick(datetime(2025, 9, 11, tzinfo=UTC))
    assert (esc.transition, esc.severity, esc.opened_at) == (AlertTransition.ESCALATED, Severity.MAJOR,
                                                             first[0].opened_at)
    assert esc.alert_id == first[0].alert_id
    # The state survives a restart (a Faust table, the embedded snapshot): nothing is raised twice.
    proc = type(proc).from_state(proc.setup, proc.state())
    assert proc.tick(datetime(2025, 9, 12, tzinfo=UTC)) == []
    # The unit catches up: July and August arrive; the alert resolves once.
    proc.handle(val("dossiers_on_time_pct", 7, 98.0, unit="03172"))
    proc.handle(val("dossiers_on_time_pct", 8, 98.5, unit="03172"))
    [resolved] = proc.tick(datetime(2025, 9, 13, tzinfo=UTC))
    assert (resolved.transition, resolved.opened_at) == (AlertTransition.RESOLVED, first[0].opened_at)
    assert proc.tick(datetime(2025, 9, 14, tzinfo=UTC)) == []


def test_processor_requires_every_unit_from_the_configured_month(kpis: dict[str, Kpi]) -> None:
    proc = _processor(kpis, required_from="2025-07")
    assert proc.tick(datetime(2025, 8, 1, tzinfo=UTC)) == []  # July is not due before 11 August
    opened = proc.tick(datetime(2025, 8, 11, tzinfo=UTC))
    assert sorted(_keys(opened)) == [("03172", "opened", "warning"), ("03181", "opened", "warning")]
    assert all(e.params["months"] == 1 for e in opened)
    # A Faust worker ticks one unit's state at a time; a station's or camera's state checks no unit.
    one = _processor(kpis, required_from="2025-07")
    assert _keys(one.tick(datetime(2025, 8, 11, tzinfo=UTC), units=["03181"])) == [("03181", "opened", "warning")]
    assert one.tick(datetime(2025, 8, 11, tzinfo=UTC), units=["ns-01"]) == []
    assert one.tick(datetime(2025, 8, 11, tzinfo=UTC), units=[]) == []
