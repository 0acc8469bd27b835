"""The reports' monthly KPIs by commune: on time among those due in the month, median hours to resolve among
those resolved in the month; rejected reports left out, nothing to judge gives no value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analytics.report_kpis import MEDIAN_HOURS, ON_TIME, ReportOutcome, monthly_kpis, months
from ioc.events import PeriodKind

START = datetime(2026, 10, 31, 17, 0, tzinfo=UTC)  # 1 November 2026, local midnight
END = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
D = START + timedelta(days=10)


def outcome(commune: str, status: str, deadline: datetime, closed_after_h: float | None,
            received: datetime = D - timedelta(days=3)) -> ReportOutcome:
    closed = received + timedelta(hours=closed_after_h) if closed_after_h is not None else None
    return ReportOutcome(commune, received, deadline, status, closed)


def test_on_time_and_median_by_commune() -> None:
    rows = [
        outcome("03172", "resolved", D, 10),  # on time, 10 h
        outcome("03172", "resolved", D, 100),  # late (deadline 72 h after receipt), 100 h
        outcome("03172", "in_progress", D, None),  # due in the month, still open: not on time
        outcome("03172", "rejected", D, 5),  # left out of both
        outcome("03172", "resolved", END + timedelta(days=3), 20),  # due next month, resolved in this one: 20 h
        outcome("03181", "resolved", D, 30),
        outcome("03193", "received", END + timedelta(days=5), None),  # nothing to judge yet
    ]
    got = {(v.kpi_id, v.unit_code): v.value for v in monthly_kpis(rows, START, END, {ON_TIME: 90})}
    assert got == {
        (ON_TIME, "03172"): 33.33, (ON_TIME, "03181"): 100.0,
        (MEDIAN_HOURS, "03172"): 20.0, (MEDIAN_HOURS, "03181"): 30.0,
    }
    values = monthly_kpis(rows, START, END, {ON_TIME: 90})
    on_time = next(v for v in values if v.kpi_id == ON_TIME)
    assert (on_time.period_kind, on_time.period_start, on_time.target, on_time.source) == (
        PeriodKind.MONTH, START, 90, "reports")
    again = monthly_kpis(rows, START, END, {ON_TIME: 90})
    assert [v.event_id for v in again] == [v.event_id for v in values]  # computing again replaces, not adds


def test_months() -> None:
    assert list(months("2026-11")) == [(2026, 11)]
    assert list(months("2026-11", "2027-02")) == [(2026, 11), (2026, 12), (2027, 1), (2027, 2)]


def test_no_missing_report_alert_for_a_figure_nobody_owes() -> None:
    from pathlib import Path

    from analytics.alerts import AlertProcessor
    from analytics.binding import alert_setup
    from ioc.config import load_site
    from ioc.events import KpiValue, stable_id

    setup = alert_setup(load_site(Path(__file__).resolve().parents[2] / "configs" / "muong-cha"), None)
    proc = AlertProcessor(setup)
    for kpi_id in ("dossiers_on_time_pct", ON_TIME):
        proc.handle(KpiValue(event_id=stable_id(kpi_id), kpi_id=kpi_id, unit_code="03172",
                             period_kind=PeriodKind.MONTH, period_start=START, value=95.0, source="test"))
    missing = {a.alert_key.split(":")[1] for a in proc.tick(START + timedelta(days=120), ["03172"])}
    assert "dossiers_on_time_pct" in missing and ON_TIME not in missing and MEDIAN_HOURS not in missing
