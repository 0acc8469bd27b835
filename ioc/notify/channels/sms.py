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

Neither gateway signs its status callbacks, so the callback URL we hand them carries a token derived from
the channel's secret (``callback_secret_env``, else its key) in its *path*: ``/callbacks/<id>/<token>``. eSMS
appends ``?SMSID=...`` to the URL it was given (callback-url.md shows ``https://{{yourportalreceivecallback}}
?SMSID=...``), so a token in the query became ``?sig=X?SMSID=...`` and every report was refused (issue 13,
point 7). A callback without the path token is refused as ``bad_signature``.

eSMS RequestId is our provider reference (``Message.provider_ref``, 32 characters: eSMS takes at most 50, and
our idempotency keys are 61-66), stored in ``notify_outbox.provider_ref``; a 124 answer has no SMSID, so its
later report is matched on the RequestId it carries.

Replies (issue 13, "replies that can arrive"): a brandname SMS cannot be answered. eSMS takes inbound messages
through a short-code keyword service (``reply: esms_shortcode``): MO requests are signed with the CP
PrivateKey issued with the CPID (not the account's SecretKey), carry ``receiverTime`` (checked against the
replay window) and ``smsid`` (applied once), and are answered with a ``<ClientResponse>`` XML whose message
eSMS texts back. SpeedSMS takes them through a rented two-way number (``reply: speedsms_two_way``): messages
go out from that number (``sms_type`` 8) and the officer's answer comes to the account's webhook. SpeedSMS
does not sign its webhook: the path token is all there is, so the callbacks server also applies a body once
and acknowledges only alerts that were sent to that phone (issue 12, hole 4).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Self
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from ioc import i18n
from ioc.config.channels import EsmsShortCode, SmsHttpChannel, SpeedSmsTwoWay
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
from ioc.notify.channels.http import (
    PHONE_RE,
    HttpClient,
    as_object,
    callback_token,
    classify_http,
    load_json,
    normalise_phone,
    not_configured,
)
from ioc.notify.sms_text import SmsText, fit

logger = logging.getLogger(__name__)
VN = ZoneInfo("Asia/Ho_Chi_Minh")

# --- the channel -----------------------------------------------------------------------------------------


class SmsHttpAdapter(ChannelType):
    """The ``sms_http`` channel: what both gateways share (config, text fitting, callback URL and token).

    ``build`` gives the gateway's own class, chosen by the config's ``provider``.
    """

    kind = "sms_http"
    config_model = SmsHttpChannel
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
        callback_secret: str | None = None,
        reply_env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.id = config.id
        self.config = config
        self.api_key = api_key or ""
        self.secret_key = secret_key or ""
        self.callback_secret = callback_secret or ""
        self.reply_env = dict(reply_env or {})
        self.clock = clock
        self.missing = list(missing)
        self.base_url = (base_url or config.base_url).rstrip("/")
        self.public_url = (public_url or "").rstrip("/")
        self.http = HttpClient(timeout_s)

    @classmethod
    def build(cls, config: SmsHttpChannel, context: ChannelContext) -> Self:
        """The gateway's adapter (eSMS or SpeedSMS) with its keys and, for eSMS replies, the CP's keys."""
        gateway = GATEWAYS[config.provider] if cls is SmsHttpAdapter else cls
        reply_env = (
            {
                "cpid": context.secret(config.reply.cpid_env) or "",
                "private_key": context.secret(config.reply.private_key_env) or "",
            }
            if isinstance(config.reply, EsmsShortCode)
            else {}
        )
        adapter = gateway(
            config,
            api_key=context.secret(config.api_key_env),
            secret_key=context.secret(config.secret_key_env),
            callback_secret=context.secret(config.callback_secret_env),
            reply_env=reply_env,
            missing=context.missing(config.api_key_env, config.secret_key_env),
            base_url=context.base_url,
            public_url=context.public_url,
        )
        assert isinstance(adapter, cls)  # GATEWAYS holds subclasses of this class only
        return adapter

    @classmethod
    def resends_safely(cls, config: SmsHttpChannel) -> bool:
        """eSMS refuses a repeat of our RequestId (code 124, reported as SENT); SpeedSMS has no such key."""
        return config.provider == "esms"

    @classmethod
    def reply_hint(cls, config: SmsHttpChannel, code: str, lang: str) -> str | None:
        """A brandname SMS cannot be answered: only a configured reply path asks for a reply (issue 13, point 2)."""
        if isinstance(config.reply, EsmsShortCode):
            return i18n.t(
                "notify.reply.shortcode",
                lang,
                keyword=config.reply.keyword,
                code=code,
                number=config.reply.service_number,
            )
        return i18n.t("notify.reply", lang, code=code) if config.reply is not None else None

    @property
    def callback_url(self) -> str | None:
        """Where the gateway should post statuses and replies for this channel (its token in the path)."""
        if not self.public_url or not self._token_secret:
            return None
        return f"{self.public_url}/callbacks/{self.id}/{callback_token(self._token_secret, self.id)}"

    @property
    def _token_secret(self) -> str:
        return self.callback_secret or self.secret_key or self.api_key

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

    def _check_token(self, path_token: str) -> None:
        if not self._token_secret:
            raise InvalidInput("not_configured", f"channel {self.id}: no secret to verify callbacks with")
        if not path_token or not hmac.compare_digest(path_token, callback_token(self._token_secret, self.id)):
            raise InvalidInput("bad_signature", f"channel {self.id}: callback URL token missing or wrong")

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.http.close()


class EsmsAdapter(SmsHttpAdapter):
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
            "RequestId": message.provider_ref,
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
            # No SMSID comes with it: the report is matched on the RequestId (notify_outbox.provider_ref).
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
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str], *, path_token: str = ""
    ) -> list[CallbackEvent]:
        """A status callback (SMSID ...) or an MO reply (sender, content ..., signed with the CP key)."""
        self._check_token(path_token)
        if "sender" in query and "content" in query:
            return [self._mo(query)]
        smsid = query.get("SMSID")
        request_ref = query.get("RequestId") or None
        if not smsid and not request_ref:
            raise InvalidInput("malformed_callback", f"channel {self.id}: neither a status (SMSID) nor an MO")
        try:
            success, failed = int(query.get("SendSuccess", "0")), int(query.get("SendFailed", "0"))
            status = int(query.get("SendStatus", "0"))
        except ValueError as exc:
            raise InvalidInput("malformed_callback", f"channel {self.id}: non-numeric status fields") from exc
        mid = smsid or None
        if success > 0 and failed == 0:
            return [
                CallbackEvent(
                    "delivery", self.id, provider_message_id=mid, provider_ref=request_ref, status="delivered"
                )
            ]
        if failed > 0 or status == 4:
            reason = f"esms SendStatus {status}, {failed} failed"
            return [
                CallbackEvent(
                    "delivery",
                    self.id,
                    provider_message_id=mid,
                    provider_ref=request_ref,
                    status="failed",
                    reason=reason,
                )
            ]
        return []  # pending (1, 2, 7): a final callback follows

    def _mo(self, query: Mapping[str, str]) -> CallbackEvent:
        reply = self.config.reply
        cpid, key = self.reply_env.get("cpid", ""), self.reply_env.get("private_key", "")
        if not isinstance(reply, EsmsShortCode) or not cpid or not key:
            raise InvalidInput(
                "not_configured", f"channel {self.id}: no short-code reply path (CPID and private key)"
            )
        if not hmac.compare_digest(query.get("cpid", ""), cpid):
            raise InvalidInput("bad_signature", f"channel {self.id}: MO for another CPID")
        signed = "".join(query.get(k, "") for k in ("cpid", "smsid", "content", "receiverTime"))
        expected = base64.b64encode(hashlib.md5((signed + key).encode()).digest()).decode()
        if not hmac.compare_digest(query.get("sign", ""), expected):
            raise InvalidInput("bad_signature", f"channel {self.id}: MO sign does not match")
        when = _vn_time(query.get("receiverTime", ""))
        if when is None or abs(when.timestamp() - self.clock()) > self.config.replay_window_s:
            raise InvalidInput(
                "stale_callback",
                f"channel {self.id}: MO receiverTime {query.get('receiverTime', '')[:20]!r} is outside the "
                f"{self.config.replay_window_s} s window",
            )
        smsid = query.get("smsid", "")
        if not smsid:
            raise InvalidInput("malformed_callback", f"channel {self.id}: MO without smsid")
        content = query["content"].strip()
        # "<KEYWORD> OK <code>": the keyword routed it here; what follows is the reply.
        first, _, rest = content.partition(" ")
        text = rest if first.upper() == reply.keyword else content
        return CallbackEvent(
            "reply",
            self.id,
            provider_message_id=smsid,
            phone=normalise_phone(query["sender"]),
            text=text,
            at=when,
            dedupe_key=f"esms-mo:{smsid}",
        )

    def answer_reply(self, event: CallbackEvent, text: str) -> tuple[str, str] | None:
        """eSMS's short-code service expects a <ClientResponse> XML; its Message is texted to the sender."""
        body = (
            "<ClientResponse>"
            f"<Message>{escape(text)}</Message>"
            f"<Smsid>{escape(event.provider_message_id or '')}</Smsid>"
            f"<Receiver>{escape(event.phone or '')}</Receiver>"
            "</ClientResponse>"
        )
        return "application/xml", body


class SpeedSmsAdapter(SmsHttpAdapter):
    """SpeedSMS brandname SMS (sms_type 3)."""

    provider = "speedsms"
    AUTH_CODES = frozenset({"007", "008", "009"})

    @property
    def _token_secret(self) -> str:
        return self.callback_secret or self.api_key

    async def send(self, message: Message) -> SendResult:
        """Send one SMS: from the brandname, or from the two-way number when replies come back to it."""
        pre = self._precheck(message)
        if isinstance(pre, SendResult):
            return pre
        two_way = self.config.reply if isinstance(self.config.reply, SpeedSmsTwoWay) else None
        body = {
            "to": [message.recipient.phone],
            "content": pre.text,
            "sms_type": 8 if two_way else 3,
            "sender": two_way.number if two_way else self.config.brandname,
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
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str], *, path_token: str = ""
    ) -> list[CallbackEvent]:
        """A delivery report or an inbound SMS posted to the account's webhook URL."""
        self._check_token(path_token)
        data = load_json(body, self.id)
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
            if not isinstance(self.config.reply, SpeedSmsTwoWay):
                logger.warning(
                    "speedsms %s: inbound SMS but no two-way number is configured; ignored", self.id
                )
                return []
            # Unsigned: the same body is applied once (the callbacks server's replay table).
            digest = hashlib.sha256(body).hexdigest()
            return [
                CallbackEvent(
                    "reply",
                    self.id,
                    phone=normalise_phone(phone),
                    text=content,
                    dedupe_key=f"speedsms-mo:{digest}",
                )
            ]
        raise InvalidInput("malformed_callback", f"channel {self.id}: unknown webhook type {kind!r}")


GATEWAYS: dict[str, type[SmsHttpAdapter]] = {"esms": EsmsAdapter, "speedsms": SpeedSmsAdapter}


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
