"""Citizens' reports through the Zalo Official Account: the webhook (``POST /report/zalo``), the conversation that
builds a report from a follower's text, photos and location, and the answers sent back through the OA.

Zalo calls the webhook with every event of the OA, signed with ``X-ZEvent-Signature`` (sha256 of the app id, the
raw body, the event's timestamp and the OA secret key; ``ZaloZnsAdapter.verify_event``), and wants HTTP 200 within
2 s. So the webhook only checks the signature and the time (a bad signature or a stale event is refused with 403
and kept in ``report_rejections``), stores the event once (a second copy of one signature is answered 200 and not
applied again) and answers; ``ZaloIntake.process_pending`` does the work afterwards, in the wall's Zalo worker
thread (``ZaloWorker``), and ``ZaloReplies.send_due`` sends what the conversation and the report's lifecycle
queued (``report_zalo_outbox``), retrying with backoff, failing with the reason after ``max_send_attempts``.

A report from Zalo obeys the rules of the web form (``dashboards.report_form``): at most ``per_user_per_day``
reports per follower, ``max_photos`` photos of at most ``max_photo_bytes`` each, fetched only from Zalo's image
hosts (``image_hosts``) within ``image_timeout_s`` and re-encoded without any metadata
(``dashboards.report_photos``), a location outside the site's communes refused with a message saying what to do,
and every refusal kept in ``report_rejections`` (channel ``zalo``) with the follower's id only as a keyed hash.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import IO, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import Flask, Response, request
from flask.typing import ResponseReturnValue

from analytics.report_chat import (
    Command,
    add_description,
    command,
    keyword_category,
    menu,
    menu_choice,
    missing,
)
from analytics.reports import OutsideSite, clean_text, commune_at, duplicate_search, plan
from analytics.working_days import WorkingCalendar
from dashboards.report_photos import PhotoRefused, reencode
from ioc import i18n
from ioc.config.models import ReportsConfig, ReportZalo, SiteConfig
from ioc.errors import BadRecord, CalendarError, InvalidInput, SinkUnavailable
from ioc.events import utcnow
from ioc.geo import AreaIndex
from ioc.i18n import t
from ioc.notify.channels.base import SendStatus
from ioc.notify.channels.zalo import ZaloZnsAdapter
from ioc.store.report_zalo import OutMessage, ZaloDraft, ZaloIntakeStore
from ioc.store.reports import NewReport, Rejection, ReportStore, keyed_hash

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/report/zalo"
ZALO_WORKER = "ioc_zalo_worker"  # the worker's key in the Flask server's extensions
MAX_EVENT_BYTES = 64 * 1024  # an OA event is a small JSON; photos come as URLs
HANDLED_EVENTS = frozenset({"user_send_text", "user_send_image", "user_send_location"})
RETRY_BASE_S = 10.0
RETRY_MAX_S = 3600.0

i18n.register(
    {
        "zalo.welcome": (
            "Chào bạn! Đây là kênh phản ánh hiện trường của {site}. Gửi cho chúng tôi:\n"
            "1) số của lĩnh vực:\n{menu}\n2) nội dung sự việc,\n3) vị trí (bấm + rồi Vị trí),\n"
            "4) ảnh nếu có (tối đa {n}).\nKhi đủ, nhắn GỬI. Nhắn HỦY để bỏ, EN for English.",
            "Hello! This is the citizens' report channel of {site}. Send us:\n"
            "1) the number of the category:\n{menu}\n2) what is happening,\n3) the location (tap + then Location),\n"
            "4) photos if you have them (up to {n}).\nWhen done, send SEND. Send CANCEL to drop it, VI cho tiếng Việt.",
        ),
        "zalo.have": ("Đã có: {parts}.", "Received so far: {parts}."),
        "zalo.part.category": ("lĩnh vực {name}", "category {name}"),
        "zalo.part.description": ("nội dung", "description"),
        "zalo.part.location": ("vị trí", "location"),
        "zalo.part.photos": ("{n} ảnh", "{n} photo(s)"),
        "zalo.need.category": ("Hãy nhắn số của lĩnh vực:\n{menu}", "Send the number of the category:\n{menu}"),
        "zalo.need.description": ("Hãy mô tả sự việc.", "Describe what is happening."),
        "zalo.need.location": (
            "Hãy gửi vị trí nơi xảy ra sự việc (bấm + rồi Vị trí).",
            "Send the location of the problem (tap + then Location).",
        ),
        "zalo.ready": (
            "Đã đủ thông tin. Nhắn GỬI để gửi phản ánh (có thể gửi thêm ảnh trước, tối đa {n}).",
            "Everything is there. Send SEND to file the report (you may add photos first, up to {n}).",
        ),
        "zalo.cancelled": ("Đã hủy phản ánh đang soạn.", "The report being written has been dropped."),
        "zalo.received": (
            "Đã tiếp nhận phản ánh của bạn. Mã phản ánh: {code}. Theo dõi kết quả xử lý tại {url}",
            "Your report has been received. Tracking code: {code}. Follow it at {url}",
        ),
        "zalo.received.duplicate": (
            "Sự việc này đã được phản ánh trước đó ({original}); phản ánh của bạn được gộp vào.",
            "This was reported before ({original}); your report is linked to it.",
        ),
        "zalo.status": (
            "Phản ánh {code}: {status}.{note} Chi tiết: {url}",
            "Report {code}: {status}.{note} Details: {url}",
        ),
        "zalo.status.note": (" Trả lời của cơ quan xử lý: {note}.", " The unit's answer: {note}."),
        "zalo.error.outside_site": (
            "Vị trí bạn gửi nằm ngoài địa bàn {site}, nên hệ thống không tiếp nhận được. Nếu sự việc xảy ra trong "
            "địa bàn, hãy gửi lại đúng vị trí nơi xảy ra sự việc.",
            "The location you sent is outside {site}, so it cannot be taken. If the problem is inside the area, "
            "send the location where it is.",
        ),
        "zalo.error.no_location": (
            "Không đọc được vị trí. Hãy gửi lại vị trí (bấm + rồi Vị trí).",
            "The location could not be read. Send it again (tap + then Location).",
        ),
        "zalo.error.too_many_photos": (
            "Chỉ gửi được tối đa {n} ảnh cho một phản ánh; ảnh này không được nhận.",
            "A report takes at most {n} photos; this one was not taken.",
        ),
        "zalo.error.photo_too_large": (
            "Ảnh quá lớn (tối đa {mb} MB) nên không được nhận. Hãy gửi ảnh nhỏ hơn.",
            "The photo is too large (at most {mb} MB) and was not taken. Send a smaller one.",
        ),
        "zalo.error.bad_photo": (
            "Không tải được ảnh hoặc ảnh bị hỏng. Hãy gửi lại ảnh khác.",
            "The photo could not be fetched or is damaged. Send another one.",
        ),
        "zalo.error.bad_description": (
            "Nội dung quá dài (tối đa {n} ký tự). Nhắn HỦY để soạn lại.",
            "The description is too long (at most {n} characters). Send CANCEL to start again.",
        ),
        "zalo.error.rate_limited_zalo": (
            "Bạn đã gửi nhiều phản ánh trong ngày. Vui lòng thử lại vào ngày mai hoặc gọi đường dây nóng.",
            "You have sent many reports today. Please try again tomorrow or call the hotline.",
        ),
        "zalo.error.unavailable": (
            "Hệ thống đang bận, chưa nhận được phản ánh. Vui lòng nhắn GỬI lại sau ít phút.",
            "The system is busy and has not taken your report. Send SEND again in a few minutes.",
        ),
    }
)


class _Refused(Exception):
    """A message of the conversation refused: the rejection's reason and the answer's parameters."""

    def __init__(self, reason: str, detail: str = "", **params: object) -> None:
        self.reason, self.detail, self.params = reason, detail, params
        super().__init__(reason)


@dataclass(frozen=True)
class Incoming:
    """One message of a follower, out of Zalo's JSON (converted here, at the edge)."""

    kind: str  # text, image, location
    text: str = ""
    image_urls: tuple[str, ...] = ()
    lon: float | None = None
    lat: float | None = None

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> Incoming | None:
        """Read ``user_send_text`` (message.text), ``user_send_image`` (message.attachments[].payload.url) and
        ``user_send_location`` (message.attachments[0].payload.coordinates.latitude / longitude, strings)."""
        name = event.get("event_name")
        message = event.get("message") if isinstance(event.get("message"), dict) else {}
        assert isinstance(message, dict)
        attachments = [a for a in message.get("attachments") or [] if isinstance(a, dict)]
        if name == "user_send_text":
            text = message.get("text")
            return cls("text", text=text[:20_000]) if isinstance(text, str) else None
        if name == "user_send_image":
            urls = []
            for a in attachments:
                payload = a.get("payload") if isinstance(a.get("payload"), dict) else {}
                assert isinstance(payload, dict)
                url = payload.get("url") or payload.get("thumbnail")
                if isinstance(url, str) and url:
                    urls.append(url[:2000])
            text = message.get("text") if isinstance(message.get("text"), str) else ""
            return cls("image", text=str(text)[:20_000], image_urls=tuple(urls))
        if name == "user_send_location":
            for a in attachments:
                payload = a.get("payload") if isinstance(a.get("payload"), dict) else {}
                assert isinstance(payload, dict)
                coords = payload.get("coordinates")
                if isinstance(coords, dict):
                    lon, lat = _number(coords.get("longitude")), _number(coords.get("latitude"))
                    return cls("location", lon=lon, lat=lat)
            return cls("location")
        return None


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]  # Zalo sends strings; anything else is refused below
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class ImageFetcher:
    """Fetches a photo a follower sent from Zalo's image URL: only from the allowed hosts (also after a
    redirect), within the timeout, at most ``max_bytes``."""

    def __init__(self, hosts: list[str], timeout_s: float, max_bytes: int) -> None:
        self.hosts = [h.lower().strip(".") for h in hosts]
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        fetcher = self

        class _Redirects(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, req: Any, fp: IO[bytes], code: int, msg: str, headers: Any,
                                 newurl: str) -> urllib.request.Request | None:
                if not fetcher.allowed(newurl):
                    raise _Refused("bad_photo", f"redirect to a host not allowed: {urlsplit(newurl).hostname}")
                return super().redirect_request(req, fp, code, msg, headers, newurl)

        self._opener = urllib.request.build_opener(_Redirects)

    def allowed(self, url: str) -> bool:
        """Whether ``url`` is http(s) on one of the allowed hosts or their subdomains."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        return parts.scheme in ("https", "http") and any(host == h or host.endswith("." + h) for h in self.hosts)

    def fetch(self, url: str) -> bytes:
        """Return the image's bytes; ``_Refused`` (``photo_too_large``, ``bad_photo``) otherwise."""
        if not self.allowed(url):
            raise _Refused("bad_photo", f"image host not allowed: {urlsplit(url).hostname}")
        try:
            with self._opener.open(urllib.request.Request(url, method="GET"), timeout=self.timeout_s) as resp:
                declared = resp.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    raise _Refused("photo_too_large", f"{declared} bytes announced, at most {self.max_bytes}",
                                  mb=_mb(self.max_bytes))
                data = bytes(resp.read(self.max_bytes + 1))
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            raise _Refused("bad_photo", f"image not fetched: {type(exc).__name__}: {exc}"[:300]) from exc
        if len(data) > self.max_bytes:
            raise _Refused("photo_too_large", f"more than {self.max_bytes} bytes", mb=_mb(self.max_bytes))
        return data


class ZaloIntake:
    """The conversation: turns stored events into drafts, reports, refusals and answers."""

    def __init__(
        self,
        *,
        site: SiteConfig,
        reports: ReportStore,
        store: ZaloIntakeStore,
        index: AreaIndex,
        secret_key: str,
        fetcher: ImageFetcher | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if site.reports is None or site.reports.zalo is None or site.working_calendar is None:
            raise ValueError("the site has no reports.zalo section or no working calendar")
        self.site = site
        self.config: ReportsConfig = site.reports
        self.zalo: ReportZalo = site.reports.zalo
        self.reports = reports
        self.store = store
        self.index = index
        self.secret_key = secret_key
        self.calendar = WorkingCalendar.from_config(site.working_calendar)
        self.zone = ZoneInfo(site.site.timezone)
        intake = self.config.intake
        self.fetcher = fetcher or ImageFetcher(self.zalo.image_hosts, self.zalo.image_timeout_s,
                                               intake.max_photo_bytes)
        self.clock = clock

    def process_pending(self, limit: int = 100) -> int:
        """Process the events waiting, oldest first (a follower's in order); return how many."""
        done = 0
        while done < limit:
            with self.store.claim() as claim:
                if claim is None:
                    break
                try:
                    claim.outcome = self.process(claim.event.zalo_user_id, claim.event.event)
                except (SinkUnavailable, BadRecord, CalendarError) as exc:
                    # The event stays processed with this outcome; the follower is asked to send again.
                    logger.error("zalo event %s not processed: %s", claim.event.id, exc)
                    claim.outcome = f"error: {exc}"[:200]
                    self._say(claim.event.zalo_user_id, "vi", t("zalo.error.unavailable", "vi"))
                except Exception as exc:  # one event's outer edge: a bug must not block the follower's next ones
                    logger.exception("zalo event %s failed; marked processed", claim.event.id)
                    claim.outcome = f"failed: {type(exc).__name__}"
            done += 1
        return done

    def process(self, user: str, event: Mapping[str, Any]) -> str:
        """Apply one follower's event to their draft; return the outcome (``draft``, ``accepted``, a refusal)."""
        incoming = Incoming.from_event(event)
        if incoming is None:
            return "ignored"
        now = self.clock()
        found = self.store.draft(user, now)
        draft = found or ZaloDraft(user)
        try:
            if incoming.kind == "text":
                return self._text(draft, incoming.text, fresh=found is None, now=now)
            image = incoming.kind == "image"
            draft = self._image(draft, incoming, now) if image else self._location(draft, incoming)
        except _Refused as refused:
            self._refuse(draft, refused, incoming)
            if found is None:
                self.store.save(draft, self._expiry(), now)
            return refused.reason
        self.store.save(draft, self._expiry(), now)
        self._summary(draft)
        return "draft"

    # --- the kinds of message ------------------------------------------------------------------------------
    def _text(self, draft: ZaloDraft, text: str, *, fresh: bool, now: datetime) -> str:
        lang = draft.lang
        wanted = command(text)
        if wanted is Command.CANCEL:
            self.store.clear(draft.zalo_user_id)
            self._say(draft.zalo_user_id, lang, t("zalo.cancelled", lang))
            return "cancelled"
        if wanted in (Command.ENGLISH, Command.VIETNAMESE):
            draft = replace(draft, lang=str(wanted))
            self.store.save(draft, self._expiry(), now)
            self._welcome(draft)
            return "draft"
        if wanted is Command.HELP:
            self.store.save(draft, self._expiry(), now)
            self._welcome(draft)
            return "draft"
        if wanted is Command.SEND:
            return self._send(draft, now)
        chosen = menu_choice(text, self.config)
        try:
            if chosen is not None:
                draft = replace(draft, category=chosen)
            else:
                limit = self.config.intake.max_description_chars
                try:
                    description = clean_text(add_description(draft.description, text), limit)
                except ValueError as exc:
                    raise _Refused("bad_description", str(exc), n=limit) from exc
                draft = replace(draft, description=description,
                                category=draft.category or keyword_category(text, self.config))
        except _Refused as refused:
            self._refuse(draft, refused, Incoming("text", text=text))
            return refused.reason
        self.store.save(draft, self._expiry(), now)
        if fresh and draft.category is None:
            self._welcome(draft)
        else:
            self._summary(draft)
        return "draft"

    def _image(self, draft: ZaloDraft, incoming: Incoming, now: datetime) -> ZaloDraft:
        intake = self.config.intake
        if not incoming.image_urls:
            raise _Refused("bad_photo", "no image URL in the event")
        if incoming.text.strip() and command(incoming.text) is None:  # a caption is part of the description
            try:
                text = clean_text(add_description(draft.description, incoming.text), intake.max_description_chars)
            except ValueError as exc:
                raise _Refused("bad_description", str(exc), n=intake.max_description_chars) from exc
            draft = replace(draft, description=text,
                            category=draft.category or keyword_category(incoming.text, self.config))
        self.store.save(draft, self._expiry(), now)  # photos hang on the draft's row
        count = draft.photos
        for url in incoming.image_urls:
            if count >= intake.max_photos:
                raise _Refused("too_many_photos", f"{count + 1} photos", n=intake.max_photos)
            data = self.fetcher.fetch(url)
            try:
                photo = reencode(data, intake)  # no GPS written: Zalo does not say where a photo was taken
            except PhotoRefused as exc:
                raise _Refused(exc.reason, exc.detail, mb=_mb(intake.max_photo_bytes)) from exc
            self.store.add_photo(draft.zalo_user_id, photo)
            count += 1
            draft = replace(draft, photos=count)
        return draft

    def _location(self, draft: ZaloDraft, incoming: Incoming) -> ZaloDraft:
        lon, lat = incoming.lon, incoming.lat
        if lon is None or lat is None or not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise _Refused("no_location", f"({incoming.lon}, {incoming.lat})")
        if commune_at(self.index, self.site.report_communes(), lon, lat) is None:
            raise _Refused("outside_site", f"({lon:.5f}, {lat:.5f}) is in none of the site's communes",
                           site=self.site.site.name)
        return replace(draft, lon=lon, lat=lat)

    def _send(self, draft: ZaloDraft, now: datetime) -> str:
        lack = missing(draft.category, draft.description, draft.lon is not None)
        if lack:
            self._summary(draft)
            return "incomplete"
        assert draft.category is not None and draft.description is not None
        assert draft.lon is not None and draft.lat is not None
        user, lang = draft.zalo_user_id, draft.lang
        try:
            sent = self.reports.count_since(now - timedelta(hours=24), zalo_user_id=user)
            if sent >= self.zalo.per_user_per_day:
                raise _Refused("rate_limited_zalo", f"{sent} reports in 24 h")
            try:
                where = plan(self.site, self.index, self.calendar, self.zone, draft.category, draft.lon, draft.lat,
                             now)
            except OutsideSite as exc:  # the site's communes changed since the location was taken
                raise _Refused("outside_site", str(exc), site=self.site.site.name) from exc
        except _Refused as refused:
            self._refuse(draft, refused, Incoming("text", text="GỬI"))
            return refused.reason
        new = NewReport(
            category=draft.category, description=draft.description, lon=draft.lon, lat=draft.lat,
            location_source="map", commune_code=where.commune_code, unit_id=where.unit_id, deadline=where.deadline,
            channel="zalo", created_by="zalo", address_hash=self._sender_hash(user), received_at=now,
            zalo_user_id=user, zalo_lang=lang,
        )
        report = self.reports.submit(
            new, self.store.photos(user), duplicate_search(draft.category, draft.lon, draft.lat, now,
                                                           self.config.intake)
        )
        self.store.clear(user)  # the receipt with the code is queued by the store with the report
        logger.info("zalo report %s filed (%s)", report.code, report.category)
        return "accepted"

    # --- answers -------------------------------------------------------------------------------------------
    def _refuse(self, draft: ZaloDraft, refused: _Refused, incoming: Incoming) -> None:
        lang = draft.lang
        message = t(f"zalo.error.{refused.reason}", lang, **refused.params)
        summary = {
            "kind": incoming.kind, "text": incoming.text[:300], "images": len(incoming.image_urls),
            "lon": incoming.lon, "lat": incoming.lat, "category": draft.category, "photos": draft.photos,
        }
        try:
            self.reports.reject(Rejection("zalo", refused.reason, refused.detail or message,
                                          address_hash=self._sender_hash(draft.zalo_user_id), summary=summary))
        except SinkUnavailable as exc:
            logger.error("zalo refusal %s not kept (%s): %s", refused.reason, exc, summary)
        self._say(draft.zalo_user_id, lang, message)

    def _welcome(self, draft: ZaloDraft) -> None:
        lang = draft.lang
        self._say(draft.zalo_user_id, lang, t("zalo.welcome", lang, site=self.site.site.name,
                                              menu=menu(self.config, lang), n=self.config.intake.max_photos))

    def _summary(self, draft: ZaloDraft) -> None:
        lang = draft.lang
        parts = []
        if draft.category:
            category = self.config.category(draft.category)
            parts.append(t("zalo.part.category", lang, name=category.name_en if lang == "en" else category.name))
        if draft.description:
            parts.append(t("zalo.part.description", lang))
        if draft.lon is not None:
            parts.append(t("zalo.part.location", lang))
        if draft.photos:
            parts.append(t("zalo.part.photos", lang, n=draft.photos))
        lines = [t("zalo.have", lang, parts=", ".join(parts))] if parts else []
        lack = missing(draft.category, draft.description, draft.lon is not None)
        if lack:
            lines.append(t(f"zalo.need.{lack[0]}", lang, menu=menu(self.config, lang)))
        else:
            lines.append(t("zalo.ready", lang, n=self.config.intake.max_photos))
        self._say(draft.zalo_user_id, lang, "\n".join(lines))

    def _say(self, user: str, lang: str, text: str) -> None:
        self.store.queue(user, "prompt", {"text": text, "lang": lang})

    def _sender_hash(self, user: str) -> str:
        return keyed_hash(self.secret_key, f"zalo:{user}")

    def _expiry(self) -> timedelta:
        return timedelta(hours=self.zalo.draft_expiry_h)


class ZaloReplies:
    """Sends the queued messages to followers through the OA, retrying with backoff, failing with the reason."""

    def __init__(
        self, *, site: SiteConfig, store: ZaloIntakeStore, channel: ZaloZnsAdapter, public_url: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if site.reports is None or site.reports.zalo is None:
            raise ValueError("the site has no reports.zalo section")
        self.store = store
        self.channel = channel
        self.public_url = public_url.rstrip("/")
        self.max_attempts = site.reports.zalo.max_send_attempts
        self.clock = clock

    def render(self, message: OutMessage) -> str:
        """Return the text of a queued message in the follower's language."""
        params = message.params
        lang = str(params.get("lang") or "vi")
        if message.kind == "prompt":
            return str(params.get("text", ""))
        code = str(params.get("code") or message.report_code or "")
        url = f"{self.public_url}/report/{code}?lang={lang}"
        if message.kind == "received":
            text = t("zalo.received", lang, code=code, url=url)
            if params.get("duplicate_of"):
                text += "\n" + t("zalo.received.duplicate", lang, original=params["duplicate_of"])
            return text
        note = t("zalo.status.note", lang, note=str(params["note"]).rstrip(".")) if params.get("note") else ""
        status = t(f"report.status.{params.get('status')}", lang)
        return t("zalo.status", lang, code=code, status=status, note=note, url=url)

    async def send_due(self, limit: int = 50) -> int:
        """Send the messages due now; return how many were tried."""
        messages = self.store.due(limit, self.clock())
        try:
            for message in messages:
                await self._send(message)
        finally:
            await self.channel.close()  # the HTTP session belongs to this event loop
        return len(messages)

    async def _send(self, message: OutMessage) -> None:
        result = await self.channel.send_oa_text(message.zalo_user_id, self.render(message))
        if result.status == SendStatus.SENT:
            self.store.sent(message.id, result.provider_message_id)
            return
        if result.status == SendStatus.RETRY and message.attempts < self.max_attempts:
            wait = result.retry_after_s or min(RETRY_BASE_S * 2 ** (message.attempts - 1), RETRY_MAX_S)
            self.store.retry(message.id, result.reason, self.clock() + timedelta(seconds=wait))
            logger.warning("zalo message %s: %s; again in %.0f s", message.id, result.reason, wait)
            return
        self.store.failed(message.id, f"{result.status}: {result.reason}")


class ZaloWorker:
    """The wall's background thread: processes stored events and sends answers, at once when the webhook wakes
    it, else every ``interval_s`` (retries that came due)."""

    def __init__(self, intake: ZaloIntake, replies: ZaloReplies, interval_s: float = 5.0) -> None:
        self.intake = intake
        self.replies = replies
        self.interval_s = interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Ask for a round now (a new event came)."""
        self._wake.set()

    def run_once(self) -> None:
        """One round: the waiting events, then the messages due."""
        self.intake.process_pending()
        asyncio.run(self.replies.send_due())

    def start(self) -> None:
        """Start the thread (the composition root does, once per wall process)."""
        self._thread = threading.Thread(target=self._loop, name="zalo-intake", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after its round."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # the thread's outer edge: log and keep serving the next round
                logger.exception("zalo intake round failed")
            self._wake.wait(self.interval_s)
            self._wake.clear()


def install_zalo_webhook(
    server: Flask, *, channel: ZaloZnsAdapter, store: ZaloIntakeStore, reports: ReportStore, secret_key: str,
    events_per_hour: int, wake: Callable[[], None] = lambda: None, clock: Callable[[], datetime] = utcnow,
) -> None:
    """Add ``POST /report/zalo``: check the signature and time of an OA event, keep it once, answer 200.

    A follower sending more than ``events_per_hour`` messages is answered 200 (Zalo wants it) but the messages
    are dropped, so one account cannot make the worker fetch photos without end; the first one over is kept as
    a ``rate_limited_events`` rejection.
    """

    @server.post(WEBHOOK_PATH)
    def zalo_webhook() -> ResponseReturnValue:
        request.max_content_length = MAX_EVENT_BYTES
        if (request.content_length or 0) > MAX_EVENT_BYTES:
            return _answer(413, False, "too_large")
        body = request.get_data(cache=False)
        try:
            event, _at, dedupe = channel.verify_event(dict(request.headers.items()), body)
        except InvalidInput as exc:
            status = 503 if exc.reason == "not_configured" else 400 if exc.reason == "malformed_callback" else 403
            logger.warning("zalo webhook refused (%s): %s", exc.reason, exc)
            try:
                reports.reject(Rejection("zalo", exc.reason, str(exc)[:500],
                                         address_hash=keyed_hash(secret_key, request.remote_addr or "?"),
                                         summary={"bytes": len(body)}))
            except SinkUnavailable as down:
                logger.error("zalo webhook refusal not kept: %s", down)
            return _answer(status, False, exc.reason)
        name = str(event.get("event_name", ""))
        sender = event.get("sender") if isinstance(event.get("sender"), dict) else {}
        user = str(sender.get("id", "")) if isinstance(sender, dict) else ""
        if name not in HANDLED_EVENTS or not (user.isascii() and user.isdigit() and len(user) <= 32):
            logger.info("zalo webhook: event %s ignored", name[:60])
            return _answer(200, True, "ignored")
        try:
            recent = store.events_since(user, clock() - timedelta(hours=1))
            if recent >= events_per_hour:
                if recent == events_per_hour:
                    reports.reject(Rejection("zalo", "rate_limited_events", f"{recent} messages in an hour",
                                             address_hash=keyed_hash(secret_key, f"zalo:{user}"),
                                             summary={"event": name}))
                    store.receive(dedupe, user, name, {"dropped": True})  # counted, so the rejection is kept once
                logger.warning("zalo webhook: a follower over %d messages an hour; event dropped", events_per_hour)
                return _answer(200, True, "throttled")
            fresh = store.receive(dedupe, user, name, event)
        except (SinkUnavailable, BadRecord) as exc:
            logger.error("zalo event not stored: %s", exc)
            return _answer(503, False, "unavailable")  # Zalo sends it again
        if not fresh:
            return _answer(200, True, "duplicate")
        wake()
        return _answer(200, True, "queued")


def _answer(status: int, ok: bool, what: str) -> Response:
    return Response(json.dumps({"ok": ok, "result" if ok else "reason": what}), status, mimetype="application/json")


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f}".removesuffix(".0")
