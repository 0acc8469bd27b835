"""Who is on duty for an alert, now: shifts by area, domain and local time, and the escalation roles above
them.

Pure: built once from the site config, then asked with values (an alert's area and source, a time).

- **Area.** A shift on an area covers that area, every area below it by parent link, and, for a named area
  such as a former district, the units it spans (``roster.area_spans``) and the areas below those. An alert
  without an area is covered only by shifts on a top-level area (one without a parent): the whole site.
- **Domain.** An alert's ``source_kind`` maps to a duty domain through ``roster.delivery.domains`` (default:
  flood -> flood, traffic -> traffic, crowd and camera -> security (public order at plazas, town centres,
  schools; a dead camera is a blind spot for them), kpi -> kpi).
- **Time.** Shift times are local (Asia/Ho_Chi_Minh). A shift whose end is not after its start ends the next
  day; its weekdays are those of the day it starts, so a Sunday night shift 19:00-07:00 still answers at 03:00
  Monday.
- **Roles.** ``on_duty`` is whoever's shift is running; ``deputy`` and ``leader`` are the officers of that
  position whose ``area_codes`` cover the alert's area (empty: the whole site). When a role finds nobody, the
  next role up answers (nobody on duty -> the deputy; no deputy -> the leader): an alert never goes to no one
  while someone above could take it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from ioc.config.models import WEEKDAYS, Area, Domain, Officer, Role, Roster, Shift, SiteConfig

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
ROLES: tuple[Role, ...] = ("on_duty", "deputy", "leader")
_POSITION: dict[Role, str] = {"deputy": "deputy", "leader": "leader"}


@dataclass(frozen=True)
class Duty:
    """The people a role resolved to, and the role that answered (after falling back up the chain)."""

    role: Role
    officers: tuple[Officer, ...]


def coverage(areas: Sequence[Area], spans: Mapping[str, Sequence[str]]) -> dict[str, frozenset[str]]:
    """Return, for each area code, the codes a shift on it covers: itself, its descendants and its spans'."""
    children: dict[str, list[str]] = {a.code: [] for a in areas}
    for a in areas:
        if a.parent is not None and a.parent in children:
            children[a.parent].append(a.code)
    for named, spanned in spans.items():
        children.setdefault(named, []).extend(spanned)
    out: dict[str, frozenset[str]] = {}
    for code in children:
        seen: set[str] = set()
        todo = [code]
        while todo:
            c = todo.pop()
            if c in seen:
                continue
            seen.add(c)
            todo.extend(children.get(c, ()))
        out[code] = frozenset(seen)
    return out


def shift_running(shift: Shift, at: datetime) -> bool:
    """Whether ``shift`` runs at the aware time ``at`` (local hours, overnight shifts, start weekday)."""
    local = at.astimezone(LOCAL_TZ)
    now = local.time().replace(tzinfo=None)
    today = WEEKDAYS[local.weekday()]
    yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
    if shift.start < shift.end:
        return today in shift.weekdays and shift.start <= now < shift.end
    return (today in shift.weekdays and now >= shift.start) or (
        yesterday in shift.weekdays and now < shift.end
    )


def in_window(at: datetime, start: time, end: time) -> bool:
    """Whether the local time of ``at`` lies in [start, end) (an end not after the start wraps midnight)."""
    now = at.astimezone(LOCAL_TZ).time().replace(tzinfo=None)
    if start < end:
        return start <= now < end
    return now >= start or now < end


def window_end(at: datetime, start: time, end: time) -> datetime:
    """Return the first moment at or after ``at`` outside [start, end) local (``at`` itself if outside)."""
    if not in_window(at, start, end):
        return at
    local = at.astimezone(LOCAL_TZ)
    candidate = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate = (local + timedelta(days=1)).replace(
            hour=end.hour, minute=end.minute, second=0, microsecond=0
        )
    return candidate.astimezone(at.tzinfo)


class DutyRoster:
    """The site's roster, ready to answer who is on duty for an alert at a time."""

    def __init__(self, roster: Roster, areas: Sequence[Area]) -> None:
        self.roster = roster
        self.officers: dict[str, Officer] = {o.id: o for o in roster.officers}
        self._covers = coverage(areas, roster.area_spans)
        self._roots = frozenset(a.code for a in areas if a.parent is None)
        self._domains = dict(roster.delivery.domains)

    @classmethod
    def from_site(cls, site: SiteConfig) -> DutyRoster:
        """Build the roster of a validated site config."""
        return cls(site.roster, site.areas)

    def domain_of(self, source_kind: str) -> Domain | None:
        """Return the duty domain that answers alerts of ``source_kind`` (None: nobody is configured to)."""
        return self._domains.get(source_kind)

    def covers(self, area: str, alert_area: str | None) -> bool:
        """Whether duty on ``area`` covers an alert in ``alert_area`` (None: the whole site)."""
        if alert_area is None:
            return area in self._roots
        return alert_area in self._covers.get(area, frozenset((area,)))

    def on_duty(self, domain: Domain | None, alert_area: str | None, at: datetime) -> list[Officer]:
        """Return the officers whose shift in ``domain`` covering ``alert_area`` is running at ``at``."""
        if domain is None:
            return []
        ids = [
            s.officer
            for s in self.roster.shifts
            if s.domain == domain and self.covers(s.area_code, alert_area) and shift_running(s, at)
        ]
        return self._people(ids)

    def by_position(self, role: Role, alert_area: str | None) -> list[Officer]:
        """Return the officers of the deputy or leader position whose areas cover ``alert_area``."""
        position = _POSITION[role]
        return [
            o
            for o in self.roster.officers
            if o.position == position
            and (not o.area_codes or any(self.covers(code, alert_area) for code in o.area_codes))
        ]

    def resolve(self, role: Role, domain: Domain | None, alert_area: str | None, at: datetime) -> Duty:
        """Return who answers ``role`` for an alert at ``at``, falling back up the chain when nobody does."""
        for candidate in ROLES[ROLES.index(role) :]:
            people = (
                self.on_duty(domain, alert_area, at)
                if candidate == "on_duty"
                else self.by_position(candidate, alert_area)
            )
            if people:
                return Duty(candidate, tuple(people))
        return Duty(role, ())

    def _people(self, ids: Iterable[str]) -> list[Officer]:
        seen: dict[str, Officer] = {}
        for i in ids:
            if i in self.officers and i not in seen:
                seen[i] = self.officers[i]
        return list(seen.values())
