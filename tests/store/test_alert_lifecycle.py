"""The alert lifecycle against the real PostgreSQL: acknowledge by id or short code, once; assign, note, resolve by
hand; the writer's later transitions keep the acknowledgement; the audit trail has every step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from analytics.flood import AlarmRules, StationState, evaluate
from ioc.events import AlertEvent, SensorReading
from ioc.store import alerts as lifecycle
from ioc.store.alerts import Outcome
from ioc.store.writer import Writer

pytestmark = pytest.mark.services
T0 = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
RULES = AlarmRules("NS-01", "Nậm Mức", (2.0, 3.0, 4.0), 0.2, "03172")


def flood(levels: list[float]) -> list[AlertEvent]:
    state, out = StationState(), []
    for i, level in enumerate(levels):
        r = SensorReading.create("NS-01", T0 + timedelta(minutes=i), {"water_level_m": level}, source="test")
        state, events = evaluate(RULES, state, r)
        out += events
    return out


@pytest.fixture
def conn(pg_dsn: str):  # type: ignore[no-untyped-def]
    with psycopg.connect(pg_dsn, autocommit=True) as c:
        c.execute("TRUNCATE alerts, alert_events, audit_log, alert_notes")
        yield c


async def test_acknowledge_by_short_code_once_and_the_writer_keeps_it(conn, pg_dsn: str) -> None:  # type: ignore[no-untyped-def]
    events = flood([1.0, 2.5, 3.5, 4.2, 3.0, 1.0])
    writer = await Writer.open(pg_dsn)
    try:
        await writer.write(events[:1])  # opened
        alert_id = events[0].alert_id
        code = lifecycle.short_code(alert_id)
        assert len(code) == 6 and code == str(alert_id).replace("-", "")[:6].upper()

        first = lifecycle.acknowledge(conn, f" {code.lower()} ", by="nguyen-van-hung", via="sms", note="Đang tới")
        assert (first.outcome, first.alert_id, first.acknowledged_by) == (Outcome.DONE, alert_id, "nguyen-van-hung")
        again = lifecycle.acknowledge(conn, str(alert_id), by="lo-thi-mai", via="wall")
        assert (again.outcome, again.acknowledged_by) == (Outcome.ALREADY, "nguyen-van-hung")

        await writer.write(events[1:3])  # escalations: still acknowledged, severity follows
        assert conn.execute("SELECT status, severity, acknowledged_via FROM alerts").fetchone() == (
            "acknowledged", events[2].severity.value, "sms")
        assert lifecycle.assign(conn, alert_id, assignee="vang-a-chua", by="admin") is Outcome.DONE
        assert lifecycle.assign(conn, alert_id, assignee="vang-a-chua", by="admin") is Outcome.ALREADY
        assert lifecycle.add_note(conn, alert_id, text="Đã sơ tán 3 hộ", by="vang-a-chua") is Outcome.DONE
        with pytest.raises(ValueError):
            lifecycle.add_note(conn, alert_id, text="  ", by="vang-a-chua")
        await writer.write(events[3:])  # the water falls: resolved by the condition
    finally:
        await writer.close()
    assert lifecycle.acknowledge(conn, code, by="x", via="sms").outcome is Outcome.UNKNOWN  # codes are for live alerts
    assert lifecycle.acknowledge(conn, str(alert_id), by="x", via="wall").outcome is Outcome.RESOLVED
    steps = [(r["kind"], r["action"], r["username"]) for r in lifecycle.trail(conn, alert_id)]
    assert ("action", "alert.acknowledge", "nguyen-van-hung") in steps
    assert ("note", "note", "nguyen-van-hung") in steps and ("note", "note", "vang-a-chua") in steps
    assert ("action", "alert.assign", "admin") in steps
    assert [a for k, a, _ in steps if k == "transition"] == ["opened", "escalated", "escalated", "updated", "resolved"]


async def test_bad_references_and_manual_resolve(conn, pg_dsn: str) -> None:  # type: ignore[no-untyped-def]
    events = flood([2.5])
    writer = await Writer.open(pg_dsn)
    try:
        await writer.write(events)
    finally:
        await writer.close()
    for ref in ("", "OK", "12345", "GGGGGG", "not-a-uuid-at-all"):
        assert lifecycle.acknowledge(conn, ref, by="x", via="sms").outcome is Outcome.UNKNOWN, ref
    with pytest.raises(ValueError):
        lifecycle.acknowledge(conn, events[0].alert_id, by="x", via="pigeon")  # type: ignore[arg-type]
    assert lifecycle.resolve(conn, events[0].alert_id, by="admin", note="Cảm biến hỏng") is Outcome.DONE
    assert lifecycle.resolve(conn, events[0].alert_id, by="admin") is Outcome.ALREADY
    assert conn.execute("SELECT status, resolved_by FROM alerts").fetchone() == ("resolved", "admin")
    assert conn.execute("SELECT count(*) FROM audit_log WHERE action = 'alert.resolve'").fetchone() == (1,)
