"""Regression: a restart of the development MQTT broker lost QoS 1 readings it had already acknowledged.

The broker ran with ``persistence false``, so the ingest worker's persistent session (its subscription and
the messages queued for it) vanished on restart: readings acknowledged to the stations just before the
restart, and those sent before the worker subscribed again, were dropped (``ioc bench soak`` lost two rounds
of readings at its Mosquitto restart). A throw-away broker of the same config, on its own port and cache, is
restarted with the project's service manager; a message queued for an offline persistent session must
still be delivered.
"""

from __future__ import annotations

import socket
import threading
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ioc.app.endpoints import Endpoints, endpoints
from ioc.app.services import manager
from ioc.app.services.settings import Settings
from ioc.settings import Settings as IocSettings

pytestmark = pytest.mark.services
TOPIC = "ioc/test/flood/NS-01/up"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def session(ep: Endpoints, client_id: str, received: list[bytes], subscribed: threading.Event) -> mqtt.Client:
    """A subscriber with a persistent session (clean_session=False), as ``ioc ingest mqtt`` has."""
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                         clean_session=False)
    client.username_pw_set(ep.mqtt_username, ep.mqtt_password)
    client.on_message = lambda _c, _u, msg: received.append(bytes(msg.payload))
    client.on_connect = lambda c, _u, _f, _r, _p=None: (c.subscribe(TOPIC, qos=1), subscribed.set())
    client.connect("127.0.0.1", ep.mqtt_port)
    client.loop_start()
    return client


def test_a_broker_restart_keeps_the_messages_queued_for_a_persistent_session(tmp_path: Path) -> None:
    env = {"IOC_CACHE_DIR": str(tmp_path / "cache"), "IOC_MQTT_PORT": str(free_port())}
    settings = Settings.from_env(env)
    manager.up(["mosquitto"], settings=settings)
    ep = endpoints(IocSettings.from_env(env))
    try:
        received: list[bytes] = []
        subscribed = threading.Event()
        client_id = f"ingest-{uuid.uuid4().hex[:8]}"
        sub = session(ep, client_id, received, subscribed)
        assert subscribed.wait(10)
        sub.loop_stop()
        sub.disconnect()  # the worker is away (restarting); the broker queues for its session

        pub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="station")
        pub.username_pw_set(ep.mqtt_username, ep.mqtt_password)
        pub.connect("127.0.0.1", ep.mqtt_port)
        pub.loop_start()
        pub.publish(TOPIC, b"acknowledged before the restart", qos=1).wait_for_publish(10)
        pub.loop_stop()
        pub.disconnect()

        manager.down(["mosquitto"], settings=settings)
        manager.up(["mosquitto"], settings=settings)

        again = threading.Event()
        sub = session(ep, client_id, received, again)
        try:
            assert again.wait(10)
            deadline = threading.Event()
            for _ in range(50):
                if received:
                    break
                deadline.wait(0.1)
        finally:
            sub.loop_stop()
            sub.disconnect()
        assert received == [b"acknowledged before the restart"]
    finally:
        manager.down(["mosquitto"], settings=settings)
