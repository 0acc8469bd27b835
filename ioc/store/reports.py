"""Citizens' reports in PostgreSQL: one record per report, its steps, its photos, and the refused submissions.

The rules (routing, deadlines, the lifecycle, what a near-duplicate is) are ``analytics.reports``; the store
runs them where they must be atomic and takes them as arguments, since the core does not import analytics:
``submit`` locks the category, reads the recent reports near the point and lets ``DuplicateSearch.pick`` choose
the original in the same transaction as the insert (two reports of one fallen tree sent at once are still
linked); ``step`` locks the report row and lets ``decide`` say which status an action leads to. Every step
writes its ``report_events`` line, and a person's step its ``audit_log`` line, in the same transaction; a step
that changes the status of a report with a phone number also queues the citizen's SMS (``report_sms``).

A report's tracking code is ``PA-XXXXX-XXXXX``: ten characters of Crockford's base 32 (50 random bits, no I, L,
O or U to misread), so a status page cannot be found by trying codes; ``parse_code`` forgives case, missing
dashes and the letters O, I and L typed for 0 and 1.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from ioc.errors import BadRecord, IocError
from ioc.events import ReportStatus, utcnow
from ioc.store.pool import pooled, pooled_transaction

logger = logging.getLogger(__name__)

Channel = Literal["web", "zalo", "operator"]
CHANNELS: tuple[Channel, ...] = ("web", "zalo", "operator")
LocationSource = Literal["gps", "map", "commune", "operator"]
PhotoKind = Literal["report", "fix"]
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32
CODE_CHARS = 10
_CODE_RE = re.compile(r"^PA-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$")
_TYPED = str.maketrans({"O": "0", "I": "1", "L": "1"})
_MAX_CODE_TRIES = 5


class ReportNotFound(IocError):
    """No report has this tracking code."""


def new_code() -> str:
    """Return a fresh random tracking code, ``PA-XXXXX-XXXXX``."""
    chars = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_CHARS))
    return f"PA-{chars[:5]}-{chars[5:]}"


def parse_code(typed: str) -> str | None:
    """Return the tracking code a person typed in its stored form, or None when it cannot be one."""
    text = re.sub(r"[\s\-_.]", "", typed.strip().upper())
    if text.startswith("PA"):
        text = text[2:]
    text = text.translate(_TYPED)
    code = f"PA-{text[:5]}-{text[5:]}"
    return code if len(text) == CODE_CHARS and _CODE_RE.match(code) else None


def keyed_hash(key: str, value: str) -> str:
    """Return an HMAC-SHA256 of a sender's address or phone: the same sender is recognisable, not readable."""
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Photo:
    """A photo already re-encoded as JPEG without metadata (``dashboards.report_photos`` makes them)."""

    data: bytes
    width: int
    height: int


@dataclass(frozen=True)
class NewReport:
    """A report accepted and planned (commune, unit and deadline from ``analytics.reports.plan``)."""

    category: str
    description: str
    lon: float
    lat: float
    location_source: LocationSource
    commune_code: str
    unit_id: str
    deadline: datetime
    channel: Channel
    created_by: str
    phone: str | None = None
    address_hash: str | None = None
    received_at: datetime | None = None
    zalo_user_id: str | None = None  # a follower of the Zalo OA: the receipt and each status change go back there
    zalo_lang: str = "vi"
    simulated: bool = False  # made by the demo's simulator (ioc/app/sim_reports.py)


@dataclass(frozen=True)
class NearbyReport:
    """A recent report near a new one, as near-duplicate detection sees it."""

    id: int
    category: str
    lon: float
    lat: float
    at: datetime
    duplicate_of: int | None


@dataclass(frozen=True)
class DuplicateSearch:
    """Where to look for the report a new one repeats, and the rule that picks it (``analytics.reports``)."""

    box: tuple[float, float, float, float]  # lon_min, lat_min, lon_max, lat_max
    since: datetime
    pick: Callable[[Sequence[NearbyReport]], int | None]


@dataclass(frozen=True)
class Report:
    """One stored report."""

    id: int
    code: str
    category: str
    description: str
    lon: float
    lat: float
    location_source: str
    commune_code: str
    unit_id: str
    phone: str | None
    channel: str
    status: str
    assignee: str | None
    deadline: datetime
    duplicate_of: int | None
    duplicate_of_code: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    zalo_user_id: str | None = None
    simulated: bool = False


@dataclass(frozen=True)
class ReportEvent:
    """One step of a report's trail."""

    id: int
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str
    unit_id: str | None
    note: str | None
    photo_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class PhotoInfo:
    """A stored photo's description, without its bytes."""

    id: int
    kind: str
    width: int
    height: int
    event_id: int | None


@dataclass(frozen=True)
class Rejection:
    """A submission refused, kept like a dead letter."""

    channel: Channel
    reason: str
    detail: str = ""
    address_hash: str | None = None
    phone_hash: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)


_REPORT_COLUMNS = (
    "r.id, r.code, r.category, r.description, r.lon, r.lat, r.location_source, r.commune_code, r.unit_id, "
    "r.phone, r.channel, r.status, r.assignee, r.deadline, r.duplicate_of, d.code AS duplicate_of_code, "
    "r.created_by, r.created_at, r.updated_at, r.closed_at, r.zalo_user_id, r.simulated"
)
_REPORT_FROM = "reports r LEFT JOIN reports d ON d.id = r.duplicate_of"


class ReportStore:
    """Reports in PostgreSQL; an unreachable server comes out as ``SinkUnavailable``, a refused row as
    ``BadRecord``."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def submit(
        self, new: NewReport, photos: Sequence[Photo] = (), duplicates: DuplicateSearch | None = None
    ) -> Report:
        """Store a new report with its photos and its ``received`` step (and ``linked`` when it repeats one)."""
        when = new.received_at or utcnow()
        with self._transaction() as conn:
            duplicate_of = None
            if duplicates is not None:
                # One submitter at a time per category, so two reports of the same thing sent together still link.
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"report:{new.category}",))
                duplicate_of = duplicates.pick(_nearby(conn, new.category, duplicates))
            report_id, code = _insert_report(conn, new, when, duplicate_of)
            event_id = _event(conn, report_id, when, new.created_by, "received", None, "received", new.unit_id,
                              None)
            _queue_sms(conn, report_id, event_id, when)
            for photo in photos:
                _photo(conn, report_id, event_id, "report", photo)
            if duplicate_of is not None:
                original = conn.execute("SELECT code FROM reports WHERE id = %s", (duplicate_of,)).fetchone()
                _event(conn, report_id, when, new.created_by, "linked", "received", "received", None,
                       f"near-duplicate of {original[0] if original else duplicate_of}")
            if new.channel == "operator":
                _audit(conn, new.created_by, "report.add", code, {"category": new.category}, when)
            if new.zalo_user_id is not None:
                # The receipt with the tracking code, in the report's own transaction: it cannot be lost.
                queue_zalo(conn, new.zalo_user_id, "received", code,
                           {"code": code, "lang": new.zalo_lang,
                            "duplicate_of": _code_of(conn, duplicate_of) if duplicate_of else None})
            found = _get(conn, code)
        assert found is not None  # inserted above, in this transaction
        logger.info("report %s (%s, %s) received by %s; unit %s%s", code, new.category, new.commune_code,
                    new.channel, new.unit_id, f", duplicate of {found.duplicate_of_code}" if duplicate_of else "")
        return found

    def reject(self, rejection: Rejection, at: datetime | None = None) -> None:
        """Keep a refused submission with its reason."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO report_rejections (at, channel, reason, detail, address_hash, phone_hash, summary) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (at or utcnow(), rejection.channel, rejection.reason[:64], rejection.detail[:2000],
                 rejection.address_hash, rejection.phone_hash, Jsonb(rejection.summary)),
            )
        logger.info("report submission refused (%s): %s", rejection.channel, rejection.reason)

    def rejections(self, limit: int = 100) -> list[dict[str, Any]]:
        """Return the newest refused submissions, newest first."""
        with self._connection() as conn:
            cur = conn.cursor(row_factory=psycopg.rows.dict_row)
            return cur.execute(
                "SELECT id, at, channel, reason, detail, address_hash, phone_hash, summary "
                "FROM report_rejections ORDER BY at DESC, id DESC LIMIT %s",
                (limit,),
            ).fetchall()

    def count_since(
        self, since: datetime, *, address_hash: str | None = None, phone: str | None = None,
        zalo_user_id: str | None = None,
    ) -> int:
        """Return how many reports came from this address (hash), phone or Zalo follower since ``since`` (the
        rate limits)."""
        given = [(c, v) for c, v in (("address_hash", address_hash), ("phone", phone),
                                     ("zalo_user_id", zalo_user_id)) if v is not None]
        if len(given) != 1:
            raise ValueError("count by address_hash, phone or zalo_user_id, one of them")
        column, value = given[0]
        with self._connection() as conn:
            row = conn.execute(
                f"SELECT count(*) FROM reports WHERE {column} = %s AND created_at >= %s",
                (value, since),
            ).fetchone()
        return int(row[0]) if row else 0

    def get(self, code: str) -> Report | None:
        """Return the report with this tracking code, or None."""
        with self._connection() as conn:
            return _get(conn, code)

    def events(self, code: str) -> list[ReportEvent]:
        """Return a report's trail, oldest first, each step with the ids of the photos it added."""
        with self._connection() as conn:
            cur = conn.cursor(row_factory=class_row(ReportEvent))
            return cur.execute(
                "SELECT e.id, e.at, e.actor, e.action, e.from_status, e.to_status, e.unit_id, e.note, "
                "       coalesce(array_agg(p.id ORDER BY p.id) FILTER (WHERE p.id IS NOT NULL), '{}') AS photo_ids "
                "FROM report_events e JOIN reports r ON r.id = e.report_id "
                "LEFT JOIN report_photos p ON p.event_id = e.id "
                "WHERE r.code = %s GROUP BY e.id ORDER BY e.at, e.id",
                (code,),
            ).fetchall()

    def photos(self, code: str) -> list[PhotoInfo]:
        """Return the photos of a report (the citizen's and the fix's), oldest first."""
        with self._connection() as conn:
            cur = conn.cursor(row_factory=class_row(PhotoInfo))
            return cur.execute(
                "SELECT p.id, p.kind, p.width, p.height, p.event_id FROM report_photos p "
                "JOIN reports r ON r.id = p.report_id WHERE r.code = %s ORDER BY p.id",
                (code,),
            ).fetchall()

    def photo(self, code: str, photo_id: int) -> bytes | None:
        """Return the JPEG of one photo of the report ``code``; None when that report has no such photo."""
        with self._connection() as conn:
            row = conn.execute(
                "SELECT p.data FROM report_photos p JOIN reports r ON r.id = p.report_id "
                "WHERE r.code = %s AND p.id = %s",
                (code, photo_id),
            ).fetchone()
        return bytes(row[0]) if row else None

    def last_simulated_at(self) -> datetime | None:
        """When the newest simulated report was received (None: there is none), so a restarted demo goes on."""
        with self._connection() as conn:
            row = conn.execute("SELECT max(created_at) FROM reports WHERE simulated").fetchone()
        return row[0] if row else None

    def search(
        self, *, status: Sequence[str] = (), unit_id: str | None = None, commune_code: str | None = None,
        limit: int = 100,
    ) -> list[Report]:
        """Return reports, newest first, optionally of these statuses, this unit or this commune."""
        clauses: list[str] = []
        params: list[object] = []
        if status:
            clauses.append("r.status = ANY(%s)")
            params.append(list(status))
        if unit_id is not None:
            clauses.append("r.unit_id = %s")
            params.append(unit_id)
        if commune_code is not None:
            clauses.append("r.commune_code = %s")
            params.append(commune_code)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._connection() as conn:
            cur = conn.cursor(row_factory=class_row(Report))
            return cur.execute(
                f"SELECT {_REPORT_COLUMNS} FROM {_REPORT_FROM} {where} "
                "ORDER BY r.created_at DESC, r.id DESC LIMIT %s",
                (*params, limit),
            ).fetchall()

    def outcomes(self, start: datetime, end: datetime) -> list[tuple[str, datetime, datetime, str, datetime | None]]:
        """Return (commune, received, deadline, status, closed) of each report due or closed in ``[start, end)``."""
        with self._connection() as conn:
            return outcomes(conn, start, end)

    def step(
        self,
        code: str,
        action: str,
        *,
        actor: str,
        decide: Callable[[str], str],
        note: str | None = None,
        unit_id: str | None = None,
        assignee: str | None = None,
        photos: Sequence[Photo] = (),
        at: datetime | None = None,
    ) -> Report:
        """Take one lifecycle step on a report: ``decide(status)`` gives the new status or raises (the
        lifecycle of ``analytics.reports``); writes the event, its photos (of the fix) and the audit line.

        ``unit_id`` moves the report to another unit and ``assignee`` names who handles it (assign only).
        """
        when = at or utcnow()
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT id, status, unit_id, zalo_user_id, zalo_lang FROM reports WHERE code = %s FOR UPDATE",
                (code,),
            ).fetchone()
            if row is None:
                raise ReportNotFound(f"no report has the code {code}")
            report_id, status, current_unit, zalo_user_id, zalo_lang = row
            target = decide(status)
            unit = unit_id or current_unit
            closed = target in ("resolved", "rejected")
            conn.execute(
                "UPDATE reports SET status = %s, unit_id = %s, assignee = coalesce(%s, assignee), "
                "updated_at = %s, closed_at = CASE WHEN %s THEN coalesce(closed_at, %s) END WHERE id = %s",
                (target, unit, assignee, when, closed, when, report_id),
            )
            event_id = _event(conn, report_id, when, actor, action, status, target,
                              unit if unit != current_unit or action == "assign" else None, note)
            for photo in photos:
                _photo(conn, report_id, event_id, "fix", photo)
            if target != status:
                _queue_sms(conn, report_id, event_id, when)
            _audit(conn, actor, f"report.{action}", code,
                   {"from": status, "to": target, "unit": unit, "assignee": assignee, "photos": len(photos)}, when)
            if zalo_user_id is not None and target != status:
                # The seam of the Zalo intake: a status change of a report that came through the OA is told to
                # its follower, queued in this transaction (a note, which changes nothing, is not).
                answer = note if action in ("resolve", "reject") else None
                queue_zalo(conn, zalo_user_id, "status", code,
                           {"code": code, "status": target, "note": answer, "lang": zalo_lang or "vi"})
            found = _get(conn, code)
        assert found is not None  # locked above
        logger.info("report %s: %s by %s (%s -> %s)", code, action, actor, status, target)
        return found

    def _transaction(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        return pooled_transaction(self._pool, "reports")

    def _connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        return pooled(self._pool, "PostgreSQL (reports)")


def _get(conn: psycopg.Connection[Any], code: str) -> Report | None:
    cur = conn.cursor(row_factory=class_row(Report))
    query = f"SELECT {_REPORT_COLUMNS} FROM {_REPORT_FROM} WHERE r.code = %s"
    return cur.execute(query, (code,)).fetchone()


def _nearby(conn: psycopg.Connection[Any], category: str, search: DuplicateSearch) -> list[NearbyReport]:
    lon_min, lat_min, lon_max, lat_max = search.box
    cur = conn.cursor(row_factory=class_row(NearbyReport))
    return cur.execute(
        "SELECT id, category, lon, lat, created_at AS at, duplicate_of FROM reports "
        "WHERE category = %s AND created_at >= %s AND status <> 'rejected' "
        "AND lon BETWEEN %s AND %s AND lat BETWEEN %s AND %s ORDER BY created_at, id",
        (category, search.since, lon_min, lon_max, lat_min, lat_max),
    ).fetchall()


def _insert_report(
    conn: psycopg.Connection[Any], new: NewReport, when: datetime, duplicate_of: int | None
) -> tuple[int, str]:
    for _ in range(_MAX_CODE_TRIES):
        code = new_code()
        row = conn.execute(
            "INSERT INTO reports (code, category, description, lon, lat, location_source, commune_code, unit_id, "
            "phone, channel, deadline, duplicate_of, address_hash, created_by, created_at, updated_at, "
            "zalo_user_id, zalo_lang, simulated) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (code) DO NOTHING RETURNING id",
            (code, new.category, new.description, new.lon, new.lat, new.location_source, new.commune_code,
             new.unit_id, new.phone, new.channel, new.deadline, duplicate_of, new.address_hash, new.created_by,
             when, when, new.zalo_user_id, new.zalo_lang if new.zalo_user_id else None, new.simulated),
        ).fetchone()
        if row is not None:
            return int(row[0]), code
    raise BadRecord(f"no free tracking code after {_MAX_CODE_TRIES} tries")  # 50 random bits: never in practice


def queue_zalo(
    conn: psycopg.Connection[Any], zalo_user_id: str, kind: str, code: str | None, params: dict[str, Any]
) -> None:
    """Queue a message to a Zalo follower in ``report_zalo_outbox`` (migration 0018), in the caller's
    transaction; the wall's Zalo worker renders and sends it."""
    conn.execute(
        "INSERT INTO report_zalo_outbox (zalo_user_id, kind, report_code, params) VALUES (%s, %s, %s, %s)",
        (zalo_user_id, kind, code, Jsonb(params)),
    )


def _code_of(conn: psycopg.Connection[Any], report_id: int) -> str | None:
    row = conn.execute("SELECT code FROM reports WHERE id = %s", (report_id,)).fetchone()
    return str(row[0]) if row else None


def _event(
    conn: psycopg.Connection[Any], report_id: int, at: datetime, actor: str, action: str, from_status: str | None,
    to_status: str, unit_id: str | None, note: str | None,
) -> int:
    row = conn.execute(
        "INSERT INTO report_events (report_id, at, actor, action, from_status, to_status, unit_id, note) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (report_id, at, actor, action, from_status, to_status, unit_id, note),
    ).fetchone()
    assert row is not None
    return int(row[0])


def outcomes(conn: psycopg.Connection[Any], start: datetime,
             end: datetime) -> list[tuple[str, datetime, datetime, str, datetime | None]]:
    """Return (commune, received, deadline, status, closed) of each report due or closed in ``[start, end)``."""
    return conn.execute(
        "SELECT commune_code, created_at, deadline, status, closed_at FROM reports "
        "WHERE (deadline >= %(start)s AND deadline < %(end)s) "
        "   OR (closed_at >= %(start)s AND closed_at < %(end)s) ORDER BY id",
        {"start": start, "end": end},
    ).fetchall()


def _queue_sms(conn: psycopg.Connection[Any], report_id: int, event_id: int, at: datetime) -> None:
    """Queue the SMS telling the citizen of a status change, when the report has a phone number."""
    conn.execute(
        "INSERT INTO report_sms (step_id, report_id, next_attempt_at, created_at) "
        "SELECT %s, id, %s, %s FROM reports WHERE id = %s AND phone IS NOT NULL",
        (event_id, at, at, report_id),
    )


def _photo(conn: psycopg.Connection[Any], report_id: int, event_id: int, kind: PhotoKind, photo: Photo) -> None:
    conn.execute(
        "INSERT INTO report_photos (report_id, event_id, kind, content_type, width, height, sha256, data) "
        "VALUES (%s, %s, %s, 'image/jpeg', %s, %s, %s, %s)",
        (report_id, event_id, kind, photo.width, photo.height, hashlib.sha256(photo.data).hexdigest(), photo.data),
    )


def _audit(conn: psycopg.Connection[Any], by: str, action: str, code: str, detail: dict[str, Any],
           at: datetime) -> None:
    conn.execute(
        "INSERT INTO audit_log (at, username, action, target, detail) VALUES (%s, %s, %s, %s, %s)",
        (at, by, action, code, Jsonb(detail)),
    )


def statuses(
    conn: psycopg.Connection[Any], *, after: int = 0, closed_since: datetime | None = None, limit: int = 1000
) -> list[ReportStatus]:
    """Return the current status of each report with a step after ``after`` (a ``report_events`` id), oldest
    first, each carrying its latest step's id; with ``closed_since``, only reports open or closed since then."""
    closed = "" if closed_since is None else "AND (r.closed_at IS NULL OR r.closed_at >= %(closed_since)s)"
    rows = conn.execute(
        "SELECT r.code, max(e.id), r.status, r.category, r.commune_code, r.unit_id, r.deadline, max(e.at) "
        "FROM reports r JOIN report_events e ON e.report_id = r.id "
        f"WHERE e.id > %(after)s {closed} GROUP BY r.id ORDER BY max(e.id) LIMIT %(limit)s",
        {"after": after, "closed_since": closed_since, "limit": limit},
    ).fetchall()
    return [
        ReportStatus.create(code, step, status=status, category=category, commune_code=commune, unit_id=unit,
                            deadline=deadline, at=at)
        for code, step, status, category, commune, unit, deadline, at in rows
    ]
