"""What part of the site a user may see: their unit scopes widened to every area inside them.

A user's ``unit_scopes`` are area codes; empty means the whole site. A scope covers each named area,
every area below it (through ``parent``) and the units a former district spans (``roster.area_spans``). The
data queries take the resulting codes as a parameter, so a scoped user's stations, cameras, alerts and KPI
units are filtered in PostgreSQL, not only hidden on the page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dashboards.auth import User
from ioc.config.models import SiteConfig


@dataclass(frozen=True)
class Scope:
    """The area codes a user may see; ``codes is None`` is the whole site."""

    codes: frozenset[str] | None

    @classmethod
    def whole_site(cls) -> Scope:
        """The scope of a user without unit scopes."""
        return cls(None)

    @classmethod
    def nothing(cls) -> Scope:
        """The scope of nobody (no session): covers no area at all."""
        return cls(frozenset())

    def covers(self, area_code: str | None) -> bool:
        """Return whether an area is visible; an item without an area is visible only site-wide."""
        if self.codes is None:
            return True
        return area_code is not None and area_code in self.codes

    def sql(self) -> list[str] | None:
        """Return the codes as a query parameter: None for the whole site, else the list to match with ANY."""
        return None if self.codes is None else sorted(self.codes)


def expand(site: SiteConfig, unit_scopes: Iterable[str]) -> Scope:
    """Return the scope of these unit codes in a site (empty: the whole site)."""
    wanted = [c for c in unit_scopes]
    if not wanted:
        return Scope.whole_site()
    children: dict[str, list[str]] = {}
    for area in site.areas:
        if area.parent is not None:
            children.setdefault(area.parent, []).append(area.code)
    spans = site.roster.area_spans
    covered: set[str] = set()
    todo = list(wanted)
    while todo:
        code = todo.pop()
        if code in covered:
            continue
        covered.add(code)
        todo.extend(children.get(code, ()))
        todo.extend(spans.get(code, ()))
    return Scope(frozenset(covered))


def scope_of(site: SiteConfig, user: User | None) -> Scope:
    """Return what a signed-in user may see; nothing without a user."""
    if user is None:
        return Scope.nothing()
    return expand(site, user.unit_scopes)
