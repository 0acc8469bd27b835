"""The callback and acknowledgement HTTP server (``ioc notify callbacks``).

- ``POST|GET /callbacks/<channel id>[/<token>]``: a provider's delivery report or an officer's reply,
  parsed by the channel (signature, freshness or the path token checked there; SMS gateways sign nothing,
  so their URL carries a token in its path, which survives eSMS appending ``?SMSID=...``). A delivery report
  updates ``notify_outbox`` (matched on channel and provider message id, or on our provider reference when
  the report carries it; an unknown id is refused with 404 and nothing changes). A signed event is applied
  once: its identity goes to ``notify_callback_seen`` in the same transaction, a second copy is answered
  "duplicate".
- A reply such as "OK 3FA2C1", "xn 3fa2c1", "Xác nhận 3FA2C1" or "OK3FA2C1" acknowledges the alert with that
  short code only if that alert was sent to the officer whose phone number (or Zalo user id) sent it and lies
  in that officer's scope (her areas, her shifts' areas, or the whole site for a deputy or leader without
  areas); otherwise it is "alert_unknown", the same answer as a code that does not exist, so the answer tells
  a guesser nothing. Replies are throttled per sender (``REPLIES_PER_10_MIN``) (issue 12, hole 4).
- Zalo wants HTTP 200 for every event: a correctly signed Zalo event that changes nothing is answered 200 with
  what was ignored, and logged. eSMS's short-code service wants a ``<ClientResponse>`` XML, whose message it
  texts back to the officer (in Vietnamese and English). eSMS calls back with GET, the others POST.
- ``GET /a/<token>``: a small bilingual page (Vietnamese first) with a button; ``POST /a/<token>``
  acknowledges (via "link"). GET never acknowledges: chat apps fetch links to preview them.

Refusals answer 4xx with a JSON ``{"ok": false, "reason": ...}`` and are logged with the channel and the
reason; providers retry 5xx only, so a refused callback is not retried forever.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from aiohttp import web
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from ioc import i18n
from ioc.config.models import Officer, SiteConfig
from ioc.errors import InvalidInput
from ioc.notify.channels.base import CallbackEvent, ChannelType
from ioc.notify.links import verify_ack_token
from ioc.notify.ratelimit import MemoryRateLimiter, RateLimiter
from ioc.notify.roster import DutyRoster
from ioc.notify.sms_text import unaccent
from ioc.store import alerts
from ioc.store.alerts import SHORT_CODE_LEN, Outcome

logger = logging.getLogger(__name__)

i18n.register(
    {
        "notify.ack.page_title": ("Xác nhận cảnh báo", "Acknowledge alert"),
        "notify.ack.prompt": (
            "Đồng chí {name}, bấm nút dưới đây để xác nhận đã nhận và xử lý cảnh báo {code}.",
            "{name}, press the button below to confirm you have taken alert {code}.",
        ),
        "notify.ack.button": ("Xác nhận đã nhận", "Acknowledge"),
        "notify.ack.done": (
            "Đã xác nhận cảnh báo {code}. Cảm ơn đồng chí.",
            "Alert {code} acknowledged. Thank you.",
        ),
        "notify.ack.already": (
            "Cảnh báo {code} đã được {by} xác nhận trước đó.",
            "Alert {code} was already acknowledged by {by}.",
        ),
        "notify.ack.resolved": (
            "Cảnh báo {code} đã kết thúc, không cần xác nhận.",
            "Alert {code} is already resolved; nothing to acknowledge.",
        ),
        "notify.ack.unknown": ("Không tìm thấy cảnh báo này.", "This alert cannot be found."),
        "notify.ack.unavailable": (
            "Hệ thống tạm thời không ghi nhận được. Vui lòng thử lại sau ít phút hoặc trả lời tin nhắn.",
            "The system cannot record this right now. Try again in a few minutes or reply to the message.",
        ),
        "notify.ack.invalid": (
            "Đường dẫn không hợp lệ hoặc đã bị sửa.",
            "This link is not valid or has been altered.",
        ),
        "notify.ack.status": (
            "Mức độ: {severity}. Trạng thái: {status}.",
            "Severity: {severity}. Status: {status}.",
        ),
        "notify.ack.status.open": ("đang mở", "open"),
        "notify.ack.status.acknowledged": ("đã xác nhận", "acknowledged"),
        "notify.ack.status.resolved": ("đã kết thúc", "resolved"),
        "notify.reply.done": ("IOC: da xac nhan canh bao {code}.", "IOC: alert {code} acknowledged."),
        "notify.reply.already": (
            "IOC: canh bao {code} da duoc xac nhan truoc do.",
            "IOC: alert {code} was already acknowledged.",
        ),
        "notify.reply.resolved": ("IOC: canh bao {code} da ket thuc.", "IOC: alert {code} is already over."),
        "notify.reply.refused": (
            "IOC: khong xac nhan duoc. Kiem tra ma trong tin nhan hoac mo duong dan.",
            "IOC: not acknowledged. Check the code in the message or open the link.",
        ),
    }
)

DB_DOWN = (psycopg.OperationalError, PoolTimeout)
REPLIES_PER_10_MIN = 6  # per sending phone or Zalo user; a 24-bit code cannot be guessed at this pace
SEEN_KEEP_DAYS = 7  # how long a callback's identity is kept (SpeedSMS bodies carry no time of their own)
_REPLY = re.compile(r"^\s*(?:OK|XN|XAC\s*NHAN)\s*[:.,#-]?\s*([0-9A-F]{6})\b")


def reply_code(text: str) -> str | None:
    """The alert short code in a reply ("OK 3FA2C1", "ok3fa2c1", "XN 3FA2C1", "Xác nhận 3FA2C1"), or None."""
    m = _REPLY.match(unaccent(text).upper())
    return m.group(1) if m else None


@dataclass(frozen=True)
class Handled:
    """What handling one callback event did, as the HTTP answer reports it."""

    status: int
    reason: str
    detail: dict[str, Any]


class CallbackServer:
    """Routes provider callbacks and acknowledgement links to the outbox and the alert lifecycle."""

    def __init__(
        self,
        site: SiteConfig,
        channels: Mapping[str, ChannelType],
        pool: ConnectionPool,
        ack_secret: bytes,
        *,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.site = site
        self.channels = dict(channels)
        self.pool = pool
        self.ack_secret = ack_secret
        self.limiter: RateLimiter = limiter or MemoryRateLimiter()
        self.roster = DutyRoster.from_site(site)
        self.by_phone: dict[str, Officer] = {o.phone: o for o in site.roster.officers}
        self.by_zalo: dict[str, Officer] = {o.zalo_user_id: o for o in site.roster.officers if o.zalo_user_id}

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(client_max_size=256 * 1024)
        app.router.add_route("POST", "/callbacks/{channel_id}", self.callback)
        app.router.add_route("GET", "/callbacks/{channel_id}", self.callback)
        app.router.add_route("POST", "/callbacks/{channel_id}/{token}", self.callback)
        app.router.add_route("GET", "/callbacks/{channel_id}/{token}", self.callback)
        app.router.add_get("/a/{token}", self.ack_page)
        app.router.add_post("/a/{token}", self.ack_post)
        app.router.add_get("/healthz", self.health)
        return app

    async def health(self, request: web.Request) -> web.Response:
        """Liveness."""
        return web.json_response({"ok": True})

    # --- provider callbacks ---------------------------------------------------------------------------------
    async def callback(self, request: web.Request) -> web.Response:
        """One provider callback: parse, then apply each event; the worst outcome decides the answer."""
        channel_id = request.match_info["channel_id"]
        channel = self.channels.get(channel_id)
        if channel is None:
            logger.warning("callback for unknown channel %s from %s", channel_id, request.remote)
            return _refuse(404, "unknown_channel", channel=channel_id)
        body = await request.read()
        try:
            events = channel.parse_callback(
                request.headers, body, request.query, path_token=request.match_info.get("token", "")
            )
        except InvalidInput as exc:
            logger.warning("callback refused: channel %s from %s: %s", channel_id, request.remote, exc)
            return _refuse(
                401 if exc.reason in ("bad_signature", "stale_callback") else 400,
                exc.reason,
                channel=channel_id,
                detail=exc.detail,
            )
        try:
            results = [await self._apply_one(channel, event) for event in events]
        except DB_DOWN as exc:
            # The provider retries a 5xx later; nothing was applied (each event is one transaction at most).
            logger.error("callback for channel %s not applied, database unavailable: %s", channel_id, exc)
            return _refuse(503, "database_unavailable", channel=channel_id)
        for event, result in zip(events, results, strict=True):
            if event.kind == "reply":
                answered = channel.answer_reply(event, self._reply_words(event, result))
                if answered is not None:
                    return web.Response(text=answered[1], content_type=answered[0])
        worst = max(results, key=lambda r: r.status, default=Handled(200, "ignored", {}))
        if worst.status >= 400 and channel.callbacks_always_ok and worst.status != 429:
            # Correctly signed and fresh: the provider (Zalo) wants 200 for every event, or it warns the admin.
            logger.info("%s event on %s ignored: %s %s", channel.kind, channel_id, worst.reason, worst.detail)
            return web.json_response({"ok": True, "ignored": worst.reason})
        if worst.status >= 400:
            return _refuse(worst.status, worst.reason, channel=channel_id, **worst.detail)
        return web.json_response({"ok": True, "results": [{"reason": r.reason, **r.detail} for r in results]})

    async def _apply_one(self, channel: ChannelType, event: CallbackEvent) -> Handled:
        if event.kind == "reply":
            who = event.phone or event.zalo_user_id or "?"
            wait = await self.limiter.take(
                f"reply:{event.channel_id}:{who}", REPLIES_PER_10_MIN / 600.0, REPLIES_PER_10_MIN, time.time()
            )
            if wait > 0:
                logger.warning(
                    "reply refused: channel %s, sender %s over %d replies in 10 minutes",
                    event.channel_id,
                    who,
                    REPLIES_PER_10_MIN,
                )
                return Handled(429, "too_many_replies", {"retry_after_s": round(wait)})
        return await asyncio.to_thread(self.apply, channel, event)

    def _reply_words(self, event: CallbackEvent, result: Handled) -> str:
        officer = self._officer(event)
        lang = officer.lang if officer else "vi"
        code = str(result.detail.get("code") or "")
        key = {
            "done": "notify.reply.done",
            "already": "notify.reply.already",
            "alert_resolved": "notify.reply.resolved",
            "duplicate": "notify.reply.already",
        }.get(result.reason, "notify.reply.refused")
        return i18n.t(key, lang, code=code)

    def _officer(self, event: CallbackEvent) -> Officer | None:
        officer = self.by_zalo.get(event.zalo_user_id) if event.zalo_user_id else None
        if officer is None and event.phone:
            officer = self.by_phone.get(event.phone)
        return officer

    def apply(self, channel: ChannelType, event: CallbackEvent) -> Handled:
        """Apply one event in one transaction, once per identity (blocking: run in a thread)."""
        if event.kind not in ("delivery", "reply"):
            return Handled(200, "ignored", {"kind": event.kind})
        with self.pool.connection() as conn, conn.transaction():
            if event.dedupe_key is not None:
                conn.execute(
                    "DELETE FROM notify_callback_seen WHERE seen_at < now() - make_interval(days => %s)",
                    (SEEN_KEEP_DAYS,),
                )
                fresh = conn.execute(
                    "INSERT INTO notify_callback_seen (channel_id, dedupe_key) VALUES (%s, %s) "
                    "ON CONFLICT DO NOTHING RETURNING 1",
                    (event.channel_id, event.dedupe_key),
                ).fetchone()
                if fresh is None:
                    logger.warning(
                        "callback on %s seen before (%s): a provider retry or a replay; not applied again",
                        event.channel_id,
                        event.dedupe_key[:40],
                    )
                    return Handled(200, "duplicate", {})
            result = self._delivery(conn, event) if event.kind == "delivery" else self._reply(conn, channel, event)
            if event.dedupe_key is not None and result.status >= 400:
                # Only what was applied counts as seen. A SpeedSMS reply's identity is its body: the same
                # officer sending the same text again (refused at first, e.g. before the alert reached her) is
                # a new message, not a replay; a refused event that comes again is simply judged again.
                conn.execute(
                    "DELETE FROM notify_callback_seen WHERE channel_id = %s AND dedupe_key = %s",
                    (event.channel_id, event.dedupe_key),
                )
            return result

    def _delivery(self, conn: psycopg.Connection[Any], event: CallbackEvent) -> Handled:
        if not (event.provider_message_id or event.provider_ref) or event.status not in (
            "delivered",
            "failed",
        ):
            return Handled(400, "malformed_callback", {"detail": "delivery without message id or status"})
        rows = conn.execute(
            "UPDATE notify_outbox SET status = %s, reason = CASE WHEN %s = '' THEN reason ELSE %s END, "
            "delivered_at = CASE WHEN %s = 'delivered' THEN coalesce(%s, now()) ELSE delivered_at END, "
            "provider_message_id = coalesce(provider_message_id, %s) "
            "WHERE channel_id = %s AND (provider_message_id = %s OR provider_ref = %s) "
            "RETURNING id, alert_id, officer_id",
            (
                event.status,
                event.reason,
                event.reason,
                event.status,
                event.at,
                event.provider_message_id,
                event.channel_id,
                event.provider_message_id,
                event.provider_ref,
            ),
        ).fetchall()
        if not rows:
            logger.warning(
                "delivery report for unknown message: channel %s, provider id %s (ref %s), status %s",
                event.channel_id,
                event.provider_message_id,
                event.provider_ref,
                event.status,
            )
            return Handled(
                404,
                "unknown_message",
                {"provider_message_id": event.provider_message_id or event.provider_ref},
            )
        logger.info(
            "delivery report: channel %s, provider id %s %s (outbox %s, alert %s)",
            event.channel_id,
            event.provider_message_id or event.provider_ref,
            event.status,
            rows[0][0],
            rows[0][1],
        )
        return Handled(200, event.status, {"outbox_ids": [r[0] for r in rows]})

    def _reply(self, conn: psycopg.Connection[Any], channel: ChannelType, event: CallbackEvent) -> Handled:
        officer = self._officer(event)
        who = event.phone or event.zalo_user_id or "?"
        if officer is None:
            logger.warning("reply refused: channel %s, sender %s is not on the roster", event.channel_id, who)
            return Handled(403, "unknown_sender", {})
        code = reply_code(event.text or "")
        if code is None:
            logger.warning(
                "reply refused: channel %s, officer %s, no acknowledgement code in %r",
                event.channel_id,
                officer.id,
                (event.text or "")[:80],
            )
            return Handled(422, "no_code", {})
        detail: dict[str, Any] = {"code": code, "officer": officer.id}
        alert = self._alert_sent_to(conn, code, officer)
        if alert is None:
            logger.warning(
                "reply refused: channel %s, officer %s, code %s: no such alert was sent to this officer "
                "in her scope",
                event.channel_id,
                officer.id,
                code,
            )
            return Handled(404, "alert_unknown", detail | {"alert_id": None})
        result = alerts.acknowledge(conn, alert, by=officer.id, via=channel.config_model.via)
        detail["alert_id"] = str(result.alert_id) if result.alert_id else None
        if result.outcome in (Outcome.DONE, Outcome.ALREADY):
            logger.info(
                "reply from %s (%s): alert %s %s", officer.id, event.channel_id, code, result.outcome.value
            )
            return Handled(200, result.outcome.value, detail | {"acknowledged_by": result.acknowledged_by})
        logger.warning(
            "reply refused: channel %s, officer %s, code %s: %s",
            event.channel_id,
            officer.id,
            code,
            result.outcome.value,
        )
        status = 404 if result.outcome == Outcome.UNKNOWN else 409
        return Handled(status, f"alert_{result.outcome.value}", detail)

    def _alert_sent_to(self, conn: psycopg.Connection[Any], code: str, officer: Officer) -> uuid.UUID | None:
        """The alert with this short code that was sent to this officer and lies in her scope, or None."""
        low = uuid.UUID(code.lower() + "0" * (32 - SHORT_CODE_LEN))
        high = uuid.UUID(code.lower() + "f" * (32 - SHORT_CODE_LEN))
        rows = conn.execute(
            "SELECT a.alert_id, a.area_code FROM alerts a WHERE a.alert_id BETWEEN %s AND %s "
            "AND EXISTS (SELECT 1 FROM notify_outbox o WHERE o.alert_id = a.alert_id AND o.officer_id = %s "
            "            AND o.status IN ('sent', 'delivered')) "
            "ORDER BY a.opened_at DESC LIMIT 2",
            (low, high, officer.id),
        ).fetchall()
        in_scope = [r[0] for r in rows if self._in_scope(officer, r[1])]
        return in_scope[0] if len(in_scope) == 1 else None

    def _in_scope(self, officer: Officer, area_code: str | None) -> bool:
        if not officer.area_codes and officer.position != "officer":
            return True  # a deputy or leader without areas answers for the whole site
        areas = set(officer.area_codes) | {
            s.area_code for s in self.site.roster.shifts if s.officer == officer.id
        }
        return any(self.roster.covers(a, area_code) for a in areas)

    # --- acknowledgement links ------------------------------------------------------------------------------
    async def ack_page(self, request: web.Request) -> web.Response:
        """The confirmation page; it changes nothing."""
        try:
            alert_id, officer_id = verify_ack_token(request.match_info["token"], self.ack_secret)
        except InvalidInput as exc:
            logger.warning("ack link refused (GET) from %s: %s", request.remote, exc)
            return _page("notify.ack.invalid", {}, status=403)
        try:
            row = await asyncio.to_thread(self._alert_row, alert_id)
        except DB_DOWN as exc:
            logger.error("ack page for alert %s: database unavailable: %s", alert_id, exc)
            return _page("notify.ack.unavailable", {}, status=503)
        if row is None:
            return _page("notify.ack.unknown", {}, status=404)
        officer = next((o for o in self.site.roster.officers if o.id == officer_id), None)
        params = {"name": officer.name if officer else officer_id, "code": alerts.short_code(alert_id)}
        return _page("notify.ack.prompt", params, alert=row, button=True)

    async def ack_post(self, request: web.Request) -> web.Response:
        """The button: acknowledge for the officer named in the link."""
        try:
            alert_id, officer_id = verify_ack_token(request.match_info["token"], self.ack_secret)
        except InvalidInput as exc:
            logger.warning("ack link refused (POST) from %s: %s", request.remote, exc)
            return _page("notify.ack.invalid", {}, status=403)
        if not any(o.id == officer_id for o in self.site.roster.officers):
            logger.warning("ack link for officer %s who is no longer on the roster", officer_id)
            return _page("notify.ack.invalid", {}, status=403)
        try:
            result = await asyncio.to_thread(self._ack, alert_id, officer_id)
        except DB_DOWN as exc:
            logger.error("ack of alert %s by %s: database unavailable: %s", alert_id, officer_id, exc)
            return _page("notify.ack.unavailable", {}, status=503)
        code = alerts.short_code(alert_id)
        key, status = {
            Outcome.DONE: ("notify.ack.done", 200),
            Outcome.ALREADY: ("notify.ack.already", 200),
            Outcome.RESOLVED: ("notify.ack.resolved", 409),
        }.get(result.outcome, ("notify.ack.unknown", 404))
        return _page(key, {"code": code, "by": result.acknowledged_by or ""}, status=status)

    def _ack(self, alert_id: str, officer_id: str) -> alerts.AckResult:
        with self.pool.connection() as conn:
            return alerts.acknowledge(conn, alert_id, by=officer_id, via="link")

    def _alert_row(self, alert_id: str) -> dict[str, Any] | None:
        with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            return cur.execute(
                "SELECT alert_id, alert_key, status, severity, message_key, params FROM alerts "
                "WHERE alert_id = %s",
                (alert_id,),
            ).fetchone()


def _refuse(status: int, reason: str, **detail: Any) -> web.Response:
    return web.json_response({"ok": False, "reason": reason, **detail}, status=status)


def _page(
    key: str,
    params: dict[str, Any],
    *,
    status: int = 200,
    alert: dict[str, Any] | None = None,
    button: bool = False,
) -> web.Response:
    """A minimal bilingual page: each paragraph in Vietnamese, then in English, smaller."""
    parts: list[str] = []
    for lang, style in (("vi", ""), ("en", ' class="en"')):
        if alert is not None:
            parts.append(
                f"<h2{style}>"
                + html.escape(i18n.t(alert["message_key"], lang, **(alert["params"] or {})))
                + "</h2>"
            )
            parts.append(
                f"<p{style}>"
                + html.escape(
                    i18n.t(
                        "notify.ack.status",
                        lang,
                        severity=i18n.t(f"severity.{alert['severity']}", lang),
                        status=i18n.t(f"notify.ack.status.{alert['status']}", lang),
                    )
                )
                + "</p>"
            )
        parts.append(f"<p{style}>{html.escape(i18n.t(key, lang, **params))}</p>")
    form = ""
    if button:
        label = f"{i18n.t('notify.ack.button', 'vi')} / {i18n.t('notify.ack.button', 'en')}"
        form = f'<form method="post"><button type="submit">{html.escape(label)}</button></form>'
    title = f"{i18n.t('notify.ack.page_title', 'vi')} / {i18n.t('notify.ack.page_title', 'en')}"
    page = (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:1.5em;max-width:36em}}"
        ".en{color:#555;font-size:.9em}button{font-size:1.3em;padding:.6em 1.2em}</style></head><body>"
        f"{''.join(parts)}{form}</body></html>"
    )
    return web.Response(text=page, content_type="text/html", status=status)
