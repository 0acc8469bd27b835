"""The reports' KPIs from the store to the leaders: `ioc reports kpis` computes a month's figures by commune from
real reports in PostgreSQL, and the leaders' report scores them in the index (weights of kpis.yaml) and the
workbook export lists them."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from openpyxl import load_workbook
from psycopg_pool import ConnectionPool
from typer.testing import CliRunner

from analytics.reports import Action, Status, next_status
from dashboards.export import build_xlsx
from dashboards.leaders_data.periods import Period
from dashboards.leaders_data.postgres import PostgresLeadersData
from ioc.app.cli.main import app as cli
from ioc.config.models import SiteConfig
from ioc.store.reports import NewReport, ReportStore

pytestmark = pytest.mark.services
NOV = datetime(2026, 10, 31, 17, 0, tzinfo=UTC)  # 1 November 2026 00:00 in Vietnam


def report(store: ReportStore, commune: str, unit: str, received: datetime, deadline: datetime,
           resolve_after_h: float | None) -> None:
    new = NewReport(category="traffic", description="Ổ gà", lon=103.08, lat=21.75, location_source="commune",
                    commune_code=commune, unit_id=unit, deadline=deadline, channel="web", created_by="public",
                    received_at=received)
    code = store.submit(new).code
    if resolve_after_h is None:
        return
    for action, after in ((Action.ASSIGN, 1.0), (Action.RESOLVE, resolve_after_h)):
        store.step(code, action.value, actor="lo-thi-mai", at=received + timedelta(hours=after),
                   decide=lambda s, a=action: next_status(Status(s), a).value)


def test_report_kpis_reach_the_index_and_the_export(pool: ConnectionPool, pg_dsn: str, site: SiteConfig,
                                                     site_dir: Path) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE reports, report_events, report_photos, report_sms, kpi_values")
    store = ReportStore(pool)
    t0 = NOV + timedelta(days=3)
    for hours in (10, 30, 200):  # Na Sang: deadlines 3 days on; the third resolved late
        report(store, "03172", "ubnd-na-sang", t0, t0 + timedelta(days=3), hours)
    report(store, "03181", "ubnd-muong-tung", t0, t0 + timedelta(days=3), 12)  # Mường Tùng: on time, 12 h
    result = CliRunner().invoke(cli, ["reports", "kpis", "--month", "2026-11", "--database-url", pg_dsn,
                                      "--site", str(site_dir)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Tháng 2026-11: 4 giá trị chỉ tiêu phản ánh" in result.output
    with psycopg.connect(pg_dsn) as conn:
        stored = dict(((k, u), v) for k, u, v in conn.execute(
            "SELECT kpi_id, unit_code, value FROM kpi_values WHERE source = 'reports'"))
    assert stored == {
        ("reports_on_time_pct", "03172"): 66.67, ("reports_median_resolve_h", "03172"): 30.0,
        ("reports_on_time_pct", "03181"): 100.0, ("reports_median_resolve_h", "03181"): 12.0,
    }
    assert CliRunner().invoke(cli, ["reports", "kpis", "--month", "2026-13", "--database-url", pg_dsn,
                                    "--site", str(site_dir)]).exit_code != 0

    leaders = PostgresLeadersData(pool, site)
    nov = Period(2026, "month", 11)
    got = leaders.report(nov, [])
    by = {s.unit.code: s for s in got.scores}
    na_sang = {ln.kpi.id: ln for ln in by["03172"].lines}
    on_time, median = na_sang["reports_on_time_pct"], na_sang["reports_median_resolve_h"]
    assert (on_time.value, on_time.target) == (66.67, 90)
    assert on_time.points == pytest.approx(10 * 66.67 / 90)  # weight 10 x attainment
    assert (median.value, median.points) == (30.0, 5.0)  # under the 48 h target: full weight 5
    assert by["03172"].points == pytest.approx(on_time.points + 5.0)  # nothing else reported this month
    muong_tung = {ln.kpi.id: ln for ln in by["03181"].lines}
    assert muong_tung["reports_on_time_pct"].points == 10 and muong_tung["reports_median_resolve_h"].points == 5
    assert [s.unit.code for s in got.scores][:2] == ["03181", "03172"]
    # a month scores the monthly KPIs: the three reported ones (20 + 15 + 15) and the reports' two (10 + 5)
    assert (by["03172"].max_points, by["03172"].expected) == (65, 5)
    pa_ham = by["03193"]  # no report to judge: the reports' KPIs are left out, not 0 points
    skipped = {ln.kpi.id: ln for ln in pa_ham.lines}
    assert skipped["reports_on_time_pct"].skipped and skipped["reports_on_time_pct"].points is None
    assert (pa_ham.max_points, pa_ham.expected) == (50, 3)
    assert by["03172"].index == pytest.approx(100 * by["03172"].points / 65)

    workbook = load_workbook(io.BytesIO(build_xlsx(got, "vi", "Mường Chà", "lanh.dao", NOV)))
    cells = {str(c.value) for ws in workbook.worksheets for row in ws.iter_rows() for c in row}
    assert "Phản ánh của người dân được xử lý đúng hạn" in cells
    assert "Thời gian xử lý phản ánh (trung vị)" in cells
