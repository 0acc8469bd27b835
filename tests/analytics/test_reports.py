"""Citizens' reports, the pure rules: routing by commune polygon and category, deadlines, near-duplicates, the
lifecycle, phone numbers and descriptions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from analytics.reports import (
    Action,
    Located,
    OutsideSite,
    Status,
    StepRefused,
    clean_text,
    distance_m,
    duplicate_search,
    near_duplicate,
    next_status,
    normalise_phone,
    plan,
    plan_in_commune,
    route,
)
from analytics.working_days import WorkingCalendar
from ioc.config.loader import load_site
from ioc.config.models import ReportIntake, SiteConfig
from ioc.geo import AreaIndex
from ioc.store.reports import NearbyReport

SITE_DIR = Path(__file__).resolve().parents[2] / "configs" / "muong-cha"
HCM = ZoneInfo("Asia/Ho_Chi_Minh")
T0 = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)  # Thursday 09:00 in Hà Nội


@pytest.fixture(scope="module")
def site() -> SiteConfig:
    return load_site(SITE_DIR)


@pytest.fixture(scope="module")
def index(site: SiteConfig) -> AreaIndex:
    return AreaIndex.from_site(site, SITE_DIR)


@pytest.fixture(scope="module")
def calendar(site: SiteConfig) -> WorkingCalendar:
    assert site.working_calendar is not None
    return WorkingCalendar.from_config(site.working_calendar)


def inside(index: AreaIndex, code: str) -> tuple[float, float]:
    point = index.geometry(code).representative_point()
    return point.x, point.y


@pytest.mark.parametrize(
    ("category", "commune", "unit"),
    [
        ("traffic", "03172", "ubnd-na-sang"),
        ("traffic", "03202", "ubnd-muong-pon"),
        ("public_order", "03181", "cong-an-tinh"),  # a provincial unit for every commune
        ("infrastructure_lighting", "03172", "so-xay-dung"),  # the exception for the former town
        ("infrastructure_lighting", "03193", "ubnd-pa-ham"),
    ],
)
def test_route(site: SiteConfig, category: str, commune: str, unit: str) -> None:
    assert site.reports is not None
    assert route(site.reports, category, commune) == unit


@pytest.mark.parametrize("commune", ["03172", "03181", "03193", "03194", "03202"])
def test_plan_finds_the_commune_by_its_polygon(
    site: SiteConfig, index: AreaIndex, calendar: WorkingCalendar, commune: str
) -> None:
    lon, lat = inside(index, commune)
    got = plan(site, index, calendar, HCM, "flooding_landslide", lon, lat, T0)
    assert got.commune_code == commune
    # 2 working days from Thursday 3 Dec 2026: Friday 4, Monday 7.
    assert got.deadline == datetime(2026, 12, 7, 23, 59, 59, tzinfo=HCM)


def test_a_point_outside_the_site_is_refused(site: SiteConfig, index: AreaIndex, calendar: WorkingCalendar) -> None:
    with pytest.raises(OutsideSite):
        plan(site, index, calendar, HCM, "traffic", 105.85, 21.03, T0)  # Hà Nội
    with pytest.raises(OutsideSite):
        plan_in_commune(site, calendar, HCM, "traffic", "11", T0)  # the province is not a commune


def test_an_unknown_category(site: SiteConfig, index: AreaIndex, calendar: WorkingCalendar) -> None:
    lon, lat = inside(index, "03172")
    with pytest.raises(KeyError):
        plan(site, index, calendar, HCM, "weather", lon, lat, T0)


def test_plan_in_commune_uses_the_same_rules(site: SiteConfig, calendar: WorkingCalendar) -> None:
    got = plan_in_commune(site, calendar, HCM, "administrative_procedure", "03194", T0)
    assert (got.commune_code, got.unit_id) == ("03194", "ubnd-nam-nen")
    assert got.deadline.date() == datetime(2026, 12, 17).date()  # 10 working days


def test_distance() -> None:
    # 0.001 degree of latitude is about 111 m anywhere.
    assert distance_m(103.08, 21.75, 103.08, 21.751) == pytest.approx(111.2, abs=0.5)


def _at(
    report_id: int, minutes: float, dlat_m: float = 0, category: str = "traffic", dup: int | None = None
) -> Located:
    return Located(report_id, category, 103.08, 21.75 + dlat_m / 111_195, T0 + timedelta(minutes=minutes), dup)


WINDOW = timedelta(hours=24)


@pytest.mark.parametrize(
    ("earlier", "expected"),
    [
        ([], None),
        ([_at(1, 0, 50)], 1),
        ([_at(1, 0, 99)], 1),
        ([_at(1, 0, 101)], None),  # too far
        ([_at(1, 0, 10, category="public_order")], None),  # another category
        ([_at(1, -24 * 60 - 1, 10)], None),  # more than 24 h before
        ([_at(1, 0, 80), _at(2, 30, 20)], 2),  # the nearest wins
        ([_at(1, 0, 20), _at(2, 30, 20)], 1),  # equally near: the earliest
        ([_at(1, 0, 90), _at(2, 30, 10, dup=1)], 1),  # a duplicate's original
    ],
)
def test_near_duplicate(earlier: list[Located], expected: int | None) -> None:
    new = _at(-1, 60)
    assert near_duplicate(new, earlier, 100, WINDOW) == expected


def test_duplicate_search_reads_the_stored_rows() -> None:
    intake = ReportIntake()
    search = duplicate_search("traffic", 103.08, 21.75, T0, intake)
    lon_min, lat_min, lon_max, lat_max = search.box
    assert lon_min < 103.08 < lon_max and lat_min < 21.75 < lat_max
    assert distance_m(103.08, 21.75, 103.08, lat_max) > 100
    assert search.since == T0 - timedelta(hours=24)
    stored = [NearbyReport(7, "traffic", 103.0802, 21.7501, T0 - timedelta(hours=2), None)]
    assert search.pick(stored) == 7


@pytest.mark.parametrize(
    ("status", "action", "after"),
    [
        (Status.RECEIVED, Action.ASSIGN, Status.ASSIGNED),
        (Status.ASSIGNED, Action.ASSIGN, Status.ASSIGNED),  # to another unit
        (Status.ASSIGNED, Action.PROGRESS, Status.IN_PROGRESS),
        (Status.IN_PROGRESS, Action.RESOLVE, Status.RESOLVED),
        (Status.ASSIGNED, Action.RESOLVE, Status.RESOLVED),
        (Status.RECEIVED, Action.REJECT, Status.REJECTED),
        (Status.IN_PROGRESS, Action.REJECT, Status.REJECTED),
        (Status.RESOLVED, Action.NOTE, Status.RESOLVED),
    ],
)
def test_allowed_steps(status: Status, action: Action, after: Status) -> None:
    assert next_status(status, action) is after


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (Status.REJECTED, Action.RESOLVE),
        (Status.RESOLVED, Action.REJECT),
        (Status.RESOLVED, Action.ASSIGN),
        (Status.RECEIVED, Action.PROGRESS),  # nobody has it yet
        (Status.RECEIVED, Action.RESOLVE),
        (Status.IN_PROGRESS, Action.PROGRESS),
    ],
)
def test_refused_steps(status: Status, action: Action) -> None:
    with pytest.raises(StepRefused, match=f"cannot {action.value} a report that is {status.value}"):
        next_status(status, action)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("0912 345 678", "84912345678"),
        ("+84 912.345.678", "84912345678"),
        ("84385123456", "84385123456"),
        ("0215 3826 123", "842153826123"),  # a landline in Điện Biên (area code 215)
    ],
)
def test_phone_numbers(raw: str, normal: str) -> None:
    assert normalise_phone(raw) == normal


@pytest.mark.parametrize("raw", ["", "112", "0123 456 789", "+1 415 555 0100", "09123456789012", "0912abc678"])
def test_bad_phone_numbers(raw: str) -> None:
    with pytest.raises(ValueError):
        normalise_phone(raw)


def test_clean_text() -> None:
    assert clean_text("  Cây đổ\u0000 chắn đường\r\n ", 100) == "Cây đổ chắn đường"
    decomposed = "Nga\u0300y"  # "Ngày" with a combining grave accent
    assert clean_text(decomposed, 100) == "Ngày"
    with pytest.raises(ValueError, match="empty"):
        clean_text(" \u200b ", 100)
    with pytest.raises(ValueError, match="at most 5"):
        clean_text("abcdef", 5)
