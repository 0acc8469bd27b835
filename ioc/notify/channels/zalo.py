"""Zalo Notification Service (ZNS): approved template messages to a phone number, sent from an Official
Account.

Request and answer formats follow Zalo's documentation and the public SDKs that implement it:
- send: ``POST {api_base}/message/template``, header ``access_token``, JSON ``phone`` (84...),
  ``template_id``, ``template_data``, ``tracking_id`` (our idempotency key) and ``mode: "development"`` for an
  OA in development mode; answer ``{"error": 0, "message": "Success", "data": {"msg_id", "sent_time",
  "quota"}}`` or a negative ``error``.
  https://developers.zalo.me/docs/zalo-notification-service/gui-tin-zns/gui-zns
  https://app.unpkg.com/@warriorteam/redai-zalo-sdk@1.32.17/files/dist/services/zns.service.js (endpoints)
- token: ``POST {oauth_base}/v4/oa/access_token``, form ``app_id``, ``grant_type=refresh_token``,
  ``refresh_token``, header ``secret_key``; answer ``{"access_token", "refresh_token", "expires_in"}`` (the
  refresh token rotates) or ``{"error", "error_name", "error_description"}``.
  https://developers.zalo.me/docs/official-account/bat-dau/xac-thuc-va-uy-quyen-cho-ung-dung-new
- error codes: https://developers.zalo.me/docs/zalo-notification-service/phu-luc/bang-ma-loi ; -114's wording
  is quoted in eSMS's callback sample (https://github.com/devesms/gitbook_esms_for_develop_v2_en,
  callback-url.md). The table could not be read in full here; codes not listed below are FAILED with Zalo's
  own message, so an operator sees them rather than us guessing a retry.
- webhook events (delivery ``user_received_message``, replies ``user_send_text``), signed with
  ``X-ZEvent-Signature: mac=sha256(app_id + body + timestamp + secret)``:
  https://developers.zalo.me/docs/official-account/webhook/xac-thuc-webhook
  Third-party guides (no official page could be read here) say the key is the OA secret key, not the app
  secret: it is its own setting, ``oa_secret_key_env`` (unset: the app secret, with a warning). Zalo wants
  HTTP 200 within 2 s for every event, so a correctly signed event we do not act on (a citizen who is not
  on the roster, an unknown event) is answered 200 and logged. The event's ``timestamp`` (ms) must lie within
  ``replay_window_s`` of our clock, and the callbacks server applies one signature once (issue 12, hole 4).
- errors that do not clear within the retry window (-115 balance, -133 outside the allowed hours, -144 daily
  quota) fall back to SMS at once; -220 ("access_token is expired or removed") refreshes the token once, as
  -124 and -216 do. See docs/PROVIDERS.md.

The phone decides reachability: Zalo answers "no account" / "cannot receive" / "refused" for a person who is
not on Zalo, which is NOT_APPLICABLE so the sender falls back to SMS at once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Self

from ioc import i18n
from ioc.config.channels import ZaloZnsChannel, ZnsParam, ZnsTemplate
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
    HttpAnswer,
    HttpClient,
    as_object,
    classify_http,
    load_json,
    not_configured,
)
from ioc.notify.tokens import TokenGrant, TokenRefreshFailed, TokenStore

logger = logging.getLogger(__name__)

# access token invalid / expired / "expired or removed": refresh once and try again
TOKEN_ERRORS = frozenset({-124, -216, -220})
UNREACHABLE = frozenset(
    {
        -114,  # user inactive, rejected the message, or an outdated Zalo version
        -118,  # no Zalo account for this phone number
        -119,  # the account cannot receive ZNS messages
        -139,  # the user refused ZNS messages from this OA
    }
)
RATE = frozenset({-32})  # too many requests for the app: clears within seconds
# Clear only after hours (a top-up, the next day, the allowed hours): retrying would hold an alert for up to
# an hour before the SMS fallback, so these fall back at once (issue 13, point 5).
NOT_CLEARING = frozenset(
    {
        -115,  # out of messages quota (balance)
        -133,  # outside the allowed sending time
        -144,  # OA over its daily quota
    }
)
OA_TEXT_MAX = 2000  # characters of an OA text message (SDKs and integrations cite 2,000; _unconfirmed_)
# A bare template id in the config: the parameters every sample template declares, at ZNS's common 30.
DEFAULT_PARAMS = tuple(
    ZnsParam(name=n, value=n, max_length=30) for n in ("code", "title", "area", "severity", "time")
)


def template_data(template: ZnsTemplate | str, values: Mapping[str, str]) -> dict[str, str]:
    """Only the parameters the template declares, each cut to its maximum length (ZNS refuses the rest)."""
    params = template.params if isinstance(template, ZnsTemplate) else DEFAULT_PARAMS
    out: dict[str, str] = {}
    for p in params:
        value = " ".join(str(values.get(p.value, "")).split())
        if len(value) > p.max_length:
            value = value[: p.max_length - 1].rstrip() + "…"
        out[p.name] = value or "-"  # an empty value is refused as missing; "-" says there is none
    return out


class ZaloZnsAdapter(ChannelType):
    """A ``zalo_zns`` channel: one OA, one template per message kind; replies in the OA chat when enabled."""

    kind = "zalo_zns"
    config_model = ZaloZnsChannel
    # Zalo wants HTTP 200 within 2 s for every correctly signed event, acted on or not.
    callbacks_always_ok = True

    def __init__(
        self,
        config: ZaloZnsChannel,
        *,
        app_id: str | None,
        secret_key: str | None,
        seed_refresh_token: str | None,
        tokens: TokenStore | None,
        missing: list[str],
        api_base_url: str | None = None,
        oauth_base_url: str | None = None,
        timeout_s: float = 10.0,
        oa_secret_key: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.id = config.id
        self.config = config
        self.app_id = app_id or ""
        self.secret_key = secret_key or ""
        if config.oa_secret_key_env is None and secret_key:
            logger.warning(
                "zns %s: no oa_secret_key_env; webhook signatures are checked with the app secret", config.id
            )
        self.oa_secret_key = oa_secret_key or (secret_key if config.oa_secret_key_env is None else "") or ""
        self.clock = clock
        self.seed_refresh_token = seed_refresh_token or ""
        self.tokens = tokens
        self.missing = list(missing) + ([] if tokens is not None else ["token store (PostgreSQL)"])
        self.api_base = (api_base_url or config.api_base_url).rstrip("/")
        self.oa_api_base = (api_base_url or config.oa_api_base_url).rstrip("/")
        self.oauth_base = (oauth_base_url or api_base_url or config.oauth_base_url).rstrip("/")
        self.http = HttpClient(timeout_s)

    @classmethod
    def build(cls, config: ZaloZnsChannel, context: ChannelContext) -> Self:
        """The channel with its app credentials and the token store; ``context.base_url`` serves both APIs."""
        return cls(
            config,
            app_id=context.secret(config.app_id_env),
            secret_key=context.secret(config.secret_key_env),
            seed_refresh_token=context.secret(config.refresh_token_env),
            tokens=context.tokens,
            missing=context.missing(config.app_id_env, config.secret_key_env, config.refresh_token_env),
            api_base_url=context.base_url,
            oauth_base_url=context.base_url,
            oa_secret_key=context.secret(config.oa_secret_key_env),
        )

    @classmethod
    def resends_safely(cls, config: ZaloZnsChannel) -> bool:
        """ZNS takes our key as tracking_id but does not refuse a repeat of it."""
        return False

    @classmethod
    def reply_hint(cls, config: ZaloZnsChannel, code: str, lang: str) -> str | None:
        """'OK <code>' in the OA chat, when officers can write to the OA."""
        return i18n.t("notify.reply", lang, code=code) if config.reply_via_oa else None

    def accepts(self, recipient: Recipient) -> bool:
        """ZNS goes to a phone number; whether it is on Zalo only Zalo can say."""
        return bool(PHONE_RE.match(recipient.phone))

    async def send(self, message: Message) -> SendResult:
        """Send the template of the message's kind; refresh the token once if Zalo says it is invalid."""
        if self.missing:
            return not_configured(self.missing)
        template = self.config.templates.get(message.kind)  # type: ignore[call-overload]
        if template is None:
            return SendResult(SendStatus.NOT_APPLICABLE, reason=f"no ZNS template for {message.kind}")
        if not PHONE_RE.match(message.recipient.phone):
            return SendResult(
                SendStatus.FAILED, reason=f"bad phone {message.recipient.phone!r}: need 84xxxxxxxxx"
            )
        body: dict[str, Any] = {
            "phone": message.recipient.phone,
            "template_id": template.id if isinstance(template, ZnsTemplate) else template,
            "template_data": template_data(template, message.params),
            "tracking_id": message.provider_ref,
        }
        if self.config.sandbox:
            body["mode"] = "development"
        stale: str | None = None
        for _attempt in range(2):
            token = await self._token(stale)
            if isinstance(token, SendResult):
                return token
            answer = await self.http.request(
                "POST",
                f"{self.api_base}/message/template",
                what=f"zns {self.id} {message.idempotency_key}",
                json=body,
                headers={"access_token": token},
            )
            if isinstance(answer, SendResult):
                return answer
            result, token_refused = self._read_send(answer)
            if not token_refused:
                return result
            stale = token
            logger.info("zns %s: access token refused (%s), refreshing once", self.id, result.reason)
        return SendResult(SendStatus.FAILED, reason=f"auth: {result.reason}")

    async def _token(self, stale: str | None) -> str | SendResult:
        assert self.tokens is not None
        try:
            return await self.tokens.access_token(
                self.id, seed_refresh_token=self.seed_refresh_token, refresher=self._refresh, stale=stale
            )
        except TokenRefreshFailed as exc:
            status = SendStatus.RETRY if exc.retryable else SendStatus.FAILED
            return SendResult(status, reason=exc.reason if exc.retryable else f"auth: {exc.reason}")

    async def refresh_tokens(self) -> bool:
        """Renew the refresh token when it is older than ``token_refresh_every_h`` (the daily schedule);
        return whether it was renewed.

        Raises TokenRefreshFailed; ``retryable`` False means Zalo refused the refresh token (re-authorise),
        which is first recorded on the stored pair (``zalo_tokens.refresh_error``, ``refresh_failed_at``).
        """
        if self.missing:
            return False
        assert self.tokens is not None
        try:
            return await self.tokens.renew(
                self.id,
                seed_refresh_token=self.seed_refresh_token,
                refresher=self._refresh,
                older_than_s=self.config.token_refresh_every_h * 3600,
            )
        except TokenRefreshFailed as exc:
            if not exc.retryable:
                await self.tokens.record_refusal(self.id, exc.reason)
            raise

    async def _refresh(self, refresh_token: str) -> TokenGrant:
        answer = await self.http.request(
            "POST",
            f"{self.oauth_base}/v4/oa/access_token",
            what=f"zalo oauth {self.id}",
            data={"app_id": self.app_id, "grant_type": "refresh_token", "refresh_token": refresh_token},
            headers={"secret_key": self.secret_key},
        )
        if isinstance(answer, SendResult):
            raise TokenRefreshFailed(f"zalo oauth: {answer.reason}", retryable=True)
        early = classify_http(answer, "zalo oauth")
        if early is not None:
            raise TokenRefreshFailed(early.reason, retryable=early.status == SendStatus.RETRY)
        data = answer.json()
        if not isinstance(data, dict):
            raise TokenRefreshFailed("zalo oauth: answer is not JSON", retryable=True)
        if data.get("access_token") and data.get("refresh_token"):
            try:
                expires_in = float(data.get("expires_in", 3600))
            except (TypeError, ValueError):
                expires_in = 3600.0
            return TokenGrant(str(data["access_token"]), str(data["refresh_token"]), expires_in)
        reason = data.get("error_description") or data.get("error_name") or data.get("message") or "no token"
        raise TokenRefreshFailed(
            f"zalo oauth refused the refresh token ({data.get('error')}: {reason})", retryable=False
        )

    def _read_send(self, answer: HttpAnswer) -> tuple[SendResult, bool]:
        early = classify_http(answer, "zalo")
        if early is not None:
            return early, False
        data = answer.json()
        if not isinstance(data, dict) or "error" not in data:
            return SendResult(SendStatus.RETRY, reason="zalo: answer is not the documented JSON"), False
        try:
            code = int(data["error"])
        except (TypeError, ValueError):
            return SendResult(SendStatus.RETRY, reason=f"zalo: error field {data['error']!r}"), False
        message = str(data.get("message", ""))[:200]
        if code == 0:
            inner = as_object(data.get("data"))
            msg_id = inner.get("msg_id") or inner.get("message_id")  # ZNS: msg_id; OA message API: message_id
            return SendResult(SendStatus.SENT, provider_message_id=str(msg_id) if msg_id else None), False
        reason = f"zalo {code}: {message}"
        if code in TOKEN_ERRORS:
            return SendResult(SendStatus.FAILED, reason=reason), True
        if code in UNREACHABLE:
            return SendResult(SendStatus.NOT_APPLICABLE, reason=reason), False
        if code in NOT_CLEARING:
            return SendResult(SendStatus.FAILED, reason=reason), False
        if code in RATE:
            return SendResult(SendStatus.RETRY, reason=reason), False
        return SendResult(SendStatus.FAILED, reason=reason), False

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str], *, path_token: str = ""
    ) -> list[CallbackEvent]:
        """Read a signed, fresh OA webhook event: a ZNS delivery or a user's text reply."""
        event, at, dedupe = self.verify_event(headers, body)
        name = event.get("event_name")
        msg = as_object(event.get("message"))
        if name == "user_received_message":
            return [
                CallbackEvent(
                    "delivery",
                    self.id,
                    provider_message_id=_str(msg.get("msg_id")),
                    status="delivered",
                    at=at,
                    dedupe_key=dedupe,
                )
            ]
        if name == "user_send_text":
            sender = as_object(event.get("sender"))
            text = msg.get("text")
            if not isinstance(text, str) or not sender.get("id"):
                raise InvalidInput("malformed_callback", f"channel {self.id}: reply without sender or text")
            return [
                CallbackEvent(
                    "reply", self.id, zalo_user_id=str(sender["id"]), text=text, at=at, dedupe_key=dedupe
                )
            ]
        logger.info("zns %s: webhook event %s ignored", self.id, str(name)[:60])
        return []

    def verify_event(self, headers: Mapping[str, str], body: bytes) -> tuple[dict[str, Any], datetime, str]:
        """Check a webhook event's ``X-ZEvent-Signature`` (sha256 of app id + raw body + its timestamp + OA
        secret key) and that its ``timestamp`` (ms) lies within ``replay_window_s`` of our clock; return the
        event, its time and its identity (``zalo:<signature>``, to apply it once).

        Raises InvalidInput: ``not_configured``, ``malformed_callback``, ``bad_signature``, ``stale_callback``.
        """
        if not self.app_id or not self.oa_secret_key:
            raise InvalidInput(
                "not_configured", f"channel {self.id}: app id or OA secret key missing; cannot verify"
            )
        event = load_json(body, self.id)
        if not isinstance(event, dict):
            raise InvalidInput("malformed_callback", f"channel {self.id}: event is not an object")
        timestamp = str(event.get("timestamp", ""))
        expected = hashlib.sha256(
            (self.app_id + body.decode("utf-8", "replace") + timestamp + self.oa_secret_key).encode()
        ).hexdigest()
        given = _header(headers, "X-ZEvent-Signature").removeprefix("mac=")
        if not given or not hmac.compare_digest(given, expected):
            raise InvalidInput("bad_signature", f"channel {self.id}: X-ZEvent-Signature does not match")
        at = _ms_time(timestamp)
        if at is None or abs(at.timestamp() - self.clock()) > self.config.replay_window_s:
            raise InvalidInput(
                "stale_callback",
                f"channel {self.id}: event timestamp {timestamp[:20]!r} is outside the "
                f"{self.config.replay_window_s} s window",
            )
        return event, at, f"zalo:{expected}"

    async def send_oa_text(self, user_id: str, text: str) -> SendResult:
        """Send a text message to a follower of the OA (a consultation message, ``POST
        {oa_api}/v3.0/oa/message/cs``, header ``access_token``, JSON ``recipient.user_id`` and ``message.text``
        of at most ``OA_TEXT_MAX`` characters); the token is refreshed once when Zalo says it is invalid."""
        if self.missing:
            return not_configured(self.missing)
        if len(text) > OA_TEXT_MAX:
            text = text[: OA_TEXT_MAX - 1] + "…"
        body = {"recipient": {"user_id": user_id}, "message": {"text": text}}
        stale: str | None = None
        result = SendResult(SendStatus.RETRY, reason="not sent")
        for _attempt in range(2):
            token = await self._token(stale)
            if isinstance(token, SendResult):
                return token
            answer = await self.http.request(
                "POST", f"{self.oa_api_base}/v3.0/oa/message/cs", what=f"zalo oa {self.id} message",
                json=body, headers={"access_token": token},
            )
            if isinstance(answer, SendResult):
                return answer
            result, token_refused = self._read_send(answer)
            if not token_refused:
                return result
            stale = token
            logger.info("zalo oa %s: access token refused (%s), refreshing once", self.id, result.reason)
        return SendResult(SendStatus.FAILED, reason=f"auth: {result.reason}")

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.http.close()


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return ""


def _str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _ms_time(value: str) -> datetime | None:
    if not value.isascii() or not value.isdigit() or len(value) > 15:
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
