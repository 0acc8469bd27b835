"""The notification outbox in PostgreSQL (table ``notify_outbox``, migration 0011): the one adapter that
writes
it.

- ``OutboxPlanner.on_transition`` runs inside the writer's transaction: the messages an alert transition calls
  for are committed with the transition, or not at all.
- ``schedule`` is the escalation scheduler's sweep: it cancels what an acknowledgement or a resolve has
  stopped and adds the ladder steps and reminders now due, for every open alert. Everything it plans is
  derived from the ``alerts`` table, so a scheduler that dies loses nothing: the next sweep (of any scheduler)
  plans the same rows, and their idempotency keys make the second plan a no-op.
- The sender's steps: ``claim`` (a batch of due rows, ``FOR UPDATE SKIP LOCKED``, leased to one sender),
  ``start`` (one row to ``sending`` with its attempt counted, committed before the provider is called), then
  one of ``sent``, ``retry_later``, ``fall_back``, ``fail``, ``release``. ``recover_stuck`` deals with rows a
  dead sender left in ``sending``.
- ``failed_deliveries`` is what the wall shows: messages that failed for good, with the provider's reason.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import class_row, dict_row

from ioc.events import AlertEvent, AlertTransition, Severity, utcnow
from ioc.notify.channels.base import provider_ref
from ioc.notify.planner import (
    ESCALATED,
    OPENED,
    REMINDER,
    RESOLVED,
    AlertState,
    Planned,
    Planner,
    next_channel_key,
)
from ioc.notify.render import reason_text
from ioc.store.alerts import short_code

logger = logging.getLogger(__name__)

AsyncConn = psycopg.AsyncConnection[Any]

_INSERT_SQL = """
INSERT INTO notify_outbox (idempotency_key, alert_id, alert_key, officer_id, channel_id, step, kind, status,
                           next_attempt_at, due_at, severity, cause)
SELECT k, a, ak, o, c, s, kd, 'pending', d, d, sv, cs
  FROM unnest(%s::text[], %s::uuid[], %s::text[], %s::text[], %s::text[], %s::int[], %s::text[],
              %s::timestamptz[], %s::text[], %s::text[]) AS t(k, a, ak, o, c, s, kd, d, sv, cs)
ON CONFLICT (idempotency_key) DO UPDATE
   SET due_at = EXCLUDED.due_at, next_attempt_at = least(notify_outbox.next_attempt_at, EXCLUDED.due_at),
       severity = EXCLUDED.severity
 WHERE notify_outbox.status = 'pending' AND EXCLUDED.due_at < notify_outbox.due_at
"""
# A key planned again changes nothing, except that a message still waiting comes forward when a new plan wants
# it sooner: a warning held by the quiet hours that rises to major goes out now, not at 06:00. (A row another
# sender has claimed may become due again: only its claimant can start it, see _START_SQL.)
# Rows an acknowledgement stops (the ladder and reminders) and, once resolved, the severity notices too.
_STOPPED = f"""
 o.status = 'pending' AND a.status <> 'open'
 AND (o.kind IN ('{OPENED}', '{REMINDER}')
      OR (o.kind = '{ESCALATED}' AND (o.cause = 'ladder' OR a.status = 'resolved')))
"""
_CANCEL_STOPPED_SQL = f"""
UPDATE notify_outbox o SET status = 'cancelled', reason = 'alert_' || a.status
  FROM alerts a
 WHERE a.alert_id = o.alert_id AND {_STOPPED}
"""
_REACHED_SQL = """
SELECT officer_id, min(step) FROM notify_outbox
 WHERE alert_id = %s AND status IN ('sending', 'sent', 'delivered') GROUP BY officer_id
"""
_ALERT_SQL = """
SELECT alert_id, alert_key, status, severity, source_kind, area_code, opened_at
  FROM alerts WHERE alert_id = %s
"""
_OPEN_ALERTS_SQL = """
SELECT alert_id, alert_key, status, severity, source_kind, area_code, opened_at
  FROM alerts WHERE status = 'open'
"""
_CLAIM_SQL = """
WITH due AS (
    SELECT id FROM notify_outbox
     WHERE status = 'pending' AND next_attempt_at <= %(now)s
     ORDER BY next_attempt_at, id
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
)
UPDATE notify_outbox o SET next_attempt_at = %(lease)s, claimed_by = %(sender)s
  FROM due WHERE o.id = due.id
RETURNING o.id, o.idempotency_key, o.alert_id, o.alert_key, o.officer_id, o.channel_id, o.step, o.kind,
          o.status, o.attempts, o.due_at, o.severity, o.cause
"""
_START_SQL = f"""
UPDATE notify_outbox o SET status = 'sending', attempts = attempts + 1, next_attempt_at = %(lease)s,
       provider_ref = %(ref)s
 WHERE id = %(id)s AND status = 'pending' AND claimed_by = %(sender)s
   AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.alert_id = o.alert_id AND {_STOPPED})
RETURNING attempts
"""


@dataclass(frozen=True)
class OutboxRow:
    """A claimed outbox row, as the sender works on it."""

    id: int
    idempotency_key: str
    alert_id: uuid.UUID
    alert_key: str
    officer_id: str
    channel_id: str | None
    step: int
    kind: str
    status: str
    attempts: int
    due_at: datetime
    severity: str
    cause: str


@dataclass(frozen=True)
class FailedDelivery:
    """A message that failed for good, for operators: who, which channel, and the provider's reason."""

    id: int
    alert_id: uuid.UUID
    alert_key: str
    short_code: str
    officer_id: str
    channel_id: str | None
    kind: str
    step: int
    attempts: int
    reason: str
    due_at: datetime
    failed_at: datetime

    def explain(self, lang: str) -> str:
        """Return the reason as the wall shows it: a label in ``lang`` and the provider's own words."""
        return reason_text(self.reason, lang)


@dataclass(frozen=True)
class ScheduleReport:
    """What one sweep of the escalation scheduler did."""

    cancelled: int
    planned: int
    open_alerts: int
    next_at: datetime | None  # the next moment something may fall due (None: nothing open)


async def add(conn: AsyncConn, rows: Sequence[Planned]) -> int:
    """Insert planned rows (a pending row planned sooner comes forward); return how many were new or moved."""
    if not rows:
        return 0
    soonest: dict[str, Planned] = {}
    for r in rows:  # one key at most once per statement (ON CONFLICT DO UPDATE requires it)
        if r.key not in soonest or r.due_at < soonest[r.key].due_at:
            soonest[r.key] = r
    cols: tuple[list[object], ...] = tuple([] for _ in range(10))
    for r in soonest.values():
        for col, v in zip(
            cols,
            (
                r.key,
                r.alert_id,
                r.alert_key,
                r.officer_id,
                r.channel_id,
                r.step,
                r.kind,
                r.due_at,
                r.severity.value,
                r.cause,
            ),
            strict=True,
        ):
            col.append(v)
    cur = await conn.execute(_INSERT_SQL, cols)
    return max(cur.rowcount, 0)


async def reached(conn: AsyncConn, alert_id: uuid.UUID) -> dict[str, int]:
    """Return the officers a message about the alert reached (or is reaching), each with their first step."""
    cur = await conn.execute(_REACHED_SQL, (alert_id,))
    return {str(oid): int(step) for oid, step in await cur.fetchall()}


async def alert_state(conn: AsyncConn, alert_id: uuid.UUID) -> AlertState | None:
    """Return the planning view of one alert row, or None when there is no such alert."""
    cur = await conn.execute(_ALERT_SQL, (alert_id,))
    row = await cur.fetchone()
    return _state(row) if row is not None else None


def _state(row: Sequence[Any]) -> AlertState:
    return AlertState(
        alert_id=row[0],
        alert_key=row[1],
        status=row[2],
        severity=Severity(row[3]),
        source_kind=row[4],
        area_code=row[5],
        opened_at=row[6],
    )


@dataclass
class OutboxPlanner:
    """What the writer holds to add an alert transition's messages in the transition's own transaction."""

    planner: Planner
    clock: Callable[[], datetime] = utcnow

    async def on_transition(self, conn: AsyncConn, event: AlertEvent) -> int:
        """Plan and insert the messages one applied transition calls for; return how many rows were added."""
        state = await alert_state(conn, event.alert_id)
        if state is None:
            return 0
        now = self.clock()
        if event.transition is AlertTransition.OPENED:
            rows = self.planner.opened(state, now)
        elif event.transition is AlertTransition.ESCALATED:
            rows = self.planner.escalated(state, await reached(conn, state.alert_id), now)
        elif event.transition is AlertTransition.RESOLVED:
            await conn.execute(
                "UPDATE notify_outbox SET status = 'cancelled', reason = 'alert_resolved' "
                "WHERE alert_id = %s AND status = 'pending' AND kind <> %s",
                (state.alert_id, RESOLVED),
            )
            rows = self.planner.resolved(state, await reached(conn, state.alert_id), now)
        else:
            return 0
        added = await add(conn, rows)
        if added:
            logger.info("alert %s %s: %d message(s) planned", event.alert_key, event.transition.value, added)
        return added


async def schedule(
    conn: AsyncConn, planner: Planner, now: datetime, lookahead: timedelta = timedelta(0)
) -> ScheduleReport:
    """Cancel what acknowledgements and resolves stopped; add steps and reminders due by now + lookahead."""
    async with conn.transaction():
        cur = await conn.execute(_CANCEL_STOPPED_SQL)
        cancelled = max(cur.rowcount, 0)
    cur = await conn.execute(_OPEN_ALERTS_SQL)
    alerts = [_state(r) for r in await cur.fetchall()]
    planned = 0
    next_at: datetime | None = None
    until = now + lookahead
    for alert in alerts:
        async with conn.transaction():
            planned += await add(conn, planner.due(alert, until))
        t = planner.next_time(alert, until)
        if t is not None and (next_at is None or t < next_at):
            next_at = t
    if planned or cancelled:
        logger.info(
            "escalation sweep: %d planned, %d cancelled over %d open alert(s)",
            planned,
            cancelled,
            len(alerts),
        )
    return ScheduleReport(cancelled=cancelled, planned=planned, open_alerts=len(alerts), next_at=next_at)


async def claim(conn: AsyncConn, sender: str, now: datetime, limit: int, lease: timedelta) -> list[OutboxRow]:
    """Lease up to ``limit`` due rows to ``sender`` (rows other senders hold are skipped, not waited for)."""
    async with conn.transaction():
        cur = conn.cursor(row_factory=class_row(OutboxRow))
        await cur.execute(_CLAIM_SQL, {"now": now, "limit": limit, "lease": now + lease, "sender": sender})
        return await cur.fetchall()


async def start(conn: AsyncConn, row: OutboxRow, sender: str, now: datetime, lease: timedelta) -> int | None:
    """Mark one claimed row ``sending``, counting the attempt and storing its provider reference; None when it
    is no longer ours or stopped."""
    async with conn.transaction():
        params = {
            "id": row.id,
            "sender": sender,
            "lease": now + lease,
            "ref": provider_ref(row.idempotency_key),
        }
        cur = await conn.execute(_START_SQL, params)
        got = await cur.fetchone()
    return int(got[0]) if got else None


async def sent(conn: AsyncConn, row: OutboxRow, provider_message_id: str | None, now: datetime) -> None:
    """Record that the provider accepted the message."""
    await conn.execute(
        "UPDATE notify_outbox SET status = 'sent', provider_message_id = %s, sent_at = %s, reason = '' "
        "WHERE id = %s AND status = 'sending'",
        (provider_message_id, now, row.id),
    )


async def retry_later(conn: AsyncConn, row: OutboxRow, at: datetime, reason: str) -> None:
    """Put a row back in the queue for another attempt at ``at``, keeping the reason of this one."""
    await conn.execute(
        "UPDATE notify_outbox SET status = 'pending', next_attempt_at = %s, reason = %s WHERE id = %s",
        (at, reason, row.id),
    )


async def fail(conn: AsyncConn, row: OutboxRow, reason: str, now: datetime) -> None:
    """Give up on a row for good, with the reason operators will see (next_attempt_at: when it failed)."""
    await conn.execute(
        "UPDATE notify_outbox SET status = 'failed', reason = %s, next_attempt_at = %s WHERE id = %s",
        (reason, now, row.id),
    )


async def fall_back(conn: AsyncConn, row: OutboxRow, reason: str, channel_id: str, now: datetime) -> bool:
    """Mark a row 'fallback' and queue the same message on ``channel_id``, in one transaction."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE notify_outbox SET status = 'fallback', reason = %s WHERE id = %s", (reason, row.id)
        )
        cur = await conn.execute(
            "INSERT INTO notify_outbox (idempotency_key, alert_id, alert_key, officer_id, channel_id, step, "
            "kind, status, next_attempt_at, due_at, severity, cause) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, 'pending', %s, %s, %s, %s) "
            "ON CONFLICT (idempotency_key) DO NOTHING",
            (
                next_channel_key(row.idempotency_key, channel_id),
                row.alert_id,
                row.alert_key,
                row.officer_id,
                channel_id,
                row.step,
                row.kind,
                now,
                row.due_at,
                row.severity,
                row.cause,
            ),
        )
        return cur.rowcount > 0


async def stuck(conn: AsyncConn, now: datetime) -> list[OutboxRow]:
    """Return rows left in 'sending' past their lease (their sender died between the call and the answer)."""
    cur = conn.cursor(row_factory=class_row(OutboxRow))
    await cur.execute(
        "SELECT id, idempotency_key, alert_id, alert_key, officer_id, channel_id, step, kind, status, "
        "attempts, due_at, severity, cause FROM notify_outbox "
        "WHERE status = 'sending' AND next_attempt_at < %s "
        "ORDER BY id FOR UPDATE SKIP LOCKED",
        (now,),
    )
    return await cur.fetchall()


async def recover_stuck(conn: AsyncConn, now: datetime, resend_channels: Collection[str]) -> tuple[int, int]:
    """Deal with rows a dead sender left in 'sending'; return (queued again, failed).

    The provider may or may not have got the request. On a channel that de-duplicates by our idempotency key
    (``resend_channels``) the row is sent again with the same key: the provider drops the copy. Elsewhere a
    second send could reach the officer twice, so the row fails with 'outcome_unknown' for operators to see,
    and the ladder and reminders, which are rows of their own, go on.
    """
    again = failed = 0
    async with conn.transaction():
        for row in await stuck(conn, now):
            if row.channel_id in resend_channels:
                await conn.execute(
                    "UPDATE notify_outbox SET status = 'pending', next_attempt_at = %s, claimed_by = '', "
                    "reason = 'resent_after_interruption' WHERE id = %s",
                    (now, row.id),
                )
                again += 1
            else:
                await fail(
                    conn,
                    row,
                    "outcome_unknown: the sender stopped during the provider call; "
                    "not sent again to avoid a duplicate",
                    now,
                )
                failed += 1
            logger.warning(
                "outbox row %s (%s) was left sending by a stopped sender: %s",
                row.id,
                row.idempotency_key,
                "queued again" if row.channel_id in resend_channels else "failed",
            )
    return again, failed


def failed_deliveries(
    conn: psycopg.Connection[Any], since: datetime, limit: int = 200
) -> list[FailedDelivery]:
    """Return the messages that failed for good since ``since``, newest first, with the provider's reason."""
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(
        "SELECT id, alert_id, alert_key, officer_id, channel_id, kind, step, attempts, reason, due_at, "
        "       next_attempt_at AS failed_at "
        "  FROM notify_outbox WHERE status = 'failed' AND next_attempt_at >= %s "
        " ORDER BY next_attempt_at DESC, id DESC LIMIT %s",
        (since, limit),
    ).fetchall()
    return [FailedDelivery(short_code=short_code(r["alert_id"]), **r) for r in rows]


async def counts(conn: AsyncConn, alert_id: uuid.UUID | None = None) -> dict[str, int]:
    """Return how many rows are in each status (of one alert, or all)."""
    where, args = ("WHERE alert_id = %s", (alert_id,)) if alert_id else ("", ())
    cur = await conn.execute(f"SELECT status, count(*) FROM notify_outbox {where} GROUP BY status", args)
    return {str(s): int(n) for s, n in await cur.fetchall()}


async def defer(conn: AsyncConn, row: OutboxRow, sender: str, at: datetime, reason: str) -> None:
    """Push a claimed, untried row to ``at`` (a rate limit said wait; nothing is dropped)."""
    await conn.execute(
        "UPDATE notify_outbox SET next_attempt_at = %s, reason = %s, claimed_by = '' "
        "WHERE id = %s AND status = 'pending' AND claimed_by = %s",
        (at, reason, row.id, sender),
    )


async def cancel_if_stopped(conn: AsyncConn, row: OutboxRow) -> bool:
    """Cancel one pending row if an acknowledgement or a resolve has stopped it; return whether it did."""
    cur = await conn.execute(_CANCEL_STOPPED_SQL + " AND o.id = %s", (row.id,))
    return cur.rowcount > 0


async def next_due(conn: AsyncConn) -> datetime | None:
    """Return when the earliest pending row falls due (None: nothing pending)."""
    cur = await conn.execute("SELECT min(next_attempt_at) FROM notify_outbox WHERE status = 'pending'")
    row = await cur.fetchone()
    return row[0] if row else None
