"""The report relay: the citizens' reports' trail (``report_events``) onto the ``ioc.reports`` topic.

The form, the hotline CLI and (later) Zalo write a report's steps to PostgreSQL only, in their own processes; the
relay, run by the embedded runtime before each tick and by the leader of the Faust ``alerts`` worker on a timer,
reads the steps after its cursor (kept in ``processor_state``) and sends one ``ReportStatus`` per report touched.
Identity ids are taken when a row is inserted, not when it commits, so a step of a slow transaction can commit
behind the cursor; every ``resync_every_s`` (and at start) the relay therefore sends the status of every open
report and every report closed in the last ``RESYNC_CLOSED`` too. The deadline alerts ignore a step they already
have, so a status sent twice changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
import psycopg

from ioc.events import ReportStatus, utcnow
from ioc.store import reports

logger = logging.getLogger(__name__)

NAME = "report-relay"
RESYNC_CLOSED = timedelta(days=2)
BATCH = 1000


class ReportRelay:
    """Reads what changed in the reports since the last pass and hands each status to ``publish``."""

    def __init__(self, database_url: str, publish: Callable[[ReportStatus], Awaitable[None]],
                 resync_every_s: float = 300.0) -> None:
        self.database_url = database_url
        self.publish = publish
        self.resync_every_s = resync_every_s
        self._resynced_at: float | None = None

    async def run_once(self) -> int:
        """Send the statuses changed since the cursor (all open ones when a resync is due); return how many."""
        resync = self._resynced_at is None or time.monotonic() - self._resynced_at >= self.resync_every_s
        after, found = await asyncio.to_thread(self._read, resync)
        for status in found:
            await self.publish(status)
        if found:
            await asyncio.to_thread(self._save, max(after, max(s.step_id for s in found)))
        if resync:
            self._resynced_at = time.monotonic()
        return len(found)

    def _read(self, resync: bool) -> tuple[int, list[ReportStatus]]:
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute("SELECT state FROM processor_state WHERE name = %s", (NAME,)).fetchone()
            after = int(row[0].get("after", 0)) if row else 0
            if resync:
                return after, _all(conn, 0, utcnow() - RESYNC_CLOSED)
            return after, _all(conn, after)

    def _save(self, after: int) -> None:
        with psycopg.connect(self.database_url) as conn:
            conn.execute(
                "INSERT INTO processor_state (name, state) VALUES (%s, %s::jsonb) "
                "ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state, updated_at = now()",
                (NAME, orjson.dumps({"after": after}).decode()),
            )


def _all(conn: psycopg.Connection[Any], after: int, closed_since: datetime | None = None) -> list[ReportStatus]:
    """Read every batch after the cursor given."""
    out: list[ReportStatus] = []
    while True:
        batch = reports.statuses(conn, after=after, closed_since=closed_since, limit=BATCH)
        out += batch
        if len(batch) < BATCH:
            return out
        after = batch[-1].step_id
