"""Duplicate readings are dropped before the bus; other events, first sightings and retries pass."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ingest.dedup import DedupEmit, RecentReadings
from ioc.errors import InvalidInput, SinkUnavailable
from ioc.events import DeadLetter, Event, SensorReading

T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


def reading(station: str = "NS-01", at: datetime = T0, level: float = 1.0) -> SensorReading:
    return SensorReading.create(station, at, {"water_level_m": level}, source="test", received_at=T0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_same_station_and_time_is_a_duplicate_whatever_the_offset() -> None:
    recent = RecentReadings()
    assert recent.first_time("NS-01", T0)
    assert not recent.first_time("NS-01", T0.astimezone(timezone(timedelta(hours=7))))
    assert recent.first_time("NS-02", T0)
    assert recent.first_time("NS-01", T0 + timedelta(seconds=1))


def test_keys_expire_after_the_ttl() -> None:
    clock = Clock()
    recent = RecentReadings(ttl_s=60, clock=clock)
    assert recent.first_time("NS-01", T0)
    clock.now = 59
    assert not recent.first_time("NS-01", T0)
    clock.now = 61
    assert recent.first_time("NS-01", T0)


def test_size_is_bounded_and_the_oldest_key_goes_first() -> None:
    recent = RecentReadings(max_items=3)
    for i in range(5):
        assert recent.first_time("NS-01", T0 + timedelta(minutes=i))
    assert len(recent) == 3
    assert recent.first_time("NS-01", T0)  # evicted, so new again
    assert not recent.first_time("NS-01", T0 + timedelta(minutes=4))


def test_dedup_emit_drops_duplicate_readings_only() -> None:
    out: list[Event] = []
    emit = DedupEmit(out.append)
    dead = DeadLetter.of("mqtt:x", b"{", InvalidInput("malformed_json", "x"), T0)
    for event in (reading(), reading(level=2.0), dead, dead, reading(at=T0 + timedelta(minutes=5))):
        emit(event)
    assert [type(e).__name__ for e in out] == ["SensorReading", "DeadLetter", "DeadLetter", "SensorReading"]
    assert emit.dropped == 1


def test_a_reading_that_failed_to_send_passes_when_sent_again() -> None:
    calls: list[Event] = []

    def flaky(event: Event) -> None:
        calls.append(event)
        if len(calls) == 1:
            raise SinkUnavailable("broker down")

    emit = DedupEmit(flaky)
    with pytest.raises(SinkUnavailable):
        emit(reading())
    emit(reading())
    assert len(calls) == 2 and emit.dropped == 0


def test_concurrent_senders_pass_each_reading_once() -> None:
    out: list[Event] = []
    lock = threading.Lock()

    def append(event: Event) -> None:
        with lock:
            out.append(event)

    emit = DedupEmit(append)
    events = [reading(at=T0 + timedelta(seconds=i)) for i in range(200)]

    def send_all() -> None:
        for e in events:
            emit(e)

    threads = [threading.Thread(target=send_all) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 200 and emit.dropped == 7 * 200


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RecentReadings(max_items=0)
