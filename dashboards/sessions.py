"""Server-side sessions of the dashboards (issue 12, hole 3), kept in PostgreSQL's ``wall_sessions``.

Why PostgreSQL rather than Redis: a session belongs to a row of ``users`` (deleting the user deletes its
sessions by the foreign key, and role or scope changes apply at the next request through the join), the
kiosk's long session must survive a Redis restart or eviction, and the embedded runtime has PostgreSQL
but no Redis. The browser's cookie holds only a random token; the table keeps its SHA-256.

Each process remembers a checked session for ``recheck`` (5 s): the wall polls every 2 s per screen, and a
revocation from another process (``ioc users revoke``, a deleted user) therefore takes effect within 5 s.
While PostgreSQL is unreachable, a session checked in the last ``outage_grace`` stays valid, so the wall
keeps showing live values through a database outage instead of logging everyone out.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg.rows import class_row
from psycopg_pool import ConnectionPool

from dashboards.settings import WallSettings
from ioc.errors import SinkUnavailable
from ioc.events import utcnow
from ioc.store.pool import pooled

logger = logging.getLogger(__name__)

Kind = Literal["interactive", "kiosk"]
TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most once a minute per session
RECHECK = timedelta(seconds=5)
OUTAGE_GRACE = timedelta(minutes=15)


@dataclass(frozen=True)
class SessionView:
    """A live session: whose it is, its kind and its CSRF token for callbacks."""

    username: str
    role: str
    unit_scopes: tuple[str, ...]
    kind: Kind
    csrf: str
    expires_at: datetime


@dataclass(frozen=True)
class _Row:
    kind: str
    csrf: str
    last_seen_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    username: str
    role: str
    unit_scopes: list[str]
    disabled_at: datetime | None


def ended_why(row: _Row, now: datetime, idle_timeout: timedelta) -> str | None:
    """Return why a session has ended ('revoked', 'disabled', 'expired', 'idle'), or None if it is live."""
    if row.revoked_at is not None:
        return "revoked"
    if row.disabled_at is not None:
        return "disabled"
    if now >= row.expires_at:
        return "expired"
    if row.kind != "kiosk" and now - row.last_seen_at > idle_timeout:
        return "idle"
    return None


def token_digest(token: str) -> str:
    """Return the SHA-256 (hex) under which a session token is kept."""
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """Creates, checks and revokes sessions; connection errors come out as ``SinkUnavailable``."""

    def __init__(
        self,
        pool: ConnectionPool,
        settings: WallSettings,
        *,
        clock: Callable[[], datetime] = utcnow,
        recheck: timedelta = RECHECK,
        outage_grace: timedelta = OUTAGE_GRACE,
    ) -> None:
        self._pool = pool
        self.settings = settings
        self._clock = clock
        self._recheck = recheck
        self._grace = outage_grace
        self._checked: dict[str, tuple[datetime, SessionView]] = {}
        self._lock = threading.Lock()

    def lifetime(self, kind: Kind) -> timedelta:
        """Return how long a new session of this kind may live."""
        return self.settings.kiosk_lifetime if kind == "kiosk" else self.settings.absolute_lifetime

    def create(
        self, username: str, role: str, unit_scopes: Sequence[str], kind: Kind, remote: str | None
    ) -> tuple[str, SessionView]:
        """Open a session for a user who just signed in; return the cookie's token and the session."""
        token, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), self._clock()
        expires = now + self.lifetime(kind)
        with self._connection() as conn:
            row = conn.execute(
                "INSERT INTO wall_sessions (token_sha256, user_id, kind, csrf, created_at, last_seen_at, "
                "expires_at, remote) SELECT %s, id, %s, %s, %s, %s, %s, %s FROM users WHERE username = %s "
                "RETURNING user_id",
                (token_digest(token), kind, csrf, now, now, expires, remote, username),
            ).fetchone()
        if row is None:
            raise SinkUnavailable(f"user {username} vanished while signing in")
        return token, SessionView(username, role, tuple(unit_scopes), kind, csrf, expires)

    def lookup(self, token: str) -> SessionView | None:
        """Return the live session of a cookie's token, or None when it ended (and say so in the table)."""
        digest, now = token_digest(token), self._clock()
        with self._lock:
            cached = self._checked.get(digest)
        if cached is not None and now - cached[0] < self._recheck and now < cached[1].expires_at:
            return cached[1]
        try:
            view = self._lookup(digest, now)
        except SinkUnavailable as exc:
            if cached is not None and now - cached[0] < self._grace and now < cached[1].expires_at:
                logger.warning("session of %s kept through a database outage: %s", cached[1].username, exc)
                return cached[1]
            raise
        with self._lock:
            if view is None:
                self._checked.pop(digest, None)
            else:
                self._checked[digest] = (now, view)
        return view

    def _lookup(self, digest: str, now: datetime) -> SessionView | None:
        with self._connection() as conn:
            cur = conn.cursor(row_factory=class_row(_Row))
            row = cur.execute(
                "SELECT s.kind, s.csrf, s.last_seen_at, s.expires_at, s.revoked_at, u.username, u.role, "
                "u.unit_scopes, u.disabled_at FROM wall_sessions s JOIN users u ON u.id = s.user_id "
                "WHERE s.token_sha256 = %s",
                (digest,),
            ).fetchone()
            if row is None:
                return None
            why = ended_why(row, now, self.settings.idle_timeout)
            if why is not None:
                if row.revoked_at is None:
                    conn.execute(
                        "UPDATE wall_sessions SET revoked_at = %s, revoked_why = %s "
                        "WHERE token_sha256 = %s AND revoked_at IS NULL",
                        (now, why, digest),
                    )
                    logger.info("session of %s ended: %s", row.username, why)
                return None
            if now - row.last_seen_at >= TOUCH_EVERY:
                conn.execute(
                    "UPDATE wall_sessions SET last_seen_at = %s WHERE token_sha256 = %s", (now, digest)
                )
        kind: Kind = "kiosk" if row.kind == "kiosk" else "interactive"
        return SessionView(row.username, row.role, tuple(row.unit_scopes), kind, row.csrf, row.expires_at)

    def revoke(self, token: str, why: str) -> None:
        """End one session (logout)."""
        digest = token_digest(token)
        with self._lock:
            self._checked.pop(digest, None)
        with self._connection() as conn:
            conn.execute(
                "UPDATE wall_sessions SET revoked_at = %s, revoked_why = %s "
                "WHERE token_sha256 = %s AND revoked_at IS NULL",
                (self._clock(), why, digest),
            )

    def _connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        return pooled(self._pool, "PostgreSQL (sessions)")


def revoke_user_sessions(
    conn: psycopg.Connection[Any], username: str, why: str, kinds: Sequence[Kind] = ("interactive", "kiosk")
) -> int:
    """End every live session of a user (in the caller's transaction); return how many ended."""
    cur = conn.execute(
        "UPDATE wall_sessions SET revoked_at = now(), revoked_why = %s WHERE revoked_at IS NULL "
        "AND kind = ANY(%s) AND user_id = (SELECT id FROM users WHERE username = %s)",
        (why, list(kinds), username),
    )
    return cur.rowcount
