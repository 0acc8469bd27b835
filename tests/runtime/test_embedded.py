"""The embedded runtime: the flood slice on the in-process bus, into the real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from ingest.flood import encode_reading
from ioc.app.runtime.embedded import EmbeddedPlatform
from ioc.app.site import SiteRuntime
from ioc.config.loader import load_site
from ioc.events import utcnow
from tests.flood_scenario import (
    EXPECTED_ALERTS,
    EXPECTED_DEAD_REASONS,
    EXPECTED_NN01_HISTORY,
    EXPECTED_NS01_HISTORY,
    NS01_LEVELS,
    bad_messages,
    messages,
)

pytestmark = pytest.mark.services


@pytest.fixture
def runtime(site_dir: Path) -> SiteRuntime:
    return SiteRuntime.build(load_site(site_dir), site_dir)


async def test_flood_slice_in_the_embedded_runtime(runtime: SiteRuntime, pg_dsn: str) -> None:
    platform = EmbeddedPlatform(runtime, pg_dsn)
    await platform.start()
    start = utcnow().replace(microsecond=0) - timedelta(minutes=30)
    good = messages(runtime.topics, start)
    try:
        for topic, payload in good[:5]:
            await platform.ingest(topic, payload)
        for topic, payload in bad_messages(runtime.topics):
            await platform.ingest(topic, payload)
        for topic, payload in good[5:]:
            await platform.ingest(topic, payload)
        await platform.bus.drain()
    finally:
        await platform.stop()

    with psycopg.connect(pg_dsn) as conn:
        n_rows = conn.execute("SELECT count(*) FROM sensor_readings WHERE metric = 'water_level_m'").fetchone()
        history = {
            key: [t for (t,) in conn.execute(
                "SELECT transition FROM alert_events WHERE alert_key = %s ORDER BY at", (key,))]
            for key in ("flood:NS-01:level", "flood:NN-01:level")
        }
        alerts = conn.execute("SELECT alert_key, status, severity FROM alerts ORDER BY alert_key").fetchall()
        reasons = sorted(r for (r,) in conn.execute("SELECT reason FROM dead_letters"))
    assert n_rows == (len(good),)
    assert history == {"flood:NS-01:level": EXPECTED_NS01_HISTORY, "flood:NN-01:level": EXPECTED_NN01_HISTORY}
    assert alerts == EXPECTED_ALERTS
    assert reasons == EXPECTED_DEAD_REASONS
    live = platform.live.latest_readings()
    assert live["NS-01"].values["water_level_m"] == NS01_LEVELS[-1]


async def test_restart_does_not_reopen_an_open_alert(runtime: SiteRuntime, pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE sensor_readings, alerts, alert_events, dead_letters, processor_state")
    start = utcnow().replace(microsecond=0) - timedelta(minutes=20)
    topic = runtime.topics.for_station("NN-01")
    first = EmbeddedPlatform(runtime, pg_dsn)
    await first.start()
    await first.ingest(topic, encode_reading(start, {"water_level_m": 2.5}))
    await first.bus.drain()
    await first.stop()

    second = EmbeddedPlatform(runtime, pg_dsn)  # a new process: state comes back from the database
    await second.start()
    await second.ingest(topic, encode_reading(start + timedelta(minutes=1), {"water_level_m": 2.6}))
    await second.bus.drain()
    await second.stop()
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute("SELECT transition FROM alert_events ORDER BY at").fetchall()
    assert rows == [("opened",)]


async def test_time_raises_a_silent_station_and_a_missing_report(runtime: SiteRuntime, pg_dsn: str) -> None:
    """What only time decides runs in the embedded ticker too: the same keys as the distributed workers."""
    import asyncio

    from analytics.kpi import TZ, month_start
    from ioc.events import KpiValue, PeriodKind, stable_id

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE sensor_readings, alerts, alert_events, dead_letters, processor_state")
    local = utcnow().astimezone(TZ)
    july = month_start(local.year, local.month - 4)
    platform = EmbeddedPlatform(runtime, pg_dsn, tick_interval_s=0.2)
    await platform.start()
    try:
        await platform.ingest(runtime.topics.for_station("NS-01"),
                              encode_reading(utcnow() - timedelta(hours=2), {"water_level_m": 1.0}))
        await platform.bus.publish(KpiValue(event_id=stable_id("k", july), kpi_id="dossiers_on_time_pct",
                                            unit_code="03172", period_kind=PeriodKind.MONTH, period_start=july,
                                            value=99.0, source="test"))
        await platform.bus.drain()
        await asyncio.sleep(1.5)  # several ticks
        await platform.bus.drain()
    finally:
        await platform.stop()
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute("SELECT alert_key, transition, severity FROM alert_events WHERE alert_key LIKE '%%silent' "
                            "OR alert_key LIKE '%%missing_report' ORDER BY alert_key").fetchall()
    # Silence counts from the reading's own time (two hours ago, past NS-01's 1800 s); July is three months late.
    assert rows == [("flood:NS-01:silent", "opened", "major"),
                    ("kpi:dossiers_on_time_pct:03172:missing_report", "opened", "major")]


async def test_a_rain_gauge_alerts_in_the_embedded_runtime(runtime: SiteRuntime, pg_dsn: str) -> None:
    """The rain-gauge-only source (analytics/sources/rain_gauge.py) has no wiring of its own: its gauge's readings
    pass ingest on the flood topics, and its rules open and escalate on the bus into the database."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE sensor_readings, alerts, alert_events, dead_letters, processor_state")
    start = utcnow().replace(microsecond=0) - timedelta(minutes=30)
    topic = runtime.topics.for_station("NS-11")
    platform = EmbeddedPlatform(runtime, pg_dsn)
    await platform.start()
    try:
        for i, mm in enumerate([10.0, 15.0, 30.0]):  # 1 h and 24 h totals: 10, 25, 55 mm
            await platform.ingest(topic, encode_reading(start + timedelta(minutes=10 * i), {"rainfall_mm": mm}))
        await platform.bus.drain()
    finally:
        await platform.stop()
    with psycopg.connect(pg_dsn) as conn:
        alerts = conn.execute(
            "SELECT alert_key, status, severity FROM alerts WHERE source_kind = 'rain_gauge' ORDER BY alert_key"
        ).fetchall()
        history = conn.execute(
            "SELECT transition FROM alert_events WHERE alert_key = 'rain_gauge:NS-11:rain-24h' ORDER BY at"
        ).fetchall()
        dead = conn.execute("SELECT count(*) FROM dead_letters").fetchone()
    assert alerts == [("rain_gauge:NS-11:rain-1h", "open", "major"), ("rain_gauge:NS-11:rain-24h", "open", "warning")]
    assert history == [("opened",), ("escalated",)]  # above 15 mm (mưa vừa), then above 50 mm (mưa to)
    assert dead == (0,)
