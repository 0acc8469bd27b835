"""The sample site's channels wired to the fakes: the environment a channel needs, a ready-made message."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from ioc.notify.channels.base import Message, Recipient
from ioc.store.alerts import short_code
from tests.fakes.esms import EsmsFake
from tests.fakes.speedsms import SpeedSmsFake
from tests.fakes.webhook import WebhookReceiver
from tests.fakes.zalo import ZaloFake

# The sample site's channel ids (configs/muong-cha/channels.yaml).
ZNS, ESMS, SPEEDSMS, WEBHOOK = "zns-ubnd", "sms-esms", "sms-speedsms", "ioc-tinh"


def fake_env(
    *,
    zalo: ZaloFake | None = None,
    esms: EsmsFake | None = None,
    speedsms: SpeedSmsFake | None = None,
    webhook: WebhookReceiver | None = None,
    public_url: str = "http://127.0.0.1:8090",
    ack_secret: str = "ack-link-secret",
) -> dict[str, str]:
    """Environment variables of the sample site's channels, with the fakes' credentials."""
    env = {"IOC_PUBLIC_URL": public_url, "IOC_ACK_LINK_SECRET": ack_secret}
    if zalo is not None:
        env |= {
            "IOC_ZALO_APP_ID": zalo.app_id,
            "IOC_ZALO_SECRET_KEY": zalo.secret_key,
            "IOC_ZALO_OA_SECRET_KEY": zalo.oa_secret_key,
            "IOC_ZALO_REFRESH_TOKEN": zalo.refresh_token,
        }
    if esms is not None:
        env |= {
            "IOC_ESMS_API_KEY": esms.api_key,
            "IOC_ESMS_SECRET_KEY": esms.secret_key,
            "IOC_ESMS_CPID": esms.cpid,
            "IOC_ESMS_CP_PRIVATE_KEY": esms.cp_private_key,
        }
    if speedsms is not None:
        env |= {"IOC_SPEEDSMS_ACCESS_TOKEN": speedsms.access_token}
    if webhook is not None:
        env |= {"IOC_WEBHOOK_SECRET": webhook.secret}
    return env


def fake_base_urls(
    *,
    zalo: ZaloFake | None = None,
    esms: EsmsFake | None = None,
    speedsms: SpeedSmsFake | None = None,
    webhook: WebhookReceiver | None = None,
) -> dict[str, str]:
    """The ``base_urls`` argument of build_channels that points each sample channel at its fake."""
    out: dict[str, str] = {}
    if zalo is not None:
        out[ZNS] = zalo.url
    if esms is not None:
        out[ESMS] = esms.base_url
    if speedsms is not None:
        out[SPEEDSMS] = speedsms.base_url
    if webhook is not None:
        out[WEBHOOK] = f"{webhook.url}/hooks/muong-cha"
    return out


HUNG = Recipient("nguyen-van-hung", "Nguyễn Văn Hùng", "84912000101", "4520381200010001")


def message(
    channel_id: str,
    *,
    recipient: Recipient = HUNG,
    alert_id: str | None = None,
    kind: str = "alert_opened",
    step: int = 0,
    text: str | None = None,
    params: Mapping[str, str] | None = None,
    **extra: Any,
) -> Message:
    """A flood alert message for ``recipient`` over ``channel_id``, in Vietnamese."""
    aid = alert_id or str(uuid.uuid4())
    code = short_code(aid)
    body = (
        text
        if text is not None
        else (
            "Cảnh báo lũ KHẨN CẤP: trạm Nậm Pồ (xã Mường Chà) mực nước 3,25 m, vượt báo động III lúc 14:05.\n"
            f"Trả lời OK {code} để xác nhận."
        )
    )
    values = (
        dict(params)
        if params is not None
        else {
            "code": code,
            "title": "Mực nước vượt báo động III",
            "area": "Xã Mường Chà",
            "severity": "Khẩn cấp",
            "time": "14:05 22/11/2026",
            "link": f"http://127.0.0.1:8090/a/{code}",
        }
    )
    return Message(
        idempotency_key=f"{aid}:{recipient.officer_id}:{channel_id}:{step}",
        kind=kind,
        recipient=recipient,
        alert_id=aid,
        short_code=code,
        lang="vi",
        text=body,
        params=values,
        **extra,
    )
