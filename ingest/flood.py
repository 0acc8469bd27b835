"""Flood station messages: from raw MQTT topic and bytes to a validated ``SensorReading`` or a clear rejection.

Topic scheme: ``ioc/<site>/flood/<station_id>/up``. Payload: a JSON object with ``ts`` (ISO 8601 with an offset, or
Unix seconds) and one or more metrics::

    {"ts": "2026-11-22T09:00:00+07:00", "water_level_m": 1.82, "rainfall_mm": 0.4, "battery_v": 3.9, "signal_dbm": -85}

A data logger that stored readings while its link was down may send them in one message, as a JSON array of such
objects (at most ``MAX_RECORDS``, ``MAX_BATCH_PAYLOAD`` bytes): each record is validated alone, a bad one is
refused with its index and the others pass (:func:`parse_records`).

Everything here is pure: no I/O, so the MQTT adapter, the embedded simulator and the tests share it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson

from ioc.errors import InvalidInput
from ioc.events import SensorReading

METRICS: tuple[str, ...] = ("water_level_m", "rainfall_mm", "battery_v", "signal_dbm")
DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "water_level_m": (-5.0, 60.0),
    "rainfall_mm": (0.0, 500.0),
    "battery_v": (0.0, 30.0),
    "signal_dbm": (-150.0, 0.0),
}
MAX_PAYLOAD = 16 * 1024
MAX_RECORDS = 1000  # readings in one logger message
MAX_BATCH_PAYLOAD = 512 * 1024


@dataclass(frozen=True)
class StationLimits:
    """What a station may send: its id and the valid range of each metric."""

    station_id: str
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_RANGES))


@dataclass(frozen=True)
class FloodTopics:
    """The MQTT topic scheme of one site."""

    site_id: str
    prefix: str = "ioc"

    @property
    def subscription(self) -> str:
        """Return the wildcard subscription for every station of the site."""
        return f"{self.prefix}/{self.site_id}/flood/+/up"

    def for_station(self, station_id: str) -> str:
        """Return the topic a station publishes on."""
        return f"{self.prefix}/{self.site_id}/flood/{station_id}/up"

    def station_of(self, topic: str) -> str:
        """Return the station id in a topic, or raise ``InvalidInput``."""
        parts = topic.split("/")
        if (len(parts) != 5 or parts[0] != self.prefix or parts[1] != self.site_id or parts[2] != "flood"
                or parts[4] != "up" or not parts[3]):
            raise InvalidInput("bad_topic", f"topic {topic!r} does not match {self.subscription!r}")
        return parts[3]


def parse_reading(
    topic: str,
    payload: bytes,
    scheme: FloodTopics,
    stations: Mapping[str, StationLimits],
    received_at: datetime,
    *,
    source: str = "mqtt",
    max_skew: timedelta = timedelta(minutes=10),
    max_age: timedelta = timedelta(days=7),
) -> SensorReading:
    """Validate one station message; raise ``InvalidInput`` with a reason code and a precise detail."""
    station_id, limits = _station(topic, scheme, stations)
    if len(payload) > MAX_PAYLOAD:
        raise InvalidInput("invalid_field", f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    data = _json(payload)
    if not isinstance(data, dict):
        raise InvalidInput("malformed_json", f"expected a JSON object, got {type(data).__name__}")
    return _reading(station_id, limits, data, received_at, source, max_skew, max_age)


def parse_records(
    topic: str,
    payload: bytes,
    scheme: FloodTopics,
    stations: Mapping[str, StationLimits],
    received_at: datetime,
    *,
    source: str = "mqtt",
    max_skew: timedelta = timedelta(minutes=10),
    max_age: timedelta = timedelta(days=7),
) -> list[tuple[SensorReading | InvalidInput, bytes]]:
    """Validate a message of one reading or a logger's array of them; return each record's outcome and raw bytes.

    A fault of the whole message (topic, station, size, JSON) raises ``InvalidInput``; a bad record in an array is
    its own ``InvalidInput`` (``record i of n: ...``) beside the good ones.
    """
    if payload.lstrip()[:1] != b"[":
        return [(parse_reading(topic, payload, scheme, stations, received_at, source=source, max_skew=max_skew,
                               max_age=max_age), payload)]
    station_id, limits = _station(topic, scheme, stations)
    if len(payload) > MAX_BATCH_PAYLOAD:
        raise InvalidInput("invalid_field", f"payload of {len(payload)} bytes exceeds {MAX_BATCH_PAYLOAD}")
    records = _json(payload)
    if not isinstance(records, list) or not records:
        raise InvalidInput("malformed_json", "expected a JSON object or a non-empty array of them")
    if len(records) > MAX_RECORDS:
        raise InvalidInput("invalid_field", f"{len(records)} records in one message; at most {MAX_RECORDS}")
    out: list[tuple[SensorReading | InvalidInput, bytes]] = []
    for i, record in enumerate(records):
        raw = orjson.dumps(record)
        try:
            if not isinstance(record, dict):
                raise InvalidInput("malformed_json", f"expected a JSON object, got {type(record).__name__}")
            out.append((_reading(station_id, limits, record, received_at, source, max_skew, max_age), raw))
        except InvalidInput as exc:
            out.append((InvalidInput(exc.reason, f"record {i + 1} of {len(records)}: {exc.detail}"), raw))
    return out


def _station(topic: str, scheme: FloodTopics, stations: Mapping[str, StationLimits]) -> tuple[str, StationLimits]:
    station_id = scheme.station_of(topic)
    limits = stations.get(station_id)
    if limits is None:
        raise InvalidInput("unknown_station", f"station {station_id!r} is not in the site configuration")
    return station_id, limits


def _json(payload: bytes) -> object:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput("malformed_json", f"not valid JSON: {exc}") from exc


def _reading(station_id: str, limits: StationLimits, data: Mapping[str, object], received_at: datetime,
             source: str, max_skew: timedelta, max_age: timedelta) -> SensorReading:
    observed_at = _parse_ts(data.get("ts"))
    if observed_at > received_at + max_skew:
        raise InvalidInput(
            "clock_skew", f"ts {observed_at.isoformat()} is {observed_at - received_at} ahead of the server clock"
        )
    if observed_at < received_at - max_age:
        raise InvalidInput("clock_skew", f"ts {observed_at.isoformat()} is older than {max_age.days} days")

    values: dict[str, float] = {}
    for key, raw in data.items():
        if key == "ts":
            continue
        if key not in METRICS:
            raise InvalidInput("invalid_field", f"unknown field {key!r}; expected ts and some of {', '.join(METRICS)}")
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise InvalidInput("invalid_field", f"{key} must be a finite number, got {raw!r}")
        lo, hi = limits.ranges.get(key, DEFAULT_RANGES[key])
        if not lo <= raw <= hi:
            raise InvalidInput("out_of_range", f"{key}={raw} outside the valid range [{lo}, {hi}] of {station_id}")
        values[key] = float(raw)
    if not values:
        raise InvalidInput("invalid_field", f"no measurement in the message; expected some of {', '.join(METRICS)}")
    return SensorReading.create(station_id, observed_at, values, source=source, received_at=received_at)


def _parse_ts(raw: object) -> datetime:
    if isinstance(raw, bool) or raw is None:
        raise InvalidInput("invalid_field", "ts is missing (ISO 8601 with offset, or Unix seconds)")
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            raise InvalidInput("invalid_field", f"ts {raw!r} is not a finite number")
        try:
            return datetime.fromtimestamp(float(raw), UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise InvalidInput("invalid_field", f"ts {raw!r} is not a valid Unix time") from exc
    if isinstance(raw, str):
        try:
            ts = datetime.fromisoformat(raw)
        except ValueError as exc:
            raise InvalidInput("invalid_field", f"ts {raw!r} is not ISO 8601") from exc
        if ts.tzinfo is None:
            raise InvalidInput("invalid_field", f"ts {raw!r} has no UTC offset; add +07:00 or Z")
        return to_utc(ts, "ts")
    raise InvalidInput("invalid_field", f"ts must be a string or a number, got {type(raw).__name__}")


def to_utc(ts: datetime, what: str) -> datetime:
    """Return an aware time in UTC; raise ``InvalidInput`` when it falls outside years 1-9999 in UTC."""
    try:
        return ts.astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00:00+14:00 is the year 0 in UTC (issue 12, hole 9)
        raise InvalidInput(
            "invalid_field", f"{what} {ts.isoformat()} is outside the years 1-9999 in UTC"
        ) from exc


def encode_reading(observed_at: datetime, values: Mapping[str, float]) -> bytes:
    """Return the payload a station (or the simulator) publishes."""
    return orjson.dumps({"ts": observed_at.isoformat(), **values})


def encode_records(records: Sequence[tuple[datetime, Mapping[str, float]]]) -> bytes:
    """Return the payload a data logger publishes for several stored readings."""
    return orjson.dumps([{"ts": at.isoformat(), **values} for at, values in records])
