"""Drop a reading already passed on, by (station, observed_at), before it reaches Kafka.

Stations re-send after a lost acknowledgement, MQTT QoS 1 delivers at least once and ChirpStack may publish an
uplink again after a restart. The database is idempotent (a reading's id is fixed by station and observation
time), so this only saves the bus and the stream workers the repeated work. Memory is bounded
by a count and an age.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

from ioc.events import Event, SensorReading

logger = logging.getLogger(__name__)

Emit = Callable[[Event], None]
Key = tuple[str, datetime]


class RecentReadings:
    """A thread-safe set of recently seen (station, observed_at) keys, bounded in count and in age."""

    def __init__(self, max_items: int = 100_000, ttl_s: float = 6 * 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_items < 1 or ttl_s <= 0:
            raise ValueError("max_items must be at least 1 and ttl_s positive")
        self.max_items = max_items
        self.ttl_s = ttl_s
        self._clock = clock
        self._seen: OrderedDict[Key, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, station_id: str, observed_at: datetime) -> bool:
        """Record the key; return True if it was not seen within the window (the reading should pass)."""
        key = _key(station_id, observed_at)
        now = self._clock()
        with self._lock:
            self._expire(now)
            if key in self._seen:
                return False
            self._seen[key] = now
            while len(self._seen) > self.max_items:
                self._seen.popitem(last=False)
            return True

    def forget(self, station_id: str, observed_at: datetime) -> None:
        """Remove a key, so a reading that could not be passed on is accepted when it is sent again."""
        with self._lock:
            self._seen.pop(_key(station_id, observed_at), None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)

    def _expire(self, now: float) -> None:
        # Keys are in insertion order, and insertion times only grow, so expired keys are at the front.
        while self._seen:
            _, seen_at = next(iter(self._seen.items()))
            if now - seen_at < self.ttl_s:
                break
            self._seen.popitem(last=False)


def _key(station_id: str, observed_at: datetime) -> Key:
    return station_id, observed_at.astimezone(UTC)


class DedupEmit:
    """Wrap an ``emit``: pass every event on except a reading whose (station, observed_at) already passed."""

    def __init__(self, emit: Emit, recent: RecentReadings | None = None) -> None:
        self.emit = emit
        self.recent = recent or RecentReadings()
        self.dropped = 0
        self._count_lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        """Emit the event unless it is a duplicate reading; a failed emit forgets it so a retry passes."""
        if not isinstance(event, SensorReading):
            self.emit(event)
            return
        if not self.recent.first_time(event.station_id, event.observed_at):
            with self._count_lock:
                self.dropped += 1
            logger.debug("duplicate reading of %s at %s dropped", event.station_id, event.observed_at)
            return
        try:
            self.emit(event)
        except BaseException:
            self.recent.forget(event.station_id, event.observed_at)
            raise
