"""The KPI catalogue and the administrative units of a site, and which units a user's scope reaches.

A user's ``unit_scopes`` (empty = the whole site), every area below them (by ``parent``) and the units a named
area spans (``roster.area_spans``) are the only units a query asks for: the filter is in the SQL, not only in
the page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from dashboards.leaders_data.periods import Granularity
from ioc.config.models import SiteConfig


@dataclass(frozen=True)
class KpiSpec:
    """One KPI as the panels need it from kpis.yaml."""

    id: str
    name_vi: str
    name_en: str
    unit: str
    higher_is_better: bool
    period: Granularity
    target: float | None
    weight: float
    baseline: float | None
    baseline_as_of: str | None = None
    skip_missing: bool = False  # kpis.yaml when_missing: skip: a period without a figure is not scored

    @property
    def scored(self) -> bool:
        """Whether the KPI counts in the index (a weight above 0 and a target)."""
        return self.weight > 0 and self.target is not None

    def name(self, lang: str) -> str:
        """Return the KPI's name in ``lang``."""
        return self.name_en if lang == "en" else self.name_vi


@dataclass(frozen=True)
class UnitSpec:
    """An administrative unit or named area."""

    code: str
    name_vi: str
    name_en: str
    level: str
    parent: str | None

    def name(self, lang: str) -> str:
        """Return the unit's name in ``lang``."""
        return self.name_en if lang == "en" else self.name_vi


@dataclass(frozen=True)
class Catalog:
    """The KPIs and units of a site, in config order."""

    kpis: tuple[KpiSpec, ...]
    units: tuple[UnitSpec, ...]
    ranked_level: str
    tz: ZoneInfo
    spans: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # roster.area_spans

    @classmethod
    def from_site(cls, site: SiteConfig) -> Catalog:
        """Take the KPI catalogue and the areas of a site config; communes (the finest level) are ranked."""
        kpis = tuple(
            KpiSpec(
                id=k.id,
                name_vi=k.name_vi,
                name_en=k.name_en,
                unit=k.unit,
                higher_is_better=k.higher_is_better,
                period=k.period.value,
                target=k.target,
                weight=k.weight or 0.0,
                baseline=k.baseline.value if k.baseline is not None else None,
                baseline_as_of=k.baseline.as_of if k.baseline is not None else None,
                skip_missing=k.when_missing == "skip",
            )
            for k in site.kpis
        )
        units = tuple(UnitSpec(a.code, a.name, a.name_en or a.name, a.level, a.parent) for a in site.areas)
        spans = {k: tuple(v) for k, v in site.roster.area_spans.items()}
        return cls(kpis, units, site.site.levels[-1].id, ZoneInfo(site.site.timezone), spans)

    def kpi(self, kpi_id: str) -> KpiSpec:
        """Return a KPI by id; raise KeyError naming it."""
        for k in self.kpis:
            if k.id == kpi_id:
                return k
        raise KeyError(f"KPI {kpi_id!r} is not in kpis.yaml")

    def unit(self, code: str) -> UnitSpec:
        """Return a unit by code; raise KeyError naming it."""
        for u in self.units:
            if u.code == code:
                return u
        raise KeyError(f"unit {code!r} is not in areas.yaml")

    @property
    def max_points(self) -> float:
        """Return the sum of the scored KPIs' weights (the points of a unit meeting every target)."""
        return sum(k.weight for k in self.kpis if k.scored)

    def in_scope(self, scopes: Sequence[str]) -> tuple[UnitSpec, ...]:
        """Return the units a user scoped to ``scopes`` may see: those areas and every area below them.

        Empty scopes mean the whole site. As on the wall (dashboards.wall_scope), a named area such as a
        former district also covers the units it spans (``roster.area_spans``). Unknown codes match nothing.
        """
        if not scopes:
            return self.units
        children: dict[str, list[str]] = {}
        for u in self.units:
            if u.parent is not None:
                children.setdefault(u.parent, []).append(u.code)
        seen: set[str] = set()
        todo = [s for s in scopes if any(u.code == s for u in self.units)]
        while todo:
            code = todo.pop()
            if code not in seen:
                seen.add(code)
                todo.extend(children.get(code, ()))
                todo.extend(self.spans.get(code, ()))
        return tuple(u for u in self.units if u.code in seen)

    def ranked_units(self, scopes: Sequence[str]) -> tuple[UnitSpec, ...]:
        """Return the units in scope that the ranking compares (the finest level: communes)."""
        return tuple(u for u in self.in_scope(scopes) if u.level == self.ranked_level)


def unit_names(units: Iterable[UnitSpec], lang: str) -> dict[str, str]:
    """Return code -> name in ``lang``."""
    return {u.code: u.name(lang) for u in units}
