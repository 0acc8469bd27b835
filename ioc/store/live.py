"""Live values: the newest reading of each station, for the wall display.

Two backends behind one Protocol: Redis in the distributed mode, process memory in the embedded mode. Writes are
monotonic per station (an older reading never replaces a newer one), so replays and out-of-order delivery are safe.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import orjson
import redis
import redis.asyncio as aredis

from ioc.errors import SinkUnavailable
from ioc.events import SensorReading

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveReading:
    """The newest values of one station and when they were observed."""

    station_id: str
    observed_at: datetime
    values: dict[str, float]

    def to_json(self) -> bytes:
        """Serialise for storage."""
        return orjson.dumps(
            {"station_id": self.station_id, "observed_at": self.observed_at.isoformat(), "values": self.values}
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> LiveReading:
        """Parse what ``to_json`` wrote."""
        data = orjson.loads(raw)
        return cls(data["station_id"], datetime.fromisoformat(data["observed_at"]), dict(data["values"]))

    @classmethod
    def of(cls, reading: SensorReading) -> LiveReading:
        """Take the live part of a reading."""
        return cls(reading.station_id, reading.observed_at, dict(reading.values))


def newest_per_station(readings: Iterable[SensorReading]) -> dict[str, LiveReading]:
    """Keep only the newest reading of each station in a batch."""
    newest: dict[str, LiveReading] = {}
    for r in readings:
        cur = newest.get(r.station_id)
        if cur is None or r.observed_at > cur.observed_at:
            newest[r.station_id] = LiveReading.of(r)
    return newest


class LiveStore(Protocol):
    """Where the newest value of each station lives."""

    async def put_readings(self, readings: Iterable[SensorReading]) -> None:
        """Store the newest reading of each station unless a newer one is already there."""

    def latest_readings(self) -> dict[str, LiveReading]:
        """Return the newest reading of every station."""


class MemoryLiveStore:
    """Live values in this process, for the embedded mode."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, LiveReading] = {}

    async def put_readings(self, readings: Iterable[SensorReading]) -> None:
        """Store the newest reading of each station unless a newer one is already there."""
        with self._lock:
            for sid, live in newest_per_station(readings).items():
                cur = self._values.get(sid)
                if cur is None or live.observed_at > cur.observed_at:
                    self._values[sid] = live

    def latest_readings(self) -> dict[str, LiveReading]:
        """Return the newest reading of every station."""
        with self._lock:
            return dict(self._values)


# Compare-and-set in one round trip: replace the station's value only if the new one was observed later.
_PUT_IF_NEWER = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local cur_ts = tonumber(redis.call('HGET', KEYS[2], ARGV[1]))
  if cur_ts and cur_ts >= tonumber(ARGV[3]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""


class RedisLiveStore:
    """Live values in Redis, shared by every worker and dashboard process."""

    VALUES_KEY = "ioc:live:readings"
    STAMPS_KEY = "ioc:live:readings:ts"

    def __init__(self, url: str) -> None:
        self._url = url
        self._async: aredis.Redis | None = None
        self._sync = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    async def put_readings(self, readings: Iterable[SensorReading]) -> None:
        """Store the newest reading of each station unless a newer one is already there."""
        if self._async is None:
            self._async = aredis.Redis.from_url(self._url, socket_timeout=5, socket_connect_timeout=5)
        newest = newest_per_station(readings)
        if not newest:
            return
        try:
            script = self._async.register_script(_PUT_IF_NEWER)
            async with self._async.pipeline(transaction=False) as pipe:
                for sid, live in newest.items():
                    await script(
                        keys=[self.VALUES_KEY, self.STAMPS_KEY],
                        args=[sid, live.to_json(), live.observed_at.timestamp()],
                        client=pipe,
                    )
                await pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise SinkUnavailable(f"Redis at {self._url} is unreachable: {exc}") from exc

    def latest_readings(self) -> dict[str, LiveReading]:
        """Return the newest reading of every station."""
        try:
            raw = self._sync.hgetall(self.VALUES_KEY)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise SinkUnavailable(f"Redis at {self._url} is unreachable: {exc}") from exc
        return {(k.decode() if isinstance(k, bytes) else k): LiveReading.from_json(v) for k, v in raw.items()}

    async def aclose(self) -> None:
        """Close the connections."""
        if self._async is not None:
            await self._async.aclose()
        self._sync.close()
