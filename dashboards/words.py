"""Human words for what the notification pipeline records: reasons, channels, officers and accounts.

The outbox keeps machine reasons (``not_configured: IOC_SPEEDSMS_ACCESS_TOKEN``, ``rate_limited: officer``,
``speedsms 7: token invalid``), channel ids (``sms-speedsms``) and officer ids or login names. The wall's
deliveries page and alert detail say each as a sentence in the reader's language, and people by name, position
and unit (issue 15, item 7). The raw reason stays available to the page as a tooltip for the provider's
support desk; it is never the text people read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from dashboards import strings as _strings  # noqa: F401  (registers "wall.detail.system")
from ioc.config.models import SiteConfig
from ioc.i18n import register, t

STRINGS: dict[str, tuple[str, str]] = {
    # reasons a message was held, sent elsewhere or given up on
    "words.reason.not_configured": (
        "Kênh gửi chưa được cài đặt trên máy chủ (thiếu biến môi trường {names}); quản trị viên cần khai báo.",
        "The channel is not set up on the server ({names} missing); an administrator must set it.",
    ),
    "words.reason.rate_limited_officer": (
        "Cán bộ đã nhận đủ số tin cho phép trong một phút; tin này được gửi chậm lại, không bị bỏ.",
        "The officer had the most messages allowed in a minute; this one was held back, not dropped.",
    ),
    "words.reason.rate_limited_channel": (
        "Kênh {channel} đang gửi nhanh nhất cho phép; tin này được gửi sau ít giây.",
        "The {channel} channel is sending as fast as allowed; this message goes a few seconds later.",
    ),
    "words.reason.provider_rate_limited": (
        "Nhà cung cấp {provider} báo gửi quá nhanh; tin được gửi lại sau.",
        "The provider {provider} said messages came too fast; the message is sent again later.",
    ),
    "words.reason.alert_resolved": (
        "Cảnh báo đã kết thúc nên không cần gửi tin này nữa.",
        "The alert is over, so this message was no longer needed.",
    ),
    "words.reason.alert_acknowledged": (
        "Cảnh báo đã có người tiếp nhận nên không cần gửi tin này nữa.",
        "Someone acknowledged the alert, so this message was no longer needed.",
    ),
    "words.reason.resent_after_interruption": (
        "Bộ gửi bị dừng giữa chừng; tin được gửi lại.",
        "The sender stopped mid-way; the message was sent again.",
    ),
    "words.reason.gave_up": (
        "Đã thử {n} lần mà không gửi được. {why}",
        "Tried {n} times without success. {why}",
    ),
    "words.reason.timeout": (
        "Nhà cung cấp không trả lời kịp.",
        "The provider did not answer in time.",
    ),
    "words.reason.network": (
        "Không kết nối được tới nhà cung cấp (lỗi mạng).",
        "The provider could not be reached (network error).",
    ),
    "words.reason.auth": (
        "Nhà cung cấp {provider} không chấp nhận khóa truy cập (sai hoặc hết hạn); quản trị viên cần kiểm tra.",
        "The provider {provider} refused the access key (wrong or expired); an administrator must check it.",
    ),
    "words.reason.http": (
        "Nhà cung cấp {provider} trả lỗi (HTTP {code}).",
        "The provider {provider} answered with an error (HTTP {code}).",
    ),
    "words.reason.provider_code": (
        "Nhà cung cấp {provider} từ chối tin (mã lỗi {code}).",
        "The provider {provider} refused the message (error code {code}).",
    ),
    "words.reason.not_delivered": (
        "Nhà cung cấp {provider} báo tin không đến được máy của cán bộ (trạng thái {code}).",
        "The provider {provider} reported the message did not reach the phone (status {code}).",
    ),
    "words.reason.unreadable_answer": (
        "Nhà cung cấp {provider} trả lời không đúng định dạng.",
        "The provider {provider} answered in an unexpected form.",
    ),
    "words.reason.bad_phone": (
        "Số điện thoại của cán bộ không đúng dạng 84xxxxxxxxx; cần sửa trong lịch trực.",
        "The officer's phone number is not in 84xxxxxxxxx form; correct it in the roster.",
    ),
    "words.reason.too_long": (
        "Nội dung dài hơn số tin nhắn cho phép của kênh.",
        "The text is longer than the channel allows.",
    ),
    "words.reason.no_template": (
        "Kênh Zalo chưa có mẫu tin cho loại thông báo này.",
        "The Zalo channel has no message template for this kind of notice.",
    ),
    "words.reason.not_applicable": (
        "Kênh này không tới được cán bộ (chưa có Zalo hoặc kênh chưa cài đặt); chuyển sang kênh kế tiếp.",
        "This channel cannot reach the officer (no Zalo, or the channel is not set up); the next one is tried.",
    ),
    "words.reason.template_variable_missing": (
        "Mẫu tin cần một giá trị mà cảnh báo không có.",
        "The message template needs a value the alert does not carry.",
    ),
    "words.reason.template_params_invalid": (
        "Một giá trị của mẫu tin không hợp lệ.",
        "A value of the message template is not valid.",
    ),
    "words.reason.unknown_template": ("Mẫu tin không tồn tại.", "The message template does not exist."),
    "words.reason.unknown_officer": (
        "Cán bộ không còn trong lịch trực.",
        "The officer is no longer on the roster.",
    ),
    "words.reason.unknown_alert": ("Không tìm thấy cảnh báo.", "The alert was not found."),
    "words.reason.unknown_channel": (
        "Kênh gửi không có trong cấu hình.",
        "The channel is not in the configuration.",
    ),
    "words.reason.outcome_unknown": (
        "Bộ gửi dừng giữa lúc gửi; không gửi lại để cán bộ không nhận hai lần.",
        "The sender stopped mid-send; not sent again so the officer does not get it twice.",
    ),
    "words.reason.other": (
        "Nhà cung cấp không nhận tin.",
        "The provider did not take the message.",
    ),
    # channels
    "words.channel.sms": ("tin nhắn SMS qua {provider}", "SMS via {provider}"),
    "words.channel.zalo": ("Zalo (tin ZNS)", "Zalo (ZNS message)"),
    "words.channel.webhook": ("chuyển tới hệ thống {host}", "forwarded to {host}"),
    "words.channel.email": ("thư điện tử", "e-mail"),
    # people
    "words.position.officer": ("cán bộ trực", "duty officer"),
    "words.position.deputy": ("cấp phó", "deputy"),
    "words.position.leader": ("lãnh đạo", "leader"),
    "words.person": ("{name} ({position}, {unit})", "{name} ({position}, {unit})"),
    "words.whole_site": ("toàn địa bàn", "whole site"),
    "words.account": ("tài khoản {user}", "account {user}"),
    "words.via.wall": ("trên màn hình điều hành", "on the wall"),
    "words.via.sms": ("bằng tin nhắn SMS", "by SMS"),
    "words.via.zalo": ("qua Zalo", "on Zalo"),
    "words.via.link": ("qua đường liên kết trong tin nhắn", "through the link in the message"),
    "words.via.webhook": ("từ hệ thống tỉnh", "from the provincial system"),
    "words.via.other": ("qua {via}", "via {via}"),
}
register(STRINGS)

PROVIDERS = {"esms": "eSMS", "speedsms": "SpeedSMS", "zalo": "Zalo", "webhook": "webhook"}


def _provider(raw: str) -> str:
    return PROVIDERS.get(raw.strip().lower(), raw.strip())


# One rule per shape of reason the sender, the outbox and the channels write (ioc/notify): a pattern, and how
# its match becomes a catalogue key and parameters. The first that matches wins; anything else is "other".
_Rule = tuple[re.Pattern[str], Callable[[re.Match[str], "Words", str], tuple[str, dict[str, object]]]]
_RULES: list[_Rule] = [
    (re.compile(r"^not_configured:\s*(?P<names>.+)$"), lambda m, w, lang: ("not_configured", {"names": m["names"]})),
    (re.compile(r"^rate_limited:\s*officer$"), lambda m, w, lang: ("rate_limited_officer", {})),
    (
        re.compile(r"^rate_limited:\s*(?P<channel>\S+)$"),
        lambda m, w, lang: ("rate_limited_channel", {"channel": w.channel(m["channel"], lang)}),
    ),
    (re.compile(r"^alert_resolved$"), lambda m, w, lang: ("alert_resolved", {})),
    (re.compile(r"^alert_acknowledged$"), lambda m, w, lang: ("alert_acknowledged", {})),
    (re.compile(r"^resent_after_interruption$"), lambda m, w, lang: ("resent_after_interruption", {})),
    (
        re.compile(r"^gave up after (?P<n>\d+) attempt\(s\):\s*(?P<why>.*)$", re.S),
        lambda m, w, lang: ("gave_up", {"n": m["n"], "why": w.reason(m["why"], lang)}),
    ),
    (re.compile(r"^timeout\b"), lambda m, w, lang: ("timeout", {})),
    (re.compile(r"^network\b"), lambda m, w, lang: ("network", {})),
    (
        re.compile(r"^auth:\s*(?P<provider>[a-z]+)?"),
        lambda m, w, lang: ("auth", {"provider": _provider(m["provider"] or "zalo")}),
    ),
    (
        re.compile(r"^(?P<provider>[a-z]+):\s*429\b"),
        lambda m, w, lang: ("provider_rate_limited", {"provider": _provider(m["provider"])}),
    ),
    (
        re.compile(r"^(?P<provider>[a-z]+):\s*(?:unexpected )?HTTP (?P<code>\d+)"),
        lambda m, w, lang: ("http", {"provider": _provider(m["provider"]), "code": m["code"]}),
    ),
    (
        re.compile(r"^(?P<provider>[a-z]+):\s*(?:answer is not|error field)"),
        lambda m, w, lang: ("unreadable_answer", {"provider": _provider(m["provider"])}),
    ),
    (
        re.compile(r"^(?P<provider>[a-z]+) status (?P<code>\S+)"),
        lambda m, w, lang: ("not_delivered", {"provider": _provider(m["provider"]), "code": m["code"]}),
    ),
    (
        re.compile(r"^(?P<provider>esms|speedsms|zalo) (?P<code>[^:\s]+)"),
        lambda m, w, lang: ("provider_code", {"provider": _provider(m["provider"]), "code": m["code"]}),
    ),
    (re.compile(r"^bad[ _]phone\b"), lambda m, w, lang: ("bad_phone", {})),
    (re.compile(r"^text does not fit\b"), lambda m, w, lang: ("too_long", {})),
    (re.compile(r"^no ZNS template\b"), lambda m, w, lang: ("no_template", {})),
    (re.compile(r"^not_applicable$"), lambda m, w, lang: ("not_applicable", {})),
    (
        re.compile(
            r"^(?P<code>template_variable_missing|template_params_invalid|unknown_template|unknown_officer"
            r"|unknown_alert|unknown_channel|outcome_unknown)\b"
        ),
        lambda m, w, lang: (m["code"], {}),
    ),
]


@dataclass(frozen=True)
class Words:
    """The site's names for channels, officers and areas, to say the pipeline's records in words."""

    site: SiteConfig

    def reason(self, reason: str, lang: str) -> str:
        """Say why a message was held, moved or given up on, as a sentence in ``lang`` ('' without a reason)."""
        raw = reason.strip()
        if not raw:
            return ""
        for pattern, words in _RULES:
            match = pattern.match(raw)
            if match:
                key, params = words(match, self, lang)
                return t(f"words.reason.{key}", lang, **params)
        return t("words.reason.other", lang)

    def channel(self, channel_id: str | None, lang: str) -> str:
        """Name a channel by what it is: 'tin nhắn SMS qua SpeedSMS', 'Zalo (tin ZNS)'; an unknown id as it is."""
        if not channel_id:
            return "—"
        for c in self.site.channels:
            if c.id != channel_id:
                continue
            # The channel classes live in ioc/notify/channels (one module per type); the fields read here are
            # those of their config models.
            if c.type == "sms_http":
                return t("words.channel.sms", lang, provider=_provider(str(getattr(c, "provider", ""))))
            if c.type == "zalo_zns":
                return t("words.channel.zalo", lang)
            if c.type == "email_smtp":
                return t("words.channel.email", lang)
            if c.type == "webhook":
                host = urlsplit(str(getattr(c, "url", ""))).hostname
                return t("words.channel.webhook", lang, host=host or channel_id)
            return channel_id
        return channel_id

    def officer(self, officer_id: str, lang: str) -> str:
        """Name an officer with position and unit: 'Nguyễn Văn Hùng (cán bộ trực, Mường Chà (huyện cũ))'."""
        officer = next((o for o in self.site.roster.officers if o.id == officer_id), None)
        if officer is None:
            return officer_id
        codes = list(officer.area_codes) or [s.area_code for s in self.site.roster.shifts if s.officer == officer_id]
        names = list(dict.fromkeys(self.area(code, lang) for code in codes))
        unit = ", ".join(names) if names else t("words.whole_site", lang)
        position = t(f"words.position.{officer.position}", lang)
        return t("words.person", lang, name=officer.name, position=position, unit=unit)

    def person(self, who: str | None, lang: str) -> str:
        """Name whoever did something: an officer (replies by SMS or Zalo carry their id) or a wall account."""
        if not who:
            return t("wall.detail.system", lang)
        if any(o.id == who for o in self.site.roster.officers):
            return self.officer(who, lang)
        return t("words.account", lang, user=who)

    def via(self, via: str | None, lang: str) -> str:
        """Say how an alert was acknowledged: 'trên màn hình điều hành', 'bằng tin nhắn SMS'."""
        if via in ("wall", "sms", "zalo", "link", "webhook"):
            return t(f"words.via.{via}", lang)
        return t("words.via.other", lang, via=via or "?")

    def area(self, code: str, lang: str) -> str:
        """Name an area in ``lang`` (its code when the site does not know it)."""
        area = next((a for a in self.site.areas if a.code == code), None)
        if area is None:
            return code
        return (area.name_en or area.name) if lang == "en" else area.name
