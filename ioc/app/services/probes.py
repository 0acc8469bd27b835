"""Health checks that speak each service's real protocol; each raises :class:`NotReady` saying why."""

from __future__ import annotations

import logging
import time
import uuid

import paho.mqtt.client as mqtt
import psycopg
import redis
from kafka import KafkaAdminClient
from kafka.errors import KafkaError
from paho.mqtt.enums import CallbackAPIVersion

from ioc.app.runtime.kafka import KafkaAuth, client_options
from ioc.app.services.process import port_open

logger = logging.getLogger(__name__)

_TIMEOUT_S = 3.0
_NO_PASSFILE = "/nonexistent/ioc-no-pgpass"


class NotReady(Exception):
    """A service did not answer its protocol (yet); the message says what went wrong."""


def _require_listener(host: str, port: int) -> None:
    # A plain TCP connect fails fast; the protocol clients would otherwise retry for their whole timeout.
    if not port_open(port, host):
        raise NotReady(f"nothing listens on {host}:{port}")


def kafka_metadata(host: str, port: int, auth: KafkaAuth | None = None) -> None:
    """A Kafka metadata request (anonymous unless ``auth``) succeeds and lists at least one broker."""
    _require_listener(host, port)
    timeout_ms = int(_TIMEOUT_S * 1000)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=f"{host}:{port}",
            client_id="ioc-services-probe",
            bootstrap_timeout_ms=timeout_ms,
            request_timeout_ms=timeout_ms,
            **client_options(auth),
        )
        try:
            cluster = admin.describe_cluster()
        finally:
            admin.close()
    except KafkaError as exc:
        raise NotReady(f"Kafka metadata request failed: {exc}") from exc
    if not cluster.get("brokers"):
        raise NotReady("Kafka answered but has no registered broker yet")


def postgres_select(dsn: str) -> None:
    """``SELECT 1`` succeeds over a fresh connection."""
    try:
        with psycopg.connect(dsn, connect_timeout=int(_TIMEOUT_S)) as conn:
            conn.execute("SELECT 1").fetchone()
    except psycopg.Error as exc:
        raise NotReady(f"PostgreSQL did not answer SELECT 1: {exc}") from exc


def postgres_open(host: str, port: int, user: str) -> bool:
    """True if PostgreSQL lets ``user`` in without a password (``trust``); False if it asks for one or is down."""
    # A missing passfile: a ~/.pgpass of whoever runs this must not supply a password and pass for "open".
    dsn = psycopg.conninfo.make_conninfo(
        host=host,
        port=port,
        user=user,
        dbname="postgres",
        passfile=_NO_PASSFILE,
        connect_timeout=int(_TIMEOUT_S),
    )
    try:
        with psycopg.connect(dsn) as conn:
            conn.execute("SELECT 1").fetchone()
    except psycopg.Error:
        return False
    return True


def redis_ping(url: str) -> None:
    """Redis answers PING."""
    client = redis.Redis.from_url(url, socket_timeout=_TIMEOUT_S, socket_connect_timeout=_TIMEOUT_S)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise NotReady(f"Redis did not answer PING: {exc}") from exc
    finally:
        client.close()


def mqtt_connack(host: str, port: int, username: str | None = None, password: str | None = None) -> None:
    """An MQTT CONNECT (anonymous unless ``username``) is answered with a successful CONNACK."""
    _require_listener(host, port)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"ioc-probe-{uuid.uuid4().hex[:8]}")
    if username is not None:
        client.username_pw_set(username, password)
    try:
        client.connect(host, port, keepalive=10)
        deadline = time.monotonic() + _TIMEOUT_S
        while not client.is_connected() and time.monotonic() < deadline:
            if client.loop(timeout=0.1) != mqtt.MQTT_ERR_SUCCESS:
                break
        if not client.is_connected():
            raise NotReady(f"MQTT broker on {host}:{port} sent no successful CONNACK")
        client.disconnect()
    except OSError as exc:
        raise NotReady(f"MQTT connect to {host}:{port} failed: {exc}") from exc
