"""The delivery process: the escalation scheduler and the sender in one loop (``ioc worker notify``; the
embedded
runtime runs the same loop in its own asyncio loop).

Each turn: every ``sweep_s`` the scheduler cancels what acknowledgements and resolves stopped, plans the
ladder steps and reminders due within the next sweep, and recovers rows a dead sender left in ``sending``;
then the sender sends until no row is due, and the citizens' SMS of reports' status changes
(``ioc.notify.citizens``) likewise; then the loop waits for a ``NOTIFY ioc_notify_outbox`` (new rows:
the writer's step 0 goes out at once), the next pending row's time, or the next sweep, whichever comes first.
Several such processes may run: claims skip each other's rows, and the scheduler's rows are idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ioc.config.models import SiteConfig
from ioc.errors import SinkUnavailable
from ioc.events import utcnow
from ioc.notify import outbox
from ioc.notify.channels.base import Channel
from ioc.notify.channels.registry import build_channels
from ioc.notify.citizens import CitizenSms
from ioc.notify.citizens import next_due as citizens_next_due
from ioc.notify.links import DEFAULT_PUBLIC_URL
from ioc.notify.planner import Planner
from ioc.notify.ratelimit import RateLimiter, RedisRateLimiter
from ioc.notify.render import Renderer
from ioc.notify.sender import Sender, SenderSettings
from ioc.notify.tokens import TokenRefreshFailed, TokenStore

logger = logging.getLogger(__name__)

CHANNEL = "ioc_notify_outbox"


def session_name(pid: int) -> str:
    """Return the PostgreSQL ``application_name`` of the sessions of ``ioc worker notify`` process ``pid``."""
    return f"ioc worker notify {pid}"


def labelled_dsn(dsn: str, pid: int) -> str:
    """Return ``dsn`` with ``application_name`` set to ``session_name(pid)``, unless it names one already.

    A killed sender's sessions outlive it: PostgreSQL still runs and commits what the process sent before it
    died (a 'sent' it had just recorded, say). The label lets an operator, or a test, see those sessions in
    ``pg_stat_activity`` and know when the dead process has really stopped writing.
    """
    if "application_name" in psycopg.conninfo.conninfo_to_dict(dsn):
        return dsn
    return psycopg.conninfo.make_conninfo(dsn, application_name=session_name(pid))


def renderer_from_env(site: SiteConfig, env: Mapping[str, str]) -> Renderer:
    """Return the renderer with the ack-link settings from IOC_PUBLIC_URL and IOC_ACK_LINK_SECRET."""
    secret = env.get("IOC_ACK_LINK_SECRET")
    url = (env.get("IOC_PUBLIC_URL") or "http://127.0.0.1:8090").rstrip("/")
    if not secret:
        logger.warning(
            "IOC_ACK_LINK_SECRET is not set: messages carry the reply code but no acknowledgement link"
        )
    return Renderer(site, public_url=url, ack_secret=secret.encode() if secret else None)


def settings_from_env(env: Mapping[str, str]) -> tuple[SenderSettings, float]:
    """Return the sender settings and the sweep interval from IOC_NOTIFY_* variables (defaults otherwise).

    IOC_NOTIFY_BATCH (rows per claim), IOC_NOTIFY_CONCURRENCY (sends at once), IOC_NOTIFY_LEASE_S (how long a
    claimed row is held; also how long a row left 'sending' by a dead sender waits), IOC_NOTIFY_SWEEP_S.
    """
    base = SenderSettings()
    spec = {
        "IOC_NOTIFY_BATCH": (int, 1, 10_000),
        "IOC_NOTIFY_CONCURRENCY": (int, 1, 1000),
        "IOC_NOTIFY_LEASE_S": (float, 1.0, 3600.0),
        "IOC_NOTIFY_SWEEP_S": (float, 0.1, 3600.0),
    }
    values: dict[str, float] = {}
    for name, (kind, lo, hi) in spec.items():
        raw = env.get(name)
        if raw is None or raw == "":
            continue
        try:
            value = kind(raw)
        except ValueError:
            value = None
        if value is None or not lo <= value <= hi:
            raise ValueError(f"{name}={raw!r} is not a number from {lo} to {hi}")
        values[name] = value
    settings = SenderSettings(
        batch=int(values.get("IOC_NOTIFY_BATCH", base.batch)),
        concurrency=int(values.get("IOC_NOTIFY_CONCURRENCY", base.concurrency)),
        lease_s=values.get("IOC_NOTIFY_LEASE_S", base.lease_s),
    )
    return settings, values.get("IOC_NOTIFY_SWEEP_S", 5.0)


@dataclass
class NotifyWorker:
    """Scheduler and sender over one database."""

    dsn: str
    site: SiteConfig
    channels: Mapping[str, Channel]
    limiter: RateLimiter
    renderer: Renderer
    clock: Callable[[], datetime] = utcnow
    sweep_s: float = 5.0
    poll_s: float = 5.0
    settings: SenderSettings = field(default_factory=SenderSettings)
    name: str | None = None
    # How often the worker asks whether a channel's provider tokens are due for their scheduled renewal
    # (each channel decides, e.g. Zalo's token_refresh_every_h); the first turn asks at once.
    token_check_s: float = 3600.0

    def __post_init__(self) -> None:
        self.planner = Planner.from_site(self.site)
        self.pool: AsyncConnectionPool[Any] | None = None
        self.sender: Sender | None = None
        self._last_sweep: datetime | None = None
        self._last_token_check: datetime | None = None
        self.citizens: CitizenSms | None = None

    async def open(self) -> None:
        """Open the connection pool and build the sender."""
        self.pool = AsyncConnectionPool(
            self.dsn,
            min_size=1,
            max_size=max(4, self.settings.concurrency // 2),
            open=False,
            timeout=10,
            kwargs={"autocommit": True},
        )
        await self.pool.open(wait=False)
        self.sender = Sender(
            self.pool,
            self.site,
            self.channels,
            self.limiter,
            self.renderer,
            clock=self.clock,
            settings=self.settings,
            name=self.name,
        )
        sms = self.site.reports.citizen_sms if self.site.reports is not None else None
        if sms is not None:
            self.citizens = CitizenSms(self.pool, sms, self.channels,
                                       self.renderer.public_url or DEFAULT_PUBLIC_URL, clock=self.clock)

    async def close(self) -> None:
        """Close the pool (the channels belong to whoever built them)."""
        if self.pool is not None:
            await self.pool.close()

    async def sweep(self) -> outbox.ScheduleReport:
        """Run the escalation scheduler once and recover rows stuck in 'sending'."""
        assert self.pool is not None and self.sender is not None
        now = self.clock()
        async with self.pool.connection() as conn:
            report = await outbox.schedule(conn, self.planner, now, timedelta(seconds=self.sweep_s))
        await self.sender.recover()
        self._last_sweep = now
        return report

    async def refresh_tokens(self) -> int:
        """Renew the provider tokens that are due (Zalo's single-use refresh token lapses after about three
        months without use: issue 13, point 4); return how many channels renewed.

        A refusal (the refresh token is dead) is recorded by the channel and logged at error level, since only
        an admin re-authorising the OA brings the channel back; a network or store failure is tried again at
        the next check. Never raises TokenRefreshFailed.
        """
        renewed = 0
        for channel in self.channels.values():
            refresh = getattr(channel, "refresh_tokens", None)
            if refresh is None:
                continue
            try:
                renewed += int(await refresh())
            except TokenRefreshFailed as exc:
                if exc.retryable:
                    logger.warning(
                        "channel %s: scheduled token refresh failed (%s); tried again in %.0f s",
                        channel.id,
                        exc.reason,
                        self.token_check_s,
                    )
                else:
                    logger.error(
                        "channel %s: the provider refused the refresh token (%s); messages on this channel "
                        "fall back until an admin re-authorises the app and sets its refresh token",
                        channel.id,
                        exc.reason,
                    )
        self._last_token_check = self.clock()
        return renewed

    async def drain(self) -> int:
        """Send batches until no row is due; return how many rows were handled."""
        assert self.sender is not None
        total = 0
        while (n := await self.sender.run_once()) > 0:
            total += n
        return total

    async def turn(self) -> float:
        """One turn: sweep when due, drain; return how long to wait (at most) before the next turn."""
        assert self.pool is not None
        now = self.clock()
        if (
            self._last_token_check is None
            or (now - self._last_token_check).total_seconds() >= self.token_check_s
        ):
            await self.refresh_tokens()
        if self._last_sweep is None or (now - self._last_sweep).total_seconds() >= self.sweep_s:
            await self.sweep()
        await self.drain()
        if self.citizens is not None:
            await self.citizens.drain()
        async with self.pool.connection() as conn:
            nxt = await outbox.next_due(conn)
            if self.citizens is not None:
                citizens_next = await citizens_next_due(conn)
                nxt = citizens_next if nxt is None or (citizens_next is not None and citizens_next < nxt) else nxt
        wait = self.poll_s
        if nxt is not None:
            wait = min(wait, max(0.0, (nxt - self.clock()).total_seconds()))
        if self._last_sweep is not None:
            wait = min(wait, max(0.0, self.sweep_s - (self.clock() - self._last_sweep).total_seconds()))
        return wait

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; database trouble is logged and waited out, never fatal."""
        if self.pool is None:
            await self.open()
        listener: psycopg.AsyncConnection[Any] | None = None
        while not stop.is_set():
            try:
                if listener is None or listener.closed:
                    listener = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
                    await listener.execute(f"LISTEN {CHANNEL}")
                wait = await self.turn()
                if wait > 0:
                    await _wait_notify(listener, stop, wait)
            except (psycopg.OperationalError, PoolTimeout, SinkUnavailable) as exc:
                logger.warning("notify worker: %s; retrying in %.1f s", exc, self.poll_s)
                if listener is not None:
                    await listener.close()
                    listener = None
                await _sleep_or_stop(stop, self.poll_s)
            except Exception:
                # The outer edge of the process: a bug in one turn is logged with its traceback, the worker
                # lives on; rows it was working on keep their lease and are taken up again when it runs out.
                logger.exception("notify worker: unexpected error; going on in %.1f s", self.poll_s)
                await _sleep_or_stop(stop, self.poll_s)
        if listener is not None:
            await listener.close()


async def _wait_notify(conn: psycopg.AsyncConnection[Any], stop: asyncio.Event, timeout: float) -> None:
    """Return at the first NOTIFY on the listening connection, when ``stop`` is set, or after ``timeout``."""

    async def first() -> None:
        async for _ in conn.notifies(timeout=timeout, stop_after=1):
            return

    listen = asyncio.ensure_future(first())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({listen, stopped}, timeout=timeout + 1, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (listen, stopped):
            if not task.done():
                task.cancel()
        await asyncio.gather(listen, stopped, return_exceptions=True)
        if listen.done() and not listen.cancelled() and listen.exception() is not None:
            raise listen.exception()  # type: ignore[misc]


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def run_notify(
    site: SiteConfig,
    dsn: str,
    redis_url: str,
    *,
    env: Mapping[str, str],
    namespace: str = "",
    stop: asyncio.Event | None = None,
) -> None:
    """Run the distributed delivery process: channels from ``env`` (``Settings.env``), rate limits in Redis.

    ``namespace`` (``Settings.kafka_namespace``) keeps an isolated run's rate limits apart.
    """


    env = dict(env)
    settings, sweep_s = settings_from_env(env)
    dsn = labelled_dsn(dsn, os.getpid())
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    channels = build_channels(site, env, TokenStore(dsn))
    ns = namespace
    limiter = RedisRateLimiter.from_url(redis_url, prefix=f"{ns}:ioc:notify:rl:" if ns else "ioc:notify:rl:")
    worker = NotifyWorker(
        dsn,
        site,
        channels,
        limiter,
        renderer_from_env(site, env),
        sweep_s=sweep_s,
        poll_s=min(5.0, sweep_s),
        settings=settings,
    )
    logger.info("notify worker: %d channel(s), %d officer(s)", len(channels), len(site.roster.officers))
    try:
        await worker.run(stop)
    finally:
        await worker.close()
        await limiter.close()
        for ch in channels.values():
            await ch.close()
