"""The writer's maintenance loop in the embedded runtime, and the foreground runner, on both flavours."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from ioc.app.runtime.embedded import EmbeddedPlatform
from ioc.app.site import SiteRuntime
from ioc.config.loader import load_site
from ioc.events import SensorReading, utcnow
from ioc.store.jobs import call_refresh
from ioc.store.maintenance import Maintenance
from ioc.store.migrate import FLAVORS, Flavor
from ioc.store.writer import Writer

pytestmark = pytest.mark.services


@pytest.fixture(scope="module", params=FLAVORS)
def db_flavour(request: pytest.FixtureRequest) -> Flavor:
    """This module's database once plain, once with TimescaleDB."""
    flavour: Flavor = request.param
    return flavour


@pytest.fixture
def runtime(site_dir: Path) -> SiteRuntime:
    return SiteRuntime.build(load_site(site_dir), site_dir)


def run_refresh_policies(dsn: str) -> None:
    """Bring every watermark near now, as on a live system (a no-op on plain PostgreSQL)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute("SELECT flavor FROM ioc_meta").fetchone() == ("timescale",):
            for (job,) in conn.execute("SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = "
                                       "'policy_refresh_continuous_aggregate' ORDER BY job_id").fetchall():
                call_refresh(conn, "CALL run_job(%s)", (job,))


Rows = list[tuple[object, ...]]


async def wait_for_rows(dsn: str, sql: str, want: Rows, timeout: float) -> Rows:
    """Poll ``sql`` until it returns ``want`` or ``timeout`` passes; return the last answer."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        with psycopg.connect(dsn) as conn:
            got = conn.execute(sql).fetchall()
        if got == want or asyncio.get_running_loop().time() > deadline:
            return got
        await asyncio.sleep(0.2)


async def test_a_late_reading_reaches_the_hour_rollup_through_the_runtimes_loop(
        runtime: SiteRuntime, pg_dsn: str) -> None:
    # Regression (issue 11, defect 2): nothing called refresh_late_rollups(), so on TimescaleDB a reading
    # 30 days back never reached sensor_readings_1h. The embedded platform's maintenance loop now does.
    now = utcnow()
    platform = EmbeddedPlatform(runtime, pg_dsn, maintenance_interval_s=0.5)
    await platform.start()
    try:
        await platform.bus.publish(SensorReading.create("LIVE-01", now - timedelta(minutes=10),
                                                        {"water_level_m": 1.0}, source="test"))
        await platform.bus.drain()
        run_refresh_policies(pg_dsn)
        hour = (now - timedelta(days=30)).replace(minute=0, second=0, microsecond=0)
        await platform.bus.publish(SensorReading.create("LATE-01", hour + timedelta(minutes=5),
                                                        {"water_level_m": 7.5}, source="test"))
        await platform.bus.drain()
        got = await wait_for_rows(
            pg_dsn, "SELECT bucket, n, value_max FROM sensor_readings_1h WHERE station_id = 'LATE-01'",
            [(hour, 1, 7.5)], timeout=20)
        left = await wait_for_rows(pg_dsn, "SELECT count(*) FROM rollup_backlog", [(0,)], timeout=20)
    finally:
        await platform.stop()
    assert got == [(hour, 1, 7.5)]
    assert left == [(0,)]  # every level refreshed (1m, 1h, 1d), the notes forgotten


async def test_a_pass_runs_the_policies_the_scheduler_leaves_behind(pg_dsn: str) -> None:
    # Issue 11, defect 5: the scheduler's runs fail (on PostgreSQL 15.20 with TimescaleDB 2.25.2, every
    # one) or stall; a pass at a time the 1-minute policies are more than two intervals late runs them in the
    # foreground, and the 1-minute rollup then holds the last finished minute.
    writer = await Writer.open(pg_dsn)
    try:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute("TRUNCATE sensor_readings")
        minute = utcnow().replace(second=0, microsecond=0) - timedelta(minutes=2)
        await writer.write([SensorReading.create("NOW-01", minute + timedelta(seconds=s),
                                                 {"water_level_m": s / 10}, source="test") for s in (5, 35)])
        maintenance = Maintenance(writer)
        report = await maintenance.run_once(now=utcnow() + timedelta(minutes=3))
        again = await maintenance.run_once(now=utcnow() + timedelta(minutes=3))
        status = await writer.status()
    finally:
        await writer.close()
    with psycopg.connect(pg_dsn) as conn:
        table = "sensor_readings_1m"
        if status.flavor == "timescale":  # what is materialised, not what real-time aggregation adds on top
            found = conn.execute("SELECT format('%I.%I', materialization_hypertable_schema, "
                                 "materialization_hypertable_name) FROM "
                                 "timescaledb_information.continuous_aggregates "
                                 "WHERE view_name = 'sensor_readings_1m'").fetchone()
            assert found is not None
            table = str(found[0])
        rows = conn.execute(f"SELECT bucket, n FROM {table} WHERE station_id = 'NOW-01'").fetchall()
    assert rows == [(minute, 2)]
    if status.flavor == "timescale":
        refresh_1m = {j.job_id for j in status.jobs if j.target in ("sensor_readings_1m", "line_counts_1m")}
        assert refresh_1m <= set(report.jobs_run)
        assert report.jobs_failed == []
        assert again.jobs_run == []  # not again before a schedule interval has passed
    else:
        assert (status.flavor, report.jobs_run) == ("plain", [])
