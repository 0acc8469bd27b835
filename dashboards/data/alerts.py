"""Alerts on the wall: the open feed, the new criticals, one alert's detail, and the officers' actions on them.

Every read and every action is limited to the user's scope (the alert's area), in the SQL for reads and by a
look-up of the alert's area before an action; outside the scope an alert is as good as missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row, dict_row

from dashboards import strings as _strings  # noqa: F401  (registers the catalog)
from dashboards.data.areas import AreaNames
from dashboards.data.db import SCOPED, Database, scope_codes
from dashboards.wall_scope import Scope
from ioc.events import utcnow
from ioc.i18n import t
from ioc.store import alerts as alert_store


@dataclass(frozen=True)
class AlertView:
    """One open alert, its message already in the reader's language."""

    alert_id: UUID
    key: str
    severity: str
    status: str
    message: str
    opened_at: datetime
    updated_at: datetime
    area_code: str | None
    area: str | None
    source_kind: str
    source_id: str
    value: float | None
    acknowledged_by: str | None = None


@dataclass(frozen=True)
class TrailEntry:
    """One step of an alert's trail (``ioc.store.alerts.trail``): a transition, an action or a note."""

    at: datetime
    kind: str  # transition, action, note
    action: str
    username: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class NotificationView:
    """One outbox row of an alert: to whom, on which channel, at which step, and how it went."""

    id: int
    officer_id: str
    channel_id: str | None
    step: int
    kind: str
    status: str
    attempts: int
    reason: str
    due_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None


@dataclass(frozen=True)
class AlertDetail:
    """One alert with everything the detail panel shows."""

    alert: AlertView
    assignee: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    trail: list[TrailEntry]
    notifications: list[NotificationView]


@dataclass(frozen=True)
class _AlertRow:
    alert_id: UUID
    alert_key: str
    severity: str
    status: str
    message_key: str
    params: dict[str, Any]
    opened_at: datetime
    updated_at: datetime
    area_code: str | None
    source_kind: str
    source_id: str
    value: float | None
    acknowledged_by: str | None


_OPEN_ALERTS_SQL = f"""
SELECT alert_id, alert_key, severity, status, message_key, params, opened_at, updated_at, area_code,
       source_kind, source_id, value, acknowledged_by
  FROM alerts
 WHERE status <> 'resolved' AND {SCOPED}
 ORDER BY array_position(ARRAY['critical', 'major', 'warning', 'info'], severity), opened_at DESC
 LIMIT %(limit)s
"""
_COUNT_OPEN_SQL = f"SELECT count(*) FROM alerts WHERE status <> 'resolved' AND {SCOPED}"
_NEW_CRITICAL_SQL = f"""
SELECT alert_id, alert_key, severity, status, message_key, params, opened_at, updated_at, area_code,
       source_kind, source_id, value, acknowledged_by
  FROM alerts
 WHERE status = 'open' AND severity = 'critical' AND {SCOPED}
 ORDER BY opened_at DESC
 LIMIT 5
"""
_ALERT_AREA_SQL = "SELECT area_code FROM alerts WHERE alert_id = %s"
_DETAIL_SQL = f"""
SELECT alert_id, alert_key, severity, status, message_key, params, opened_at, updated_at, area_code,
       source_kind, source_id, value, acknowledged_by, assignee, resolved_at, resolved_by
  FROM alerts
 WHERE alert_id = %(alert_id)s AND {SCOPED}
"""
_NOTIFICATIONS_SQL = """
SELECT id, officer_id, channel_id, step, kind, status, attempts, reason, due_at, sent_at, delivered_at
  FROM notify_outbox WHERE alert_id = %s ORDER BY due_at, id
"""


def render_message(message_key: str, params: Mapping[str, Any], lang: str) -> str:
    """Format an alert message in ``lang`` from its template key and parameters."""
    return t(message_key, lang, **params)


class AlertReader:
    """The alert feed, its count, the new criticals and one alert's detail, in the reader's language."""

    def __init__(self, db: Database, areas: AreaNames) -> None:
        self._db = db
        self._areas = areas
        self.read_at: datetime | None = None  # when the feed was last read (the wall's freshness line)

    def open_alerts(self, limit: int = 20, lang: str = "vi", scope: Scope | None = None) -> list[AlertView]:
        """Return the open and acknowledged alerts (in the scope), most severe and newest first."""
        params = {"limit": limit, "codes": scope_codes(scope)}
        with self._db.connection() as conn:
            rows = conn.cursor(row_factory=class_row(_AlertRow)).execute(_OPEN_ALERTS_SQL, params).fetchall()
        self.read_at = utcnow()
        return [self._view(row, lang) for row in rows]

    def count_open_alerts(self, scope: Scope | None = None) -> int:
        """Return how many alerts (in the scope) are not resolved."""
        with self._db.connection() as conn:
            row = conn.execute(_COUNT_OPEN_SQL, {"codes": scope_codes(scope)}).fetchone()
        return int(row[0]) if row else 0

    def new_critical_alerts(self, lang: str = "vi", scope: Scope | None = None) -> list[AlertView]:
        """Return the critical alerts (in the scope) nobody has acknowledged yet, newest first (at most 5)."""
        with self._db.connection() as conn:
            rows = (
                conn.cursor(row_factory=class_row(_AlertRow))
                .execute(_NEW_CRITICAL_SQL, {"codes": scope_codes(scope)})
                .fetchall()
            )
        return [self._view(row, lang) for row in rows]

    def alert_detail(self, alert_id: UUID, lang: str, scope: Scope) -> AlertDetail | None:
        """Return one alert (any status) with its trail and messages; None outside the scope or missing."""
        with self._db.connection() as conn:
            row = (
                conn.cursor(row_factory=dict_row)
                .execute(_DETAIL_SQL, {"alert_id": alert_id, "codes": scope_codes(scope)})
                .fetchone()
            )
            if row is None:
                return None
            trail = [TrailEntry(**e) for e in alert_store.trail(conn, alert_id)]
            notes = (
                conn.cursor(row_factory=class_row(NotificationView))
                .execute(_NOTIFICATIONS_SQL, (alert_id,))
                .fetchall()
            )
        extra = {k: row.pop(k) for k in ("assignee", "resolved_at", "resolved_by")}
        return AlertDetail(alert=self._view(_AlertRow(**row), lang), trail=trail, notifications=notes, **extra)

    def _view(self, row: _AlertRow, lang: str) -> AlertView:
        return AlertView(
            alert_id=row.alert_id,
            key=row.alert_key,
            severity=row.severity,
            status=row.status,
            message=render_message(row.message_key, row.params, lang),
            opened_at=row.opened_at,
            updated_at=row.updated_at,
            area_code=row.area_code,
            area=self._areas.name(row.area_code, lang),
            source_kind=row.source_kind,
            source_id=row.source_id,
            value=row.value,
            acknowledged_by=row.acknowledged_by,
        )


class AlertActions:
    """What an officer does to an alert from the wall: acknowledge, assign, note, resolve (audited)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def acknowledge(self, alert_id: UUID, by: str, scope: Scope) -> alert_store.AckResult:
        """Acknowledge an alert from the wall for ``by``; outside the scope it is as unknown as a missing one.

        The acknowledgement and its audit line are written in one transaction (ioc.store.alerts).
        """
        with self._db.connection() as conn:
            if not _in_scope(conn, alert_id, scope):
                return alert_store.AckResult(alert_store.Outcome.UNKNOWN)
            return alert_store.acknowledge(conn, alert_id, by=by, via="wall")

    def assign(self, alert_id: UUID, assignee: str | None, by: str, scope: Scope) -> alert_store.Outcome:
        """Give an alert in the scope to an officer, as ``by``; outside the scope it is as good as missing."""
        with self._db.connection() as conn:
            if not _in_scope(conn, alert_id, scope):
                return alert_store.Outcome.UNKNOWN
            return alert_store.assign(conn, alert_id, assignee=assignee, by=by)

    def add_note(self, alert_id: UUID, text: str, by: str, scope: Scope) -> alert_store.Outcome:
        """Add a note to an alert in the scope, as ``by``; ValueError for an empty or too long note."""
        with self._db.connection() as conn:
            if not _in_scope(conn, alert_id, scope):
                return alert_store.Outcome.UNKNOWN
            return alert_store.add_note(conn, alert_id, text=text, by=by)

    def resolve(self, alert_id: UUID, by: str, scope: Scope) -> alert_store.Outcome:
        """Close an alert in the scope by hand, as ``by``; outside the scope it is as good as missing."""
        with self._db.connection() as conn:
            if not _in_scope(conn, alert_id, scope):
                return alert_store.Outcome.UNKNOWN
            return alert_store.resolve(conn, alert_id, by=by)


def _in_scope(conn: psycopg.Connection[Any], alert_id: UUID, scope: Scope) -> bool:
    row = conn.execute(_ALERT_AREA_SQL, (alert_id,)).fetchone()
    return row is not None and scope.covers(row[0])
