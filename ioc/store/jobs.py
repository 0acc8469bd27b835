"""TimescaleDB's background jobs as the project sees them: their state, which need help, and one summary.

``timescaledb_information.jobs`` and ``job_stats`` say when each policy last ran, whether it worked, how
often it failed and when it starts next. On Debian's PostgreSQL 15.20 with TimescaleDB 2.25.2 every background
run is recorded as failed (``cannot drop portal "" while it is being set up``, SQLSTATE 24000) and the
scheduler backs off, so the 1-minute rollup falls minutes behind. The rule for stepping in
(:func:`foreground_due`):

- a policy (a job bound to a hypertable or continuous aggregate; not telemetry) whose last run failed and that
  has not succeeded within two schedule intervals (or never), or
- one whose next start is more than two schedule intervals late,

is run in the foreground by the writer's maintenance loop (``CALL run_job``), at most once per schedule
interval. A foreground run does not change ``job_stats``, so the scheduler's failures stay visible in
``ioc db status``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import class_row

from ioc.errors import SinkUnavailable

logger = logging.getLogger(__name__)

# '-infinity' (never) does not fit a Python datetime: read it as NULL.
JOBS_SQL = """
SELECT j.job_id, j.proc_name, coalesce(j.hypertable_name, '') AS target, j.schedule_interval, j.scheduled,
       CASE WHEN isfinite(s.last_run_started_at) THEN s.last_run_started_at END AS last_run_started_at,
       CASE WHEN isfinite(s.last_successful_finish) THEN s.last_successful_finish END
           AS last_successful_finish,
       s.last_run_status, coalesce(s.total_runs, 0) AS total_runs,
       coalesce(s.total_failures, 0) AS total_failures,
       CASE WHEN isfinite(s.next_start) THEN s.next_start END AS next_start,
       (SELECT e.err_message FROM timescaledb_information.job_errors e
         WHERE e.job_id = j.job_id ORDER BY e.start_time DESC LIMIT 1) AS last_error
  FROM timescaledb_information.jobs j
  LEFT JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id
 ORDER BY j.job_id
"""
FLAVOR_SQL = "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"
# Jobs TimescaleDB runs for itself; the foreground runner leaves them alone.
_OWN_JOBS = frozenset({"policy_telemetry", "policy_job_stat_history_retention"})
LATE_INTERVALS = 2


@dataclass(frozen=True)
class JobState:
    """One background job and its statistics, as ``timescaledb_information`` reports them."""

    job_id: int
    proc_name: str
    target: str
    schedule_interval: timedelta
    scheduled: bool
    last_run_started_at: datetime | None
    last_successful_finish: datetime | None
    last_run_status: str | None
    total_runs: int
    total_failures: int
    next_start: datetime | None
    last_error: str | None

    @property
    def is_policy(self) -> bool:
        """True for the project's policies (refresh, compression, retention), not TimescaleDB's own jobs."""
        return self.proc_name not in _OWN_JOBS and bool(self.target)

    def failing(self, now: datetime) -> bool:
        """True when the last run failed and no run succeeded within two schedule intervals."""
        if self.last_run_status != "Failed":
            return False
        ok = self.last_successful_finish
        return ok is None or now - ok > LATE_INTERVALS * self.schedule_interval

    def overdue(self, now: datetime) -> bool:
        """True when the next start is more than two schedule intervals in the past."""
        return self.next_start is not None and now - self.next_start > LATE_INTERVALS * self.schedule_interval


@dataclass(frozen=True)
class DbStatus:
    """The database's flavour and, on TimescaleDB, its jobs."""

    flavor: str
    jobs: tuple[JobState, ...] = ()

    def failing(self, now: datetime) -> list[JobState]:
        """Return the policies the scheduler is failing (failed repeatedly or overdue)."""
        return [j for j in self.jobs if j.is_policy and j.scheduled and (j.failing(now) or j.overdue(now))]

    def summary(self, now: datetime, *, detail: bool = True) -> dict[str, object]:
        """Return a JSON-ready summary (the health endpoint's ``database`` part; ``detail``: every job)."""
        bad = self.failing(now)
        out: dict[str, object] = {
            "flavor": self.flavor,
            "jobs": len(self.jobs),
            "failing": [j.job_id for j in bad],
            "ok": not bad,
        }
        if detail:
            out["detail"] = [
                {"job_id": j.job_id, "proc": j.proc_name, "target": j.target,
                 "last_run": _iso(j.last_run_started_at), "last_success": _iso(j.last_successful_finish),
                 "status": j.last_run_status, "failures": j.total_failures, "runs": j.total_runs,
                 "next_start": _iso(j.next_start), "last_error": j.last_error}
                for j in self.jobs
            ]
        return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def foreground_due(jobs: Sequence[JobState], now: datetime, ran: Mapping[int, datetime]) -> list[JobState]:
    """Return the policies to run in the foreground now, lowest job id first (rollups before compression).

    ``ran`` maps a job id to when this process last ran it in the foreground; a job is not run again before
    its schedule interval has passed.
    """
    due = []
    for job in sorted(jobs, key=lambda j: j.job_id):
        if not (job.is_policy and job.scheduled and (job.failing(now) or job.overdue(now))):
            continue
        last = ran.get(job.job_id)
        if last is None or now - last >= job.schedule_interval:
            due.append(job)
    return due


def read_status(conn: psycopg.Connection[tuple[object, ...]]) -> DbStatus:
    """Read the flavour and, on TimescaleDB, every job's state over a synchronous connection."""
    try:
        row = conn.execute(FLAVOR_SQL).fetchone()
        if not (row and row[0]):
            return DbStatus("plain")
        with conn.cursor(row_factory=class_row(JobState)) as cur:
            return DbStatus("timescale", tuple(cur.execute(JOBS_SQL).fetchall()))
    except psycopg.OperationalError as exc:
        raise SinkUnavailable(f"PostgreSQL is unreachable: {exc}") from exc


def status_of(dsn: str) -> DbStatus:
    """Connect to ``dsn`` and return its :class:`DbStatus`."""
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            return read_status(conn)
    except psycopg.OperationalError as exc:
        raise SinkUnavailable(f"PostgreSQL is unreachable: {exc}") from exc


# TimescaleDB 2.25 notes the range each refresh of a continuous aggregate is materialising and refuses an
# overlapping one (SQLSTATE 22023) instead of waiting for it: a refresh of ours and the background policy of the
# same aggregate meet so (seen in CI: the dashboard bench's loader against the 1-day policy's 40-day window).
REFRESH_WAIT_S = 120.0


def refresh_busy(exc: BaseException) -> bool:
    """Whether a refresh (or a policy run) was refused only because another refresh holds an overlapping range."""
    return isinstance(exc, psycopg.errors.InvalidParameterValue) and "overlaps with existing range" in str(exc)


def call_refresh(conn: psycopg.Connection[Any], query: str, params: Sequence[object] = (),
                 wait_s: float = REFRESH_WAIT_S) -> None:
    """Run ``CALL refresh_continuous_aggregate(...)`` or ``CALL run_job(...)`` on an autocommit connection,
    waiting out a concurrent refresh of an overlapping range for up to ``wait_s`` (then its error is raised).

    A range left behind by a refresh that failed also refuses every later overlapping one; the error's detail
    says so, and it is raised after the wait like any other.
    """
    deadline = time.monotonic() + wait_s
    pause = 0.2
    while True:
        try:
            conn.execute(query, params)
            return
        except psycopg.errors.InvalidParameterValue as exc:
            if not refresh_busy(exc) or time.monotonic() + pause > deadline:
                raise
            logger.info("a concurrent refresh holds the range; %s again in %.1f s", query.split("(")[0], pause)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)
