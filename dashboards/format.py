"""Pure formatting for the wall display: local time, data age, staleness, colours of levels and severities."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from dashboards import strings as _strings  # noqa: F401  (registers the catalog)
from ioc.i18n import t

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DEFAULT_STALE_AFTER_S = 120.0

LEVEL_COLOURS: dict[int, str] = {0: "#2fb36d", 1: "#f2c94c", 2: "#f2913d", 3: "#eb4d4b"}
NO_DATA_COLOUR = "#6b7280"
SEVERITY_COLOURS: dict[str, str] = {
    "info": "#4c9be8",
    "warning": "#f2c94c",
    "major": "#f2913d",
    "critical": "#eb4d4b",
}


def local(at: datetime, tz: ZoneInfo = VN_TZ) -> datetime:
    """Return an aware UTC time in the site's time zone."""
    return at.astimezone(tz)


def format_clock(at: datetime, tz: ZoneInfo = VN_TZ) -> str:
    """Format a time the Vietnamese way: dd/mm/yyyy HH:MM:SS."""
    return local(at, tz).strftime("%d/%m/%Y %H:%M:%S")


def format_opened(opened_at: datetime, now: datetime, lang: str, tz: ZoneInfo = VN_TZ) -> str:
    """Say when an alert opened: 'mở lúc 14:03', with the date when it was not today."""
    when, today = local(opened_at, tz), local(now, tz)
    text = when.strftime("%H:%M") if when.date() == today.date() else when.strftime("%H:%M %d/%m/%Y")
    return t("wall.alert.opened_at", lang, time=text)


def age_seconds(at: datetime | None, now: datetime) -> float | None:
    """Return how many seconds old a timestamp is (never negative), or None without one."""
    if at is None:
        return None
    return max(0.0, (now - at).total_seconds())


def format_age(seconds: float | None, lang: str) -> str:
    """Say how old data is: 'cập nhật 12 giây trước' / 'updated 12 s ago'."""
    if seconds is None:
        return t("wall.age.never", lang)
    if seconds < 90:
        return t("wall.age.seconds", lang, n=int(seconds))
    if seconds < 90 * 60:
        return t("wall.age.minutes", lang, n=round(seconds / 60))
    if seconds < 36 * 3600:
        return t("wall.age.hours", lang, n=round(seconds / 3600))
    return t("wall.age.days", lang, n=round(seconds / 86400))


def stale_after(expected_interval_s: float | None) -> float:
    """Return the age past which data counts as stale: twice the expected interval, or 120 s without one."""
    if expected_interval_s is None or expected_interval_s <= 0:
        return DEFAULT_STALE_AFTER_S
    return 2.0 * expected_interval_s


def is_stale(seconds: float | None, expected_interval_s: float | None = None) -> bool:
    """Return whether data of this age should be shown as a warning (missing data is stale too)."""
    return seconds is None or seconds > stale_after(expected_interval_s)


def level_colour(level: int | None) -> str:
    """Return the colour of an alarm level (0 normal to 3), grey for unknown."""
    return NO_DATA_COLOUR if level is None else LEVEL_COLOURS.get(level, NO_DATA_COLOUR)


def severity_colour(severity: str) -> str:
    """Return the colour of an alert severity."""
    return SEVERITY_COLOURS.get(severity, NO_DATA_COLOUR)
