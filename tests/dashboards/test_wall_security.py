"""Issue 12's attacks on the wall, replayed: each test names the hole it guards and failed before its fix."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

import dash
import psycopg
import pytest
from flask.json.tag import TaggedJSONSerializer
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from psycopg_pool import ConnectionPool
from typer.testing import CliRunner

from dashboards.app import create_app
from dashboards.auth import CSRF_COOKIE, CSRF_HEADER, AuthStore, safe_next
from dashboards.data import PostgresWallData
from dashboards.leaders_data import Period
from dashboards.server import make_waitress
from dashboards.sessions import SessionStore
from dashboards.settings import WallSettings
from dashboards.throttle import LoginThrottle
from ioc.app.cli import main as cli
from ioc.app.endpoints import Endpoints
from ioc.config.models import SiteConfig
from ioc.errors import ConfigError
from ioc.notify.ratelimit import MemoryRateLimiter, RedisRateLimiter
from ioc.store.live import MemoryLiveStore
from tests.dashboards.wall_helpers import SECRET, callback_payload, csrf_header, login

pytestmark = pytest.mark.services

USER, PASSWORD = "truc.ban", "mat-khau-dung-1"


@pytest.fixture(scope="module")
def auth(pool: ConnectionPool) -> AuthStore:
    store = AuthStore(pool)
    store.ensure_user(USER, PASSWORD, "operator")
    return store


@pytest.fixture(scope="module")
def app(
    pool: ConnectionPool, live: MemoryLiveStore, site: SiteConfig, site_dir: Path, auth: AuthStore
) -> dash.Dash:
    return create_app(
        PostgresWallData(pool, live, site), site, auth=auth, secret_key=SECRET, site_dir=site_dir
    )


@pytest.fixture
def client(app: dash.Dash) -> Iterator[FlaskClient]:
    yield app.server.test_client()


# --- hole 1: open redirect through next= ------------------------------------------------------------------

EVIL = [
    "/%09/evil.example/phish",  # a browser drops the tab and follows //evil.example/phish
    "/%0a/evil.example/phish",
    "/%0d/evil.example/phish",
    "/%0d%0a/evil.example",
    "/%0aSet-Cookie:%20x=1",  # was a 500 (a newline in the Location header)
    "%09//evil.example",
    "/%5c%5cevil.example",
    "/%20/evil.example",
    "/%E3%80%80/evil.example",  # an ideographic space
    "/%00/evil.example",
    "https:evil.example",
    "/%2F/evil.example",
]


@pytest.mark.parametrize("raw", EVIL)
def test_hole1_next_after_sign_in_never_leaves_the_site(client: FlaskClient, raw: str) -> None:
    page = client.get(f"/login?next={raw}")
    assert page.status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True))
    assert csrf is not None
    response = client.post(
        "/login", data={"username": USER, "password": PASSWORD, "csrf": csrf.group(1), "next": unquote(raw)}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("raw", EVIL)
def test_hole1_language_switch_never_leaves_the_site(client: FlaskClient, raw: str) -> None:
    login(client, USER, PASSWORD)
    response = client.get(f"/lang/en?next={raw}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize(
    ("target", "followed"),
    [("/flood?rotate=60", "/flood?rotate=60"), ("/leaders", "/leaders"), ("/\t/evil", "/"), ("/a\nb", "/")],
)
def test_hole1_safe_next_keeps_local_paths_only(target: str, followed: str) -> None:
    assert safe_next(target) == followed


# --- hole 2: no sign-in throttling ------------------------------------------------------------------------


class FakeClock:
    """A clock the test moves by hand, as Unix seconds and as an aware datetime."""

    def __init__(self) -> None:
        self.t = 1_780_000_000.0

    def seconds(self) -> float:
        return self.t

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)

    def advance(self, seconds: float) -> None:
        self.t += seconds


def from_address(app: dash.Dash, address: str) -> FlaskClient:
    """A browser at another address (every test client is 127.0.0.1 otherwise)."""
    client = app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def try_login(client: FlaskClient, username: str, password: str) -> int:
    """One sign-in through the form (its own one-time token); return the status."""
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True))
    assert csrf is not None
    return client.post(
        "/login", data={"username": username, "password": password, "csrf": csrf.group(1)}
    ).status_code


def audit_count(pg_dsn: str, username: str, action: str) -> int:
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM audit_log WHERE username = %s AND action = %s", (username, action)
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_hole2_parallel_wrong_passwords_are_throttled_then_even_the_right_one(
    app: dash.Dash, auth: AuthStore, pg_dsn: str
) -> None:
    auth.ensure_user("bi.tan.cong", "mat-khau-that-1", "operator")

    def attempt(i: int) -> int:
        client = from_address(app, "203.0.113.7")
        return try_login(client, "bi.tan.cong", f"doan-sai-{i}")

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(attempt, range(60)))
    # Before: 60 times 401 (60 scrypt checks), then the right password worked.
    assert statuses.count(401) == 5, statuses
    assert statuses.count(429) == 55
    client = from_address(app, "203.0.113.7")
    assert try_login(client, "bi.tan.cong", "mat-khau-that-1") == 429
    assert audit_count(pg_dsn, "bi.tan.cong", "login_failed") == 5
    assert audit_count(pg_dsn, "bi.tan.cong", "login_throttled") == 56


def test_hole2_the_throttle_page_says_how_long_in_both_languages(app: dash.Dash) -> None:
    client = from_address(app, "203.0.113.8")
    for i in range(5):
        assert try_login(client, "khong.ton.tai", f"sai-{i}") == 401  # unknown names are throttled alike
    page = client.get("/login?lang=en")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True))
    assert csrf is not None
    refused = client.post(
        "/login", data={"username": "khong.ton.tai", "password": "x", "csrf": csrf.group(1)}
    )
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 30
    assert "Too many failed sign-ins" in refused.get_data(as_text=True)
    client.get("/login?lang=vi")
    assert "Quá nhiều lần đăng nhập sai" in client.post(
        "/login", data={"username": "khong.ton.tai", "password": "x", "csrf": _token(client)}
    ).get_data(as_text=True)


def _token(client: FlaskClient) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").get_data(as_text=True))
    assert found is not None
    return found.group(1)


def _waits_after_failures(throttle: LoginThrottle, clock: FakeClock, failures: int) -> float:
    for _ in range(failures):
        throttle.failed("nan.nhan", "198.51.100.1")
    return throttle.check("nan.nhan", "198.51.100.2")


@pytest.mark.parametrize(
    ("failures", "least", "most"), [(4, 0, 0), (5, 29, 30), (15, 299, 300), (40, 3599, 3600)]
)
def test_hole2_delays_grow_with_the_failures(failures: int, least: float, most: float) -> None:
    clock = FakeClock()
    throttle = LoginThrottle(MemoryRateLimiter(), clock=clock.seconds)
    try:
        wait = _waits_after_failures(throttle, clock, failures)
        assert least <= wait <= most
        clock.advance(wait)
        assert throttle.check("nan.nhan", "198.51.100.2") == 0.0
    finally:
        throttle.close()


def test_hole2_an_address_is_throttled_across_accounts() -> None:
    throttle = LoginThrottle(MemoryRateLimiter())
    try:
        for i in range(20):
            throttle.failed(f"ten-{i}", "192.0.2.9")
        assert throttle.check("ten-moi", "192.0.2.9") > 0
        assert throttle.check("ten-moi", "192.0.2.10") == 0.0
    finally:
        throttle.close()


def test_hole2_processes_share_the_count_through_redis(endpoints: Endpoints) -> None:
    prefix = f"ioc:test:wall:{uuid.uuid4().hex}:"
    first = LoginThrottle(RedisRateLimiter.from_url(endpoints.redis_url, prefix))
    second = LoginThrottle(RedisRateLimiter.from_url(endpoints.redis_url, prefix))
    try:
        for _ in range(5):
            first.failed("chia.se", "192.0.2.50")
        assert 25 < second.check("chia.se", "192.0.2.51") <= 30
        assert first.first_use("form-token") and not second.first_use("form-token")
    finally:
        first.close()
        second.close()


def test_hole2_a_login_form_token_serves_one_post_only(app: dash.Dash) -> None:
    client = from_address(app, "203.0.113.20")
    token = _token(client)
    saved = client.get_cookie("ioc_session")
    assert saved is not None
    form = {"username": USER, "password": "sai-mat-khau", "csrf": token}
    assert client.post("/login", data=form).status_code == 401
    client.set_cookie("ioc_session", saved.value)  # the attacker replays the cookie and the token
    assert client.post("/login", data=form).status_code == 400
    client.set_cookie("ioc_session", saved.value)
    assert client.post("/login", data={**form, "password": PASSWORD}).status_code == 400


# --- hole 3: sessions could not be revoked ------------------------------------------------------------------

OFFICER, OFFICER_PASSWORD = "can.bo.tam", "mat-khau-tam-1"
KIOSK, KIOSK_PASSWORD = "man.hinh.tuong", "mat-khau-man-hinh-1"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def timed_app(
    pool: ConnectionPool, live: MemoryLiveStore, site: SiteConfig, auth: AuthStore, clock: FakeClock
) -> dash.Dash:
    """The wall with sessions on a clock the test moves (recheck after 5 s as in production)."""
    settings = WallSettings()
    return create_app(
        PostgresWallData(pool, live, site),
        site,
        auth=auth,
        secret_key=SECRET,
        settings=settings,
        sessions=SessionStore(auth.pool, settings, clock=clock.now),
    )


ROUTE_CALL = "route_call"


def signed_in_as(app: dash.Dash, username: str, password: str) -> FlaskClient:
    """Sign in; keep the routing callback's request, as the page built it while the session was live."""
    client = app.server.test_client()
    assert login(client, username, password).status_code == 302
    assert client.get("/_dash-layout").status_code == 200
    app.server.extensions[ROUTE_CALL] = callback_payload(
        client, "page-content.children", {"url.pathname": "/", "lang.data": "vi"}
    )
    return client


def runs_callbacks(client: FlaskClient) -> bool:
    """Whether the session still runs a server callback (the routing one) as the browser would."""
    payload = client.application.extensions[ROUTE_CALL]
    response = client.post("/_dash-update-component", json=payload, headers=csrf_header(client))
    assert response.status_code in (200, 401), response.status_code
    return response.status_code == 200


def test_hole3_a_cookie_saved_before_logout_is_dead_afterwards(timed_app: dash.Dash, auth: AuthStore) -> None:
    auth.ensure_user(OFFICER, OFFICER_PASSWORD, "operator")
    client = signed_in_as(timed_app, OFFICER, OFFICER_PASSWORD)
    saved, csrf = client.get_cookie("ioc_session"), csrf_header(client)
    assert saved is not None
    assert client.get("/logout").status_code == 200 and runs_callbacks(client)  # a GET changes nothing
    assert client.post("/logout", headers=csrf).status_code == 302
    client.set_cookie("ioc_session", saved.value)
    client.set_cookie(CSRF_COOKIE, csrf[CSRF_HEADER])
    assert client.get("/_dash-layout").status_code == 401
    assert not runs_callbacks(client)


@pytest.mark.parametrize("how", ["deleted", "disabled", "new password", "revoked"])
def test_hole3_an_ended_account_stops_running_operator_callbacks(
    timed_app: dash.Dash, auth: AuthStore, clock: FakeClock, how: str
) -> None:
    auth.ensure_user(OFFICER, OFFICER_PASSWORD, "operator")
    client = signed_in_as(timed_app, OFFICER, OFFICER_PASSWORD)
    assert runs_callbacks(client)
    if how == "deleted":
        assert auth.delete_user(OFFICER)
    elif how == "disabled":
        assert auth.set_disabled(OFFICER, True)
    elif how == "new password":
        auth.ensure_user(OFFICER, "mat-khau-moi-2", "operator")
    else:
        assert auth.revoke_sessions(OFFICER) == 1
    clock.advance(6)  # another process's change is seen within 5 s
    assert not runs_callbacks(client)
    assert client.get("/_dash-layout").status_code == 401
    if how == "disabled":
        assert login(timed_app.server.test_client(), OFFICER, OFFICER_PASSWORD).status_code == 401
        auth.set_disabled(OFFICER, False)
        signed_in_as(timed_app, OFFICER, OFFICER_PASSWORD)


def test_hole3_idle_timeout_and_absolute_lifetime(
    timed_app: dash.Dash, auth: AuthStore, clock: FakeClock
) -> None:
    auth.ensure_user(OFFICER, OFFICER_PASSWORD, "operator")
    idle = signed_in_as(timed_app, OFFICER, OFFICER_PASSWORD)
    clock.advance(121 * 60)
    assert not runs_callbacks(idle)

    busy = signed_in_as(timed_app, OFFICER, OFFICER_PASSWORD)
    for _ in range(11 * 2):  # used every 30 minutes for 11 hours: still signed in
        clock.advance(30 * 60)
        assert runs_callbacks(busy)
    clock.advance(61 * 60)  # 12 h after sign-in, however busy
    assert not runs_callbacks(busy)


def test_hole3_the_kiosk_session_lives_long_until_an_admin_revokes_it(
    timed_app: dash.Dash, auth: AuthStore, clock: FakeClock, pg_dsn: str
) -> None:
    auth.ensure_user(KIOSK, KIOSK_PASSWORD, "leader", kiosk=True)
    wall = signed_in_as(timed_app, KIOSK, KIOSK_PASSWORD)
    clock.advance(30 * 24 * 3600)  # a month without a request (screen off)
    assert runs_callbacks(wall)
    assert auth.revoke_sessions(KIOSK, ("kiosk",)) == 1
    clock.advance(6)
    assert not runs_callbacks(wall)
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute(
            "SELECT s.kind, s.revoked_why FROM wall_sessions s JOIN users u ON u.id = s.user_id "
            "WHERE u.username = %s",
            (KIOSK,),
        ).fetchone()
    assert row == ("kiosk", "admin")


def test_hole3_a_kiosk_may_not_be_an_admin(auth: AuthStore) -> None:
    with pytest.raises(ValueError, match="kiosk"):
        auth.ensure_user("man.hinh.2", KIOSK_PASSWORD, "admin", kiosk=True)


def test_hole3_the_cookie_holds_no_user_only_a_token(app: dash.Dash) -> None:
    client = app.server.test_client()
    login(client, USER, PASSWORD)
    cookie = client.get_cookie("ioc_session")
    assert cookie is not None
    payload = URLSafeTimedSerializer(
        SECRET,
        salt="cookie-session",
        serializer=TaggedJSONSerializer(),
        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha1},
    )
    data = payload.loads(cookie.value)
    assert set(data) <= {"sid", "lang", "_permanent"} and USER not in json.dumps(data)


# --- hole 10: bodies were read whole before the refusal --------------------------------------------------


@pytest.fixture
def waitress_wall(app: dash.Dash) -> Iterator[tuple[str, int]]:
    """The wall behind waitress exactly as ``ioc dashboard`` serves it, on a free loopback port."""
    server = make_waitress(app, "127.0.0.1", 0, WallSettings())
    thread = threading.Thread(target=server.run, name="waitress-test", daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", int(server.effective_port)
    finally:
        server.close()
        thread.join(5)


def test_hole10_a_300_mb_post_is_refused_before_it_is_read(waitress_wall: tuple[str, int]) -> None:
    with socket.create_connection(waitress_wall, timeout=5) as sock:
        sock.sendall(
            b"POST /_dash-update-component HTTP/1.1\r\nHost: wall\r\nContent-Type: application/json\r\n"
            b"Content-Length: 314572800\r\n\r\n" + b"x" * 65536
        )
        # Before: waitress waited for the other 299.9 MB (up to its 1 GiB limit) and this read timed out.
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_hole10_a_chunked_flood_is_cut_off_too(waitress_wall: tuple[str, int]) -> None:
    chunk = b"%x\r\n%s\r\n" % (1 << 20, b"y" * (1 << 20))
    with socket.create_connection(waitress_wall, timeout=5) as sock:
        sock.sendall(b"POST /login HTTP/1.1\r\nHost: wall\r\nTransfer-Encoding: chunked\r\n\r\n")
        answer = b""
        try:
            for _ in range(8):
                sock.sendall(chunk)
            answer = sock.recv(4096)
        except (BrokenPipeError, ConnectionResetError):
            answer = answer or sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_hole10_the_flask_layer_refuses_an_announced_large_body(client: FlaskClient) -> None:
    response = client.post(
        "/login", data=b"x" * 10, environ_overrides={"CONTENT_LENGTH": str(300 * 1024 * 1024)}
    )
    assert response.status_code == 413


# --- hole 11: leaders' far periods, security headers, the Secure cookie ------------------------------------

ADMIN, ADMIN_PASSWORD = "quan.tri", "mat-khau-quan-tri-1"


@pytest.mark.parametrize("period", ["0001-01", "9999-Q4", "99999-12", "0001", "9999", "²⁰²⁵-01", "1899-12"])
def test_hole11_far_periods_are_a_clear_400_or_no_update(
    app: dash.Dash, auth: AuthStore, period: str
) -> None:
    auth.ensure_user(ADMIN, ADMIN_PASSWORD, "admin")
    client = signed_in_as(app, ADMIN, ADMIN_PASSWORD)
    for fmt in ("xlsx", "pdf"):
        response = client.get(f"/leaders/export.{fmt}", query_string={"period": period})
        assert response.status_code == 400, (fmt, response.status_code)
    payload = callback_payload(
        client,
        "leaders-ranking-title.children",
        {"leaders-period.value": period, "leaders-unit.value": "03172", "leaders-lang.data": "vi"},
    )
    response = client.post("/_dash-update-component", json=payload, headers=csrf_header(client))
    assert response.status_code == 204  # PreventUpdate: the panels keep what they show


def test_hole11_periods_at_the_edges_of_the_range_still_work() -> None:
    assert Period.parse("1900-01").previous().key() == "1899-12"
    assert Period.parse("2999-Q4").end.isoformat() == "3000-01-01"


SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def test_hole11_every_response_carries_the_security_headers(app: dash.Dash) -> None:
    anonymous = app.server.test_client()
    signed = signed_in_as(app, USER, PASSWORD)
    responses = [
        anonymous.get("/login"),
        anonymous.get("/"),
        anonymous.get("/_dash-layout"),
        anonymous.post("/login", data=b"x", environ_overrides={"CONTENT_LENGTH": str(10**9)}),
        signed.get("/"),
        signed.get("/_dash-layout"),
        signed.get("/assets/wall.css"),
        signed.get("/no/such/page.txt"),
        signed.post("/_dash-update-component", json={}),  # no CSRF header: 403
    ]
    for response in responses:
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (response.request.path, response.status_code, name)
        csp = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]


@pytest.mark.parametrize(("env", "secure"), [({}, False), ({"IOC_COOKIE_SECURE": "1"}, True)])
def test_hole11_cookie_secure_setting(
    pool: ConnectionPool,
    live: MemoryLiveStore,
    site: SiteConfig,
    auth: AuthStore,
    env: dict[str, str],
    secure: bool,
) -> None:
    settings = WallSettings.from_env(env)
    app = create_app(
        PostgresWallData(pool, live, site), site, auth=auth, secret_key=SECRET, settings=settings
    )
    client = app.server.test_client()
    response = login(client, USER, PASSWORD)
    cookies = response.headers.getlist("Set-Cookie")
    assert {c.split("=")[0] for c in cookies} >= {"ioc_session", CSRF_COOKIE}
    for cookie in cookies:
        assert ("; Secure" in cookie) is secure, cookie
    assert ("Strict-Transport-Security" in response.headers) is secure


@pytest.mark.parametrize(
    "env",
    [{"IOC_COOKIE_SECURE": "maybe"}, {"IOC_SESSION_IDLE_MIN": "²"}, {"IOC_MAX_BODY_BYTES": "9" * 5000}],
)
def test_hole11_bad_settings_name_the_variable(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=next(iter(env))):
        WallSettings.from_env(env)


def test_hole3_admins_end_sessions_with_ioc_users(
    timed_app: dash.Dash, auth: AuthStore, clock: FakeClock, pg_dsn: str
) -> None:
    runner = CliRunner()
    url = ["--database-url", pg_dsn, "--lang", "en"]
    added = runner.invoke(
        cli.app,
        ["users", "add", "man.hinh.cli", "--role", "leader", "--kiosk", *url],
        env={"IOC_NEW_USER_PASSWORD": KIOSK_PASSWORD},
    )
    assert added.exit_code == 0 and "wall display account" in added.output, added.output
    wall = signed_in_as(timed_app, "man.hinh.cli", KIOSK_PASSWORD)
    revoked = runner.invoke(cli.app, ["users", "revoke", "man.hinh.cli", "--kiosk-only", *url])
    assert revoked.exit_code == 0 and "Revoked 1 session" in revoked.output, revoked.output
    clock.advance(6)
    assert not runs_callbacks(wall)
    wall = signed_in_as(timed_app, "man.hinh.cli", KIOSK_PASSWORD)
    assert runner.invoke(cli.app, ["users", "disable", "man.hinh.cli", *url]).exit_code == 0
    clock.advance(6)
    assert not runs_callbacks(wall)
    assert runner.invoke(cli.app, ["users", "delete", "man.hinh.cli", *url]).exit_code == 0
    missing = runner.invoke(cli.app, ["users", "delete", "man.hinh.cli", *url])
    assert missing.exit_code != 0 and "No user named man.hinh.cli" in missing.output


def test_hole11_every_inline_script_of_the_wall_is_allowed_by_its_hash(app: dash.Dash) -> None:
    signed = signed_in_as(app, USER, PASSWORD)
    page = signed.get("/")
    allowed = page.headers["Content-Security-Policy"].split("script-src")[1].split(";")[0].split()
    # Dash's alert for Internet Explorer sits in a conditional comment: no other browser runs it.
    body = re.sub(r"<!--\[if IE\]>.*?<!\[endif\]-->", "", page.get_data(as_text=True), flags=re.S)
    inline = re.findall(r"<script>(.*?)</script>", body, re.S)
    assert len(inline) >= 5  # the renderer's start and the clientside callbacks
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in allowed, script[:80]
