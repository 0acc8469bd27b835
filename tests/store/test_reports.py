"""Citizens' reports against the real PostgreSQL: submit with photos and the trail, near-duplicates linked in the
transaction, lifecycle steps with their audit lines, rate counts and the refused submissions."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from PIL import Image
from psycopg_pool import ConnectionPool

from analytics.reports import Action, Status, StepRefused, duplicate_search, next_status
from ioc.config.models import ReportIntake
from ioc.errors import BadRecord
from ioc.store.reports import (
    NewReport,
    Photo,
    Rejection,
    ReportNotFound,
    ReportStore,
    keyed_hash,
    new_code,
    parse_code,
)

pytestmark = pytest.mark.services
T0 = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
DEADLINE = datetime(2026, 12, 10, 16, 59, 59, tzinfo=UTC)
INTAKE = ReportIntake()


@pytest.fixture(scope="module")
def pool(pg_dsn: str) -> Iterator[ConnectionPool]:
    with ConnectionPool(pg_dsn, min_size=1, max_size=4, timeout=10, open=True) as p:
        yield p


@pytest.fixture
def store(pool: ConnectionPool, pg_dsn: str) -> ReportStore:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE reports, report_events, report_photos, report_sms, report_rejections, audit_log")
    return ReportStore(pool)


def jpeg(width: int = 40, height: int = 30) -> Photo:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, "JPEG")
    return Photo(out.getvalue(), width, height)


def new(
    category: str = "traffic", lon: float = 103.08, lat: float = 21.75, minutes: float = 0, **kw: object
) -> NewReport:
    fields: dict[str, object] = dict(
        category=category, description="Cây đổ chắn ngang đường", lon=lon, lat=lat, location_source="gps",
        commune_code="03172", unit_id="ubnd-na-sang", deadline=DEADLINE, channel="web", created_by="public",
        received_at=T0 + timedelta(minutes=minutes),
    )
    fields.update(kw)
    return NewReport(**fields)  # type: ignore[arg-type]


def submit(store: ReportStore, report: NewReport, photos: list[Photo] | None = None):  # type: ignore[no-untyped-def]
    at = report.received_at or T0
    return store.submit(report, photos or [], duplicate_search(report.category, report.lon, report.lat, at, INTAKE))


def test_codes() -> None:
    code = new_code()
    assert parse_code(code) == code
    assert parse_code(code.lower().replace("-", " ")) == code
    assert parse_code("PA-0O1IL-ABCDE") == "PA-00111-ABCDE"
    assert parse_code("PA-12345") is None
    assert parse_code("PA-UUUUU-UUUUU") is None


def test_submit_keeps_the_report_its_photos_and_its_first_step(store: ReportStore) -> None:
    report = submit(store, new(phone="84912345678", address_hash=keyed_hash("k", "10.0.0.1")), [jpeg(), jpeg(64, 48)])
    assert report.status == "received" and report.duplicate_of is None
    assert report.deadline == DEADLINE and report.created_at == T0
    got = store.get(report.code)
    assert got == report
    photos = store.photos(report.code)
    assert [(p.kind, p.width, p.height) for p in photos] == [("report", 40, 30), ("report", 64, 48)]
    assert store.photo(report.code, photos[0].id) == jpeg().data
    assert store.photo("PA-00000-00000", photos[0].id) is None
    [received] = store.events(report.code)
    assert (received.action, received.actor, received.to_status, received.unit_id) == (
        "received", "public", "received", "ubnd-na-sang")
    assert received.photo_ids == [p.id for p in photos]


def test_near_duplicates_are_linked_to_the_first(store: ReportStore) -> None:
    first = submit(store, new())
    second = submit(store, new(lat=21.7505, minutes=30))  # 56 m away
    third = submit(store, new(lat=21.7509, minutes=60))  # 44 m from the second, 100 m from the first
    far = submit(store, new(lat=21.752, minutes=61))
    other = submit(store, new(category="public_order", minutes=62))
    late = submit(store, new(minutes=24 * 60 + 61))  # a day and a minute after the last near one
    assert second.duplicate_of == first.id and second.duplicate_of_code == first.code
    assert third.duplicate_of == first.id
    assert (far.duplicate_of, other.duplicate_of, late.duplicate_of) == (None, None, None)
    steps = [e.action for e in store.events(second.code)]
    assert steps == ["received", "linked"]
    assert first.code in (store.events(second.code)[1].note or "")


def test_a_rejected_report_is_no_original(store: ReportStore) -> None:
    first = submit(store, new())
    store.step(first.code, "reject", actor="lo-thi-mai", decide=lambda s: next_status(Status(s), Action.REJECT))
    assert submit(store, new(minutes=5)).duplicate_of is None


def decide(action: Action):  # type: ignore[no-untyped-def]
    return lambda status: next_status(Status(status), action).value


def test_lifecycle_with_audit_lines(store: ReportStore, pg_dsn: str) -> None:
    report = submit(store, new())
    at = T0 + timedelta(hours=1)
    assigned = store.step(report.code, "assign", actor="lo-thi-mai", decide=decide(Action.ASSIGN),
                          unit_id="so-xay-dung", assignee="tong-van-duc", note="Chuyển Sở Xây dựng", at=at)
    assert (assigned.status, assigned.unit_id, assigned.assignee) == ("assigned", "so-xay-dung", "tong-van-duc")
    store.step(report.code, "progress", actor="tong-van-duc", decide=decide(Action.PROGRESS), at=at)
    store.step(report.code, "note", actor="tong-van-duc", decide=decide(Action.NOTE), note="Đã cử xe cẩu", at=at)
    done = store.step(report.code, "resolve", actor="tong-van-duc", decide=decide(Action.RESOLVE),
                      note="Đã dọn cây", photos=[jpeg(80, 60)], at=at + timedelta(hours=2))
    assert done.status == "resolved" and done.closed_at == at + timedelta(hours=2)
    with pytest.raises(StepRefused):
        store.step(report.code, "reject", actor="lo-thi-mai", decide=decide(Action.REJECT))
    trail = store.events(report.code)
    assert [(e.action, e.from_status, e.to_status) for e in trail] == [
        ("received", None, "received"),
        ("assign", "received", "assigned"),
        ("progress", "assigned", "in_progress"),
        ("note", "in_progress", "in_progress"),
        ("resolve", "in_progress", "resolved"),
    ]
    assert trail[1].unit_id == "so-xay-dung" and trail[1].note == "Chuyển Sở Xây dựng"
    fix = [p for p in store.photos(report.code) if p.kind == "fix"]
    assert [p.id for p in fix] == trail[-1].photo_ids and fix[0].width == 80
    with psycopg.connect(pg_dsn) as conn:
        audit = conn.execute(
            "SELECT username, action FROM audit_log WHERE target = %s ORDER BY id", (report.code,)
        ).fetchall()
    assert audit == [("lo-thi-mai", "report.assign"), ("tong-van-duc", "report.progress"),
                     ("tong-van-duc", "report.note"), ("tong-van-duc", "report.resolve")]
    # the refused step left no trace, and a later note keeps the time it was closed
    later = store.step(report.code, "note", actor="lo-thi-mai", decide=decide(Action.NOTE), note="Dân xác nhận",
                       at=at + timedelta(days=1))
    assert (later.status, later.closed_at) == ("resolved", at + timedelta(hours=2))


def test_a_step_on_an_unknown_report(store: ReportStore) -> None:
    with pytest.raises(ReportNotFound):
        store.step("PA-00000-00000", "assign", actor="x", decide=decide(Action.ASSIGN))


def test_counts_for_the_rate_limits(store: ReportStore) -> None:
    address = keyed_hash("k", "10.0.0.9")
    for i in range(3):
        submit(store, new(lat=21.75 + i / 100, minutes=i, address_hash=address, phone="84912000111"))
    submit(store, new(lat=21.8, minutes=5, phone="84912000222"))
    assert store.count_since(T0, address_hash=address) == 3
    assert store.count_since(T0 + timedelta(minutes=1), address_hash=address) == 2
    assert store.count_since(T0, phone="84912000111") == 3
    assert store.count_since(T0, phone="84912000999") == 0
    with pytest.raises(ValueError):
        store.count_since(T0)


def test_search(store: ReportStore) -> None:
    a = submit(store, new())
    b = submit(store, new(category="public_order", unit_id="cong-an-tinh", commune_code="03181", minutes=1))
    store.step(a.code, "assign", actor="x", decide=decide(Action.ASSIGN))
    assert [r.code for r in store.search()] == [b.code, a.code]
    assert [r.code for r in store.search(status=["assigned"])] == [a.code]
    assert [r.code for r in store.search(unit_id="cong-an-tinh")] == [b.code]
    assert [r.code for r in store.search(commune_code="03172")] == [a.code]


def test_rejections_are_kept(store: ReportStore) -> None:
    store.reject(Rejection("web", "outside_site", "(105.85, 21.03)", keyed_hash("k", "1.2.3.4"), None,
                           {"category": "traffic", "photos": 2}), at=T0)
    [row] = store.rejections()
    assert (row["reason"], row["channel"]) == ("outside_site", "web")
    assert row["summary"] == {"category": "traffic", "photos": 2}
    assert row["address_hash"] == keyed_hash("k", "1.2.3.4") and "1.2.3.4" not in str(row)


def test_the_database_refuses_a_bad_row(store: ReportStore) -> None:
    with pytest.raises(BadRecord):
        submit(store, new(phone="0912345678"))  # not normalised
