"""The sender: takes due outbox rows and puts them through the officer's channels, once.

One batch: ``outbox.claim`` leases up to ``batch`` due rows to this sender (``FOR UPDATE SKIP LOCKED``:
several senders share the queue without waiting for each other). For each row, concurrently up to
``concurrency``:

1. render the message (``render.Renderer``); bad input - a phone not in 84xxxxxxxxx form, a template value
   missing - fails the row with the reason, logged, and nothing is sent;
2. take a token from the provider's bucket (``rate_limit_per_s``) and the officer's (``per_officer_per_min``);
   when either is empty the row waits for the next token, untried;
3. mark the row ``sending`` and count the attempt (committed), call the channel, then record the answer:
   - SENT -> ``sent`` with the provider's message id (delivery callbacks later make it ``delivered``);
   - RETRY -> back to ``pending`` after an exponential backoff with jitter (at least the provider's
     Retry-After), until ``max_attempts`` or ``give_up_after_min``, then as FAILED;
   - FAILED or NOT_APPLICABLE -> ``fallback`` and a new row for the officer's next channel (Zalo -> SMS), or,
     on the last channel, ``failed`` with the provider's reason (``outbox.failed_deliveries`` shows it on the
     wall).

Crash safety. A sender killed between step 3's ``sending`` and its ``sent`` leaves a row whose fate is
unknown: the provider may have taken it. ``outbox.recover_stuck`` finds such rows once their lease has run
out. On a channel whose provider de-duplicates by our idempotency key (eSMS's RequestId: a repeat is refused
with code 124, which the adapter reports as SENT) the row is sent again: at most one message reaches the
phone. Zalo ZNS takes our key as tracking_id but does not refuse repeats, and SpeedSMS and webhooks have no
such key, so there the row is failed with ``outcome_unknown`` instead: the officer may miss that one message
(the ladder and the reminders, which are rows of their own, still come), but never gets it twice. Rows claimed
but not yet started are still ``pending`` and are simply claimed again after the lease, by any sender.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ioc.config.models import Officer, SiteConfig
from ioc.errors import InvalidInput, SinkUnavailable
from ioc.events import Severity, utcnow
from ioc.notify import outbox
from ioc.notify.channels.base import Channel, SendResult, SendStatus
from ioc.notify.channels.registry import resend_safe_channels as _resend_safe
from ioc.notify.outbox import OutboxRow
from ioc.notify.ratelimit import RateLimiter
from ioc.notify.render import AlertView, Renderer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SenderSettings:
    """How one sender works through the queue."""

    batch: int = 50
    concurrency: int = 16
    # longer than any channel's request timeout, so a live sender never loses a row it sends
    lease_s: float = 60.0
    backoff_base_s: float = 2.0
    backoff_max_s: float = 300.0
    # a provider-rate wait shorter than this is slept; longer ones requeue the row
    inline_wait_max_s: float = 1.0


def backoff(
    attempts: int, settings: SenderSettings, rng: random.Random, retry_after_s: float | None
) -> float:
    """Return the wait before the next try: exponential in ``attempts``, half of it jitter, >= Retry-After."""
    ceiling: float = min(settings.backoff_max_s, settings.backoff_base_s * 2.0 ** max(attempts - 1, 0))
    wait = ceiling / 2 + rng.uniform(0, ceiling / 2)
    return max(wait, retry_after_s or 0.0)


def resend_safe_channels(site: SiteConfig) -> set[str]:
    """Return the channels whose provider refuses a repeat of our idempotency key (eSMS's RequestId)."""
    return _resend_safe(site.channels)


class Sender:
    """Sends due outbox rows through the channels; several may run against one database."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        site: SiteConfig,
        channels: Mapping[str, Channel],
        limiter: RateLimiter,
        renderer: Renderer,
        *,
        clock: Callable[[], datetime] = utcnow,
        settings: SenderSettings | None = None,
        rng: random.Random | None = None,
        name: str | None = None,
    ) -> None:
        self.pool = pool
        self.site = site
        self.channels = channels
        self.limiter = limiter
        self.renderer = renderer
        self.clock = clock
        self.settings = settings or SenderSettings()
        self.rng = rng or random.Random()
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.officers: dict[str, Officer] = {o.id: o for o in site.roster.officers}
        self.delivery = site.roster.delivery
        self.resend_channels = resend_safe_channels(site)
        self.provider_rates: dict[str, float] = {}
        for c in site.channels:
            rate = getattr(c, "rate_limit_per_s", None)  # SMS gateways and ZNS; a webhook is our own
            if rate:
                self.provider_rates[c.id] = rate
        self._lease = timedelta(seconds=self.settings.lease_s)

    async def run_once(self) -> int:
        """Claim one batch of due rows and send them; return how many rows were claimed."""
        async with self.pool.connection() as conn:
            rows = await outbox.claim(conn, self.name, self.clock(), self.settings.batch, self._lease)
            if not rows:
                return 0
            views = await _alert_views(conn, {r.alert_id for r in rows})
        gate = asyncio.Semaphore(self.settings.concurrency)

        async def one(row: OutboxRow) -> None:
            async with gate:
                try:
                    await self.send_row(row, views.get(str(row.alert_id)))
                except (SinkUnavailable, psycopg.OperationalError, PoolTimeout) as exc:
                    # The row keeps its lease; once it runs out it is claimed again (or recovered, if
                    # 'sending').
                    logger.warning(
                        "outbox row %s (%s): database or Redis unavailable: %s",
                        row.id,
                        row.idempotency_key,
                        exc,
                    )

        await asyncio.gather(*(one(r) for r in rows))
        return len(rows)

    async def recover(self) -> tuple[int, int]:
        """Deal with rows a stopped sender left in 'sending' (see the module docstring)."""
        async with self.pool.connection() as conn:
            return await outbox.recover_stuck(conn, self.clock(), self.resend_channels)

    async def send_row(self, row: OutboxRow, alert: AlertView | None) -> None:
        """Render, rate-limit, send and record one claimed row."""
        officer = self.officers.get(row.officer_id)
        channel = self.channels.get(row.channel_id or "")
        if alert is None or officer is None:
            what = "alert" if alert is None else "officer"
            await self._db(
                outbox.fail, row, f"unknown_{what}: not in the database or the roster", self.clock()
            )
            logger.error("outbox row %s: unknown %s (%s)", row.id, what, row.idempotency_key)
            return
        try:
            message = self.renderer.message(
                key=row.idempotency_key,
                kind=row.kind,
                cause=row.cause,
                step_delay_min=self._delay(row, alert),
                officer=officer,
                alert=alert,
                severity=row.severity or alert.severity,
                channel_id=row.channel_id,
            )
        except InvalidInput as exc:
            logger.warning(
                "outbox row %s for %s about alert %s refused, nothing sent: %s",
                row.id,
                officer.id,
                row.alert_key,
                exc,
            )
            await self._db(outbox.fail, row, f"{exc.reason}: {exc.detail}", self.clock())
            return
        if channel is None:
            await self._next_or_fail(row, officer, f"unknown_channel: {row.channel_id} is not configured")
            return
        if not channel.accepts(message.recipient):
            await self._next_or_fail(row, officer, f"{channel.id} cannot reach {officer.id}")
            return
        if not await self._rate_ok(row, officer, channel):
            return
        attempts = await self._db(outbox.start, row, self.name, self.clock(), self._lease)
        if attempts is None:
            await self._db(outbox.cancel_if_stopped, row)
            return
        result = await channel.send(message)
        await self._record(row, officer, attempts, result)

    async def _rate_ok(self, row: OutboxRow, officer: Officer, channel: Channel) -> bool:
        rate = self.provider_rates.get(channel.id)
        for _ in range(3):
            now = self.clock()
            wait = (
                0.0
                if rate is None
                else await self.limiter.take(f"channel:{channel.id}", rate, max(1.0, rate), now.timestamp())
            )
            if wait <= 0:
                break
            if wait > self.settings.inline_wait_max_s:
                await self._db(
                    outbox.defer, row, self.name, now + timedelta(seconds=wait), f"rate_limited: {channel.id}"
                )
                return False
            await asyncio.sleep(wait)
        else:
            await self._db(
                outbox.defer,
                row,
                self.name,
                self.clock() + timedelta(seconds=1),
                f"rate_limited: {channel.id}",
            )
            return False
        per_min = self.delivery.per_officer_per_min
        now = self.clock()
        wait = await self.limiter.take(
            f"officer:{officer.id}", per_min / 60.0, float(per_min), now.timestamp()
        )
        if wait > 0:
            logger.info(
                "officer %s over %d messages a minute: %s waits %.0f s",
                officer.id,
                per_min,
                row.idempotency_key,
                wait,
            )
            await self._db(
                outbox.defer, row, self.name, now + timedelta(seconds=wait), "rate_limited: officer"
            )
            return False
        return True

    async def _record(self, row: OutboxRow, officer: Officer, attempts: int, result: SendResult) -> None:
        now = self.clock()
        if result.status is SendStatus.SENT:
            await self._db(outbox.sent, row, result.provider_message_id, now)
            logger.info(
                "sent %s via %s (%s)", row.idempotency_key, row.channel_id, result.provider_message_id
            )
            return
        if result.status is SendStatus.RETRY:
            too_old = now - row.due_at >= timedelta(minutes=self.delivery.give_up_after_min)
            if attempts < self.delivery.max_attempts and not too_old:
                wait = backoff(attempts, self.settings, self.rng, result.retry_after_s)
                logger.info(
                    "%s via %s: %s; attempt %d, next in %.1f s",
                    row.idempotency_key,
                    row.channel_id,
                    result.reason,
                    attempts,
                    wait,
                )
                await self._db(outbox.retry_later, row, now + timedelta(seconds=wait), result.reason)
                return
            reason = f"gave up after {attempts} attempt(s): {result.reason}"
        else:
            reason = result.reason or result.status.value
        await self._next_or_fail(row, officer, reason)

    async def _next_or_fail(self, row: OutboxRow, officer: Officer, reason: str) -> None:
        now = self.clock()
        prefs = officer.channels
        later = prefs[prefs.index(row.channel_id) + 1 :] if row.channel_id in prefs else []
        if later:
            logger.info(
                "%s via %s: %s; falling back to %s", row.idempotency_key, row.channel_id, reason, later[0]
            )
            await self._db(outbox.fall_back, row, reason, later[0], now)
        else:
            logger.warning(
                "message %s to %s about %s failed on its last channel %s: %s",
                row.idempotency_key,
                officer.id,
                row.alert_key,
                row.channel_id,
                reason,
            )
            await self._db(outbox.fail, row, reason, now)

    def _delay(self, row: OutboxRow, alert: AlertView) -> int:
        ladder = self.site.roster.escalation.get(Severity(alert.severity)) or []
        return ladder[row.step].delay_min if 0 <= row.step < len(ladder) else 0

    async def _db(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Run one outbox step on a pooled connection, retrying through a short database outage."""
        delay = 0.5
        for attempt in range(6):
            try:
                async with self.pool.connection() as conn:
                    return await fn(conn, *args)
            except (psycopg.OperationalError, PoolTimeout) as exc:
                if attempt == 5:
                    raise SinkUnavailable(f"PostgreSQL is unreachable: {exc}") from exc
                logger.warning("outbox: %s; retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 8.0)
        raise AssertionError("unreachable")


async def _alert_views(conn: psycopg.AsyncConnection[Any], ids: set[uuid.UUID]) -> dict[str, AlertView]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT alert_id, severity, message_key, params, area_code, opened_at, updated_at, resolved_at "
        "FROM alerts WHERE alert_id = ANY(%s)",
        (list(ids),),
    )
    out = {}
    for r in await cur.fetchall():
        aid = str(r.pop("alert_id"))
        out[aid] = AlertView(alert_id=aid, **r)
    return out
