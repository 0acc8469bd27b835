"""`ioc services` against the real Kafka, PostgreSQL, Redis and Mosquitto the project starts.

The shared services (default cache and ports) are started or reused and left running for the rest of the
suite. Whatever stops or breaks a service does so on a private instance with its own cache and ports.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
import redis
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from paho.mqtt.enums import CallbackAPIVersion

from ioc.app.endpoints import Endpoints
from ioc.app.endpoints import endpoints as app_endpoints
from ioc.app.runtime.kafka import client_options
from ioc.app.services import credentials, manager, process
from ioc.app.services.manager import ServiceStatus
from ioc.app.services.process import ProcessRecord
from ioc.app.services.settings import Settings
from ioc.app.services.settings import Settings as ServicesSettings
from ioc.errors import ServiceError
from ioc.settings import Settings as IocSettings

pytestmark = pytest.mark.services


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def shared() -> dict[str, ServiceStatus]:
    """The shared services, started or reused exactly as `ioc services up` does."""
    return {s.name: s for s in manager.up(settings=ServicesSettings.from_env(os.environ))}


@pytest.fixture(scope="module")
def ep(shared: dict[str, ServiceStatus]) -> Endpoints:
    return app_endpoints(IocSettings.from_env(os.environ))


def private_settings(tmp_path: Path, **env: str) -> Settings:
    """Settings for a throw-away instance: its own cache directory and a free Redis port."""
    return Settings.from_env({"IOC_CACHE_DIR": str(tmp_path), "IOC_REDIS_PORT": str(free_port()), **env})


# --- the shared services ---


def test_up_twice_is_idempotent(shared: dict[str, ServiceStatus]) -> None:
    started = time.monotonic()
    again = {s.name: s for s in manager.up(settings=ServicesSettings.from_env(os.environ))}
    elapsed = time.monotonic() - started

    assert {name: s.pid for name, s in again.items()} == {name: s.pid for name, s in shared.items()}
    assert all(s.state == "running" for s in again.values())
    assert elapsed < 10, f"a second `up` should only probe, took {elapsed:.1f} s"


def test_status_reports_all_four_running(shared: dict[str, ServiceStatus]) -> None:
    rows = manager.status(settings=ServicesSettings.from_env(os.environ))

    assert [r.name for r in rows] == ["kafka", "postgres", "redis", "mosquitto"]
    assert {r.name: r.state for r in rows} == dict.fromkeys(
        ["kafka", "postgres", "redis", "mosquitto"], "running"
    )
    postgres = next(r for r in rows if r.name == "postgres")
    assert postgres.timescaledb is not None
    assert all(r.timescaledb is None for r in rows if r.name != "postgres")


def test_kafka_topic_produce_consume(ep: Endpoints, kafka_namespace: Callable[[str], str]) -> None:
    topic = f"{kafka_namespace('svc')}.ioc.services-test"  # deleted with its namespace after the test
    admin = KafkaAdminClient(
        bootstrap_servers=ep.kafka_bootstrap, request_timeout_ms=15000, **client_options(ep.kafka_auth)
    )
    try:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=ep.kafka_bootstrap, **client_options(ep.kafka_auth))
    try:
        producer.send(topic, key=b"k", value=b"xin chao").get(timeout=30)
    finally:
        producer.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=ep.kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=20000,
        **client_options(ep.kafka_auth),
    )
    try:
        # Stop at the first record; iterating to the end would wait out consumer_timeout_ms.
        received: list[tuple[bytes, bytes]] = []
        for message in consumer:
            received.append((message.key, message.value))
            break
    finally:
        consumer.close()

    assert received == [(b"k", b"xin chao")]


def test_postgres_round_trip_as_ioc(ep: Endpoints) -> None:
    with psycopg.connect(ep.postgres_dsn) as conn:
        row = conn.execute("SELECT current_user, current_database(), %s::text", ("Mường Chà",)).fetchone()

    assert row == ("ioc", "ioc", "Mường Chà")


def test_postgres_keeps_durability_and_loopback(ep: Endpoints) -> None:
    with psycopg.connect(ep.postgres_dsn) as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('fsync', 'synchronous_commit', 'listen_addresses', 'max_connections')"
            ).fetchall()
        )

    assert settings == {
        "fsync": "on",
        "synchronous_commit": "on",
        "listen_addresses": "127.0.0.1",
        "max_connections": "200",
    }


def test_redis_set_get(ep: Endpoints) -> None:
    client = redis.Redis.from_url(ep.redis_url)
    key = f"ioc:test:{uuid.uuid4().hex}"
    try:
        client.set(key, "Điện Biên", ex=60)
        assert client.get(key) == "Điện Biên".encode()
    finally:
        client.delete(key)
        client.close()


def test_mqtt_publish_subscribe(ep: Endpoints) -> None:
    topic = f"ioc/test/{uuid.uuid4().hex[:8]}"
    got: list[bytes] = []
    subscribed, arrived = threading.Event(), threading.Event()

    def on_subscribe(client: mqtt.Client, userdata: object, mid: int, codes: object, props: object) -> None:
        subscribed.set()

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        got.append(message.payload)
        arrived.set()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2)
    sub.username_pw_set(ep.mqtt_username, ep.mqtt_password)
    sub.on_subscribe, sub.on_message = on_subscribe, on_message
    sub.connect(ep.mqtt_host, ep.mqtt_port)
    sub.subscribe(topic, qos=1)
    sub.loop_start()
    try:
        assert subscribed.wait(10), "no SUBACK"
        pub = mqtt.Client(CallbackAPIVersion.VERSION2)
        pub.username_pw_set(ep.mqtt_username, ep.mqtt_password)
        pub.connect(ep.mqtt_host, ep.mqtt_port)
        pub.loop_start()
        pub.publish(topic, b"muc nuoc 1.2 m", qos=1).wait_for_publish(10)
        pub.loop_stop()
        pub.disconnect()
        assert arrived.wait(10), "message did not arrive"
    finally:
        sub.loop_stop()
        sub.disconnect()

    assert got == [b"muc nuoc 1.2 m"]


# --- private instances ---


def test_down_stops_only_what_it_started(tmp_path: Path) -> None:
    settings = private_settings(tmp_path)
    [started] = manager.up(["redis"], settings=settings)
    assert started.started_by_us and started.pid is not None
    assert (tmp_path / "services" / "redis" / "redis.pid").read_text().strip() == str(started.pid)

    [after] = manager.down(["redis"], settings=settings)

    assert after.state == "stopped" and after.pid is None
    assert not process.port_open(settings.redis_port)
    assert not Path(f"/proc/{started.pid}").exists() or process.start_ticks(started.pid) is None
    assert not (tmp_path / "services" / "redis" / "redis.pid").exists()


def test_down_leaves_a_reused_service_running(tmp_path: Path, shared: dict[str, ServiceStatus]) -> None:
    # Same port as the shared Redis, other cache with the same credentials: `up` must reuse it and `down` must
    # not touch it.
    settings = Settings.from_env(
        {"IOC_CACHE_DIR": str(tmp_path), "IOC_REDIS_PORT": str(Settings.from_env(os.environ).redis_port)}
    )
    settings.services_dir.mkdir(parents=True)
    shutil.copy(
        credentials.path_of(Settings.from_env(os.environ).services_dir), credentials.path_of(settings.services_dir)
    )
    [reused] = manager.up(["redis"], settings=settings)
    assert reused.state == "running" and not reused.started_by_us

    manager.down(["redis"], settings=settings)

    assert redis.Redis.from_url(app_endpoints(IocSettings.from_env(os.environ)).redis_url).ping()


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "60"])
    # Until exec has finished, /proc shows the forking Python or nothing; an empty read counts as "still ours"
    # (services rewrite their titles), so wait until the pid really runs `sleep` before the test uses it.
    deadline = time.monotonic() + 10
    while process._program(proc.pid) != "sleep":
        assert time.monotonic() < deadline, "sleep did not start"
        time.sleep(0.01)
    yield proc
    proc.kill()
    proc.wait()


def test_down_ignores_a_pid_now_running_another_program(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    # Guards against killing a stranger after a reboot or pid reuse: the record's pid runs `sleep`, not redis.
    ticks = process.start_ticks(sleeper.pid)
    assert ticks is not None
    record = ProcessRecord(
        pid=sleeper.pid,
        start_ticks=ticks,
        program="redis-server",
        stop_signal=15,
        argv=["redis-server"],
        ports=[free_port()],
        started_at=time.time(),
    )
    settings = private_settings(tmp_path)
    (tmp_path / "services").mkdir()
    manager._write_state(settings, {"redis": record})

    manager.down(["redis"], settings=settings)

    assert sleeper.poll() is None


def test_missing_binary_says_to_run_system_deps(tmp_path: Path) -> None:
    settings = private_settings(tmp_path, IOC_REDIS_SERVER_BIN="/nonexistent/redis-server")

    with pytest.raises(ServiceError, match=r"redis-server.*/nonexistent/redis-server.*make system-deps"):
        manager.up(["redis"], settings=settings)


def test_port_taken_by_another_program_is_reported(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        settings = private_settings(tmp_path, IOC_REDIS_PORT=str(port))

        with pytest.raises(ServiceError, match=rf"port {port} .* does not answer as redis"):
            manager.up(["redis"], settings=settings)


def test_start_failure_quotes_the_log(tmp_path: Path) -> None:
    # `false` exits at once: the error must say so and show the log, not wait for the whole timeout.
    settings = private_settings(tmp_path, IOC_REDIS_SERVER_BIN="/bin/false")
    started = time.monotonic()

    with pytest.raises(ServiceError, match=r"(exited|exit).*last lines of .*redis\.log"):
        manager.up(["redis"], settings=settings)
    assert time.monotonic() - started < 10


def test_unknown_service_name(tmp_path: Path) -> None:
    with pytest.raises(
        ServiceError, match="unknown service kafak; choose from kafka, postgres, redis, mosquitto"
    ):
        manager.up(["kafak"], settings=private_settings(tmp_path))
