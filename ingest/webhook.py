"""Stations that post their readings over HTTP: ``POST /api/v1/stations/<station_id>/readings``.

The body is the same JSON as an MQTT station message (``ingest.flood``)::

    {"ts": "2026-11-22T09:00:00+07:00", "water_level_m": 1.82, "rainfall_mm": 0.4}

Each request proves which station sent it, with either

* ``Authorization: Bearer <token>`` (the token in the variable ``auth.token_env`` names), or
* ``X-IOC-Timestamp: <Unix seconds>`` and ``X-IOC-Signature: sha256=<hex>``, the HMAC-SHA256, keyed with the
  value of ``auth.hmac_env``, of ``<timestamp>.<raw body>``. The timestamp is signed with the body so a
  captured request cannot be replayed later with a fresh timestamp; it must be within 5 minutes of the
  server clock.

Answers (JSON ``{"error": code, "detail": text}`` on failure):

* 202 accepted, with the reading's ``event_id``;
* 400 body is not a JSON object (dead letter ``malformed_json``);
* 401 no usable credentials, or a station this site does not have (the same answer, so station ids cannot be
  listed from outside); 403 credentials rejected: logged with the remote address, **not** a dead letter,
  so nobody can fill the dead-letter table from outside;
* 413 body over 16 KiB (not a dead letter: nothing was authenticated). A declared ``Content-Length`` over the
  limit is refused by waitress before the body is read; a chunked body is cut off at the limit;
* 422 a field is wrong, out of range or the time is off (dead letter with its reason);
* 503 the event bus is unreachable: send again later.

Dead letters carry the source ``webhook:<station_id>``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ingest.flood import MAX_PAYLOAD, FloodTopics, StationLimits, parse_reading
from ioc.config.models import FloodStation
from ioc.errors import InvalidInput, SinkUnavailable
from ioc.events import DeadLetter, Event, utcnow

logger = logging.getLogger(__name__)

SOURCE = "webhook"
SIGNATURE_HEADER = "X-IOC-Signature"
TIMESTAMP_HEADER = "X-IOC-Timestamp"
MAX_CLOCK_DIFF = timedelta(minutes=5)
# Unix seconds need 10 digits until 2286; a longer value is refused before int() (issue 12, hole 8).
MAX_TIMESTAMP_DIGITS = 12
# parse_reading reads the station from an MQTT-style topic; the webhook builds one from the URL.
_URL_SCHEME = FloodTopics(site_id="webhook", prefix="http")


@dataclass(frozen=True)
class StationSecrets:
    """The secrets one station may authenticate with; None for a method it does not use."""

    token: str | None = None
    hmac_key: str | None = None

    def __repr__(self) -> str:  # never print a secret in a log or a traceback
        token, key = ("set" if v else None for v in (self.token, self.hmac_key))
        return f"StationSecrets(token={token}, hmac_key={key})"


def load_secrets(
    stations: list[FloodStation], env: Mapping[str, str]
) -> dict[str, StationSecrets]:
    """Read each station's secrets from the variables its config names; a station with none is left out."""
    out: dict[str, StationSecrets] = {}
    for st in stations:
        token = env.get(st.auth.token_env) if st.auth.token_env else None
        key = env.get(st.auth.hmac_env) if st.auth.hmac_env else None
        if token or key:
            out[st.id] = StationSecrets(token=token or None, hmac_key=key or None)
        else:
            logger.warning("station %s: none of %s is set; its posts will be refused", st.id,
                           ", ".join(n for n in (st.auth.token_env, st.auth.hmac_env) if n))
    return out


def sign(key: str, timestamp: int | str, body: bytes) -> str:
    """Return the ``X-IOC-Signature`` value a station sends with ``body`` at ``timestamp``."""
    digest = hmac.new(key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class _AuthFailed(Exception):
    def __init__(self, status: int, log_reason: str) -> None:
        self.status = status
        self.log_reason = log_reason
        super().__init__(log_reason)


def check_auth(secrets: StationSecrets | None, headers: Mapping[str, str], body: bytes, now: datetime) -> str:
    """Return the method that authenticated the request ("token" or "hmac"); else raise ``_AuthFailed``."""
    if secrets is None:
        raise _AuthFailed(401, "no secret is configured for this station")
    headers = {k.lower(): v for k, v in headers.items()}  # HTTP header names are case-insensitive
    auth = headers.get("authorization", "")
    signature = headers.get(SIGNATURE_HEADER.lower())
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _AuthFailed(401, "Authorization is not 'Bearer <token>'")
        if secrets.token is None:
            raise _AuthFailed(401, "station has no token configured")
        if not hmac.compare_digest(token.strip().encode(), secrets.token.encode()):
            raise _AuthFailed(403, "wrong token")
        return "token"
    if signature is not None:
        if secrets.hmac_key is None:
            raise _AuthFailed(401, "station has no HMAC key configured")
        raw_ts = headers.get(TIMESTAMP_HEADER.lower(), "").strip()
        # isdigit() alone lets "²" and other non-ASCII digits through to int() (issue 12, hole 8).
        if not (raw_ts.isascii() and raw_ts.isdigit() and len(raw_ts) <= MAX_TIMESTAMP_DIGITS):
            raise _AuthFailed(401, f"{TIMESTAMP_HEADER} missing or not Unix seconds")
        if abs(now.timestamp() - int(raw_ts)) > MAX_CLOCK_DIFF.total_seconds():
            raise _AuthFailed(403, f"{TIMESTAMP_HEADER} {raw_ts} is over {MAX_CLOCK_DIFF} off the clock")
        if not signature.startswith("sha256="):
            raise _AuthFailed(401, f"{SIGNATURE_HEADER} is not 'sha256=<hex>'")
        expected = sign(secrets.hmac_key, raw_ts, body)
        if not hmac.compare_digest(signature.strip().lower().encode(), expected.encode()):
            raise _AuthFailed(403, "bad signature")
        return "hmac"
    raise _AuthFailed(401, "no credentials")


def _error(status: int, code: str, detail: str, **headers: str) -> Response:
    resp = jsonify(error=code, detail=detail)
    resp.status_code = status
    resp.headers.update(headers)
    return resp


def make_app(
    stations: Mapping[str, StationLimits],
    secrets: Mapping[str, StationSecrets],
    emit: Callable[[Event], None],
    *,
    clock: Callable[[], datetime] = utcnow,
    max_body: int = MAX_PAYLOAD,
) -> Flask:
    """Return the WSGI app that takes station readings and hands every reading or dead letter to ``emit``."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = max_body
    # Werkzeug answers a path with '//' by an HTML 308 redirect to the merged path; the webhook answers JSON
    # only, and a station id with an encoded '/' is simply no station (found by fuzzing, issue 12).
    app.url_map.merge_slashes = False

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        if isinstance(exc, RequestEntityTooLarge):
            logger.warning("webhook: body over %d bytes from %s on %s dropped", max_body, request.remote_addr,
                           request.path)
            return _error(413, "too_large", f"the body must be at most {max_body} bytes")
        return _error(exc.code or 500, exc.name.lower().replace(" ", "_"), exc.description or exc.name)

    @app.get("/healthz")
    def _health() -> Response:
        return jsonify(status="ok")

    @app.post("/api/v1/stations/<station_id>/readings")
    def _post(station_id: str) -> Response:
        limits = stations.get(station_id)
        body = request.get_data(cache=False)  # raises 413 past MAX_CONTENT_LENGTH, chunked bodies included
        now = clock()
        try:
            # An unknown station fails here like a wrong secret: a 404 would list the station ids (hole 11).
            method = check_auth(secrets.get(station_id) if limits is not None else None,
                                dict(request.headers), body, now)
        except _AuthFailed as exc:
            logger.warning("webhook: unauthenticated post for %s from %s dropped: %s", station_id,
                           request.remote_addr, exc.log_reason)
            if exc.status == 401:
                return _error(401, "unauthenticated", "send 'Authorization: Bearer <token>' or a signed body "
                              f"({SIGNATURE_HEADER}, {TIMESTAMP_HEADER})", **{"WWW-Authenticate": "Bearer"})
            return _error(403, "forbidden", "the credentials were not accepted")
        event: Event
        try:
            event = parse_reading(_URL_SCHEME.for_station(station_id), body, _URL_SCHEME, stations, now,
                                  source=SOURCE)
        except InvalidInput as exc:
            logger.info("webhook: rejected post of %s: %s", station_id, exc)
            failed = _emit_or_503(DeadLetter.of(f"{SOURCE}:{station_id}", body, exc, now), emit)
            return failed if failed is not None else _error(
                400 if exc.reason == "malformed_json" else 422, exc.reason, exc.detail
            )
        logger.debug("webhook: reading of %s accepted (%s)", station_id, method)
        failed = _emit_or_503(event, emit)
        return failed if failed is not None else _accepted(event)

    return app


def _accepted(event: Event) -> Response:
    data: dict[str, Any] = {"status": "accepted", "event_id": str(event.event_id)}
    resp = jsonify(data)
    resp.status_code = 202
    return resp


def _emit_or_503(event: Event, emit: Callable[[Event], None]) -> Response | None:
    try:
        emit(event)
    except SinkUnavailable as exc:
        logger.error("webhook: could not pass on %s: %s", event.type, exc)
        return _error(503, "unavailable", "the event bus is unreachable; send again later",
                      **{"Retry-After": "30"})
    return None


def make_server(app: Flask, host: str = "127.0.0.1", port: int = 8090, threads: int = 4) -> Any:
    """Return a waitress server (``.run()`` blocks, ``.close()`` stops; port 0 picks a free port).

    waitress reads a whole body (up to 1 GiB by default) before the app sees the request; its limit is set to
    the app's, so an oversized post is refused with 413 as soon as its headers arrive (issue 12, hole 10).
    """
    from waitress.server import create_server

    limit = int(app.config.get("MAX_CONTENT_LENGTH") or MAX_PAYLOAD)
    return create_server(app, host=host, port=port, threads=threads, ident="ioc-webhook",
                         max_request_body_size=limit)


def serve(app: Flask, host: str = "127.0.0.1", port: int = 8090, threads: int = 4) -> None:
    """Serve the app with waitress until the process is stopped."""
    server = make_server(app, host, port, threads)
    logger.info("webhook listening on http://%s:%s/api/v1/stations/<id>/readings", host,
                server.effective_port)
    try:
        server.run()
    finally:
        server.close()
