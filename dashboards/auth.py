"""Sign-in for the dashboards: scrypt password hashes, the users table, and a guard in front of every route.

Nothing of the dashboards is public: without a session, the page redirects to ``/login`` and every other path
(Dash callbacks, layout, component bundles, assets) answers 401. Only ``/login`` and ``/healthz`` are open, and
the public pages the app names in ``public_prefixes`` (the citizens' report form, ``/report`` and below it), which
enforce their own body limit and protections (dashboards.report_form).
Dash callbacks also need the session's CSRF token, which Dash's renderer copies from the ``_csrf_token``
cookie into the ``X-CSRFToken`` header by itself.

Sessions are kept server-side (dashboards.sessions) and end at logout (a POST), when the user is disabled,
deleted or given a new password, after an idle time and an absolute lifetime (the kiosk account's after
``IOC_KIOSK_SESSION_DAYS``), or when an admin revokes them (``ioc users revoke``). Sign-in tries are
throttled per account and per address with growing delays (dashboards.throttle), every refusal is in the
audit log, and the login form's token serves one post only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import logging
import math
import secrets
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

import psycopg
from flask import Flask, Response, g, has_request_context, jsonify, redirect, request, session
from flask.typing import ResponseReturnValue
from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from dashboards import strings as _strings  # noqa: F401  (registers the catalog)
from dashboards.sessions import Kind, SessionStore, SessionView, revoke_user_sessions
from dashboards.settings import WallSettings
from dashboards.throttle import LoginThrottle
from ioc.errors import SinkUnavailable
from ioc.i18n import normalise_lang, t
from ioc.notify.ratelimit import MemoryRateLimiter
from ioc.store.pool import pooled

logger = logging.getLogger(__name__)

Role = Literal["operator", "leader", "admin"]
ROLES: tuple[Role, ...] = ("operator", "leader", "admin")

# scrypt cost: 16 MiB of memory and ~50 ms per check on a modest server, per OWASP's minimum for scrypt.
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_DKLEN = 2**14, 8, 1, 32
SALT_BYTES = 16
MIN_SECRET_KEY_CHARS = 16
CSRF_COOKIE, CSRF_HEADER = "_csrf_token", "X-CSRFToken"
PUBLIC_PATHS = frozenset({"/login", "/healthz"})
MAX_NEXT_CHARS = 2048


def hash_password(password: str) -> str:
    """Return a self-describing scrypt hash of ``password`` with a fresh random salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_DKLEN
    )
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)])


def verify_password(password: str, stored: str) -> bool:
    """Return whether ``password`` matches a hash made by ``hash_password`` (constant-time compare)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        got = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except ValueError:
        logger.warning("a stored password hash is malformed")
        return False
    return hmac.compare_digest(got, expected)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


# Checked when a user does not exist, so a missing name costs the same time as a wrong password.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class User:
    """A person who may sign in, and what they may see."""

    username: str
    role: str
    unit_scopes: tuple[str, ...]
    kiosk: bool = False


@dataclass(frozen=True)
class _UserRow:
    username: str
    password_hash: str
    role: str
    unit_scopes: list[str]
    kiosk: bool
    disabled: bool


def normalise_username(username: str) -> str:
    """Usernames are case-insensitive and trimmed."""
    return username.strip().lower()


class AuthStore:
    """Users and the audit log in PostgreSQL; connection errors come out as ``SinkUnavailable``."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    @property
    def pool(self) -> ConnectionPool:
        """The connection pool (the sessions share it)."""
        return self._pool

    def ensure_user(
        self,
        username: str,
        password: str,
        role: Role,
        unit_scopes: Sequence[str] = (),
        *,
        kiosk: bool = False,
    ) -> User:
        """Create the user, or set the password, role and scopes of an existing one (ending its sessions).

        ``kiosk`` marks the wall's display account: its sessions last ``IOC_KIOSK_SESSION_DAYS`` without an
        idle timeout, so it may not be an administrator.
        """
        name = normalise_username(username)
        if not name or len(name) > 64:
            raise ValueError("a username needs 1 to 64 characters")
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if len(password) < 8:
            raise ValueError(f"the password of {name} is too short; use at least 8 characters")
        if kiosk and role == "admin":
            raise ValueError(f"{name}: a kiosk (wall display) account may not be an admin; use leader")
        with self._connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO users (username, password_hash, role, unit_scopes, kiosk) "
                "VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, "
                "role = EXCLUDED.role, unit_scopes = EXCLUDED.unit_scopes, kiosk = EXCLUDED.kiosk",
                (name, hash_password(password), role, list(unit_scopes), kiosk),
            )
            ended = revoke_user_sessions(conn, name, "password")
        if ended:
            logger.info("password of %s set: %d session(s) ended", name, ended)
        return User(name, role, tuple(unit_scopes), kiosk)

    def set_disabled(self, username: str, disabled: bool) -> bool:
        """Disable (ending every session) or enable a user; return False when there is no such user."""
        name = normalise_username(username)
        with self._connection() as conn, conn.transaction():
            cur = conn.execute(
                "UPDATE users SET disabled_at = CASE WHEN %s THEN coalesce(disabled_at, now()) END "
                "WHERE username = %s",
                (disabled, name),
            )
            if disabled:
                revoke_user_sessions(conn, name, "disabled")
        return cur.rowcount == 1

    def delete_user(self, username: str) -> bool:
        """Delete a user and, by the foreign key, every session of theirs; False when there is no such one."""
        with self._connection() as conn:
            cur = conn.execute("DELETE FROM users WHERE username = %s", (normalise_username(username),))
        return cur.rowcount == 1

    def revoke_sessions(self, username: str, kinds: Sequence[Kind] = ("interactive", "kiosk")) -> int:
        """End a user's live sessions of these kinds; return how many ended."""
        with self._connection() as conn:
            return revoke_user_sessions(conn, normalise_username(username), "admin", kinds)

    def verify(self, username: str, password: str) -> User | None:
        """Return the user when the password is right, else None (taking as long when the user is unknown).

        A disabled user is refused like a wrong password, after the same check.
        """
        name = normalise_username(username)
        with self._connection() as conn:
            cur = conn.cursor(row_factory=class_row(_UserRow))
            row = cur.execute(
                "SELECT username, password_hash, role, unit_scopes, kiosk, "
                "disabled_at IS NOT NULL AS disabled "
                "FROM users WHERE username = %s",
                (name,),
            ).fetchone()
        if row is None:
            verify_password(password, _DUMMY_HASH)
            return None
        if not verify_password(password, row.password_hash) or row.disabled:
            return None
        return User(row.username, row.role, tuple(row.unit_scopes), row.kiosk)

    def record(
        self, username: str, action: str, target: str | None = None, detail: dict[str, Any] | None = None
    ) -> None:
        """Append one line to the audit log."""
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO audit_log (username, action, target, detail) VALUES (%s, %s, %s, %s)",
                (username, action, target, Jsonb(detail or {})),
            )

    def _connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        """Lend a pooled connection; an unreachable server comes out as ``SinkUnavailable``."""
        return pooled(self._pool, "PostgreSQL (users)")


def install_login(
    server: Flask,
    auth: AuthStore,
    *,
    secret_key: str,
    default_lang: str,
    site_name: str,
    page_paths: Sequence[str] = ("/",),
    health: Callable[[], Mapping[str, object]] | None = None,
    settings: WallSettings | None = None,
    sessions: SessionStore | None = None,
    throttle: LoginThrottle | None = None,
    public_prefixes: Sequence[str] = (),
) -> None:
    """Put the session login, ``/login``, ``/logout``, ``/healthz`` and the guard on a Flask server.

    Sessions live in PostgreSQL (``sessions``, default on ``auth``'s pool); the signed cookie holds only the
    session's token, the language and the login form's one-time token. Sign-in tries are throttled
    (``throttle``, default in this process's memory). ``/healthz`` answers 200 while the server runs, with
    ``health()`` (the database's jobs) in its JSON.
    """
    if len(secret_key) < MIN_SECRET_KEY_CHARS:
        raise ValueError(
            f"IOC_SECRET_KEY must have at least {MIN_SECRET_KEY_CHARS} characters; make one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
        )
    settings = settings or WallSettings()
    sessions = sessions or SessionStore(auth.pool, settings)
    throttle = throttle or LoginThrottle(MemoryRateLimiter())
    server.secret_key = secret_key
    server.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="ioc_session",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        # The cookie may outlive a session; the server decides (sessions.py). The kiosk's is the longest.
        PERMANENT_SESSION_LIFETIME=settings.kiosk_lifetime,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
    )
    pages = frozenset(page_paths)

    def lang_now() -> str:
        return normalise_lang(request.args.get("lang") or session.get("lang") or default_lang)

    def text(message: str, status: int, **headers: str) -> Response:
        return Response(message + "\n", status, headers=headers, mimetype="text/plain")

    def public_page(path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in public_prefixes)

    @server.before_request
    def guard() -> ResponseReturnValue | None:
        if public_page(request.path):
            return None  # no session, its own body limit and form token
        if (request.content_length or 0) > settings.max_body_bytes:
            return text(t("auth.too_large", lang_now()), 413, Connection="close")
        if request.path in PUBLIC_PATHS:
            return None
        try:
            view = _live_session(sessions)
        except SinkUnavailable as exc:
            logger.error("session not checked: %s", exc)
            return text(t("login.unavailable", lang_now()), 503, **{"Retry-After": "30"})
        if view is None:
            if request.method == "GET" and (
                request.path in pages or request.path.startswith("/lang/") or request.path == "/logout"
            ):
                return redirect("/login?" + urlencode({"next": safe_next(request.full_path.rstrip("?"))}))
            return text(t("auth.unauthorised", lang_now()), 401)
        g.wall_session = view
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            sent = request.headers.get(CSRF_HEADER, "")
            if not sent and request.path == "/logout":
                sent = request.form.get("csrf", "")
            if not sent or not hmac.compare_digest(sent, view.csrf):
                return text(t("auth.csrf", lang_now()), 403)
        return None

    @server.get("/healthz")
    def healthz() -> ResponseReturnValue:
        body: dict[str, object] = {"status": "ok"}
        if health is not None:
            try:
                body["database"] = dict(health())
            except SinkUnavailable as exc:
                logger.warning("health: %s", exc)
                body["database"] = {"ok": False, "error": "unreachable"}
        return jsonify(body)

    def form(lang: str, target: str, error: str | None, status: int = 200, **headers: str) -> Response:
        # A new one-time token for every form shown: a posted token is never accepted twice.
        session["login_csrf"] = secrets.token_urlsafe(32)
        page = _login_page(lang, site_name, session["login_csrf"], target, error, status)
        page.headers.update(headers)
        return page

    @server.route("/login", methods=["GET", "POST"])
    def login() -> ResponseReturnValue:
        lang = lang_now()
        session["lang"] = lang
        target = safe_next(request.values.get("next", "/"))
        if request.method == "GET":
            return form(lang, target, None)
        remote = request.remote_addr or "?"
        posted, expected = request.form.get("csrf", ""), str(session.pop("login_csrf", ""))
        typed = normalise_username(request.form.get("username", ""))[:64]
        try:
            if not expected or not hmac.compare_digest(posted, expected) or not throttle.first_use(posted):
                return form(lang, target, t("login.expired", lang), 400)
            with throttle.serial(typed):
                wait = throttle.check(typed, remote)
                if wait > 0:
                    seconds = max(1, math.ceil(wait))
                    auth.record(typed or "?", "login_throttled", detail={"remote": remote, "wait_s": seconds})
                    logger.warning("sign-in for %r from %s throttled for %d s", typed, remote, seconds)
                    return form(lang, target, t("login.throttled", lang, seconds=seconds), 429,
                                **{"Retry-After": str(seconds)})
                user = auth.verify(typed, request.form.get("password", ""))
                if user is None:
                    throttle.failed(typed, remote)
                    auth.record(typed or "?", "login_failed", detail={"remote": remote})
                    logger.info("refused sign-in for %r from %s", typed, remote)
                    return form(lang, target, t("login.failed", lang), 401)
            kind: Kind = "kiosk" if user.kiosk else "interactive"
            token, view = sessions.create(user.username, user.role, user.unit_scopes, kind, remote)
            auth.record(user.username, "login", detail={"remote": remote, "kind": kind})
        except SinkUnavailable as exc:
            logger.error("sign-in impossible: %s", exc)
            return form(lang, target, t("login.unavailable", lang), 503)
        session.clear()
        session.permanent = True
        session.update(sid=token, lang=lang)
        logger.info("%s signed in from %s (%s session)", user.username, remote, kind)
        response = redirect(target)
        # Readable by the page's script on purpose: Dash sends it back as the X-CSRFToken header.
        response.set_cookie(
            CSRF_COOKIE,
            view.csrf,
            samesite="Strict",
            secure=settings.cookie_secure,
            max_age=int(sessions.lifetime(kind).total_seconds()),
        )
        return response

    @server.get("/logout")
    def logout_confirm() -> ResponseReturnValue:
        # No state changes on GET: a link or an <img src=/logout> must not sign anyone out.
        view: SessionView = g.wall_session
        return _logout_page(lang_now(), site_name, view.csrf)

    @server.post("/logout")
    def logout() -> ResponseReturnValue:
        view: SessionView = g.wall_session
        lang = session.get("lang", default_lang)
        try:
            sessions.revoke(str(session.get("sid", "")), "logout")
            auth.record(view.username, "logout")
        except SinkUnavailable as exc:
            logger.error("logout of %s failed: %s", view.username, exc)
            return text(t("login.unavailable", lang), 503)
        session.clear()
        session["lang"] = lang
        response = redirect("/login")
        response.delete_cookie(CSRF_COOKIE)
        return response


def _live_session(sessions: SessionStore) -> SessionView | None:
    """Return this request's live session, forgetting the cookie's token when the session ended."""
    token = session.get("sid")
    if not isinstance(token, str) or not token:
        return None
    view = sessions.lookup(token)
    if view is None:
        session.pop("sid", None)
    return view


def current_session() -> SessionView | None:
    """Return the session of this request (set by the guard), if any."""
    if not has_request_context():
        return None
    view = g.get("wall_session")
    return view if isinstance(view, SessionView) else None


def current_user() -> str | None:
    """Return the signed-in username of this request, if any."""
    view = current_session()
    return view.username if view is not None else None


def safe_next(target: str) -> str:
    """Only follow a local path after sign-in, never another site (issue 12, hole 1).

    Browsers drop tab, CR and LF from a URL and read a backslash as a slash, so ``/<tab>/evil.example`` is
    ``//evil.example``: any whitespace, control character or backslash sends the user to ``/``.
    """
    if (
        len(target) > MAX_NEXT_CHARS
        or not target.startswith("/")
        or target.startswith("//")
        or target.startswith("/login")
        or "\\" in target
        or any(ch.isspace() or unicodedata.category(ch)[0] in "CZ" for ch in target)
    ):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def _login_page(
    lang: str, site_name: str, csrf: str, target: str, error: str | None, status: int = 200
) -> Response:
    e = html.escape
    other = "en" if lang == "vi" else "vi"
    switch = f"/login?{urlencode({'lang': other, 'next': target})}"
    message = f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    page = f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(t("login.title", lang))} · {e(site_name)}</title>
<style>
body {{ margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center;
       background: #0b1220; color: #e5e9f0;
       font-family: "Segoe UI", "Noto Sans", Roboto, "DejaVu Sans", Arial, sans-serif; }}
form {{ width: 420px; padding: 40px; background: #131c2e; border: 1px solid #24324d; border-radius: 12px; }}
h1 {{ font-size: 26px; margin: 0 0 4px; }}
h2 {{ font-size: 17px; font-weight: normal; color: #93a4c3; margin: 0 0 28px; }}
label {{ display: block; font-size: 16px; margin: 18px 0 6px; color: #c6d0e1; }}
input {{ width: 100%; box-sizing: border-box; padding: 12px; font-size: 18px; color: #e5e9f0;
        background: #0b1220; border: 1px solid #2f4163; border-radius: 6px; }}
button {{ margin-top: 28px; width: 100%; padding: 13px; font-size: 18px; font-weight: 600; color: #0b1220;
         background: #4c9be8; border: 0; border-radius: 6px; cursor: pointer; }}
.error {{ color: #ffb4b4; background: #3a1620; border: 1px solid #eb4d4b; padding: 10px;
          border-radius: 6px; }}
.lang {{ display: block; margin-top: 22px; text-align: right; color: #93a4c3; font-size: 15px; }}
</style></head>
<body><form method="post" action="/login">
<h1>{e(t("wall.title", lang))}</h1><h2>{e(site_name)} — {e(t("login.title", lang))}</h2>
{message}
<input type="hidden" name="csrf" value="{e(csrf)}"><input type="hidden" name="next" value="{e(target)}">
<label for="username">{e(t("login.username", lang))}</label>
<input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">{e(t("login.password", lang))}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">{e(t("login.submit", lang))}</button>
<a class="lang" href="{e(switch)}">{e(t(f"wall.lang.{other}", lang))}</a>
</form></body></html>"""
    return Response(page, status, mimetype="text/html")


def _logout_page(lang: str, site_name: str, csrf: str) -> Response:
    """The confirmation a GET of /logout shows: signing out is a POST with the session's CSRF token."""
    e = html.escape
    page = f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(t("logout.title", lang))} · {e(site_name)}</title>
<style>
body {{ margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center;
       background: #0b1220; color: #e5e9f0;
       font-family: "Segoe UI", "Noto Sans", Roboto, "DejaVu Sans", Arial, sans-serif; }}
form {{ width: 420px; padding: 40px; background: #131c2e; border: 1px solid #24324d; border-radius: 12px; }}
h1 {{ font-size: 24px; margin: 0 0 24px; }}
button {{ width: 100%; padding: 13px; font-size: 18px; font-weight: 600; color: #0b1220;
         background: #4c9be8; border: 0; border-radius: 6px; cursor: pointer; }}
a {{ display: block; margin-top: 22px; text-align: center; color: #93a4c3; font-size: 16px; }}
</style></head>
<body><form method="post" action="/logout" id="logout-form">
<h1>{e(t("logout.confirm", lang, site=site_name))}</h1>
<input type="hidden" name="csrf" value="{e(csrf)}">
<button type="submit" id="logout-submit">{e(t("logout.submit", lang))}</button>
<a href="/" id="logout-cancel">{e(t("logout.cancel", lang))}</a>
</form></body></html>"""
    return Response(page, 200, mimetype="text/html")
