"""The wall's web settings: cookies, session lifetimes, the body limit; read once from the environment.

=========================  =========  ==================================================================
variable                   default    meaning
=========================  =========  ==================================================================
IOC_COOKIE_SECURE          0          1: cookies only over HTTPS (set it behind the TLS reverse proxy)
IOC_SESSION_IDLE_MIN       120        a session unused this long ends (not the kiosk's)
IOC_SESSION_MAX_HOURS      12         a session ends this long after sign-in, used or not (not the kiosk's)
IOC_KIOSK_SESSION_DAYS     90         the wall display account's session ends this long after sign-in
IOC_MAX_BODY_BYTES         2097152    a request body above this is refused with 413 before it is read
IOC_TRUSTED_PROXIES        0          reverse proxies in front (their X-Forwarded-For names the client)
IOC_PDF_FONT               DejaVu     the TTF font PDF exports embed (Debian's DejaVu Sans by default)
=========================  =========  ==================================================================
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from ioc.errors import ConfigError, ConfigIssue

logger = logging.getLogger(__name__)

# Debian's fonts-dejavu-core (scripts/system-deps.sh): a TTF with every Vietnamese diacritic.
DEFAULT_PDF_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
_TRUE, _FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True)
class WallSettings:
    """How the wall's web server treats cookies, sessions and request bodies, and the font of its PDF exports."""

    cookie_secure: bool = False
    idle_timeout: timedelta = timedelta(minutes=120)
    absolute_lifetime: timedelta = timedelta(hours=12)
    kiosk_lifetime: timedelta = timedelta(days=90)
    max_body_bytes: int = 2 * 1024 * 1024
    trusted_proxies: int = 0
    pdf_font: Path = DEFAULT_PDF_FONT

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WallSettings:
        """Read the settings from ``env`` (``ioc.settings.Settings.env``); a bad value is a ConfigError naming it."""
        d = cls()
        return cls(
            cookie_secure=_flag(env, "IOC_COOKIE_SECURE", d.cookie_secure),
            idle_timeout=timedelta(minutes=_number(env, "IOC_SESSION_IDLE_MIN", 120, 1, 7 * 24 * 60)),
            absolute_lifetime=timedelta(hours=_number(env, "IOC_SESSION_MAX_HOURS", 12, 1, 24 * 31)),
            kiosk_lifetime=timedelta(days=_number(env, "IOC_KIOSK_SESSION_DAYS", 90, 1, 366)),
            max_body_bytes=_number(env, "IOC_MAX_BODY_BYTES", d.max_body_bytes, 1024, 1024**3),
            trusted_proxies=_number(env, "IOC_TRUSTED_PROXIES", d.trusted_proxies, 0, 5),
            pdf_font=Path(env.get("IOC_PDF_FONT", "").strip() or d.pdf_font).expanduser(),
        )


def _issue(name: str, message: str) -> ConfigError:
    return ConfigError([ConfigIssue("environment", None, name, message)])


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _issue(name, f"{raw!r} is not a switch; give 1 or 0")


def _number(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    text = raw.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 12):
        raise _issue(name, f"{raw[:40]!r} is not a whole number in range; give {low}-{high}")
    value = int(text)
    if not low <= value <= high:
        raise _issue(name, f"{value} is out of range; give {low}-{high}")
    return value
