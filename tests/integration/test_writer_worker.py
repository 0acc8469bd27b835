"""`ioc worker writer` as a plain Kafka consumer: what it stores, what it parks as a dead letter, what it skips,
and that a stop commits what was stored, so a restart writes nothing twice and loses nothing."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Producer

from ioc import topics
from ioc.app.endpoints import Endpoints
from ioc.app.processes import spawn, stop_all
from ioc.app.runtime.kafka import EventProducer, ensure_topics
from ioc.events import SensorReading, Tick, utcnow

pytestmark = pytest.mark.services


def rows(dsn: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


def wait(what: str, check: object, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what}; log: {log.read_text(errors='replace')[-3000:]}"
        time.sleep(0.2)


def test_stores_parks_skips_and_commits(endpoints: Endpoints, pg_dsn: str, site_dir: Path, tmp_path: Path,
                                        kafka_namespace: Callable[[str], str]) -> None:
    namespace = kafka_namespace("w")
    ensure_topics(endpoints.kafka_bootstrap, auth=endpoints.kafka_auth, namespace=namespace)
    env = {**os.environ, "IOC_KAFKA_NAMESPACE": namespace, "IOC_DATABASE_URL": pg_dsn, "IOC_SITE": str(site_dir),
           "IOC_LOG_LEVEL": "INFO"}
    producer = EventProducer(endpoints.kafka_bootstrap, auth=endpoints.kafka_auth, namespace=namespace)
    now = utcnow().replace(microsecond=0)
    first = [SensorReading.create(f"W-{i}", now, {"water_level_m": 1.0 + i / 10}, source="test") for i in range(5)]
    for reading in first:
        producer.send(reading)
    producer.flush()
    assert endpoints.kafka_auth is not None
    raw = Producer({"bootstrap.servers": endpoints.kafka_bootstrap, "security.protocol": "SASL_PLAINTEXT",
                    "sasl.mechanism": "PLAIN", "sasl.username": endpoints.kafka_auth.username,
                    "sasl.password": endpoints.kafka_auth.password})
    tick = Tick.create(0, now)  # the alert workers' clock mark: nothing to store
    raw.produce(topics.SENSOR_READINGS.kafka_name(namespace), key=tick.key().encode(), value=tick.to_bytes(),
                partition=0)
    raw.produce(topics.SENSOR_READINGS.kafka_name(namespace), key=b"W-0", value=b"{not an event")
    raw.flush(30)

    log = tmp_path / "writer.log"
    writer = spawn(["worker", "writer"], env, log)
    try:
        wait("the readings stored", lambda: len(rows(pg_dsn, "SELECT 1 FROM sensor_readings")) == 5, log)
        wait("the bad message parked", lambda: rows(
            pg_dsn, "SELECT source, reason FROM dead_letters") == [("kafka:ioc.sensor.readings", "invalid_event")],
            log)
        writer.terminate()  # a stop: the batch in hand is stored and its offsets committed
        assert writer.wait(30) == 0
        # While it is down, more readings come; after the restart they land, and nothing is written twice.
        later = [SensorReading.create(f"W-{i}", now, {"water_level_m": 2.0}, source="test") for i in range(5, 8)]
        for reading in later:
            producer.send(reading)
        producer.flush()
        writer = spawn(["worker", "writer"], env, log)
        wait("the later readings stored", lambda: len(rows(pg_dsn, "SELECT 1 FROM sensor_readings")) == 8, log)
        time.sleep(3)  # anything read again would show up now
        assert len(rows(pg_dsn, "SELECT 1 FROM dead_letters")) == 1
        assert len(rows(pg_dsn, "SELECT 1 FROM sensor_readings")) == 8
        assert "worker writer stopped: " in log.read_text()
    finally:
        stop_all([writer])
    producer.close()
    assert isinstance(writer, subprocess.Popen)
