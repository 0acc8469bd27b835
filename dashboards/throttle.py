"""Sign-in throttling (issue 12, hole 2): per account and per address, with growing delays.

Built on the sender's token buckets (``ioc.notify.ratelimit``): Redis in the distributed runtime, so every
dashboard process shares one count, process memory in the embedded one. Two kinds of bucket:

Each refused password takes a token from every tier of the account's and of the address's buckets; a
tier with no token left refuses further tries, before any password is checked, until it refills. The tiers
refill ever more slowly, so the delays grow: an account has 5 tries, then one every 30 s; after 15, one
every 5 min; after 40, one an hour. An address (an office behind one NAT) has four times as many. A right
password takes nothing, so people who sign in often are never slowed down.

Tries of one account are checked one at a time in a process (``serial``): a hundred tries sent in parallel
cannot all pass the look at the buckets before the first of them has failed, and refused ones cost no
16 MiB scrypt. Across processes sharing Redis, at most one try per process overtakes the count.

A login form's CSRF token is single-use: its first post takes the one token of its own bucket.
The limiter is asynchronous; the Flask handlers are not, so the calls run on one private event loop thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ioc.errors import SinkUnavailable
from ioc.notify.ratelimit import RateLimiter

logger = logging.getLogger(__name__)

T = TypeVar("T")
CALL_TIMEOUT_S = 5.0
CSRF_TOKEN_TTL_S = 3600.0


@dataclass(frozen=True)
class Tier:
    """A bucket of ``burst`` tokens that regains one every ``every_s`` seconds."""

    burst: float
    every_s: float

    @property
    def rate_per_s(self) -> float:
        """Tokens regained a second."""
        return 1.0 / self.every_s


ACCOUNT_FAILURES = (Tier(5, 30), Tier(15, 300), Tier(40, 3600))
ADDRESS_FAILURES = (Tier(20, 7.5), Tier(60, 75), Tier(160, 900))
STRIPES = 64  # locks shared by accounts whose names hash alike: bounded memory, rare contention


class LoginThrottle:
    """Says whether a sign-in may be tried now, and counts the failures."""

    def __init__(
        self,
        limiter: RateLimiter,
        *,
        clock: Callable[[], float] = time.time,
        account_failures: Sequence[Tier] = ACCOUNT_FAILURES,
        address_failures: Sequence[Tier] = ADDRESS_FAILURES,
    ) -> None:
        self._limiter = limiter
        self._clock = clock
        self._failures = {"acct": tuple(account_failures), "addr": tuple(address_failures)}
        self._stripes = [threading.Lock() for _ in range(STRIPES)]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="wall-login-throttle", daemon=True
        )
        self._thread.start()

    def serial(self, account: str) -> threading.Lock:
        """Return the lock to hold while checking and counting a try of this account."""
        return self._stripes[int(_key(account)[:8], 16) % STRIPES]

    def check(self, account: str, address: str) -> float:
        """Return 0.0 if this try may go on to the password check, else the seconds to wait."""
        now = self._clock()
        return max(
            self._run(self._limiter.wait(f"fail:{who}:{i}:{key}", tier.rate_per_s, tier.burst, now))
            for who, key in (("acct", _key(account)), ("addr", _key(address)))
            for i, tier in enumerate(self._failures[who])
        )

    def failed(self, account: str, address: str) -> None:
        """Count a refused password against the account and the address."""
        now = self._clock()
        for who, key in (("acct", _key(account)), ("addr", _key(address))):
            for i, tier in enumerate(self._failures[who]):
                self._run(self._limiter.take(f"fail:{who}:{i}:{key}", tier.rate_per_s, tier.burst, now))

    def first_use(self, token: str) -> bool:
        """Return True the first time a login form's token is posted, False every later time."""
        wait = self._run(
            self._limiter.take(f"csrf:{_key(token)}", 1.0 / CSRF_TOKEN_TTL_S, 1.0, self._clock())
        )
        return wait == 0.0

    def close(self) -> None:
        """Stop the event loop thread."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(CALL_TIMEOUT_S)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise SinkUnavailable(f"the sign-in throttle did not answer in {CALL_TIMEOUT_S:.0f} s") from exc


def _key(value: str) -> str:
    """Hash names and addresses into the bucket's key: fixed length, and no user input in Redis key names."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]
