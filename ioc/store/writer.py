"""The one writer that owns the database.

It takes batches of events, turns them into rows and writes them with one multi-row ``INSERT ... SELECT FROM
unnest(...)`` per table, idempotent on each row's natural key or event id (a replayed batch writes nothing twice).
It tells the two failures apart: the database being unreachable (``SinkUnavailable``: keep the batch, retry later)
from a row the database refuses (the batch is split until the bad rows are found; they go to the dead-letter table
with the reason, the good rows land).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

import orjson
import psycopg
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ioc.errors import BadRecord, InvalidInput, MaintenanceError, SinkUnavailable
from ioc.events import (
    AlertEvent,
    AlertTransition,
    CameraHealth,
    DeadLetter,
    DetectionSummary,
    Event,
    FeedItem,
    KpiValue,
    LineCrossing,
    SensorReading,
    ZoneOccupancy,
)
from ioc.store.jobs import FLAVOR_SQL, JOBS_SQL, DbStatus, JobState, refresh_busy


class TransitionHook(Protocol):
    """What the writer calls in an applied alert transition's transaction (``ioc.notify.outbox.OutboxPlanner``).

    A protocol, so the store does not import notify (notify imports the store).
    """

    async def on_transition(self, conn: psycopg.AsyncConnection[Any], event: AlertEvent) -> int:
        """Add the rows the transition calls for in ``conn``'s transaction; return how many."""
        ...

logger = logging.getLogger(__name__)

_SCHEMA_ERRORS = (
    psycopg.errors.UndefinedTable, psycopg.errors.UndefinedFunction, psycopg.errors.UndefinedColumn,
    psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction,
)

# The rollups behind a refresh window, lowest level first: 1h is built on 1m, 1d on 1h.
_LATE_ORDER = ("sensor_readings_1m", "sensor_readings_1h", "sensor_readings_1d", "line_counts_1m")

# Readings go in by binary COPY into a temporary staging table of the connection (emptied at each commit), then
# one INSERT ... SELECT, idempotent on the natural key: COPY's rows are formatted in C, where the arrays of an
# INSERT ... unnest were dumped in Python (issue 16: 41.6 -> see docs/BENCHMARKS.md, "The writer").
_READING_COLUMNS = "time, station_id, metric, value, event_id, received_at, source"
_STAGE_SQL = """
CREATE TEMP TABLE IF NOT EXISTS stage_sensor_readings (
    time timestamptz, station_id text, metric text, value float8, event_id uuid, received_at timestamptz, source text
) ON COMMIT DELETE ROWS
"""
_STAGE_COPY_SQL = f"COPY stage_sensor_readings ({_READING_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_STAGE_TYPES = ["timestamptz", "text", "text", "float8", "uuid", "timestamptz", "text"]
_READINGS_SQL = f"""
INSERT INTO sensor_readings ({_READING_COLUMNS})
SELECT {_READING_COLUMNS} FROM stage_sensor_readings
ON CONFLICT DO NOTHING
"""
_DEAD_SQL = """
INSERT INTO dead_letters (event_id, received_at, source, reason, detail, payload)
SELECT * FROM unnest(%s::uuid[], %s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::text[])
ON CONFLICT DO NOTHING
"""
_CROSSINGS_SQL = """
INSERT INTO line_crossings (crossed_at, camera_id, line_id, track_id, object_class, direction, event_id)
SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::int8[], %s::text[], %s::text[], %s::uuid[])
ON CONFLICT DO NOTHING
"""
_SUMMARIES_SQL = """
INSERT INTO detection_summaries (window_end, camera_id, window_start, frames_analysed, counts, snapshot, event_id)
SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::timestamptz[], %s::int4[], %s::jsonb[], %s::text[],
                     %s::uuid[])
ON CONFLICT DO NOTHING
"""
_OCCUPANCY_SQL = """
INSERT INTO zone_occupancy (at, camera_id, zone_id, counts, total, density_per_m2, max_dwell_s, event_id,
                            congestion)
SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::jsonb[], %s::int4[], %s::float8[],
                     %s::float8[], %s::uuid[], %s::text[])
ON CONFLICT DO NOTHING
"""
_HEALTH_SQL = """
INSERT INTO camera_health (at, camera_id, status, detail, snapshot, event_id)
SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::text[], %s::uuid[])
ON CONFLICT DO NOTHING
"""
_KPI_SQL = """
INSERT INTO kpi_values AS k (kpi_id, unit_code, period_kind, period_start, value, target, source, event_id)
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::float8[], %s::float8[], %s::text[],
                     %s::uuid[])
ON CONFLICT (kpi_id, unit_code, period_kind, period_start) DO UPDATE
   SET value = EXCLUDED.value, target = EXCLUDED.target, source = EXCLUDED.source, event_id = EXCLUDED.event_id,
       updated_at = now()
 WHERE k.event_id IS DISTINCT FROM EXCLUDED.event_id
"""
_FEED_ITEMS_SQL = """
INSERT INTO feed_items (event_id, feed_id, guid, url, title, summary, published_at, fetched_at, matches, units,
                        topics, simulated)
SELECT event_id, feed_id, guid, url, title, summary, published_at, fetched_at, matches,
       string_to_array(units, ' '), string_to_array(topics, ' '), simulated
  FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[],
              %s::timestamptz[], %s::jsonb[], %s::text[], %s::text[], %s::bool[])
       AS t(event_id, feed_id, guid, url, title, summary, published_at, fetched_at, matches, units, topics, simulated)
ON CONFLICT DO NOTHING
"""
_ALERT_EVENT_SQL = """
INSERT INTO alert_events (event_id, alert_id, alert_key, transition, severity, at, value, params)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb)
ON CONFLICT DO NOTHING RETURNING event_id
"""
_ALERT_SUPERSEDE_SQL = """
UPDATE alerts SET status = 'resolved', resolved_at = %s, updated_at = %s
 WHERE alert_key = %s AND status <> 'resolved' AND alert_id <> %s AND opened_at <= %s
"""
_ALERT_OPEN_SQL = """
INSERT INTO alerts (alert_id, alert_key, status, severity, source_kind, source_id, area_code, message_key, params,
                    value, opened_at, updated_at)
VALUES (%s, %s, 'open', %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s)
ON CONFLICT DO NOTHING
"""
_ALERT_CHANGE_SQL = """
UPDATE alerts SET severity = %s, message_key = %s, params = %s::jsonb, value = %s, updated_at = %s
 WHERE alert_id = %s AND status <> 'resolved' AND updated_at <= %s
"""
_ALERT_RESOLVE_SQL = """
UPDATE alerts SET status = 'resolved', resolved_at = %s, updated_at = %s, value = %s, message_key = %s,
                  params = %s::jsonb
 WHERE alert_id = %s AND status <> 'resolved'
"""


@dataclass
class WriteReport:
    """What one ``write`` call did."""

    readings: int = 0
    rows: int = 0
    alerts: int = 0
    dead_letters: int = 0
    camera: int = 0
    rejected: list[DeadLetter] = field(default_factory=list)
    span: tuple[datetime, datetime] | None = None


def reading_rows(readings: Sequence[SensorReading]) -> tuple[list[object], ...]:
    """Turn readings into the column arrays of ``sensor_readings`` (one row per metric)."""
    cols: tuple[list[object], ...] = ([], [], [], [], [], [], [])
    for r in readings:
        for metric, value in r.values.items():
            cols[0].append(r.observed_at)
            cols[1].append(r.station_id)
            cols[2].append(metric)
            cols[3].append(value)
            cols[4].append(r.event_id)
            cols[5].append(r.received_at)
            cols[6].append(r.source)
    return cols


def dead_rows(dead: Sequence[DeadLetter]) -> tuple[list[object], ...]:
    """Turn dead letters into the column arrays of ``dead_letters``."""
    cols: tuple[list[object], ...] = ([], [], [], [], [], [])
    for d in dead:
        cols[0].append(d.event_id)
        cols[1].append(d.received_at)
        cols[2].append(d.source)
        cols[3].append(d.reason)
        cols[4].append(d.detail)
        cols[5].append(d.payload.replace("\x00", "\ufffd"))  # PostgreSQL text cannot hold NUL
    return cols


def _columns(rows: Sequence[tuple[object, ...]], width: int) -> tuple[list[object], ...]:
    cols: tuple[list[object], ...] = tuple([] for _ in range(width))
    for row in rows:
        for col, value in zip(cols, row, strict=True):
            col.append(value)
    return cols


def camera_rows(events: Sequence[Event]) -> dict[str, tuple[list[object], ...]]:
    """Turn camera events, KPI values and feed items into the column arrays of their tables, keyed by table."""
    crossings = [(e.crossed_at, e.camera_id, e.line_id, e.track_id, e.object_class, e.direction.value, e.event_id)
                 for e in events if isinstance(e, LineCrossing)]
    summaries = [(e.window_end, e.camera_id, e.window_start, e.frames_analysed, orjson.dumps(e.counts).decode(),
                  e.snapshot, e.event_id) for e in events if isinstance(e, DetectionSummary)]
    occupancy = [(e.at, e.camera_id, e.zone_id, orjson.dumps(e.counts).decode(), sum(e.counts.values()),
                  e.density_per_m2, e.max_dwell_s, e.event_id, e.congestion)
                 for e in events if isinstance(e, ZoneOccupancy)]
    health = [(e.at, e.camera_id, e.status.value, e.detail, e.snapshot, e.event_id)
              for e in events if isinstance(e, CameraHealth)]
    # The last value of a KPI period in a batch wins (a corrected re-import replaces the earlier one).
    kpis = list({(e.kpi_id, e.unit_code, e.period_kind.value, e.period_start): (
        e.kpi_id, e.unit_code, e.period_kind.value, e.period_start, e.value, e.target, e.source, e.event_id)
        for e in events if isinstance(e, KpiValue)}.values())
    # Units and topics as space-separated text (codes and ids have no spaces): unnest cannot take a 2-D array.
    items = [(e.event_id, e.feed_id, e.guid, e.url, e.title, e.summary, e.published_at, e.fetched_at,
              orjson.dumps([m.model_dump() for m in e.matches]).decode(),
              " ".join(sorted({m.unit for m in e.matches})), " ".join(sorted({t for m in e.matches for t in m.topics})),
              e.simulated) for e in events if isinstance(e, FeedItem)]
    return {
        "line_crossings": _columns(crossings, 7), "detection_summaries": _columns(summaries, 7),
        "zone_occupancy": _columns(occupancy, 9), "camera_health": _columns(health, 6),
        "kpi_values": _columns(kpis, 8), "feed_items": _columns(items, 12),
    }


_CAMERA_SQL = {
    "line_crossings": _CROSSINGS_SQL, "detection_summaries": _SUMMARIES_SQL, "zone_occupancy": _OCCUPANCY_SQL,
    "camera_health": _HEALTH_SQL, "kpi_values": _KPI_SQL, "feed_items": _FEED_ITEMS_SQL,
}


class Writer:
    """Batched, idempotent writes of events into PostgreSQL (TimescaleDB or plain)."""

    def __init__(self, pool: AsyncConnectionPool, notify: TransitionHook | None = None) -> None:
        """Write through ``pool``, whose connections were configured by ``stage_table`` (as ``open`` does)."""
        self._pool = pool
        # Duty-officer messages an alert transition calls for go into notify_outbox in the transition's transaction.
        self._notify = notify

    @classmethod
    async def open(cls, dsn: str, *, min_size: int = 1, max_size: int = 4, timeout: float = 15.0,
                   notify: TransitionHook | None = None) -> Writer:
        """Open a connection pool to ``dsn`` and return a writer over it (``notify``: plan alert messages too)."""
        pool = AsyncConnectionPool(dsn, min_size=min_size, max_size=max_size, open=False, timeout=10,
                                   kwargs={"autocommit": False}, configure=stage_table)
        try:
            await pool.open(wait=True, timeout=timeout)
        except PoolTimeout as exc:
            await pool.close()
            raise SinkUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
        return cls(pool, notify)

    async def close(self) -> None:
        """Close the pool."""
        await self._pool.close()

    async def refresh_late_rollups(self) -> int:
        """Refresh exactly the rollup buckets written behind the policies' windows; return how many ranges.

        On TimescaleDB the writer notes such buckets in ``rollup_backlog`` (migration 0012); on plain
        PostgreSQL the backlog stays empty. Run it periodically: ``refresh_continuous_aggregate`` cannot run in a
        transaction, so it takes a pooled connection into autocommit for the duration.
        """
        done = 0
        try:
            async with self._pool.connection() as conn:
                await conn.set_autocommit(True)
                try:
                    cur = await conn.execute(
                        "SELECT view_name, bucket_start, bucket_end, noted_at FROM rollup_backlog")
                    backlog = await cur.fetchall()
                    for view in _LATE_ORDER:
                        for name, start, end, noted in backlog:
                            if name != view:
                                continue
                            try:
                                await conn.execute(
                                    "CALL refresh_continuous_aggregate(%s, %s, %s)", (view, start, end))
                            except psycopg.errors.InvalidParameterValue as exc:
                                if not refresh_busy(exc):
                                    raise
                                # The policy is refreshing an overlapping range now: the note stays, next pass.
                                logger.info("%s from %s to %s left for the next pass: %s", view, start, end,
                                            str(exc).strip().splitlines()[0])
                                continue
                            # A batch noting the same bucket meanwhile moved noted_at: keep that note.
                            await conn.execute(
                                "DELETE FROM rollup_backlog WHERE view_name = %s AND bucket_start = %s "
                                "AND noted_at = %s", (view, start, noted))
                            logger.info("refreshed %s from %s to %s for late rows", view, start, end)
                            done += 1
                finally:
                    await conn.set_autocommit(False)
        except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
            raise SinkUnavailable(f"PostgreSQL is unreachable: {exc}") from exc
        except psycopg.DatabaseError as exc:
            raise MaintenanceError(f"late rollup refresh failed: {str(exc).strip()}") from exc
        return done

    async def status(self) -> DbStatus:
        """Return the database's flavour and, on TimescaleDB, the state of every background job."""
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(FLAVOR_SQL)
                row = await cur.fetchone()
                if not (row and row[0]):
                    await conn.rollback()
                    return DbStatus("plain")
                async with conn.cursor(row_factory=class_row(JobState)) as jobs:
                    await jobs.execute(JOBS_SQL)
                    found = tuple(await jobs.fetchall())
                await conn.rollback()
                return DbStatus("timescale", found)
        except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
            raise SinkUnavailable(f"PostgreSQL is unreachable: {exc}") from exc

    async def run_job(self, job_id: int) -> None:
        """Run one TimescaleDB job in the foreground (``CALL run_job``, in autocommit)."""
        try:
            async with self._pool.connection() as conn:
                await conn.set_autocommit(True)
                try:
                    await conn.execute("CALL run_job(%s)", (job_id,))
                except psycopg.errors.InvalidParameterValue as exc:
                    if not refresh_busy(exc):
                        raise
                    logger.info("job %d is refreshing in the background now; not run in the foreground", job_id)
                finally:
                    await conn.set_autocommit(False)
        except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
            raise SinkUnavailable(f"PostgreSQL is unreachable: {exc}") from exc
        except psycopg.DatabaseError as exc:
            raise MaintenanceError(f"job {job_id} failed: {str(exc).strip()}") from exc

    async def write(self, events: Sequence[Event]) -> WriteReport:
        """Write a batch; raise ``SinkUnavailable`` if the database is down (nothing is lost: retry the batch)."""
        report = WriteReport()
        try:
            await self._write_all(events, report)
        except BadRecord:
            # Some row was refused: split the batch until each bad event stands alone, keep the rest.
            report = WriteReport()
            await self._bisect(list(events), report)
        return report

    async def _bisect(self, events: list[Event], report: WriteReport) -> None:
        if not events:
            return
        try:
            part = WriteReport()
            await self._write_all(events, part)
            _merge(report, part)
        except BadRecord as exc:
            if len(events) == 1:
                bad = events[0]
                logger.warning("database refused %s %s: %s", bad.type, bad.event_id, exc)
                dead = DeadLetter.of(
                    source=f"writer:{bad.type}", raw=bad.to_bytes(),
                    error=InvalidInput("rejected_by_database", str(exc)),
                )
                if isinstance(bad, DeadLetter):
                    raise  # a dead letter the database refuses cannot be parked anywhere: surface it
                part = WriteReport()
                await self._write_all([dead], part)
                _merge(report, part)
                report.rejected.append(dead)
                return
            mid = len(events) // 2
            await self._bisect(events[:mid], report)
            await self._bisect(events[mid:], report)

    async def _write_all(self, events: Sequence[Event], report: WriteReport) -> None:
        readings = [e for e in events if isinstance(e, SensorReading)]
        alerts = [e for e in events if isinstance(e, AlertEvent)]
        dead = [e for e in events if isinstance(e, DeadLetter)]
        try:
            async with self._pool.connection() as conn, conn.transaction():
                if readings:
                    cur = await _insert_readings(conn, readings)
                    report.readings += len(readings)
                    report.rows += max(cur.rowcount, 0)
                    lo = min(r.observed_at for r in readings)
                    hi = max(r.observed_at for r in readings)
                    await conn.execute("SELECT ioc_refresh_readings_rollups(%s, %s)", (lo, hi))
                    report.span = (lo, hi)
                for alert in sorted(alerts, key=lambda a: a.at):
                    applied = await _apply_alert(conn, alert)
                    report.alerts += applied
                    if applied and self._notify is not None:
                        await self._notify.on_transition(conn, alert)
                if dead:
                    cur = await conn.execute(_DEAD_SQL, dead_rows(dead))
                    report.dead_letters += max(cur.rowcount, 0)
                for table, cols in camera_rows(events).items():
                    if cols[0]:
                        cur = await conn.execute(_CAMERA_SQL[table], cols)
                        report.camera += max(cur.rowcount, 0)
                        if table == "line_crossings":
                            times = cast(list[datetime], cols[0])
                            await conn.execute("SELECT ioc_refresh_line_counts(%s, %s)", (min(times), max(times)))
        except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
            raise SinkUnavailable(f"PostgreSQL is unreachable: {exc}") from exc
        except _SCHEMA_ERRORS as exc:
            # Not the row's fault: the schema is missing or old. Keep the data and say what to do.
            raise SinkUnavailable(f"database schema is not ready ({exc}); run `ioc db migrate`") from exc
        except psycopg.DatabaseError as exc:
            raise BadRecord(str(exc).strip()) from exc


async def stage_table(conn: psycopg.AsyncConnection[Any]) -> None:
    """Create the connection's staging table of readings, once, when the pool opens the connection.

    It lives as long as the connection (temporary, emptied at each commit); made per batch, it cost a catalog
    lookup and a notice on every write.
    """
    await conn.execute(_STAGE_SQL)
    await conn.commit()


async def _insert_readings(
    conn: psycopg.AsyncConnection[tuple[object, ...]], readings: Sequence[SensorReading]
) -> psycopg.AsyncCursor[tuple[object, ...]]:
    """Stage the readings' rows by binary COPY, then insert what is new; return the INSERT's cursor.

    The staging table is the connection's, made by ``stage_table`` when the pool opened it.
    """
    cur = conn.cursor()
    async with cur.copy(_STAGE_COPY_SQL) as copy:
        copy.set_types(_STAGE_TYPES)
        for r in readings:
            for metric, value in r.values.items():
                await copy.write_row((r.observed_at, r.station_id, metric, value, r.event_id, r.received_at, r.source))
    await cur.execute(_READINGS_SQL)
    return cur


async def _apply_alert(conn: psycopg.AsyncConnection[tuple[object, ...]], a: AlertEvent) -> int:
    """Record one alert transition and move the alert's row; a transition seen before changes nothing."""
    params = orjson.dumps(a.params).decode()
    cur = await conn.execute(
        _ALERT_EVENT_SQL,
        (a.event_id, a.alert_id, a.alert_key, a.transition.value, a.severity.value, a.at, a.value, params),
    )
    if cur.rowcount == 0:
        return 0
    if a.transition is AlertTransition.OPENED:
        await conn.execute(_ALERT_SUPERSEDE_SQL, (a.at, a.at, a.alert_key, a.alert_id, a.at))
        await conn.execute(
            _ALERT_OPEN_SQL,
            (a.alert_id, a.alert_key, a.severity.value, a.source_kind, a.source_id, a.area_code, a.message_key,
             params, a.value, a.opened_at, a.at),
        )
    elif a.transition is AlertTransition.RESOLVED:
        await conn.execute(_ALERT_RESOLVE_SQL, (a.at, a.at, a.value, a.message_key, params, a.alert_id))
    else:
        await conn.execute(
            _ALERT_CHANGE_SQL, (a.severity.value, a.message_key, params, a.value, a.at, a.alert_id, a.at)
        )
    return 1


def _merge(into: WriteReport, part: WriteReport) -> None:
    into.readings += part.readings
    into.rows += part.rows
    into.alerts += part.alerts
    into.dead_letters += part.dead_letters
    into.camera += part.camera
    if part.span:
        lo, hi = part.span
        into.span = (min(lo, into.span[0]), max(hi, into.span[1])) if into.span else part.span
