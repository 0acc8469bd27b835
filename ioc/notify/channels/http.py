"""The HTTP client side shared by the channel adapters: one aiohttp session per channel, timeouts, and the
provider-independent reading of an HTTP answer (429 → retry after, 5xx → retry, 401/403 → failed "auth: ...").

Nothing here raises for network trouble: a timeout or a refused connection becomes ``SendStatus.RETRY``.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ioc.errors import InvalidInput
from ioc.notify.channels.base import SendResult, SendStatus

if TYPE_CHECKING:
    import aiohttp

logger = logging.getLogger(__name__)

PHONE_RE = re.compile(r"^84(3|5|7|8|9)\d{8}$")


@dataclass(frozen=True)
class HttpAnswer:
    """A provider's HTTP answer, read in full."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class HttpClient:
    """A lazily created aiohttp session with a total timeout per request.

    aiohttp itself is imported on first use: the site config reads every channel module for its config table,
    and importing aiohttp costs about a second that ``ioc config validate`` and every process would pay.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The session, created in the running loop on first use."""
        import aiohttp  # lazy: see the class docstring

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        return self._session

    async def request(self, method: str, url: str, *, what: str, **kwargs: Any) -> HttpAnswer | SendResult:
        """Send one request; a network problem comes back as a RETRY result naming ``what`` was attempted."""
        import aiohttp  # lazy: see the class docstring

        try:
            async with self.session().request(method, url, **kwargs) as resp:
                body = await resp.read()
                return HttpAnswer(resp.status, {k: v for k, v in resp.headers.items()}, body)
        except TimeoutError:
            logger.warning("%s: no answer within %.1f s", what, self.timeout_s)
            return SendResult(SendStatus.RETRY, reason=f"timeout: no answer within {self.timeout_s:g} s")
        except aiohttp.ClientError as exc:
            logger.warning("%s: %s", what, exc)
            return SendResult(SendStatus.RETRY, reason=f"network: {type(exc).__name__}: {exc}"[:300])

    async def close(self) -> None:
        """Close the session."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
            # Give the connector a moment to close its transports (aiohttp's documented graceful shutdown).
            await asyncio.sleep(0)


def load_json(body: bytes, channel_id: str) -> Any:
    """A callback body as JSON; not JSON, or nested past the parser's depth, is ``malformed_callback``.

    Issue 12, hole 11: 100,000-deep JSON raised RecursionError out of ``json.loads`` (a 500 on the callbacks
    server, before Zalo's signature check could even run).
    """
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(
            "malformed_callback", f"channel {channel_id}: body is not JSON (or nested too deeply)"
        ) from exc


def as_object(value: object) -> dict[str, Any]:
    """A JSON value that should be an object, or an empty one when it is not."""
    return value if isinstance(value, dict) else {}


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from Retry-After (seconds or an HTTP date) or X-Rate-Limit-Reset; None if absent."""
    for name in ("Retry-After", "X-Rate-Limit-Reset", "retry-after", "x-rate-limit-reset"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value)
            # SpeedSMS's X-Rate-Limit-Reset is not documented as seconds or an epoch; a number past 10^9 can
            # only be an epoch, and waiting that many seconds would stop the channel for decades.
            if seconds > 1e9:
                seconds -= time.time()
            return min(3600.0, max(0.0, seconds))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value) if value else None
            if parsed is not None:
                return max(0.0, parsed.timestamp() - time.time())
    return None


def classify_http(answer: HttpAnswer, provider: str) -> SendResult | None:
    """The result for an HTTP status that says enough by itself; None when the body must be read."""
    snippet = answer.body[:200].decode("utf-8", "replace")
    if answer.status == 429:
        return SendResult(
            SendStatus.RETRY,
            reason=f"{provider}: 429 rate limited",
            retry_after_s=retry_after(answer.headers),
        )
    if answer.status >= 500:
        return SendResult(SendStatus.RETRY, reason=f"{provider}: HTTP {answer.status}: {snippet}")
    if answer.status in (401, 403):
        return SendResult(SendStatus.FAILED, reason=f"auth: {provider} HTTP {answer.status}: {snippet}")
    if answer.status >= 400:
        return SendResult(SendStatus.FAILED, reason=f"{provider}: HTTP {answer.status}: {snippet}")
    return None


def not_configured(missing: list[str]) -> SendResult:
    """The answer of a channel whose secrets are missing from the environment."""
    return SendResult(SendStatus.NOT_APPLICABLE, reason=f"not_configured: {', '.join(missing)}")


def callback_token(secret: str, channel_id: str) -> str:
    """The token in a channel's callback URL, for providers that do not sign their callbacks."""
    return hmac.new(secret.encode(), f"ioc-callback:{channel_id}".encode(), hashlib.sha256).hexdigest()[:32]


def check_callback_token(secret: str, channel_id: str, query: Mapping[str, str]) -> bool:
    """Whether the callback came to the URL we gave the provider."""
    return hmac.compare_digest(query.get("sig", ""), callback_token(secret, channel_id))


def normalise_phone(raw: str) -> str:
    """84xxxxxxxxx from what a gateway reports (0912..., +84912..., 84912...)."""
    digits = re.sub(r"\D", "", raw)
    if digits.startswith("0"):
        digits = "84" + digits[1:]
    return digits
