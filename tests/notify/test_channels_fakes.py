"""The provider fakes themselves, used from a sync test: each runs in a background thread, validates what it
receives, records accepted messages, and posts callbacks on request."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from tests.fakes import EsmsFake, SpeedSmsFake, WebhookReceiver, ZaloFake


def post_json(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def test_esms_fake_from_a_sync_test() -> None:
    with EsmsFake().threaded() as fake:
        url = f"{fake.base_url}/SendMultipleMessage_V4_post_json/"
        good = {
            "ApiKey": fake.api_key,
            "SecretKey": fake.secret_key,
            "Phone": "84912000101",
            "Content": "Canh bao",
            "Brandname": "UBND-MCHA",
            "SmsType": "2",
            "IsUnicode": "0",
            "RequestId": "r1",
        }
        assert post_json(url, good)[1]["CodeResult"] == "100"
        assert post_json(url, good)[1]["CodeResult"] == "124"  # same RequestId
        assert post_json(url, good | {"RequestId": "r2", "SecretKey": "x"})[1]["CodeResult"] == "101"
        assert post_json(url, good | {"RequestId": "r3", "Brandname": "OTHER"})[1]["CodeResult"] == "104"
        assert post_json(url, good | {"RequestId": "r4", "Phone": "912000101"})[1]["CodeResult"] == "108"
        assert post_json(url, good | {"RequestId": "r5", "Content": "Cảnh báo"})[1]["CodeResult"] == "110"
        fake.fail_next("rate_limit", retry_after=4)
        assert post_json(url, good | {"RequestId": "r6"})[0] == 429
        assert [s["request_id"] for s in fake.sent] == ["r1"] and len(fake.requests) == 7


def test_zalo_fake_rotates_the_refresh_token() -> None:
    with ZaloFake().threaded() as fake:

        def refresh(token: str) -> dict[str, Any]:
            req = urllib.request.Request(
                f"{fake.url}/v4/oa/access_token",
                method="POST",
                headers={"secret_key": fake.secret_key},
                data=f"app_id={fake.app_id}&grant_type=refresh_token&refresh_token={token}".encode(),
            )
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.loads(resp.read())  # type: ignore[no-any-return]

        first = refresh("rt-0")
        assert first["refresh_token"] != "rt-0" and first["expires_in"] == "90000"
        assert refresh("rt-0")["error"] == -14014  # spent
        second = refresh(first["refresh_token"])
        assert second["access_token"] != first["access_token"] and fake.refresh_calls == 3
        send = {
            "phone": "84912000101",
            "template_id": "301004",
            "tracking_id": "t1",
            "template_data": {"code": "ABC123", "title": "Lũ", "area": "Mường Chà", "time": "14:05"},
        }
        assert (
            post_json(f"{fake.url}/message/template", send, {"access_token": first["access_token"]})[1][
                "error"
            ]
            == -124
        )
        assert (
            post_json(f"{fake.url}/message/template", send, {"access_token": second["access_token"]})[1][
                "error"
            ]
            == 0
        )
        bad = send | {"template_data": {"code": "ABC123"}}
        assert (
            post_json(f"{fake.url}/message/template", bad, {"access_token": second["access_token"]})[1][
                "error"
            ]
            == -112
        )
        assert len(fake.sent) == 1 and fake.sent[0]["tracking_id"] == "t1"


class _Sink(BaseHTTPRequestHandler):
    got: ClassVar[list[tuple[str, bytes, dict[str, str]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _Sink.got.append((self.path, body, dict(self.headers)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_fakes_post_callbacks_from_their_thread() -> None:
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{sink.server_address[1]}/cb"
    try:
        with SpeedSmsFake().threaded() as speed, WebhookReceiver().threaded() as hook:
            assert speed.run(speed.post_reply(url, "0912000101", "OK ABC123"))[0] == 200
            assert hook.run(hook.post_reply(url, phone="84912000101", text="OK ABC123"))[0] == 200
    finally:
        sink.shutdown()
    (p1, b1, _), (p2, b2, h2) = _Sink.got[-2:]
    assert p1 == p2 == "/cb"
    assert json.loads(b1) == {"type": "sms", "phone": "0912000101", "content": "OK ABC123"}
    assert json.loads(b2)["text"] == "OK ABC123" and h2["X-IOC-Signature"].startswith("t=")
