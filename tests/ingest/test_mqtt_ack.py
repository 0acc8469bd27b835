"""Regression: ``ioc ingest mqtt`` acknowledged a station message before Kafka had the reading it became.

paho acknowledged (PUBACK) each message as soon as the handler returned, while the reading still sat in
the producer's buffer. ``ioc bench soak`` restarted Kafka and then SIGKILLed the ingest process before its
producer had reconnected: 34 s of readings, acknowledged to the stations, died with the process. Now a
message is acknowledged only once ``confirm`` (the producer's flush) succeeds; until then the broker keeps it
and delivers it again to the restarted worker's persistent session. Real Mosquitto; the crash is the socket
dropped without a DISCONNECT, as a killed process leaves it.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.flood import FloodTopics, StationLimits, encode_reading
from ingest.mqtt import FloodMessageHandler, MqttIngest
from ioc.app.endpoints import Endpoints
from ioc.errors import SinkUnavailable
from ioc.events import Event, SensorReading, utcnow

pytestmark = pytest.mark.services
SCHEME = FloodTopics(f"ack{uuid.uuid4().hex[:6]}")
STATIONS = {"NS-01": StationLimits("NS-01", {"water_level_m": (0.0, 20.0)})}


def credentials(endpoints: Endpoints) -> tuple[str | None, str | None]:
    """The MQTT user and password of the development services, when they have them."""
    return getattr(endpoints, "mqtt_username", None), getattr(endpoints, "mqtt_password", None)


def ingest(endpoints: Endpoints, client_id: str, emitted: list[Event], confirmed: threading.Event
           ) -> MqttIngest:
    """An ingest whose Kafka confirms only while ``confirmed`` is set."""

    def confirm() -> None:
        if not confirmed.is_set():
            raise SinkUnavailable("Kafka has not acknowledged 1 events yet")

    user, password = credentials(endpoints)
    handler = FloodMessageHandler(SCHEME, STATIONS, emitted.append)
    worker = MqttIngest(endpoints.mqtt_host, endpoints.mqtt_port, handler, subscription=SCHEME.subscription,
                        client_id=client_id, confirm=confirm, username=user, password=password)
    worker.start()
    assert worker.wait_connected(15)
    return worker


def crash(worker: MqttIngest) -> None:
    """Drop the connection without a DISCONNECT and stop every thread, as SIGKILL would."""
    worker._stopping.set()
    worker._client.loop_stop()
    sock = worker._client.socket()
    if sock is not None:
        sock.close()


def test_a_reading_not_yet_confirmed_by_kafka_is_delivered_again_after_an_ingest_crash(
    endpoints: Endpoints,
) -> None:
    client_id = f"ingest-{uuid.uuid4().hex[:8]}"
    first: list[Event] = []
    not_yet = threading.Event()
    worker = ingest(endpoints, client_id, first, not_yet)
    station = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"s{uuid.uuid4().hex}")
    user, password = credentials(endpoints)
    if user:
        station.username_pw_set(user, password)
    station.connect(endpoints.mqtt_host, endpoints.mqtt_port)
    station.loop_start()
    at = utcnow().replace(microsecond=0) - timedelta(minutes=1)
    station.publish(SCHEME.for_station("NS-01"), encode_reading(at, {"water_level_m": 1.5}), qos=1
                    ).wait_for_publish(10)
    station.loop_stop()
    station.disconnect()
    deadline = time.monotonic() + 10
    while not first and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [e.observed_at for e in first if isinstance(e, SensorReading)] == [at]
    time.sleep(0.5)  # the acknowledger has tried, and Kafka has not confirmed
    crash(worker)

    again: list[Event] = []
    confirmed = threading.Event()
    confirmed.set()
    worker = ingest(endpoints, client_id, again, confirmed)
    try:
        deadline = time.monotonic() + 10
        while not again and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [e.observed_at for e in again if isinstance(e, SensorReading)] == [at]
        time.sleep(0.5)  # now confirmed and acknowledged: a third session gets nothing more
    finally:
        worker.stop()
    third: list[Event] = []
    worker = ingest(endpoints, client_id, third, confirmed)
    try:
        time.sleep(1.5)
    finally:
        worker.stop()
    assert third == []
