"""The TimescaleDB flavour of the schema and the writer, on the services' PostgreSQL with TimescaleDB 2.25.2."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import LiteralString

import psycopg
import pytest
from psycopg import sql

from analytics.flood import AlarmRules, StationState, evaluate
from ioc.errors import InvalidInput
from ioc.events import AlertEvent, DeadLetter, Event, SensorReading
from ioc.store.jobs import call_refresh
from ioc.store.migrate import Flavor, available, current_flavor, migrate
from ioc.store.writer import Writer, WriteReport

pytestmark = pytest.mark.services
T0 = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
ROLLUPS = ("sensor_readings_1m", "sensor_readings_1h", "sensor_readings_1d")
# The plain flavour's tables have exactly these columns; the continuous aggregates must match them.
ROLLUP_COLUMNS = [
    ("station_id", "text"), ("metric", "text"), ("bucket", "timestamp with time zone"),
    ("value_avg", "double precision"), ("value_min", "double precision"), ("value_max", "double precision"),
    ("value_sum", "double precision"), ("n", "bigint"),
]


@pytest.fixture(scope="module", params=["timescale"])
def db_flavour(request: pytest.FixtureRequest) -> Flavor:
    """Only the TimescaleDB flavour here; the id still says so."""
    flavour: Flavor = request.param
    return flavour


@pytest.fixture(scope="module")
def ts_dsn(pg_dsn: str) -> str:
    """The module's database, migrated with TimescaleDB required."""
    return pg_dsn


def rows(dsn: str, query: LiteralString, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


async def write(dsn: str, *batches: Sequence[Event]) -> list[WriteReport]:
    """Write each batch with one writer."""
    w = await Writer.open(dsn)
    try:
        return [await w.write(batch) for batch in batches]
    finally:
        await w.close()


def readings(station: str, n: int, start: datetime = T0) -> list[SensorReading]:
    return [
        SensorReading.create(station, start + timedelta(seconds=30 * i),
                             {"water_level_m": 1.0 + i / 100, "rainfall_mm": 0.5}, source="test")
        for i in range(n)
    ]


def refresh_all(dsn: str) -> None:
    """Materialise every level, bottom up; the CALL must run outside a transaction block, hence autocommit."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for view in ROLLUPS:
            call_refresh(conn, "CALL refresh_continuous_aggregate(%s, NULL, NULL)", (view,))


# --- the schema ---------------------------------------------------------------------------------------------


def test_migrate_sets_up_the_timescale_flavour(ts_dsn: str) -> None:
    applied = rows(ts_dsn, "SELECT version, name FROM schema_migrations ORDER BY version")
    assert applied == [(m.version, m.name) for m in available("timescale")]
    assert current_flavor(ts_dsn) == "timescale"
    assert rows(ts_dsn, "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'") == [("2.25.2",)]


def test_a_second_migrate_applies_nothing(ts_dsn: str) -> None:
    again = migrate(ts_dsn, timescale="on")
    assert (again.flavor, again.applied, again.already) == ("timescale", [], len(available("timescale")))


def test_sensor_readings_is_a_hypertable_by_day(ts_dsn: str) -> None:
    assert rows(ts_dsn, "SELECT hypertable_name, num_dimensions, compression_enabled "
                        "FROM timescaledb_information.hypertables WHERE hypertable_schema = 'public' "
                        "ORDER BY hypertable_name") == [
        ("line_crossings", 1, True), ("sensor_readings", 1, True), ("zone_occupancy", 1, True)]
    assert rows(ts_dsn, "SELECT column_name, time_interval FROM timescaledb_information.dimensions "
                        "WHERE hypertable_name = 'sensor_readings'") == [("time", timedelta(days=1))]


def test_rollups_are_hierarchical_real_time_continuous_aggregates(
        ts_dsn: str) -> None:
    found = {
        view: (source, materialized_only, materialization)
        for view, source, materialized_only, materialization in rows(
            ts_dsn, "SELECT view_name, hypertable_name, materialized_only, materialization_hypertable_name "
                    "FROM timescaledb_information.continuous_aggregates")
    }
    assert set(found) == {*ROLLUPS, "line_counts_1m"}
    assert found["line_counts_1m"][0] == "line_crossings" and found["line_counts_1m"][1] is False
    # 1h is built on the 1m aggregate's materialisation, 1d on the 1h one: a cagg on a cagg, not on raw rows.
    assert found["sensor_readings_1m"][0] == "sensor_readings"
    assert found["sensor_readings_1h"][0] == found["sensor_readings_1m"][2]
    assert found["sensor_readings_1d"][0] == found["sensor_readings_1h"][2]
    assert all(materialized_only is False for _, materialized_only, _ in found.values())


@pytest.mark.parametrize("view", ROLLUPS)
def test_rollups_have_the_plain_flavours_columns(
        ts_dsn: str, view: str) -> None:
    # Regression: 1h and 1d had n numeric (sum of bigint) where the plain tables have bigint.
    assert rows(ts_dsn, "SELECT column_name, data_type FROM information_schema.columns "
                        "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
                (view,)) == ROLLUP_COLUMNS


def test_compression_is_segmented_by_station_and_metric(
        ts_dsn: str) -> None:
    settings = rows(ts_dsn, "SELECT attname, segmentby_column_index, orderby_column_index, orderby_asc "
                            "FROM timescaledb_information.compression_settings "
                            "WHERE hypertable_name = 'sensor_readings' ORDER BY attname")
    assert settings == [("metric", 2, None, None), ("station_id", 1, None, None), ("time", None, 1, False)]


def test_compression_retention_and_refresh_policies_exist(
        ts_dsn: str) -> None:
    jobs = {
        (proc, table): config
        for proc, table, config in rows(
            ts_dsn, "SELECT proc_name, hypertable_name, config FROM timescaledb_information.jobs "
                    "WHERE hypertable_name IS NOT NULL")
    }
    expected = {
        ("policy_compression", "sensor_readings"): {"compress_after": "7 days"},
        ("policy_retention", "sensor_readings"): {"drop_after": "400 days"},
        ("policy_retention", "sensor_readings_1m"): {"drop_after": "90 days"},
        ("policy_refresh_continuous_aggregate", "sensor_readings_1m"):
            {"start_offset": "02:00:00", "end_offset": "00:01:00"},
        ("policy_refresh_continuous_aggregate", "sensor_readings_1h"):
            {"start_offset": "3 days", "end_offset": "01:00:00"},
        ("policy_refresh_continuous_aggregate", "sensor_readings_1d"):
            {"start_offset": "40 days", "end_offset": "1 day"},
        ("policy_compression", "line_crossings"): {"compress_after": "7 days"},
        ("policy_retention", "line_crossings"): {"drop_after": "400 days"},
        ("policy_compression", "zone_occupancy"): {"compress_after": "7 days"},
        ("policy_retention", "zone_occupancy"): {"drop_after": "400 days"},
        ("policy_refresh_continuous_aggregate", "line_counts_1m"):
            {"start_offset": "02:00:00", "end_offset": "00:01:00"},
    }
    assert set(jobs) == set(expected)
    for key, wanted in expected.items():
        config = jobs[key]
        assert isinstance(config, dict)
        assert {k: config[k] for k in wanted} == wanted, key


# --- the writer ---------------------------------------------------------------------------------------------


async def test_readings_are_written_once_even_when_replayed(
        ts_dsn: str) -> None:
    batch = readings("TS-IDEM", 240)
    first, again = await write(ts_dsn, batch, batch + batch[:10])
    assert (first.readings, first.rows) == (240, 480)
    assert again.rows == 0
    assert rows(ts_dsn, "SELECT count(*) FROM sensor_readings WHERE station_id = 'TS-IDEM'") == [(480,)]


async def test_refreshed_rollups_hold_the_right_aggregates(
        ts_dsn: str) -> None:
    await write(ts_dsn, readings("TS-ROLL", 240))  # two hours at 30 s, level 1.00 .. 3.39
    refresh_all(ts_dsn)
    # Read the materialisation hypertables themselves, so the numbers come from the refresh, not real-time.
    materialized = {
        view: sql.Identifier(schema, table)
        for view, schema, table in rows(
            ts_dsn, "SELECT view_name, materialization_hypertable_schema, materialization_hypertable_name "
                    "FROM timescaledb_information.continuous_aggregates")
    }
    with psycopg.connect(ts_dsn, autocommit=True) as conn:
        def level(view: str) -> list[tuple[object, ...]]:
            return conn.execute(
                sql.SQL("SELECT bucket, n, value_min, value_max, value_avg FROM {} "
                        "WHERE station_id = 'TS-ROLL' AND metric = 'water_level_m' ORDER BY bucket")
                .format(materialized[view])).fetchall()

        minutes, hours, days = (level(v) for v in ROLLUPS)
    assert len(minutes) == 120
    assert minutes[0] == (T0, 2, 1.0, 1.01, pytest.approx(1.005))
    assert hours == [
        (T0, 120, 1.0, pytest.approx(2.19), pytest.approx(1.0 + 119 / 200)),
        (T0 + timedelta(hours=1), 120, pytest.approx(2.2), pytest.approx(3.39),
         pytest.approx(2.2 + 119 / 200)),
    ]
    assert days == [(datetime(2026, 11, 22, tzinfo=UTC), 240, 1.0, pytest.approx(3.39),
                     pytest.approx(1.0 + 239 / 200))]


async def test_newest_readings_show_in_every_level_without_a_refresh(
        ts_dsn: str) -> None:
    # A month after every other test's data, so after any watermark a refresh elsewhere may have moved.
    start = T0 + timedelta(days=30)
    await write(ts_dsn, readings("TS-LIVE", 4, start))
    with psycopg.connect(ts_dsn, autocommit=True) as conn:
        got = {
            view: conn.execute(
                sql.SQL("SELECT sum(n)::bigint, min(value_min), max(value_max) FROM {} "
                        "WHERE station_id = 'TS-LIVE' AND metric = 'water_level_m'")
                .format(sql.Identifier(view))
            ).fetchone()
            for view in ROLLUPS
        }
    assert got == dict.fromkeys(ROLLUPS, (4, 1.0, 1.03))


def flood_alerts(levels: Sequence[float]) -> list[AlertEvent]:
    rules = AlarmRules("TS-ALERT", "Nậm Mức", (2.0, 3.0, 4.0), 0.2, "03172")
    state, alerts = StationState(), []
    for i, value in enumerate(levels):
        reading = SensorReading.create("TS-ALERT", T0 + timedelta(minutes=i), {"water_level_m": value},
                                       source="test")
        state, out = evaluate(rules, state, reading)
        alerts += out
    return alerts


async def test_alert_lifecycle_lands_with_history_once(ts_dsn: str) -> None:
    alerts = flood_alerts([1.0, 2.5, 3.5, 4.2, 3.0, 1.0])
    first, replay = await write(ts_dsn, alerts, alerts)
    assert (first.alerts, replay.alerts) == (5, 0)
    alert = rows(ts_dsn, "SELECT status, severity, value, resolved_at FROM alerts WHERE source_id = %s",
                 ("TS-ALERT",))
    assert alert == [("resolved", "major", 1.0, T0 + timedelta(minutes=5))]
    history = rows(ts_dsn, "SELECT e.transition FROM alert_events e JOIN alerts a USING (alert_id) "
                           "WHERE a.source_id = 'TS-ALERT' ORDER BY e.at")
    assert [t for (t,) in history] == ["opened", "escalated", "escalated", "updated", "resolved"]


async def test_dead_letters_are_kept_once(ts_dsn: str) -> None:
    dead = DeadLetter.of("mqtt:ioc/x/flood/TS/up", b"{oops", InvalidInput("malformed_json", "bad"), T0)
    first, replay = await write(ts_dsn, [dead], [dead])
    assert (first.dead_letters, replay.dead_letters) == (1, 0)
    assert rows(ts_dsn, "SELECT source, reason FROM dead_letters WHERE event_id = %s", (dead.event_id,)) == [
        ("mqtt:ioc/x/flood/TS/up", "malformed_json")]


async def test_a_row_the_database_refuses_goes_to_dead_letters_and_the_rest_land(
        ts_dsn: str) -> None:
    good = readings("TS-BAD", 20)
    # A metric name with a NUL byte is a valid event, but PostgreSQL text cannot hold it.
    bad = SensorReading.create("TS-BAD", T0, {"water\x00level": 1.0}, source="test")
    (report,) = await write(ts_dsn, [*good[:10], bad, *good[10:]])
    assert report.readings == 20 and [d.reason for d in report.rejected] == ["rejected_by_database"]
    assert rows(ts_dsn, "SELECT count(*) FROM sensor_readings WHERE station_id = 'TS-BAD'") == [(40,)]
    assert rows(ts_dsn, "SELECT reason, source FROM dead_letters WHERE event_id = %s",
                (report.rejected[0].event_id,)) == [("rejected_by_database", "writer:sensor_reading")]


def test_refresh_continuous_aggregate_in_a_transaction_block_is_refused_so_tests_refresh_in_autocommit(
        ts_dsn: str) -> None:
    # Regression (issue 11, defect 3): tests/store/test_writer.py called the refresh inside psycopg's implicit
    # transaction; the WASM server let it pass, a real one refuses. The tests' helpers now refresh in autocommit.
    with psycopg.connect(ts_dsn) as conn, pytest.raises(psycopg.errors.ActiveSqlTransaction):
        conn.execute("CALL refresh_continuous_aggregate('sensor_readings_1m', NULL, NULL)")
    refresh_all(ts_dsn)
