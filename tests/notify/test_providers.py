"""Issue 13: what Zalo, eSMS and SpeedSMS actually accept and send back, one test per point, each against a
fake that enforces the provider's documented behaviour (tests/fakes, docs/PROVIDERS.md); and issue 12's
deep-JSON 500 on the callbacks (hole 11). Each test failed on the code before this change.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from yarl import URL

from ioc.config.channels import SmsHttpChannel, ZaloZnsChannel
from ioc.config.loader import load_site
from ioc.config.models import SiteConfig
from ioc.errors import InvalidInput
from ioc.notify.channels.base import SendStatus
from ioc.notify.channels.http import HttpAnswer
from ioc.notify.channels.registry import build_channels
from ioc.notify.channels.sms import EsmsAdapter, SpeedSmsAdapter
from ioc.notify.channels.zalo import ZaloZnsAdapter, template_data
from ioc.notify.render import AlertView, Renderer
from ioc.notify.sms_text import segments
from ioc.store.alerts import short_code
from tests.fakes import EsmsFake, SpeedSmsFake, ZaloFake
from tests.fakes.esms import MAX_REQUEST_ID, provider_join
from tests.fakes.site import ESMS, SPEEDSMS, ZNS, fake_base_urls, fake_env, message

ROOT = Path(__file__).resolve().parents[2]
DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture(scope="module")
def site(site_dir: Path) -> SiteConfig:
    return load_site(site_dir)


def _zalo(site: SiteConfig, fake: ZaloFake) -> ZaloZnsAdapter:
    ch = build_channels(site, fake_env(zalo=fake), None, base_urls=fake_base_urls(zalo=fake))[ZNS]
    assert isinstance(ch, ZaloZnsAdapter)
    return ch


# --- 1: eSMS RequestId is at most 50 characters -------------------------------------------------------------


async def test_esms_request_id_fits_and_is_derived_from_the_key(site: SiteConfig) -> None:
    async with EsmsFake() as fake:
        ch = build_channels(site, fake_env(esms=fake), None, base_urls=fake_base_urls(esms=fake))[ESMS]
        msg = message(ESMS)
        assert len(msg.idempotency_key) > MAX_REQUEST_ID  # ours: 61-66 characters
        result = await ch.send(msg)
        assert result.status is SendStatus.SENT, result.reason
        (sent,) = fake.sent
        assert sent["request_id"] == msg.provider_ref and len(sent["request_id"]) <= MAX_REQUEST_ID
        again = await ch.send(msg)  # a repeat of the same message is still refused by eSMS as 124
        assert again.status is SendStatus.SENT and "124" in again.reason and len(fake.sent) == 1
        await ch.close()


# --- 2: replies that can arrive -----------------------------------------------------------------------------


def _alert() -> AlertView:
    now = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    return AlertView(
        alert_id=str(uuid.uuid4()),
        severity="critical",
        message_key="alert.flood.level",
        params={"station": "Nậm Pồ", "value": 3.25, "level": "III"},
        area_code="03172",
        opened_at=now,
        updated_at=now,
        resolved_at=None,
    )


def test_message_tells_the_officer_what_to_send_on_the_channels_reply_path(site: SiteConfig) -> None:
    officer = site.roster.officers[0]
    alert = _alert()
    code = short_code(alert.alert_id)
    renderer = Renderer(site, public_url="https://ioc.example.vn", ack_secret=b"k")

    def text(channel_id: str, lang: str = "vi") -> str:
        who = officer.model_copy(update={"lang": lang})
        return renderer.message(
            key="k",
            kind="alert_opened",
            cause="",
            step_delay_min=0,
            officer=who,
            alert=alert,
            severity="critical",
            channel_id=channel_id,
        ).text

    assert f"Nhắn IOC OK {code} tới 8079 để xác nhận hoặc mở https://ioc.example.vn/a/" in text(ESMS)
    assert f"Text IOC OK {code} to 8079 to acknowledge or open https://" in text(ESMS, "en")
    assert f"Trả lời OK {code} để xác nhận hoặc mở https://" in text(SPEEDSMS)
    # A brandname SMS without a reply path cannot be answered: the link only.
    bare = site.model_copy(
        update={
            "channels": [
                c.model_copy(update={"reply": None}) if isinstance(c, SmsHttpChannel) else c
                for c in site.channels
            ]
        }
    )
    plain = (
        Renderer(bare, public_url="https://ioc.example.vn", ack_secret=b"k")
        .message(
            key="k",
            kind="alert_opened",
            cause="",
            step_delay_min=0,
            officer=officer,
            alert=alert,
            severity="critical",
            channel_id=ESMS,
        )
        .text
    )
    assert (
        "Trả lời" not in plain and "Mở https://ioc.example.vn/a/" in plain and plain.endswith("để xác nhận")
    )


async def test_esms_short_code_mo_is_verified_with_the_cp_key_and_answered_in_xml(site: SiteConfig) -> None:
    async with EsmsFake() as fake:
        ch = build_channels(site, fake_env(esms=fake), None, base_urls=fake_base_urls(esms=fake))[ESMS]
        assert isinstance(ch, EsmsAdapter) and ch.callback_url
        params = fake.mo_params("84912000101", "IOC OK 3FA2C1")
        url = provider_join(ch.callback_url, params)
        token = url.path.rsplit("/", 1)[1]
        (event,) = ch.parse_callback({}, b"", url.query, path_token=token)
        assert (event.kind, event.phone, event.text) == ("reply", "84912000101", "OK 3FA2C1")
        assert event.dedupe_key == f"esms-mo:{params['smsid']}"
        kind, body = ch.answer_reply(event, "IOC: da xac nhan canh bao 3FA2C1.")  # type: ignore[misc]
        assert kind == "application/xml" and body.startswith("<ClientResponse><Message>IOC: da xac nhan")
        assert f"<Smsid>{params['smsid']}</Smsid><Receiver>84912000101</Receiver>" in body
        # Signed with the account's SecretKey (what the old code checked) is not eSMS's MO signature.
        forged = dict(params, sign=EsmsFake(cp_private_key=fake.secret_key).mo_params("x", "y")["sign"])
        with pytest.raises(InvalidInput) as err:
            ch.parse_callback({}, b"", forged, path_token=token)
        assert err.value.reason == "bad_signature"
        # A captured MO replayed after the window is refused.
        old = fake.mo_params("84912000101", "IOC OK 3FA2C1", when=datetime.now(UTC) - timedelta(hours=1))
        with pytest.raises(InvalidInput) as err:
            ch.parse_callback({}, b"", old, path_token=token)
        assert err.value.reason == "stale_callback"
        await ch.close()


async def test_speedsms_two_way_sends_from_the_rented_number(site: SiteConfig) -> None:
    async with SpeedSmsFake() as fake:
        ch = build_channels(site, fake_env(speedsms=fake), None, base_urls=fake_base_urls(speedsms=fake))[
            SPEEDSMS
        ]
        result = await ch.send(message(SPEEDSMS))
        assert result.status is SendStatus.SENT, result.reason
        assert (fake.sent[0]["sms_type"], fake.sent[0]["sender"]) == (8, "84901234567")
        await ch.close()


# --- 3: Zalo webhook: OA secret key, freshness, 200 ---------------------------------------------------------


def test_zalo_event_is_checked_with_the_oa_secret_key_and_must_be_fresh(site: SiteConfig) -> None:
    fake = ZaloFake()
    ch = _zalo(site, fake)
    event = {
        "event_name": "user_send_text",
        "sender": {"id": "4520381200010001"},
        "message": {"text": "OK 1"},
    }
    body, headers = fake.signed_event(event)
    (parsed,) = ch.parse_callback(headers, body, {})
    assert parsed.kind == "reply" and parsed.dedupe_key
    app_signed = ZaloFake(oa_secret_key=fake.secret_key).signed_event(event)
    with pytest.raises(InvalidInput) as err:
        ch.parse_callback(app_signed[1], app_signed[0], {})
    assert err.value.reason == "bad_signature"
    stale = fake.signed_event(event, at=time.time() - 3600)
    with pytest.raises(InvalidInput) as err:
        ch.parse_callback(stale[1], stale[0], {})
    assert err.value.reason == "stale_callback"


# --- 4 and 5: Zalo error codes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "refresh"),
    [
        (-220, SendStatus.FAILED, True),  # "access_token is expired or removed": refresh once
        (-124, SendStatus.FAILED, True),
        (-115, SendStatus.FAILED, False),  # balance: fall back to SMS at once
        (-133, SendStatus.FAILED, False),  # outside the allowed hours
        (-144, SendStatus.FAILED, False),  # daily quota
        (-32, SendStatus.RETRY, False),  # app rate limit: clears in seconds
    ],
)
def test_zalo_error_codes(site: SiteConfig, code: int, status: SendStatus, refresh: bool) -> None:
    ch = _zalo(site, ZaloFake())
    answer = HttpAnswer(200, {}, json.dumps({"error": code, "message": "x"}).encode())
    result, token_refused = ch._read_send(answer)
    assert (result.status, token_refused) == (status, refresh)


# --- 6: ZNS template data -----------------------------------------------------------------------------------


def test_zns_template_data_is_what_each_template_declares_within_its_lengths(site: SiteConfig) -> None:
    fake = ZaloFake()
    (zns,) = [c for c in site.channels if isinstance(c, ZaloZnsChannel)]
    values = dict(message(ZNS).params) | {"title": "Mực nước sông Nậm Pồ vượt báo động III " * 5, "link": ""}
    for kind, template in zns.templates.items():
        data = template_data(template, values)
        tid = template if isinstance(template, str) else template.id
        assert fake.template_problem(tid, data) is None, (kind, data)
    # What the old code sent: all six values, the empty link and a free-length title.
    assert fake.template_problem("301001", values) is not None


# --- 7: eSMS delivery reports reach us ----------------------------------------------------------------------


async def test_esms_report_joined_as_esms_joins_is_accepted_and_carries_our_reference(
    site: SiteConfig,
) -> None:
    async with EsmsFake() as fake:
        ch = build_channels(site, fake_env(esms=fake), None, base_urls=fake_base_urls(esms=fake))[ESMS]
        assert isinstance(ch, EsmsAdapter) and ch.callback_url and "?" not in ch.callback_url
        msg = message(ESMS)
        assert (await ch.send(msg)).status is SendStatus.SENT
        url = provider_join(
            ch.callback_url,
            {
                "SMSID": "",
                "SendFailed": "0",
                "SendStatus": "5",
                "SendSuccess": "1",
                "RequestId": msg.provider_ref,
            },
        )
        parsed = URL(str(url))
        (event,) = ch.parse_callback({}, b"", parsed.query, path_token=parsed.path.rsplit("/", 1)[1])
        assert (event.status, event.provider_ref, event.provider_message_id) == (
            "delivered",
            msg.provider_ref,
            None,
        )
        await ch.close()


# --- 8: SpeedSMS 60 requests in 60 s ------------------------------------------------------------------------


async def test_speedsms_rate_is_within_60_a_minute_and_a_429_says_when(site: SiteConfig) -> None:
    (speed,) = [c for c in site.channels if isinstance(c, SmsHttpChannel) and c.provider == "speedsms"]
    assert speed.rate_limit_per_s is not None and speed.rate_limit_per_s * 60 <= 60
    default = SmsHttpChannel.model_validate(
        {
            "type": "sms_http",
            "id": "sms-s",
            "provider": "speedsms",
            "brandname": "IOC",
            "base_url": "https://x.vn",
            "api_key_env": "IOC_K",
        }
    )
    assert default.rate_limit_per_s == 1.0
    async with SpeedSmsFake() as fake:
        ch = build_channels(site, fake_env(speedsms=fake), None, base_urls=fake_base_urls(speedsms=fake))[
            SPEEDSMS
        ]
        results = [await ch.send(message(SPEEDSMS)) for _ in range(61)]
        assert [r.status for r in results[:60]] == [SendStatus.SENT] * 60
        assert results[60].status is SendStatus.RETRY and 0 < (results[60].retry_after_s or 0) <= 60
        await ch.close()


# --- 9: segment counting is the GSM 03.38 rule, written down ------------------------------------------------


def test_segment_rule_is_gsm_03_38_and_documented() -> None:
    assert [segments("a" * n) for n in (160, 161, 306, 307)] == [1, 2, 2, 3]
    assert [segments("ư" * n) for n in (70, 71, 134, 135)] == [1, 2, 2, 3]
    doc = (ROOT / "docs" / "PROVIDERS.md").read_text(encoding="utf-8")
    assert "GSM 03.38" in doc and "160/153" in doc and "70/67" in doc


# --- issue 12, hole 11: deep JSON ---------------------------------------------------------------------------


def test_deep_json_is_a_malformed_callback_not_a_recursion_error(site: SiteConfig) -> None:
    fake = ZaloFake()
    zalo = _zalo(site, fake)
    with pytest.raises(InvalidInput) as err:
        zalo.parse_callback({"X-ZEvent-Signature": "mac=x"}, DEEP, {})
    assert err.value.reason == "malformed_callback"
    speed = build_channels(site, fake_env(speedsms=SpeedSmsFake()), None)[SPEEDSMS]
    assert isinstance(speed, SpeedSmsAdapter)
    token = (speed.callback_url or "").rsplit("/", 1)[1]
    with pytest.raises(InvalidInput) as err:
        speed.parse_callback({}, DEEP, {}, path_token=token)
    assert err.value.reason == "malformed_callback"
