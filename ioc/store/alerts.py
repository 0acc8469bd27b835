"""The alert lifecycle shared by the wall, the message links and SMS/Zalo replies: acknowledge, assign, note, resolve.

An alert row is opened and closed by the writer from the alert events (``ioc/store/writer.py``); people move it from
``open`` to ``acknowledged`` (and may close it by hand: ``resolved`` with ``resolved_by``). Every change a person
makes is written with its ``audit_log`` line in one transaction, so the trail is never missing a step.

Each alert has a short code for replies ("OK 3FA2C1"): the first six hex digits of its id, upper case. Six digits
give 16.7 million codes; a code is looked up among the alerts not yet resolved, and a code that matches two of them
is refused as ambiguous rather than guessed.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from ioc.config.channels import CHANNEL_VIAS
from ioc.events import utcnow

# How an acknowledgement came (alerts.acknowledged_via): a person on the wall, through a message's link or on
# the command line, or an answer through a notification channel (each channel's config table declares its
# ``via`` in ``ioc.config.channels``).
PERSON_VIAS: tuple[str, ...] = ("wall", "link", "cli")
VIAS: tuple[str, ...] = (*PERSON_VIAS, *(v for v in CHANNEL_VIAS if v not in PERSON_VIAS))
Via = str  # one of VIAS, checked by ``acknowledge``
SHORT_CODE_LEN = 6
_SHORT_RE = re.compile(r"^[0-9A-F]{6}$")


class Outcome(StrEnum):
    """What an acknowledgement (or a manual resolve) did."""

    DONE = "done"  # the alert changed
    ALREADY = "already"  # it was already acknowledged (or resolved, for a resolve)
    RESOLVED = "resolved"  # too late: the alert is closed
    UNKNOWN = "unknown"  # no such alert
    AMBIGUOUS = "ambiguous"  # a short code that matches two live alerts


@dataclass(frozen=True)
class AckResult:
    """The outcome of one acknowledgement, with the alert it concerned (when one was found)."""

    outcome: Outcome
    alert_id: uuid.UUID | None = None
    alert_key: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None


def short_code(alert_id: uuid.UUID | str) -> str:
    """Return the reply code of an alert: the first six hex digits of its id, upper case."""
    return uuid.UUID(str(alert_id)).hex[:SHORT_CODE_LEN].upper()


def parse_reference(ref: str) -> uuid.UUID | str:
    """Return an alert id (a UUID) or a short code from what a person typed; raise ValueError otherwise."""
    text = ref.strip()
    try:
        return uuid.UUID(text)
    except ValueError:
        pass
    code = text.upper()
    if _SHORT_RE.match(code):
        return code
    raise ValueError(f"{ref!r} is neither an alert id nor a {SHORT_CODE_LEN}-character alert code")


def find_alert(
    conn: psycopg.Connection[Any], ref: str | uuid.UUID, *, for_update: bool = False
) -> dict[str, Any] | Outcome:
    """Return the alert row for an id or a short code, or ``Outcome.UNKNOWN``/``Outcome.AMBIGUOUS``."""
    try:
        parsed = ref if isinstance(ref, uuid.UUID) else parse_reference(ref)
    except ValueError:
        return Outcome.UNKNOWN
    lock = " FOR UPDATE" if for_update else ""
    cur = conn.cursor(row_factory=dict_row)
    if isinstance(parsed, uuid.UUID):
        row = cur.execute(f"SELECT * FROM alerts WHERE alert_id = %s{lock}", (parsed,)).fetchone()
        return row if row is not None else Outcome.UNKNOWN
    low = uuid.UUID(parsed.lower() + "0" * (32 - SHORT_CODE_LEN))
    high = uuid.UUID(parsed.lower() + "f" * (32 - SHORT_CODE_LEN))
    rows = cur.execute(
        f"SELECT * FROM alerts WHERE alert_id BETWEEN %s AND %s AND status <> 'resolved' LIMIT 2{lock}",
        (low, high),
    ).fetchall()
    if not rows:
        return Outcome.UNKNOWN
    return rows[0] if len(rows) == 1 else Outcome.AMBIGUOUS


def acknowledge(
    conn: psycopg.Connection[Any], ref: str | uuid.UUID, *, by: str, via: Via, note: str | None = None,
    at: datetime | None = None,
) -> AckResult:
    """Acknowledge an open alert (by id or short code) for ``by``, recording how; idempotent.

    The escalation ladder stops for an acknowledged alert. A second acknowledgement changes nothing and says who
    was first; an alert already resolved cannot be acknowledged.
    """
    if via not in VIAS:
        raise ValueError(f"via must be one of {', '.join(VIAS)}, not {via!r}")
    when = at or utcnow()
    with conn.transaction():
        row = find_alert(conn, ref, for_update=True)
        if isinstance(row, Outcome):
            return AckResult(row)
        result = dict(alert_id=row["alert_id"], alert_key=row["alert_key"])
        if row["status"] == "resolved":
            return AckResult(Outcome.RESOLVED, **result)
        if row["status"] == "acknowledged":
            return AckResult(Outcome.ALREADY, acknowledged_by=row["acknowledged_by"],
                             acknowledged_at=row["acknowledged_at"], **result)
        conn.execute(
            "UPDATE alerts SET status = 'acknowledged', acknowledged_at = %s, acknowledged_by = %s, "
            "acknowledged_via = %s WHERE alert_id = %s",
            (when, by, via, row["alert_id"]),
        )
        _audit(conn, by, "alert.acknowledge", row["alert_id"], {"via": via, "alert_key": row["alert_key"]}, when)
        if note:
            _note(conn, row["alert_id"], by, note, when)
        return AckResult(Outcome.DONE, acknowledged_by=by, acknowledged_at=when, **result)


def assign(conn: psycopg.Connection[Any], alert_id: uuid.UUID | str, *, assignee: str | None, by: str) -> Outcome:
    """Give an alert to someone (``None``: take it back); recorded in the audit log."""
    with conn.transaction():
        row = find_alert(conn, uuid.UUID(str(alert_id)), for_update=True)
        if isinstance(row, Outcome):
            return row
        if row["assignee"] == assignee:
            return Outcome.ALREADY
        conn.execute("UPDATE alerts SET assignee = %s WHERE alert_id = %s", (assignee, row["alert_id"]))
        _audit(conn, by, "alert.assign", row["alert_id"], {"assignee": assignee, "previous": row["assignee"]})
        return Outcome.DONE


def add_note(conn: psycopg.Connection[Any], alert_id: uuid.UUID | str, *, text: str, by: str) -> Outcome:
    """Add a note to an alert (1 to 2000 characters); recorded in the audit log."""
    text = text.strip()
    if not 1 <= len(text) <= 2000:
        raise ValueError("a note needs 1 to 2000 characters")
    with conn.transaction():
        row = find_alert(conn, uuid.UUID(str(alert_id)))
        if isinstance(row, Outcome):
            return row
        _note(conn, row["alert_id"], by, text, utcnow())
        _audit(conn, by, "alert.note", row["alert_id"], {"length": len(text)})
        return Outcome.DONE


def resolve(conn: psycopg.Connection[Any], alert_id: uuid.UUID | str, *, by: str, note: str | None = None) -> Outcome:
    """Close an alert by hand (a false alarm, a sensor under repair); the condition may still raise a new one."""
    when = utcnow()
    with conn.transaction():
        row = find_alert(conn, uuid.UUID(str(alert_id)), for_update=True)
        if isinstance(row, Outcome):
            return row
        if row["status"] == "resolved":
            return Outcome.ALREADY
        conn.execute(
            "UPDATE alerts SET status = 'resolved', resolved_at = %s, resolved_by = %s, updated_at = "
            "greatest(updated_at, %s) WHERE alert_id = %s",
            (when, by, when, row["alert_id"]),
        )
        _audit(conn, by, "alert.resolve", row["alert_id"], {"alert_key": row["alert_key"]}, when)
        if note:
            _note(conn, row["alert_id"], by, note, when)
        return Outcome.DONE


def trail(conn: psycopg.Connection[Any], alert_id: uuid.UUID | str) -> list[dict[str, Any]]:
    """Return everything that happened to one alert, oldest first: transitions, people's actions and notes."""
    aid = uuid.UUID(str(alert_id))
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(
        "SELECT at, 'transition' AS kind, transition AS action, NULL AS username, "
        "       jsonb_build_object('severity', severity, 'value', value) AS detail FROM alert_events "
        "  WHERE alert_id = %s "
        "UNION ALL SELECT at, 'action', action, username, detail FROM audit_log WHERE target = %s "
        "UNION ALL SELECT at, 'note', 'note', username, jsonb_build_object('text', text) FROM alert_notes "
        "  WHERE alert_id = %s "
        "ORDER BY 1, 2",
        (aid, str(aid), aid),
    ).fetchall()


def _audit(conn: psycopg.Connection[Any], by: str, action: str, alert_id: uuid.UUID, detail: dict[str, Any],
           at: datetime | None = None) -> None:
    conn.execute(
        "INSERT INTO audit_log (at, username, action, target, detail) VALUES (%s, %s, %s, %s, %s)",
        (at or utcnow(), by, action, str(alert_id), Jsonb(detail)),
    )


def _note(conn: psycopg.Connection[Any], alert_id: uuid.UUID, by: str, text: str, at: datetime) -> None:
    conn.execute("INSERT INTO alert_notes (alert_id, at, username, text) VALUES (%s, %s, %s, %s)",
                 (alert_id, at, by, text[:2000]))
