"""The Faust alert worker's batches: the same alerts as one event at a time, each key's state written once,
to the changelog partition of its source partition, and a tick that reads what the batch wrote."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from analytics.alerts import AlertProcessor
from ioc import topics
from ioc.app.runtime.faust_app import AlertBatch, FaustSettings, partition_of
from ioc.events import SensorReading, Tick
from tests.analytics.test_flood_windows import FLOOD, SETUP

T0 = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
SOURCE = topics.SENSOR_READINGS


class FakeTable:
    """What AlertBatch uses of a BatchTable: get, iterate, write with a partition."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.writes: list[tuple[int, str]] = []

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def __iter__(self) -> Any:
        return iter(list(self.data))

    def write(self, partition: int, key: str, value: Any) -> None:
        self.writes.append((partition, key))
        self.data[key] = value


def readings(station: str) -> list[SensorReading]:
    out = []
    for minutes, level, rain in FLOOD:
        at = T0 + timedelta(minutes=minutes)
        out.append(SensorReading.create(station, at, {"water_level_m": level, "rainfall_mm": rain},
                                        source="sim", received_at=at))
    return out


def settings() -> FaustSettings:
    return FaustSettings(kafka_bootstrap="-", database_url="-", redis_url="-", alerts=SETUP)


def test_a_batch_gives_the_alerts_of_one_event_at_a_time_and_writes_each_key_once() -> None:
    events = readings("NS-01")
    one_by_one = AlertProcessor(SETUP)
    expected = [a.event_id for e in events for a in one_by_one.handle(e)]

    table = FakeTable()
    part = partition_of("NS-01", SOURCE.partitions)
    got = []
    for chunk in (events[:5], events[5:6], events[6:]):  # three batches, the state through the table between
        batch = AlertBatch(settings(), SOURCE, table, "station", ())  # type: ignore[arg-type]
        batch.run([(part, e.to_bytes()) for e in chunk])
        got += [a.event_id for a in batch.alerts]
    assert got == expected and len(expected) >= 10
    assert table.writes == [(part, "NS-01")] * 3
    assert table.data["NS-01"] == one_by_one.state()


def test_a_tick_in_a_batch_sees_the_readings_before_it_and_a_bad_event_is_a_dead_letter() -> None:
    table = FakeTable()
    part = partition_of("NS-01", SOURCE.partitions)
    first = readings("NS-01")[0]
    tick = Tick.create(part, T0 + timedelta(hours=2))  # two hours of silence after the first reading
    batch = AlertBatch(settings(), SOURCE, table, "station", ())  # type: ignore[arg-type]
    batch.run([(part, first.to_bytes()), (part, b"{not json"), (part, tick.to_bytes())])
    assert [(a.alert_key, a.transition.value) for a in batch.alerts] == [("flood:NS-01:silent", "opened")]
    assert [raw for raw, _ in batch.dead] == [b"{not json"]
    assert table.writes[0] == (part, "NS-01")
