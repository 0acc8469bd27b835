"""Exactly-once effects over at-least-once delivery: kill the workers in the middle of a burst, restart them, and
the database holds every reading once and every alert transition once, as if nothing had happened.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from analytics.alerts import AlertProcessor
from ioc.app.endpoints import Endpoints
from ioc.app.processes import spawn, stop_all
from ioc.app.runtime.kafka import EventProducer, ensure_topics
from ioc.app.site import SiteRuntime
from ioc.config.loader import load_site
from ioc.events import SensorReading, utcnow

pytestmark = pytest.mark.services
# Large enough that the kill lands mid-burst: the writer stores ~15,000 readings/s, the flood worker ~6,000.
PER_STATION = 12_000


def scenario(runtime: SiteRuntime) -> list[SensorReading]:
    """Readings for every station, one every 10 s, with two floods each that cross all three alarm levels."""
    start = utcnow().replace(microsecond=0) - timedelta(days=2)
    out = []
    for sid, rules in runtime.rules.items():
        lo, top = rules.thresholds[0] - 1.0, rules.thresholds[2] + 0.5
        for i in range(PER_STATION):
            level = lo + (top - lo) * 0.5 * (1 - math.cos(2 * math.pi * i / (PER_STATION / 2)))
            out.append(SensorReading.create(sid, start + timedelta(seconds=10 * i),
                                            {"water_level_m": round(level, 3), "rainfall_mm": 0.2}, source="test"))
    return out


def expected_transitions(runtime: SiteRuntime, readings: list[SensorReading]) -> dict[str, list[str]]:
    """Run the pure core over the burst once, undisturbed: levels, rate of rise, rainfall and the site's rules."""
    processor = AlertProcessor(runtime.alerts)
    out: dict[str, list[str]] = {}
    for r in readings:
        for a in processor.handle(r):
            out.setdefault(a.alert_key, []).append(a.transition.value)
    return out


@pytest.fixture
def env(endpoints: Endpoints, pg_dsn: str, site_dir: Path,
        kafka_namespace: Callable[[str], str]) -> Iterator[dict[str, str]]:
    yield {**os.environ, "IOC_KAFKA_NAMESPACE": kafka_namespace("x"), "IOC_DATABASE_URL": pg_dsn,
           "IOC_SITE": str(site_dir), "IOC_LOG_LEVEL": "WARNING", "IOC_TICK_INTERVAL_S": "1"}


def start(name: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return spawn(["worker", name], env, log)


def count(dsn: str, sql: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql).fetchone()
        return int(row[0]) if row else 0


def test_killing_workers_mid_burst_loses_and_duplicates_nothing(
    endpoints: Endpoints, pg_dsn: str, site_dir: Path, env: dict[str, str], tmp_path: Path
) -> None:
    runtime = SiteRuntime.build(load_site(site_dir), site_dir)
    readings = scenario(runtime)
    want = expected_transitions(runtime, readings)
    assert sum(len(v) for k, v in want.items() if k.endswith(":level")) >= 4 * len(runtime.rules)
    # The burst is two days old: the workers' ticks, queued behind it, find every station silent once it is
    # applied, and open one silent-station alert each; a tick replayed after the kill must not open another.
    silent = [r.key(r.subject) for r in runtime.alerts.rules if r.metric == "silence_s"]
    assert len(silent) == len(runtime.rules)
    want.update({key: ["opened"] for key in silent})

    os.environ["IOC_KAFKA_NAMESPACE"] = env["IOC_KAFKA_NAMESPACE"]
    try:
        ensure_topics(endpoints.kafka_bootstrap, auth=endpoints.kafka_auth, namespace=env["IOC_KAFKA_NAMESPACE"])
        producer = EventProducer(endpoints.kafka_bootstrap, auth=endpoints.kafka_auth,
                                 namespace=env["IOC_KAFKA_NAMESPACE"])
        for r in readings:
            producer.send(r)
        producer.flush()
        producer.close()
    finally:
        del os.environ["IOC_KAFKA_NAMESPACE"]

    logs = {name: tmp_path / f"{name}.log" for name in ("flood", "writer")}
    procs = {name: start(name, env, log) for name, log in logs.items()}
    total_rows = 2 * len(readings)
    try:
        # Let the burst get going, then kill both workers without warning (no commit, no flush, no goodbye).
        deadline = time.monotonic() + 240
        while count(pg_dsn, "SELECT count(*) FROM sensor_readings") < total_rows // 5:
            assert time.monotonic() < deadline, logs["writer"].read_text(errors="replace")[-3000:]
            time.sleep(0.2)
        for p in procs.values():
            p.send_signal(signal.SIGKILL)
            p.wait(10)
        landed_before = count(pg_dsn, "SELECT count(*) FROM sensor_readings")
        assert landed_before < total_rows, "the kill came too late to test anything"

        procs = {name: start(name, env, log) for name, log in logs.items()}
        deadline = time.monotonic() + 360
        while True:
            rows = count(pg_dsn, "SELECT count(*) FROM sensor_readings")
            events = count(pg_dsn, "SELECT count(*) FROM alert_events")
            if rows == total_rows and events == sum(len(v) for v in want.values()):
                break
            assert time.monotonic() < deadline, (rows, total_rows, events, logs["flood"].read_text()[-3000:])
            time.sleep(0.5)
        time.sleep(3)  # anything still in flight would show up now as a duplicate or an extra transition
    finally:
        stop_all(procs.values())

    assert count(pg_dsn, "SELECT count(*) FROM sensor_readings") == total_rows
    with psycopg.connect(pg_dsn) as conn:
        got: dict[str, list[str]] = {}
        for key, transition in conn.execute("SELECT alert_key, transition FROM alert_events ORDER BY alert_key, at"):
            got.setdefault(key, []).append(transition)
        live = conn.execute("SELECT alert_key, count(*) FROM alerts WHERE status <> 'resolved' GROUP BY 1").fetchall()
        occurrences = dict(conn.execute("SELECT alert_key, count(*) FROM alerts GROUP BY 1").fetchall())
    assert got == want
    assert all(n == 1 for _, n in live)
    assert occurrences == {key: transitions.count("opened") for key, transitions in want.items()}
