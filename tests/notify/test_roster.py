"""Who is on duty: the sample Mường Chà roster by area, domain and local time, and the escalation roles."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from ioc.config.loader import load_site
from ioc.config.models import Area, Officer, Roster, Shift
from ioc.notify.roster import LOCAL_TZ, DutyRoster, coverage, in_window, shift_running, window_end

SITE = Path(__file__).resolve().parents[2] / "configs" / "muong-cha"


def local(day: int, hh: int, mm: int = 0) -> datetime:
    """2026-11-<day> at hh:mm in Vietnam (the 23rd is a Monday, the 21st a Saturday, the 22nd a Sunday)."""
    return datetime(2026, 11, day, hh, mm, tzinfo=LOCAL_TZ)


@pytest.fixture(scope="module")
def roster() -> DutyRoster:
    return DutyRoster.from_site(load_site(SITE))


@pytest.mark.parametrize(
    ("source", "area", "at", "expected"),
    [
        # flood shifts are on the former district; area_spans make them cover its communes
        ("flood", "03181", local(23, 10), ["nguyen-van-hung"]),
        ("flood", "03202", local(23, 18, 59), ["nguyen-van-hung"]),
        ("flood", "03202", local(23, 19), ["vang-a-chua"]),  # start inclusive, end exclusive
        ("flood", "03172", local(23, 7), ["nguyen-van-hung"]),
        ("flood", "03172", local(23, 3), ["vang-a-chua"]),  # Sunday's night shift, still running on Monday
        ("flood", "former-muong-cha", local(22, 12), ["nguyen-van-hung"]),
        ("traffic", "03172", local(23, 8), ["lo-thi-mai"]),
        ("traffic", "03172", local(23, 17, 30), []),  # weekday shift ended
        ("traffic", "03172", local(21, 8), []),  # Saturday: no traffic shift
        ("traffic", "03181", local(23, 8), []),  # a shift on Na Sang does not cover Mường Tùng
        ("crowd", "03172", local(21, 8), ["vang-a-chua"]),  # crowds go to security: the weekend shift
        ("camera", "03172", local(24, 9), ["lo-thi-mai"]),
        ("kpi", "03193", local(24, 8), ["quang-van-son"]),
        ("kpi", "03193", local(24, 7), []),
        ("kpi", None, local(24, 8), []),  # a site-wide alert needs a shift on the province
        ("unknown-source", "03172", local(23, 8), []),
    ],
)
def test_on_duty_in_the_sample_roster(
    roster: DutyRoster, source: str, area: str | None, at: datetime, expected: list[str]
) -> None:
    got = roster.on_duty(roster.domain_of(source), area, at)
    assert [o.id for o in got] == expected


def test_source_kinds_map_to_domains(roster: DutyRoster) -> None:
    assert {k: roster.domain_of(k) for k in ("flood", "traffic", "crowd", "camera", "kpi", "x")} == {
        "flood": "flood",
        "traffic": "traffic",
        "crowd": "security",
        "camera": "security",
        "kpi": "kpi",
        "x": None,
    }


def test_roles_resolve_and_fall_back_up_the_chain(roster: DutyRoster) -> None:
    on = roster.resolve("on_duty", "traffic", "03172", local(23, 8))
    assert (on.role, [o.id for o in on.officers]) == ("on_duty", ["lo-thi-mai"])
    nobody = roster.resolve("on_duty", "traffic", "03172", local(21, 8))
    assert (nobody.role, [o.id for o in nobody.officers]) == ("deputy", ["quang-van-son"])
    leader = roster.resolve("leader", "traffic", "03172", local(21, 8))
    assert (leader.role, [o.id for o in leader.officers]) == ("leader", ["tran-thu-ha"])


def _officer(oid: str, phone: str, position: str = "officer", areas: list[str] | None = None) -> Officer:
    return Officer(id=oid, name=oid, phone=phone, position=position, area_codes=areas or [], channels=["sms"])


AREAS = [
    Area(code="pp", name="Province", level="province"),
    Area(code="dd", name="Former district", level="former_district", parent="pp"),
    Area(code="c1", name="Commune 1", level="commune", parent="pp"),
    Area(code="c2", name="Commune 2", level="commune", parent="pp"),
    Area(code="vv", name="Village", level="village", parent="c1"),
]


def test_coverage_follows_parents_and_spans() -> None:
    cov = coverage(AREAS, {"dd": ["c1"]})
    assert cov["pp"] == {"pp", "dd", "c1", "c2", "vv"}
    assert cov["dd"] == {"dd", "c1", "vv"}  # the span and what lies below it
    assert cov["c2"] == {"c2"}


def test_deputies_and_leaders_by_their_areas() -> None:
    roster = DutyRoster(
        Roster(
            officers=[
                _officer("dep-1", "84912000001", "deputy", ["c1"]),
                _officer("dep-2", "84912000002", "deputy", ["c2"]),
                _officer("lead", "84912000003", "leader"),
            ]
        ),
        AREAS,
    )
    assert [o.id for o in roster.by_position("deputy", "vv")] == ["dep-1"]  # C1 covers its village
    assert [o.id for o in roster.by_position("deputy", "c2")] == ["dep-2"]
    assert [o.id for o in roster.by_position("leader", "c2")] == ["lead"]  # no areas: the whole site
    assert roster.resolve("deputy", "flood", "dd", local(23, 8)).role == "leader"  # no deputy covers D


def test_an_overnight_shift_keeps_the_weekday_of_its_start() -> None:
    shift = Shift(officer="aa", area_code="pp", domain="flood", weekdays=["sun"], start=time(22), end=time(6))
    assert shift_running(shift, local(22, 23))  # Sunday 23:00
    assert shift_running(shift, local(23, 5, 59))  # Monday morning, the Sunday shift
    assert not shift_running(shift, local(23, 6))
    assert not shift_running(shift, local(22, 3))  # Sunday morning belongs to Saturday's shift: none
    assert not shift_running(shift, local(23, 23))  # Monday night: not a shift day


def test_quiet_window_and_its_end() -> None:
    start, end = time(22), time(6)
    assert in_window(local(23, 23), start, end) and in_window(local(23, 5, 59), start, end)
    assert not in_window(local(23, 6), start, end)
    assert window_end(local(23, 23), start, end) == local(24, 6)
    assert window_end(local(24, 1), start, end) == local(24, 6)
    assert window_end(local(24, 12), start, end) == local(24, 12)
    # Aware UTC in, aware UTC out, same instant
    held = window_end(local(23, 23).astimezone(UTC), start, end)
    assert held == local(24, 6) and held.tzinfo is UTC
