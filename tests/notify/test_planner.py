"""The escalation ladder, reminders, quiet hours and notices, planned from the sample roster."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ioc.config.loader import load_site
from ioc.events import Severity
from ioc.notify.planner import (
    ESCALATED,
    OPENED,
    REMINDER,
    RESOLVED,
    AlertState,
    Planned,
    Planner,
    message_key,
    next_channel_key,
)
from ioc.notify.roster import LOCAL_TZ

SITE = Path(__file__).resolve().parents[2] / "configs" / "muong-cha"
AID = uuid.UUID("3fa2c1d0-0000-4000-8000-000000000001")


def local(day: int, hh: int, mm: int = 0) -> datetime:
    """2026-11-<day> hh:mm in Vietnam (the 23rd is a Monday, the 21st a Saturday)."""
    return datetime(2026, 11, day, hh, mm, tzinfo=LOCAL_TZ)


def alert(
    severity: str,
    opened: datetime,
    *,
    source: str = "flood",
    area: str | None = "03181",
    status: str = "open",
) -> AlertState:
    return AlertState(
        alert_id=AID,
        alert_key=f"{source}:x",
        status=status,
        severity=Severity(severity),
        source_kind=source,
        area_code=area,
        opened_at=opened,
    )


def who(rows: list[Planned]) -> list[tuple[str, int, str, str, datetime]]:
    return [(r.officer_id, r.step, r.kind, r.suffix, r.due_at) for r in rows]


@pytest.fixture(scope="module")
def planner() -> Planner:
    return Planner.from_site(load_site(SITE))


def test_critical_ladder_on_duty_then_deputy_then_leader(planner: Planner) -> None:
    t0 = local(23, 10)
    a = alert("critical", t0)
    assert who(planner.due(a, t0)) == [("nguyen-van-hung", 0, OPENED, "", t0)]
    assert who(planner.due(a, t0 + timedelta(minutes=4, seconds=59))) == [
        ("nguyen-van-hung", 0, OPENED, "", t0)
    ]
    at5 = planner.due(a, t0 + timedelta(minutes=5))
    assert who(at5)[1] == ("quang-van-son", 1, ESCALATED, "", t0 + timedelta(minutes=5))
    assert at5[1].cause == "ladder"
    at15 = who(planner.due(a, t0 + timedelta(minutes=15)))
    assert [w[0] for w in at15] == ["nguyen-van-hung", "quang-van-son", "tran-thu-ha"]
    # reminders go to the current step's people only: step 0's (due at 10) is pre-empted by the deputy at 5
    at25 = who(planner.due(a, t0 + timedelta(minutes=25)))
    assert at25[-1] == ("tran-thu-ha", 2, REMINDER, ":r1", t0 + timedelta(minutes=25))
    assert len(at25) == 4


def test_keys_are_stable_and_name_alert_officer_channel_step(planner: Planner) -> None:
    t0 = local(23, 10)
    rows = planner.due(alert("critical", t0), t0 + timedelta(minutes=25))
    assert [r.key for r in rows] == [
        f"{AID}:nguyen-van-hung:zns-ubnd:0",
        f"{AID}:quang-van-son:zns-ubnd:1",
        f"{AID}:tran-thu-ha:zns-ubnd:2",
        f"{AID}:tran-thu-ha:zns-ubnd:2:r1",
    ]
    assert rows == planner.due(alert("critical", t0), t0 + timedelta(minutes=25))  # same plan, same keys
    assert next_channel_key(rows[3].key, "sms-esms") == f"{AID}:tran-thu-ha:sms-esms:2:r1"
    assert message_key(AID, "a-b", "c", 3) == f"{AID}:a-b:c:3"


def test_reminders_every_ten_minutes_capped_latest_only(planner: Planner) -> None:
    t0 = local(23, 10)
    a = alert("warning", t0)  # warning ladder: on duty at 0, deputy at 30
    assert who(planner.due(a, t0 + timedelta(minutes=9)))[1:] == []
    assert who(planner.due(a, t0 + timedelta(minutes=10)))[1:] == [
        ("nguyen-van-hung", 0, REMINDER, ":r1", t0 + timedelta(minutes=10))
    ]
    # only the latest reminder is planned (a scheduler back from a pause does not fire a burst)
    assert who(planner.due(a, t0 + timedelta(minutes=29)))[1:] == [
        ("nguyen-van-hung", 0, REMINDER, ":r2", t0 + timedelta(minutes=20))
    ]
    at30 = who(planner.due(a, t0 + timedelta(minutes=30)))
    assert at30[1:] == [("quang-van-son", 1, ESCALATED, "", t0 + timedelta(minutes=30))]
    assert who(planner.due(a, t0 + timedelta(minutes=40)))[2:] == [
        ("quang-van-son", 1, REMINDER, ":r1", t0 + timedelta(minutes=40))
    ]
    # at most six per step
    assert who(planner.due(a, t0 + timedelta(minutes=30 + 65)))[2][3] == ":r6"
    assert who(planner.due(a, t0 + timedelta(minutes=30 + 200)))[2][3] == ":r6"


def test_info_alerts_get_no_reminders(planner: Planner) -> None:
    t0 = local(23, 10)
    assert len(planner.due(alert("info", t0), t0 + timedelta(hours=3))) == 1


def test_acknowledged_or_resolved_alerts_plan_nothing_more(planner: Planner) -> None:
    t0 = local(23, 10)
    for status in ("acknowledged", "resolved"):
        assert planner.due(alert("critical", t0, status=status), t0 + timedelta(hours=1)) == []
        assert planner.next_time(alert("critical", t0, status=status), t0) is None


def test_quiet_hours_hold_low_severities_and_start_their_ladder_at_the_end(planner: Planner) -> None:
    t0 = local(23, 23)  # Monday 23:00
    warn = alert("warning", t0)
    assert planner.due(warn, t0 + timedelta(hours=2)) == []
    six = local(24, 6)
    # held until 06:00, to whoever is on duty then (the night shift runs to 07:00)
    assert who(planner.due(warn, six)) == [("vang-a-chua", 0, OPENED, "", six)]
    assert who(planner.due(warn, six + timedelta(minutes=30)))[-1] == (
        "quang-van-son",
        1,
        ESCALATED,
        "",
        six + timedelta(minutes=30),
    )
    assert planner.next_time(warn, t0) == six
    # major and critical are never held
    assert who(planner.due(alert("major", t0), t0)) == [("vang-a-chua", 0, OPENED, "", t0)]


def test_a_held_step_zero_is_planned_when_the_alert_opens(planner: Planner) -> None:
    t0 = local(23, 23)
    assert who(planner.opened(alert("warning", t0), t0)) == [("vang-a-chua", 0, OPENED, "", local(24, 6))]
    assert who(planner.opened(alert("major", t0), t0)) == [("vang-a-chua", 0, OPENED, "", t0)]


def test_reminders_skip_the_quiet_hours(planner: Planner) -> None:
    t0 = local(
        23, 21, 45
    )  # a warning at 21:45: its step 0 goes out, its 22:05 reminder would be in the quiet
    warn = alert("warning", t0)
    assert who(planner.due(warn, t0 + timedelta(minutes=10)))[1:] == [
        ("vang-a-chua", 0, REMINDER, ":r1", t0 + timedelta(minutes=10))
    ]
    assert who(planner.due(warn, t0 + timedelta(minutes=21)))[1:] == [
        ("vang-a-chua", 0, REMINDER, ":r1", t0 + timedelta(minutes=10))
    ]  # r2 (22:05) skipped
    # the deputy step falls at 22:15: held until 06:00
    assert [w[0] for w in who(planner.due(warn, local(24, 5, 59)))] == ["vang-a-chua", "vang-a-chua"]
    assert who(planner.due(warn, local(24, 6)))[1] == ("quang-van-son", 1, ESCALATED, "", local(24, 6))


def test_nobody_on_duty_goes_to_the_deputy_once(planner: Planner) -> None:
    t0 = local(21, 8)  # Saturday: no traffic shift on Na Sang
    a = alert("major", t0, source="traffic", area="03172")
    rows = who(planner.due(a, t0 + timedelta(minutes=15)))
    assert rows == [("quang-van-son", 0, OPENED, "", t0)]  # the deputy step adds nobody new


def test_severity_without_ladder_goes_to_the_on_duty_officer(planner: Planner) -> None:
    planner2 = Planner(planner.roster, {}, planner.delivery)
    t0 = local(23, 10)
    assert who(planner2.due(alert("critical", t0), t0)) == [("nguyen-van-hung", 0, OPENED, "", t0)]


def test_escalated_and_resolved_notices_go_to_those_reached(planner: Planner) -> None:
    t0 = local(23, 10)
    now = t0 + timedelta(minutes=2)
    rows = planner.escalated(alert("critical", t0), {"nguyen-van-hung": 0}, now)
    assert (rows[0].officer_id, rows[0].kind, rows[0].cause, rows[0].suffix, rows[0].due_at) == (
        "nguyen-van-hung",
        ESCALATED,
        "severity",
        ":xcritical",
        now,
    )
    assert [r.key for r in rows[1:]] == [
        f"{AID}:nguyen-van-hung:zns-ubnd:0"
    ]  # the new ladder's step 0 (no-op)
    done = planner.resolved(
        alert("warning", t0, status="resolved"), {"nguyen-van-hung": 0, "quang-van-son": 1}, now
    )
    assert [(r.officer_id, r.step, r.kind, r.key.split(":", 3)[3]) for r in done] == [
        ("nguyen-van-hung", 0, RESOLVED, "0:end"),
        ("quang-van-son", 1, RESOLVED, "1:end"),
    ]
    night = local(23, 23)
    assert planner.resolved(alert("warning", t0, status="resolved"), {"nguyen-van-hung": 0}, night)[
        0
    ].due_at == local(24, 6)
    assert (
        planner.resolved(alert("critical", t0, status="resolved"), {"nguyen-van-hung": 0}, night)[0].due_at
        == night
    )


def test_next_time_is_the_next_step_or_reminder(planner: Planner) -> None:
    t0 = local(23, 10)
    a = alert("critical", t0)
    assert planner.next_time(a, t0) == t0 + timedelta(minutes=5)
    assert planner.next_time(a, t0 + timedelta(minutes=15)) == t0 + timedelta(minutes=25)
