"""The writer against the real PostgreSQL: idempotent batches, rollups, alert history, bad rows, database down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from analytics.flood import AlarmRules, StationState, evaluate
from ioc.errors import InvalidInput, SinkUnavailable
from ioc.events import DeadLetter, Event, SensorReading
from ioc.store.jobs import call_refresh
from ioc.store.writer import Writer

pytestmark = pytest.mark.services
T0 = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
RULES = AlarmRules("NS-01", "Nậm Mức", (2.0, 3.0, 4.0), 0.2, "03172")


@pytest.fixture
async def writer(pg_dsn: str) -> AsyncIterator[Writer]:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE sensor_readings, alerts, alert_events, dead_letters, rollup_backlog")
        if conn.execute("SELECT flavor FROM ioc_meta").fetchone() == ("plain",):
            conn.execute("TRUNCATE sensor_readings_1m, sensor_readings_1h, sensor_readings_1d")
    w = await Writer.open(pg_dsn)
    yield w
    await w.close()


def readings(n: int, station: str = "NS-01", start: datetime = T0) -> list[SensorReading]:
    return [
        SensorReading.create(station, start + timedelta(seconds=30 * i),
                             {"water_level_m": 1.0 + i / 100, "rainfall_mm": 0.5}, source="test")
        for i in range(n)
    ]


def refresh_rollups(dsn: str, *views: str) -> None:
    """On TimescaleDB, materialise the continuous aggregates; the CALL refuses a transaction block, so autocommit."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute("SELECT flavor FROM ioc_meta").fetchone() == ("timescale",):
            for view in views:
                call_refresh(conn, "CALL refresh_continuous_aggregate(%s, NULL, NULL)", (view,))


def count(dsn: str, sql: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql).fetchone()
        assert row is not None
        return int(row[0])


async def test_batch_is_written_once_even_when_replayed(writer: Writer, pg_dsn: str) -> None:
    batch = readings(240)
    first = await writer.write(batch)
    again = await writer.write(batch + batch[:10])
    assert (first.readings, first.rows) == (240, 480)
    assert again.rows == 0
    assert count(pg_dsn, "SELECT count(*) FROM sensor_readings") == 480


async def test_rollups_follow_the_raw_rows(writer: Writer, pg_dsn: str) -> None:
    await writer.write(readings(240))  # two hours at 30 s
    refresh_rollups(pg_dsn, "sensor_readings_1m", "sensor_readings_1h", "sensor_readings_1d")
    with psycopg.connect(pg_dsn) as conn:
        minute = conn.execute(
            "SELECT n, value_min, value_max FROM sensor_readings_1m WHERE station_id = 'NS-01' "
            "AND metric = 'water_level_m' AND bucket = %s", (T0,)).fetchone()
        hours = conn.execute(
            "SELECT bucket, n FROM sensor_readings_1h WHERE station_id = 'NS-01' AND metric = 'water_level_m' "
            "ORDER BY bucket").fetchall()
        day = conn.execute(
            "SELECT n, value_avg FROM sensor_readings_1d WHERE metric = 'water_level_m'").fetchone()
    assert minute == (2, 1.0, 1.01)
    assert hours == [(T0, 120), (T0 + timedelta(hours=1), 120)]
    assert day is not None and day[0] == 240 and day[1] == pytest.approx(1.0 + 239 / 200)


async def test_alert_lifecycle_lands_with_history(writer: Writer, pg_dsn: str) -> None:
    state, alerts = StationState(), []
    for i, level in enumerate([1.0, 2.5, 3.5, 4.2, 3.0, 1.0]):
        r = SensorReading.create("NS-01", T0 + timedelta(minutes=i), {"water_level_m": level}, source="test")
        state, out = evaluate(RULES, state, r)
        alerts += out
    await writer.write(alerts)
    await writer.write(alerts)  # a replay changes nothing
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute("SELECT status, severity, value, resolved_at FROM alerts").fetchall()
        history = [r[0] for r in conn.execute("SELECT transition FROM alert_events ORDER BY at")]
    assert rows == [("resolved", "major", 1.0, T0 + timedelta(minutes=5))]
    assert history == ["opened", "escalated", "escalated", "updated", "resolved"]


async def test_alert_stays_open_while_the_danger_lasts(writer: Writer, pg_dsn: str) -> None:
    state, alerts = StationState(), []
    for i, level in enumerate([2.5, 3.5]):
        r = SensorReading.create("NS-01", T0 + timedelta(minutes=i), {"water_level_m": level}, source="test")
        state, out = evaluate(RULES, state, r)
        alerts += out
    await writer.write(alerts)
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT status, severity FROM alerts").fetchall() == [("open", "major")]


async def test_a_row_the_database_refuses_goes_to_dead_letters_and_the_rest_land(
        writer: Writer, pg_dsn: str) -> None:
    good = readings(20)
    # A metric name with a NUL byte is valid JSON and a valid event, but PostgreSQL text cannot hold it.
    bad = SensorReading.create("NS-02", T0, {"water\x00level": 1.0}, source="test")
    report = await writer.write([*good[:10], bad, *good[10:]])
    assert report.readings == 20 and len(report.rejected) == 1
    assert count(pg_dsn, "SELECT count(*) FROM sensor_readings") == 40
    with psycopg.connect(pg_dsn) as conn:
        reason, source = conn.execute("SELECT reason, source FROM dead_letters").fetchone()  # type: ignore[misc]
    assert (reason, source) == ("rejected_by_database", "writer:sensor_reading")


async def test_dead_letters_are_kept_once(writer: Writer, pg_dsn: str) -> None:
    dead = DeadLetter.of("mqtt:ioc/x/flood/A/up", b"{oops", InvalidInput("malformed_json", "bad"), T0)
    await writer.write([dead])
    await writer.write([dead])
    assert count(pg_dsn, "SELECT count(*) FROM dead_letters WHERE reason = 'malformed_json'") == 1


async def test_database_down_is_not_a_bad_row() -> None:
    with pytest.raises(SinkUnavailable):
        await Writer.open("postgresql://ioc@127.0.0.1:1/ioc?connect_timeout=1", timeout=2)


async def test_missing_schema_keeps_the_data(endpoints: object, pg_dsn: str) -> None:
    empty = f"ioc_empty_{T0:%H%M%S}"
    base = pg_dsn
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{empty}"')
        conn.execute(f'CREATE DATABASE "{empty}"')
    w = await Writer.open(psycopg.conninfo.make_conninfo(base, dbname=empty))
    try:
        events: list[Event] = list(readings(3))
        with pytest.raises(SinkUnavailable, match="ioc db migrate"):
            await w.write(events)
    finally:
        await w.close()
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{empty}" WITH (FORCE)')


async def test_camera_events_land_once_with_minute_counts(writer: Writer, pg_dsn: str) -> None:
    from ioc.events import (
        CameraHealth,
        CameraStatus,
        DetectionSummary,
        Direction,
        LineCrossing,
        ZoneOccupancy,
        stable_id,
    )

    crossings = [
        LineCrossing(event_id=stable_id("x", i), camera_id="cam-1", line_id="l1", track_id=i,
                     object_class="motorcycle" if i % 3 else "car", direction=Direction.IN if i % 2 else Direction.OUT,
                     crossed_at=T0 + timedelta(seconds=10 * i))
        for i in range(12)
    ]
    others: list[Event] = [
        DetectionSummary(event_id=stable_id("s"), camera_id="cam-1", window_start=T0,
                         window_end=T0 + timedelta(minutes=1), frames_analysed=120, counts={"car": 4}),
        ZoneOccupancy(event_id=stable_id("z"), camera_id="cam-1", zone_id="plaza", at=T0,
                      counts={"person": 30}, density_per_m2=0.6, max_dwell_s=12.0, congestion="heavy"),
        CameraHealth(event_id=stable_id("h"), camera_id="cam-1", at=T0, status=CameraStatus.FROZEN,
                     detail="unchanged", snapshot="/snap/cam-1/x.jpg"),
    ]
    first = await writer.write([*crossings, *others])
    again = await writer.write([*crossings, *others])
    assert first.camera == 15 and again.camera == 0
    refresh_rollups(pg_dsn, "line_counts_1m")
    with psycopg.connect(pg_dsn) as conn:
        counts = dict(((c, d), int(n)) for c, d, n in conn.execute(
            "SELECT object_class, direction, sum(n) FROM line_counts_1m GROUP BY 1, 2"))
        health = conn.execute("SELECT status, snapshot FROM camera_health").fetchall()
        occupancy = conn.execute("SELECT total, density_per_m2, congestion FROM zone_occupancy").fetchall()
    assert counts == {("car", "in"): 2, ("car", "out"): 2, ("motorcycle", "in"): 4, ("motorcycle", "out"): 4}
    assert health == [("frozen", "/snap/cam-1/x.jpg")]
    assert occupancy == [(30, 0.6, "heavy")]


async def test_kpi_values_upsert_per_period(writer: Writer, pg_dsn: str) -> None:
    from ioc.events import KpiValue, PeriodKind, stable_id

    def kpi(value: float, source: str) -> KpiValue:
        return KpiValue(event_id=stable_id("kpi", value, source), kpi_id="dossiers_on_time_pct", unit_code="03172",
                        period_kind=PeriodKind.MONTH, period_start=T0.replace(day=1, hour=0), value=value,
                        target=95.0, source=source)

    await writer.write([kpi(91.0, "csv:jan.csv")])
    await writer.write([kpi(96.6, "csv:jan-corrected.csv")])
    await writer.write([kpi(96.6, "csv:jan-corrected.csv")])
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT value, target, source FROM kpi_values").fetchall() == [
            (96.6, 95.0, "csv:jan-corrected.csv")]


async def test_late_readings_reach_every_rollup_once_the_late_buckets_are_refreshed(
        writer: Writer, pg_dsn: str) -> None:
    # Regression (issue 11, defect 2): on TimescaleDB a reading 30 days back stayed out of the rollups for good,
    # behind every refresh policy's window; plain PostgreSQL updates its rollup tables in the write itself.
    from ioc.events import utcnow

    def run_refresh_policies() -> tuple[object, ...] | None:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            flavor = conn.execute("SELECT flavor FROM ioc_meta").fetchone()
            if flavor == ("timescale",):
                for (job,) in conn.execute("SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = "
                                           "'policy_refresh_continuous_aggregate' ORDER BY job_id").fetchall():
                    call_refresh(conn, "CALL run_job(%s)", (job,))
            return flavor

    # A live system first: current readings, materialised by the policies, so every watermark is near now.
    now = utcnow()
    await writer.write([SensorReading.create("LIVE-01", now - timedelta(days=d, minutes=10), {"water_level_m": 1.0},
                                             source="test") for d in (0, 2)])
    run_refresh_policies()
    await writer.refresh_late_rollups()  # the two-day-old one was behind the 1-minute window
    hour = (now - timedelta(days=30)).replace(minute=0, second=0, microsecond=0)
    await writer.write([SensorReading.create("LATE-01", hour + timedelta(minutes=5), {"water_level_m": 7.5},
                                             source="test")])
    flavor = run_refresh_policies()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        noted = conn.execute("SELECT count(*) FROM rollup_backlog").fetchone()
        before = conn.execute("SELECT count(*) FROM sensor_readings_1h WHERE station_id = 'LATE-01'").fetchone()
    # The bug itself: every policy has run, and on TimescaleDB the hour still misses the reading.
    assert before == ((0,) if flavor == ("timescale",) else (1,))

    refreshed = await writer.refresh_late_rollups()

    assert (noted, refreshed) == (((3,), 3) if flavor == ("timescale",) else ((0,), 0))
    with psycopg.connect(pg_dsn) as conn:
        got = {view: conn.execute(f"SELECT bucket, n, value_max FROM {view} WHERE station_id = 'LATE-01'").fetchall()
               for view in ("sensor_readings_1m", "sensor_readings_1h", "sensor_readings_1d")}
        left = conn.execute("SELECT count(*) FROM rollup_backlog").fetchone()
    assert got == {"sensor_readings_1m": [(hour + timedelta(minutes=5), 1, 7.5)],
                   "sensor_readings_1h": [(hour, 1, 7.5)],
                   "sensor_readings_1d": [(hour.replace(hour=0), 1, 7.5)]}
    assert left == (0,)


async def test_a_recomputed_reports_kpi_replaces_the_months_figure(pg_dsn: str) -> None:
    """`ioc reports kpis` run again after more reports closed: the month's figure changes (issue 17)."""
    from analytics.report_kpis import ON_TIME, ReportOutcome, monthly_kpis

    start, end = datetime(2026, 10, 31, 17, 0, tzinfo=UTC), datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    due, got_in = start + timedelta(days=10), start + timedelta(days=7)
    first = [ReportOutcome("03172", got_in, due, "resolved", got_in + timedelta(hours=5)),
             ReportOutcome("03172", got_in, due, "in_progress", None)]
    later = [first[0], ReportOutcome("03172", got_in, due, "resolved", got_in + timedelta(hours=9))]
    writer = await Writer.open(pg_dsn)
    try:
        values = []
        for rows in (first, first, later):
            await writer.write([v for v in monthly_kpis(rows, start, end) if v.kpi_id == ON_TIME])
            with psycopg.connect(pg_dsn) as conn:
                row = conn.execute("SELECT value FROM kpi_values WHERE kpi_id = %s AND unit_code = '03172' "
                                   "AND period_start = %s", (ON_TIME, start)).fetchone()
            values.append(row[0] if row else None)
    finally:
        await writer.close()
    assert values == [50.0, 50.0, 100.0]
