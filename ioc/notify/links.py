"""Acknowledgement links in messages: ``{IOC_PUBLIC_URL}/a/<token>``, the token naming the alert and the
officer.

The token is ``base64url(alert id bytes + officer id) "." base64url(HMAC-SHA256(secret, "ack:" +
payload)[:16])``: short enough for an SMS, impossible to forge without ``IOC_ACK_LINK_SECRET``, and it says
who acknowledged, so the audit line names the officer whose message carried the link. Opening the link (GET)
only shows a page; the button (POST) acknowledges, because link previewers in chat apps fetch every link they
see.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import uuid
from collections.abc import Mapping

from ioc.errors import InvalidInput

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8090"
_MAC_BYTES = 16
_OFFICER_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, b"ack:" + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def ack_token(alert_id: str, officer_id: str, secret: bytes) -> str:
    """The signed token for one officer acknowledging one alert."""
    if not secret:
        raise ValueError("an acknowledgement link needs a secret (IOC_ACK_LINK_SECRET)")
    payload = uuid.UUID(str(alert_id)).bytes + officer_id.encode()
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def ack_url(base_url: str, alert_id: str, officer_id: str, secret: bytes) -> str:
    """The link put in a message."""
    return f"{base_url.rstrip('/')}/a/{ack_token(alert_id, officer_id, secret)}"


def verify_ack_token(token: str, secret: bytes) -> tuple[str, str]:
    """Return (alert_id, officer_id) of a genuine token; raise InvalidInput("bad_ack_token") otherwise."""
    if not secret:
        raise InvalidInput("bad_ack_token", "acknowledgement links are not configured (IOC_ACK_LINK_SECRET)")
    body, dot, mac = token.partition(".")
    try:
        payload, given = _unb64(body), _unb64(mac)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("bad_ack_token", "the link is damaged") from exc
    if not dot or len(payload) <= 16 or not hmac.compare_digest(given, _mac(secret, payload)):
        raise InvalidInput("bad_ack_token", "the link is not genuine")
    officer = payload[16:].decode("utf-8", "replace")
    if not _OFFICER_RE.match(officer):
        raise InvalidInput("bad_ack_token", "the link names no valid officer")
    return str(uuid.UUID(bytes=payload[:16])), officer


def link_secret(env: Mapping[str, str]) -> bytes:
    """The link secret from IOC_ACK_LINK_SECRET (empty when unset: no links are made or accepted)."""
    return env.get("IOC_ACK_LINK_SECRET", "").encode()


def public_url(env: Mapping[str, str]) -> str:
    """The base URL officers' phones reach (IOC_PUBLIC_URL)."""
    return (env.get("IOC_PUBLIC_URL") or DEFAULT_PUBLIC_URL).rstrip("/")
