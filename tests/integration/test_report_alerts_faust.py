"""Citizens' reports' deadlines in the distributed runtime: the leader of `ioc worker alerts` relays the reports'
trail from PostgreSQL onto Kafka, its ticks open the overdue report's alert, and the writer stores it; resolving the
report resolves the alert."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from analytics.reports import Action, Status, next_status
from ioc.app.endpoints import Endpoints
from ioc.app.processes import running
from ioc.events import utcnow
from ioc.store.reports import NewReport, ReportStore

pytestmark = pytest.mark.services


def alert(dsn: str, key: str) -> tuple[object, ...] | None:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT status, severity, area_code FROM alerts WHERE alert_key = %s", (key,)).fetchone()


def kpi_rows(dsn: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT kpi_id, unit_code, value FROM kpi_values WHERE source = 'reports'").fetchall()


def test_an_overdue_report_alerts_through_kafka_and_faust(endpoints: Endpoints, pg_dsn: str, site_dir: Path,
                                                          tmp_path: Path,
                                                          kafka_namespace: Callable[[str], str]) -> None:
    env = {**os.environ, "IOC_KAFKA_NAMESPACE": kafka_namespace("r"), "IOC_DATABASE_URL": pg_dsn,
           "IOC_SITE": str(site_dir), "IOC_LOG_LEVEL": "WARNING", "IOC_TICK_INTERVAL_S": "1"}
    with ConnectionPool(pg_dsn, min_size=1, max_size=2, open=True) as pool:
        store = ReportStore(pool)
        report = store.submit(NewReport(
            category="flooding_landslide", description="Sạt lở taluy", lon=103.08, lat=21.75,
            location_source="operator", commune_code="03172", unit_id="ubnd-na-sang",
            deadline=utcnow() - timedelta(hours=1), channel="operator", created_by="lo-thi-mai"))
        key = f"report:{report.code}:deadline"
        with running({"alerts": ["worker", "alerts"], "writer": ["worker", "writer"]}, env, tmp_path) as logs:
            deadline = time.monotonic() + 180
            while alert(pg_dsn, key) != ("open", "major", "03172"):
                assert time.monotonic() < deadline, logs[0].read_text(errors="replace")[-3000:]
                time.sleep(0.5)
            for action in (Action.ASSIGN, Action.RESOLVE):
                store.step(report.code, action.value, actor="lo-thi-mai", note="Đã xử lý",
                           decide=lambda s, a=action: next_status(Status(s), a).value)
            deadline = time.monotonic() + 120
            while (got := alert(pg_dsn, key)) is None or got[0] != "resolved":
                assert time.monotonic() < deadline, logs[0].read_text(errors="replace")[-3000:]
                time.sleep(0.5)
            # The leader also sent the reports' KPIs of this month (the report was due in it, resolved late).
            deadline = time.monotonic() + 60
            while not (kpis := kpi_rows(pg_dsn)):
                assert time.monotonic() < deadline, logs[0].read_text(errors="replace")[-3000:]
                time.sleep(0.5)
            assert ("reports_on_time_pct", "03172", 0.0) in kpis
