"""The demo's year view, the regression of issue 15 (item 9): with the demo's simulated KPI history, the unfinished
year was compared with the whole of the previous one and every commune showed about -30. Like for like (the same
months, the yearly reports not due yet), the index moves by the few points the simulated progress gives."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest
from psycopg_pool import ConnectionPool

from dashboards.leaders_data import Period, PostgresLeadersData
from ioc.app.sim import simulated_kpi_history
from ioc.config.models import SiteConfig
from ioc.store.writer import Writer

pytestmark = pytest.mark.services

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)  # the day the issue was filed
TODAY = date(2026, 12, 3)


@pytest.fixture(scope="module")
def demo_history(pg_dsn: str, site: SiteConfig) -> None:
    async def write() -> None:
        writer = await Writer.open(pg_dsn)
        try:
            report = await writer.write(simulated_kpi_history(site, NOW))
        finally:
            await writer.close()
        assert not report.rejected, report

    asyncio.run(write())


def test_the_demo_year_so_far_is_compared_like_for_like(pg_dsn: str, site: SiteConfig, demo_history: None) -> None:
    with ConnectionPool(pg_dsn, min_size=1, max_size=2, open=True) as pool:
        data = PostgresLeadersData(pool, site)
        assert data.periods("year", [])[0] == Period(2026, "year", 1)
        report = data.report(Period(2026, "year", 1), [], today=TODAY)
    assert report.period == Period(2026, "year", 1, 11) and report.label("vi") == "Năm 2026 (đến nay: tháng 1-11)"
    changes = {s.unit.code: s.index_change for s in report.scores}
    assert len(changes) == 5 and all(c is not None and -8 < c < 15 for c in changes.values()), changes
    # The yearly indicators are not due in 2026 yet: shown as such, out of the index and its comparison.
    lines = {ln.kpi.id: ln for ln in report.scores[0].lines}
    assert not lines["households_online_pct"].due and lines["dossiers_on_time_pct"].due
    assert lines["dossiers_on_time_pct"].reports == 11 and lines["online_procedures_l4_count"].reports == 3
