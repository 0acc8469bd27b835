"""The distributed runtime: one Faust app per worker, each a thin set of agents over the shared core.

A worker reads, calls the core, writes state, sends onward; nothing else. Each worker name is its own consumer group
(``ioc-<name>``), so workers scale by running more processes of the same name, up to the topic's partition count.

Workers:
- ``flood``: sensor readings -> alarm levels, rate of rise, rainfall windows, alert rules (state per station in a
  changelogged table) -> alert events.
- ``alerts``: camera occupancy, health, detections, KPI values and citizens' reports' steps -> alert rules
  (state per camera, unit or commune); its leader also relays the reports' trail from PostgreSQL
  (``ioc.app.runtime.report_relay``).
  Both alert workers judge what time alone decides (silence, hold and clear times, missing KPI reports) on the
  ``Tick`` their leader puts into each source partition every ``tick_interval_s``.
- ``writer``: readings, alerts and dead letters -> PostgreSQL in batches, newest readings -> Redis. It keeps no
  table, so it runs as a plain Kafka consumer of the same group (``ioc.app.runtime.writer``), with these settings.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiokafka
import faust
import psycopg
from faust.worker import Worker
from kafka.partitioner.default import murmur2

from analytics.alerts import AlertProcessor, AlertSetup
from ioc import topics
from ioc.app.runtime.kafka import KafkaAuth
from ioc.app.runtime.lag import LagSettings, watch_lag
from ioc.app.runtime.report_relay import ReportKpis, ReportRelay
from ioc.config.models import SiteConfig
from ioc.errors import InvalidInput
from ioc.events import AlertEvent, DeadLetter, KpiValue, ReportStatus, Tick, decode, utcnow
from ioc.notify.outbox import OutboxPlanner
from ioc.store.maintenance import DEFAULT_INTERVAL_S

logger = logging.getLogger(__name__)

WORKERS = ("flood", "alerts", "writer")  # the writer runs without Faust (ioc.app.runtime.writer)
FAUST_WORKERS = ("flood", "alerts")


@dataclass(frozen=True)
class FaustSettings:
    """What a Faust worker needs to know about its surroundings."""

    kafka_bootstrap: str
    database_url: str
    redis_url: str
    alerts: AlertSetup
    kafka_auth: KafkaAuth | None = None  # None: a PLAINTEXT broker
    kafka_namespace: str = ""  # prefixes the topics and the app id (isolated tests, benches)
    notify: OutboxPlanner | None = None  # the writer plans duty-officer messages in each alert's transaction
    batch_size: int = 1000  # the writer's batches
    batch_within_s: float = 0.5
    # The alert workers' batches: one state read and write per key per batch; ``within`` is what a reading may
    # wait for its batch when few arrive.
    alert_batch_size: int = 500
    alert_batch_within_s: float = 0.05
    retry_delay_s: float = 1.0
    tick_interval_s: float = 5.0
    maintenance_interval_s: float = DEFAULT_INTERVAL_S  # the writer's late rollups and foreground policies
    lag: LagSettings | None = None  # None: lag not measured (ioc.runtime.lag)
    site: SiteConfig | None = None  # the alerts worker's leader computes the reports' KPIs from it
    # Faust keeps a directory per app (its table stores and a version file); by default it is "<app id>-data" in
    # the working directory, which left one per soak and bench run in the checkout. Tables are in memory with a
    # Kafka changelog, so nothing in it needs to outlive the process.
    data_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "ioc-faust")


def _topic(app: faust.App, t: topics.Topic, namespace: str) -> faust.TopicT:
    return app.topic(t.kafka_name(namespace), key_type=bytes, value_type=bytes, key_serializer="raw",
                     value_serializer="raw", partitions=t.partitions)


def limit_fetch_wait(max_wait_ms: int = 100) -> None:
    """Cap the broker-side fetch wait of Faust's aiokafka consumers.

    faust-streaming hard-codes ``fetch_max_wait_ms=1500``. Under load, aiokafka fetches a partition that has no
    buffered records on its own, and the broker may hold that request the full 1.5 s: `ioc bench alerts` measured a
    1.6 s p50 from a reading to its alert at 500 readings/s on other stations, and 9 ms with no load. A 100 ms cap
    brings it back; the cost is a few more empty fetches per second on an idle worker.
    """

    original = aiokafka.AIOKafkaConsumer
    if getattr(original, "_ioc_fetch_wait_capped", False):
        return

    class CappedConsumer(original):  # type: ignore[misc, valid-type]
        _ioc_fetch_wait_capped = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["fetch_max_wait_ms"] = min(int(kwargs.get("fetch_max_wait_ms", max_wait_ms)), max_wait_ms)
            # A worker that joins its group just after a broker restart can be told its topics are missing and
            # get no partitions; it rejoins when its metadata shows them, which aiokafka refreshes every 5 min by
            # default. `ioc bench soak` saw a restarted writer idle for that long; 10 s bounds it.
            kwargs["metadata_max_age_ms"] = min(int(kwargs.get("metadata_max_age_ms", 10_000)), 10_000)
            super().__init__(*args, **kwargs)

    aiokafka.AIOKafkaConsumer = CappedConsumer


def app_id(worker: str, namespace: str = "") -> str:
    """Return a worker's Faust app id, which is also its consumer group (prefixed by the Kafka namespace)."""
    return f"{namespace}-ioc-{worker}" if namespace else f"ioc-{worker}"


def build_app(worker: str, settings: FaustSettings) -> faust.App:
    """Return the Faust app of one worker, with its agents registered."""
    limit_fetch_wait()
    if worker not in FAUST_WORKERS:
        raise ValueError(f"no Faust worker {worker!r}; choose one of {', '.join(FAUST_WORKERS)}")
    ns = settings.kafka_namespace
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # Faust makes its own directory, not its parents
    app = faust.App(
        app_id(worker, ns),
        broker=f"kafka://{settings.kafka_bootstrap}",
        broker_credentials=_sasl(settings.kafka_auth),
        store="memory://",
        datadir=str(settings.data_dir / "{conf.name}-data"),
        topic_partitions=4,
        topic_replication_factor=1,
        web_enabled=False,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=500,
        broker_commit_interval=1.0,
    )
    sources = SOURCES[worker]
    _register_alerts(app, settings, sources)
    if settings.lag is not None:
        watch_lag(app, worker, sources, settings.lag, settings.kafka_bootstrap, settings.kafka_auth,
                  _topic(app, topics.ALERTS, ns), ns)
    return app


def _sasl(auth: KafkaAuth | None) -> faust.SASLCredentials | None:
    """Faust's form of the broker login; no ssl_context, so SASL_PLAINTEXT like the other clients."""
    if auth is None:
        return None
    return faust.SASLCredentials(username=auth.username, password=auth.password, mechanism=auth.mechanism)


async def _dead_letter(topic: faust.TopicT, source: str, raw: bytes, error: InvalidInput) -> None:
    dead = DeadLetter.of(source=source, raw=raw, error=error)
    await topic.send(key=dead.key().encode(), value=dead.to_bytes())


ALERT_TOPICS = (topics.CAMERA_OCCUPANCY, topics.CAMERA_HEALTH, topics.CAMERA_DETECTIONS, topics.KPI_VALUES,
                topics.FEED_ITEMS, topics.REPORTS)
# The topics each worker consumes (its lag is measured on these).
SOURCES: dict[str, tuple[topics.Topic, ...]] = {
    "flood": (topics.SENSOR_READINGS,), "alerts": ALERT_TOPICS, "writer": topics.STORED,
}
# What the partition key of each alert source names: the ids ticked for time-driven alerts (AlertSetup.subjects).
KEY_KINDS = {
    topics.SENSOR_READINGS.name: "station",
    topics.CAMERA_OCCUPANCY.name: "camera",
    topics.CAMERA_HEALTH.name: "camera",
    topics.CAMERA_DETECTIONS.name: "camera",
    topics.KPI_VALUES.name: "unit",
    topics.FEED_ITEMS.name: "site",
    topics.REPORTS.name: "commune",
}


def partition_of(key: str, partitions: int) -> int:
    """Return the partition of a key, as every producer here (kafka-python, aiokafka: Kafka's murmur2) picks it."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def _register_alerts(app: faust.App, settings: FaustSettings, sources: tuple[topics.Topic, ...]) -> None:
    """One agent per source topic; the processor's state lives per partition key (station, camera, unit).

    Time-driven alerts (a silent station, a condition held ``for_s``, an alert clear for ``clear_for_s``, a missing
    KPI report) need a key's state when no event of that key arrives. A Faust table can only be written while an
    event of the key's partition is processed, and judging time on state that lags behind queued events would call
    a station silent whose readings are still waiting. So the leader sends a ``Tick`` into every partition of every
    source topic each ``tick_interval_s``; the agent meets it in line with the partition's events and ticks each
    key of that partition (the configured ones and those in its table).
    """
    alerts = _topic(app, topics.ALERTS, settings.kafka_namespace)
    dead_letters = _topic(app, topics.DEAD_LETTERS, settings.kafka_namespace)
    sources_topics: list[tuple[topics.Topic, faust.TopicT]] = []
    for source in sources:
        # One table per source: a table must have as many partitions as the topic it is keyed from.
        table = BatchTable(app, name=f"alert-state-{source.name.replace('.', '-')}", default=None,
                           beacon=app.tables.beacon, partitions=source.partitions, key_type=str,
                           value_type=None)  # JSON values
        app.tables.add(table)
        channel = _topic(app, source, settings.kafka_namespace)
        app.agent(channel, name=f"alerts-{source.name}")(
            _alert_agent(settings, source, table, alerts, dead_letters))
        sources_topics.append((source, channel))

    if topics.REPORTS in sources:
        reports_channel = next(channel for t, channel in sources_topics if t is topics.REPORTS)

        async def send_report(status: ReportStatus) -> None:
            await reports_channel.send(key=status.key().encode(), value=status.to_bytes())

        relay = ReportRelay(settings.database_url, send_report)
        kpi_channel = _topic(app, topics.KPI_VALUES, settings.kafka_namespace)

        async def send_kpi(value: KpiValue) -> None:
            await kpi_channel.send(key=value.key().encode(), value=value.to_bytes())

        report_kpis = ReportKpis(settings.database_url, settings.site, send_kpi) if settings.site else None

        @app.timer(settings.tick_interval_s, on_leader=True)  # type: ignore[untyped-decorator]  # Faust is untyped
        async def relay_reports() -> None:
            # The reports' trail is in PostgreSQL (the form and the CLI write nothing else): one leader relays it,
            # and sends the reports' KPIs of the last and the current month every hour.
            try:
                await relay.run_once()
                if report_kpis is not None:
                    await report_kpis.run_once()
            except psycopg.OperationalError as exc:
                logger.warning("report relay: %s; trying again at the next tick", exc)

    @app.timer(settings.tick_interval_s, on_leader=True)  # type: ignore[untyped-decorator]  # Faust is untyped
    async def send_ticks() -> None:
        now = utcnow()
        for source, channel in sources_topics:
            for partition in range(source.partitions):
                tick = Tick.create(partition, now)
                await channel.send(key=tick.key().encode(), value=tick.to_bytes(), partition=partition)


class BatchTable(faust.Table[str, Any]):
    """A Faust table written once per key per batch, with the partition of the key's events named explicitly.

    A plain table takes the partition of a write's changelog record from the event being processed; in a batch
    (``take_events``) that is the batch's last event, of any partition. ``write`` says the partition instead,
    so each key's state goes to the changelog partition its source partition is restored from.
    """

    _write_partition: int | None = None

    def write(self, partition: int, key: str, value: object) -> None:
        """Set ``key`` to ``value``, logging the change to changelog partition ``partition``."""
        self._write_partition = partition
        try:
            self[key] = value
        finally:
            self._write_partition = None

    def partition_for_key(self, key: Any) -> int | None:
        """The partition ``write`` names, else Faust's choice (the current event's)."""
        if self._write_partition is not None:
            return self._write_partition
        partition: int | None = super().partition_for_key(key)
        return partition


@dataclass
class AlertBatch:
    """One batch of a source's events through the alert processor: each key's state read and written once.

    Events are handled in arrival order; a key's processor is rebuilt from the table at its first event and kept
    for the rest of the batch; every key it touched is written back at the end (and before a tick, which reads
    the table). Replaying a batch after a crash gives the same alerts with the same ids, as one event at a time did.
    """

    settings: FaustSettings
    source: topics.Topic
    table: BatchTable
    kind: str
    configured: tuple[str, ...]
    alerts: list[AlertEvent] = field(default_factory=list)
    dead: list[tuple[bytes, InvalidInput]] = field(default_factory=list)
    _open: dict[str, tuple[int, AlertProcessor]] = field(default_factory=dict)

    def run(self, items: list[tuple[int, bytes]]) -> None:
        """Handle ``(partition, raw event)`` pairs in order."""
        for partition, raw in items:
            try:
                event = decode(raw)
            except InvalidInput as exc:
                self.dead.append((raw, exc))
                continue
            if isinstance(event, Tick):
                self.flush()
                self.alerts += _tick_partition(self.settings, self.source, self.table, self.kind, self.configured,
                                               partition, event.at)
                continue
            key = event.key()
            held = self._open.get(key)
            if held is None:
                state = self.table.get(key)
                held = self._open[key] = (partition, AlertProcessor.from_state(self.settings.alerts, state))
            self.alerts += held[1].handle(event)
        self.flush()

    def flush(self) -> None:
        """Write every open key's state to the table."""
        for key, (partition, processor) in self._open.items():
            self.table.write(partition, key, processor.state())
        self._open.clear()


def _alert_agent(settings: FaustSettings, source: topics.Topic, table: BatchTable, alerts: faust.TopicT,
                 dead_letters: faust.TopicT) -> Callable[[faust.StreamT[bytes]], Awaitable[None]]:
    kind = KEY_KINDS[source.name]
    configured = tuple(settings.alerts.subjects.get(kind, ()))

    async def process(stream: faust.StreamT[bytes]) -> None:
        # take_events (Faust's own, missing from its stubs) yields the events, whose partitions the table needs.
        batches = stream.take_events(settings.alert_batch_size, within=settings.alert_batch_within_s)  # type: ignore[attr-defined]
        async for events in batches:
            batch = AlertBatch(settings, source, table, kind, configured)
            batch.run([(ev.message.partition, ev.value) for ev in events])
            for raw, exc in batch.dead:
                await _dead_letter(dead_letters, f"kafka:{source.name}", raw, exc)
            for alert in batch.alerts:
                await alerts.send(key=alert.key().encode(), value=alert.to_bytes())
    return process


def _tick_partition(settings: FaustSettings, source: topics.Topic, table: BatchTable, kind: str,
                    configured: tuple[str, ...],
                    partition: int, at: datetime) -> list[AlertEvent]:
    """Tick every key of one partition: configured ids and keys with state (standby copies of others are skipped)."""
    keys = {k for k in (*configured, *(k for k in table if isinstance(k, str)))
            if partition_of(k, source.partitions) == partition}
    out: list[AlertEvent] = []
    for key in sorted(keys):
        before = table.get(key)
        processor = AlertProcessor.from_state(settings.alerts, before)
        raised = processor.tick(at, units=[key] if kind == "unit" else [])
        after = processor.state()
        if raised or (before is not None and after != before):
            table.write(partition, key, after)
        out += raised
    return out


def changelog_topics(app: faust.App) -> dict[str, int]:
    """Return the changelog topic of every table of an app, with its partition count."""
    return {table.changelog_topic.get_topic_name(): table.partitions or 4 for table in app.tables.values()}


def run_worker(app: faust.App, loglevel: str = "info", **kwargs: Any) -> None:
    """Run a Faust worker in this process until it is stopped (SIGINT/SIGTERM)."""

    Worker(app, loglevel=loglevel, **kwargs).execute_from_commandline()
