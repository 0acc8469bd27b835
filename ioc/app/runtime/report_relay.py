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
from zoneinfo import ZoneInfo

import orjson
import psycopg

from analytics.kpi import month_start
from analytics.report_kpis import KPI_IDS, ReportOutcome, monthly_kpis
from ioc.config.models import SiteConfig
from ioc.events import KpiValue, ReportStatus, utcnow
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


class ReportKpis:
    """The reports' KPIs of the last and the current month, computed from the reports every ``every_s`` and sent as
    KPI values, as ``ioc reports kpis`` sends them by hand: the leaders' panels follow without a cron job.

    Run by the same hosts as the relay (the embedded runtime's tick, the Faust ``alerts`` leader). The current
    month's figures are so far; a figure computed again unchanged keeps its event id, so the writer writes
    nothing, and a changed one replaces the month's value (``analytics.report_kpis``).
    """

    def __init__(self, database_url: str, site: SiteConfig, publish: Callable[[KpiValue], Awaitable[None]],
                 every_s: float = 3600.0) -> None:
        self.database_url = database_url
        self.site = site
        self.publish = publish
        self.every_s = every_s
        self._ran_at: float | None = None
        self._targets = {k.id: k.target for k in site.kpis if k.id in KPI_IDS}

    async def run_once(self, now: datetime | None = None) -> int:
        """Send the two months' figures when a pass is due; return how many were sent."""
        if self.site.reports is None or not self._targets:
            return 0
        if self._ran_at is not None and time.monotonic() - self._ran_at < self.every_s:
            return 0
        values = await asyncio.to_thread(self._compute, now or utcnow())
        for value in values:
            await self.publish(value)
        self._ran_at = time.monotonic()
        return len(values)

    def _compute(self, now: datetime) -> list[KpiValue]:
        zone = ZoneInfo(self.site.site.timezone)
        local = now.astimezone(zone)
        out: list[KpiValue] = []
        with psycopg.connect(self.database_url) as conn:
            for year, month in ((local.year, local.month - 1), (local.year, local.month)):
                start, end = month_start(year, month, zone), month_start(year, month + 1, zone)
                rows = reports.outcomes(conn, start, end)
                out += monthly_kpis([ReportOutcome(*row) for row in rows], start, end, self._targets)
        return out
