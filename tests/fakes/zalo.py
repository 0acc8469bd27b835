"""A fake Zalo: the OA OAuth v4 refresh endpoint and the ZNS template-message endpoint, plus OA webhook
events.

Wire formats as documented by Zalo (https://developers.zalo.me/docs/zalo-notification-service/ and
https://developers.zalo.me/docs/official-account/bat-dau/xac-thuc-va-uy-quyen-cho-ung-dung-new), and as the
public SDKs send them: ``POST /v4/oa/access_token`` (form app_id, grant_type=refresh_token, refresh_token;
header secret_key) answers ``{"access_token", "refresh_token", "expires_in"}`` and rotates the refresh token
(the old one stops working); ``POST /message/template`` (header access_token; JSON phone, template_id,
template_data, tracking_id) answers ``{"error": 0, "message": "Success", "data": {"msg_id", "sent_time",
"quota"}}`` or ``{"error": <negative>, ...}``. Webhook events carry ``X-ZEvent-Signature: mac=sha256(app_id +
body + timestamp + secret)``.

What the fake enforces, so our mistakes show up here rather than at Zalo:
- ``template_data`` holds exactly the parameters the template declares, each no longer than its maximum
  (``DEFAULT_TEMPLATES``: 30 characters for a code or label, as ZNS's parameter types are described in public
  notes; the official table could not be read here), and no empty value: anything else is -112;
- webhook events are signed with the OA secret key (``oa_secret_key``), not the app secret. NOT CONFIRMED
  from an official page: third-party guides (e.g. the Zalo webhook helpers found in public repositories)
  write ``sha256(appId + data + timeStamp + OAsecretKey)``;
- scripted errors that do not clear within minutes: -115 (balance), -133 (outside the allowed hours), -144
  (daily quota), and -220 ("access_token is expired or removed").
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
import time
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeServer

PHONE = re.compile(r"^84\d{9}$")
_ALERT = {"code": 30, "title": 100, "area": 30, "severity": 30, "time": 30}
# template id -> declared parameter -> maximum length (the sample site's templates, configs/muong-cha)
DEFAULT_TEMPLATES: dict[str, dict[str, int]] = {
    "301001": _ALERT,
    "301002": _ALERT,
    "301003": _ALERT,
    "301004": {"code": 30, "title": 100, "area": 30, "time": 30},
}


class ZaloFake(FakeServer):
    """Zalo OAuth + ZNS; ``access_token``/``refresh_token`` are the valid ones; ``refresh_calls`` counts.

    Scripted failure modes besides the generic ones: ``invalid_token`` (-124 once), ``no_zalo`` (-118),
    ``blocked`` (-139, user refused ZNS), ``quota`` (-144 daily quota), ``template`` (-112 bad template data).
    """

    def __init__(
        self,
        *,
        app_id: str = "4291763606161179100",
        secret_key: str = "zalo-app-secret",
        oa_secret_key: str = "zalo-oa-secret",
        refresh_token: str = "rt-0",
        oa_id: str = "1234567890123456789",
        templates: dict[str, dict[str, int]] | None = None,
        expires_in: int = 90000,
    ) -> None:
        super().__init__()
        self.app_id = app_id
        self.secret_key = secret_key
        self.oa_secret_key = oa_secret_key
        self.oa_id = oa_id
        self.refresh_token = refresh_token
        self.access_token: str | None = None
        self.expires_in = expires_in
        self.templates = dict(templates or DEFAULT_TEMPLATES)
        self.no_zalo: set[str] = set()  # phones without a Zalo account
        self.refresh_calls = 0
        self.refresh_delay = 0.0  # seconds the refresh endpoint takes (widens races in tests)
        self.images: dict[str, bytes] = {}  # what /images/<name> serves, as Zalo's CDN serves a follower's photo
        self.oa_sent: list[dict[str, Any]] = []  # OA text messages accepted (user_id, text, message_id)
        self._generation = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v4/oa/access_token", self._refresh)
        app.router.add_post("/message/template", self._send)
        app.router.add_post("/v3.0/oa/message/cs", self._send_oa)
        app.router.add_get("/images/{name}", self._image)

    # --- tokens ---------------------------------------------------------------------------------------------
    def revoke_access_token(self) -> None:
        """Make the current access token invalid (as if it expired at Zalo's side)."""
        with self._lock:
            self.access_token = None

    async def _refresh(self, request: web.Request) -> web.Response:
        form = await request.post()
        with self._lock:
            self.refresh_calls += 1
        if self.refresh_delay:
            await asyncio.sleep(self.refresh_delay)
        if request.headers.get("secret_key") != self.secret_key:
            return web.json_response(
                {
                    "error": -14002,
                    "error_name": "Invalid secret key",
                    "error_reason": "secret_key header does not match the app",
                }
            )
        if form.get("app_id") != self.app_id:
            return web.json_response({"error": -14001, "error_name": "Invalid app id"})
        if form.get("grant_type") != "refresh_token":
            return web.json_response({"error": -14003, "error_name": "Invalid grant type"})
        with self._lock:
            if form.get("refresh_token") != self.refresh_token:
                return web.json_response(
                    {
                        "error": -14014,
                        "error_name": "Invalid refresh token",
                        "error_description": "Refresh token is invalid or has been used",
                    }
                )
            self._generation += 1
            self.access_token = f"at-{self._generation}-{secrets.token_hex(6)}"
            self.refresh_token = f"rt-{self._generation}-{secrets.token_hex(6)}"
            answer = {
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "expires_in": str(self.expires_in),
            }
        return web.json_response(answer)

    # --- ZNS ------------------------------------------------------------------------------------------------
    async def _send(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        token = request.headers.get("access_token")
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        self._record_request({"headers": dict(request.headers), "body": body})
        failure = self._next_failure()
        if failure is not None:
            answer = await self.generic_failure(failure)
            if answer is not None:
                return answer
            special = {
                "invalid_token": (-124, "Access token is invalid"),
                "token_removed": (-220, "access_token is expired or removed"),
                "balance": (-115, "Out of quota"),
                "hours": (-133, "Sending time is not allowed"),
                "no_zalo": (-118, "Zalo account does not exist"),
                "blocked": (-139, "User refused to receive ZNS messages from this OA"),
                "quota": (-144, "OA has exceeded the daily quota"),
                "template": (-112, "Template data is invalid"),
            }.get(failure.mode)
            if special is not None:
                return _error(*special)
        with self._lock:
            valid = token is not None and token == self.access_token
        if not valid:
            return _error(-124, "Access token is invalid")
        if not isinstance(body, dict):
            return _error(-121, "Body data is empty or not JSON")
        phone, template_id, data = body.get("phone"), body.get("template_id"), body.get("template_data")
        if not isinstance(phone, str) or not PHONE.match(phone):
            return _error(-108, "Phone number is invalid")
        if template_id not in self.templates:
            return _error(-109, "Template ID is invalid")
        if not isinstance(data, dict) or not data:
            return _error(-111, "Template data is empty")
        problem = self.template_problem(str(template_id), data)
        if problem:
            return _error(-112, f"Template data is invalid: {problem}")
        if not isinstance(body.get("tracking_id"), str) or not body["tracking_id"]:
            return _error(-100, "tracking_id is required by this OA's integration")
        if phone in self.no_zalo:
            return _error(-118, "Zalo account does not exist")
        msg_id = secrets.token_hex(10)
        self._record_sent(
            {
                "msg_id": msg_id,
                "phone": phone,
                "template_id": template_id,
                "template_data": data,
                "tracking_id": body["tracking_id"],
                "mode": body.get("mode"),
            }
        )
        return web.json_response(
            {
                "error": 0,
                "message": "Success",
                "data": {
                    "msg_id": msg_id,
                    "sent_time": str(int(time.time() * 1000)),
                    "sending_mode": "1",
                    "quota": {"dailyQuota": "500", "remainingQuota": str(500 - len(self.sent))},
                },
            }
        )

    # --- OA messages to a follower (consultation messages) -------------------------------------------------
    async def _send_oa(self, request: web.Request) -> web.StreamResponse:
        """``POST /v3.0/oa/message/cs``: JSON ``recipient.user_id``, ``message.text`` (at most 2,000 characters,
        as SDKs and integrations state; _unconfirmed_ against an official page), header ``access_token``;
        answers ``{"error": 0, "message": "Success", "data": {"message_id", "user_id"}}``."""
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        self._record_request({"headers": dict(request.headers), "body": body, "path": request.path})
        failure = self._next_failure()
        if failure is not None:
            answer = await self.generic_failure(failure)
            if answer is not None:
                return answer
            if failure.mode == "invalid_token":
                return _error(-216, "Access token is invalid")
            if failure.mode == "not_follower":
                return _error(-213, "User has not followed the OA")
        with self._lock:
            valid = request.headers.get("access_token") is not None and (
                request.headers.get("access_token") == self.access_token
            )
        if not valid:
            return _error(-216, "Access token is invalid")
        if not isinstance(body, dict):
            return _error(-201, "Parameters are invalid")
        recipient, message = body.get("recipient"), body.get("message")
        user = recipient.get("user_id") if isinstance(recipient, dict) else None
        text = message.get("text") if isinstance(message, dict) else None
        if not isinstance(user, str) or not user.isdigit():
            return _error(-201, "user_id is invalid")
        if not isinstance(text, str) or not text or len(text) > 2000:
            return _error(-201, "text is empty or longer than 2000 characters")
        message_id = secrets.token_hex(16)
        with self._lock:
            self.oa_sent.append({"user_id": user, "text": text, "message_id": message_id})
        return web.json_response({"error": 0, "message": "Success",
                                  "data": {"message_id": message_id, "user_id": user}})

    async def _image(self, request: web.Request) -> web.StreamResponse:
        data = self.images.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="image/jpeg")

    def oa_texts(self, user_id: str) -> list[str]:
        """The OA texts accepted for one follower, in order."""
        with self._lock:
            return [m["text"] for m in self.oa_sent if m["user_id"] == user_id]

    def user_event(
        self, name: str, user_id: str, message: dict[str, Any], *, at: float | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """A follower's signed event: ``user_send_text`` / ``user_send_image`` / ``user_send_location``, shaped
        as Zalo sends them (message.text; message.attachments[] with payload.url, or payload.coordinates with
        latitude and longitude as strings)."""
        return self.signed_event(
            {
                "event_name": name,
                "sender": {"id": user_id},
                "recipient": {"id": self.oa_id},
                "user_id_by_app": "7" + user_id[-15:],
                "message": {"msg_id": secrets.token_hex(10), **message},
            },
            at=at,
        )

    def text_event(self, user_id: str, text: str, **kw: Any) -> tuple[bytes, dict[str, str]]:
        """``user_send_text``."""
        return self.user_event("user_send_text", user_id, {"text": text}, **kw)

    def image_event(self, user_id: str, *names: str, **kw: Any) -> tuple[bytes, dict[str, str]]:
        """``user_send_image`` with photos this fake serves at /images/<name>."""
        attachments = [
            {"type": "image", "payload": {"url": f"{self.url}/images/{n}", "thumbnail": f"{self.url}/images/{n}"}}
            for n in names
        ]
        return self.user_event("user_send_image", user_id, {"attachments": attachments}, **kw)

    def location_event(self, user_id: str, lon: float, lat: float, **kw: Any) -> tuple[bytes, dict[str, str]]:
        """``user_send_location``."""
        payload = {"coordinates": {"latitude": str(lat), "longitude": str(lon)}}
        return self.user_event(
            "user_send_location", user_id, {"text": "", "attachments": [{"type": "location", "payload": payload}]},
            **kw,
        )

    def template_problem(self, template_id: str, data: dict[str, Any]) -> str | None:
        """Why ZNS would refuse ``data`` for the template (missing, unknown, over-long values), or None."""
        declared = self.templates[template_id]
        missing = [k for k in declared if not isinstance(data.get(k), str) or not data[k]]
        if missing:
            return f"missing {', '.join(missing)}"
        unknown = sorted(set(data) - set(declared))
        if unknown:
            return f"unknown parameter {', '.join(unknown)}"
        long = [k for k, n in declared.items() if len(data[k]) > n]
        if long:
            return f"{', '.join(long)} longer than allowed"
        return None

    # --- webhook events (delivery and user replies) ---------------------------------------------------------
    def signed_event(self, event: dict[str, Any], *, at: float | None = None) -> tuple[bytes, dict[str, str]]:
        """Body and headers of an OA webhook event, signed with the OA secret key; ``at``: unix seconds."""
        timestamp = str(int((time.time() if at is None else at) * 1000))
        event = {"app_id": self.app_id, "timestamp": timestamp, **event}
        body = json.dumps(event, ensure_ascii=False).encode()
        mac = hashlib.sha256(
            (self.app_id + body.decode() + timestamp + self.oa_secret_key).encode()
        ).hexdigest()
        return body, {"Content-Type": "application/json", "X-ZEvent-Signature": f"mac={mac}"}

    async def post_delivery(self, url: str, msg_id: str, phone: str) -> tuple[int, str]:
        """Tell ``url`` that ZNS message ``msg_id`` reached the phone (event user_received_message)."""
        body, headers = self.signed_event(
            {
                "event_name": "user_received_message",
                "sender": {"id": self.oa_id},
                "recipient": {"id": phone},
                "message": {"msg_id": msg_id, "delivery_time": str(int(time.time() * 1000))},
            }
        )
        return await self.post(url, body=body, headers=headers)

    async def post_reply(self, url: str, user_id: str, text: str) -> tuple[int, str]:
        """Post a user's text message to the OA (event user_send_text)."""
        body, headers = self.signed_event(
            {
                "event_name": "user_send_text",
                "sender": {"id": user_id},
                "recipient": {"id": self.oa_id},
                "message": {"text": text, "msg_id": secrets.token_hex(10)},
            }
        )
        return await self.post(url, body=body, headers=headers)


def _error(code: int, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message})
