"""The words of a duty-officer message, in the officer's language (Vietnamese by default).

A message names the severity, the alert's own message (``ioc.i18n.t(message_key, lang, **params)``, as the
wall shows it), the area and the local time, the alert's short code with the "reply OK <code>" hint, and the
acknowledgement link when one can be made. The same values go to ZNS templates as ``params`` (code, title,
area, severity, time, link).

Bad input is refused here, before anything is sent: an officer's phone not in 84xxxxxxxxx form, an alert
message whose template needs a value the alert does not carry, or an unknown message template. Each raises
``InvalidInput`` with a reason the sender records on the row.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ioc import i18n
from ioc.config.models import PHONE_RE, Officer, SiteConfig
from ioc.errors import InvalidInput
from ioc.notify.channels.base import Message, Recipient
from ioc.notify.channels.registry import channel_class
from ioc.notify.planner import ESCALATED, OPENED, REMINDER, RESOLVED
from ioc.notify.roster import LOCAL_TZ
from ioc.store.alerts import short_code

logger = logging.getLogger(__name__)

i18n.register(
    {
        "notify.opened": (
            "[IOC] {severity}: {message}. Khu vực {area}, lúc {time}. {ack}",
            "[IOC] {severity}: {message}. Area {area}, at {time}. {ack}",
        ),
        "notify.escalated.ladder": (
            "[IOC] Chưa ai xác nhận sau {minutes} phút, chuyển tới anh/chị. {severity}: {message}. "
            "Khu vực {area}, từ {time}. {ack}",
            "[IOC] Not acknowledged after {minutes} min, passed on to you. {severity}: {message}. "
            "Area {area}, since {time}. {ack}",
        ),
        "notify.escalated.severity": (
            "[IOC] Tăng lên mức {severity}: {message}. Khu vực {area}, lúc {time}. {ack}",
            "[IOC] Raised to {severity}: {message}. Area {area}, at {time}. {ack}",
        ),
        "notify.reminder": (
            "[IOC] Nhắc lại, chưa ai xác nhận. {severity}: {message}. Khu vực {area}, từ {time}. "
            "{ack}",
            "[IOC] Reminder, nobody has acknowledged. {severity}: {message}. Area {area}, since {time}. "
            "{ack}",
        ),
        "notify.resolved": (
            "[IOC] Đã kết thúc: {message}. Khu vực {area}, lúc {time}. Mã {code}.",
            "[IOC] Over: {message}. Area {area}, at {time}. Code {code}.",
        ),
        "notify.link": (" hoặc mở {url}", " or open {url}"),
        "notify.reply": ("Trả lời OK {code} để xác nhận", "Reply OK {code} to acknowledge"),
        "notify.reply.shortcode": (
            "Nhắn {keyword} OK {code} tới {number} để xác nhận",
            "Text {keyword} OK {code} to {number} to acknowledge",
        ),
        "notify.reply.link_only": ("Mở {url} để xác nhận", "Open {url} to acknowledge"),
        "notify.reply.none": ("Mã {code}", "Code {code}"),
        "notify.whole_site": ("toàn địa bàn", "whole site"),
        "notify.reason.bad_phone": (
            "Số điện thoại không đúng dạng 84xxxxxxxxx",
            "Phone number not in 84xxxxxxxxx form",
        ),
        "notify.reason.template_variable_missing": ("Mẫu tin thiếu giá trị", "A template value is missing"),
        "notify.reason.not_configured": ("Kênh chưa được cấu hình", "Channel not configured"),
        "notify.reason.outcome_unknown": (
            "Bộ gửi dừng giữa chừng, không gửi lại để tránh trùng",
            "Sender stopped mid-call; not resent to avoid a duplicate",
        ),
        "notify.reason.template_params_invalid": (
            "Giá trị của mẫu tin không hợp lệ",
            "A template value is unfit",
        ),
        "notify.reason.unknown_template": ("Mẫu tin không tồn tại", "Unknown message template"),
        "notify.reason.unknown_officer": (
            "Cán bộ không còn trong lịch trực",
            "Officer no longer on the roster",
        ),
        "notify.reason.unknown_alert": ("Không tìm thấy cảnh báo", "Alert not found"),
        "notify.reason.unknown_channel": ("Kênh không có trong cấu hình", "Channel not in the configuration"),
        "notify.reason.gave_up": (
            "Nhà cung cấp không nhận sau nhiều lần thử",
            "Provider kept refusing; gave up",
        ),
        "notify.reason.provider": ("Nhà cung cấp từ chối", "Refused by the provider"),
    }
)

_TEMPLATE_BY_KIND = {OPENED: "notify.opened", REMINDER: "notify.reminder", RESOLVED: "notify.resolved"}
_catalog: dict[str, tuple[str, str]] = {}


@dataclass(frozen=True)
class AlertView:
    """The alert as a message describes it: read from the ``alerts`` row when the message is sent."""

    alert_id: str
    severity: str
    message_key: str
    params: Mapping[str, Any]
    area_code: str | None
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None


def recipient(officer: Officer) -> Recipient:
    """Return the channel-side view of an officer; a phone not in 84xxxxxxxxx form is refused."""
    if not PHONE_RE.match(officer.phone):
        raise InvalidInput("bad_phone", f"officer {officer.id}: phone {officer.phone!r} is not 84xxxxxxxxx")
    return Recipient(
        officer_id=officer.id,
        name=officer.name,
        phone=officer.phone,
        zalo_user_id=officer.zalo_user_id,
        email=officer.email,
    )


def strict_text(key: str, lang: str, params: Mapping[str, Any]) -> str:
    """Format a catalog string, refusing (rather than guessing) when a value it needs is missing or unfit."""
    pair = _catalog.get(key)
    if pair is None:
        _catalog.update(i18n.catalog())
        pair = _catalog.get(key)
    if pair is None:
        raise InvalidInput("unknown_template", f"message template {key!r} is not registered")
    text = pair[1] if lang == "en" else pair[0]
    needed = {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(text) if name}
    missing = sorted(needed - set(params))
    if missing:
        raise InvalidInput(
            "template_variable_missing",
            f"{key} needs {', '.join(missing)}; the alert has {', '.join(sorted(params)) or 'none'}",
        )
    try:
        return text.format(**params)
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise InvalidInput("template_params_invalid", f"{key}: {type(exc).__name__}: {exc}") from exc


def reason_text(reason: str, lang: str) -> str:
    """Return a failed message's reason for operators: a short label in ``lang``, then the raw reason (the
    provider's own words are kept: they are what its support desk will ask for)."""
    code = reason.split(":", 1)[0].strip()
    if code.startswith("gave up after"):
        code = "gave_up"
    key = f"notify.reason.{code}"
    if key not in _catalog:
        _catalog.update(i18n.catalog())
    label = i18n.t(key if key in _catalog else "notify.reason.provider", lang)
    return f"{label} ({reason})"


def local_time(at: datetime) -> str:
    """Return ``at`` as local HH:MM dd/mm/yyyy (the Vietnamese order, used in both languages)."""
    return at.astimezone(LOCAL_TZ).strftime("%H:%M %d/%m/%Y")


class Renderer:
    """Builds the ``Message`` for one outbox row."""

    def __init__(
        self, site: SiteConfig, *, public_url: str | None = None, ack_secret: bytes | None = None
    ) -> None:
        self.areas = {a.code: a for a in site.areas}
        self.public_url = public_url
        self.ack_secret = ack_secret
        self.channels = {c.id: c for c in site.channels}

    def ack_hint(self, channel_id: str | None, code: str, link: str | None, lang: str) -> str:
        """What the officer should do to acknowledge, for the reply path the channel really has.

        A brandname SMS cannot be answered (issue 13, point 2): an SMS channel without a configured reply path
        (an eSMS short code, a SpeedSMS two-way number) gives the link only; a Zalo channel asks for a reply
        only when officers can write to the OA.
        """
        cfg = self.channels.get(channel_id or "")
        reply = channel_class(cfg).reply_hint(cfg, code, lang) if cfg is not None else None
        if reply is not None:
            return reply + (i18n.t("notify.link", lang, url=link) if link else "")
        if link:
            return i18n.t("notify.reply.link_only", lang, url=link)
        return i18n.t("notify.reply.none", lang, code=code)

    def area_name(self, code: str | None, lang: str) -> str:
        """Return an area's name in ``lang`` (the code itself when unknown)."""
        if code is None:
            return i18n.t("notify.whole_site", lang)
        area = self.areas.get(code)
        if area is None:
            return code
        return (area.name_en or area.name) if lang == "en" else area.name

    def ack_url(self, alert_id: str, officer_id: str) -> str | None:
        """Return the officer's acknowledgement link, or None when no link secret is configured."""
        if not self.public_url or not self.ack_secret:
            return None
        from ioc.notify.links import ack_url

        return ack_url(self.public_url, alert_id, officer_id, self.ack_secret)

    def message(
        self,
        *,
        key: str,
        kind: str,
        cause: str,
        step_delay_min: int,
        officer: Officer,
        alert: AlertView,
        severity: str,
        channel_id: str | None = None,
    ) -> Message:
        """Return the message of one row; ``InvalidInput`` for a bad phone or a missing template value."""
        who = recipient(officer)
        lang = i18n.normalise_lang(officer.lang)
        code = short_code(alert.alert_id)
        body = strict_text(alert.message_key, lang, alert.params)
        link = self.ack_url(alert.alert_id, officer.id) if kind != RESOLVED else None
        if kind == ESCALATED:
            template = "notify.escalated.severity" if cause == "severity" else "notify.escalated.ladder"
        else:
            template = _TEMPLATE_BY_KIND[kind]
        when = {RESOLVED: alert.resolved_at or alert.updated_at, ESCALATED: alert.updated_at}.get(kind)
        if template == "notify.escalated.ladder":
            when = alert.opened_at
        stamp = local_time(when or alert.opened_at)
        sev = i18n.t(f"severity.{severity}", lang)
        area = self.area_name(alert.area_code, lang)
        values = {
            "severity": sev,
            "message": body,
            "area": area,
            "time": stamp,
            "code": code,
            "minutes": step_delay_min,
            "ack": self.ack_hint(channel_id, code, link, lang),
        }
        text = strict_text(template, lang, values)
        params = {
            "code": code,
            "title": body,
            "area": area,
            "severity": sev,
            "time": stamp,
            "link": link or "",
        }
        return Message(
            idempotency_key=key,
            kind=kind,
            recipient=who,
            alert_id=alert.alert_id,
            short_code=code,
            lang=lang,
            text=text,
            params=params,
            ack_url=link,
        )
