"""``ioc worker writer`` as a plain Kafka consumer: batches of stored topics into PostgreSQL, then Redis.

The writer keeps no table and judges nothing per key, so it does not need Faust's stream machinery; measured under a
backlog, that machinery (a task, a buffer slot and an ack per message) was most of the Faust writer's time, which
stored 4,300-5,400 readings/s where its ``Writer`` alone stores 17,000 (docs/BENCHMARKS.md, issue 16). Here one
aiokafka consumer of the group ``ioc-writer`` (the Faust writer's group, so its committed offsets carry over) takes
up to ``batch_size`` records at a time from every stored topic, the batch is stored until it is done (an outage of
the database or Redis is waited out), and only then are the offsets committed: a crash replays at most the batch
in hand, which the idempotent writes absorb.

One process of the group is the leader: the one that holds partition 0 of ``ioc.sensor.readings``. It runs the
maintenance pass (late rollups, the TimescaleDB policies the scheduler fails) and judges the lag alert; every
process measures and serves its group's lag as the Faust workers do (``ioc.app.runtime.lag``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from ioc import topics
from ioc.app.runtime.faust_app import FaustSettings, app_id
from ioc.app.runtime.lag import KafkaOffsets, LagMonitor, serve
from ioc.errors import InvalidInput, SinkUnavailable
from ioc.events import DeadLetter, Event, Tick, decode, utcnow
from ioc.store.live import RedisLiveStore
from ioc.store.maintenance import Maintenance
from ioc.store.stage import StoreStage
from ioc.store.writer import Writer

logger = logging.getLogger(__name__)

WORKER = "writer"


@dataclass
class WriterCounts:
    """Running totals of one process, for its log and the tests."""

    batches: int = 0
    events: int = 0
    dead_letters: int = 0
    commit_failures: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)


class WriterWorker:
    """The writer's loop: fetch a batch, store it until done, commit; maintenance and lag beside it."""

    def __init__(self, settings: FaustSettings) -> None:
        self.settings = settings
        self.namespace = settings.kafka_namespace
        self.group = app_id(WORKER, self.namespace)
        self.names = {t.kafka_name(self.namespace): t for t in topics.STORED}
        self.leader_partition = TopicPartition(topics.SENSOR_READINGS.kafka_name(self.namespace), 0)
        self.counts = WriterCounts()
        self._stop = asyncio.Event()
        auth = settings.kafka_auth.client_options() if settings.kafka_auth else {}
        self._consumer = AIOKafkaConsumer(
            *self.names, bootstrap_servers=settings.kafka_bootstrap, group_id=self.group, client_id=self.group,
            enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=settings.batch_size,
            # As the Faust workers' cap (faust_app.limit_fetch_wait): a fetch is not held 1.5 s by the broker, and a
            # topic missing just after a broker restart is seen again within 10 s.
            fetch_max_wait_ms=100, metadata_max_age_ms=10_000, **auth,
        )
        self._producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, client_id=f"{self.group}-out",
                                          acks="all", enable_idempotence=True, **auth)
        self._stage: StoreStage | None = None
        self._maintenance: Maintenance | None = None
        self._opening = asyncio.Lock()  # the loop and the maintenance task both wait for the one writer

    def stop(self) -> None:
        """Ask the loop to finish the batch in hand and return."""
        self._stop.set()

    @property
    def is_leader(self) -> bool:
        """True while this process holds partition 0 of the readings topic."""
        return self.leader_partition in self._consumer.assignment()

    async def run(self) -> None:
        """Run until ``stop``; the batch in hand is stored and committed first."""
        await self._consumer.start()
        await self._producer.start()
        tasks = [asyncio.create_task(self._maintain(), name="writer-maintenance")]
        if self.settings.lag is not None:
            tasks.append(asyncio.create_task(self._watch_lag(), name="writer-lag"))
        try:
            while not self._stop.is_set():
                batch = await self._consumer.getmany(timeout_ms=int(self.settings.batch_within_s * 1000),
                                                     max_records=self.settings.batch_size)
                if not batch:
                    continue
                events: list[Event] = []
                for tp, records in batch.items():
                    events += await self._decode([r.value for r in records if r.value is not None], tp.topic)
                stage = await self._open_stage()
                await self._store_until_done(stage, events)
                await self._commit()
                self.counts.batches += 1
                self.counts.events += len(events)
        finally:
            self._stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._consumer.stop()
            await self._producer.stop()
            if self._stage is not None:
                await self._stage.writer.close()

    async def _decode(self, values: list[bytes], topic: str) -> list[Event]:
        source = self.names[topic].name
        events: list[Event] = []
        for raw in values:
            try:
                event = decode(raw)
            except InvalidInput as exc:
                if source == topics.DEAD_LETTERS.name:
                    logger.error("undecodable dead letter dropped: %s", exc)
                    continue
                dead = DeadLetter.of(source=f"kafka:{source}", raw=raw, error=exc)
                await self._send(dead)
                self.counts.dead_letters += 1
                continue
            if not isinstance(event, Tick):  # the alert workers' clock marks: nothing to store
                events.append(event)
                self.counts.by_topic[source] = self.counts.by_topic.get(source, 0) + 1
        return events

    async def _send(self, event: Event) -> None:
        topic = topics.for_event(event).kafka_name(self.namespace)
        while True:
            try:
                await self._producer.send_and_wait(topic, key=event.key().encode(), value=event.to_bytes())
                return
            except KafkaError as exc:
                logger.warning("writer: Kafka did not take a %s (%s); retrying in %.1f s", event.type, exc,
                               self.settings.retry_delay_s)
                await asyncio.sleep(self.settings.retry_delay_s)

    async def _open_stage(self) -> StoreStage:
        async with self._opening:
            while self._stage is None:
                try:
                    writer = await Writer.open(self.settings.database_url, notify=self.settings.notify)
                    self._stage = StoreStage(writer, RedisLiveStore(self.settings.redis_url))
                    self._maintenance = Maintenance(writer)
                except SinkUnavailable as exc:
                    logger.warning("writer: %s; retrying in %.1f s", exc, self.settings.retry_delay_s)
                    await asyncio.sleep(self.settings.retry_delay_s)
            return self._stage

    async def _store_until_done(self, stage: StoreStage, events: list[Event]) -> None:
        """Store a batch, waiting out a database or Redis outage; its offsets are committed only after."""
        while True:
            try:
                await stage.handle(events)
                return
            except SinkUnavailable as exc:
                logger.warning("store: %s; batch of %d kept, retrying in %.1f s", exc, len(events),
                               self.settings.retry_delay_s)
                await asyncio.sleep(self.settings.retry_delay_s)

    async def _commit(self) -> None:
        try:
            await self._consumer.commit()
        except KafkaError as exc:
            # The group moved on (a rebalance, a broker restart): the batch is stored; whoever holds its partitions
            # now reads it again from the last commit, and the idempotent writes keep it once.
            self.counts.commit_failures += 1
            logger.warning("writer: offsets not committed (%s); the batch may be read again", exc)

    async def _maintain(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.settings.maintenance_interval_s)
            if self._stop.is_set() or not self.is_leader:
                continue
            stage = await self._open_stage()
            assert self._maintenance is not None and stage is not None
            await self._maintenance.tick()

    async def _watch_lag(self) -> None:
        lag = self.settings.lag
        assert lag is not None
        monitor = LagMonitor(WORKER, self.group, topics.STORED, lag,
                             KafkaOffsets(self.settings.kafka_bootstrap, self.settings.kafka_auth,
                                          client_id=f"{self.group}-lag"), namespace=self.namespace)
        if lag.port is not None:
            try:
                serve(monitor, lag.host, lag.port)
                logger.info("worker writer: /metrics and /healthz on http://%s:%d", lag.host, lag.port)
            except OSError as exc:
                logger.error("worker writer: /metrics and /healthz not served on %s:%d (%s); give this process a "
                             "free port with IOC_METRICS_PORT or --metrics-port", lag.host, lag.port, exc)
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=lag.interval_s)
            if self._stop.is_set():
                return
            assigned = [(tp.topic, tp.partition) for tp in self._consumer.assignment()]
            for event in await asyncio.to_thread(monitor.measure, utcnow(), self.is_leader, assigned):
                await self._send(event)


def run_writer(settings: FaustSettings) -> None:
    """Run the writer in this process until SIGINT or SIGTERM."""

    async def main() -> None:
        worker = WriterWorker(settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.stop)
        logger.info("worker writer: group %s, topics %s", worker.group, ", ".join(worker.names))
        await worker.run()
        logger.info("worker writer stopped: %d batches, %d events", worker.counts.batches, worker.counts.events)

    asyncio.run(main())
