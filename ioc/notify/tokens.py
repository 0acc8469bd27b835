"""The Zalo OA access token and its rotating refresh token, kept in PostgreSQL and renewed by one worker at a
time.

Zalo answers a refresh with a new access token *and a new refresh token*; the old refresh token stops working.
Two workers refreshing at once would therefore race: the loser presents a refresh token that was just used and
is locked out until somebody re-authorises the app. So a refresh takes a PostgreSQL advisory lock (per
channel) for the length of its transaction; a worker that waited for the lock first re-reads the row and,
finding a token newer than the one that failed it, uses that instead of refreshing again.

The first refresh token comes from the environment (``refresh_token_env`` of the channel); from then on the
table ``zalo_tokens`` (migration 0010) holds the current pair. When Zalo refuses the stored refresh token and
the environment holds a different one (an operator re-authorised the app), that one is tried once. Tokens
never appear in logs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from ioc.errors import IocError

logger = logging.getLogger(__name__)

_LOCK_CLASS = 0x2A10  # advisory-lock namespace of the Zalo token refresh (second key: hashtext(channel id))
EXPIRY_MARGIN_S = 300.0  # refresh this long before Zalo's expiry, so a send never starts with a dying token


@dataclass(frozen=True)
class TokenGrant:
    """What the OAuth endpoint answered."""

    access_token: str
    refresh_token: str
    expires_in_s: float


class TokenRefreshFailed(IocError):
    """No token from the refresh; ``retryable``: trying later can help (network), or not (rejected)."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        self.reason = reason
        self.retryable = retryable
        super().__init__(reason)


Refresher = Callable[[str], Awaitable[TokenGrant]]


@dataclass
class _Cached:
    access_token: str
    expires_at: float  # unix seconds


class TokenStore:
    """Zalo tokens per channel: cached in memory, stored in PostgreSQL, refreshed under an advisory lock."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._cache: dict[str, _Cached] = {}

    async def access_token(
        self, channel_id: str, *, seed_refresh_token: str, refresher: Refresher, stale: str | None = None
    ) -> str:
        """Return a usable access token; ``stale`` is one the API just refused, which is never returned again.

        Raises TokenRefreshFailed when no token can be had, or SinkUnavailable-style psycopg errors as
        TokenRefreshFailed(retryable=True).
        """
        now = time.time()
        cached = self._cache.get(channel_id)
        if cached and cached.access_token != stale and cached.expires_at - EXPIRY_MARGIN_S > now:
            return cached.access_token
        try:
            row = await self._read(channel_id)
            if row is not None and row[0] != stale and row[2].timestamp() - EXPIRY_MARGIN_S > now:
                self._cache[channel_id] = _Cached(row[0], row[2].timestamp())
                return row[0]
            return await self._refresh(channel_id, seed_refresh_token, refresher, stale)
        except psycopg.Error as exc:
            raise TokenRefreshFailed(
                f"token store unavailable: {type(exc).__name__}", retryable=True
            ) from exc

    async def renew(
        self, channel_id: str, *, seed_refresh_token: str, refresher: Refresher, older_than_s: float
    ) -> bool:
        """Refresh when the stored pair is older than ``older_than_s`` (or absent); return whether it did.

        Zalo's refresh token is single-use and lapses after about three months: renewing it on a schedule
        keeps a quiet season from losing it (issue 13, point 4). Raises TokenRefreshFailed.
        """
        try:
            async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
                cur = await conn.execute(
                    "SELECT refreshed_at FROM zalo_tokens WHERE channel_id = %s", (channel_id,)
                )
                row = await cur.fetchone()
            if row is not None and (datetime.now(UTC) - row[0]).total_seconds() < older_than_s:
                return False
            cached = self._cache.get(channel_id)
            # "stale" set to the current access token makes the locked step spend the refresh token although
            # the access token is still valid; a worker that renewed meanwhile is seen there (min_age_s).
            stale = cached.access_token if cached else None
            if stale is None and row is not None:
                current = await self._read(channel_id)
                stale = current[0] if current else None
            await self._refresh(channel_id, seed_refresh_token, refresher, stale, min_age_s=older_than_s)
            return True
        except psycopg.Error as exc:
            raise TokenRefreshFailed(
                f"token store unavailable: {type(exc).__name__}", retryable=True
            ) from exc

    async def record_refusal(self, channel_id: str, reason: str) -> bool:
        """Note on the stored pair that Zalo refused its refresh token (migration 0014's refresh_error and
        refresh_failed_at; a later successful refresh clears them); False when no pair is stored yet.

        Raises TokenRefreshFailed(retryable=True) when the store is unavailable.
        """
        try:
            async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
                cur = await conn.execute(
                    "UPDATE zalo_tokens SET refresh_error = %s, refresh_failed_at = now() "
                    "WHERE channel_id = %s",
                    (reason[:500], channel_id),
                )
                return cur.rowcount > 0
        except psycopg.Error as exc:
            raise TokenRefreshFailed(
                f"token store unavailable: {type(exc).__name__}", retryable=True
            ) from exc

    def forget(self, channel_id: str) -> None:
        """Drop the in-memory copy (tests, or after an operator re-seeded the tokens)."""
        self._cache.pop(channel_id, None)

    async def _read(self, channel_id: str) -> tuple[str, str, datetime] | None:
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            cur = await conn.execute(
                "SELECT access_token, refresh_token, expires_at FROM zalo_tokens WHERE channel_id = %s",
                (channel_id,),
            )
            return await cur.fetchone()

    async def _refresh(
        self,
        channel_id: str,
        seed: str,
        refresher: Refresher,
        stale: str | None,
        *,
        min_age_s: float | None = None,
    ) -> str:
        async with await psycopg.AsyncConnection.connect(self.dsn) as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CLASS, channel_id))
            cur = await conn.execute(
                "SELECT access_token, refresh_token, expires_at, refreshed_at FROM zalo_tokens "
                "WHERE channel_id = %s",
                (channel_id,),
            )
            row = await cur.fetchone()
            now = time.time()
            if (
                min_age_s is not None
                and row is not None
                and now - row[3].timestamp() < min_age_s
                and row[2].timestamp() - EXPIRY_MARGIN_S > now
            ):
                # The scheduled renewal: another worker renewed while we waited for the lock.
                self._cache[channel_id] = _Cached(row[0], row[2].timestamp())
                return str(row[0])
            if (
                min_age_s is None
                and row is not None
                and row[0] != stale
                and row[2].timestamp() - EXPIRY_MARGIN_S > now
            ):
                # Another worker refreshed while we waited for the lock: use its token.
                self._cache[channel_id] = _Cached(row[0], row[2].timestamp())
                return str(row[0])
            refresh_token = row[1] if row is not None else seed
            try:
                grant = await refresher(refresh_token)  # under the lock: nobody else can spend this token
            except TokenRefreshFailed as exc:
                # The stored token is dead (an app re-authorised by hand, a rotation lost in transit): an
                # operator's new seed in the environment is the way back, so try it once.
                if exc.retryable or not seed or seed == refresh_token:
                    raise
                logger.warning(
                    "zalo channel %s: stored refresh token refused; trying the one in the environment",
                    channel_id,
                )
                grant = await refresher(seed)
            expires_at = datetime.now(UTC) + timedelta(seconds=grant.expires_in_s)
            await conn.execute(
                "INSERT INTO zalo_tokens (channel_id, access_token, refresh_token, expires_at, refreshed_at, "
                "refresh_count) VALUES (%s, %s, %s, %s, now(), 1) ON CONFLICT (channel_id) DO UPDATE SET "
                "access_token = EXCLUDED.access_token, refresh_token = EXCLUDED.refresh_token, "
                "expires_at = EXCLUDED.expires_at, refreshed_at = now(), "
                "refresh_count = zalo_tokens.refresh_count + 1, "
                "refresh_error = NULL, refresh_failed_at = NULL",
                (channel_id, grant.access_token, grant.refresh_token, expires_at),
            )
        logger.info(
            "zalo channel %s: access token refreshed, valid until %s", channel_id, expires_at.isoformat()
        )
        self._cache[channel_id] = _Cached(grant.access_token, expires_at.timestamp())
        return grant.access_token
