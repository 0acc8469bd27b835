"""The outbox in real PostgreSQL: rows in the alert transition's transaction, the scheduler, claims, the
sender's
outcomes with a tiny in-test channel, stuck rows, rate limits in real Redis.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool

from ioc.config.loader import load_site
from ioc.config.models import SiteConfig
from ioc.events import AlertEvent, AlertTransition, Severity
from ioc.notify import outbox
from ioc.notify.channels.base import CallbackEvent, Message, Recipient, SendResult, SendStatus
from ioc.notify.outbox import OutboxPlanner
from ioc.notify.planner import Planner
from ioc.notify.ratelimit import MemoryRateLimiter, RedisRateLimiter
from ioc.notify.render import Renderer
from ioc.notify.roster import LOCAL_TZ
from ioc.notify.sender import Sender, SenderSettings, backoff
from ioc.store import alerts as lifecycle
from ioc.store.writer import Writer
from tests.conftest import SITE_DIR

pytestmark = pytest.mark.services

MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=LOCAL_TZ).astimezone(UTC)  # nguyen-van-hung's flood shift


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


@dataclass
class ScriptedChannel:
    """A channel for unit tests: answers from a script (default SENT), records every message it was given."""

    id: str
    kind: str = "sms_http"
    answers: list[SendResult] = field(default_factory=list)
    got: list[Message] = field(default_factory=list)

    def accepts(self, recipient: Recipient) -> bool:
        return True

    async def send(self, message: Message) -> SendResult:
        self.got.append(message)
        if self.answers:
            return self.answers.pop(0)
        return SendResult(SendStatus.SENT, provider_message_id=f"{self.id}-{len(self.got)}")

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str]
    ) -> list[CallbackEvent]:
        return []

    async def close(self) -> None:
        return None


def flood_event(
    transition: AlertTransition,
    at: datetime,
    opened_at: datetime,
    *,
    severity: str = "critical",
    key: str = "flood:NS-02:level",
    area: str = "03181",
    params: dict[str, Any] | None = None,
) -> AlertEvent:
    """A flood alert transition like the flood core's, at station NS-02 in Mường Tùng."""
    return AlertEvent.create(
        key,
        transition,
        at,
        opened_at=opened_at,
        severity=Severity(severity),
        source_kind="flood",
        source_id="NS-02",
        area_code=area,
        message_key="alert.flood.level",
        params=params
        if params is not None
        else {"station": "Trạm Mường Tùng", "value": 2.41, "level": "III"},
        value=2.41,
    )


async def rows(dsn: str, alert_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    """Every outbox row (of one alert), oldest first."""
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        where, args = ("WHERE alert_id = %s", (alert_id,)) if alert_id else ("", ())
        await cur.execute(f"SELECT * FROM notify_outbox {where} ORDER BY id", args)
        return await cur.fetchall()


@pytest.fixture(scope="module")
def site() -> SiteConfig:
    return load_site(SITE_DIR)


@pytest.fixture
async def clean(pg_dsn: str) -> str:
    """The module's database with no alerts and an empty outbox."""
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        await conn.execute("TRUNCATE notify_outbox, alerts, alert_events, audit_log, alert_notes")
    return pg_dsn


@pytest.fixture
async def pool(clean: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    p: AsyncConnectionPool[Any] = AsyncConnectionPool(
        clean, min_size=1, max_size=6, open=False, kwargs={"autocommit": True}
    )
    await p.open(wait=True)
    yield p
    await p.close()


async def open_writer(dsn: str, site: SiteConfig, clock: Clock) -> Writer:
    return await Writer.open(dsn, notify=OutboxPlanner(Planner.from_site(site), clock=clock))


# --- the writer: rows in the transition's transaction -------------------------------------------------------


async def test_opened_alert_plans_step_zero_in_the_writers_transaction(clean: str, site: SiteConfig) -> None:
    clock = Clock(MONDAY_10 + timedelta(seconds=2))
    writer = await open_writer(clean, site, clock)
    try:
        ev = flood_event(AlertTransition.OPENED, MONDAY_10, MONDAY_10)
        await writer.write([ev])
        await writer.write([ev])  # a replay changes nothing
    finally:
        await writer.close()
    got = await rows(clean)
    assert [(r["officer_id"], r["channel_id"], r["step"], r["kind"], r["status"]) for r in got] == [
        ("nguyen-van-hung", "zns-ubnd", 0, "alert_opened", "pending")
    ]
    assert got[0]["idempotency_key"] == f"{ev.alert_id}:nguyen-van-hung:zns-ubnd:0"
    assert got[0]["due_at"] == MONDAY_10 and got[0]["severity"] == "critical"


async def test_a_writer_without_a_planner_writes_no_messages(clean: str) -> None:
    writer = await Writer.open(clean)
    try:
        await writer.write([flood_event(AlertTransition.OPENED, MONDAY_10, MONDAY_10)])
    finally:
        await writer.close()
    assert await rows(clean) == []


async def test_the_transition_and_its_messages_commit_together(clean: str, site: SiteConfig) -> None:
    """A refused outbox insert rolls the alert back too: never a transition stored without its messages."""
    clock = Clock(MONDAY_10)
    writer = await open_writer(clean, site, clock)
    async with await psycopg.AsyncConnection.connect(clean, autocommit=True) as conn:
        await conn.execute(
            "ALTER TABLE notify_outbox ADD CONSTRAINT no_zalo CHECK (channel_id <> 'zns-ubnd')"
        )
    try:
        report = await writer.write([flood_event(AlertTransition.OPENED, MONDAY_10, MONDAY_10)])
    finally:
        async with await psycopg.AsyncConnection.connect(clean, autocommit=True) as conn:
            await conn.execute("ALTER TABLE notify_outbox DROP CONSTRAINT no_zalo")
        await writer.close()
    assert report.alerts == 0 and len(report.rejected) == 1  # dead-lettered with the database's reason
    async with await psycopg.AsyncConnection.connect(clean) as conn:
        n = await (await conn.execute("SELECT count(*) FROM alerts")).fetchone()
    assert n == (0,) and await rows(clean) == []


async def test_resolve_cancels_pending_and_tells_those_reached(clean: str, site: SiteConfig) -> None:
    clock = Clock(MONDAY_10)
    writer = await open_writer(clean, site, clock)
    try:
        opened = flood_event(AlertTransition.OPENED, MONDAY_10, MONDAY_10)
        await writer.write([opened])
        async with await psycopg.AsyncConnection.connect(clean, autocommit=True) as conn:
            await conn.execute("UPDATE notify_outbox SET status = 'sent'")
            clock.advance(minutes=6)
            await outbox.schedule(conn, Planner.from_site(site), clock())  # the deputy's step, still pending
        assert [r["status"] for r in await rows(clean)] == ["sent", "pending"]
        raised = flood_event(AlertTransition.ESCALATED, MONDAY_10 + timedelta(minutes=7), MONDAY_10)
        await writer.write([raised])
        resolved = flood_event(AlertTransition.RESOLVED, MONDAY_10 + timedelta(minutes=8), MONDAY_10)
        await writer.write([resolved])
    finally:
        await writer.close()
    got = [(r["officer_id"], r["kind"], r["cause"], r["status"], r["reason"]) for r in await rows(clean)]
    assert got == [
        ("nguyen-van-hung", "alert_opened", "", "sent", ""),
        ("quang-van-son", "alert_escalated", "ladder", "cancelled", "alert_resolved"),
        ("nguyen-van-hung", "alert_escalated", "severity", "cancelled", "alert_resolved"),
        ("nguyen-van-hung", "alert_resolved", "", "pending", ""),
    ]


async def test_a_held_warning_that_rises_to_major_goes_out_at_once(clean: str, site: SiteConfig) -> None:
    """Regression: a held step-0 row kept its 06:00 time when the alert became major (same key)."""
    night = datetime(2026, 11, 23, 23, 0, tzinfo=LOCAL_TZ).astimezone(UTC)
    clock = Clock(night)
    writer = await open_writer(clean, site, clock)
    try:
        await writer.write([flood_event(AlertTransition.OPENED, night, night, severity="warning")])
        (held,) = await rows(clean)
        assert held["due_at"] == datetime(2026, 11, 24, 6, 0, tzinfo=LOCAL_TZ)
        clock.advance(minutes=30)
        await writer.write([flood_event(AlertTransition.ESCALATED, clock(), night, severity="major")])
    finally:
        await writer.close()
    # nobody reached yet, so no severity notice; the same row brought forward, major's deputy step (15 min)
    # and the deputy's first reminder (25 min)
    row, deputy, reminder = await rows(clean)
    assert (reminder["officer_id"], reminder["kind"], reminder["due_at"]) == (
        "quang-van-son",
        "alert_reminder",
        night + timedelta(minutes=25),
    )
    assert (row["id"], row["due_at"], row["next_attempt_at"]) == (held["id"], night, night)
    assert row["severity"] == "major"
    assert (deputy["officer_id"], deputy["due_at"]) == ("quang-van-son", night + timedelta(minutes=15))


# --- the scheduler ------------------------------------------------------------------------------------------


async def test_scheduler_escalates_on_time_and_acknowledgement_stops_it(clean: str, site: SiteConfig) -> None:
    clock = Clock(MONDAY_10)
    planner = Planner.from_site(site)
    writer = await open_writer(clean, site, clock)
    try:
        ev = flood_event(AlertTransition.OPENED, MONDAY_10, MONDAY_10)
        await writer.write([ev])
    finally:
        await writer.close()
    async with await psycopg.AsyncConnection.connect(clean, autocommit=True) as conn:
        clock.advance(minutes=4, seconds=59)
        report = await outbox.schedule(conn, planner, clock())
        assert report.planned == 0 and report.next_at == MONDAY_10 + timedelta(minutes=5)
        clock.advance(seconds=1)
        assert (await outbox.schedule(conn, planner, clock())).planned == 1
        assert (await outbox.schedule(conn, planner, clock())).planned == 0  # a second scheduler adds nothing
        with psycopg.connect(clean, autocommit=True) as sync:
            assert (
                lifecycle.acknowledge(
                    sync, lifecycle.short_code(ev.alert_id), by="quang-van-son", via="sms"
                ).outcome
                is lifecycle.Outcome.DONE
            )
        clock.advance(minutes=20)
        report = await outbox.schedule(conn, planner, clock())
    assert report.planned == 0 and report.cancelled == 2 and report.open_alerts == 0
    assert {(r["officer_id"], r["status"], r["reason"]) for r in await rows(clean)} == {
        ("nguyen-van-hung", "cancelled", "alert_acknowledged"),
        ("quang-van-son", "cancelled", "alert_acknowledged"),
    }


async def test_claims_of_two_senders_never_overlap(clean: str, site: SiteConfig) -> None:
    clock = Clock(MONDAY_10)
    writer = await open_writer(clean, site, clock)
    try:
        await writer.write(
            [
                flood_event(AlertTransition.OPENED, MONDAY_10, MONDAY_10, key=f"flood:S{i}:level")
                for i in range(30)
            ]
        )
    finally:
        await writer.close()
    async with (
        await psycopg.AsyncConnection.connect(clean, autocommit=True) as a,
        await psycopg.AsyncConnection.connect(clean, autocommit=True) as b,
    ):
        ta, tb = await asyncio.gather(
            outbox.claim(a, "a", clock(), 20, timedelta(seconds=60)),
            outbox.claim(b, "b", clock(), 20, timedelta(seconds=60)),
        )
        assert len(ta) + len(tb) == 30 and not {r.id for r in ta} & {r.id for r in tb}
        # leased rows are not due again until the lease runs out
        assert await outbox.claim(a, "a", clock(), 50, timedelta(seconds=60)) == []
        again = await outbox.claim(a, "c", clock() + timedelta(seconds=61), 50, timedelta(seconds=60))
        assert len(again) == 30
        # the first claimant lost its lease: it may not start the row any more
        assert (
            await outbox.start(a, ta[0] if ta else tb[0], "a" if ta else "b", clock(), timedelta(seconds=60))
            is None
        )


# --- the sender with a scripted channel ---------------------------------------------------------------------


def make_sender(
    pool: AsyncConnectionPool[Any],
    site: SiteConfig,
    clock: Clock,
    channels: dict[str, ScriptedChannel],
    **settings: Any,
) -> Sender:
    renderer = Renderer(site, public_url="http://127.0.0.1:8090", ack_secret=None)
    return Sender(
        pool,
        site,
        channels,
        MemoryRateLimiter(),
        renderer,
        clock=clock,
        settings=SenderSettings(**settings),
        rng=random.Random(1),
        name="test",
    )


def channels_of(site: SiteConfig) -> dict[str, ScriptedChannel]:
    return {c.id: ScriptedChannel(c.id) for c in site.channels}


async def opened_alert(dsn: str, site: SiteConfig, clock: Clock, **kw: Any) -> AlertEvent:
    writer = await open_writer(dsn, site, clock)
    try:
        ev = flood_event(AlertTransition.OPENED, MONDAY_10, MONDAY_10, **kw)
        await writer.write([ev])
        return ev
    finally:
        await writer.close()


async def test_sent_message_carries_code_hint_and_time(
    pool: AsyncConnectionPool[Any], clean: str, site: SiteConfig
) -> None:
    clock = Clock(MONDAY_10)
    ev = await opened_alert(clean, site, clock)
    chans = channels_of(site)
    assert await make_sender(pool, site, clock, chans).run_once() == 1
    (msg,) = chans["zns-ubnd"].got
    code = lifecycle.short_code(ev.alert_id)
    assert msg.text == (
        f"[IOC] Khẩn cấp: Trạm Trạm Mường Tùng: mực nước 2,41 m, vượt báo động III. Khu vực Mường "
        f"Tùng, lúc 10:00 23/11/2026. Trả lời OK {code} để xác nhận"
    )
    assert msg.recipient.phone == "84912000101" and msg.lang == "vi" and msg.short_code == code
    assert dict(msg.params) | {"link": ""} == {
        "code": code,
        "title": msg.text.split(": ", 1)[1].split(". Khu")[0],
        "area": "Mường Tùng",
        "severity": "Khẩn cấp",
        "time": "10:00 23/11/2026",
        "link": "",
    }
    (row,) = await rows(clean)
    assert (row["status"], row["attempts"], row["provider_message_id"]) == ("sent", 1, "zns-ubnd-1")


async def test_failed_zalo_falls_back_to_sms_and_the_last_channel_fails_visibly(
    pool: AsyncConnectionPool[Any], clean: str, site: SiteConfig
) -> None:
    clock = Clock(MONDAY_10)
    ev = await opened_alert(clean, site, clock)
    chans = channels_of(site)
    chans["zns-ubnd"].answers = [SendResult(SendStatus.NOT_APPLICABLE, reason="zalo -118: no Zalo account")]
    chans["sms-esms"].answers = [SendResult(SendStatus.FAILED, reason="esms 99: unknown error")]
    chans["sms-speedsms"].answers = [SendResult(SendStatus.FAILED, reason="speedsms 007: IP locked")]
    sender = make_sender(pool, site, clock, chans)
    while await sender.run_once():
        pass
    got = [(r["channel_id"], r["status"], r["reason"]) for r in await rows(clean)]
    assert got == [
        ("zns-ubnd", "fallback", "zalo -118: no Zalo account"),
        ("sms-esms", "fallback", "esms 99: unknown error"),
        ("sms-speedsms", "failed", "speedsms 007: IP locked"),
    ]
    with psycopg.connect(clean) as conn:
        (failed,) = outbox.failed_deliveries(conn, MONDAY_10 - timedelta(hours=1))
    assert (failed.short_code, failed.officer_id, failed.channel_id, failed.reason) == (
        lifecycle.short_code(ev.alert_id),
        "nguyen-van-hung",
        "sms-speedsms",
        "speedsms 007: IP locked",
    )
    assert failed.explain("vi") == "Nhà cung cấp từ chối (speedsms 007: IP locked)"
    assert failed.explain("en") == "Refused by the provider (speedsms 007: IP locked)"


@pytest.mark.parametrize(
    ("reason", "vi", "en"),
    [
        ("not_configured: IOC_ESMS_API_KEY", "Kênh chưa được cấu hình", "Channel not configured"),
        (
            "bad_phone: officer x: phone '0912' is not 84xxxxxxxxx",
            "Số điện thoại không đúng dạng 84xxxxxxxxx",
            "Phone number not in 84xxxxxxxxx form",
        ),
        (
            "gave up after 8 attempt(s): zalo: HTTP 503",
            "Nhà cung cấp không nhận sau nhiều lần thử",
            "Provider kept refusing; gave up",
        ),
        (
            "outcome_unknown: the sender stopped",
            "Bộ gửi dừng giữa chừng, không gửi lại để tránh trùng",
            "Sender stopped mid-call; not resent to avoid a duplicate",
        ),
    ],
)
def test_failure_reasons_read_in_both_languages(reason: str, vi: str, en: str) -> None:
    from ioc.notify.render import reason_text

    assert reason_text(reason, "vi") == f"{vi} ({reason})"
    assert reason_text(reason, "en") == f"{en} ({reason})"


async def test_retries_back_off_then_give_up(
    pool: AsyncConnectionPool[Any], clean: str, site: SiteConfig
) -> None:
    clock = Clock(MONDAY_10)
    await opened_alert(clean, site, clock)
    chans = channels_of(site)
    chans["zns-ubnd"].answers = [SendResult(SendStatus.RETRY, reason="zalo: HTTP 503")] * 7 + [
        SendResult(SendStatus.RETRY, reason="zalo: 429 rate limited", retry_after_s=120)
    ]
    sender = make_sender(pool, site, clock, chans)
    waits = []
    for attempt in range(1, 9):
        assert await sender.run_once() == 1
        (row, *_) = await rows(clean)
        if attempt < 8:
            assert (row["status"], row["attempts"]) == ("pending", attempt)
            waits.append((row["next_attempt_at"] - clock()).total_seconds())
            clock.now = row["next_attempt_at"]
    assert all(1 <= w <= 2 ** (i + 1) for i, w in enumerate(waits[:6]))  # base 2 s, doubling, jittered
    assert [r["status"] for r in await rows(clean)] == ["fallback", "pending"]  # 8 attempts: next channel
    assert (await rows(clean))[0]["reason"] == "gave up after 8 attempt(s): zalo: 429 rate limited"


def test_backoff_respects_retry_after_and_the_cap() -> None:
    s, rng = SenderSettings(), random.Random(7)
    assert all(1.0 <= backoff(1, s, rng, None) <= 2.0 for _ in range(50))
    assert all(150 <= backoff(20, s, rng, None) <= 300 for _ in range(50))
    assert backoff(1, s, rng, 42.0) == 42.0


async def test_bad_phone_and_missing_template_value_are_refused_and_nothing_is_sent(
    pool: AsyncConnectionPool[Any], clean: str, site: SiteConfig, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(MONDAY_10)
    await opened_alert(clean, site, clock, params={"station": "NS-02", "value": 2.41})  # no "level"
    bad = site.model_copy(deep=True)
    hung = next(o for o in bad.roster.officers if o.id == "nguyen-van-hung")
    object.__setattr__(hung, "phone", "0912000101")  # a local-format number slipped past the config
    chans = channels_of(site)
    await make_sender(pool, site, clock, chans).run_once()
    (row,) = await rows(clean)
    assert row["status"] == "failed" and row["attempts"] == 0
    assert row["reason"] == (
        "template_variable_missing: alert.flood.level needs level; the alert has station, value"
    )
    await opened_alert(clean, site, clock, key="flood:NS-03:level")
    await make_sender(pool, bad, clock, chans).run_once()
    assert (await rows(clean))[-1][
        "reason"
    ] == "bad_phone: officer nguyen-van-hung: phone '0912000101' is not 84xxxxxxxxx"
    assert chans["zns-ubnd"].got == [] and all(c.got == [] for c in chans.values())
    assert "refused, nothing sent" in caplog.text


async def test_per_officer_limit_delays_the_excess_without_dropping_it(
    pool: AsyncConnectionPool[Any], clean: str, site: SiteConfig
) -> None:
    clock = Clock(MONDAY_10)
    for i in range(8):
        await opened_alert(clean, site, clock, key=f"flood:S{i}:level")
    chans = channels_of(site)
    sender = make_sender(pool, site, clock, chans)  # per_officer_per_min: 6
    while await sender.run_once():
        pass
    statuses = sorted(r["status"] for r in await rows(clean))
    assert statuses == ["pending", "pending"] + ["sent"] * 6
    clock.advance(seconds=20)  # two tokens back
    while await sender.run_once():
        pass
    assert [r["status"] for r in await rows(clean)] == ["sent"] * 8 and len(chans["zns-ubnd"].got) == 8


async def test_rows_stuck_in_sending_are_resent_only_where_the_provider_deduplicates(
    pool: AsyncConnectionPool[Any], clean: str, site: SiteConfig
) -> None:
    clock = Clock(MONDAY_10)
    await opened_alert(clean, site, clock)
    await opened_alert(clean, site, clock, key="flood:NS-03:level")
    async with pool.connection() as conn:
        claimed = await outbox.claim(conn, "dead", clock(), 10, timedelta(seconds=60))
        await conn.execute("UPDATE notify_outbox SET channel_id = 'sms-esms' WHERE id = %s", (claimed[1].id,))
        for row in claimed:
            assert await outbox.start(conn, row, "dead", clock(), timedelta(seconds=60)) == 1
    sender = make_sender(pool, site, clock, channels_of(site))
    assert await sender.recover() == (0, 0)  # the lease still runs
    clock.advance(seconds=61)
    assert await sender.recover() == (1, 1)
    got = [(r["channel_id"], r["status"], r["reason"][:15]) for r in await rows(clean)]
    assert got == [("zns-ubnd", "failed", "outcome_unknown"), ("sms-esms", "pending", "resent_after_in")]


# --- rate limits --------------------------------------------------------------------------------------------


async def test_redis_token_bucket_matches_the_memory_one(endpoints: Any) -> None:
    client = aioredis.Redis.from_url(endpoints.redis_url)
    prefix = f"test:{uuid.uuid4().hex}:"
    redis_rl, mem = RedisRateLimiter(client, prefix), MemoryRateLimiter()
    try:
        t = 1_000_000.0
        for limiter in (redis_rl, mem):
            got = [await limiter.take("officer:x", 0.1, 6, t) for _ in range(7)]
            assert got[:6] == [0.0] * 6 and got[6] == pytest.approx(10.0)
            assert await limiter.take("officer:x", 0.1, 6, t + 9.9) == pytest.approx(0.1, abs=1e-6)
            assert await limiter.take("officer:x", 0.1, 6, t + 10.0) == 0.0
            assert await limiter.take("officer:y", 0.1, 6, t) == 0.0  # buckets are per key
        # several senders share one bucket in Redis: concurrent takes never overspend it
        waits = await asyncio.gather(
            *(RedisRateLimiter(client, prefix).take("channel:z", 5, 5, t) for _ in range(20))
        )
        assert sum(1 for w in waits if w == 0) == 5
    finally:
        await client.aclose()


async def test_a_channel_that_raises_does_not_stop_the_worker(
    clean: str, site: SiteConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """A channel breaking its promise never to raise: the worker logs it, lives on, the row is recovered."""
    from ioc.notify.worker import NotifyWorker

    class Broken(ScriptedChannel):
        async def send(self, message: Message) -> SendResult:
            self.got.append(message)
            raise RuntimeError("adapter bug")

    clock = Clock(MONDAY_10)
    await opened_alert(clean, site, clock)
    chans: dict[str, Any] = channels_of(site) | {"zns-ubnd": Broken("zns-ubnd", kind="zalo_zns")}
    worker = NotifyWorker(
        clean,
        site,
        chans,
        MemoryRateLimiter(),
        Renderer(site),
        clock=clock,
        poll_s=0.1,
        settings=SenderSettings(lease_s=30),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    for _ in range(100):
        if "adapter bug" in caplog.text:
            break
        await asyncio.sleep(0.05)
    clock.advance(seconds=31)  # the lease on the row left 'sending' runs out: recovered at the next sweep
    worker.sweep_s = 0.0
    for _ in range(100):
        if (await rows(clean))[0]["status"] == "failed":
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 10)
    await worker.close()
    assert "unexpected error" in caplog.text and "adapter bug" in caplog.text
    (row,) = await rows(clean)
    assert (row["status"], row["reason"][:15]) == ("failed", "outcome_unknown")
