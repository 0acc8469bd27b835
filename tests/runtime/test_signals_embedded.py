"""Public signals in the embedded runtime, as ``ioc demo`` runs them: the simulated stream (marked simulated, the
same for the same start, matched like fetched items) into the real PostgreSQL, and its burst raising a spike alert
through the rule engine."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from analytics.alerts import AlertProcessor
from ioc.app.runtime.demo import drive_feeds
from ioc.app.runtime.embedded import EmbeddedPlatform
from ioc.app.sim_signals import SIM_URL, feed_simulator
from ioc.app.site import SiteRuntime
from ioc.config.loader import load_site
from ioc.events import AlertTransition, utcnow

T0 = datetime(2026, 9, 14, 6, 0, tzinfo=UTC)


@pytest.fixture
def runtime(site_dir: Path) -> SiteRuntime:
    return SiteRuntime.build(load_site(site_dir), site_dir)


def test_stream_is_plausible_marked_and_repeatable(runtime: SiteRuntime) -> None:
    sim = feed_simulator(runtime.config)
    assert sim is not None
    items = list(sim.between(T0 - timedelta(days=2), T0))
    again = list(sim.between(T0 - timedelta(days=2), T0))
    assert [i.event_id for i in items] == [i.event_id for i in again]
    assert 60 <= len(items) <= 140  # one every 30 min on average
    assert all(i.simulated and i.url.startswith(SIM_URL) for i in items)
    assert all(T0 - timedelta(days=2) < i.fetched_at <= T0 for i in items)
    matched = [i for i in items if i.matches]
    assert 0.15 * len(items) < len(matched) < 0.5 * len(items)  # about 30 % are about a hazard
    # The traps of the templates (lũ trẻ, ngập tràn, chạy việt dã) never match.
    assert not [i.title for i in matched if "Lũ trẻ" in i.title or "ngập tràn" in i.title or "chạy" in i.title]


def test_the_burst_is_a_spike(runtime: SiteRuntime) -> None:
    sim = feed_simulator(runtime.config)
    assert sim is not None
    proc = AlertProcessor(runtime.alerts)
    alerts = [a for item in sim.burst(T0) for a in proc.handle(item)]
    opened = [a for a in alerts if a.transition is AlertTransition.OPENED]
    assert [a.alert_key for a in opened] == ["public_signal:03172:landslide"]


@pytest.mark.services
async def test_demo_stream_stored_and_alerting(runtime: SiteRuntime, pg_dsn: str) -> None:
    sim = feed_simulator(runtime.config)
    assert sim is not None
    platform = EmbeddedPlatform(runtime, pg_dsn)
    await platform.start()
    stop = threading.Event()
    stop.set()  # history and burst only, no waiting for new items
    try:
        sent = await drive_feeds(platform, sim, utcnow(), stop)
        await platform.bus.drain()
    finally:
        await platform.stop()
    with psycopg.connect(pg_dsn) as conn:
        stored = conn.execute("SELECT count(*), bool_and(simulated) FROM feed_items").fetchone()
        spike = conn.execute(
            "SELECT status, area_code, source_kind FROM alerts WHERE alert_key = 'public_signal:03172:landslide'"
        ).fetchone()
    assert stored == (sent, True)
    assert spike == ("open", "03172", "public_signal")
