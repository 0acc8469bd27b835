"""Citizens' reports (phản ánh hiện trường): the rules, without I/O.

Where a report goes (``route``: the commune whose polygon holds the point, then the category's unit for that
commune), when it is due (``plan``, on the working calendar), which earlier report it repeats (``near_duplicate``:
same category, within ``duplicate_radius_m`` and ``duplicate_window_h``), which steps its lifecycle allows
(``next_status``), and what a phone number or a description must look like. The store (``ioc.store.reports``) and
the entry points (the public form, ``ioc reports``) call these; nothing here touches the database or the web.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Protocol

from analytics.working_days import WorkingCalendar, add_working_days
from ioc import i18n
from ioc.config.models import COMMUNE_UNIT, ReportIntake, ReportsConfig, SiteConfig
from ioc.geo import AreaIndex
from ioc.store.reports import DuplicateSearch, NearbyReport

logger = logging.getLogger(__name__)

EARTH_RADIUS_M = 6_371_008.8
# Mobile numbers (84 + 3/5/7/8/9 + 8 digits) and landlines (84 + 2 + area code and number, 10 digits in all).
_MOBILE = re.compile(r"^84[35789]\d{8}$")
_LANDLINE = re.compile(r"^842\d{9}$")


i18n.register(
    {
        "report.status.received": ("Đã tiếp nhận", "Received"),
        "report.status.assigned": ("Đã chuyển đơn vị xử lý", "Assigned to a unit"),
        "report.status.in_progress": ("Đang xử lý", "In progress"),
        "report.status.resolved": ("Đã xử lý xong", "Resolved"),
        "report.status.rejected": ("Không tiếp nhận xử lý", "Rejected"),
        "report.step.received": ("Tiếp nhận phản ánh", "Report received"),
        "report.step.linked": ("Gộp với phản ánh trùng", "Linked to an earlier report of the same thing"),
        "report.step.assign": ("Chuyển đơn vị xử lý", "Assigned to a unit"),
        "report.step.progress": ("Bắt đầu xử lý", "Work started"),
        "report.step.resolve": ("Hoàn thành xử lý", "Resolved"),
        "report.step.reject": ("Từ chối xử lý", "Rejected"),
        "report.step.note": ("Ghi chú", "Note"),
        "report.channel.web": ("Cổng phản ánh trực tuyến", "Online form"),
        "report.channel.zalo": ("Zalo", "Zalo"),
        "report.channel.operator": ("Đường dây nóng", "Hotline"),
        "report.simulated.label": ("Nguồn", "Source"),
        "report.simulated": ("mô phỏng (bản trình diễn)", "simulated (demo)"),
    }
)


class Status(StrEnum):
    """Where a report is in its lifecycle."""

    RECEIVED = "received"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    REJECTED = "rejected"


class Action(StrEnum):
    """A step a person takes on a report (each one is an audit line); ``note`` leaves the status as it is."""

    ASSIGN = "assign"
    PROGRESS = "progress"
    RESOLVE = "resolve"
    REJECT = "reject"
    NOTE = "note"


# The status each action leads to, from the statuses it may start from. Assigning again moves the report to
# another unit; resolving without "in progress" is allowed (a small fix done at once); closed reports stay closed.
_STEPS: dict[Action, tuple[frozenset[Status], Status | None]] = {
    Action.ASSIGN: (frozenset({Status.RECEIVED, Status.ASSIGNED, Status.IN_PROGRESS}), Status.ASSIGNED),
    Action.PROGRESS: (frozenset({Status.ASSIGNED}), Status.IN_PROGRESS),
    Action.RESOLVE: (frozenset({Status.ASSIGNED, Status.IN_PROGRESS}), Status.RESOLVED),
    Action.REJECT: (frozenset({Status.RECEIVED, Status.ASSIGNED, Status.IN_PROGRESS}), Status.REJECTED),
    Action.NOTE: (frozenset(Status), None),
}
CLOSED: frozenset[Status] = frozenset({Status.RESOLVED, Status.REJECTED})


class StepRefused(ValueError):
    """A lifecycle step that the report's status does not allow (resolving a rejected report ...)."""

    def __init__(self, action: Action, status: Status) -> None:
        self.action = action
        self.status = status
        allowed = sorted(s.value for s in _STEPS[action][0])
        super().__init__(f"cannot {action.value} a report that is {status.value}; allowed from: {', '.join(allowed)}")


def next_status(status: Status, action: Action) -> Status:
    """Return the status after ``action``; ``StepRefused`` when the lifecycle does not allow it from ``status``."""
    allowed, target = _STEPS[action]
    if status not in allowed:
        raise StepRefused(action, status)
    return status if target is None else target


@dataclass(frozen=True)
class Plan:
    """Where a new report goes and when it is due."""

    commune_code: str
    unit_id: str
    deadline: datetime


class OutsideSite(ValueError):
    """A point in none of the site's communes."""


def commune_at(index: AreaIndex, communes: Iterable[str], lon: float, lat: float) -> str | None:
    """Return the commune (of ``communes``) whose polygon holds the point, or None outside them all."""
    wanted = set(communes)
    return next((code for code in index.locate(lon, lat) if code in wanted), None)


def route(reports: ReportsConfig, category_id: str, commune_code: str) -> str:
    """Return the unit that answers a report of this category in this commune."""
    category = reports.category(category_id)
    unit = category.by_commune.get(commune_code, category.unit)
    if unit == COMMUNE_UNIT:
        return reports.commune_units[commune_code]
    return unit


def plan(
    site: SiteConfig,
    index: AreaIndex,
    calendar: WorkingCalendar,
    zone: tzinfo,
    category_id: str,
    lon: float,
    lat: float,
    received: datetime,
) -> Plan:
    """Route a new report and set its deadline; ``OutsideSite`` for a point in no commune of the site,
    ``KeyError`` for an unknown category, ``CalendarError`` for a deadline in an undeclared year."""
    reports = _reports(site)
    category = reports.category(category_id)
    commune = commune_at(index, site.report_communes(), lon, lat)
    if commune is None:
        raise OutsideSite(f"({lon:.5f}, {lat:.5f}) is in none of the site's communes")
    return Plan(
        commune_code=commune,
        unit_id=route(reports, category.id, commune),
        deadline=add_working_days(received, category.deadline_working_days, zone, calendar),
    )


def plan_in_commune(
    site: SiteConfig, calendar: WorkingCalendar, zone: tzinfo, category_id: str, commune_code: str,
    received: datetime,
) -> Plan:
    """Route a report placed by its commune alone (no GPS, picked from the list): same rules as ``plan``."""
    reports = _reports(site)
    category = reports.category(category_id)
    if commune_code not in site.report_communes():
        raise OutsideSite(f"{commune_code} is not a commune of the site")
    return Plan(
        commune_code=commune_code,
        unit_id=route(reports, category.id, commune_code),
        deadline=add_working_days(received, category.deadline_working_days, zone, calendar),
    )


def _reports(site: SiteConfig) -> ReportsConfig:
    if site.reports is None:
        raise KeyError("the site has no reports section (reports.yaml)")
    return site.reports


class Placed(Protocol):
    """A report as near-duplicate detection sees it (``ioc.store.reports.NearbyReport`` is one)."""

    @property
    def id(self) -> int: ...
    @property
    def category(self) -> str: ...
    @property
    def lon(self) -> float: ...
    @property
    def lat(self) -> float: ...
    @property
    def at(self) -> datetime: ...
    @property
    def duplicate_of(self) -> int | None: ...


@dataclass(frozen=True)
class Located:
    """A report placed in space and time (a new one, before it has an id: -1)."""

    id: int
    category: str
    lon: float
    lat: float
    at: datetime
    duplicate_of: int | None = None


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Return the great-circle distance between two WGS84 points, metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def near_duplicate(new: Placed, earlier: Iterable[Placed], radius_m: float, window: timedelta) -> int | None:
    """Return the id of the report ``new`` repeats, or None.

    A repeat has the same category, lies within ``radius_m`` and came within ``window`` before it. Of several,
    the nearest wins (then the earliest); a match that is itself a duplicate gives its original, so a chain of
    reports of one fallen tree all point at the first.
    """
    best: tuple[float, datetime, Placed] | None = None
    for old in earlier:
        if old.id == new.id or old.category != new.category:
            continue
        if not timedelta(0) <= new.at - old.at <= window:
            continue
        d = distance_m(new.lon, new.lat, old.lon, old.lat)
        if d > radius_m:
            continue
        if best is None or (d, old.at) < best[:2]:
            best = (d, old.at, old)
    if best is None:
        return None
    found = best[2]
    return found.duplicate_of if found.duplicate_of is not None else found.id


def duplicate_search(category: str, lon: float, lat: float, at: datetime, intake: ReportIntake) -> DuplicateSearch:
    """Return what the store needs to link a new report to the one it repeats, under the site's intake rules."""
    window = timedelta(hours=intake.duplicate_window_h)
    new = Located(-1, category, lon, lat, at)

    def pick(earlier: Sequence[NearbyReport]) -> int | None:
        return near_duplicate(new, earlier, intake.duplicate_radius_m, window)

    return DuplicateSearch(box=bounding_box(lon, lat, intake.duplicate_radius_m), since=at - window, pick=pick)


def bounding_box(lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """Return (lon_min, lat_min, lon_max, lat_max) around a point, a little wider than ``radius_m``."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M) * 1.01
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    return lon - dlon, lat - dlat, lon + dlon, lat + dlat


def normalise_phone(raw: str) -> str:
    """Return a Vietnamese number as 84xxxxxxxxx (0912 345 678, +84 912..., 84912...); ValueError otherwise."""
    text = raw.strip()
    if not re.fullmatch(r"\+?[\d .\-()]{9,20}", text):
        raise ValueError(f"{raw!r} is not a phone number")
    digits = re.sub(r"\D", "", text)
    if digits.startswith("0"):
        digits = "84" + digits[1:]
    if not (_MOBILE.match(digits) or _LANDLINE.match(digits)):
        raise ValueError(f"{raw!r} is not a Vietnamese mobile or landline number")
    return digits


def clean_text(raw: str, max_chars: int) -> str:
    """Return a description in NFC with control characters removed and spaces trimmed; ValueError if empty or
    longer than ``max_chars``."""
    text = unicodedata.normalize("NFC", raw)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C").strip()
    if not text:
        raise ValueError("the description is empty")
    if len(text) > max_chars:
        raise ValueError(f"the description has {len(text)} characters; at most {max_chars}")
    return text
