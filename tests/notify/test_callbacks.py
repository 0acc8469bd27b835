"""The callback and acknowledgement server over real HTTP, with the real PostgreSQL and the provider fakes
posting to it: replies acknowledge (alerts row + audit line), delivery reports update the outbox, and bad
signatures, unknown message ids, unknown numbers, unknown codes and forged links change nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import psycopg
import pytest
from aiohttp import web
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from ioc.config.loader import load_site
from ioc.config.models import SiteConfig
from ioc.errors import InvalidInput
from ioc.notify.callbacks import CallbackServer, reply_code
from ioc.notify.channels.base import Channel
from ioc.notify.channels.registry import build_channels
from ioc.notify.channels.webhook import signature_header
from ioc.notify.links import ack_token, ack_url, verify_ack_token
from ioc.store.alerts import short_code
from tests.fakes import EsmsFake, SpeedSmsFake, WebhookReceiver, ZaloFake
from tests.fakes.site import ESMS, SPEEDSMS, WEBHOOK, ZNS, fake_base_urls, fake_env

pytestmark = pytest.mark.services
SECRET = b"ack-link-secret"
HUNG_PHONE, HUNG_ZALO = "84912000101", "4520381200010001"


@pytest.fixture(scope="module")
def site(site_dir) -> SiteConfig:  # type: ignore[no-untyped-def]
    return load_site(site_dir)


@pytest.fixture
def db(pg_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE alerts, alert_events, audit_log, alert_notes, notify_outbox")
        yield conn


@dataclass
class Rig:
    url: str
    channels: dict[str, Channel]
    esms: EsmsFake
    speedsms: SpeedSmsFake
    zalo: ZaloFake
    webhook: WebhookReceiver

    def callback_url(self, channel_id: str) -> str:
        """The URL a provider is given: the channel's own (with its token) moved onto the test server."""
        own = getattr(self.channels[channel_id], "callback_url", None)
        return self.url + (own[own.index("/callbacks/") :] if own else f"/callbacks/{channel_id}")


@pytest.fixture
async def rig(site: SiteConfig, pg_dsn: str, db: psycopg.Connection[Any]) -> AsyncIterator[Rig]:
    async with EsmsFake() as esms, SpeedSmsFake() as speedsms, ZaloFake() as zalo, WebhookReceiver() as hook:
        env = fake_env(zalo=zalo, esms=esms, speedsms=speedsms, webhook=hook)
        channels = build_channels(
            site, env, None, base_urls=fake_base_urls(zalo=zalo, esms=esms, speedsms=speedsms, webhook=hook)
        )
        with ConnectionPool(pg_dsn, min_size=1, max_size=4, open=True) as pool:
            server = CallbackServer(site, channels, pool, SECRET)
            runner = web.AppRunner(server.app())
            await runner.setup()
            tcp = web.TCPSite(runner, "127.0.0.1", 0)
            await tcp.start()
            port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            try:
                yield Rig(f"http://127.0.0.1:{port}", channels, esms, speedsms, zalo, hook)
            finally:
                await runner.cleanup()
                for ch in channels.values():
                    await ch.close()


def open_alert(db: psycopg.Connection[Any], *, status: str = "open") -> str:
    alert_id = uuid.uuid4()
    now = datetime.now(UTC)
    db.execute(
        "INSERT INTO alerts (alert_id, alert_key, status, severity, source_kind, source_id, area_code, "
        "message_key, params, value, opened_at, updated_at) "
        "VALUES (%s, %s, %s, 'critical', 'flood_station', 'NS-01', '03172', "
        "'alert.flood.level', %s, 3.25, %s, %s)",
        (
            alert_id,
            f"flood:NS-01:{alert_id.hex[:6]}",
            status,
            Jsonb({"station": "Nậm Pồ", "value": 3.25, "level": "III"}),
            now,
            now,
        ),
    )
    return str(alert_id)


def sent_to(db: psycopg.Connection[Any], alert_id: str, officer_id: str, channel_id: str = ESMS) -> None:
    """Record that the alert's message went out to the officer (a reply acknowledges only such an alert)."""
    db.execute(
        "INSERT INTO notify_outbox (idempotency_key, alert_id, alert_key, officer_id, channel_id, step, "
        "kind, status, next_attempt_at, due_at) "
        "VALUES (%s, %s, 'k', %s, %s, 0, 'alert_opened', 'sent', now(), now())",
        (f"{alert_id}:{officer_id}:{channel_id}:0", alert_id, officer_id, channel_id),
    )


def alert_state(db: psycopg.Connection[Any], alert_id: str) -> tuple[Any, ...]:
    row = db.execute(
        "SELECT status, acknowledged_by, acknowledged_via FROM alerts WHERE alert_id = %s", (alert_id,)
    ).fetchone()
    assert row is not None
    return tuple(row)


def audit(db: psycopg.Connection[Any], alert_id: str) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in db.execute(
            "SELECT username, action, detail->>'via' FROM audit_log WHERE target = %s", (alert_id,)
        ).fetchall()
    ]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("OK 3FA2C1", "3FA2C1"),
        ("ok 3fa2c1", "3FA2C1"),
        ("OK3FA2C1", "3FA2C1"),
        ("XN 3FA2C1", "3FA2C1"),
        ("xn:3fa2c1 da toi hien truong", "3FA2C1"),
        ("Xác nhận 3FA2C1", "3FA2C1"),
        ("  Ok  3Fa2c1 ", "3FA2C1"),
        ("OK", None),
        ("3FA2C1", None),
        ("OK 3FA2C", None),
        ("Không OK 3FA2C1", None),
        ("OK 3FA2C1X", None),
    ],
)
def test_reply_code(text: str, code: str | None) -> None:
    assert reply_code(text) == code


# --- replies ------------------------------------------------------------------------------------------------


async def test_sms_reply_from_the_officer_acknowledges(rig: Rig, db: psycopg.Connection[Any]) -> None:
    alert_id = open_alert(db)
    sent_to(db, alert_id, "nguyen-van-hung")
    status, body = await rig.esms.post_reply(
        rig.callback_url(ESMS), "84912000101", f"IOC OK {short_code(alert_id)}"
    )
    assert status == 200, body
    assert rig.esms.mo_answers[-1]["Message"].startswith("IOC: da xac nhan")
    assert alert_state(db, alert_id) == ("acknowledged", "nguyen-van-hung", "sms")
    assert audit(db, alert_id) == [("nguyen-van-hung", "alert.acknowledge", "sms")]
    status, body = await rig.esms.post_reply(
        rig.callback_url(ESMS), "84912000101", f"IOC OK {short_code(alert_id)}"
    )
    assert status == 200 and "truoc do" in rig.esms.mo_answers[-1]["Message"]
    assert len(audit(db, alert_id)) == 1


async def test_speedsms_zalo_and_webhook_replies_acknowledge(rig: Rig, db: psycopg.Connection[Any]) -> None:
    a, b, c = open_alert(db), open_alert(db), open_alert(db)
    sent_to(db, a, "vang-a-chua", SPEEDSMS)
    sent_to(db, b, "nguyen-van-hung", ZNS)
    sent_to(db, c, "quang-van-son", WEBHOOK)
    status, _ = await rig.speedsms.post_reply(
        rig.callback_url(SPEEDSMS), "84868000104", f"xn {short_code(a).lower()}"
    )
    assert status == 200 and alert_state(db, a) == ("acknowledged", "vang-a-chua", "sms")
    status, _ = await rig.zalo.post_reply(rig.callback_url(ZNS), HUNG_ZALO, f"Xác nhận {short_code(b)}")
    assert status == 200 and alert_state(db, b) == ("acknowledged", "nguyen-van-hung", "zalo")
    status, _ = await rig.webhook.post_reply(
        rig.callback_url(WEBHOOK), phone="84979000103", text=f"OK{short_code(c)}"
    )
    assert status == 200 and alert_state(db, c) == ("acknowledged", "quang-van-son", "webhook")


async def test_reply_from_an_unknown_number_changes_nothing(rig: Rig, db: psycopg.Connection[Any]) -> None:
    alert_id = open_alert(db)
    status, _ = await rig.esms.post_reply(rig.callback_url(ESMS), "0999999999", f"OK {short_code(alert_id)}")
    # eSMS's short-code service wants its XML answer; it says nothing about why.
    assert status == 200 and rig.esms.mo_answers[-1]["Message"].startswith("IOC: khong xac nhan")
    status, _ = await rig.zalo.post_reply(rig.callback_url(ZNS), "99999999999", f"OK {short_code(alert_id)}")
    assert status == 200  # Zalo wants 200 for every signed event; ignored and logged
    assert alert_state(db, alert_id) == ("open", None, None) and audit(db, alert_id) == []


async def test_reply_with_an_unknown_or_missing_code_changes_nothing(
    rig: Rig, db: psycopg.Connection[Any]
) -> None:
    alert_id = open_alert(db)
    other = "000000" if not short_code(alert_id).startswith("000000") else "FFFFFF"
    status, body = await rig.speedsms.post_reply(rig.callback_url(SPEEDSMS), "84912000101", f"OK {other}")
    assert status == 404 and json.loads(body)["reason"] == "alert_unknown"
    status, body = await rig.speedsms.post_reply(rig.callback_url(SPEEDSMS), "84912000101", "toi dang den")
    assert status == 422 and json.loads(body)["reason"] == "no_code"
    assert alert_state(db, alert_id) == ("open", None, None) and audit(db, alert_id) == []


async def test_reply_for_a_resolved_alert_is_refused(rig: Rig, db: psycopg.Connection[Any]) -> None:
    alert_id = open_alert(db, status="resolved")
    sent_to(db, alert_id, "nguyen-van-hung", SPEEDSMS)
    status, body = await rig.speedsms.post_reply(
        rig.callback_url(SPEEDSMS), "84912000101", f"OK {short_code(alert_id)}"
    )
    # It was sent to her: she is told it is over (eSMS and SpeedSMS alike), nothing changes.
    assert status == 409 and json.loads(body)["reason"] == "alert_resolved"
    assert alert_state(db, alert_id) == ("resolved", None, None) and audit(db, alert_id) == []


async def test_bad_signatures_change_nothing(rig: Rig, db: psycopg.Connection[Any]) -> None:
    alert_id = open_alert(db)
    code = short_code(alert_id)
    forged = await rig.webhook.post_reply(
        rig.callback_url(WEBHOOK), phone=HUNG_PHONE, text=f"OK {code}", sign_with="guessed-secret"
    )
    stale = await rig.webhook.post_reply(
        rig.callback_url(WEBHOOK),
        phone=HUNG_PHONE,
        text=f"OK {code}",
        at=int(datetime.now(UTC).timestamp()) - 3600,
    )
    body, headers = rig.zalo.signed_event(
        {"event_name": "user_send_text", "sender": {"id": HUNG_ZALO}, "message": {"text": f"OK {code}"}}
    )
    tampered = await rig.zalo.post(rig.callback_url(ZNS), body=body.replace(b"OK", b"ok"), headers=headers)
    no_token = await rig.esms.post(
        f"{rig.url}/callbacks/{ESMS}", method="GET", params=rig.esms.mo_params("0912000101", f"OK {code}")
    )
    mo = rig.esms.mo_params("0912000101", f"OK {code}") | {"sign": "AAAA"}
    bad_sign = await rig.esms.post_mo(rig.callback_url(ESMS), mo)
    for status, body_text in (forged, stale, tampered, no_token, bad_sign):
        assert status == 401 and json.loads(body_text)["reason"] == "bad_signature"
    assert alert_state(db, alert_id) == ("open", None, None) and audit(db, alert_id) == []


async def test_unknown_channel_and_malformed_callbacks(rig: Rig) -> None:
    status, _ = await rig.esms.post(f"{rig.url}/callbacks/nope", json_body={})
    assert status == 404
    status, body = await rig.speedsms.post(rig.callback_url(SPEEDSMS), body=b"{not json")
    assert status == 400 and json.loads(body)["reason"] == "malformed_callback"


# --- delivery reports ---------------------------------------------------------------------------------------


def outbox_row(db: psycopg.Connection[Any], alert_id: str, channel_id: str, provider_id: str) -> int:
    now = datetime.now(UTC)
    row = db.execute(
        "INSERT INTO notify_outbox (idempotency_key, alert_id, alert_key, officer_id, channel_id, step, "
        "kind, status, next_attempt_at, due_at, provider_message_id, sent_at) "
        "VALUES (%s, %s, 'k', 'nguyen-van-hung', %s, 0, "
        "'alert_opened', 'sent', %s, %s, %s, %s) RETURNING id",
        (f"{alert_id}:nguyen-van-hung:{channel_id}:0", alert_id, channel_id, now, now, provider_id, now),
    ).fetchone()
    assert row is not None
    return int(row[0])


def outbox_state(db: psycopg.Connection[Any], row_id: int) -> tuple[Any, ...]:
    row = db.execute(
        "SELECT status, reason, delivered_at IS NOT NULL FROM notify_outbox WHERE id = %s", (row_id,)
    ).fetchone()
    assert row is not None
    return tuple(row)


async def test_delivery_reports_update_the_outbox(rig: Rig, db: psycopg.Connection[Any]) -> None:
    alert_id = open_alert(db)
    e = outbox_row(db, alert_id, ESMS, "esms-1")
    s = outbox_row(db, str(uuid.uuid4()), SPEEDSMS, "100007")
    z = outbox_row(db, str(uuid.uuid4()), ZNS, "zmsg-1")
    w = outbox_row(db, str(uuid.uuid4()), WEBHOOK, "wh-1")
    assert (await rig.esms.post_delivery(rig.callback_url(ESMS), "esms-1"))[0] == 200
    assert (
        await rig.speedsms.post_delivery(rig.callback_url(SPEEDSMS), 100007, HUNG_PHONE, delivered=False)
    )[0] == 200
    assert (await rig.zalo.post_delivery(rig.callback_url(ZNS), "zmsg-1", HUNG_PHONE))[0] == 200
    body = json.dumps({"kind": "delivery", "message_id": "wh-1", "status": "delivered"}).encode()
    header = signature_header(rig.webhook.secret.encode(), body, int(datetime.now(UTC).timestamp()))
    assert (
        await rig.webhook.post(rig.callback_url(WEBHOOK), body=body, headers={"X-IOC-Signature": header})
    )[0] == 200
    assert outbox_state(db, e) == ("delivered", "", True)
    assert outbox_state(db, s) == ("failed", "speedsms status 1", False)
    assert outbox_state(db, z) == ("delivered", "", True)
    assert outbox_state(db, w) == ("delivered", "", True)


async def test_delivery_report_for_an_unknown_message_changes_nothing(
    rig: Rig, db: psycopg.Connection[Any]
) -> None:
    row = outbox_row(db, open_alert(db), ESMS, "esms-known")
    status, body = await rig.esms.post_delivery(rig.callback_url(ESMS), "esms-unknown")
    assert status == 404 and json.loads(body)["reason"] == "unknown_message"
    status, _ = await rig.speedsms.post_delivery(rig.callback_url(SPEEDSMS), 424242, HUNG_PHONE)
    assert status == 404
    # The same provider id on another channel is another message. Zalo wants 200 for every correctly signed
    # event (issue 13, point 3): the answer names what was ignored.
    status, body = await rig.zalo.post_delivery(rig.callback_url(ZNS), "esms-known", HUNG_PHONE)
    assert status == 200 and json.loads(body)["ignored"] == "unknown_message"
    assert outbox_state(db, row) == ("sent", "", False)


# --- acknowledgement links ----------------------------------------------------------------------------------


def test_ack_token_round_trip_and_forgeries() -> None:
    alert_id = str(uuid.uuid4())
    token = ack_token(alert_id, "lo-thi-mai", SECRET)
    assert verify_ack_token(token, SECRET) == (alert_id, "lo-thi-mai")
    assert (
        ack_url("https://ioc.example.vn/", alert_id, "lo-thi-mai", SECRET)
        == f"https://ioc.example.vn/a/{token}"
    )
    other = ack_token(alert_id, "tran-thu-ha", SECRET)
    forgeries = [
        token.split(".")[0] + "." + other.split(".")[1],
        other.split(".")[0] + "." + token.split(".")[1],
        ack_token(alert_id, "lo-thi-mai", b"another"),
        token[:-2],
        "garbage",
        "",
        token + "x",
    ]
    for bad in forgeries:
        with pytest.raises(InvalidInput) as err:
            verify_ack_token(bad, SECRET)
        assert err.value.reason == "bad_ack_token", bad
    with pytest.raises(InvalidInput):
        verify_ack_token(token, b"")


async def test_ack_link_get_shows_a_page_and_post_acknowledges(rig: Rig, db: psycopg.Connection[Any]) -> None:
    alert_id = open_alert(db)
    url = ack_url(rig.url, alert_id, "lo-thi-mai", SECRET)
    async with aiohttp.ClientSession() as session:
        for _ in range(2):  # a link previewer and the officer both open it
            async with session.get(url) as resp:
                page = await resp.text()
                assert resp.status == 200
        assert "Xác nhận đã nhận" in page and "Acknowledge" in page and '<form method="post">' in page
        assert "Nậm Pồ" in page and "Lò Thị Mai" in page and short_code(alert_id) in page
        assert alert_state(db, alert_id) == ("open", None, None) and audit(db, alert_id) == []
        async with session.post(url) as resp:
            assert resp.status == 200
            assert "Đã xác nhận cảnh báo" in await resp.text()
        assert alert_state(db, alert_id) == ("acknowledged", "lo-thi-mai", "link")
        assert audit(db, alert_id) == [("lo-thi-mai", "alert.acknowledge", "link")]
        async with session.post(ack_url(rig.url, alert_id, "tran-thu-ha", SECRET)) as resp:
            assert resp.status == 200 and "lo-thi-mai" in await resp.text()
        assert alert_state(db, alert_id) == ("acknowledged", "lo-thi-mai", "link")


async def test_forged_ack_links_change_nothing(rig: Rig, db: psycopg.Connection[Any]) -> None:
    alert_id = open_alert(db)
    genuine = ack_token(alert_id, "lo-thi-mai", SECRET)
    other = ack_token(alert_id, "tran-thu-ha", SECRET)
    forged = [
        other.split(".")[0] + "." + genuine.split(".")[1],
        ack_token(alert_id, "lo-thi-mai", b"guess"),
        genuine[:-3],
        ack_token(alert_id, "not-on-roster", SECRET),
    ]
    async with aiohttp.ClientSession() as session:
        for token in forged:
            async with session.post(f"{rig.url}/a/{token}") as resp:
                assert resp.status == 403
                assert "Đường dẫn không hợp lệ" in await resp.text()
        async with session.get(f"{rig.url}/a/{forged[0]}") as resp:
            assert resp.status == 403
    assert alert_state(db, alert_id) == ("open", None, None) and audit(db, alert_id) == []


async def test_database_down_answers_503_so_the_provider_retries(site: SiteConfig) -> None:
    async with EsmsFake() as esms:
        channels = build_channels(site, fake_env(esms=esms), None, base_urls=fake_base_urls(esms=esms))
        dead = "host=127.0.0.1 port=9 dbname=nowhere user=nobody connect_timeout=1"
        with ConnectionPool(dead, min_size=0, max_size=1, timeout=1.5, open=True) as pool:
            runner = web.AppRunner(CallbackServer(site, channels, pool, SECRET).app())
            await runner.setup()
            tcp = web.TCPSite(runner, "127.0.0.1", 0)
            await tcp.start()
            url = f"http://127.0.0.1:{tcp._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
            try:
                own = channels[ESMS].callback_url  # type: ignore[attr-defined]
                status, body = await esms.post_reply(
                    url + own[own.index("/callbacks/") :], "0912000101", "OK ABCDEF"
                )
                assert status == 503 and json.loads(body)["reason"] == "database_unavailable"
                async with aiohttp.ClientSession() as session:
                    link = ack_url(url, str(uuid.uuid4()), "lo-thi-mai", SECRET)
                    async with session.post(link) as resp:
                        assert resp.status == 503 and "thử lại" in await resp.text()
            finally:
                await runner.cleanup()
                await channels[ESMS].close()


# --- issue 12, hole 4: a reply acknowledges only what was sent to that phone -------------------------------


async def test_reply_to_an_alert_never_sent_to_the_phone_changes_nothing(
    rig: Rig, db: psycopg.Connection[Any]
) -> None:
    alert_id = open_alert(db)
    sent_to(db, alert_id, "vang-a-chua", SPEEDSMS)  # sent to another officer, not to Hùng
    status, body = await rig.speedsms.post_reply(
        rig.callback_url(SPEEDSMS), "84912000101", f"OK {short_code(alert_id)}"
    )
    assert status == 404 and json.loads(body)["reason"] == "alert_unknown"
    assert alert_state(db, alert_id) == ("open", None, None) and audit(db, alert_id) == []


async def test_replies_are_throttled_per_phone(rig: Rig, db: psycopg.Connection[Any]) -> None:
    answers = [
        await rig.speedsms.post_reply(rig.callback_url(SPEEDSMS), "84912000101", f"OK {i:06X}")
        for i in range(8)
    ]
    assert [s for s, _ in answers[:6]] == [404] * 6
    assert answers[6][0] == 429 and json.loads(answers[6][1])["reason"] == "too_many_replies"


async def test_a_refused_speedsms_reply_does_not_block_the_same_text_later(
    rig: Rig, db: psycopg.Connection[Any]
) -> None:
    """Regression: a SpeedSMS reply's body was recorded as seen even when refused, so the same text from the
    same officer stayed "duplicate" (never applied) for a week, e.g. once the alert had reached her."""
    alert_id = open_alert(db)
    text = f"OK {short_code(alert_id)}"
    status, body = await rig.speedsms.post_reply(rig.callback_url(SPEEDSMS), HUNG_PHONE, text)
    assert status == 404 and json.loads(body)["reason"] == "alert_unknown"
    sent_to(db, alert_id, "nguyen-van-hung", SPEEDSMS)
    status, body = await rig.speedsms.post_reply(rig.callback_url(SPEEDSMS), HUNG_PHONE, text)
    assert status == 200 and json.loads(body)["results"][0]["reason"] == "done"
    assert alert_state(db, alert_id) == ("acknowledged", "nguyen-van-hung", "sms")


async def test_zalo_replay_is_applied_once_and_stale_or_unknown_events_are_handled(
    rig: Rig, db: psycopg.Connection[Any]
) -> None:
    alert_id = open_alert(db)
    sent_to(db, alert_id, "nguyen-van-hung", ZNS)
    body, headers = rig.zalo.signed_event(
        {
            "event_name": "user_send_text",
            "sender": {"id": HUNG_ZALO},
            "message": {"text": f"OK {short_code(alert_id)}"},
        }
    )
    url = rig.callback_url(ZNS)
    assert (await rig.zalo.post(url, body=body, headers=headers))[0] == 200
    status, text = await rig.zalo.post(url, body=body, headers=headers)
    assert status == 200 and json.loads(text)["results"][0]["reason"] == "duplicate"
    assert len(audit(db, alert_id)) == 1
    stale = rig.zalo.signed_event({"event_name": "user_send_text"}, at=datetime.now(UTC).timestamp() - 3600)
    assert (await rig.zalo.post(url, body=stale[0], headers=stale[1]))[0] == 401
    # A correctly signed reply from someone not on the roster: 200 for Zalo, nothing acknowledged.
    status, _ = await rig.zalo.post_reply(url, "99999999999", f"OK {short_code(alert_id)}")
    assert status == 200


async def test_deep_json_with_a_valid_signature_is_not_a_500(rig: Rig) -> None:
    depth = 100_000
    body, headers = rig.zalo.signed_event({"event_name": "x"})
    deep = body[:-1] + b', "x": ' + b"[" * depth + b"]" * depth + b"}"
    status, _ = await rig.zalo.post(rig.callback_url(ZNS), body=deep, headers=headers)
    assert status in (400, 401)
