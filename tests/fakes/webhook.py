"""A receiver for the generic signed webhook: verifies X-IOC-Signature, records each message, and can post
replies.

The scheme is the project's own (ioc/notify/channels/webhook.py): ``t=<unix>,v1=<hex hmac-sha256 of
"{t}.{body}">``.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from aiohttp import web

from ioc.errors import InvalidInput
from ioc.notify.channels.webhook import signature_header, verify_signature
from tests.fakes.base import FakeServer


class WebhookReceiver(FakeServer):
    """Accepts POSTs on any path; a bad or missing signature gets 401 and is not recorded as sent."""

    def __init__(self, *, secret: str = "webhook-secret") -> None:
        super().__init__()
        self.secret = secret

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{tail:.*}", self._receive)

    async def _receive(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self._record_request({"path": request.path, "headers": dict(request.headers), "body": raw})
        failure = self._next_failure()
        if failure is not None:
            answer = await self.generic_failure(failure)
            if answer is not None:
                return answer
            if failure.mode == "bad_request":
                return web.json_response({"error": "unprocessable"}, status=422)
        try:
            verify_signature(self.secret.encode(), request.headers.get("X-IOC-Signature", ""), raw)
        except InvalidInput as exc:
            return web.json_response({"error": exc.reason}, status=401)
        try:
            body: Any = json.loads(raw)
        except ValueError:
            return web.json_response({"error": "not json"}, status=400)
        receipt = secrets.token_hex(8)
        self._record_sent({"id": receipt, "path": request.path, "body": body})
        return web.json_response({"id": receipt})

    async def post_reply(
        self,
        url: str,
        *,
        phone: str | None = None,
        officer_id: str | None = None,
        text: str,
        sign_with: str | None = None,
        at: int | None = None,
    ) -> tuple[int, str]:
        """Post a reply (e.g. "OK 3FA2C1") back to the IOC, signed like outgoing messages."""
        body = json.dumps({"kind": "reply", "phone": phone, "officer_id": officer_id, "text": text}).encode()
        header = signature_header(
            (sign_with or self.secret).encode(), body, at if at is not None else int(time.time())
        )
        return await self.post(
            url, body=body, headers={"Content-Type": "application/json", "X-IOC-Signature": header}
        )
