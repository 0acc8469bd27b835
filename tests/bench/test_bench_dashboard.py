"""The dashboard bench's data: the widened site, readings with their rollups, crossings, KPI figures."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg
import pytest

from ioc.app.bench.dashboard import callback_request, wall_callbacks
from ioc.app.bench.dashboard_data import (
    METRICS,
    bench_site,
    load_crossings,
    load_history,
    load_kpis,
    station_series,
)
from ioc.config.loader import load_site
from ioc.config.models import SiteConfig
from tests.conftest import drop_database

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def site(site_dir: Path) -> SiteConfig:
    return load_site(site_dir)


def test_bench_site_keeps_the_sample_stations_and_adds_neighbours(site: SiteConfig) -> None:
    wide = bench_site(site, 50)
    ids = [s.id for s in wide.flood_stations]
    assert len(ids) == len(set(ids)) == 50
    assert ids[: len(site.flood_stations)] == [s.id for s in site.flood_stations]
    codes = {a.code for a in site.areas}
    for extra in wide.flood_stations[len(site.flood_stations) :]:
        assert extra.area_code in codes and extra.lorawan is None
        model = next(s for s in site.flood_stations if s.area_code == extra.area_code)
        assert abs(extra.lat - model.lat) < 0.05 and abs(extra.lon - model.lon) < 0.05
    assert [s.id for s in bench_site(site, 2).flood_stations] == ids[:2]


def test_series_are_plausible_and_seeded(site: SiteConfig) -> None:
    times = np.arange(0, 30 * 86_400, 300, dtype=np.float64)
    station = site.flood_stations[0]
    a, b = station_series(station, times, seed=3), station_series(station, times, seed=3)
    assert set(a) == set(METRICS)
    for metric in METRICS:
        assert a[metric].shape == times.shape and np.array_equal(a[metric], b[metric])
    assert a["water_level_m"].min() > 0 and a["water_level_m"].max() > station.alarm_levels.I  # some floods
    assert a["rainfall_mm"].min() >= 0
    assert 3.5 < a["battery_v"].mean() < 4.2
    assert -110 < a["signal_dbm"].mean() < -60


@pytest.mark.services
def test_history_crossings_and_kpis_land_with_their_rollups(pg_dsn: str, site: SiteConfig) -> None:
    wide = bench_site(site, 6)
    report = load_history(pg_dsn, wide, days=2, end=END)
    per_series = 2 * 86_400 // 300
    assert report.series == 6 * 4 and report.rows == 6 * 4 * per_series
    crossings = load_crossings(pg_dsn, wide, days=2, end=END)
    figures = asyncio.run(load_kpis(pg_dsn, wide, years=1, end=END.date()))
    with psycopg.connect(pg_dsn) as conn:
        raw, newest = conn.execute("SELECT count(*), max(time) FROM sensor_readings").fetchone() or (0, None)
        assert raw == report.rows and newest == END
        for table in ("sensor_readings_1m", "sensor_readings_1h", "sensor_readings_1d"):
            total = conn.execute(f"SELECT sum(n) FROM {table}").fetchone()
            assert total is not None and total[0] == report.rows, table
        hourly = conn.execute(
            "SELECT count(*) FROM sensor_readings_1h WHERE station_id = %s AND metric = 'water_level_m'",
            (wide.flood_stations[0].id,),
        ).fetchone()
        assert hourly is not None and 48 <= hourly[0] <= 49
        lines, last = conn.execute("SELECT count(*), max(crossed_at) FROM line_crossings").fetchone() or (
            0,
            None,
        )
        counted = conn.execute("SELECT sum(n) FROM line_counts_1m").fetchone()
        assert lines == crossings.rows > 0 and counted is not None and counted[0] == lines
        assert last is not None and last <= END + timedelta(minutes=1)
        kpis = conn.execute("SELECT count(*), max(period_start) FROM kpi_values").fetchone()
        assert kpis is not None and kpis[0] == figures > 0 and kpis[1] < END


def test_callback_requests_follow_the_dash_dependencies() -> None:
    deps = [
        {
            "output": "clock.children",
            "inputs": [{"id": "clock-tick", "property": "n_intervals"}],
            "state": [],
            "clientside_function": {"namespace": "x", "function_name": "f"},
        },
        {
            "output": "page-content.children",
            "inputs": [{"id": "url", "property": "pathname"}],
            "state": [{"id": "lang", "property": "data"}],
        },
        {
            "output": "..a.children...b.className..",
            "inputs": [{"id": "tick", "property": "n_intervals"}],
            "state": [{"id": "lang", "property": "data"}],
        },
        {"output": "url.pathname", "inputs": [{"id": "rotate-tick", "property": "n_intervals"}], "state": []},
        {"output": "ack-status.children", "inputs": [{"id": "ack-request", "property": "data"}], "state": []},
    ]
    found = wall_callbacks(deps)
    assert list(found) == ["callback: page-content.children", "callback: a.children"]
    body = callback_request(found["callback: a.children"], {"lang.data": "en"})
    assert body["outputs"] == [{"id": "a", "property": "children"}, {"id": "b", "property": "className"}]
    assert body["inputs"] == [{"id": "tick", "property": "n_intervals", "value": 1}]
    assert body["state"] == [{"id": "lang", "property": "data", "value": "en"}]


@pytest.mark.services
@pytest.mark.parametrize("flavour", ["plain", "timescale"])
def test_loader_leaves_the_unfinished_buckets_alone_and_analyzes_what_holds_the_rows(
        endpoints: object, site: SiteConfig, flavour: str) -> None:
    # Regression (issue 11, defect 4): the loader ran ANALYZE on the continuous aggregates (skipped with a
    # notice: no statistics) and materialised the current, unfinished hour and day, which the writes after it
    # never corrected. Now only finished buckets are materialised, and the materialisation hypertables
    # analysed.
    import uuid

    from ioc.events import utcnow
    from ioc.store.migrate import migrate

    base = endpoints.postgres_owner_dsn  # type: ignore[attr-defined]
    name = f"ioc_test_{flavour}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = psycopg.conninfo.make_conninfo(base, dbname=name)
    try:
        migrate(dsn, timescale="on" if flavour == "timescale" else "off")
        small = bench_site(site, 2)
        now = utcnow()
        load_history(dsn, small, days=2, interval_s=600, end=now)
        load_crossings(dsn, small, days=1, end=now)
        if flavour == "plain":
            return  # plain rollup tables are upserted by every later write: nothing to check beyond the load
        with psycopg.connect(dsn, autocommit=True) as conn:
            mats = dict(conn.execute(
                "SELECT view_name, format('%I.%I', materialization_hypertable_schema, "
                "materialization_hypertable_name) FROM timescaledb_information.continuous_aggregates"
            ).fetchall())
            newest = {view: conn.execute(
                f"SELECT max(bucket) FROM {mats[view]}").fetchone()[0]  # type: ignore[index]
                      for view in ("sensor_readings_1m", "sensor_readings_1h", "sensor_readings_1d",
                                   "line_counts_1m")}
            analysed = {view: conn.execute(
                "SELECT count(*) FROM pg_stats WHERE schemaname || '.' || tablename = %s",
                (mats[view].replace('"', ""),)).fetchone()[0]  # type: ignore[index]
                for view in mats}
        floors = {"sensor_readings_1m": timedelta(minutes=1), "sensor_readings_1h": timedelta(hours=1),
                  "sensor_readings_1d": timedelta(days=1), "line_counts_1m": timedelta(minutes=1)}
        for view, width in floors.items():
            step = width.total_seconds()
            current = datetime.fromtimestamp(now.timestamp() // step * step, UTC)
            assert newest[view] is not None and newest[view] < current, view  # the bucket of now stays open
        assert all(n > 0 for n in analysed.values()), analysed  # statistics where the rows are
    finally:
        drop_database(name)
