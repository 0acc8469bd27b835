"""Zalo ZNS adapter against the fake Zalo and the real PostgreSQL token store: sending, token rotation, the
refresh race between two workers, and the error answers mapped to retry / fall back / fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ioc.config.loader import load_site
from ioc.config.models import SiteConfig
from ioc.errors import InvalidInput
from ioc.notify.channels.base import SendStatus
from ioc.notify.channels.http import HttpClient
from ioc.notify.channels.registry import build_channels
from ioc.notify.channels.zalo import ZaloZnsAdapter
from ioc.notify.tokens import TokenStore
from tests.fakes import ZaloFake
from tests.fakes.site import ZNS, fake_base_urls, fake_env, message

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def site(site_dir) -> SiteConfig:  # type: ignore[no-untyped-def]
    return load_site(site_dir)


@pytest.fixture
def clean_tokens(pg_dsn: str) -> str:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM zalo_tokens")
    return pg_dsn


@pytest.fixture
async def zalo() -> AsyncIterator[ZaloFake]:
    async with ZaloFake() as fake:
        yield fake


def adapter(site: SiteConfig, zalo: ZaloFake, dsn: str, **kw: object) -> ZaloZnsAdapter:
    chans = build_channels(site, fake_env(zalo=zalo), TokenStore(dsn), base_urls=fake_base_urls(zalo=zalo))
    zns = chans[ZNS]
    assert isinstance(zns, ZaloZnsAdapter)
    for key, value in kw.items():
        setattr(zns, key, value)
    return zns


def stored(dsn: str) -> tuple[str, str, datetime, int] | None:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT access_token, refresh_token, expires_at, refresh_count FROM zalo_tokens "
            "WHERE channel_id = %s",
            (ZNS,),
        ).fetchone()


async def test_first_send_refreshes_from_the_seed_and_stores_the_rotated_token(
    site: SiteConfig, zalo: ZaloFake, clean_tokens: str
) -> None:
    zns = adapter(site, zalo, clean_tokens)
    msg = message(ZNS)
    result = await zns.send(msg)
    await zns.close()
    assert result.status is SendStatus.SENT
    [sent] = zalo.sent
    assert result.provider_message_id == sent["msg_id"]
    assert sent["phone"] == "84912000101" and sent["template_id"] == "301001"
    # Only the parameters template 301001 declares (no "link"), and our provider reference (issue 13: 1, 6).
    declared = ("code", "title", "area", "severity", "time")
    assert sent["template_data"] == {k: msg.params[k] for k in declared}
    assert sent["tracking_id"] == msg.provider_ref != msg.idempotency_key
    row = stored(clean_tokens)
    assert row is not None and zalo.refresh_calls == 1
    assert row[0] == zalo.access_token and row[1] == zalo.refresh_token != "rt-0" and row[3] == 1
    assert row[2] > datetime.now(UTC) + timedelta(hours=24)


async def test_second_send_reuses_the_token(site: SiteConfig, zalo: ZaloFake, clean_tokens: str) -> None:
    zns = adapter(site, zalo, clean_tokens)
    assert (await zns.send(message(ZNS))).status is SendStatus.SENT
    assert (await zns.send(message(ZNS))).status is SendStatus.SENT
    await zns.close()
    assert zalo.refresh_calls == 1 and len(zalo.sent) == 2


async def test_token_refused_by_the_api_is_refreshed_once(
    site: SiteConfig, zalo: ZaloFake, clean_tokens: str
) -> None:
    zns = adapter(site, zalo, clean_tokens)
    assert (await zns.send(message(ZNS))).status is SendStatus.SENT
    zalo.revoke_access_token()  # Zalo no longer accepts it, though our expiry says it is fine
    result = await zns.send(message(ZNS))
    await zns.close()
    assert result.status is SendStatus.SENT and zalo.refresh_calls == 2 and len(zalo.sent) == 2
    assert stored(clean_tokens)[0] == zalo.access_token  # type: ignore[index]


async def test_token_refused_twice_fails_as_auth(site: SiteConfig, zalo: ZaloFake, clean_tokens: str) -> None:
    zns = adapter(site, zalo, clean_tokens)
    zalo.fail_next("invalid_token", times=2)
    result = await zns.send(message(ZNS))
    await zns.close()
    assert result.status is SendStatus.FAILED and result.reason.startswith("auth: zalo -124")
    assert zalo.refresh_calls == 2 and zalo.sent == []


async def test_two_workers_with_an_expired_token_refresh_exactly_once(
    site: SiteConfig, zalo: ZaloFake, clean_tokens: str
) -> None:
    # A token stored earlier, now expired, and its refresh token the one Zalo currently accepts.
    with psycopg.connect(clean_tokens, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO zalo_tokens (channel_id, access_token, refresh_token, expires_at) "
            "VALUES (%s, 'at-old', %s, now() - interval '1 minute')",
            (ZNS, zalo.refresh_token),
        )
    zalo.refresh_delay = 0.5  # both workers are certainly waiting while the first refresh is in flight
    first, second = adapter(site, zalo, clean_tokens), adapter(site, zalo, clean_tokens)  # separate stores
    results = await asyncio.gather(first.send(message(ZNS)), second.send(message(ZNS)))
    await first.close()
    await second.close()
    assert [r.status for r in results] == [SendStatus.SENT, SendStatus.SENT]
    assert zalo.refresh_calls == 1
    assert len(zalo.sent) == 2 and len({s["tracking_id"] for s in zalo.sent}) == 2
    assert {r.provider_message_id for r in results} == {s["msg_id"] for s in zalo.sent}
    row = stored(clean_tokens)
    assert row is not None and row[1] == zalo.refresh_token and row[0] == zalo.access_token and row[3] == 1


async def test_rejected_refresh_token_fails_as_auth(site: SiteConfig, clean_tokens: str) -> None:
    async with ZaloFake(refresh_token="rt-other") as zalo:
        env = fake_env(zalo=zalo) | {"IOC_ZALO_REFRESH_TOKEN": "rt-spent"}
        zns = build_channels(site, env, TokenStore(clean_tokens), base_urls=fake_base_urls(zalo=zalo))[ZNS]
        result = await zns.send(message(ZNS))
        await zns.close()
    assert result.status is SendStatus.FAILED and result.reason.startswith("auth: zalo oauth refused")
    assert "-14014" in result.reason and stored(clean_tokens) is None


@pytest.mark.parametrize(
    ("mode", "status", "reason"),
    [
        ("no_zalo", SendStatus.NOT_APPLICABLE, "zalo -118"),
        ("blocked", SendStatus.NOT_APPLICABLE, "zalo -139"),
        ("quota", SendStatus.FAILED, "zalo -144"),  # clears only the next day: SMS at once (issue 13, 5)
        ("template", SendStatus.FAILED, "zalo -112: Template data is invalid"),
        ("rate_limit", SendStatus.RETRY, "429"),
        ("server_error", SendStatus.RETRY, "zalo: HTTP 503"),
        ("http_401", SendStatus.FAILED, "auth: zalo HTTP 401"),
        ("http_403", SendStatus.FAILED, "auth: zalo HTTP 403"),
    ],
)
async def test_provider_answers(
    site: SiteConfig, zalo: ZaloFake, clean_tokens: str, mode: str, status: SendStatus, reason: str
) -> None:
    zns = adapter(site, zalo, clean_tokens)
    zalo.fail_next(mode, retry_after=30)
    result = await zns.send(message(ZNS))
    await zns.close()
    assert result.status is status and reason in result.reason
    if mode == "rate_limit":
        assert result.retry_after_s == 30
    assert zalo.sent == []


async def test_person_without_zalo_is_not_applicable(
    site: SiteConfig, zalo: ZaloFake, clean_tokens: str
) -> None:
    zalo.no_zalo.add("84912000101")
    zns = adapter(site, zalo, clean_tokens)
    result = await zns.send(message(ZNS))
    await zns.close()
    assert (
        result.status is SendStatus.NOT_APPLICABLE
        and result.reason == "zalo -118: Zalo account does not exist"
    )


async def test_missing_template_value_fails_with_zalos_message(
    site: SiteConfig, zalo: ZaloFake, clean_tokens: str
) -> None:
    zns = adapter(site, zalo, clean_tokens)
    # A value we lack is sent as "-" (ZNS refuses an empty one as missing)...
    result = await zns.send(message(ZNS, params={"code": "ABC123", "title": "Lũ"}))
    assert result.status is SendStatus.SENT
    assert zalo.sent[0]["template_data"] == {
        "code": "ABC123",
        "title": "Lũ",
        "area": "-",
        "severity": "-",
        "time": "-",
    }
    # ...but a parameter the template registered at Zalo declares and channels.yaml does not is refused by
    # Zalo, and its message is kept.
    zalo.templates["301001"] = {**zalo.templates["301001"], "station": 30}
    result = await zns.send(message(ZNS, params={"code": "ABC123", "title": "Lũ"}))
    await zns.close()
    assert result.status is SendStatus.FAILED
    assert result.reason == "zalo -112: Template data is invalid: missing station"


async def test_slow_answer_is_a_retry(site: SiteConfig, zalo: ZaloFake, clean_tokens: str) -> None:
    zns = adapter(site, zalo, clean_tokens)
    assert (await zns.send(message(ZNS))).status is SendStatus.SENT  # token in hand: only the send is slow
    await zns.close()
    zns.http = HttpClient(0.3)
    zalo.fail_next("slow", delay=2)
    result = await zns.send(message(ZNS))
    await zns.close()
    assert result.status is SendStatus.RETRY and result.reason.startswith("timeout")


async def test_unconfigured_or_storeless_channel_is_not_applicable(site: SiteConfig, zalo: ZaloFake) -> None:
    no_env = build_channels(site, {}, None)[ZNS]
    assert (await no_env.send(message(ZNS))).reason.startswith("not_configured: IOC_ZALO_APP_ID")
    no_store = build_channels(site, fake_env(zalo=zalo), None, base_urls=fake_base_urls(zalo=zalo))[ZNS]
    result = await no_store.send(message(ZNS))
    assert result.status is SendStatus.NOT_APPLICABLE and "token store" in result.reason
    assert zalo.requests == []


async def test_webhook_events_are_verified_and_parsed(
    site: SiteConfig, zalo: ZaloFake, clean_tokens: str
) -> None:
    zns = adapter(site, zalo, clean_tokens)
    body, headers = zalo.signed_event(
        {
            "event_name": "user_send_text",
            "sender": {"id": "4520381200010001"},
            "message": {"text": "OK 3FA2C1", "msg_id": "m1"},
        }
    )
    [reply] = zns.parse_callback(headers, body, {})
    assert (reply.kind, reply.zalo_user_id, reply.text) == ("reply", "4520381200010001", "OK 3FA2C1")
    body, headers = zalo.signed_event({"event_name": "user_received_message", "message": {"msg_id": "m9"}})
    [delivery] = zns.parse_callback(headers, body, {})
    assert (delivery.kind, delivery.provider_message_id, delivery.status) == ("delivery", "m9", "delivered")
    with pytest.raises(InvalidInput) as err:
        zns.parse_callback(headers, body.replace(b"m9", b"m8"), {})
    assert err.value.reason == "bad_signature"
    with pytest.raises(InvalidInput) as err:
        zns.parse_callback({}, body, {})
    assert err.value.reason == "bad_signature"


async def test_a_new_seed_in_the_environment_replaces_a_dead_stored_token(
    site: SiteConfig, zalo: ZaloFake, clean_tokens: str
) -> None:
    # The stored refresh token was spent elsewhere; an operator re-authorised and put the new one in the env.
    with psycopg.connect(clean_tokens, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO zalo_tokens (channel_id, access_token, refresh_token, expires_at) "
            "VALUES (%s, 'at-old', 'rt-dead', now() - interval '1 minute')",
            (ZNS,),
        )
    zns = adapter(site, zalo, clean_tokens)  # env seed: the fake's current refresh token
    result = await zns.send(message(ZNS))
    await zns.close()
    assert result.status is SendStatus.SENT and zalo.refresh_calls == 2  # the dead one, then the seed
    row = stored(clean_tokens)
    assert row is not None and row[1] == zalo.refresh_token and row[0] == zalo.access_token
