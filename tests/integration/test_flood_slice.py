"""The foundation slice, distributed: MQTT -> `ioc ingest mqtt` -> Kafka -> Faust `flood` and `writer` workers ->
PostgreSQL and Redis, each a real process against the real services started by `ioc services up`.

The same scenario as the embedded test must give the same alerts; malformed messages end in the dead-letter table
while the good ones still land.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
import redis
from paho.mqtt.enums import CallbackAPIVersion

from ingest.flood import FloodTopics, encode_reading
from ioc.app.endpoints import Endpoints
from ioc.app.processes import running
from ioc.events import utcnow
from ioc.store.live import LiveReading, RedisLiveStore
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
SCHEME = FloodTopics("muong-cha")
REDIS_DB = 7


def wait_for(check: Callable[[], bool], timeout: float, what: str, logs: list[Path]) -> None:
    """Poll until ``check`` holds; on timeout fail with the tail of every process log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    tails = "\n".join(f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-30:]) for p in logs)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{tails}")


@pytest.fixture
def processes(endpoints: Endpoints, pg_dsn: str, site_dir: Path, tmp_path: Path,
              kafka_namespace: Callable[[str], str]) -> Iterator[list[Path]]:
    """Start ingest and both workers as separate `ioc` processes in a Kafka namespace of their own."""
    redis_url = endpoints.redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis.Redis.from_url(redis_url).flushdb()
    env = {
        **os.environ,
        "IOC_KAFKA_NAMESPACE": kafka_namespace("t"),
        "IOC_DATABASE_URL": pg_dsn,
        "IOC_REDIS_URL": redis_url,
        "IOC_SITE": str(site_dir),
        "IOC_LOG_LEVEL": "INFO",
    }
    commands = {
        "flood": ["worker", "flood"],
        "writer": ["worker", "writer"],
        "ingest": ["ingest", "mqtt", "--client-id", f"test-{uuid.uuid4().hex[:8]}"],
    }
    with running(commands, env, tmp_path) as logs:
        yield logs


def publish(endpoints: Endpoints, items: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:6]}")
    client.username_pw_set(endpoints.mqtt_username, endpoints.mqtt_password)
    client.connect(endpoints.mqtt_host, endpoints.mqtt_port)
    client.loop_start()
    try:
        for topic, payload in items:
            client.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()


def scalar(dsn: str, sql: str, *params: object) -> object:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql, params).fetchone()
        return row[0] if row else None


def test_flood_slice_through_mqtt_kafka_faust_postgres_redis(
    endpoints: Endpoints, pg_dsn: str, processes: list[Path]
) -> None:
    start = utcnow().replace(microsecond=0) - timedelta(hours=1)

    # The pipeline is ready when a probe reading published over MQTT lands in the database (the ingest process
    # only receives what arrives after it subscribed, and the workers must have joined their groups).
    probe_station = "MP-01"
    probe_n = 0

    def probe_landed() -> bool:
        nonlocal probe_n
        probe_n += 1
        at = start - timedelta(minutes=probe_n)
        publish(endpoints, [(SCHEME.for_station(probe_station), encode_reading(at, {"water_level_m": 1.0}))])
        time.sleep(1.0)
        return bool(scalar(pg_dsn, "SELECT count(*) FROM sensor_readings WHERE station_id = %s", probe_station))

    wait_for(probe_landed, 120, "the pipeline to carry a probe reading", processes)

    good = messages(SCHEME, start)
    publish(endpoints, good[:6] + bad_messages(SCHEME) + good[6:])

    def all_landed() -> bool:
        n = scalar(pg_dsn, "SELECT count(*) FROM sensor_readings WHERE station_id IN ('NS-01', 'NN-01') "
                           "AND metric = 'water_level_m'")
        dead = scalar(pg_dsn, "SELECT count(*) FROM dead_letters")
        resolved = scalar(pg_dsn, "SELECT count(*) FROM alerts WHERE status = 'resolved'")
        return n == len(good) and dead == len(EXPECTED_DEAD_REASONS) and resolved == 1

    wait_for(all_landed, 90, "readings, dead letters and the resolved alert", processes)

    with psycopg.connect(pg_dsn) as conn:
        history = {
            key: [t for (t,) in conn.execute(
                "SELECT transition FROM alert_events WHERE alert_key = %s ORDER BY at", (key,))]
            for key in ("flood:NS-01:level", "flood:NN-01:level")
        }
        alerts = conn.execute("SELECT alert_key, status, severity FROM alerts ORDER BY alert_key").fetchall()
        dead = conn.execute("SELECT reason, source, payload FROM dead_letters ORDER BY reason").fetchall()
    assert history == {"flood:NS-01:level": EXPECTED_NS01_HISTORY, "flood:NN-01:level": EXPECTED_NN01_HISTORY}
    assert alerts == EXPECTED_ALERTS
    assert sorted(r for r, _, _ in dead) == EXPECTED_DEAD_REASONS
    assert all(source.startswith("mqtt:ioc/muong-cha/") for _, source, _ in dead)
    assert ("malformed_json", "mqtt:ioc/muong-cha/flood/NS-01/up", "{not json") in dead

    live: dict[str, LiveReading] = RedisLiveStore(endpoints.redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}") \
        .latest_readings()
    assert live["NS-01"].values["water_level_m"] == NS01_LEVELS[-1]
    assert live["NS-01"].observed_at == start + timedelta(minutes=len(NS01_LEVELS) - 1)
