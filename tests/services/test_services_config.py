"""The generated configs and the settings read from the environment: plain values, no processes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ioc.app.endpoints import endpoints as app_endpoints
from ioc.app.services import backends
from ioc.app.services.settings import Settings
from ioc.errors import ConfigError, ServiceError
from ioc.settings import Settings as IocSettings

DEFAULTS = Settings(cache_dir=Path("/c"))


def test_default_ports_and_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/dev")
    s = Settings.from_env({})

    assert s.cache_dir == Path("/home/dev/.cache/ioc")
    assert (s.kafka_port, s.kafka_controller_port, s.postgres_port, s.redis_port, s.mqtt_port) == (
        19092,
        19093,
        15432,
        16379,
        11883,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {},
            (
                "127.0.0.1:19092",
                "postgresql://ioc@127.0.0.1:15432/ioc",
                "redis://127.0.0.1:16379/0",
                "127.0.0.1",
                11883,
            ),
        ),
        (
            {
                "IOC_KAFKA_PORT": "29092",
                "IOC_POSTGRES_PORT": "25432",
                "IOC_REDIS_PORT": "26379",
                "IOC_MQTT_PORT": "21883",
            },
            (
                "127.0.0.1:29092",
                "postgresql://ioc@127.0.0.1:25432/ioc",
                "redis://127.0.0.1:26379/0",
                "127.0.0.1",
                21883,
            ),
        ),
        (
            {
                "IOC_KAFKA_BOOTSTRAP": "kafka:9092",
                "IOC_DATABASE_URL": "postgresql://u@db/x",
                "IOC_REDIS_URL": "redis://cache:6379/1",
                "IOC_MQTT_HOST": "broker",
                "IOC_MQTT_PORT": "1883",
            },
            ("kafka:9092", "postgresql://u@db/x", "redis://cache:6379/1", "broker", 1883),
        ),
    ],
)
def test_endpoints_from_env(env: dict[str, str], expected: tuple[str, str, str, str, int]) -> None:
    ep = app_endpoints_env({"IOC_CACHE_DIR": "/c", **env})

    assert (ep.kafka_bootstrap, ep.postgres_dsn, ep.redis_url, ep.mqtt_host, ep.mqtt_port) == expected


def test_endpoints_kafka_login() -> None:
    local = app_endpoints_env({"IOC_CACHE_DIR": "/nonexistent-ioc-cache"})
    deployed = app_endpoints_env(
        {
            "IOC_CACHE_DIR": "/c",
            "IOC_KAFKA_BOOTSTRAP": "kafka:9092",
            "IOC_KAFKA_USERNAME": "ioc",
            "IOC_KAFKA_PASSWORD": "pw",
        }
    )
    assert local.kafka_auth is None  # no credentials file yet: nothing to log in with
    assert deployed.kafka_auth is not None
    assert (deployed.kafka_auth.username, deployed.kafka_auth.password) == ("ioc", "pw")
    assert "pw" not in repr(deployed)
    with pytest.raises(ConfigError, match="IOC_KAFKA_PASSWORD"):
        app_endpoints_env({"IOC_CACHE_DIR": "/c", "IOC_KAFKA_USERNAME": "ioc"})


@pytest.mark.parametrize("raw", ["abc", "0", "70000"])
def test_bad_port_names_the_variable(raw: str) -> None:
    with pytest.raises(ServiceError, match="IOC_REDIS_PORT"):
        Settings.from_env({"IOC_CACHE_DIR": "/c", "IOC_REDIS_PORT": raw})


def test_kafka_properties_single_kraft_node() -> None:
    props = dict(
        line.split("=", 1)
        for line in backends.kafka_properties(DEFAULTS, Path("/c/data"), "s3cret").splitlines()
        if line
    )

    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "CLIENT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "CLIENT://127.0.0.1:19092"  # the controller is never advertised
    # Issue 12: no PLAINTEXT listener left; both ask for SASL/PLAIN as the generated user.
    assert props["listener.security.protocol.map"] == "CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"
    for listener in ("client", "controller"):
        assert (
            'username="ioc" password="s3cret" user_ioc="s3cret";'
            in props[f"listener.name.{listener}.plain.sasl.jaas.config"]
        )
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["num.partitions"] == "4"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["auto.create.topics.enable"] == "true"


def test_cluster_id_looks_like_kafka_uuid() -> None:
    ids = {backends.new_cluster_id() for _ in range(200)}

    assert len(ids) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", i) for i in ids)


def test_postgres_conf_always_preloads_timescaledb() -> None:
    conf = backends.postgres_conf(DEFAULTS, Path("/c/run"))

    assert "listen_addresses = '127.0.0.1'" in conf
    assert "fsync" not in conf and "synchronous_commit" not in conf
    assert "shared_preload_libraries = 'timescaledb'" in conf
    assert "timescaledb.telemetry_level = off" in conf


def test_pg_hba_asks_every_connection_for_a_scram_password() -> None:
    rules = [line.split() for line in backends.PG_HBA.splitlines() if line and not line.startswith("#")]

    assert rules == [
        ["local", "all", "all", "scram-sha-256"],
        ["host", "all", "all", "127.0.0.1/32", "scram-sha-256"],
    ]
    assert "password_encryption = 'scram-sha-256'" in backends.postgres_conf(DEFAULTS, Path("/c/run"))


@pytest.mark.parametrize(("run_as", "user_line"), [("mosquitto", "user mosquitto"), (None, None)])
def test_mosquitto_conf(run_as: str | None, user_line: str | None) -> None:
    lines = backends.mosquitto_conf(DEFAULTS, Path("/c/m"), run_as).splitlines()

    assert "listener 11883 127.0.0.1" in lines
    assert "allow_anonymous false" in lines and "allow_anonymous true" not in lines
    assert {"password_file /c/m/passwd", "acl_file /c/m/acl"} <= set(lines)
    assert "persistence true" in lines
    assert "persistence_location /c/m/" in lines
    assert "log_dest file /c/m/mosquitto.log" in lines
    assert any(line.startswith("user ") for line in lines) is (user_line is not None)
    if user_line:
        assert user_line in lines


def test_redis_conf() -> None:
    lines = backends.redis_conf(DEFAULTS, Path("/c/data"), "s3cret").splitlines()

    assert "requirepass s3cret" in lines

    assert {"port 16379", "bind 127.0.0.1", "daemonize no", 'save ""', "appendonly no", "dir /c/data"} <= set(
        lines
    )


def app_endpoints_env(env):  # type: ignore[no-untyped-def]
    """The app's endpoints for an environment, as a process started with it would see them."""
    return app_endpoints(IocSettings.from_env(env))
