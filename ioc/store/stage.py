"""The storing stage shared by both runtimes: a batch of events into the database, then live values."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ioc.events import Event, SensorReading
from ioc.store.live import LiveStore
from ioc.store.writer import Writer, WriteReport

logger = logging.getLogger(__name__)


class StoreStage:
    """Write a batch with the one database writer, then publish the newest readings to the live store.

    The database comes first: the live value never shows a reading that is not yet stored. Both steps are
    idempotent, so a batch retried after ``SinkUnavailable`` is safe.
    """

    def __init__(self, writer: Writer, live: LiveStore) -> None:
        self.writer = writer
        self.live = live
        self.totals = WriteReport()

    async def handle(self, events: Sequence[Event]) -> WriteReport:
        """Store one batch; raises ``SinkUnavailable`` (retry the same batch) when a store is down."""
        report = await self.writer.write(events)
        readings = [e for e in events if isinstance(e, SensorReading)]
        if readings:
            await self.live.put_readings(readings)
        self.totals.readings += report.readings
        self.totals.rows += report.rows
        self.totals.alerts += report.alerts
        self.totals.dead_letters += report.dead_letters
        self.totals.camera += report.camera
        if report.rejected:
            logger.warning("%d events refused by the database went to dead_letters", len(report.rejected))
        return report
