"""Flood station messages: valid ones become readings, each kind of bad one gets its own reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.flood import (
    MAX_RECORDS,
    FloodTopics,
    StationLimits,
    encode_reading,
    encode_records,
    parse_reading,
    parse_records,
)
from ioc.errors import InvalidInput
from ioc.events import SensorReading

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
SCHEME = FloodTopics("muong-cha")
STATIONS = {"NS-01": StationLimits("NS-01", {"water_level_m": (0.0, 15.0), "rainfall_mm": (0.0, 200.0)})}
TOPIC = SCHEME.for_station("NS-01")


def parse(payload: bytes, topic: str = TOPIC) -> object:
    return parse_reading(topic, payload, SCHEME, STATIONS, NOW)


def test_valid_message_with_local_time() -> None:
    r = parse(b'{"ts": "2026-11-22T08:59:00+07:00", "water_level_m": 2.5, "rainfall_mm": 1.2}')
    assert r.station_id == "NS-01"  # type: ignore[attr-defined]
    assert r.observed_at == NOW - timedelta(minutes=1)  # type: ignore[attr-defined]
    assert r.values == {"water_level_m": 2.5, "rainfall_mm": 1.2}  # type: ignore[attr-defined]


def test_unix_seconds_and_round_trip_of_the_encoder() -> None:
    r = parse(encode_reading(NOW, {"water_level_m": 1.0}))
    assert r.observed_at == NOW  # type: ignore[attr-defined]
    r2 = parse(b'{"ts": %d, "water_level_m": 1}' % int(NOW.timestamp()))
    assert r2.observed_at == NOW  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("payload", "topic", "reason"),
    [
        (b"{not json", TOPIC, "malformed_json"),
        (b"\xff\xfe", TOPIC, "malformed_json"),
        (b"[1, 2]", TOPIC, "malformed_json"),
        (b'{"ts": "2026-11-22T08:59:00+07:00", "water_level_m": 2}', "ioc/other/flood/NS-01/up", "bad_topic"),
        (b'{"ts": "2026-11-22T08:59:00+07:00", "water_level_m": 2}', "ioc/muong-cha/flood/XX-09/up", "unknown_station"),
        (b'{"water_level_m": 2}', TOPIC, "invalid_field"),
        (b'{"ts": "2026-11-22 08:59", "water_level_m": 2}', TOPIC, "invalid_field"),
        (b'{"ts": "yesterday", "water_level_m": 2}', TOPIC, "invalid_field"),
        (b'{"ts": "2026-11-22T08:59:00+07:00", "water_level_m": "2.5"}', TOPIC, "invalid_field"),
        (b'{"ts": "2026-11-22T08:59:00+07:00", "water_level_m": true}', TOPIC, "invalid_field"),
        (b'{"ts": "2026-11-22T08:59:00+07:00", "water_level_m": NaN}', TOPIC, "malformed_json"),
        (b'{"ts": "2026-11-22T08:59:00+07:00", "water_level_cm": 250}', TOPIC, "invalid_field"),
        (b'{"ts": "2026-11-22T08:59:00+07:00"}', TOPIC, "invalid_field"),
        (b'{"ts": "2026-11-22T08:59:00+07:00", "water_level_m": 250}', TOPIC, "out_of_range"),
        (b'{"ts": "2026-11-22T08:59:00+07:00", "rainfall_mm": -1}', TOPIC, "out_of_range"),
        (b'{"ts": "2026-11-22T12:00:00+07:00", "water_level_m": 2}', TOPIC, "clock_skew"),
        (b'{"ts": "2026-01-01T00:00:00+07:00", "water_level_m": 2}', TOPIC, "clock_skew"),
        (b'{"ts": 1e300, "water_level_m": 2}', TOPIC, "invalid_field"),
    ],
)
def test_bad_messages_are_rejected_with_a_reason(payload: bytes, topic: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse(payload, topic)
    assert info.value.reason == reason
    assert info.value.detail


def test_topic_scheme() -> None:
    assert SCHEME.subscription == "ioc/muong-cha/flood/+/up"
    assert SCHEME.station_of("ioc/muong-cha/flood/NS-01/up") == "NS-01"


def records(payload: bytes) -> list[tuple[object, bytes]]:
    return parse_records(TOPIC, payload, SCHEME, STATIONS, NOW)  # type: ignore[return-value]


def test_a_loggers_array_gives_one_reading_per_record_and_refuses_only_the_bad_ones() -> None:
    at = [NOW - timedelta(minutes=m) for m in (30, 20, 10)]
    good = encode_records([(at[0], {"water_level_m": 2.0}), (at[1], {"water_level_m": 2.1, "rainfall_mm": 0.5})])
    payload = good[:-1] + b',{"ts": "%s", "water_level_m": 250},"oops",' % at[2].isoformat().encode() + \
        encode_records([(at[2], {"water_level_m": 2.2})])[1:]
    out = records(payload)
    assert len(out) == 5
    readings = [r for r, _ in out if isinstance(r, SensorReading)]
    assert [r.observed_at for r in readings] == [at[0], at[1], at[2]]
    assert readings[1].values == {"water_level_m": 2.1, "rainfall_mm": 0.5}
    bad = [(r.reason, r.detail, raw) for r, raw in out if isinstance(r, InvalidInput)]
    assert [(reason, detail.split(":")[0]) for reason, detail, _ in bad] == [
        ("out_of_range", "record 3 of 5"), ("malformed_json", "record 4 of 5")]
    assert bad[1][2] == b'"oops"'  # the record itself travels to the dead letter, not the whole message
    # One reading alone, as before, is one record with the whole payload.
    single = encode_reading(at[0], {"water_level_m": 2.0})
    assert [(type(r).__name__, raw) for r, raw in records(single)] == [("SensorReading", single)]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [(b"[]", "malformed_json"), (b"[1, 2", "malformed_json"),
     (b"[" + b",".join([b'{"ts": 1, "water_level_m": 1}'] * (MAX_RECORDS + 1)) + b"]", "invalid_field")],
)
def test_a_bad_array_as_a_whole_is_refused(payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidInput) as info:
        records(payload)
    assert info.value.reason == reason
