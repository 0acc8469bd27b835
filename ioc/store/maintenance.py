"""The writer's maintenance loop: late rollups refreshed, policies the scheduler fails run in the foreground.

Both runtimes run it beside the writer (the embedded platform as a task, the Faust ``writer`` worker as a
timer on its leader). Every ``interval_s`` it refreshes the rollup buckets late batches noted
(``rollup_backlog``, see migration 0012) and, on TimescaleDB, runs each policy
:func:`ioc.store.jobs.foreground_due` picks, one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime

from ioc.errors import MaintenanceError, SinkUnavailable
from ioc.events import utcnow
from ioc.store.jobs import foreground_due
from ioc.store.writer import Writer

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 30.0


@dataclass
class MaintenanceReport:
    """What one maintenance pass did."""

    late_ranges: int = 0
    jobs_run: list[int] = field(default_factory=list)
    jobs_failed: list[int] = field(default_factory=list)


class Maintenance:
    """Passes over the writer's database: late rollups first, then the policies the scheduler fails."""

    def __init__(self, writer: Writer) -> None:
        self._writer = writer
        self._ran: dict[int, datetime] = {}  # job id -> when this process last ran it in the foreground

    async def run_once(self, now: datetime | None = None) -> MaintenanceReport:
        """Do one pass; raise ``SinkUnavailable`` when the database is down (the next pass tries again)."""
        report = MaintenanceReport()
        try:
            report.late_ranges = await self._writer.refresh_late_rollups()
        except MaintenanceError as exc:
            logger.error("maintenance: %s", exc)
        status = await self._writer.status()
        now = now or utcnow()
        for job in foreground_due(status.jobs, now, self._ran):
            why = "failing" if job.failing(now) else "overdue"
            self._ran[job.job_id] = now
            started = asyncio.get_running_loop().time()
            try:
                await self._writer.run_job(job.job_id)
            except MaintenanceError as exc:
                logger.error("maintenance: %s %s (job %d) %s in the background and in the foreground: %s",
                             job.proc_name, job.target, job.job_id, why, exc)
                report.jobs_failed.append(job.job_id)
                continue
            logger.info("maintenance: ran %s %s (job %d) in the foreground, %s in the background (%s); "
                        "%.2f s",
                        job.proc_name, job.target, job.job_id, why, job.last_error or job.last_run_status,
                        asyncio.get_running_loop().time() - started)
            report.jobs_run.append(job.job_id)
        return report

    async def run(self, interval_s: float, stop: asyncio.Event) -> None:
        """Run a pass every ``interval_s`` until ``stop`` is set; an outage is logged and waited out."""
        while not stop.is_set():
            await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)

    async def tick(self) -> MaintenanceReport | None:
        """Do one pass and log, never raise, an outage: the loop and the Faust timer call this."""
        try:
            return await self.run_once()
        except SinkUnavailable as exc:
            logger.warning("maintenance: %s; trying again next pass", exc)
            return None
