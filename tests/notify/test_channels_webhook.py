"""The signed webhook channel against a receiving server: signature, answers mapped to sent/retry/failed, and
the signature check on replies coming back (tolerance five minutes).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest

from ioc.config.loader import load_site
from ioc.config.models import SiteConfig
from ioc.errors import InvalidInput
from ioc.notify.channels.base import SendStatus
from ioc.notify.channels.registry import build_channels
from ioc.notify.channels.webhook import WebhookAdapter, signature_header, verify_signature
from tests.fakes import WebhookReceiver
from tests.fakes.site import WEBHOOK, fake_base_urls, fake_env, message


@pytest.fixture(scope="module")
def site(site_dir) -> SiteConfig:  # type: ignore[no-untyped-def]
    return load_site(site_dir)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as fake:
        yield fake


@pytest.fixture
async def hook(site: SiteConfig, receiver: WebhookReceiver) -> AsyncIterator[WebhookAdapter]:
    adapter = build_channels(
        site, fake_env(webhook=receiver), None, base_urls=fake_base_urls(webhook=receiver)
    )[WEBHOOK]
    assert isinstance(adapter, WebhookAdapter)
    yield adapter
    await adapter.close()


async def test_signed_post_is_sent(hook: WebhookAdapter, receiver: WebhookReceiver) -> None:
    msg = message(WEBHOOK)
    result = await hook.send(msg)
    assert result.status is SendStatus.SENT
    [sent] = receiver.sent
    assert result.provider_message_id == sent["id"] and sent["path"] == "/hooks/muong-cha"
    body = sent["body"]
    assert body["idempotency_key"] == msg.idempotency_key and body["text"] == msg.text
    assert body["recipient"]["phone"] == "84912000101" and body["short_code"] == msg.short_code
    headers = receiver.requests[0]["headers"]
    assert headers["Idempotency-Key"] == msg.idempotency_key
    assert headers["X-IOC-Signature"].startswith("t=")


async def test_wrong_secret_is_refused_by_the_receiver(site: SiteConfig, receiver: WebhookReceiver) -> None:
    env = fake_env(webhook=receiver) | {"IOC_WEBHOOK_SECRET": "not-the-secret"}
    adapter = build_channels(site, env, None, base_urls=fake_base_urls(webhook=receiver))[WEBHOOK]
    result = await adapter.send(message(WEBHOOK))
    await adapter.close()
    assert result.status is SendStatus.FAILED and result.reason.startswith("auth: webhook HTTP 401")
    assert receiver.sent == []


@pytest.mark.parametrize(
    ("mode", "status", "reason"),
    [
        ("rate_limit", SendStatus.RETRY, "429"),
        ("server_error", SendStatus.RETRY, "HTTP 503"),
        ("http_403", SendStatus.FAILED, "auth: webhook HTTP 403"),
        ("bad_request", SendStatus.FAILED, "webhook: HTTP 422"),
    ],
)
async def test_answers(
    hook: WebhookAdapter, receiver: WebhookReceiver, mode: str, status: SendStatus, reason: str
) -> None:
    receiver.fail_next(mode, retry_after=3)
    result = await hook.send(message(WEBHOOK))
    assert result.status is status and reason in result.reason
    if mode == "rate_limit":
        assert result.retry_after_s == 3


async def test_timeout_is_a_retry(site: SiteConfig, receiver: WebhookReceiver) -> None:
    cfg = site.channel(WEBHOOK).model_copy(update={"timeout_s": 0.3})
    adapter = WebhookAdapter(cfg, secret=receiver.secret, missing=[], url=receiver.url)  # type: ignore[arg-type]
    receiver.fail_next("slow", delay=2)
    result = await adapter.send(message(WEBHOOK))
    await adapter.close()
    assert result.status is SendStatus.RETRY and result.reason.startswith("timeout")


def test_signature_round_trip_and_tolerance() -> None:
    secret, body = b"s3cret", b'{"kind":"reply"}'
    now = int(time.time())
    assert verify_signature(secret, signature_header(secret, body, now), body) == now
    assert verify_signature(secret, signature_header(secret, body, now - 299), body) == now - 299
    cases = {
        "old": signature_header(secret, body, now - 301),
        "future": signature_header(secret, body, now + 301),
        "other secret": signature_header(b"other", body, now),
        "no t": "v1=" + "0" * 64,
        "empty": "",
        "other body": signature_header(secret, body + b" ", now),
    }
    for name, header in cases.items():
        with pytest.raises(InvalidInput) as err:
            verify_signature(secret, header, body)
        assert err.value.reason == "bad_signature", name


def test_replies_are_parsed_only_when_signed(hook: WebhookAdapter, receiver: WebhookReceiver) -> None:
    body = json.dumps({"kind": "reply", "phone": "0912000101", "text": "OK 3FA2C1"}).encode()
    header = signature_header(receiver.secret.encode(), body, int(time.time()))
    [event] = hook.parse_callback({"X-IOC-Signature": header}, body, {})
    assert (event.kind, event.phone, event.text) == ("reply", "84912000101", "OK 3FA2C1")
    stale = signature_header(receiver.secret.encode(), body, int(time.time()) - 600)
    with pytest.raises(InvalidInput) as err:
        hook.parse_callback({"X-IOC-Signature": stale}, body, {})
    assert err.value.reason == "bad_signature"
    odd = json.dumps({"kind": "shrug"}).encode()
    with pytest.raises(InvalidInput) as err:
        hook.parse_callback(
            {"X-IOC-Signature": signature_header(receiver.secret.encode(), odd, int(time.time()))}, odd, {}
        )
    assert err.value.reason == "malformed_callback"
