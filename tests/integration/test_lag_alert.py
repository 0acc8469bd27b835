"""A worker that falls behind does not do so silently: a backlog built while the flood worker is stopped shows as
consumer lag on its /metrics and /healthz as soon as it starts, opens the lag alert once the lag has been held,
and the alert resolves, once and as the same occurrence, when the worker has caught up.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from kafka import KafkaConsumer

from ioc import topics
from ioc.app.endpoints import Endpoints
from ioc.app.processes import running
from ioc.app.runtime.kafka import EventProducer, client_options, ensure_topics
from ioc.events import AlertEvent, SensorReading, decode, utcnow

pytestmark = pytest.mark.services
BACKLOG = 10_000
THRESHOLD = 1_000
KEY = "pipeline:flood:lag"
STATIONS = ("NS-01", "MT-01", "MP-01", "NN-01")  # the sample site's stations


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def env(endpoints: Endpoints, pg_dsn: str, site_dir: Path,
        kafka_namespace: Callable[[str], str]) -> Iterator[dict[str, str]]:
    env = {**os.environ, "IOC_KAFKA_NAMESPACE": kafka_namespace("l"), "IOC_DATABASE_URL": pg_dsn,
           "IOC_SITE": str(site_dir), "IOC_LOG_LEVEL": "WARNING", "IOC_TICK_INTERVAL_S": "1",
           "IOC_METRICS_PORT": str(free_port()), "IOC_LAG_INTERVAL_S": "0.5", "IOC_LAG_THRESHOLD": str(THRESHOLD),
           "IOC_LAG_HOLD_S": "1", "IOC_LAG_CLEAR_S": "1", "IOC_LAG_STALL_S": "20"}
    ensure_topics(endpoints.kafka_bootstrap, auth=endpoints.kafka_auth, namespace=env["IOC_KAFKA_NAMESPACE"])
    yield env


def backlog(n: int) -> list[SensorReading]:
    """Readings a day old, one a minute per station, levels well below any alarm."""
    start = utcnow().replace(microsecond=0) - timedelta(days=1)
    return [SensorReading.create(STATIONS[i % len(STATIONS)], start + timedelta(seconds=60 * (i // len(STATIONS))),
                                 {"water_level_m": 0.5}, source="test") for i in range(n)]


def get(port: int, path: str) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return str(resp.read().decode())
    except (urllib.error.URLError, ConnectionError):
        return None  # not serving yet


def total_lag(metrics: str | None) -> int | None:
    found = re.search(r'^ioc_consumer_lag_total_messages\{worker="flood"\} (\S+)$', metrics or "", re.M)
    return int(float(found.group(1))) if found else None


class AlertLog:
    """The lag alert's transitions as they arrive on the namespace's alerts topic."""

    def __init__(self, endpoints: Endpoints, namespace: str) -> None:
        self.consumer = KafkaConsumer(topics.ALERTS.kafka_name(namespace), bootstrap_servers=endpoints.kafka_bootstrap,
                                      auto_offset_reset="earliest", group_id=None,
                                      **client_options(endpoints.kafka_auth))
        self.seen: list[AlertEvent] = []

    def poll(self) -> list[AlertEvent]:
        for records in self.consumer.poll(timeout_ms=200).values():
            for record in records:
                event = decode(record.value)
                if isinstance(event, AlertEvent) and event.alert_key == KEY:
                    self.seen.append(event)
        return self.seen


def wait_for(what: str, check: Callable[[], bool], logs: Path, timeout: float = 180, port: int = 0) -> None:
    """Wait for ``check``; on a timeout fail with the processes' logs and the worker's /healthz (``port``)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-12000:]}" for p in logs.glob("*.log"))
            health = get(port, "/healthz") if port else None
            pytest.fail(f"timed out waiting for {what}\n{tails}\n--- /healthz\n{health}")
        time.sleep(0.2)


def send_backlog(endpoints: Endpoints, namespace: str) -> None:
    producer = EventProducer(endpoints.kafka_bootstrap, auth=endpoints.kafka_auth, namespace=namespace)
    for reading in backlog(BACKLOG):
        producer.send(reading)
    producer.flush()
    producer.close()


def stored(pg_dsn: str) -> list[tuple[str, str, str, str]]:
    with psycopg.connect(pg_dsn) as conn:
        return [(str(a), str(b), str(c), str(d)) for a, b, c, d in conn.execute(
            "SELECT status, source_kind, source_id, message_key FROM alerts WHERE alert_key = %s", (KEY,))]


def test_backlog_shows_as_lag_opens_the_alert_and_resolves_it_when_caught_up(
    endpoints: Endpoints, env: dict[str, str], pg_dsn: str, tmp_path: Path
) -> None:
    """The flood worker's lag alert, through the writer into the alerts table like any other alert."""
    send_backlog(endpoints, env["IOC_KAFKA_NAMESPACE"])
    port = int(env["IOC_METRICS_PORT"])
    alerts = AlertLog(endpoints, env["IOC_KAFKA_NAMESPACE"])
    peak = 0
    try:
        writer = ["worker", "writer", "--metrics-port", str(free_port())]  # its own port: the option wins
        with running({"flood": ["worker", "flood"], "writer": writer}, env, tmp_path):
            def lag_seen() -> bool:
                nonlocal peak
                peak = max(peak, total_lag(get(port, "/metrics")) or 0)
                return peak > THRESHOLD

            wait_for("the backlog on /metrics", lag_seen, tmp_path)
            wait_for("the lag alert to open", lambda: bool(alerts.poll()), tmp_path)
            assert alerts.seen[0].transition.value == "opened"
            assert alerts.seen[0].source_kind == "pipeline" and alerts.seen[0].source_id == "flood"
            assert alerts.seen[0].params["threshold"] == THRESHOLD and (alerts.seen[0].value or 0) > THRESHOLD

            wait_for("the lag alert to resolve", lambda: alerts.poll()[-1].transition.value == "resolved",
                     tmp_path)
            health = json.loads(get(port, "/healthz") or "{}")
            metrics = get(port, "/metrics") or ""
            wait_for("the writer to store the resolution", lambda: [r[0] for r in stored(pg_dsn)] == ["resolved"],
                     tmp_path)
    finally:
        alerts.consumer.close()

    opened, resolved = alerts.seen
    assert resolved.alert_id == opened.alert_id  # the resolution closes the occurrence that opened
    assert stored(pg_dsn) == [("resolved", "pipeline", "flood", "alert.pipeline.lag.resolved")]
    assert int(resolved.value or 0) <= THRESHOLD // 2 and int(resolved.params["peak"]) >= int(opened.value or 0)
    assert health["status"] == "ok"
    lag = health["lag"]
    assert lag["ok"] is True and lag["alert_open"] is False and lag["worker"] == "flood", lag
    assert lag["lag"] <= THRESHOLD // 2
    readings = topics.SENSOR_READINGS
    assert sorted((p["topic"], p["partition"]) for p in lag["partitions"]) == [
        (readings.kafka_name(env["IOC_KAFKA_NAMESPACE"]), p) for p in range(readings.partitions)]
    assert sum(p["end"] for p in lag["partitions"]) >= BACKLOG  # every reading sent (and the ticks) counted
    for p in range(readings.partitions):
        topic = readings.kafka_name(env["IOC_KAFKA_NAMESPACE"])
        assert re.search(rf'^ioc_consumer_lag_messages\{{partition="{p}",topic="{topic}",'
                         rf'worker="flood"\}} \S+$', metrics, re.M), metrics
    assert re.search(r'^ioc_consumer_lag_alert_open\{worker="flood"\} 0\.0$', metrics, re.M), metrics


def test_an_alert_open_when_the_worker_stopped_is_resolved_by_the_next_one(
    endpoints: Endpoints, env: dict[str, str], tmp_path: Path
) -> None:
    """Regression: the lag alert lived only in the process that opened it; a worker restarted after (or while)
    catching up never resolved it, and one restarted while still behind opened a second occurrence."""
    send_backlog(endpoints, env["IOC_KAFKA_NAMESPACE"])
    alerts = AlertLog(endpoints, env["IOC_KAFKA_NAMESPACE"])
    try:
        # First run: the alert opens, and cannot resolve in this run (an hour of clear time).
        with running({"flood": ["worker", "flood"]}, {**env, "IOC_LAG_CLEAR_S": "3600"}, tmp_path):
            wait_for("the lag alert to open", lambda: bool(alerts.poll()), tmp_path)
        # Second run: it takes the open alert up from the alerts topic and resolves that occurrence. Faust's
        # own INFO lines (assignment, recovery, commits) are in its log if it ever stalls again.
        with running({"flood": ["worker", "flood"]}, {**env, "IOC_LOG_LEVEL": "INFO"}, tmp_path):
            wait_for("the lag alert to resolve", lambda: alerts.poll()[-1].transition.value == "resolved",
                     tmp_path, port=int(env["IOC_METRICS_PORT"]))
    finally:
        alerts.consumer.close()
    assert [e.transition.value for e in alerts.seen] == ["opened", "resolved"], alerts.seen
    assert alerts.seen[1].alert_id == alerts.seen[0].alert_id


def test_lag_status_shows_a_stopped_workers_backlog(endpoints: Endpoints, env: dict[str, str]) -> None:
    """`ioc lag status` asks the brokers itself: with no worker running, the whole backlog is waiting."""
    from typer.testing import CliRunner

    from ioc.app.cli.main import app

    namespace = env["IOC_KAFKA_NAMESPACE"]
    producer = EventProducer(endpoints.kafka_bootstrap, auth=endpoints.kafka_auth, namespace=namespace)
    for reading in backlog(150):
        producer.send(reading)
    producer.flush()
    producer.close()
    runner = CliRunner()
    lag_env = {"IOC_LAG_THRESHOLD": "100", "IOC_KAFKA_NAMESPACE": namespace}
    result = runner.invoke(app, ["lag", "status", "--worker", "flood", "--json"], env=lag_env)
    assert result.exit_code == 0, result.output
    (flood,) = json.loads(result.stdout)
    assert (flood["worker"], flood["lag"], flood["ok"], flood["judged_here"]) == ("flood", 150, False, False)
    assert [p["committed"] for p in flood["partitions"]] == [None] * topics.SENSOR_READINGS.partitions
    result = runner.invoke(app, ["lag", "status", "--lang", "en"], env=lag_env)
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "flood: 150 messages waiting, above the threshold 100." in text
    assert "alerts: 0 messages waiting, below the threshold." in text
