"""Station webhook: who may post, what each failure answers, what reaches the bus; one run over real HTTP."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from ingest.dedup import DedupEmit
from ingest.flood import StationLimits
from ingest.webhook import StationSecrets, load_secrets, make_app, make_server, sign
from ioc.config import load_site
from ioc.errors import SinkUnavailable
from ioc.events import DeadLetter, Event, SensorReading

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
TOKEN = "tok-NS01-8f3a"
KEY = "hmac-key-MP01-77c1"
STATIONS = {
    "NS-01": StationLimits("NS-01", {"water_level_m": (0.0, 15.0)}),
    "MP-01": StationLimits("MP-01", {"water_level_m": (-1.0, 15.0)}),
    "NN-01": StationLimits("NN-01"),
}
SECRETS = {"NS-01": StationSecrets(token=TOKEN), "MP-01": StationSecrets(token="tok-MP01", hmac_key=KEY)}
BODY = b'{"ts": "2026-11-22T08:59:00+07:00", "water_level_m": 2.5, "rainfall_mm": 0.4}'
URL = "/api/v1/stations/{}/readings"


@pytest.fixture
def emitted() -> list[Event]:
    return []


@pytest.fixture
def app(emitted: list[Event]) -> Flask:
    return make_app(STATIONS, SECRETS, emitted.append, clock=lambda: NOW)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def signed(body: bytes, at: datetime = NOW, key: str = KEY) -> dict[str, str]:
    ts = int(at.timestamp())
    return {"X-IOC-Timestamp": str(ts), "X-IOC-Signature": sign(key, ts, body)}


def test_token_accepted(client: FlaskClient, emitted: list[Event]) -> None:
    resp = client.post(URL.format("NS-01"), data=BODY, headers=bearer(TOKEN))
    assert resp.status_code == 202, resp.json
    [event] = emitted
    assert isinstance(event, SensorReading)
    assert event.station_id == "NS-01" and event.source == "webhook"
    assert event.values == {"water_level_m": 2.5, "rainfall_mm": 0.4}
    assert resp.json == {"status": "accepted", "event_id": str(event.event_id)}


def test_hmac_accepted(client: FlaskClient, emitted: list[Event]) -> None:
    resp = client.post(URL.format("MP-01"), data=BODY, headers=signed(BODY))
    assert resp.status_code == 202, resp.json
    assert isinstance(emitted[0], SensorReading) and emitted[0].station_id == "MP-01"


@pytest.mark.parametrize(
    ("station", "headers", "status"),
    [
        ("NS-01", {}, 401),
        ("NS-01", {"Authorization": f"Basic {TOKEN}"}, 401),
        ("NS-01", {"Authorization": "Bearer "}, 401),
        ("NS-01", bearer("wrong"), 403),
        ("NS-01", bearer(TOKEN[:-1]), 403),
        ("MP-01", bearer(TOKEN), 403),  # another station's token
        ("NS-01", signed(BODY), 401),  # NS-01 has no HMAC key
        ("NN-01", bearer(TOKEN), 401),  # no secret set for NN-01
        ("MP-01", signed(BODY, key="other-key"), 403),
        ("MP-01", signed(BODY + b" "), 403),  # signature of another body
        ("MP-01", signed(BODY, at=NOW - timedelta(minutes=6)), 403),
        ("MP-01", signed(BODY, at=NOW + timedelta(minutes=6)), 403),
        ("MP-01", {**signed(BODY), "X-IOC-Timestamp": "soon"}, 401),
        ("MP-01", {"X-IOC-Signature": signed(BODY)["X-IOC-Signature"]}, 401),
        ("MP-01", {**signed(BODY), "X-IOC-Signature": "md5=abc"}, 401),
    ],
)
def test_unauthenticated_posts_are_logged_and_dropped(
    client: FlaskClient, emitted: list[Event], caplog: pytest.LogCaptureFixture, station: str,
    headers: dict[str, str], status: int,
) -> None:
    with caplog.at_level(logging.WARNING, logger="ingest.webhook"):
        resp = client.post(URL.format(station), data=BODY, headers=headers,
                           environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert resp.status_code == status
    assert resp.json is not None and resp.json["error"] in ("unauthenticated", "forbidden")
    assert emitted == []  # not even a dead letter
    assert "203.0.113.9" in caplog.text and station in caplog.text
    assert TOKEN not in caplog.text and KEY not in caplog.text
    if status == 401:
        assert resp.headers["WWW-Authenticate"] == "Bearer"


def test_signed_timestamp_within_five_minutes_is_accepted(client: FlaskClient) -> None:
    resp = client.post(URL.format("MP-01"), data=BODY, headers=signed(BODY, at=NOW - timedelta(minutes=4)))
    assert resp.status_code == 202


def test_unknown_station_is_401_without_a_dead_letter(client: FlaskClient, emitted: list[Event]) -> None:
    # Not 404: that would let anyone list the station ids (issue 12, hole 11).
    resp = client.post(URL.format("XX-99"), data=BODY, headers=bearer(TOKEN))
    assert resp.status_code == 401 and resp.json is not None and resp.json["error"] == "unauthenticated"
    assert emitted == []


def test_oversized_body_is_413_without_a_dead_letter(client: FlaskClient, emitted: list[Event]) -> None:
    body = b'{"ts": 1, "pad": "' + b"x" * 20_000 + b'"}'
    resp = client.post(URL.format("NS-01"), data=body, headers=bearer(TOKEN))
    assert resp.status_code == 413 and resp.json is not None and resp.json["error"] == "too_large"
    assert emitted == []


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"{not json", 400, "malformed_json"),
        (b"[1, 2]", 400, "malformed_json"),
        (b'{"ts": "2026-11-22T08:59:00+07:00", "water_level_m": 99}', 422, "out_of_range"),
        (b'{"ts": "2026-11-22T08:59:00+07:00", "water_level_cm": 2}', 422, "invalid_field"),
        (b'{"water_level_m": 2}', 422, "invalid_field"),
        (b'{"ts": "2026-11-22T12:00:00+07:00", "water_level_m": 2}', 422, "clock_skew"),
    ],
)
def test_bad_bodies_from_a_known_station_become_dead_letters(
    client: FlaskClient, emitted: list[Event], body: bytes, status: int, reason: str,
) -> None:
    resp = client.post(URL.format("NS-01"), data=body, headers=bearer(TOKEN))
    assert resp.status_code == status
    assert resp.json is not None and resp.json["error"] == reason
    [dead] = emitted
    assert isinstance(dead, DeadLetter)
    assert (dead.source, dead.reason, dead.payload) == ("webhook:NS-01", reason, body.decode())


def test_unreachable_bus_asks_the_station_to_retry() -> None:
    def down(_event: Event) -> None:
        raise SinkUnavailable("no broker")

    client = make_app(STATIONS, SECRETS, down, clock=lambda: NOW).test_client()
    resp = client.post(URL.format("NS-01"), data=BODY, headers=bearer(TOKEN))
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "30"


def test_a_resent_reading_reaches_the_bus_once() -> None:
    emitted: list[Event] = []
    client = make_app(STATIONS, SECRETS, DedupEmit(emitted.append), clock=lambda: NOW).test_client()
    for _ in range(3):
        assert client.post(URL.format("NS-01"), data=BODY, headers=bearer(TOKEN)).status_code == 202
    assert len(emitted) == 1


def test_other_methods_and_paths_answer_json(client: FlaskClient) -> None:
    resp = client.get(URL.format("NS-01"))
    assert resp.status_code == 405 and resp.json is not None and "error" in resp.json
    assert client.get("/healthz").json == {"status": "ok"}


def test_secrets_come_from_the_variables_the_config_names() -> None:
    site = load_site("configs/muong-cha")
    env = {"IOC_STATION_TOKEN_NS_01": "a", "IOC_STATION_HMAC_MP_01": "b", "IOC_STATION_TOKEN_NN_01": ""}
    secrets = load_secrets(site.flood_stations, env)
    assert secrets == {"NS-01": StationSecrets(token="a"), "MP-01": StationSecrets(hmac_key="b")}
    assert "a" not in repr(secrets["NS-01"]).replace("hmac_key", "").replace("StationSecrets", "")


# --- real HTTP through waitress


@pytest.fixture
def served(emitted: list[Event]) -> Iterator[str]:
    app = make_app(STATIONS, SECRETS, emitted.append)  # the real clock: the stations below send the time now
    server = make_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=5)


def test_real_http_requests_through_waitress(served: str, emitted: list[Event]) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    body = orjson.dumps({"ts": now.isoformat(), "water_level_m": 1.25})
    url = served + URL.format("MP-01")
    kwargs: dict[str, Any] = {"timeout": 5}
    ok_token = requests.post(url, data=body, headers=bearer("tok-MP01"), **kwargs)
    body2 = orjson.dumps({"ts": (now - timedelta(minutes=5)).isoformat(), "water_level_m": 1.2})
    ok_hmac = requests.post(url, data=body2, headers=signed(body2, at=datetime.now(UTC)), **kwargs)
    forbidden = requests.post(url, data=body, headers=bearer("guess"), **kwargs)
    too_big = requests.post(url, data=b"x" * 70_000, headers=bearer("tok-MP01"), **kwargs)
    chunked = requests.post(url, data=iter([b"x" * 10_000] * 3), headers=bearer("tok-MP01"), **kwargs)
    missing = requests.post(served + URL.format("ZZ-01"), data=body, **kwargs)
    assert [r.status_code for r in (ok_token, ok_hmac, forbidden, too_big, chunked, missing)] == [
        202, 202, 403, 413, 413, 401]
    assert forbidden.headers["Content-Type"] == "application/json"
    deadline = time.monotonic() + 2
    while len(emitted) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [type(e) for e in emitted] == [SensorReading, SensorReading]
    assert [e.values["water_level_m"] for e in emitted if isinstance(e, SensorReading)] == [1.25, 1.2]


# --- the command line


def test_webhook_command_refuses_to_start_without_any_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from ioc.app.cli.ingest import app as cli

    for name in ("IOC_STATION_TOKEN_NS_01", "IOC_STATION_TOKEN_MT_01", "IOC_STATION_TOKEN_MP_01",
                 "IOC_STATION_HMAC_MP_01", "IOC_STATION_TOKEN_NN_01"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(cli, ["webhook", "--site", "configs/muong-cha", "--lang", "en"])
    assert result.exit_code == 1
    assert "No station has its authentication secret" in result.output
    assert "IOC_STATION_HMAC_MP_01" in result.output


def test_sensor_strings_have_both_languages_with_the_same_placeholders() -> None:
    import string

    import ioc.app.cli.ingest  # noqa: F401  (registers the strings)
    from ioc import i18n

    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    ours = {k: v for k, v in i18n.catalog().items() if k.startswith("sensors.")}
    assert len(ours) >= 5
    assert all(fields(vi) == fields(en) for vi, en in ours.values())
