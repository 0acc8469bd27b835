"""The Faust ``writer`` worker's maintenance timer on TimescaleDB: a late reading reaches the hour rollup.

Regression (issue 11, defect 2): ``refresh_late_rollups()`` existed, but no runtime called it, so a reading
30 days back stayed out of ``sensor_readings_1h`` for good. The worker runs as a real ``ioc worker writer``
process with a one-second maintenance interval against the services' Kafka and a TimescaleDB database.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from ioc.app.endpoints import Endpoints
from ioc.app.processes import running
from ioc.app.runtime.kafka import EventProducer, ensure_topics
from ioc.events import SensorReading, utcnow
from ioc.store.migrate import Flavor

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def db_flavour() -> Flavor:
    """Late data only ever stayed out of the rollups on TimescaleDB."""
    return "timescale"


@pytest.fixture
def namespace(kafka_namespace: Callable[[str], str]) -> str:
    return kafka_namespace("t")


@pytest.fixture
def writer_worker(endpoints: Endpoints, pg_dsn: str, site_dir: Path, tmp_path: Path,
                  namespace: str) -> Iterator[list[Path]]:
    env = {**os.environ, "IOC_KAFKA_NAMESPACE": namespace, "IOC_DATABASE_URL": pg_dsn,
           "IOC_SITE": str(site_dir),
           "IOC_REDIS_URL": endpoints.redis_url.rsplit("/", 1)[0] + "/7", "IOC_MAINTENANCE_INTERVAL_S": "1",
           "IOC_LOG_LEVEL": "INFO"}
    with running({"writer": ["worker", "writer"]}, env, tmp_path) as logs:
        yield logs


def test_the_writer_workers_timer_brings_a_late_reading_into_the_hour_rollup(
        endpoints: Endpoints, pg_dsn: str, writer_worker: list[Path], namespace: str) -> None:
    now = utcnow()
    hour = (now - timedelta(days=30)).replace(minute=0, second=0, microsecond=0)
    ensure_topics(endpoints.kafka_bootstrap, auth=endpoints.kafka_auth, namespace=namespace)
    producer = EventProducer(
        endpoints.kafka_bootstrap, auth=endpoints.kafka_auth, client_id="test-maintenance", namespace=namespace
    )
    producer.send(SensorReading.create("LIVE-01", now - timedelta(minutes=10), {"water_level_m": 1.0},
                                       source="test"))
    producer.send(SensorReading.create("LATE-01", hour + timedelta(minutes=5), {"water_level_m": 7.5},
                                       source="test"))
    producer.close()
    deadline = time.monotonic() + 90
    got: list[tuple[object, ...]] = []
    left: tuple[object, ...] | None = None
    while time.monotonic() < deadline:
        with psycopg.connect(pg_dsn) as conn:
            got = conn.execute("SELECT bucket, n, value_max FROM sensor_readings_1h "
                               "WHERE station_id = 'LATE-01'").fetchall()
            left = conn.execute("SELECT count(*) FROM rollup_backlog").fetchone()
        if got and left == (0,):
            break
        time.sleep(0.5)
    tail = "\n".join(writer_worker[0].read_text(errors="replace").splitlines()[-30:])
    assert got == [(hour, 1, 7.5)], tail
    assert left == (0,), tail  # the late buckets were refreshed and forgotten by the worker, nobody else
    assert "for late rows" in writer_worker[0].read_text(errors="replace"), tail
