"""Consumer lag of a stream worker: measured inside the worker, exported, and turned into the lag alert.

Every ``LagSettings.interval_s`` each process of a worker asks the brokers (librdkafka's admin client, in a
thread, so the agents' event loop never waits on it, each request bounded in time) for its consumer group's
committed offset and the end offset of every partition of the worker's source topics. The committed offset is
where a restarted worker would resume: Faust commits what its agents have processed every second, so it trails
processing by about that. What it finds goes to

- Prometheus gauges (``prometheus-client``), per worker, topic and partition, served at ``/metrics``;
- the health answer, a small JSON served at ``/healthz`` in the shape of the wall's (``status`` and one part per
  concern with its own ``ok``), also returned by ``LagMonitor.health()``;
- ``analytics.lag.LagWatch``, which opens and resolves the alert ``pipeline:<worker>:lag``. Only the group's
  leader judges, so two processes of one worker do not open two alerts; every process measures the whole group,
  so any of them answers ``/metrics`` and ``/healthz`` for all partitions. A process that becomes the judge
  (at start, or when leadership moves) first reads the alert's last transition from ``ioc.alerts`` and takes it
  up, so an alert opened before a restart is resolved as the same occurrence.

The HTTP server is off unless a port is given (``IOC_METRICS_PORT`` or ``ioc worker NAME --metrics-port``); it
binds to loopback (``IOC_METRICS_HOST``, default ``127.0.0.1``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, make_server

from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]  # exported, not in __all__
from faust.types import TP
from kafka.partitioner.default import murmur2
from prometheus_client import CollectorRegistry, Counter, Gauge, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from analytics.lag import LagRule, LagWatch, PartitionLag, Stall, StallWatch
from ioc import i18n, topics
from ioc.app.runtime.kafka import KafkaAuth, librdkafka_options
from ioc.errors import InvalidInput, SinkUnavailable
from ioc.events import AlertEvent, decode, utcnow

logger = logging.getLogger(__name__)
i18n.register({
    "lag.setting": ("{name}='{value}' không hợp lệ: cần một số từ {lo:,g} đến {hi:,g}",
                    "{name}='{value}' is not valid: give a number from {lo:,g} to {hi:,g}"),
})
READ_ALERTS_TIMEOUT_S = 60.0  # reading the alerts topic for the lag alert's last transition gives up after this
REQUEST_TIMEOUT_S = 10.0  # each request to the brokers for offsets gives up after this
LATEST: Any = OffsetSpec.latest()  # type: ignore[no-untyped-call]
EARLIEST: Any = OffsetSpec.earliest()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class LagSettings:
    """How often lag is measured, what makes it an alert, and where it is served (``port`` None: nowhere)."""

    interval_s: float = 5.0
    rule: LagRule = field(default_factory=LagRule)
    port: int | None = None
    host: str = "127.0.0.1"
    stall_s: float = 60.0  # a partition read here whose commits stop this long is read again (analytics.lag)

    @classmethod
    def from_env(cls, env: Mapping[str, str], port: int | None = None, lang: str = "vi") -> LagSettings:
        """Read ``IOC_LAG_INTERVAL_S``, ``IOC_LAG_THRESHOLD``, ``IOC_LAG_HOLD_S``, ``IOC_LAG_CLEAR_S``,
        ``IOC_LAG_STALL_S``, ``IOC_METRICS_PORT`` and ``IOC_METRICS_HOST``; ``port`` (the CLI option) wins over
        the environment.

        Raises ``ValueError`` naming the setting and the range it takes, in ``lang``.
        """
        def number(name: str, default: float, lo: float, hi: float) -> float:
            raw = env.get(name, "").strip()
            try:
                value = float(raw) if raw else default
            except ValueError:
                value = float("nan")
            if not lo <= value <= hi:
                raise ValueError(i18n.t("lag.setting", lang, name=name, value=raw, lo=lo, hi=hi))
            return value

        raw_port = env.get("IOC_METRICS_PORT", "").strip()
        if port is None and raw_port:
            port = int(number("IOC_METRICS_PORT", 0, 1, 65535))
        if port is not None and not 1 <= port <= 65535:
            raise ValueError(i18n.t("lag.setting", lang, name="--metrics-port", value=port, lo=1, hi=65535))
        rule = LagRule(threshold=int(number("IOC_LAG_THRESHOLD", LagRule.threshold, 1, 1e12)),
                       hold_s=number("IOC_LAG_HOLD_S", LagRule.hold_s, 0, 86_400),
                       clear_s=number("IOC_LAG_CLEAR_S", LagRule.clear_s, 0, 86_400))
        return cls(interval_s=number("IOC_LAG_INTERVAL_S", 5.0, 0.1, 3600), rule=rule, port=port,
                   host=env.get("IOC_METRICS_HOST", "").strip() or "127.0.0.1",
                   stall_s=number("IOC_LAG_STALL_S", 60.0, 1, 86_400))


class OffsetSource(Protocol):
    """Where a group stands on its partitions; ``SinkUnavailable`` when the brokers cannot say."""

    def read(self, group: str, partitions: Sequence[tuple[str, int]]) -> list[PartitionLag]:
        """Return the committed, earliest and end offsets of each (topic, partition)."""

    def last_alert(self, topic: str, partitions: int, key: str) -> AlertEvent | None:
        """Return the last alert transition with ``key`` on the alerts topic ``topic`` (None: there is none)."""

    def close(self) -> None:
        """Let go of the connections."""


class KafkaOffsets:
    """Offsets through librdkafka's admin client and consumer (``confluent-kafka``), every call bounded in time.

    kafka-python's clients were used here first; now and then one of their calls never returned (a worker
    restarted in a test measured once and then never again, its timer waiting on the thread for minutes).
    librdkafka's calls each take a timeout, so a broker that does not answer is a failed measurement that is
    logged and retried at the next interval, never a measurement that stops all later ones.
    """

    def __init__(self, bootstrap: str, auth: KafkaAuth | None, client_id: str,
                 timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        self._config: dict[str, Any] = {"bootstrap.servers": bootstrap, "client.id": client_id,
                                        **librdkafka_options(auth),
                                        "logger": logging.getLogger("ioc.kafka.lag")}
        self._timeout_s = timeout_s
        self._admin: AdminClient | None = None

    def read(self, group: str, partitions: Sequence[tuple[str, int]]) -> list[PartitionLag]:
        """Return the committed, earliest and end offsets of each (topic, partition)."""
        tps = [TopicPartition(t, p) for t, p in partitions]
        wait = self._timeout_s
        try:
            if self._admin is None:
                self._admin = AdminClient(self._config)
            admin = self._admin
            asked = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, tps)],
                                                      request_timeout=wait)
            committed = {(tp.topic, tp.partition): tp.offset
                         for tp in asked[group].result(timeout=wait).topic_partitions or []}
            ends = _offsets(admin.list_offsets({tp: LATEST for tp in tps}, request_timeout=wait), wait)
            starts = _offsets(admin.list_offsets({tp: EARLIEST for tp in tps}, request_timeout=wait), wait)
            out = []
            for tp in tps:
                key = (tp.topic, tp.partition)
                done = committed.get(key, OFFSET_INVALID)
                out.append(PartitionLag(topic=tp.topic, partition=tp.partition,
                                        committed=done if done >= 0 else None, start=starts[key], end=ends[key]))
            return out
        except (KafkaException, KeyError, TimeoutError, concurrent.futures.TimeoutError) as exc:
            self.close()  # a fresh client next time: the broker may have moved or restarted
            raise SinkUnavailable(f"Kafka did not give the offsets of group {group} within {wait:g} s: "
                                  f"{exc or type(exc).__name__}") from exc

    def last_alert(self, topic: str, partitions: int, key: str) -> AlertEvent | None:
        """Return the last alert transition with ``key`` on ``topic``, reading the key's partition once through.

        Alert transitions are few (thousands a day), so one partition of them is read in a second or two; only
        records of this key are decoded. The consumer is assigned its partition and joins no group.
        """
        tp = TopicPartition(topic, (murmur2(key.encode()) & 0x7FFFFFFF) % partitions)  # as every producer here
        wanted = key.encode()
        last: AlertEvent | None = None
        deadline = time.monotonic() + READ_ALERTS_TIMEOUT_S
        try:
            consumer = Consumer({**self._config, "group.id": f"{self._config['client.id']}-read",
                                 "enable.auto.commit": False, "enable.partition.eof": True})
        except KafkaException as exc:
            raise SinkUnavailable(f"Kafka did not give the last transition of {key}: {exc}") from exc
        try:
            low, end = consumer.get_watermark_offsets(tp, timeout=self._timeout_s)
            if end <= low:
                return None
            consumer.assign([TopicPartition(tp.topic, tp.partition, low)])
            position = low
            while position < end:
                if time.monotonic() > deadline:
                    raise SinkUnavailable(f"{topic} partition {tp.partition} not read to its end in "
                                          f"{READ_ALERTS_TIMEOUT_S:g} s")
                for record in consumer.consume(num_messages=500, timeout=1.0):
                    error = record.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            position = max(position, int(record.offset() or 0))
                            continue
                        raise KafkaException(error)
                    offset = int(record.offset() or 0)
                    position = offset + 1
                    if record.key() == wanted and offset < end:
                        try:
                            event = decode(record.value() or b"")
                        except InvalidInput:
                            continue  # the writer dead-letters it; it says nothing about this alert
                        if isinstance(event, AlertEvent):
                            last = event
        except KafkaException as exc:
            raise SinkUnavailable(f"Kafka did not give the last transition of {key}: {exc}") from exc
        finally:
            consumer.close()
        return last

    def close(self) -> None:
        """Let go of the admin client (librdkafka closes its connections when it is collected)."""
        self._admin = None


def _offsets(futures: Mapping[TopicPartition, concurrent.futures.Future[Any]],
             wait: float) -> dict[tuple[str, int], int]:
    """The answered offset of each (topic, partition) (one not answered at all: a ``KeyError`` for the caller)."""
    return {(tp.topic, tp.partition): int(future.result(timeout=wait).offset) for tp, future in futures.items()}


class LagMonitor:
    """One worker process's view of its group's lag: gauges, the health answer and (on the leader) the alert."""

    def __init__(self, worker: str, group: str, sources: Iterable[topics.Topic], settings: LagSettings,
                 offsets: OffsetSource, registry: CollectorRegistry | None = None, namespace: str = "") -> None:
        self.worker = worker
        self.group = group
        self.settings = settings
        self.partitions = [(t.kafka_name(namespace), p) for t in sources for p in range(t.partitions)]
        self.namespace = namespace
        self.offsets = offsets
        self.watch = LagWatch(worker, settings.rule)
        self.registry = registry or CollectorRegistry()
        labels = ("worker", "topic", "partition")
        self._lag = Gauge("ioc_consumer_lag_messages", "Messages after the group's committed offset",
                          labels, registry=self.registry)
        self._committed = Gauge("ioc_consumer_committed_offset", "The group's committed offset (-1: none)",
                                labels, registry=self.registry)
        self._end = Gauge("ioc_consumer_end_offset", "The partition's end offset", labels, registry=self.registry)
        self._total = Gauge("ioc_consumer_lag_total_messages", "Messages waiting over all of the worker's "
                            "partitions", ("worker",), registry=self.registry)
        self._open = Gauge("ioc_consumer_lag_alert_open", "1 while this process holds the worker's lag alert open",
                           ("worker",), registry=self.registry)
        self._measured = Gauge("ioc_consumer_lag_measured_timestamp_seconds", "When lag was last measured",
                               ("worker",), registry=self.registry)
        self._failures = Counter("ioc_consumer_lag_measure_failures", "Lag measurements the brokers did not answer",
                                 ("worker",), registry=self.registry)
        self._rereads = Counter("ioc_consumer_stalled_partition_rereads", "Stalled partitions read again from "
                                "their committed offset", ("worker", "topic", "partition"), registry=self.registry)
        self._stalls = StallWatch(settings.stall_s)
        self._parts: list[PartitionLag] = []  # the last measurement
        self._health: dict[str, object] = {"ok": False, "worker": worker, "group": group, "measured_at": None,
                                           "error": "not measured yet"}
        self._lock = threading.Lock()
        self._judging = False  # whether this process judges (is its group's leader) and has resumed the alert

    def measure(self, now: datetime, judge: bool,
                assigned: Iterable[tuple[str, int]] | None = None) -> list[AlertEvent]:
        """Measure once (blocking: run it in a thread); return the alert transitions due if ``judge``.

        ``assigned``: the (topic, partition) pairs this process consumes now, shown in the health answer so that
        a partition nobody here reads is told from one read here but stalled.
        """
        here = set(assigned) if assigned is not None else None
        try:
            parts = self.offsets.read(self.group, self.partitions)
        except SinkUnavailable as exc:
            logger.warning("lag of %s not measured: %s", self.worker, exc)
            self._failures.labels(self.worker).inc()
            self._parts = []  # nothing known: no partition is judged stalled on an old measurement
            with self._lock:
                self._health = {**self._health, "ok": False, "error": str(exc)}
            return []
        self._parts = parts
        for part in parts:
            labels = (self.worker, part.topic, str(part.partition))
            self._lag.labels(*labels).set(part.lag)
            self._committed.labels(*labels).set(-1 if part.committed is None else part.committed)
            self._end.labels(*labels).set(part.end)
        total = sum(p.lag for p in parts)
        self._total.labels(self.worker).set(total)
        self._measured.labels(self.worker).set(now.timestamp())
        events = self.watch.observe(total, now) if self._judge(judge) else []
        self._open.labels(self.worker).set(1 if self.watch.is_open else 0)
        rule = self.settings.rule
        with self._lock:
            self._health = {
                "ok": not self.watch.is_open and total <= rule.threshold,
                "worker": self.worker, "group": self.group, "measured_at": now.isoformat(),
                "lag": total, "threshold": rule.threshold, "hold_s": rule.hold_s, "clear_below": rule.clear_level,
                "alert_open": self.watch.is_open, "judged_here": self._judging,
                "partitions": [{"topic": p.topic, "partition": p.partition, "committed": p.committed,
                                "end": p.end, "lag": p.lag,
                                **({} if here is None else {"here": (p.topic, p.partition) in here})}
                               for p in parts],
            }
        for event in events:
            logger.warning("lag alert %s %s: %d messages waiting (threshold %d)", event.alert_key,
                           event.transition.value, total, rule.threshold)
        return events

    def stalled(self, now: datetime, here: Iterable[tuple[str, int]]) -> list[Stall]:
        """Return the partitions this process reads (``here``) whose commits have stopped for ``stall_s`` at the
        last measurement, counted and logged; the caller reads them again from their committed offsets."""
        found = self._stalls.observe(self._parts, set(here), now)
        for stall in found:
            self._rereads.labels(self.worker, stall.topic, str(stall.partition)).inc()
            logger.warning("worker %s: %s[%d] has stayed at committed offset %d for %.0f s with messages waiting; "
                           "reading it again from it", self.worker, stall.topic, stall.partition, stall.committed,
                           stall.for_s)
        return found

    def _judge(self, leader: bool) -> bool:
        """Say whether to judge now; on becoming the judge, take the alert up from the alerts topic first."""
        if leader and not self._judging:
            alerts = topics.ALERTS
            try:
                last = self.offsets.last_alert(alerts.kafka_name(self.namespace), alerts.partitions,
                                               self.watch.alert_key)
            except SinkUnavailable as exc:
                logger.warning("lag alert of %s not judged yet: %s", self.worker, exc)
                return False  # tried again at the next measurement
            self.watch.resume(last)
            self._judging = True
            if self.watch.is_open:
                logger.info("lag alert %s is open since %s; judging it here now", self.watch.alert_key,
                            self.watch.opened_at)
        elif not leader and self._judging:
            self.watch.forget()
            self._judging = False
        return self._judging

    def health(self) -> dict[str, object]:
        """Return the health answer: ``status`` and the ``lag`` part (``ok`` false while behind or unmeasured)."""
        with self._lock:
            lag = dict(self._health)
        return {"status": "ok", "lag": lag}


def wsgi_app(monitor: LagMonitor) -> Callable[..., Iterable[bytes]]:
    """Return the WSGI app of ``/metrics`` (Prometheus text) and ``/healthz`` (the health JSON)."""
    metrics = make_wsgi_app(monitor.registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            body = json.dumps(monitor.health()).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if path == "/metrics":
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"/metrics or /healthz\n"]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds are not worth a log line."""


def serve(monitor: LagMonitor, host: str, port: int) -> ThreadingWSGIServer:
    """Serve ``/metrics`` and ``/healthz`` from a daemon thread; return the server (``shutdown()`` stops it)."""
    server = make_server(host, port, wsgi_app(monitor), ThreadingWSGIServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name=f"ioc-metrics-{monitor.worker}", daemon=True).start()
    return server


def watch_lag(app: Any, worker: str, sources: Sequence[topics.Topic], settings: LagSettings, bootstrap: str,
              auth: KafkaAuth | None, alerts: Any, namespace: str = "",
              offsets: OffsetSource | None = None) -> LagMonitor:
    """Measure a Faust worker's lag every ``interval_s``, send its lag alert's transitions to ``alerts`` and
    read a stalled partition again (see ``analytics.lag.StallWatch``).

    ``app`` is the worker's ``faust.App`` and ``alerts`` its ``ioc.alerts`` topic; the HTTP server starts with
    the worker when ``settings.port`` is set. ``offsets``: where the offsets come from (default: the brokers).
    """
    offsets = offsets or KafkaOffsets(bootstrap, auth, client_id=f"{app.conf.id}-lag")
    monitor = LagMonitor(worker, app.conf.id, sources, settings, offsets, namespace=namespace)
    wanted = set(monitor.partitions)

    async def serve_metrics() -> None:
        if settings.port is None:
            return
        try:
            serve(monitor, settings.host, settings.port)
        except OSError as exc:
            logger.error("worker %s: /metrics and /healthz not served on %s:%d (%s); give this process a free "
                         "port with IOC_METRICS_PORT or --metrics-port", worker, settings.host, settings.port, exc)
            return
        logger.info("worker %s: /metrics and /healthz on http://%s:%d", worker, settings.host, settings.port)

    async def measure_lag() -> None:
        consumer = app.consumer
        assigned = [tp for tp in consumer.assignment() if (tp.topic, tp.partition) in wanted]
        now = utcnow()
        events = await asyncio.to_thread(monitor.measure, now, app.is_leader(),
                                         [(tp.topic, tp.partition) for tp in assigned])
        for event in events:
            await alerts.send(key=event.key().encode(), value=event.to_bytes())
        # Nothing here awaits the consumer: aiokafka's ``position``, asked here at first, waits while a partition
        # has no position (paused, or being reset), and a timer waiting there measured nothing for 100 s.
        if app.rebalancing or not app.tables.recovery.completed.is_set():
            return  # Faust pauses partitions on purpose while it rebalances and restores its tables
        for stall in monitor.stalled(now, [(tp.topic, tp.partition) for tp in assigned]):
            tp = TP(stall.topic, stall.partition)
            consumer.resume_partitions({tp})  # as Faust does when its recovery ends
            await consumer.seek(tp, stall.committed)

    app.task(serve_metrics)
    app.timer(settings.interval_s)(measure_lag)
    return monitor
