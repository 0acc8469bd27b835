"""A fake SpeedSMS (speedsms.vn) gateway: POST /index.php/sms/send with HTTP basic auth, and its webhook
posts.

Format from https://speedsms.vn/sms-api/ and its sample code: basic auth with the access token as user name
and "x" as password; JSON ``to`` (list of numbers), ``content``, ``sms_type`` (2 random number, 3 brandname, 4
default brandname, 5 Android app), ``sender``; answer ``{"status": "success", "code": "00", "data": {"tranId",
"totalSMS", "totalPrice", "invalidPhone"}}`` or ``{"status": "error", "code": "105", "message": ...}``; over
60 requests a minute HTTP 429 with X-Rate-Limit-Reset. Webhook posts are JSON: ``{"type": "report", "tranId",
"phone", "status"}`` (status 0 delivered) and ``{"type": "sms", "phone", "content"}`` for an inbound message.

Enforced, so our mistakes show up here: at most ``RATE_LIMIT`` (60) requests in any ``RATE_WINDOW_S`` (60 s),
then HTTP 429 with ``X-Rate-Limit-Reset`` (seconds until a request is allowed again; speedsms.vn/sms-api says
"60 requests per 60 seconds" and names the header, it does not say whether the value is seconds or an epoch);
``sms_type`` 8 (two-way) only from a rented two-way number (``two_way_numbers``), the only SpeedSMS type a
recipient can answer. NOT CONFIRMED from a stored primary source: the webhook payloads and the exact
``sms_type`` 8 sender semantics come from SpeedSMS's dashboard help as quoted in issue 13.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections import deque
from typing import Any

from aiohttp import web

from ioc.notify.sms_text import segments
from tests.fakes.base import FakeServer

PHONE = re.compile(r"^(84|0)\d{9}$")
RATE_LIMIT, RATE_WINDOW_S = 60, 60.0


class SpeedSmsFake(FakeServer):
    """SpeedSMS; a channel's base_url points at ``base_url``. Extra failure mode: ``auth`` (HTTP 401)."""

    def __init__(
        self,
        *,
        access_token: str = "speedsms-token",
        senders: tuple[str, ...] = ("IOC-DB",),
        two_way_numbers: tuple[str, ...] = ("84901234567",),
    ) -> None:
        super().__init__()
        self.access_token = access_token
        self.senders = set(senders)
        self.two_way_numbers = set(two_way_numbers)
        self._recent: deque[float] = deque()  # times of the requests in the current window
        self._tran = 100_000

    @property
    def base_url(self) -> str:
        """The value for the channel's base_url."""
        return f"{self.url}/index.php"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/index.php/sms/send", self._send)

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, _ = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.access_token

    async def _send(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        self._record_request({"headers": dict(request.headers), "body": body})
        now = time.monotonic()
        with self._lock:
            while self._recent and now - self._recent[0] >= RATE_WINDOW_S:
                self._recent.popleft()
            over = len(self._recent) >= RATE_LIMIT
            reset = RATE_WINDOW_S - (now - self._recent[0]) if over else 0.0
            if not over:
                self._recent.append(now)
        if over:
            return web.json_response(
                {"name": "Too Many Requests", "message": "Rate limit exceeded.", "code": 0, "status": 429},
                status=429,
                headers={"X-Rate-Limit-Reset": str(max(1, round(reset)))},
            )
        failure = self._next_failure()
        if failure is not None:
            if failure.mode == "rate_limit":
                reset = str(int(failure.retry_after if failure.retry_after is not None else 1))
                return web.json_response(
                    {
                        "name": "Too Many Requests",
                        "message": "Rate limit exceeded.",
                        "code": 0,
                        "status": 429,
                    },
                    status=429,
                    headers={"X-Rate-Limit-Reset": reset, "Retry-After": reset},
                )
            answer = await self.generic_failure(failure)
            if answer is not None:
                return answer
            if failure.mode == "auth":
                return web.json_response(
                    {"status": "error", "code": "401", "message": "Unauthorized"}, status=401
                )
        if not self._authorised(request):
            return web.json_response(
                {"status": "error", "code": "401", "message": "Unauthorized"}, status=401
            )
        if not isinstance(body, dict):
            return _error("101", "Invalid or missing parameters")
        to = body.get("to")
        phones = to if isinstance(to, list) else [to]
        content, sms_type, sender = body.get("content"), body.get("sms_type"), body.get("sender")
        if not phones or not isinstance(content, str) or not content or sms_type not in (2, 3, 4, 5, 8):
            return _error("101", "Invalid or missing parameters")
        if sms_type == 8 and sender not in self.two_way_numbers:
            return _error("101", "Invalid or missing parameters: sender is not a two-way number")
        if sms_type == 3 and sender not in self.senders:
            return _error("101", "Invalid or missing parameters: sender is not a registered brandname")
        bad = [p for p in phones if not isinstance(p, str) or not PHONE.match(p)]
        if bad:
            return web.json_response(
                {"status": "error", "code": "105", "message": "Phone number invalid", "invalidPhone": bad}
            )
        if segments(content) > 8:
            return _error("113", "Sms content too long")
        with self._lock:
            self._tran += 1
            tran = self._tran
        for phone in phones:
            self._record_sent(
                {"tran_id": tran, "phone": phone, "content": content, "sms_type": sms_type, "sender": sender}
            )
        return web.json_response(
            {
                "status": "success",
                "code": "00",
                "data": {
                    "tranId": tran,
                    "totalSMS": len(phones) * segments(content),
                    "totalPrice": 250 * len(phones),
                    "invalidPhone": [],
                },
            }
        )

    async def post_delivery(
        self, url: str, tran_id: int, phone: str, *, delivered: bool = True
    ) -> tuple[int, str]:
        """Post a delivery report to the account's webhook URL."""
        return await self.post(
            url,
            json_body={"type": "report", "tranId": tran_id, "phone": phone, "status": 0 if delivered else 1},
        )

    async def post_reply(self, url: str, phone: str, content: str) -> tuple[int, str]:
        """Post an inbound SMS to the account's webhook URL."""
        return await self.post(url, json_body={"type": "sms", "phone": phone, "content": content})


def _error(code: str, message: str) -> web.Response:
    return web.json_response({"status": "error", "code": code, "message": message})
