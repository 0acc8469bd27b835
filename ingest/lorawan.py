"""LoRaWAN stations through ChirpStack v4: from an uplink event to a ``SensorReading`` or a clear rejection.

ChirpStack publishes each uplink on MQTT ``application/<application id>/device/<devEui>/event/up`` as JSON::

    {"deduplicationId": "...", "time": "2026-11-22T02:00:00.123+00:00",
     "deviceInfo": {"devEui": "a84041000181c061", "deviceProfileName": "LDDS75", ...},
     "fCnt": 42, "fPort": 2, "data": "DOQNrAAA6gE=",            # FRMPayload, base64
     "object": {...},                                           # only when the device profile has a codec
     "rxInfo": [{"gatewayId": "...", "rssi": -97, "snr": 7.5}, ...]}

The DevEUI names the station (``flood_stations[].lorawan.dev_eui``) and the station's decoder model says how
to read the bytes. When the server's codec already decoded the payload (``object``) and the object carries
values this project understands, those are used; otherwise the raw ``data`` is decoded here. ``signal_dbm``
is the best RSSI over the receiving gateways.

Decoders are pure functions ``(bytes, fPort, DeviceProfile) -> metrics``; everything here is pure, like
``ingest.flood``, so the MQTT adapter and the tests share it.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from ingest.flood import DEFAULT_RANGES, MAX_PAYLOAD, StationLimits, to_utc
from ioc.config.models import FloodStation
from ioc.errors import InvalidInput
from ioc.events import DeadLetter, Event, SensorReading, utcnow

logger = logging.getLogger(__name__)

SUBSCRIPTION = "application/+/device/+/event/up"
SOURCE = "lorawan"

Metrics = dict[str, float]


@dataclass(frozen=True)
class DeviceProfile:
    """What decoding needs to know about one device: its station, model and mounting."""

    dev_eui: str
    station_id: str
    model: str
    mount_height_m: float | None = None
    mm_per_pulse: float = 0.2


@dataclass(frozen=True)
class PayloadDecoder:
    """One device model: how to read its bytes, and how to read its server-decoded ``object``.

    ``ports`` are the fPorts that carry measurements; uplinks on other ports (device status, configuration
    replies) are not readings and are skipped without a dead letter.
    """

    name: str
    decode: Callable[[bytes, DeviceProfile], Metrics]
    from_object: Callable[[Mapping[str, Any], DeviceProfile], Metrics]
    ports: frozenset[int] = field(default_factory=lambda: frozenset(range(1, 224)))
    layout: str = ""


# --- decoders ----------------------------------------------------------------------------------------------

LDDS75_LAYOUT = """\
Dragino LDDS75 ultrasonic distance sensor, fPort 2, 8 bytes, big-endian:
  bytes 0-1  battery voltage in mV (the top two bits are flags: value & 0x3FFF)
  bytes 2-3  distance from the sensor face to the water surface in mm (uint16);
             0 = no ultrasonic probe detected, below 280 = inside the blind zone (not a valid reading)
  byte  4    interrupt flag (ignored)
  bytes 5-6  DS18B20 temperature, int16 / 10 degC (ignored)
  byte  7    sensor flag (ignored)
water_level_m = mount_height_m - distance_mm / 1000; battery_v = battery_mV / 1000.
fPort 5 is the device status frame (model, firmware, band): not a reading."""
LDDS75_BLIND_ZONE_MM = 280
LDDS75_MAX_MM = 7500


def decode_ldds75(data: bytes, device: DeviceProfile) -> Metrics:
    """Decode an LDDS75 measurement frame (layout in ``LDDS75_LAYOUT``)."""
    if len(data) < 4:
        raise InvalidInput("bad_payload", f"{device.model}: {len(data)} bytes, expected 8 (at least 4)")
    battery_mv = int.from_bytes(data[0:2], "big") & 0x3FFF
    distance_mm = int.from_bytes(data[2:4], "big")
    return {**_level_from_distance(distance_mm, device), "battery_v": round(battery_mv / 1000, 3)}


def ldds75_from_object(obj: Mapping[str, Any], device: DeviceProfile) -> Metrics:
    """Read generic metrics, or those of Dragino's codec (``Bat`` in V, ``Distance`` as ``"1234 mm"``)."""
    metrics = generic_from_object(obj, device)
    if "Distance" in obj and "water_level_m" not in metrics:
        raw = obj["Distance"]
        text = str(raw).strip().removesuffix("mm").strip()
        # ASCII digits, at most 9: "²" passes isdigit() and int() refuses 5000 digits (hole 9).
        if isinstance(raw, bool) or not (text.isascii() and text.isdigit() and len(text) <= 9):
            raise InvalidInput("sensor_fault", f"{device.model}: the server codec reports distance {raw!r}")
        metrics.update(_level_from_distance(int(text), device))
    bat = obj.get("Bat")
    if "battery_v" not in metrics and isinstance(bat, int | float) and _is_number(bat):
        metrics["battery_v"] = float(bat)
    return metrics


def _level_from_distance(distance_mm: int, device: DeviceProfile) -> Metrics:
    if distance_mm == 0:
        raise InvalidInput("sensor_fault", f"{device.model} {device.dev_eui}: no ultrasonic probe detected")
    if distance_mm < LDDS75_BLIND_ZONE_MM:
        raise InvalidInput(
            "sensor_fault",
            f"{device.model} {device.dev_eui}: distance {distance_mm} mm is inside the "
            f"{LDDS75_BLIND_ZONE_MM} mm blind zone; the water may be at the sensor, check the station",
        )
    if distance_mm > LDDS75_MAX_MM:
        raise InvalidInput("sensor_fault", f"{device.model}: distance {distance_mm} mm > {LDDS75_MAX_MM} mm")
    if device.mount_height_m is None:
        raise InvalidInput("unknown_model", f"{device.model} {device.dev_eui}: mount_height_m is not set")
    return {"water_level_m": round(device.mount_height_m - distance_mm / 1000, 3)}


RAIN_PULSES_LAYOUT = """\
Rain gauge pulse counter (tipping bucket), any fPort 1-223, 4 bytes, big-endian:
  bytes 0-1  battery voltage in mV (uint16)
  bytes 2-3  bucket tips counted since the previous uplink (uint16)
rainfall_mm = tips x mm_per_pulse (0.2 mm by default); battery_v = battery_mV / 1000.
The count restarts at every uplink, so a lost uplink loses its rain: use confirmed uplinks on such devices."""


def decode_rain_pulses(data: bytes, device: DeviceProfile) -> Metrics:
    """Decode a rain-gauge pulse frame (layout in ``RAIN_PULSES_LAYOUT``)."""
    if len(data) != 4:
        raise InvalidInput("bad_payload", f"{device.model}: {len(data)} bytes, expected 4")
    battery_mv = int.from_bytes(data[0:2], "big")
    tips = int.from_bytes(data[2:4], "big")
    return {"rainfall_mm": round(tips * device.mm_per_pulse, 3), "battery_v": round(battery_mv / 1000, 3)}


def rain_from_object(obj: Mapping[str, Any], device: DeviceProfile) -> Metrics:
    """Read generic metrics, or ``pulses`` (tips since the previous uplink) from a server codec."""
    metrics = generic_from_object(obj, device)
    pulses = obj.get("pulses")
    if "rainfall_mm" not in metrics and isinstance(pulses, int | float) and _is_number(pulses):
        metrics["rainfall_mm"] = round(float(pulses) * device.mm_per_pulse, 3)
    return metrics


OBJECT_METRICS = ("water_level_m", "rainfall_mm", "battery_v")


def generic_from_object(obj: Mapping[str, Any], _device: DeviceProfile) -> Metrics:
    """Take the values a server codec wrote under this project's metric names (``water_level_m`` ...)."""
    return {k: float(obj[k]) for k in OBJECT_METRICS if _is_number(obj.get(k))}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


DECODERS: dict[str, PayloadDecoder] = {
    d.name: d
    for d in (
        PayloadDecoder("dragino-ldds75", decode_ldds75, ldds75_from_object, frozenset({2}), LDDS75_LAYOUT),
        PayloadDecoder("rain-pulses", decode_rain_pulses, rain_from_object, layout=RAIN_PULSES_LAYOUT),
    )
}


# --- config to runtime -------------------------------------------------------------------------------------


def device_profiles(stations: list[FloodStation]) -> dict[str, DeviceProfile]:
    """Return the LoRaWAN devices of a site by lower-case DevEUI."""
    out: dict[str, DeviceProfile] = {}
    for st in stations:
        if st.lorawan is None:
            continue
        dev = st.lorawan
        eui = dev.dev_eui.lower()
        out[eui] = DeviceProfile(eui, st.id, dev.model, dev.mount_height_m, dev.mm_per_pulse)
    return out


# --- the uplink event --------------------------------------------------------------------------------------


def parse_uplink(
    payload: bytes,
    devices: Mapping[str, DeviceProfile],
    stations: Mapping[str, StationLimits],
    received_at: datetime,
    *,
    max_skew: timedelta = timedelta(minutes=10),
    max_age: timedelta = timedelta(days=7),
    topic_dev_eui: str | None = None,
) -> SensorReading | None:
    """Validate one ChirpStack uplink event; return None for a frame that is not a measurement.

    ``topic_dev_eui`` is the DevEUI of the topic the event came on; the payload's must be the same.
    Raise ``InvalidInput`` with ``malformed_json``, ``unknown_device``, ``device_mismatch``,
    ``unknown_model``, ``bad_payload``, ``sensor_fault``, ``invalid_field``, ``out_of_range`` or
    ``clock_skew``.
    """
    if len(payload) > MAX_PAYLOAD:
        raise InvalidInput("invalid_field", f"event of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    try:
        event = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput("malformed_json", f"not valid JSON: {exc}") from exc
    if not isinstance(event, dict):
        raise InvalidInput("malformed_json", f"expected a JSON object, got {type(event).__name__}")

    info = event.get("deviceInfo")
    eui = info.get("devEui") if isinstance(info, dict) else None
    if not isinstance(eui, str) or not eui:
        raise InvalidInput("invalid_field", "deviceInfo.devEui is missing; is this a ChirpStack v4 uplink?")
    if topic_dev_eui is not None and eui.lower() != topic_dev_eui.lower():
        # One device's credentials must not speak for another (issue 12, hole 5).
        raise InvalidInput(
            "device_mismatch", f"deviceInfo.devEui {eui} is not the DevEUI {topic_dev_eui} of the topic"
        )
    device = devices.get(eui.lower())
    if device is None:
        raise InvalidInput("unknown_device", f"device {eui} is not the lorawan.dev_eui of any station")
    decoder = DECODERS.get(device.model)
    if decoder is None:
        raise InvalidInput("unknown_model", f"device {eui}: no decoder named {device.model!r}")
    limits = stations.get(device.station_id)
    if limits is None:
        raise InvalidInput("unknown_station", f"device {eui}: station {device.station_id!r} has no limits")

    port = event.get("fPort")
    if isinstance(port, bool) or not isinstance(port, int):
        raise InvalidInput("invalid_field", f"device {eui}: fPort {port!r} is not an integer")
    if port not in decoder.ports:
        logger.debug("device %s: fPort %s of %s is not a measurement, skipped", eui, port, device.model)
        return None

    observed_at = _observed_at(event.get("time"), received_at)
    if observed_at > received_at + max_skew:
        raise InvalidInput("clock_skew", f"time {observed_at.isoformat()} is ahead of the server clock")
    if observed_at < received_at - max_age:
        raise InvalidInput("clock_skew", f"time {observed_at.isoformat()} is older than {max_age.days} days")

    metrics: Metrics = {}
    obj = event.get("object")
    if isinstance(obj, dict) and obj:
        metrics = decoder.from_object(obj, device)
    if not metrics:
        metrics = decoder.decode(_payload_bytes(event.get("data"), eui), device)

    values = _checked(metrics, limits)
    signal = _best_rssi(event.get("rxInfo"))
    if signal is not None:
        lo, hi = limits.ranges.get("signal_dbm", DEFAULT_RANGES["signal_dbm"])
        if lo <= signal <= hi:
            values["signal_dbm"] = signal
    return SensorReading.create(device.station_id, observed_at, values, source=SOURCE,
                                received_at=received_at)


def _payload_bytes(raw: object, eui: str) -> bytes:
    if not isinstance(raw, str) or not raw:
        raise InvalidInput("bad_payload", f"device {eui}: no data and no decoded object in the uplink")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("bad_payload", f"device {eui}: data is not base64: {exc}") from exc


def _observed_at(raw: object, received_at: datetime) -> datetime:
    # ChirpStack leaves ``time`` out when no gateway gives one; the arrival time is then the best guess.
    if raw is None:
        return received_at
    if not isinstance(raw, str):
        raise InvalidInput("invalid_field", f"time must be an RFC 3339 string, got {type(raw).__name__}")
    try:
        ts = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidInput("invalid_field", f"time {raw!r} is not RFC 3339") from exc
    if ts.tzinfo is None:
        raise InvalidInput("invalid_field", f"time {raw!r} has no UTC offset")
    return to_utc(ts, "time")


def _checked(metrics: Metrics, limits: StationLimits) -> dict[str, float]:
    if not metrics:
        raise InvalidInput("bad_payload", "the uplink decoded to no measurement")
    for key, value in metrics.items():
        if not math.isfinite(value):
            raise InvalidInput("invalid_field", f"{key} decoded to {value}")
        lo, hi = limits.ranges.get(key, DEFAULT_RANGES[key])
        if not lo <= value <= hi:
            raise InvalidInput(
                "out_of_range", f"{key}={value} outside the valid range [{lo}, {hi}] of {limits.station_id}"
            )
    return dict(metrics)


def _best_rssi(rx_info: object) -> float | None:
    if not isinstance(rx_info, list):
        return None
    rssis = [float(rx["rssi"]) for rx in rx_info if isinstance(rx, dict) and _is_number(rx.get("rssi"))]
    return max(rssis) if rssis else None


def dev_eui_of_topic(topic: str) -> str | None:
    """Return the DevEUI in a ChirpStack event topic, or None when the topic is not an uplink topic."""
    parts = topic.split("/")
    if (len(parts) == 6 and parts[0] == "application" and parts[2] == "device"
            and parts[4:] == ["event", "up"]):
        return parts[3].lower()
    return None


# --- the handler the MQTT adapter calls --------------------------------------------------------------------


@dataclass
class UplinkCounts:
    """Running totals, for logs."""

    accepted: int = 0
    rejected: int = 0
    skipped: int = 0


class UplinkHandler:
    """Turn one ChirpStack uplink event into at most one event and hand it to ``emit``."""

    def __init__(self, devices: Mapping[str, DeviceProfile], stations: Mapping[str, StationLimits],
                 emit: Callable[[Event], None]) -> None:
        self.devices = devices
        self.stations = stations
        self.emit = emit
        self.counts = UplinkCounts()

    def __call__(self, topic: str, payload: bytes) -> Event | None:
        """Validate and emit; return the event emitted, or None for a frame that is not a measurement."""
        received = utcnow()
        event: Event
        try:
            topic_eui = dev_eui_of_topic(topic)
            if topic_eui is None:
                raise InvalidInput("bad_topic", f"topic {topic!r} does not match {SUBSCRIPTION!r}")
            reading = parse_uplink(payload, self.devices, self.stations, received, topic_dev_eui=topic_eui)
            if reading is None:
                self.counts.skipped += 1
                return None
            event = reading
            self.counts.accepted += 1
        except InvalidInput as exc:
            logger.warning("rejected uplink on %s: %s", topic, exc)
            event = DeadLetter.of(f"{SOURCE}:{topic}", payload, exc, received)
            self.counts.rejected += 1
        self.emit(event)
        return event
