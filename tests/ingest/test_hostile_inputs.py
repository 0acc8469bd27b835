"""Regression tests for the ingest holes of issue 12, each replaying the attack that found it.

Hole 5: a ChirpStack uplink on one device's topic carrying another device's DevEUI was stored as that
device's reading. Hole 8: an ``X-IOC-Timestamp`` of 5000 digits or "²" was a 500 before any authentication.
Hole 9: times outside the years 1-9999 in UTC and LoRaWAN distances like "²" were a 500 on the webhook and
lost without a dead letter on MQTT. Hole 10: waitress read a 300 MB unauthenticated body before refusing it.
Hole 11: the webhook answered 404 for an unknown station before checking credentials, so station ids could
be listed.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest
from flask.testing import FlaskClient

from ingest.flood import FloodTopics, StationLimits
from ingest.lorawan import DeviceProfile, UplinkHandler, parse_uplink
from ingest.mqtt import FloodMessageHandler, MqttIngest
from ingest.webhook import StationSecrets, make_app, make_server, sign
from ioc.app.endpoints import Endpoints
from ioc.errors import InvalidInput
from ioc.events import DeadLetter, Event, SensorReading
from tests.integration.test_flood_slice import publish

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
KEY = "hmac-key-MP01-77c1"
TOKEN = "tok-NS01-8f3a"
STATIONS = {"NS-01": StationLimits("NS-01"), "MP-01": StationLimits("MP-01"), "NN-01": StationLimits("NN-01")}
SECRETS = {"NS-01": StationSecrets(token=TOKEN), "MP-01": StationSecrets(hmac_key=KEY)}
URL = "/api/v1/stations/{}/readings"
NN01 = DeviceProfile("a84041000181c061", "NN-01", "dragino-ldds75", mount_height_m=5.0)
OTHER = DeviceProfile("70b3d57ed0000001", "NS-01", "rain-pulses")
DEVICES = {d.dev_eui: d for d in (NN01, OTHER)}
EXTREME_TIMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


def ldds75_uplink(dev_eui: str, at: datetime, **fields: object) -> bytes:
    """A ChirpStack v4 uplink of an LDDS75 reading 1.5 m (3500 mm below a sensor mounted at 5 m)."""
    frame = (3380 | 0xC000).to_bytes(2, "big") + (3500).to_bytes(2, "big") + b"\x00\x00\xd7\x01"
    event = {"time": at.isoformat(), "deviceInfo": {"devEui": dev_eui}, "fPort": 2,
             "data": base64.b64encode(frame).decode(), **fields}
    return orjson.dumps(event)


@pytest.fixture
def emitted() -> list[Event]:
    return []


@pytest.fixture
def client(emitted: list[Event]) -> FlaskClient:
    return make_app(STATIONS, SECRETS, emitted.append, clock=lambda: NOW).test_client()


# --- hole 5: the topic's DevEUI and the payload's must agree


def test_hole5_uplink_naming_another_device_is_refused() -> None:
    # The attack: NN-01's reading published on the topic of another device (whose credentials the sender has).
    with pytest.raises(InvalidInput) as info:
        parse_uplink(ldds75_uplink(NN01.dev_eui, NOW), DEVICES, STATIONS, NOW, topic_dev_eui=OTHER.dev_eui)
    assert info.value.reason == "device_mismatch" and OTHER.dev_eui in info.value.detail


# --- hole 8: the timestamp header before authentication


@pytest.mark.parametrize("stamp", ["9" * 5000, "²", "\uff11\uff17\uff16\uff14", "1764²", "-1", "+1764", " "])
def test_hole8_odd_timestamp_headers_are_401_not_500(client: FlaskClient, emitted: list[Event],
                                                     stamp: str) -> None:
    body = b'{"ts": "2026-11-22T08:59:00+07:00", "water_level_m": 2.5}'
    headers = {"X-IOC-Timestamp": stamp, "X-IOC-Signature": sign(KEY, stamp, body)}
    resp = client.post(URL.format("MP-01"), data=body, headers=headers)
    assert resp.status_code == 401 and resp.json is not None and resp.json["error"] == "unauthenticated"
    assert emitted == []


# --- hole 9: times outside years 1-9999 in UTC, and LoRaWAN distances int() cannot read


@pytest.mark.parametrize("ts", EXTREME_TIMES)
def test_hole9_webhook_extreme_ts_is_a_dead_letter(
    client: FlaskClient, emitted: list[Event], ts: str
) -> None:
    body = orjson.dumps({"ts": ts, "water_level_m": 1.0})
    resp = client.post(URL.format("NS-01"), data=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 422 and resp.json is not None and resp.json["error"] == "invalid_field"
    [dead] = emitted
    assert isinstance(dead, DeadLetter) and dead.reason == "invalid_field" and "9999" in dead.detail


@pytest.fixture
def mqtt_events(endpoints: Endpoints) -> Iterator[tuple[list[Event], str, str]]:
    """Flood and LoRaWAN handlers behind two real MQTT subscriptions on topics of this test alone."""
    out: list[Event] = []
    lock = threading.Lock()

    def emit(event: Event) -> None:
        with lock:
            out.append(event)

    scheme = FloodTopics(site_id=f"t{uuid.uuid4().hex[:8]}")
    app_id = f"h{uuid.uuid4().hex[:8]}"
    flood = MqttIngest(endpoints.mqtt_host, endpoints.mqtt_port, FloodMessageHandler(scheme, STATIONS, emit),
                       subscription=scheme.subscription, client_id=f"test-{uuid.uuid4().hex[:8]}",
                       username=endpoints.mqtt_username, password=endpoints.mqtt_password)
    lora = MqttIngest(endpoints.mqtt_host, endpoints.mqtt_port, UplinkHandler(DEVICES, STATIONS, emit),
                      subscription=f"application/{app_id}/device/+/event/up",
                      client_id=f"test-{uuid.uuid4().hex[:8]}",
                      username=endpoints.mqtt_username, password=endpoints.mqtt_password)
    for ingest in (flood, lora):
        ingest.start()
        assert ingest.wait_connected(), "Mosquitto did not accept the subscription"
    yield out, scheme.for_station("NS-01"), app_id
    for ingest in (flood, lora):
        ingest.stop()
    assert flood.failed == lora.failed == 0, "a message raised past the handler (lost, no dead letter)"


def test_hole5_and_hole9_through_mosquitto_every_message_is_a_reading_or_a_dead_letter(
    endpoints: Endpoints, mqtt_events: tuple[list[Event], str, str],
) -> None:
    out, flood_topic, app_id = mqtt_events
    now = datetime.now(UTC)
    lora_topic = f"application/{app_id}/device/{{}}/event/up"
    items = [(flood_topic, orjson.dumps({"ts": ts, "water_level_m": 1.0})) for ts in EXTREME_TIMES]
    items += [
        (lora_topic.format(NN01.dev_eui), ldds75_uplink(NN01.dev_eui, now, time=ts)) for ts in EXTREME_TIMES
    ]
    items += [
        (lora_topic.format(NN01.dev_eui), ldds75_uplink(NN01.dev_eui, now, object={"Distance": d}))
        for d in ("²", "9" * 5000, "3500²")
    ]
    items += [
        (lora_topic.format(OTHER.dev_eui), ldds75_uplink(NN01.dev_eui, now)),  # hole 5
        (lora_topic.format(NN01.dev_eui), ldds75_uplink(NN01.dev_eui, now)),  # the one good uplink
    ]
    publish_at = time.monotonic()
    publish(endpoints, items)
    while len(out) < len(items) and time.monotonic() - publish_at < 15:
        time.sleep(0.05)
    assert len(out) == len(items)
    dead = [e for e in out if isinstance(e, DeadLetter)]
    readings = [e for e in out if isinstance(e, SensorReading)]
    assert len(readings) == 1 and readings[0].station_id == "NN-01"
    assert sorted(d.reason for d in dead) == sorted(
        ["invalid_field"] * 4 + ["sensor_fault"] * 3 + ["device_mismatch"]
    )
    assert all(d.detail for d in dead)


# --- hole 10: a huge unauthenticated body is refused before it is read


@pytest.fixture
def served(emitted: list[Event]) -> Iterator[int]:
    server = make_server(make_app(STATIONS, SECRETS, emitted.append), "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield int(server.effective_port)
    server.close()
    thread.join(timeout=5)


def test_hole10_a_300_mb_post_is_refused_from_its_headers(served: int, emitted: list[Event]) -> None:
    # Only the headers and 1 KiB are sent: before the fix waitress waited for the other 300 MB (1 GiB limit).
    head = (f"POST {URL.format('NS-01')} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {300 * 1024 * 1024}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", served), timeout=5) as sock:
        sock.sendall(head + b"x" * 1024)
        try:
            answer = sock.recv(4096)
        except TimeoutError:
            pytest.fail("waitress is still reading the body after 5 s")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert emitted == []


# --- hole 11: an unknown station answers like a failed authentication


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": f"Bearer {TOKEN}"},
        {"Authorization": "Bearer guess"},
        {"X-IOC-Timestamp": str(int(NOW.timestamp())), "X-IOC-Signature": "sha256=00"},
    ],
)
def test_hole11_unknown_station_cannot_be_told_from_a_bad_credential(
    client: FlaskClient, emitted: list[Event], headers: dict[str, str]
) -> None:
    body = b'{"ts": "2026-11-22T08:59:00+07:00", "water_level_m": 2.5}'
    unknown = client.post(URL.format("XX-99"), data=body, headers=headers)
    no_secret = client.post(URL.format("NN-01"), data=body, headers=headers)  # known, but has no secret
    assert unknown.status_code == no_secret.status_code == 401
    assert unknown.json == no_secret.json and unknown.json is not None
    assert "XX-99" not in unknown.get_data(as_text=True)
    assert unknown.headers.get("WWW-Authenticate") == no_secret.headers.get("WWW-Authenticate")
    assert emitted == []
