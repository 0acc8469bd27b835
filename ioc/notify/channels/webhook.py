"""The generic signed webhook: each notification POSTed as JSON, signed with a shared secret (HMAC-SHA256).

Header ``X-IOC-Signature: t=<unix seconds>,v1=<hex hmac_sha256(secret, f"{t}.{body}")>``, the scheme Stripe
and others use: the timestamp is signed with the body, so a captured request cannot be replayed after the
tolerance (5 minutes). Answers: 2xx SENT (a JSON ``id`` in the answer becomes the provider message id),
429/5xx/timeouts RETRY, other 4xx FAILED. Replies and delivery reports come back to ``/callbacks/<channel
id>`` signed the same way: ``{"kind": "reply", "phone": "84...", "text": "OK 3FA2C1"}`` or ``{"kind":
"delivery", "message_id": ..., "status": "delivered"|"failed", "reason": ...}``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from typing import Any, Self

from ioc import i18n
from ioc.config.channels import WebhookChannel
from ioc.errors import InvalidInput
from ioc.notify.channels.base import (
    CallbackEvent,
    ChannelContext,
    ChannelType,
    Message,
    Recipient,
    SendResult,
    SendStatus,
)
from ioc.notify.channels.http import HttpClient, classify_http, normalise_phone, not_configured

logger = logging.getLogger(__name__)

TOLERANCE_S = 300


def signature_header(secret: bytes, body: bytes, t: int) -> str:
    """The X-IOC-Signature value for a body sent at unix time ``t``."""
    mac = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify_signature(
    secret: bytes, header: str, body: bytes, *, now: float | None = None, tolerance_s: float = TOLERANCE_S
) -> int:
    """Check an X-IOC-Signature; return its timestamp or raise InvalidInput("bad_signature", ...)."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        t = int(parts["t"][0])
    except (KeyError, ValueError, IndexError) as exc:
        raise InvalidInput("bad_signature", "X-IOC-Signature missing or without t=") from exc
    if abs((now if now is not None else time.time()) - t) > tolerance_s:
        raise InvalidInput(
            "bad_signature", f"X-IOC-Signature timestamp {t} is outside the {tolerance_s:g} s tolerance"
        )
    expected = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(v, expected) for v in parts.get("v1", [])):
        raise InvalidInput("bad_signature", "X-IOC-Signature does not match the body")
    return t


class WebhookAdapter(ChannelType):
    """A ``webhook`` channel: one URL, one secret."""

    kind = "webhook"
    config_model = WebhookChannel

    def __init__(
        self, config: WebhookChannel, *, secret: str | None, missing: list[str], url: str | None = None
    ) -> None:
        self.id = config.id
        self.config = config
        self.secret = (secret or "").encode()
        self.missing = list(missing)
        self.url = url or config.url
        self.http = HttpClient(config.timeout_s)

    @classmethod
    def build(cls, config: WebhookChannel, context: ChannelContext) -> Self:
        """The channel with its signing secret; ``context.base_url`` replaces the whole URL."""
        return cls(
            config,
            secret=context.secret(config.signing_secret_env),
            missing=context.missing(config.signing_secret_env),
            url=context.base_url,
        )

    @classmethod
    def reply_hint(cls, config: WebhookChannel, code: str, lang: str) -> str | None:
        """The receiving system passes 'OK <code>' answers back, signed."""
        return i18n.t("notify.reply", lang, code=code)

    def accepts(self, recipient: Recipient) -> bool:
        """A webhook reaches a system, not a phone: everyone."""
        return True

    def payload(self, message: Message) -> dict[str, Any]:
        """The JSON body posted for a message."""
        r = message.recipient
        return {
            "idempotency_key": message.idempotency_key,
            "kind": message.kind,
            "alert_id": message.alert_id,
            "short_code": message.short_code,
            "lang": message.lang,
            "text": message.text,
            "params": dict(message.params),
            "ack_url": message.ack_url,
            "recipient": {
                "officer_id": r.officer_id,
                "name": r.name,
                "phone": r.phone,
                "zalo_user_id": r.zalo_user_id,
            },
        }

    async def send(self, message: Message) -> SendResult:
        """POST the signed message; the receiver can de-duplicate on ``idempotency_key`` (also a header)."""
        if self.missing:
            return not_configured(self.missing)
        body = json.dumps(self.payload(message), ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-IOC-Signature": signature_header(self.secret, body, int(time.time())),
            "Idempotency-Key": message.idempotency_key,
        }
        answer = await self.http.request(
            "POST", self.url, what=f"webhook {self.id} {message.idempotency_key}", data=body, headers=headers
        )
        if isinstance(answer, SendResult):
            return answer
        early = classify_http(answer, "webhook")
        if early is not None:
            return early
        if 200 <= answer.status < 300:
            data = answer.json()
            mid = data.get("id") if isinstance(data, dict) else None
            return SendResult(
                SendStatus.SENT, provider_message_id=str(mid) if mid else message.idempotency_key
            )
        return SendResult(SendStatus.FAILED, reason=f"webhook: unexpected HTTP {answer.status}")

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str], *, path_token: str = ""
    ) -> list[CallbackEvent]:
        """A signed reply or delivery report from the receiving system."""
        if not self.secret:
            raise InvalidInput(
                "not_configured", f"channel {self.id}: no signing secret to verify callbacks with"
            )
        header = next((v for k, v in headers.items() if k.lower() == "x-ioc-signature"), "")
        verify_signature(self.secret, header, body)
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise InvalidInput("malformed_callback", f"channel {self.id}: body is not JSON") from exc
        if not isinstance(data, dict):
            raise InvalidInput("malformed_callback", f"channel {self.id}: body is not an object")
        if data.get("kind") == "reply":
            phone, text = data.get("phone"), data.get("text")
            if not isinstance(phone, str) or not isinstance(text, str):
                raise InvalidInput("malformed_callback", f"channel {self.id}: reply needs phone and text")
            return [CallbackEvent("reply", self.id, phone=normalise_phone(phone), text=text)]
        if data.get("kind") == "delivery":
            mid, status = data.get("message_id"), data.get("status")
            if not isinstance(mid, str) or status not in ("delivered", "failed"):
                raise InvalidInput(
                    "malformed_callback", f"channel {self.id}: delivery needs message_id and status"
                )
            return [
                CallbackEvent(
                    "delivery",
                    self.id,
                    provider_message_id=mid,
                    status=status,
                    reason=str(data.get("reason", ""))[:300],
                )
            ]
        raise InvalidInput("malformed_callback", f"channel {self.id}: kind must be reply or delivery")

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.http.close()
