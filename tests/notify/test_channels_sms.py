"""eSMS and SpeedSMS adapters against their fakes: success, every failure mode, fitted text, callbacks."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlsplit

import pytest

from ioc.config.loader import load_site
from ioc.config.models import SiteConfig
from ioc.errors import InvalidInput
from ioc.notify.channels.base import Channel, SendStatus
from ioc.notify.channels.registry import build_channels
from ioc.notify.channels.sms import EsmsAdapter, SpeedSmsAdapter
from ioc.notify.sms_text import unaccent
from tests.fakes import EsmsFake, SpeedSmsFake
from tests.fakes.site import ESMS, HUNG, SPEEDSMS, fake_base_urls, fake_env, message


@pytest.fixture(scope="module")
def site(site_dir) -> SiteConfig:  # type: ignore[no-untyped-def]
    return load_site(site_dir)


@pytest.fixture
async def esms() -> AsyncIterator[EsmsFake]:
    async with EsmsFake() as fake:
        yield fake


@pytest.fixture
async def speedsms() -> AsyncIterator[SpeedSmsFake]:
    async with SpeedSmsFake() as fake:
        yield fake


@pytest.fixture
async def channels(
    site: SiteConfig, esms: EsmsFake, speedsms: SpeedSmsFake
) -> AsyncIterator[dict[str, Channel]]:
    chans = build_channels(
        site,
        fake_env(esms=esms, speedsms=speedsms),
        None,
        base_urls=fake_base_urls(esms=esms, speedsms=speedsms),
    )
    yield chans
    for ch in chans.values():
        await ch.close()


def _split(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return parts.path, dict(parse_qsl(parts.query))


def _path_token(url: str) -> str:
    """The token in a callback URL's path (/callbacks/<channel id>/<token>): it survives eSMS appending
    ?SMSID=... (issue 13, point 7)."""
    return _split(url)[0].rsplit("/", 1)[1]


# --- eSMS ---------------------------------------------------------------------------------------------------


async def test_esms_sends_unaccented_text_with_request_id_and_callback(
    channels: dict[str, Channel], esms: EsmsFake
) -> None:
    msg = message(ESMS)
    result = await channels[ESMS].send(msg)
    assert result.status is SendStatus.SENT and result.provider_message_id
    assert result.segments == 1  # allow_unicode false in the sample: 125 septets of 160
    [sent] = esms.sent
    assert sent["smsid"] == result.provider_message_id
    assert sent["phone"] == "84912000101" and sent["brandname"] == "UBND-MCHA" and not sent["unicode"]
    assert sent["content"] == unaccent(msg.text)
    assert sent["content"].endswith(f"Tra loi OK {msg.short_code} de xac nhan.")
    # RequestId is our provider reference, derived from the key to fit 50 characters (issue 13, point 1).
    assert sent["request_id"] == msg.provider_ref and len(sent["request_id"]) == 32
    assert sent["request_id"] != msg.idempotency_key
    path, query = _split(sent["callback_url"])
    token = _path_token(sent["callback_url"])
    assert path == f"/callbacks/{ESMS}/{token}" and len(token) == 32 and query == {}


async def test_esms_repeat_of_the_same_message_is_not_sent_twice(
    channels: dict[str, Channel], esms: EsmsFake
) -> None:
    msg = message(ESMS)
    first = await channels[ESMS].send(msg)
    again = await channels[ESMS].send(msg)  # e.g. after a crash between the send and recording it
    assert first.status is SendStatus.SENT and again.status is SendStatus.SENT
    assert "124" in again.reason
    assert len(esms.sent) == 1 and len(esms.requests) == 2


async def test_esms_unicode_channel_keeps_diacritics_and_counts_ucs2(
    site: SiteConfig, esms: EsmsFake
) -> None:
    cfg = site.channel(ESMS).model_copy(update={"allow_unicode": True, "max_segments": 3})
    adapter = EsmsAdapter(
        cfg,
        api_key=esms.api_key,
        secret_key=esms.secret_key,
        missing=[],  # type: ignore[arg-type]
        base_url=esms.base_url,
    )
    try:
        msg = message(ESMS)
        result = await adapter.send(msg)
    finally:
        await adapter.close()
    assert result.status is SendStatus.SENT and result.segments == 2  # 125 UCS-2 units: 67 + 58
    [sent] = esms.sent
    assert sent["unicode"] and sent["content"] == msg.text


async def test_esms_long_text_is_shortened_and_keeps_the_reply_line(
    channels: dict[str, Channel], esms: EsmsFake
) -> None:
    msg = message(
        ESMS,
        text="Mưa lớn kéo dài, nguy cơ lũ quét và sạt lở đất ở các bản ven suối. " * 8
        + "\nTrả lời OK ABC123 để xác nhận.",
    )
    msg = message(ESMS, alert_id=msg.alert_id, text=msg.text.replace("ABC123", msg.short_code))
    result = await channels[ESMS].send(msg)
    assert result.status is SendStatus.SENT and result.segments == 2
    content = esms.sent[0]["content"]
    assert content.endswith(f"...\nTra loi OK {msg.short_code} de xac nhan.") and len(content) <= 306


@pytest.mark.parametrize(
    ("mode", "status", "reason"),
    [
        ("auth", SendStatus.FAILED, "auth: esms 101"),
        ("http_401", SendStatus.FAILED, "auth: esms HTTP 401"),
        ("http_403", SendStatus.FAILED, "auth: esms HTTP 403"),
        ("server_error", SendStatus.RETRY, "esms: HTTP 503"),
        ("rate_limit", SendStatus.RETRY, "429"),
    ],
)
async def test_esms_failures(
    channels: dict[str, Channel], esms: EsmsFake, mode: str, status: SendStatus, reason: str
) -> None:
    esms.fail_next(mode, retry_after=7)
    result = await channels[ESMS].send(message(ESMS))
    assert result.status is status and reason in result.reason
    assert result.segments == 1
    if mode == "rate_limit":
        assert result.retry_after_s == 7
    assert esms.sent == []


async def test_esms_unknown_brandname_fails_with_the_providers_message(site: SiteConfig) -> None:
    async with EsmsFake(brandnames=("OTHER",)) as fake:
        chans = build_channels(site, fake_env(esms=fake), None, base_urls=fake_base_urls(esms=fake))
        result = await chans[ESMS].send(message(ESMS))
        await chans[ESMS].close()
    assert result.status is SendStatus.FAILED and result.reason == "esms 104: Brand name code is not exist"


async def test_esms_slow_answer_is_a_retry(site: SiteConfig, esms: EsmsFake) -> None:
    adapter = EsmsAdapter(
        site.channel(ESMS),
        api_key=esms.api_key,
        secret_key=esms.secret_key,  # type: ignore[arg-type]
        missing=[],
        base_url=esms.base_url,
        timeout_s=0.3,
    )
    esms.fail_next("slow", delay=2)
    started = time.monotonic()
    result = await adapter.send(message(ESMS))
    await adapter.close()
    assert result.status is SendStatus.RETRY and result.reason.startswith("timeout")
    assert time.monotonic() - started < 1.5


async def test_esms_unreachable_gateway_is_a_retry(site: SiteConfig) -> None:
    adapter = EsmsAdapter(
        site.channel(ESMS),
        api_key="k",
        secret_key="s",
        missing=[],  # type: ignore[arg-type]
        base_url="http://127.0.0.1:9/MainService.svc/json",
    )
    result = await adapter.send(message(ESMS))
    await adapter.close()
    assert result.status is SendStatus.RETRY and result.reason.startswith("network")


async def test_bad_phone_is_refused_before_anything_is_sent(
    channels: dict[str, Channel], esms: EsmsFake
) -> None:
    bad = HUNG.__class__("x", "X", "0912000101")
    result = await channels[ESMS].send(message(ESMS, recipient=bad))
    assert result.status is SendStatus.FAILED and "84xxxxxxxxx" in result.reason
    assert esms.requests == [] and not channels[ESMS].accepts(bad)


async def test_missing_secrets_make_the_channel_not_applicable(site: SiteConfig) -> None:
    chans = build_channels(site, {}, None)
    result = await chans[ESMS].send(message(ESMS))
    assert result.status is SendStatus.NOT_APPLICABLE
    assert result.reason == "not_configured: IOC_ESMS_API_KEY, IOC_ESMS_SECRET_KEY"


async def test_esms_callbacks_delivery_and_mo(channels: dict[str, Channel], esms: EsmsFake) -> None:
    adapter = channels[ESMS]
    assert isinstance(adapter, EsmsAdapter) and adapter.callback_url
    token = _path_token(adapter.callback_url)
    delivered = {"SMSID": "abc", "SendSuccess": "1", "SendFailed": "0", "SendStatus": "5"}
    [event] = adapter.parse_callback({}, b"", delivered, path_token=token)
    assert (event.kind, event.provider_message_id, event.status) == ("delivery", "abc", "delivered")
    failed = {**delivered, "SendSuccess": "0", "SendFailed": "1"}
    assert adapter.parse_callback({}, b"", failed, path_token=token)[0].status == "failed"
    pending = {**delivered, "SendSuccess": "0", "SendStatus": "7"}
    assert adapter.parse_callback({}, b"", pending, path_token=token) == []
    mo = esms.mo_params("0912000101", "OK 3FA2C1")
    [reply] = adapter.parse_callback({}, b"", mo, path_token=token)
    assert (reply.kind, reply.phone, reply.text) == ("reply", "84912000101", "OK 3FA2C1")


@pytest.mark.parametrize("case", ["no_token", "wrong_token", "forged_mo_sign", "neither"])
async def test_esms_callbacks_refused(channels: dict[str, Channel], esms: EsmsFake, case: str) -> None:
    adapter = channels[ESMS]
    assert isinstance(adapter, EsmsAdapter) and adapter.callback_url
    token = _path_token(adapter.callback_url)
    path_token, query = {
        "no_token": ("", {"SMSID": "abc", "SendSuccess": "1"}),
        # The token where it used to be (the query) no longer counts.
        "wrong_token": ("0" * 32, {"sig": token, "SMSID": "abc", "SendSuccess": "1"}),
        "forged_mo_sign": (token, {**esms.mo_params("0912000101", "OK 3FA2C1"), "content": "OK 000000"}),
        "neither": (token, {}),
    }[case]
    with pytest.raises(InvalidInput) as err:
        adapter.parse_callback({}, b"", query, path_token=path_token)
    assert err.value.reason == ("malformed_callback" if case == "neither" else "bad_signature")


# --- SpeedSMS -----------------------------------------------------------------------------------------------


async def test_speedsms_sends_with_basic_auth_from_the_two_way_number_or_the_brandname(
    site: SiteConfig, channels: dict[str, Channel], speedsms: SpeedSmsFake
) -> None:
    msg = message(SPEEDSMS)
    result = await channels[SPEEDSMS].send(msg)
    assert result.status is SendStatus.SENT and result.provider_message_id == str(speedsms.sent[0]["tran_id"])
    [sent] = speedsms.sent
    # The sample channel has a two-way number (reply path): messages go out from it, sms_type 8 (issue 13).
    assert sent["phone"] == "84912000101" and sent["sms_type"] == 8 and sent["sender"] == "84901234567"
    assert sent["content"] == unaccent(msg.text) and result.segments == 1
    # Without a reply path it is a brandname SMS, sms_type 3.
    brand = SpeedSmsAdapter(
        site.channel(SPEEDSMS).model_copy(update={"reply": None}),  # type: ignore[union-attr]
        api_key=speedsms.access_token,
        secret_key=None,
        missing=[],
        base_url=speedsms.base_url,
    )
    try:
        assert (await brand.send(message(SPEEDSMS))).status is SendStatus.SENT
    finally:
        await brand.close()
    assert (speedsms.sent[1]["sms_type"], speedsms.sent[1]["sender"]) == (3, "IOC-DB")


@pytest.mark.parametrize(
    ("mode", "status", "reason"),
    [
        ("auth", SendStatus.FAILED, "auth: speedsms HTTP 401"),
        ("server_error", SendStatus.RETRY, "speedsms: HTTP 503"),
        ("rate_limit", SendStatus.RETRY, "429"),
    ],
)
async def test_speedsms_failures(
    channels: dict[str, Channel], speedsms: SpeedSmsFake, mode: str, status: SendStatus, reason: str
) -> None:
    speedsms.fail_next(mode, retry_after=12)
    result = await channels[SPEEDSMS].send(message(SPEEDSMS))
    assert result.status is status and reason in result.reason
    if mode == "rate_limit":
        assert result.retry_after_s == 12
    assert speedsms.sent == []


async def test_speedsms_wrong_token_and_unknown_sender(site: SiteConfig) -> None:
    async with SpeedSmsFake(senders=("OTHER",), two_way_numbers=("84900000000",)) as fake:
        env = fake_env(speedsms=fake) | {"IOC_SPEEDSMS_ACCESS_TOKEN": "wrong"}
        chans = build_channels(site, env, None, base_urls=fake_base_urls(speedsms=fake))
        wrong = await chans[SPEEDSMS].send(message(SPEEDSMS))
        await chans[SPEEDSMS].close()
        chans = build_channels(site, fake_env(speedsms=fake), None, base_urls=fake_base_urls(speedsms=fake))
        sender = await chans[SPEEDSMS].send(message(SPEEDSMS))
        await chans[SPEEDSMS].close()
    assert wrong.status is SendStatus.FAILED and wrong.reason.startswith("auth: speedsms HTTP 401")
    assert sender.status is SendStatus.FAILED and sender.reason.startswith("speedsms 101:")


async def test_speedsms_callbacks(channels: dict[str, Channel], speedsms: SpeedSmsFake) -> None:
    adapter = channels[SPEEDSMS]
    assert isinstance(adapter, SpeedSmsAdapter) and adapter.callback_url
    token = _path_token(adapter.callback_url)
    [d] = adapter.parse_callback(
        {}, b'{"type": "report", "tranId": 100001, "phone": "84912000101", "status": 0}', {}, path_token=token
    )
    assert (d.kind, d.provider_message_id, d.status) == ("delivery", "100001", "delivered")
    [f] = adapter.parse_callback(
        {}, b'{"type": "report", "tranId": 7, "phone": "0912000101", "status": 2}', {}, path_token=token
    )
    assert f.status == "failed" and f.phone == "84912000101"
    inbound = b'{"type": "sms", "phone": "0912000101", "content": "xn 3fa2c1"}'
    [r] = adapter.parse_callback({}, inbound, {}, path_token=token)
    assert (r.kind, r.phone, r.text) == ("reply", "84912000101", "xn 3fa2c1")
    for path_token, query in (("x", {}), ("", {"sig": token})):
        with pytest.raises(InvalidInput) as err:
            adapter.parse_callback({}, inbound, query, path_token=path_token)
        assert err.value.reason == "bad_signature"
    for bad in (b"not json", b'{"type": "other"}', b'{"type": "report"}'):
        with pytest.raises(InvalidInput) as err:
            adapter.parse_callback({}, bad, {}, path_token=token)
        assert err.value.reason == "malformed_callback"
