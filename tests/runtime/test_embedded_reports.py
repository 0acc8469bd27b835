"""Citizens' reports' deadlines through the embedded runtime and the real PostgreSQL: the relay reads the trail,
the ticks open the alerts (at the unit's area, with the duty roster's first message in the outbox), a resolved
report resolves its alert, and a restart neither reopens nor loses anything."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from analytics.reports import Action, Status, next_status
from ioc.app.runtime.embedded import EmbeddedPlatform
from ioc.app.site import SiteRuntime
from ioc.config.loader import load_site
from ioc.events import utcnow
from ioc.store.reports import NewReport, ReportStore

pytestmark = pytest.mark.services


@pytest.fixture
def runtime(site_dir: Path) -> SiteRuntime:
    return SiteRuntime.build(load_site(site_dir), site_dir)


def new(deadline_in: timedelta, unit: str = "ubnd-na-sang") -> NewReport:
    return NewReport(category="flooding_landslide", description="Sạt lở taluy", lon=103.08, lat=21.75,
                     location_source="operator", commune_code="03172", unit_id=unit,
                     deadline=utcnow() + deadline_in, channel="operator", created_by="lo-thi-mai")


def alerts(dsn: str) -> list[tuple[str, str, str, str | None]]:
    with psycopg.connect(dsn) as conn:
        return [(k.split(":")[1], s, sev, area) for k, s, sev, area in conn.execute(
            "SELECT alert_key, status, severity, area_code FROM alerts WHERE source_kind = 'report' "
            "ORDER BY severity, area_code")]


async def test_report_deadlines_alert_through_the_embedded_runtime(runtime: SiteRuntime, pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE reports, report_events, report_photos, report_sms, alerts, alert_events, notify_outbox, "
                     "processor_state")
    with ConnectionPool(pg_dsn, min_size=1, max_size=2, open=True) as pool:
        store = ReportStore(pool)
        overdue = store.submit(new(-timedelta(hours=1), unit="cong-an-tinh"))
        soon = store.submit(new(timedelta(hours=3)))
        later = store.submit(new(timedelta(days=5)))
        platform = EmbeddedPlatform(runtime, pg_dsn, tick_interval_s=3600)
        await platform.start()
        try:
            await platform.tick()
            await platform.bus.drain()
            assert alerts(pg_dsn) == [(overdue.code, "open", "major", "11"), (soon.code, "open", "warning", "03172")]
            store.step(soon.code, "assign", actor="lo-thi-mai",
                       decide=lambda s: next_status(Status(s), Action.ASSIGN).value)
            store.step(soon.code, "resolve", actor="tong-van-duc", note="Đã dọn",
                       decide=lambda s: next_status(Status(s), Action.RESOLVE).value)
            await platform.tick()
            await platform.bus.drain()
        finally:
            await platform.stop()
        assert alerts(pg_dsn) == [(overdue.code, "open", "major", "11"), (soon.code, "resolved", "warning", "03172")]

        again = EmbeddedPlatform(runtime, pg_dsn, tick_interval_s=3600)  # a restart: state and cursor are kept
        await again.start()
        try:
            store.step(later.code, "reject", actor="lo-thi-mai", note="Không thuộc thẩm quyền",
                       decide=lambda s: next_status(Status(s), Action.REJECT).value)
            await again.tick()
            await again.bus.drain()
            assert again.alerts.state()["reports_open"].keys() == {overdue.code}
        finally:
            await again.stop()
    with psycopg.connect(pg_dsn) as conn:
        opened = conn.execute("SELECT alert_key, count(*) FROM alert_events WHERE transition = 'opened' "
                              "AND alert_key LIKE 'report:%%' GROUP BY alert_key").fetchall()
        first = conn.execute("SELECT DISTINCT o.alert_key, o.step FROM notify_outbox o "
                             "WHERE o.alert_key LIKE 'report:%%' AND o.step = 0").fetchall()
    assert sorted(n for _, n in opened) == [1, 1]  # the restart reopened nothing
    assert {k for k, _ in first} == {f"report:{overdue.code}:deadline", f"report:{soon.code}:deadline"}
