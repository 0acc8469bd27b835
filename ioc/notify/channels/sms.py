"""Brandname SMS through two Vietnamese HTTP gateways, eSMS and SpeedSMS, behind one ``sms_http`` channel
type.

The text is fitted first (``ioc.notify.sms_text.fit``): unaccented when the channel does not allow Unicode,
shortened to ``max_segments`` with the reply line kept; the result carries the segment count.

eSMS (https://github.com/devesms/gitbook_esms_for_develop_v2_en:
esms-api/send-sms-api/send-otp-customer-care-message.md, esms-api/table-of-error-codes.md,
esms-api/callback-url.md, esms-api/svoucher-connect/connect-to-shortcode-service.md): ``POST
{base_url}/SendMultipleMessage_V4_post_json/`` with ApiKey, SecretKey, Phone, Content, Brandname, SmsType "2"
(customer care), IsUnicode, Sandbox, RequestId (our idempotency key; eSMS refuses a repeat with code 124,
which means our earlier attempt was accepted), CallbackUrl. CodeResult "100" is accepted; 101 bad keys and 140
IP not whitelisted are auth failures; 99 and other codes fail with eSMS's ErrorMessage. Status callbacks come
as HTTP GET (SMSID, SendStatus, SendSuccess, SendFailed); MO replies as GET (sender, content, smsid,
receiverTime, cpid, sign = base64(md5(cpid + smsid + content + receiverTime + private key)), the private key
being this channel's secret key).

SpeedSMS (https://speedsms.vn/sms-api/, https://speedsms.vn/sms-api-service/): ``POST {base_url}/sms/send``
with HTTP basic auth (access token as user, "x" as password), JSON ``to`` [numbers], ``content``, ``sms_type``
3 (brandname), ``sender``; ``{"status": "success", "data": {"tranId"}}`` or ``{"status": "error", "code",
"message"}`` (007/008/009 account or IP blocked, 105 bad number, 300 balance, 500 internal: retry); 60
requests a minute, then 429 with X-Rate-Limit-Reset. Its webhook posts JSON ``{"type": "report", "tranId",
"phone", "status"}`` (0 delivered) and ``{"type": "sms", "phone", "content"}`` for inbound messages; the
webhook format is taken from SpeedSMS's dashboard help and could not be checked against a stored copy of their
page.

Neither gateway signs its status callbacks, so the callback URL we hand them carries a token (``?sig=``)
derived from the channel's own secret; a callback without it is refused as ``bad_signature``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ioc.config.models import SmsHttpChannel
from ioc.errors import InvalidInput
from ioc.notify.channels.base import CallbackEvent, Message, Recipient, SendResult, SendStatus
from ioc.notify.channels.http import (
    PHONE_RE,
    HttpClient,
    as_object,
    callback_token,
    check_callback_token,
    classify_http,
    normalise_phone,
    not_configured,
)
from ioc.notify.sms_text import SmsText, fit

logger = logging.getLogger(__name__)
VN = ZoneInfo("Asia/Ho_Chi_Minh")


class _SmsAdapter:
    """What both gateways share: config, text fitting, callback URL and token."""

    kind = "sms_http"
    provider = ""

    def __init__(
        self,
        config: SmsHttpChannel,
        *,
        api_key: str | None,
        secret_key: str | None,
        missing: list[str],
        base_url: str | None = None,
        public_url: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.id = config.id
        self.config = config
        self.api_key = api_key or ""
        self.secret_key = secret_key or ""
        self.missing = list(missing)
        self.base_url = (base_url or config.base_url).rstrip("/")
        self.public_url = (public_url or "").rstrip("/")
        self.http = HttpClient(timeout_s)

    @property
    def callback_url(self) -> str | None:
        """Where the gateway should post statuses and replies for this channel (with its token)."""
        if not self.public_url or not self.api_key:
            return None
        return f"{self.public_url}/callbacks/{self.id}?sig={callback_token(self._token_secret, self.id)}"

    @property
    def _token_secret(self) -> str:
        return self.secret_key or self.api_key

    def accepts(self, recipient: Recipient) -> bool:
        """Any Vietnamese mobile number."""
        return bool(PHONE_RE.match(recipient.phone))

    def text_for(self, message: Message) -> SmsText:
        """The message text fitted to this channel, keeping the last line when it carries the reply code."""
        body, sep, last = message.text.rstrip().rpartition("\n")
        if sep and message.short_code and message.short_code in last:
            return fit(body, self.config.allow_unicode, self.config.max_segments, tail="\n" + last)
        return fit(message.text.strip(), self.config.allow_unicode, self.config.max_segments)

    def _precheck(self, message: Message) -> SendResult | SmsText:
        if self.missing:
            return not_configured(self.missing)
        if not PHONE_RE.match(message.recipient.phone):
            return SendResult(
                SendStatus.FAILED, reason=f"bad phone {message.recipient.phone!r}: need 84xxxxxxxxx"
            )
        try:
            return self.text_for(message)
        except ValueError as exc:
            return SendResult(SendStatus.FAILED, reason=f"text does not fit: {exc}")

    def _check_token(self, query: Mapping[str, str]) -> None:
        if not self._token_secret:
            raise InvalidInput("not_configured", f"channel {self.id}: no secret to verify callbacks with")
        if not check_callback_token(self._token_secret, self.id, query):
            raise InvalidInput("bad_signature", f"channel {self.id}: callback URL token missing or wrong")

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.http.close()


class EsmsAdapter(_SmsAdapter):
    """eSMS customer-care brandname SMS (SmsType 2)."""

    provider = "esms"
    AUTH_CODES = frozenset({"101", "140"})

    async def send(self, message: Message) -> SendResult:
        """Send one SMS; RequestId is the idempotency key: a repeat after a lost answer is not sent twice."""
        pre = self._precheck(message)
        if isinstance(pre, SendResult):
            return pre
        body: dict[str, Any] = {
            "ApiKey": self.api_key,
            "SecretKey": self.secret_key,
            "Phone": message.recipient.phone,
            "Content": pre.text,
            "Brandname": self.config.brandname,
            "SmsType": "2",
            "IsUnicode": "1" if pre.unicode else "0",
            "Sandbox": "1" if self.config.sandbox else "0",
            "RequestId": message.idempotency_key,
        }
        if self.callback_url:
            body["CallbackUrl"] = self.callback_url
        answer = await self.http.request(
            "POST",
            f"{self.base_url}/SendMultipleMessage_V4_post_json/",
            what=f"esms {self.id} {message.idempotency_key}",
            json=body,
        )
        if isinstance(answer, SendResult):
            return _with_segments(answer, pre)
        early = classify_http(answer, "esms")
        if early is not None:
            return _with_segments(early, pre)
        data = answer.json()
        if not isinstance(data, dict):
            return SendResult(SendStatus.RETRY, reason="esms: answer is not JSON", segments=pre.segments)
        code = str(data.get("CodeResult", "")).strip()
        error = str(data.get("ErrorMessage") or data.get("error") or "")[:200]
        if code == "100":
            return SendResult(
                SendStatus.SENT, provider_message_id=_str(data.get("SMSID")), segments=pre.segments
            )
        if code == "124":
            # Duplicate RequestId: an earlier attempt of this very message was accepted (its answer was lost).
            return SendResult(
                SendStatus.SENT,
                provider_message_id=_str(data.get("SMSID")),
                reason="esms 124: already accepted under this RequestId",
                segments=pre.segments,
            )
        if code in self.AUTH_CODES:
            return SendResult(SendStatus.FAILED, reason=f"auth: esms {code}: {error}", segments=pre.segments)
        return SendResult(SendStatus.FAILED, reason=f"esms {code or '?'}: {error}", segments=pre.segments)

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str]
    ) -> list[CallbackEvent]:
        """A status callback (SMSID ...) or an MO reply (sender, content ..., signed by eSMS)."""
        self._check_token(query)
        if "sender" in query and "content" in query:
            signed = "".join(query.get(k, "") for k in ("cpid", "smsid", "content", "receiverTime"))
            expected = base64.b64encode(hashlib.md5((signed + self.secret_key).encode()).digest()).decode()
            if not hmac.compare_digest(query.get("sign", ""), expected):
                raise InvalidInput("bad_signature", f"channel {self.id}: MO sign does not match")
            when = _vn_time(query.get("receiverTime", ""))
            return [
                CallbackEvent(
                    "reply",
                    self.id,
                    provider_message_id=query.get("smsid") or None,
                    phone=normalise_phone(query["sender"]),
                    text=query["content"],
                    at=when,
                )
            ]
        smsid = query.get("SMSID")
        if not smsid:
            raise InvalidInput("malformed_callback", f"channel {self.id}: neither a status (SMSID) nor an MO")
        try:
            success, failed = int(query.get("SendSuccess", "0")), int(query.get("SendFailed", "0"))
            status = int(query.get("SendStatus", "0"))
        except ValueError as exc:
            raise InvalidInput("malformed_callback", f"channel {self.id}: non-numeric status fields") from exc
        if success > 0 and failed == 0:
            return [CallbackEvent("delivery", self.id, provider_message_id=smsid, status="delivered")]
        if failed > 0 or status == 4:
            reason = f"esms SendStatus {status}, {failed} failed"
            return [
                CallbackEvent("delivery", self.id, provider_message_id=smsid, status="failed", reason=reason)
            ]
        return []  # pending (1, 2, 7): a final callback follows


class SpeedSmsAdapter(_SmsAdapter):
    """SpeedSMS brandname SMS (sms_type 3)."""

    provider = "speedsms"
    AUTH_CODES = frozenset({"007", "008", "009"})

    @property
    def _token_secret(self) -> str:
        return self.api_key

    async def send(self, message: Message) -> SendResult:
        """Send one SMS with the channel's brandname as sender."""
        pre = self._precheck(message)
        if isinstance(pre, SendResult):
            return pre
        body = {
            "to": [message.recipient.phone],
            "content": pre.text,
            "sms_type": 3,
            "sender": self.config.brandname,
        }
        answer = await self.http.request(
            "POST",
            f"{self.base_url}/sms/send",
            what=f"speedsms {self.id} {message.idempotency_key}",
            json=body,
            headers={"Authorization": "Basic " + base64.b64encode(f"{self.api_key}:x".encode()).decode()},
        )
        if isinstance(answer, SendResult):
            return _with_segments(answer, pre)
        early = classify_http(answer, "speedsms")
        if early is not None:
            return _with_segments(early, pre)
        data = answer.json()
        if not isinstance(data, dict):
            return SendResult(SendStatus.RETRY, reason="speedsms: answer is not JSON", segments=pre.segments)
        if data.get("status") == "success":
            inner = as_object(data.get("data"))
            return SendResult(
                SendStatus.SENT, provider_message_id=_str(inner.get("tranId")), segments=pre.segments
            )
        code, error = str(data.get("code", "")), str(data.get("message", ""))[:200]
        if code == "500":
            return SendResult(SendStatus.RETRY, reason=f"speedsms {code}: {error}", segments=pre.segments)
        if code in self.AUTH_CODES:
            return SendResult(
                SendStatus.FAILED, reason=f"auth: speedsms {code}: {error}", segments=pre.segments
            )
        return SendResult(SendStatus.FAILED, reason=f"speedsms {code or '?'}: {error}", segments=pre.segments)

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str]
    ) -> list[CallbackEvent]:
        """A delivery report or an inbound SMS posted to the account's webhook URL."""
        self._check_token(query)
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise InvalidInput("malformed_callback", f"channel {self.id}: body is not JSON") from exc
        if not isinstance(data, dict):
            raise InvalidInput("malformed_callback", f"channel {self.id}: body is not an object")
        kind = data.get("type")
        if kind == "report":
            if data.get("tranId") in (None, "") or "status" not in data:
                raise InvalidInput(
                    "malformed_callback", f"channel {self.id}: report without tranId or status"
                )
            delivered = str(data["status"]) == "0"
            return [
                CallbackEvent(
                    "delivery",
                    self.id,
                    provider_message_id=str(data["tranId"]),
                    status="delivered" if delivered else "failed",
                    reason="" if delivered else f"speedsms status {data['status']}",
                    phone=normalise_phone(str(data.get("phone", ""))) or None,
                )
            ]
        if kind == "sms":
            phone, content = data.get("phone"), data.get("content")
            if not isinstance(phone, str) or not isinstance(content, str):
                raise InvalidInput(
                    "malformed_callback", f"channel {self.id}: inbound SMS without phone or content"
                )
            return [CallbackEvent("reply", self.id, phone=normalise_phone(phone), text=content)]
        raise InvalidInput("malformed_callback", f"channel {self.id}: unknown webhook type {kind!r}")


def _with_segments(result: SendResult, text: SmsText) -> SendResult:
    return SendResult(
        result.status, result.provider_message_id, result.reason, result.retry_after_s, text.segments
    )


def _str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _vn_time(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=VN)
    except ValueError:
        return None
