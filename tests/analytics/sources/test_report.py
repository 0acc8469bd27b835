"""The citizens' reports' deadline alerts: due soon opens, overdue escalates, resolving or rejecting the report
resolves the alert, replayed steps change nothing, the alert's area is the answering unit's, and the duty roster
reaches that unit's reports officer, then the deputy and the leader."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics.alerts import AlertProcessor, AlertSetup
from analytics.binding import alert_setup
from ioc import i18n
from ioc.config import load_site
from ioc.config.models import ReportDeadlineAlerts
from ioc.events import AlertEvent, AlertTransition, ReportStatus, Severity, decode
from ioc.notify.planner import AlertState, Planner

SAMPLE = Path(__file__).resolve().parents[3] / "configs" / "muong-cha"
# Friday 2026-11-27 23:59:59 in Vietnam: the deadline of a report received on Wednesday 25 with 2 working days.
DEADLINE = datetime(2026, 11, 27, 16, 59, 59, tzinfo=UTC)
CODE = "PA-ABCDE-12345"
OPENED, ESCALATED, RESOLVED = AlertTransition.OPENED, AlertTransition.ESCALATED, AlertTransition.RESOLVED


@pytest.fixture(scope="module")
def setup() -> AlertSetup:
    return alert_setup(load_site(SAMPLE), None)


def status(step: int, state: str = "received", unit: str = "ubnd-na-sang", code: str = CODE) -> ReportStatus:
    return ReportStatus.create(code, step, status=state, category="flooding_landslide", commune_code="03172",
                               unit_id=unit, deadline=DEADLINE, at=DEADLINE - timedelta(days=2))


def brief(alerts: list[AlertEvent]) -> list[tuple[str, AlertTransition, Severity, str | None, str]]:
    return [(a.alert_key, a.transition, a.severity, a.area_code, a.message_key) for a in alerts]


def test_configured_from_reports_yaml(setup: AlertSetup) -> None:
    assert setup.report_alerts == ReportDeadlineAlerts(due_soon_h=24, due_soon_severity=Severity.WARNING,
                                                        overdue_severity=Severity.MAJOR)
    assert setup.report_unit_areas["cong-an-tinh"] == "11"
    assert setup.report_categories["flooding_landslide"] == "Ngập lụt, sạt lở"


def test_due_soon_opens_overdue_escalates_resolve_resolves(setup: AlertSetup) -> None:
    proc = AlertProcessor(setup)
    assert proc.handle(status(1)) == []
    assert proc.tick(DEADLINE - timedelta(hours=24, seconds=1)) == []
    due = proc.tick(DEADLINE - timedelta(hours=24))
    key = f"report:{CODE}:deadline"
    assert brief(due) == [(key, OPENED, Severity.WARNING, "03172", "alert.report.due_soon")]
    assert due[0].params["deadline"] == "23:59 27/11/2026"  # local time
    assert proc.tick(DEADLINE - timedelta(hours=1)) == []  # nothing new until the deadline passes
    assert proc.tick(DEADLINE) == []
    late = proc.tick(DEADLINE + timedelta(seconds=1))
    assert brief(late) == [(key, ESCALATED, Severity.MAJOR, "03172", "alert.report.overdue")]
    assert late[0].opened_at == due[0].opened_at
    assert proc.tick(DEADLINE + timedelta(days=1)) == []
    assert proc.handle(status(2, "assigned")) == []  # still open: nothing changes
    done = proc.handle(status(3, "resolved"))
    assert brief(done) == [(key, RESOLVED, Severity.MAJOR, "03172", "alert.report.resolved")]
    assert done[0].opened_at == due[0].opened_at
    assert proc.tick(DEADLINE + timedelta(days=2)) == []
    assert proc.state()["reports_open"] == {}


def test_state_survives_a_restart_and_replayed_steps_change_nothing(setup: AlertSetup) -> None:
    proc = AlertProcessor(setup)
    proc.handle(status(1))
    proc.tick(DEADLINE - timedelta(hours=2))
    again = AlertProcessor.from_state(setup, proc.state())
    assert again.handle(status(1)) == []  # the relay's resync sends the same step again
    assert again.tick(DEADLINE - timedelta(hours=1)) == []  # no second opening
    assert [a.transition for a in again.tick(DEADLINE + timedelta(minutes=1))] == [ESCALATED]
    assert again.handle(status(2, "assigned")) == []
    assert again.handle(status(1, "resolved")) == []  # an older step after a newer one: ignored
    assert [a.transition for a in again.handle(status(4, "rejected"))] == [RESOLVED]


def test_a_closed_report_never_alerts_and_a_quiet_one_leaves_quietly(setup: AlertSetup) -> None:
    proc = AlertProcessor(setup)
    proc.handle(status(1, code="PA-00000-00001"))
    assert proc.handle(status(2, "rejected", code="PA-00000-00001")) == []  # closed before it was due
    proc.handle(status(3, "resolved", code="PA-00000-00002"))  # first seen closed
    assert proc.tick(DEADLINE + timedelta(days=3)) == []


def test_the_alert_goes_to_the_answering_units_area(setup: AlertSetup) -> None:
    proc = AlertProcessor(setup)
    proc.handle(status(1, unit="cong-an-tinh"))
    [opened] = proc.tick(DEADLINE + timedelta(seconds=1))  # first seen overdue: opens at the overdue severity
    assert (opened.transition, opened.severity, opened.area_code) == (OPENED, Severity.MAJOR, "11")
    proc.handle(status(2, "assigned", unit="ubnd-na-sang"))  # moved back to the commune
    [resolved] = proc.handle(status(3, "resolved", unit="ubnd-na-sang"))
    assert resolved.area_code == "03172"


def test_without_reports_nothing_alerts(setup: AlertSetup) -> None:
    from dataclasses import replace

    proc = AlertProcessor(replace(setup, report_alerts=None))
    proc.handle(status(1))
    assert proc.tick(DEADLINE + timedelta(days=1)) == []


def test_the_event_travels_and_the_messages_read_in_both_languages(setup: AlertSetup) -> None:
    event = status(7, "in_progress")
    assert decode(event.to_bytes()) == event and event.key() == "03172"
    assert status(7).event_id == status(7).event_id != status(8).event_id
    proc = AlertProcessor(setup)
    proc.handle(event)
    [alert] = proc.tick(DEADLINE + timedelta(seconds=1))
    vi = i18n.t(alert.message_key, "vi", **alert.params)
    en = i18n.t(alert.message_key, "en", **alert.params)
    assert vi == f"Phản ánh {CODE} (Ngập lụt, sạt lở) đã quá hạn xử lý: 23:59 27/11/2026"
    assert en == f"Report {CODE} (Ngập lụt, sạt lở) is overdue: 23:59 27/11/2026"


def test_duty_roster_reaches_the_units_officer_then_the_deputy_then_the_leader(setup: AlertSetup) -> None:
    proc2 = AlertProcessor(setup)
    proc2.handle(status(1))
    office = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # 09:00 Friday in Vietnam
    [alert] = proc2.tick(office)
    [late] = proc2.tick(DEADLINE + timedelta(seconds=1))
    planner = Planner.from_site(load_site(SAMPLE))
    state = AlertState(alert_id=alert.alert_id, alert_key=alert.alert_key, status="open", severity=late.severity,
                       source_kind=alert.source_kind, area_code=alert.area_code, opened_at=office)
    due = planner.due(state, office + timedelta(minutes=61))
    assert [(p.officer_id, p.step) for p in due if not p.suffix] == [
        ("lo-thi-mai", 0), ("quang-van-son", 1), ("tran-thu-ha", 2)]
