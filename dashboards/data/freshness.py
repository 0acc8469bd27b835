"""How current and how healthy the wall's sources are: the live store, the readings, the feed, the database."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from dashboards.data.alerts import AlertReader
from dashboards.data.db import Database
from dashboards.data.stations import RAW_FALLBACK_WINDOW
from ioc.errors import SinkUnavailable
from ioc.events import utcnow
from ioc.store.jobs import DbStatus, read_status
from ioc.store.live import LiveStore

logger = logging.getLogger(__name__)

JOBS_CACHE = timedelta(seconds=30)  # the health endpoint and the admin badge share one read per 30 s
_NEWEST_READING_SQL = "SELECT max(time) FROM sensor_readings WHERE time >= %s"


@dataclass(frozen=True)
class Freshness:
    """How current each source of the wall is, and whether it could be read at all."""

    checked_at: datetime
    database_ok: bool
    live_ok: bool
    live_newest: datetime | None
    readings_newest: datetime | None
    alerts_read_at: datetime | None


class FreshnessReader:
    """The age of the live values, of the newest stored reading and of the alert feed."""

    def __init__(self, db: Database, live: LiveStore, alerts: AlertReader) -> None:
        self._db = db
        self._live = live
        self._alerts = alerts

    def freshness(self) -> Freshness:
        """Report how old each source is; never raises."""
        live_ok, live_newest = True, None
        try:
            stamps = [r.observed_at for r in self._live.latest_readings().values()]
            live_newest = max(stamps, default=None)
        except SinkUnavailable as exc:
            logger.warning("live store unreachable: %s", exc)
            live_ok = False
        database_ok, readings_newest = True, None
        try:
            with self._db.connection() as conn:
                row = conn.execute(_NEWEST_READING_SQL, (utcnow() - RAW_FALLBACK_WINDOW,)).fetchone()
            readings_newest = row[0] if row else None
        except SinkUnavailable as exc:
            logger.warning("database unreachable: %s", exc)
            database_ok = False
        return Freshness(
            checked_at=utcnow(),
            database_ok=database_ok,
            live_ok=live_ok,
            live_newest=live_newest,
            readings_newest=readings_newest,
            alerts_read_at=self._alerts.read_at,
        )


class DatabaseJobs:
    """The database's flavour and TimescaleDB's background jobs, read at most every ``JOBS_CACHE``."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: tuple[datetime, DbStatus] | None = None

    def database_jobs(self) -> DbStatus:
        """Return the database's flavour and jobs; ``SinkUnavailable`` when it is down."""
        now = utcnow()
        cached = self._cache
        if cached is not None and now - cached[0] < JOBS_CACHE:
            return cached[1]
        with self._db.connection() as conn:
            status = read_status(conn)
        self._cache = (now, status)
        return status
