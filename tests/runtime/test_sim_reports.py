"""The demo's simulated citizens' reports: plausible, marked simulated, routed like real ones, their steps in order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from analytics.reports import Status, route
from ioc.app.sim_reports import ACTOR, report_simulator
from ioc.config.loader import load_site
from ioc.geo import AreaIndex
from ioc.store.reports import ReportStore

pytestmark = pytest.mark.services
NOW = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)  # a Thursday, 10:00 in Điện Biên


@pytest.fixture
def store(pg_dsn: str) -> Iterator[ReportStore]:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE reports, report_events, report_photos, report_rejections, audit_log CASCADE")
    with ConnectionPool(pg_dsn, min_size=1, max_size=2, timeout=10, open=True) as pool:
        yield ReportStore(pool)


def test_a_week_of_simulated_reports(store: ReportStore, site_dir: Path, pg_dsn: str) -> None:
    site = load_site(site_dir)
    index = AreaIndex.from_site(site, site_dir)
    sim = report_simulator(site, index, ZoneInfo(site.site.timezone), store)
    assert sim is not None and site.reports is not None
    made = sim.between(NOW - timedelta(days=7), NOW, NOW)
    reports = store.search(limit=1000)
    assert made == len(reports) >= 40  # about one every 1.5 h by day, fewer at night
    assert all(r.simulated and r.created_by == ACTOR and r.phone is None for r in reports)
    assert {r.commune_code for r in reports} <= set(site.report_communes())
    for r in reports:
        assert index.contains(r.commune_code, r.lon, r.lat)
        assert r.unit_id == route(site.reports, r.category, r.commune_code)
        assert r.deadline > r.created_at
    statuses = {r.status for r in reports}
    assert {Status.RESOLVED.value, Status.RECEIVED.value} <= statuses  # old ones handled, the newest not yet
    resolved = [r for r in reports if r.status == Status.RESOLVED.value]
    late = [r for r in resolved if r.closed_at is not None and r.closed_at > r.deadline]
    assert resolved and len(late) < len(resolved) / 2  # most on time, some late
    for r in reports:
        trail = store.events(r.code)
        times = [e.at for e in trail]
        assert times == sorted(times) and all(t <= NOW for t in times)
    # The same start gives the same stream.
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE reports, report_events, report_photos, report_rejections, audit_log CASCADE")
    assert sim.between(NOW - timedelta(days=7), NOW, NOW) == made
    assert sorted(r.category for r in store.search(limit=1000)) == sorted(r.category for r in reports)


def test_a_simulated_report_says_so_on_its_public_page(store: ReportStore, site_dir: Path) -> None:
    from dashboards.report_form import _status_page

    site = load_site(site_dir)
    sim = report_simulator(site, AreaIndex.from_site(site, site_dir), ZoneInfo(site.site.timezone), store)
    assert sim is not None and site.reports is not None
    sim.between(NOW - timedelta(days=1), NOW, NOW)
    report = store.search(limit=1)[0]
    zone = ZoneInfo(site.site.timezone)
    for lang, words in (("vi", "mô phỏng (bản trình diễn)"), ("en", "simulated (demo)")):
        page = _status_page(lang, site, site.reports, zone, report, store.events(report.code), [], False)
        assert words in page
