"""Alerts that time alone raises, in the distributed runtime: a station that goes silent and a commune that stops
reporting a monthly KPI. No event of theirs arrives, so the workers' ticks (per key, through Kafka) must find them;
each opens once however many ticks pass, and resolves when the station or the report comes back.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from analytics.kpi import TZ, month_start
from ioc.app.endpoints import Endpoints
from ioc.app.processes import running
from ioc.app.runtime.kafka import EventProducer, ensure_topics
from ioc.events import KpiValue, PeriodKind, SensorReading, stable_id, utcnow

pytestmark = pytest.mark.services
STATION = "NS-01"  # silent_after_s: 1800 in the sample site
UNIT = "03172"  # Na Sang, a commune: it must report its monthly KPIs
KPI = "dossiers_on_time_pct"
SILENT_KEY = f"flood:{STATION}:silent"
MISSING_KEY = f"kpi:{KPI}:{UNIT}:missing_report"


@pytest.fixture
def env(endpoints: Endpoints, pg_dsn: str, site_dir: Path,
        kafka_namespace: Callable[[str], str]) -> Iterator[dict[str, str]]:
    env = {**os.environ, "IOC_KAFKA_NAMESPACE": kafka_namespace("t"), "IOC_DATABASE_URL": pg_dsn,
           "IOC_SITE": str(site_dir), "IOC_LOG_LEVEL": "WARNING", "IOC_TICK_INTERVAL_S": "1"}
    previous = os.environ.get("IOC_KAFKA_NAMESPACE")
    os.environ["IOC_KAFKA_NAMESPACE"] = env["IOC_KAFKA_NAMESPACE"]
    try:
        ensure_topics(endpoints.kafka_bootstrap, auth=endpoints.kafka_auth, namespace=env["IOC_KAFKA_NAMESPACE"])
        yield env
    finally:
        if previous is None:
            del os.environ["IOC_KAFKA_NAMESPACE"]
        else:
            os.environ["IOC_KAFKA_NAMESPACE"] = previous


def send(endpoints: Endpoints, env: dict[str, str], events: list[Any]) -> None:
    previous = os.environ.get("IOC_KAFKA_NAMESPACE")
    os.environ["IOC_KAFKA_NAMESPACE"] = env["IOC_KAFKA_NAMESPACE"]
    try:
        producer = EventProducer(endpoints.kafka_bootstrap, auth=endpoints.kafka_auth,
                                 namespace=env["IOC_KAFKA_NAMESPACE"])
        for event in events:
            producer.send(event)
        producer.flush()
        producer.close()
    finally:
        if previous is None:
            del os.environ["IOC_KAFKA_NAMESPACE"]
        else:
            os.environ["IOC_KAFKA_NAMESPACE"] = previous


def history(pg_dsn: str, key: str) -> list[tuple[str, str, Any, Any]]:
    with psycopg.connect(pg_dsn) as conn:
        return conn.execute("SELECT transition, severity, alert_id, at FROM alert_events WHERE alert_key = %s "
                            "ORDER BY at, transition", (key,)).fetchall()


def wait_for(what: str, check: Callable[[], bool], logs: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in logs.glob("*.log"))
            pytest.fail(f"timed out waiting for {what}\n{tails}")
        time.sleep(0.5)


def month_value(months_ago: int, value: float = 99.0) -> KpiValue:
    local = utcnow().astimezone(TZ)
    start = month_start(local.year, local.month - months_ago)
    return KpiValue(event_id=stable_id("kpi", KPI, UNIT, start), kpi_id=KPI, unit_code=UNIT,
                    period_kind=PeriodKind.MONTH, period_start=start, value=value, source="test")


def test_silent_station_and_missing_report_open_once_and_resolve(
    endpoints: Endpoints, env: dict[str, str], pg_dsn: str, tmp_path: Path
) -> None:
    now = utcnow().replace(microsecond=0)
    # NS-01 reported every 5 minutes until 2 hours ago, then nothing: silent for longer than its 1800 s.
    old = [SensorReading.create(STATION, now - timedelta(hours=3) + timedelta(minutes=5 * i),
                                {"water_level_m": 1.2}, source="test", received_at=now - timedelta(hours=3)
                                + timedelta(minutes=5 * i)) for i in range(13)]
    # Na Sang reported this KPI three months ago and then stopped: two months are overdue at least.
    send(endpoints, env, [*old, month_value(4)])

    commands = {name: ["worker", name] for name in ("flood", "alerts", "writer")}
    with running(commands, env, tmp_path):
        wait_for("the silent-station alert", lambda: len(history(pg_dsn, SILENT_KEY)) >= 1, tmp_path)
        wait_for("the missing-report alert", lambda: len(history(pg_dsn, MISSING_KEY)) >= 1, tmp_path)
        time.sleep(4)  # several more ticks pass: nothing is raised twice
        silent = history(pg_dsn, SILENT_KEY)
        missing = history(pg_dsn, MISSING_KEY)
        assert [(t, s) for t, s, _, _ in silent] == [("opened", "major")], silent
        assert [(t, s) for t, s, _, _ in missing] == [("opened", "major")], missing  # two or more months missing
        # The silent alert opened when a tick found it, not at the last reading.
        assert silent[0][3] >= now

        # The station speaks again, and the commune sends every overdue month: both alerts resolve, once.
        send(endpoints, env, [SensorReading.create(STATION, utcnow(), {"water_level_m": 1.25}, source="test")])
        send(endpoints, env, [month_value(m) for m in (3, 2, 1)])
        wait_for("both resolutions", lambda: history(pg_dsn, SILENT_KEY)[-1][0] == "resolved"
                 and history(pg_dsn, MISSING_KEY)[-1][0] == "resolved", tmp_path)
        time.sleep(3)
        silent = history(pg_dsn, SILENT_KEY)
        missing = history(pg_dsn, MISSING_KEY)
        assert [t for t, _, _, _ in silent] == ["opened", "resolved"], silent
        assert [t for t, _, _, _ in missing] == ["opened", "resolved"], missing
        assert silent[1][2] == silent[0][2] and missing[1][2] == missing[0][2]  # the same occurrence closes
        with psycopg.connect(pg_dsn) as conn:
            rows = conn.execute("SELECT alert_key, status FROM alerts WHERE alert_key = ANY(%s) ORDER BY 1",
                                ([SILENT_KEY, MISSING_KEY],)).fetchall()
        assert sorted(rows) == sorted([(SILENT_KEY, "resolved"), (MISSING_KEY, "resolved")])
