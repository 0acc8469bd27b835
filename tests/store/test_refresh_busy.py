"""TimescaleDB 2.25 refuses a refresh whose range overlaps one another refresh is materialising, rather than
waiting (SQLSTATE 22023). Our refreshes (the loaders', the tests', the writer's late rollups and foreground
policy runs) wait it out or leave the range for the next pass; none fails for it (a CI run did: the dashboard
bench's loader met the 1-day policy's background run).

A refresh in progress is planted as TimescaleDB itself records one: a row in
``_timescaledb_catalog.continuous_aggs_materialization_ranges`` (the superuser's table), taken away later.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest

from ioc.app.services.backends import Postgres
from ioc.app.services.settings import Settings as ServicesSettings
from ioc.events import SensorReading, utcnow
from ioc.store.jobs import call_refresh, refresh_busy
from ioc.store.migrate import Flavor
from ioc.store.writer import Writer

pytestmark = pytest.mark.services
RAW_VIEW = "sensor_readings_1m"  # on the raw hypertable: a new raw row is work for it
VIEW = "sensor_readings_1h"  # on the 1 m one


@pytest.fixture(scope="module")
def db_flavour() -> Flavor:
    """Only TimescaleDB has continuous aggregates and their ranges."""
    return "timescale"


@pytest.fixture
def held_range(pg_dsn: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A superuser connection to the test's database that may plant and remove materialisation ranges."""
    admin = Postgres().admin_dsn(ServicesSettings.from_env(os.environ))
    dbname = psycopg.conninfo.conninfo_to_dict(pg_dsn)["dbname"]
    with psycopg.connect(psycopg.conninfo.make_conninfo(admin, dbname=dbname), autocommit=True) as conn:
        yield conn
        conn.execute("DELETE FROM _timescaledb_catalog.continuous_aggs_materialization_ranges")


def hold(conn: psycopg.Connection[tuple[object, ...]], view: str) -> None:
    """Record a refresh of ``view`` in progress over every time the tests use, with a row for it to refresh
    (a refresh with nothing to materialise returns before it looks at the ranges)."""
    conn.execute("INSERT INTO sensor_readings (time, station_id, metric, value, event_id, received_at, source) "
                 "VALUES (now() - interval '3 days', 'BUSY-01', 'water_level_m', 1.0, gen_random_uuid(), now(), "
                 "'test')")
    conn.execute(
        "INSERT INTO _timescaledb_catalog.continuous_aggs_materialization_ranges "
        "SELECT mat_hypertable_id, -1000000000000000, 4000000000000000 "  # 1938-2096 in microseconds
        "FROM _timescaledb_catalog.continuous_agg WHERE user_view_name = %s", (view,))


def release_later(conn: psycopg.Connection[tuple[object, ...]], after_s: float) -> threading.Thread:
    def release() -> None:
        time.sleep(after_s)
        conn.execute("DELETE FROM _timescaledb_catalog.continuous_aggs_materialization_ranges")

    thread = threading.Thread(target=release)
    thread.start()
    return thread


def test_a_refresh_waits_for_an_overlapping_one_and_then_runs(pg_dsn: str, held_range: psycopg.Connection) -> None:
    hold(held_range, RAW_VIEW)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InvalidParameterValue) as refused:
            conn.execute(f"CALL refresh_continuous_aggregate('{RAW_VIEW}', NULL, NULL)")
        assert refresh_busy(refused.value)  # what TimescaleDB says, as the helper reads it
        thread = release_later(held_range, 1.0)
        started = time.monotonic()
        call_refresh(conn, f"CALL refresh_continuous_aggregate('{RAW_VIEW}', NULL, NULL)")
        thread.join()
        assert time.monotonic() - started >= 0.9  # it waited for the range, then refreshed


def test_a_range_held_past_the_wait_is_its_error(pg_dsn: str, held_range: psycopg.Connection) -> None:
    hold(held_range, RAW_VIEW)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="overlaps with existing range"):
            call_refresh(conn, f"CALL refresh_continuous_aggregate('{RAW_VIEW}', NULL, NULL)", wait_s=1.0)
        with pytest.raises(psycopg.errors.UndefinedTable):  # any other error is raised at once
            call_refresh(conn, "CALL refresh_continuous_aggregate('no_such_view', NULL, NULL)")


def test_late_rollups_behind_a_busy_range_wait_for_the_next_pass(pg_dsn: str,
                                                                 held_range: psycopg.Connection) -> None:
    async def scenario() -> tuple[int, int, int]:
        writer = await Writer.open(pg_dsn)
        try:
            # live readings first, materialised by the policies, so a reading 30 days back is behind every window
            with psycopg.connect(pg_dsn, autocommit=True) as conn:
                for (job,) in conn.execute("SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = "
                                           "'policy_refresh_continuous_aggregate' ORDER BY job_id").fetchall():
                    call_refresh(conn, "CALL run_job(%s)", (job,))
            late = utcnow().replace(microsecond=0) - timedelta(days=30)
            await writer.write([SensorReading.create("LATE-01", late, {"water_level_m": 2.5}, source="test")])
            with psycopg.connect(pg_dsn) as conn:
                noted = conn.execute("SELECT count(*) FROM rollup_backlog").fetchone()
            hold(held_range, VIEW)
            busy = await writer.refresh_late_rollups()  # the 1 m range refreshes, the 1 h one is left
            held_range.execute("DELETE FROM _timescaledb_catalog.continuous_aggs_materialization_ranges")
            after = await writer.refresh_late_rollups()
            return int(noted[0] if noted else 0), busy, after
        finally:
            await writer.close()

    noted, busy, after = asyncio.run(scenario())
    assert noted >= 2 and busy == noted - 1 and after == 1
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM rollup_backlog").fetchone() == (0,)
        hour = conn.execute(f"SELECT count(*) FROM {VIEW} WHERE station_id = 'LATE-01'").fetchone()
    assert hour == (1,)
