"""The report relay against the real PostgreSQL: the first pass sends every open and recently closed report,
later passes only what changed after the cursor (kept in processor_state, so a new relay goes on from it), and a
resync sends the open ones again but not a report closed long ago."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from analytics.reports import Action, Status, next_status
from ioc.app.runtime.report_relay import ReportRelay
from ioc.events import ReportStatus, utcnow
from ioc.store.reports import NewReport, ReportStore

pytestmark = pytest.mark.services


def new(received_days_ago: float = 0) -> NewReport:
    at = utcnow() - timedelta(days=received_days_ago)
    return NewReport(category="traffic", description="Ổ gà", lon=103.08, lat=21.75, location_source="commune",
                     commune_code="03172", unit_id="ubnd-na-sang", deadline=at + timedelta(days=5),
                     channel="web", created_by="public", received_at=at)


def step(store: ReportStore, code: str, action: Action, days_ago: float = 0) -> None:
    store.step(code, action.value, actor="lo-thi-mai", at=utcnow() - timedelta(days=days_ago),
               decide=lambda s: next_status(Status(s), action).value)


async def test_cursor_and_resync(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE reports, report_events, report_photos, report_sms, processor_state")
    sent: list[ReportStatus] = []

    async def publish(status: ReportStatus) -> None:
        sent.append(status)

    with ConnectionPool(pg_dsn, min_size=1, max_size=2, open=True) as pool:
        store = ReportStore(pool)
        old = store.submit(new(received_days_ago=10)).code
        step(store, old, Action.REJECT, days_ago=9)  # closed long ago: never resent by a resync
        recent = store.submit(new(received_days_ago=1)).code
        step(store, recent, Action.REJECT, days_ago=0.5)
        open_one = store.submit(new()).code

        relay = ReportRelay(pg_dsn, publish, resync_every_s=3600)
        assert await relay.run_once() == 2  # the first pass is a resync
        assert {(s.code, s.status) for s in sent} == {(recent, "rejected"), (open_one, "received")}
        sent.clear()
        assert await relay.run_once() == 0  # nothing new after the cursor

        step(store, open_one, Action.ASSIGN)
        step(store, open_one, Action.PROGRESS)
        assert await relay.run_once() == 1  # one status per report touched, its latest step
        [progress] = sent
        assert (progress.code, progress.status) == (open_one, "in_progress")
        sent.clear()

        again = ReportRelay(pg_dsn, publish, resync_every_s=3600)  # a restart: the cursor is kept
        assert await again.run_once() == 2  # its first pass resyncs the open and recent ones
        assert {s.code for s in sent} == {recent, open_one}
        sent.clear()
        step(store, open_one, Action.RESOLVE)
        assert await again.run_once() == 1 and sent[0].status == "resolved"
