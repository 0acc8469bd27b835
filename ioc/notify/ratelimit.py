"""Token buckets for the sender: per officer (messages a minute) and per provider (requests a second).

A bucket holds up to ``burst`` tokens and gains ``rate_per_s`` a second; a send takes one. When none is left
the caller is told how long to wait and nothing is taken, so an excess message is delayed, never dropped.

Two implementations of one protocol: ``RedisRateLimiter`` (one atomic Lua script per take, shared by every
sender process of the distributed mode) and ``MemoryRateLimiter`` (the embedded runtime's single process).
Time comes from the caller, so the sender's injectable clock drives both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ioc.errors import SinkUnavailable

logger = logging.getLogger(__name__)


class RateLimiter(Protocol):
    """Takes a token from a named bucket."""

    async def take(self, key: str, rate_per_s: float, burst: float, now: float) -> float:
        """Take one token: return 0.0 if one was there, else the seconds until one will be (nothing taken)."""
        ...

    async def wait(self, key: str, rate_per_s: float, burst: float, now: float) -> float:
        """Look without taking: return 0.0 if a token is there, else the seconds until one will be."""
        ...


@dataclass
class _Bucket:
    tokens: float
    at: float


def _take(bucket: _Bucket, rate_per_s: float, burst: float, now: float) -> float:
    if now > bucket.at:
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.at) * rate_per_s)
        bucket.at = now
    if bucket.tokens >= 1:
        bucket.tokens -= 1
        return 0.0
    return (1 - bucket.tokens) / rate_per_s


def _wait(bucket: _Bucket | None, rate_per_s: float, burst: float, now: float) -> float:
    if bucket is None:
        return 0.0
    tokens = min(burst, bucket.tokens + max(0.0, now - bucket.at) * rate_per_s)
    return 0.0 if tokens >= 1 else (1 - tokens) / rate_per_s


class MemoryRateLimiter:
    """Token buckets in this process's memory (the embedded runtime has one sender)."""

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}

    async def take(self, key: str, rate_per_s: float, burst: float, now: float) -> float:
        """Take one token from the bucket ``key``."""
        bucket = self._buckets.setdefault(key, _Bucket(burst, now))
        return _take(bucket, rate_per_s, burst, now)

    async def wait(self, key: str, rate_per_s: float, burst: float, now: float) -> float:
        """Look at the bucket ``key`` without taking."""
        return _wait(self._buckets.get(key), rate_per_s, burst, now)


# The same arithmetic as _take, atomically in Redis. Floats go back as strings: Redis turns Lua numbers into
# integers.
_TAKE_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local v = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(v[1])
local at = tonumber(v[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate)
  at = now
end
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 60000)
return tostring(wait)
"""
# The same arithmetic as _wait: read only.
_WAIT_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local v = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(v[1])
local at = tonumber(v[2])
if tokens == nil or at == nil then
  return '0'
end
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate)
end
if tokens >= 1 then
  return '0'
end
return tostring((1 - tokens) / rate)
"""


class RedisRateLimiter:
    """Token buckets in Redis, shared by every sender; each take is one atomic script call."""

    def __init__(self, client: aioredis.Redis, prefix: str = "ioc:notify:rl:") -> None:
        self._redis = client
        self._prefix = prefix
        self._script = client.register_script(_TAKE_LUA)
        self._peek = client.register_script(_WAIT_LUA)

    @classmethod
    def from_url(cls, url: str, prefix: str = "ioc:notify:rl:") -> RedisRateLimiter:
        """Connect to Redis at ``url``."""
        return cls(aioredis.Redis.from_url(url), prefix)

    async def take(self, key: str, rate_per_s: float, burst: float, now: float) -> float:
        """Take one token from the bucket ``key``; raise ``SinkUnavailable`` when Redis cannot be reached."""
        try:
            wait = await self._script(keys=[self._prefix + key], args=[rate_per_s, burst, now])
        except (RedisError, OSError) as exc:
            raise SinkUnavailable(f"Redis (rate limits) is unreachable: {exc}") from exc
        return float(wait.decode() if isinstance(wait, bytes) else wait)

    async def wait(self, key: str, rate_per_s: float, burst: float, now: float) -> float:
        """Look at the bucket ``key`` without taking; ``SinkUnavailable`` when Redis cannot be reached."""
        try:
            wait = await self._peek(keys=[self._prefix + key], args=[rate_per_s, burst, now])
        except (RedisError, OSError) as exc:
            raise SinkUnavailable(f"Redis (rate limits) is unreachable: {exc}") from exc
        return float(wait.decode() if isinstance(wait, bytes) else wait)

    async def close(self) -> None:
        """Close the connection."""
        await self._redis.aclose()
