"""The lag monitor's settings, gauges, health answer and judging, on offsets given by the test (the same against
the real brokers: tests/integration/test_lag_alert.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP
from prometheus_client import generate_latest

from analytics.lag import LagRule, PartitionLag
from ioc import topics
from ioc.app.runtime.lag import LagMonitor, LagSettings, watch_lag, wsgi_app
from ioc.errors import SinkUnavailable
from ioc.events import AlertEvent, AlertTransition

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
SETTINGS = LagSettings(interval_s=1, rule=LagRule(threshold=100, hold_s=2, clear_s=2))


class Offsets:
    """Offsets the test sets: ``ends`` per partition, everything committed up to ``committed``."""

    def __init__(self) -> None:
        self.committed: dict[int, int | None] = {p: None for p in range(4)}
        self.ends = dict.fromkeys(range(4), 0)
        self.down = False
        self.last: AlertEvent | None = None
        self.last_asked = 0

    def read(self, group: str, partitions: Sequence[tuple[str, int]]) -> list[PartitionLag]:
        if self.down:
            raise SinkUnavailable("Kafka is unreachable")
        return [PartitionLag(t, p, self.committed[p], 0, self.ends[p]) for t, p in partitions]

    def last_alert(self, topic: str, partitions: int, key: str) -> AlertEvent | None:
        assert topic == topics.ALERTS.kafka_name() and key == "pipeline:flood:lag"
        self.last_asked += 1
        if self.down:
            raise SinkUnavailable("Kafka is unreachable")
        return self.last

    def close(self) -> None:
        pass


def monitor(offsets: Offsets) -> LagMonitor:
    return LagMonitor("flood", "ioc-flood", (topics.SENSOR_READINGS,), SETTINGS, offsets)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def test_gauges_and_health_follow_the_offsets() -> None:
    offsets = Offsets()
    m = monitor(offsets)
    assert m.health()["lag"] == {"ok": False, "worker": "flood", "group": "ioc-flood", "measured_at": None,
                                 "error": "not measured yet"}
    offsets.ends = {0: 50, 1: 70, 2: 0, 3: 10}
    offsets.committed = {0: 40, 1: None, 2: None, 3: 10}
    assert m.measure(at(0), judge=False) == []
    text = generate_latest(m.registry).decode()
    name = topics.SENSOR_READINGS.kafka_name()
    assert f'ioc_consumer_lag_messages{{partition="1",topic="{name}",worker="flood"}} 70.0' in text
    assert f'ioc_consumer_committed_offset{{partition="1",topic="{name}",worker="flood"}} -1.0' in text
    assert f'ioc_consumer_end_offset{{partition="0",topic="{name}",worker="flood"}} 50.0' in text
    assert 'ioc_consumer_lag_total_messages{worker="flood"} 80.0' in text
    lag = m.health()["lag"]
    assert isinstance(lag, dict)
    assert (lag["ok"], lag["lag"], lag["threshold"], lag["alert_open"], lag["judged_here"]) == (
        True, 80, 100, False, False)
    assert lag["partitions"][1] == {"topic": name, "partition": 1, "committed": None, "end": 70, "lag": 70}


def test_only_the_leader_judges_and_it_takes_up_the_open_alert_first() -> None:
    offsets = Offsets()
    offsets.ends = dict.fromkeys(range(4), 1000)
    follower = monitor(offsets)
    assert follower.measure(at(0), judge=False) + follower.measure(at(10), judge=False) == []
    assert offsets.last_asked == 0
    # The leader finds no earlier transition, and opens after the hold time.
    leader = monitor(offsets)
    events = [e for s in (0, 1, 2, 3) for e in leader.measure(at(s), judge=True)]
    assert [e.transition for e in events] == [AlertTransition.OPENED] and offsets.last_asked == 1
    assert 'ioc_consumer_lag_alert_open{worker="flood"} 1.0' in generate_latest(leader.registry).decode()
    # Leadership moves to a new process while the backlog is worked off: it resolves the same occurrence.
    offsets.last = events[0]
    leader.measure(at(4), judge=False)
    offsets.committed = dict.fromkeys(range(4), 1000)
    successor = monitor(offsets)
    resolved = [e for s in (5, 6, 7, 8) for e in successor.measure(at(s), judge=True)]
    assert [(e.transition, e.alert_id) for e in resolved] == [(AlertTransition.RESOLVED, events[0].alert_id)]
    assert offsets.last_asked == 2


def test_brokers_down_is_said_not_hidden() -> None:
    offsets = Offsets()
    m = monitor(offsets)
    offsets.ends = dict.fromkeys(range(4), 1000)
    m.measure(at(0), judge=True)
    offsets.down = True
    assert m.measure(at(5), judge=True) == []
    lag = m.health()["lag"]
    assert isinstance(lag, dict)
    assert lag["ok"] is False and lag["error"] == "Kafka is unreachable" and lag["measured_at"] == at(0).isoformat()
    assert 'ioc_consumer_lag_measure_failures_total{worker="flood"} 1.0' in generate_latest(m.registry).decode()


def test_a_leader_that_cannot_read_the_alerts_topic_waits_to_judge() -> None:
    offsets = Offsets()
    offsets.ends = dict.fromkeys(range(4), 1000)
    m = monitor(offsets)
    offsets.down = True
    m.offsets = _ReadsOnly(offsets)
    assert [e for s in (0, 5, 10) for e in m.measure(at(s), judge=True)] == []  # never judged blind
    m.offsets = offsets
    offsets.down = False
    assert [e.transition for s in (11, 12, 13) for e in m.measure(at(s), judge=True)] == [AlertTransition.OPENED]


class _ReadsOnly:
    """Offsets readable, the alerts topic not."""

    def __init__(self, offsets: Offsets) -> None:
        self.offsets = offsets

    def read(self, group: str, partitions: Sequence[tuple[str, int]]) -> list[PartitionLag]:
        return [PartitionLag(t, p, None, 0, 1000) for t, p in partitions]

    def last_alert(self, topic: str, partitions: int, key: str) -> AlertEvent | None:
        raise SinkUnavailable("Kafka is unreachable")

    def close(self) -> None:
        pass


def call(app: Any, path: str) -> tuple[str, dict[str, str], bytes]:
    got: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        got["status"], got["headers"] = status, dict(headers)

    body = b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": "GET", "QUERY_STRING": ""}, start_response))
    return got["status"], got["headers"], body


def test_http_answers_metrics_and_health() -> None:
    offsets = Offsets()
    offsets.ends = {0: 5, 1: 0, 2: 0, 3: 0}
    m = monitor(offsets)
    m.measure(at(0), judge=False)
    app = wsgi_app(m)
    status, headers, body = call(app, "/healthz")
    assert status == "200 OK" and headers["Content-Type"] == "application/json"
    assert json.loads(body)["lag"]["lag"] == 5
    status, _, body = call(app, "/metrics")
    assert status == "200 OK" and b'ioc_consumer_lag_total_messages{worker="flood"} 5.0' in body
    assert call(app, "/")[0] == "404 Not Found"


@pytest.mark.parametrize(("env", "port", "want"), [
    ({}, None, LagSettings()),
    ({"IOC_METRICS_PORT": "9101", "IOC_LAG_THRESHOLD": "500", "IOC_LAG_HOLD_S": "10", "IOC_LAG_CLEAR_S": "20",
      "IOC_LAG_INTERVAL_S": "2"}, None,
     LagSettings(interval_s=2, rule=LagRule(threshold=500, hold_s=10, clear_s=20), port=9101)),
    ({"IOC_METRICS_PORT": "9101"}, 9200, LagSettings(port=9200)),  # the CLI option wins
])
def test_settings_from_env(env: dict[str, str], port: int | None, want: LagSettings) -> None:
    assert LagSettings.from_env(env, port=port) == want


@pytest.mark.parametrize(("env", "port", "names"), [
    ({"IOC_METRICS_PORT": "http"}, None, "IOC_METRICS_PORT"),
    ({}, 70000, "--metrics-port"),
    ({"IOC_LAG_THRESHOLD": "0"}, None, "IOC_LAG_THRESHOLD"),
    ({"IOC_LAG_HOLD_S": "-5"}, None, "IOC_LAG_HOLD_S"),
    ({"IOC_LAG_INTERVAL_S": "nan"}, None, "IOC_LAG_INTERVAL_S"),
])
def test_settings_refused_say_which(env: dict[str, str], port: int | None, names: str) -> None:
    with pytest.raises(ValueError, match=names):
        LagSettings.from_env(env, port=port)


def test_health_says_which_partitions_this_process_reads() -> None:
    """A partition read here but stalled is told from one nobody here reads (the CI stall of the lag test)."""
    offsets = Offsets()
    offsets.ends = dict.fromkeys(range(4), 10)
    m = monitor(offsets)
    name = topics.SENSOR_READINGS.kafka_name()
    m.measure(at(0), judge=False, assigned=[(name, 0), (name, 1), ("other", 2)])
    parts = m.health()["lag"]["partitions"]  # type: ignore[index]
    assert [p["here"] for p in parts] == [True, True, False, False]
    m.measure(at(1), judge=False)  # not told: not said
    assert all("here" not in p for p in m.health()["lag"]["partitions"])  # type: ignore[index]


def test_a_stalled_partition_is_counted_and_returned_for_a_reread() -> None:
    offsets = Offsets()
    offsets.ends = dict.fromkeys(range(4), 500)
    offsets.committed = {0: 500, 1: 200, 2: 500, 3: 500}
    m = LagMonitor("flood", "ioc-flood", (topics.SENSOR_READINGS,), LagSettings(stall_s=5), offsets)
    name = topics.SENSOR_READINGS.kafka_name()
    here = [(name, p) for p in range(4)]
    for s in (0, 3, 6):
        m.measure(at(s), judge=False, assigned=here)
        found = m.stalled(at(s), here)
    assert [(f.partition, f.committed) for f in found] == [(1, 200)]
    text = generate_latest(m.registry).decode()
    assert f'ioc_consumer_stalled_partition_rereads_total{{partition="1",topic="{name}",worker="flood"}} 1.0' in text


def test_the_stall_time_is_a_setting() -> None:
    assert LagSettings.from_env({}).stall_s == 60
    assert LagSettings.from_env({"IOC_LAG_STALL_S": "15"}).stall_s == 15
    with pytest.raises(ValueError, match="IOC_LAG_STALL_S"):
        LagSettings.from_env({"IOC_LAG_STALL_S": "0"})


class FakeConsumer:
    """The parts of Faust's consumer the lag timer uses, recording resumes and seeks."""

    def __init__(self, tps: set[TP]) -> None:
        self.tps = tps
        self.resumed: list[TP] = []
        self.seeks: list[tuple[TP, int]] = []

    def assignment(self) -> set[TP]:
        return self.tps

    def resume_partitions(self, tps: set[TP]) -> None:
        self.resumed += sorted(tps)

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))


class FakeApp:
    """A Faust app as far as watch_lag goes: its timer is kept to be called by the test."""

    def __init__(self, consumer: FakeConsumer) -> None:
        self.conf = SimpleNamespace(id="ioc-flood")
        self.consumer = consumer
        self.rebalancing = False
        self.tables = SimpleNamespace(recovery=SimpleNamespace(completed=asyncio.Event()))
        self.tables.recovery.completed.set()
        self.timers: list[Any] = []

    def is_leader(self) -> bool:
        return False

    def task(self, fn: Any) -> Any:
        return fn

    def timer(self, _interval: float) -> Any:
        def register(fn: Any) -> Any:
            self.timers.append(fn)
            return fn
        return register


def test_the_faust_lag_timer_reads_a_stalled_partition_again_but_not_while_faust_rebalances() -> None:
    name = topics.SENSOR_READINGS.kafka_name()
    offsets = Offsets()
    offsets.ends = dict.fromkeys(range(4), 5065)
    offsets.committed = {0: 2044, 1: 5065, 2: 5065, 3: 5065}  # the stall reproduced here, as /healthz had it
    tps = {TP(name, p) for p in range(4)} | {TP("ioc-flood-alert-state-changelog", 0)}
    consumer = FakeConsumer(tps)
    app = FakeApp(consumer)
    settings = LagSettings(interval_s=1, stall_s=0.2)
    watch_lag(app, "flood", (topics.SENSOR_READINGS,), settings, "unused:9092", None, alerts=None, offsets=offsets)
    [measure] = app.timers

    async def ticks(n: int) -> None:
        for _ in range(n):
            await measure()
            await asyncio.sleep(0.12)

    app.rebalancing = True
    asyncio.run(ticks(4))
    assert consumer.seeks == [] and consumer.resumed == []  # Faust pauses partitions on purpose meanwhile
    app.rebalancing = False
    asyncio.run(ticks(3))
    assert consumer.seeks == [(TP(name, 0), 2044)] and consumer.resumed == [TP(name, 0)]


def test_no_stall_is_judged_on_a_measurement_that_failed() -> None:
    offsets = Offsets()
    offsets.ends = dict.fromkeys(range(4), 500)
    offsets.committed = {0: 200, 1: 500, 2: 500, 3: 500}
    m = LagMonitor("flood", "ioc-flood", (topics.SENSOR_READINGS,), LagSettings(stall_s=5), offsets)
    here = [(topics.SENSOR_READINGS.kafka_name(), p) for p in range(4)]
    m.measure(at(0), judge=False)
    assert m.stalled(at(0), here) == []
    offsets.down = True  # the brokers stop answering: the old figures are not a stall
    m.measure(at(10), judge=False)
    assert m.stalled(at(10), here) == []
