"""Issue 12, hole 6: each development service refuses a client without credentials, the app role is no superuser.

Replays the probe's attacks on the services `ioc services up` runs: PostgreSQL as ``ioc`` (and as ``postgres``)
without a password, ``COPY ... TO PROGRAM`` as the application role, Redis without AUTH, an anonymous MQTT publish,
a station publishing on another station's topic. The last test turns an open Redis of an older ``up`` into a locked
one, as ``up`` does on a machine whose services were started before credentials existed.
"""

from __future__ import annotations

import os
import stat
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
import redis
from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaError
from paho.mqtt.enums import CallbackAPIVersion
from psycopg import errors as pg_errors

from ioc.app.endpoints import Endpoints
from ioc.app.endpoints import endpoints as app_endpoints
from ioc.app.runtime.kafka import KafkaAuth, client_options
from ioc.app.services import backends, credentials, manager, probes, process
from ioc.app.services.process import Launch
from ioc.app.services.settings import Settings
from ioc.settings import Settings as IocSettings
from tests.services.test_services_manager import free_port

pytestmark = pytest.mark.services
NO_PASSFILE = "/nonexistent/ioc-no-pgpass"


@pytest.mark.parametrize("role", ["ioc", "ioc_owner", "postgres"])
def test_postgres_refuses_a_role_without_password(endpoints: Endpoints, role: str) -> None:
    port = Settings.from_env(os.environ).postgres_port
    dsn = psycopg.conninfo.make_conninfo(
        host="127.0.0.1", port=port, user=role, dbname="ioc", passfile=NO_PASSFILE
    )

    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(dsn, connect_timeout=5).close()


def test_app_role_is_no_superuser_and_cannot_run_programs(endpoints: Endpoints) -> None:
    with psycopg.connect(endpoints.postgres_dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT current_user, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert row == ("ioc", False, False, False)
        with pytest.raises(pg_errors.InsufficientPrivilege):
            conn.execute("COPY (SELECT 1) TO PROGRAM 'id'")
        with pytest.raises(pg_errors.InsufficientPrivilege):
            conn.execute(f"CREATE TABLE ioc_probe_{uuid.uuid4().hex[:8]} (x int)")


@pytest.fixture(scope="module")
def db_flavour() -> str:
    """The schema owner's TimescaleDB features are what the application role must be able to use."""
    return "timescale"


def test_app_role_may_write_and_read_what_the_owner_migrated(endpoints: Endpoints, pg_dsn: str) -> None:
    app_dsn = psycopg.conninfo.make_conninfo(
        endpoints.postgres_dsn, dbname=psycopg.conninfo.conninfo_to_dict(pg_dsn)["dbname"]
    )
    with psycopg.connect(pg_dsn) as conn:
        owner = conn.execute(
            "SELECT tableowner FROM pg_tables WHERE tablename = 'sensor_readings'"
        ).fetchone()
        hypertable = conn.execute(
            "SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_name = 'sensor_readings'"
        ).fetchone()
    assert owner == ("ioc_owner",) and hypertable == (1,)
    with psycopg.connect(app_dsn) as conn:
        privileges = conn.execute(
            "SELECT has_table_privilege('sensor_readings', 'INSERT'), has_table_privilege('sensor_readings', "
            "'DELETE'), has_table_privilege('sensor_readings', 'TRUNCATE'), "
            "has_table_privilege('sensor_readings', 'REFERENCES')"
        ).fetchone()
        conn.execute("SELECT count(*) FROM sensor_readings_1h").fetchone()  # a continuous aggregate
        conn.execute("DELETE FROM dead_letters")
        with pytest.raises(pg_errors.InsufficientPrivilege):
            conn.execute("DROP TABLE dead_letters")
    assert privileges == (True, True, False, False)


def test_redis_refuses_a_client_without_auth(endpoints: Endpoints) -> None:
    client = redis.Redis(host="127.0.0.1", port=Settings.from_env(os.environ).redis_port, socket_timeout=5)
    try:
        with pytest.raises(redis.AuthenticationError):
            client.set("ioc:probe", "forged")
    finally:
        client.close()
    assert redis.Redis.from_url(endpoints.redis_url).ping()


def kafka_admin(bootstrap: str, auth: KafkaAuth | None) -> KafkaAdminClient:
    """An admin client that gives up within 5 s when the broker does not let it in."""
    return KafkaAdminClient(
        bootstrap_servers=bootstrap,
        bootstrap_timeout_ms=5000,
        request_timeout_ms=5000,
        **client_options(auth),
    )


def test_kafka_refuses_a_client_without_credentials(endpoints: Endpoints) -> None:
    settings = Settings.from_env(os.environ)
    assert endpoints.kafka_auth is not None
    wrong = KafkaAuth(endpoints.kafka_auth.username, "not-the-password")
    controller = f"127.0.0.1:{settings.kafka_controller_port}"
    # No metadata for a client without SASL, nor with a wrong password, on either port.
    for bootstrap, auth in (
        (endpoints.kafka_bootstrap, None),
        (endpoints.kafka_bootstrap, wrong),
        (controller, None),
    ):
        with pytest.raises(KafkaError):
            kafka_admin(bootstrap, auth).list_topics()
    with pytest.raises(KafkaError):
        KafkaProducer(bootstrap_servers=endpoints.kafka_bootstrap, max_block_ms=5000).send(
            "ioc-probe", b"forged"
        )

    admin = kafka_admin(endpoints.kafka_bootstrap, endpoints.kafka_auth)
    try:
        assert isinstance(admin.list_topics(), list)
    finally:
        admin.close()
    server_properties = settings.services_dir / "kafka" / "server.properties"
    if server_properties.exists():  # ours, not a broker someone else started on the port
        assert stat.S_IMODE(server_properties.stat().st_mode) == 0o600


def mqtt_client(endpoints: Endpoints, user: str | None, password: str | None) -> tuple[mqtt.Client, object]:
    """A connected client (CONNACK waited for) and the CONNACK's reason code."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{uuid.uuid4().hex[:8]}")
    if user is not None:
        client.username_pw_set(user, password)
    answered = threading.Event()
    reason: list[object] = []
    client.on_connect = lambda _c, _u, _f, rc, _p=None: (reason.append(rc), answered.set())
    client.connect(endpoints.mqtt_host, endpoints.mqtt_port)
    client.loop_start()
    assert answered.wait(10), "no CONNACK"
    return client, reason[0]


def test_mosquitto_refuses_anonymous_and_keeps_each_station_to_its_own_topic(endpoints: Endpoints) -> None:
    settings = Settings.from_env(os.environ)
    users = credentials.load(settings.services_dir)
    assert users is not None
    anonymous, refused = mqtt_client(endpoints, None, None)
    anonymous.loop_stop()
    assert getattr(refused, "is_failure", False), f"anonymous CONNACK was {refused}"

    # Other publishers may share the broker (a simulator, another test's stations): only this test's own
    # payloads, marked with a fresh token, are looked at.
    mark = uuid.uuid4().hex.encode()
    got: list[str] = []
    ingest, ok = mqtt_client(endpoints, "ioc-ingest", users.mqtt["ioc-ingest"])
    assert not getattr(ok, "is_failure", True)
    ingest.on_message = lambda _c, _u, msg: got.append(msg.topic) if msg.payload == mark else None
    ingest.subscribe("ioc/muong-cha/flood/+/up", qos=1)
    time.sleep(0.5)
    forger, ok = mqtt_client(endpoints, "NS-01", users.mqtt["NS-01"])
    assert not getattr(ok, "is_failure", True)
    station, ok = mqtt_client(endpoints, "NS-01", users.mqtt["NS-01"])
    assert not getattr(ok, "is_failure", True)
    try:
        # The attack: NS-01's credentials publishing a level as MT-01. Mosquitto 2 drops it and disconnects the
        # client; only the station's own topic reaches the ingest.
        forger.publish("ioc/muong-cha/flood/MT-01/up", mark, qos=1)
        deadline = time.monotonic() + 5
        while forger.is_connected() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not forger.is_connected(), "the broker kept a client that published on another station's topic"
        station.publish("ioc/muong-cha/flood/NS-01/up", mark, qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 5
        while "ioc/muong-cha/flood/NS-01/up" not in got and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        for client in (forger, station, ingest):
            client.loop_stop()
            client.disconnect()
    assert got == ["ioc/muong-cha/flood/NS-01/up"]


def test_mosquitto_runs_as_an_unprivileged_user_and_secrets_are_0600(endpoints: Endpoints) -> None:
    settings = Settings.from_env(os.environ)
    [status] = manager.status(["mosquitto"], settings=settings)
    if status.pid is not None:
        uid = int(Path(f"/proc/{status.pid}/status").read_text().split("Uid:")[1].split()[1])
        assert uid != 0
    assert stat.S_IMODE(credentials.path_of(settings.services_dir).stat().st_mode) == 0o600


def test_up_restarts_an_open_service_it_started_with_credentials(tmp_path: Path) -> None:
    settings = Settings.from_env({"IOC_CACHE_DIR": str(tmp_path), "IOC_REDIS_PORT": str(free_port())})
    # What an older `ioc services up` left running: a Redis without requirepass, recorded as ours.
    workdir = settings.services_dir / "redis"
    workdir.mkdir(parents=True)
    conf = workdir / "redis.conf"
    conf.write_text(f'port {settings.redis_port}\nbind 127.0.0.1\nsave ""\n')
    launch = Launch(
        argv=[str(backends.resolve("redis-server", settings.redis_server_bin)), str(conf)], cwd=workdir
    )
    record, _ = process.start_detached(launch, workdir / "redis.log", [settings.redis_port])
    manager._write_state(settings, {"redis": record})
    try:
        deadline = time.monotonic() + 10
        while not backends.Redis().answers_anonymously(settings):
            assert time.monotonic() < deadline, "the open Redis did not start"
            time.sleep(0.1)

        [first] = manager.up(["redis"], settings=settings)
        [again] = manager.up(["redis"], settings=settings)

        assert first.pid != record.pid and again.pid == first.pid
        assert not process.is_running(record)
        assert not backends.Redis().answers_anonymously(settings)
        assert redis.Redis.from_url(
            app_endpoints_env(
                {"IOC_CACHE_DIR": str(tmp_path), "IOC_REDIS_PORT": str(settings.redis_port)}
            ).redis_url
        ).ping()
    finally:
        process.stop(record, 10)
        manager.down(["redis"], settings=settings)


def test_up_restarts_a_plaintext_kafka_it_started_with_sasl(tmp_path: Path) -> None:
    shared = Settings.from_env(os.environ)
    env = {
        "IOC_CACHE_DIR": str(tmp_path),
        "IOC_KAFKA_PORT": str(free_port()),
        "IOC_KAFKA_CONTROLLER_PORT": str(free_port()),
    }
    settings = Settings.from_env(env)
    # The jars of the shared cache (the services fixture resolved them), not a second Maven download.
    settings.kafka_libs_dir.parent.mkdir(parents=True)
    settings.kafka_libs_dir.symlink_to(shared.kafka_libs_dir)
    # What an older `ioc services up` left running: a PLAINTEXT broker, recorded as ours.
    workdir = settings.services_dir / "kafka"
    workdir.mkdir(parents=True)
    props = workdir / "server.properties"
    props.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{settings.kafka_controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{settings.kafka_port},"
                f"CONTROLLER://127.0.0.1:{settings.kafka_controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{settings.kafka_port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                f"log.dirs={workdir / 'data'}",
                "offsets.topic.replication.factor=1",
                "",
            ]
        )
    )
    java = str(backends.resolve("java", settings.java_bin))
    classpath = f"{settings.kafka_libs_dir}/*"
    format_argv = [java, "-cp", classpath, "kafka.tools.StorageTool", "format"]
    process.run_step(
        [*format_argv, "-t", backends.new_cluster_id(), "-c", str(props)],
        log_path=workdir / "kafka.log",
        cwd=workdir,
        what="Kafka storage format",
    )
    launch = Launch(argv=[java, "-Xmx256m", "-cp", classpath, "kafka.Kafka", str(props)], cwd=workdir)
    record, _ = process.start_detached(launch, workdir / "kafka.log", backends.Kafka().ports(settings))
    manager._write_state(settings, {"kafka": record})
    try:
        deadline = time.monotonic() + 60
        while not backends.Kafka().answers_anonymously(settings):
            assert time.monotonic() < deadline, "the PLAINTEXT Kafka did not start"
            assert process.is_running(record), "the PLAINTEXT Kafka exited"
            time.sleep(0.5)

        [first] = manager.up(["kafka"], settings=settings)
        [again] = manager.up(["kafka"], settings=settings)

        assert first.pid != record.pid and again.pid == first.pid
        assert not process.is_running(record)
        assert not backends.Kafka().answers_anonymously(settings)
        auth = app_endpoints_env(env).kafka_auth
        assert auth is not None
        probes.kafka_metadata("127.0.0.1", settings.kafka_port, auth)
    finally:
        process.stop(record, 30)
        manager.down(["kafka"], settings=settings)


def app_endpoints_env(env):  # type: ignore[no-untyped-def]
    """The app's endpoints for an environment, as a process started with it would see them."""
    return app_endpoints(IocSettings.from_env(env))
