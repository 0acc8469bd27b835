"""The Zalo intake of citizens' reports in PostgreSQL (migration 0018): the signed events received, the draft of
each follower's conversation, and the messages going back through the Official Account.

An event is stored when its signature and time have been checked (``receive``; a second copy of one signature is
not stored again) and processed afterwards by the wall's Zalo worker (``claim``), so the webhook answers Zalo
within its 2 s. A follower's events are processed in order: an event is claimed only when no earlier event of the
same follower is still waiting. Messages to followers are rows of ``report_zalo_outbox``, written in the
transaction of what they tell (``ioc.store.reports.queue_zalo``), leased to one sender at a time (``due``) and
marked sent, retried later or failed with the reason: none is dropped silently.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from ioc.events import utcnow
from ioc.store.pool import pooled, pooled_transaction
from ioc.store.reports import Photo, queue_zalo

logger = logging.getLogger(__name__)

INBOX_KEEP_DAYS = 7  # processed events are kept this long (a replay within it is recognised), then deleted
SEND_LEASE_S = 120.0  # a message being sent is hidden from other senders this long


@dataclass(frozen=True)
class InboxEvent:
    """A signed event waiting to be processed."""

    id: int
    zalo_user_id: str
    event_name: str
    event: dict[str, Any]
    received_at: datetime


@dataclass
class InboxClaim:
    """An event being processed, and what processing it did (``accepted``, ``draft``, a refusal's reason)."""

    event: InboxEvent
    outcome: str = "done"


@dataclass(frozen=True)
class ZaloDraft:
    """A follower's report being put together in the OA chat."""

    zalo_user_id: str
    lang: str = "vi"
    category: str | None = None
    description: str | None = None
    lon: float | None = None
    lat: float | None = None
    photos: int = 0


@dataclass(frozen=True)
class OutMessage:
    """A message to a follower, to render and send."""

    id: int
    zalo_user_id: str
    kind: str
    params: dict[str, Any]
    report_code: str | None
    attempts: int


class ZaloIntakeStore:
    """Inbox, drafts and outbox of the Zalo intake; errors come out as ``SinkUnavailable`` / ``BadRecord``."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    # --- inbox ---------------------------------------------------------------------------------------------
    def receive(self, dedupe_key: str, zalo_user_id: str, event_name: str, event: dict[str, Any]) -> bool:
        """Keep a checked event for processing; False when this event (its signature) was received before."""
        with self._transaction() as conn:
            conn.execute(
                "DELETE FROM report_zalo_inbox WHERE processed_at < now() - make_interval(days => %s)",
                (INBOX_KEEP_DAYS,),
            )
            row = conn.execute(
                "INSERT INTO report_zalo_inbox (dedupe_key, zalo_user_id, event_name, event) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
                (dedupe_key, zalo_user_id, event_name[:64], Jsonb(event)),
            ).fetchone()
        return row is not None

    def events_since(self, zalo_user_id: str, since: datetime) -> int:
        """Return how many events of this follower were received since ``since`` (the webhook's throttle)."""
        with self._connection() as conn:
            row = conn.execute(
                "SELECT count(*) FROM report_zalo_inbox WHERE zalo_user_id = %s AND received_at >= %s",
                (zalo_user_id, since),
            ).fetchone()
        return int(row[0]) if row else 0

    @contextmanager
    def claim(self) -> Iterator[InboxClaim | None]:
        """Hold the oldest waiting event whose follower has no earlier one waiting (None: nothing to do); when
        the block ends without an exception it is marked processed with the claim's ``outcome``."""
        with self._transaction() as conn:
            cur = conn.cursor(row_factory=class_row(InboxEvent))
            event = cur.execute(
                "SELECT e.id, e.zalo_user_id, e.event_name, e.event, e.received_at FROM report_zalo_inbox e "
                "WHERE e.processed_at IS NULL AND NOT EXISTS (SELECT 1 FROM report_zalo_inbox p "
                "  WHERE p.zalo_user_id = e.zalo_user_id AND p.processed_at IS NULL AND p.id < e.id) "
                "ORDER BY e.id LIMIT 1 FOR UPDATE SKIP LOCKED"
            ).fetchone()
            claim = InboxClaim(event) if event is not None else None
            yield claim
            if claim is not None:
                conn.execute(
                    "UPDATE report_zalo_inbox SET processed_at = now(), outcome = %s WHERE id = %s",
                    (claim.outcome[:200], claim.event.id),
                )

    # --- drafts --------------------------------------------------------------------------------------------
    def draft(self, zalo_user_id: str, now: datetime | None = None) -> ZaloDraft | None:
        """Return the follower's draft, None when there is none or it has expired (then it is deleted)."""
        with self._transaction() as conn:
            # Every expired draft goes (with its photos), not only this follower's: most are never taken up again.
            conn.execute("DELETE FROM report_zalo_drafts WHERE expires_at <= %s", (now or utcnow(),))
            cur = conn.cursor(row_factory=class_row(ZaloDraft))
            return cur.execute(
                "SELECT d.zalo_user_id, d.lang, d.category, d.description, d.lon, d.lat, "
                "(SELECT count(*) FROM report_zalo_draft_photos p WHERE p.zalo_user_id = d.zalo_user_id)::int "
                "AS photos FROM report_zalo_drafts d WHERE d.zalo_user_id = %s",
                (zalo_user_id,),
            ).fetchone()

    def save(self, draft: ZaloDraft, expires_in: timedelta, now: datetime | None = None) -> None:
        """Write the draft; it expires ``expires_in`` after this change."""
        when = now or utcnow()
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO report_zalo_drafts (zalo_user_id, lang, category, description, lon, lat, started_at, "
                "updated_at, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (zalo_user_id) DO UPDATE SET lang = EXCLUDED.lang, category = EXCLUDED.category, "
                "description = EXCLUDED.description, lon = EXCLUDED.lon, lat = EXCLUDED.lat, "
                "updated_at = EXCLUDED.updated_at, expires_at = EXCLUDED.expires_at",
                (draft.zalo_user_id, draft.lang, draft.category, draft.description, draft.lon, draft.lat, when,
                 when, when + expires_in),
            )

    def add_photo(self, zalo_user_id: str, photo: Photo) -> None:
        """Attach a re-encoded photo to the follower's draft (which must exist)."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO report_zalo_draft_photos (zalo_user_id, width, height, data) VALUES (%s, %s, %s, %s)",
                (zalo_user_id, photo.width, photo.height, photo.data),
            )

    def photos(self, zalo_user_id: str) -> list[Photo]:
        """Return the draft's photos in the order they came."""
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT data, width, height FROM report_zalo_draft_photos WHERE zalo_user_id = %s ORDER BY id",
                (zalo_user_id,),
            ).fetchall()
        return [Photo(bytes(r[0]), int(r[1]), int(r[2])) for r in rows]

    def clear(self, zalo_user_id: str) -> None:
        """Drop the follower's draft and its photos (sent as a report, or cancelled)."""
        with self._connection() as conn:
            conn.execute("DELETE FROM report_zalo_drafts WHERE zalo_user_id = %s", (zalo_user_id,))

    # --- outbox --------------------------------------------------------------------------------------------
    def queue(self, zalo_user_id: str, kind: str, params: dict[str, Any], code: str | None = None) -> None:
        """Queue a message to the follower (a prompt of the conversation)."""
        with self._transaction() as conn:
            queue_zalo(conn, zalo_user_id, kind, code, params)

    def due(self, limit: int = 20, now: datetime | None = None) -> list[OutMessage]:
        """Lease the messages due now to this sender (others skip them for ``SEND_LEASE_S``), oldest first."""
        when = now or utcnow()
        with self._transaction() as conn:
            cur = conn.cursor(row_factory=class_row(OutMessage))
            leased = cur.execute(
                "UPDATE report_zalo_outbox o SET next_at = %s, attempts = o.attempts + 1 WHERE o.id IN ("
                "  SELECT id FROM report_zalo_outbox WHERE status = 'pending' AND next_at <= %s "
                "  ORDER BY next_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
                "RETURNING o.id, o.zalo_user_id, o.kind, o.params, o.report_code, o.attempts",
                (when + timedelta(seconds=SEND_LEASE_S), when, limit),
            ).fetchall()
        return sorted(leased, key=lambda m: m.id)  # RETURNING keeps no order; a follower reads them in order

    def sent(self, message_id: int, msg_id: str | None) -> None:
        """Mark a message sent, with Zalo's message id."""
        with self._connection() as conn:
            conn.execute(
                "UPDATE report_zalo_outbox SET status = 'sent', sent_at = now(), msg_id = %s, last_error = NULL "
                "WHERE id = %s",
                (msg_id, message_id),
            )

    def retry(self, message_id: int, error: str, at: datetime) -> None:
        """Leave a message pending, to be tried again at ``at``."""
        with self._connection() as conn:
            conn.execute(
                "UPDATE report_zalo_outbox SET next_at = %s, last_error = %s WHERE id = %s",
                (at, error[:500], message_id),
            )

    def failed(self, message_id: int, error: str) -> None:
        """Mark a message failed for good, with the reason (it stays in the table for an operator)."""
        with self._connection() as conn:
            conn.execute(
                "UPDATE report_zalo_outbox SET status = 'failed', last_error = %s WHERE id = %s",
                (error[:500], message_id),
            )
        logger.error("zalo message %s to a follower failed: %s", message_id, error[:200])

    def messages(self, zalo_user_id: str | None = None) -> list[dict[str, Any]]:
        """Return the outbox rows (of one follower), oldest first: for tests and operators."""
        with self._connection() as conn:
            cur = conn.cursor(row_factory=psycopg.rows.dict_row)
            where, params = ("WHERE zalo_user_id = %s", (zalo_user_id,)) if zalo_user_id else ("", ())
            return cur.execute(f"SELECT * FROM report_zalo_outbox {where} ORDER BY id", params).fetchall()

    def _transaction(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        return pooled_transaction(self._pool, "zalo intake")

    def _connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        return pooled(self._pool, "PostgreSQL (zalo intake)")
