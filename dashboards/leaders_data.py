"""The leaders' figures: KPI values per unit and period, the weighted index and the communes' ranking.

**Periods.** KPI values are stored per reporting period (``kpi_values``: month, quarter or year, the period's
start as the UTC instant of local midnight). A view at a coarser granularity rolls finer reports up *in SQL*
(``GROUP BY`` the period truncated in the site's time zone) to the **average of the reported sub-periods**;
the target stays the per-period target, so "the average month of 2025" is compared with the monthly target. A
KPI reported at a coarser period than the view (a yearly KPI in a monthly view) shows the figure of the period
that contains the viewed one (the year of that month), labelled with its own period.

**Index (chỉ số chuyển đổi số), transparent on purpose.** For a unit and a period, each KPI that has a
``weight`` above 0 and a ``target`` in kpis.yaml is *scored*:

* attainment ``a`` = value / target when higher is better (target / value when lower is better), clipped to
  0..1, so exceeding the target earns no more than meeting it; a target of 0 (higher is better) is met by any
  value;
* points = weight x a; a scored KPI the unit did not report earns 0 points (and is listed as not reported);
* index = 100 x (sum of points) / (sum of the scored weights), on 0..100.

The target of a figure is the unit's own target when the import carried one, else the catalogue's. KPIs with a
weight but no target in the catalogue (e.g. procedures offered online) cannot be attained and stay out of the
index; the panels say so. Communes (the site's finest level) are ranked by index, highest first; equal indexes
(to 0.001) share a rank ("1, 2, 2, 4"). This mirrors point-based indexes such as Tuyên Quang's
digital-transformation index (Decision 742/QĐ-UBND, 2022), which scores each body against the index set and
ranks them.

**Comparisons.** Each KPI figure is compared with the previous period and the same period a year earlier, both
at the KPI's effective granularity (for a yearly KPI: the previous year). The index is compared with the
previous period of the view.

**Scope.** A user's ``unit_scopes`` (empty = the whole site), every area below them (by ``parent``) and the
units a named area spans (``roster.area_spans``) are the only units a query asks for: the filter is in the
SQL, not only in the page.

``PostgresLeadersData`` is the adapter: it turns psycopg errors into ``SinkUnavailable`` and rows into
``Figure`` values. ``kpi_values`` holds one row per unit and reporting period (already an aggregate, at most a
few hundred thousand rows for a province over years), so there is no raw-row scan to avoid; each query returns
only the grouped periods a panel shows.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

import psycopg
from psycopg_pool import ConnectionPool

from ioc.config.models import SiteConfig
from ioc.i18n import register, t
from ioc.number_format import format_number, format_percent
from ioc.store.pool import pooled

logger = logging.getLogger(__name__)

Granularity = Literal["month", "quarter", "year"]
GRANULARITIES: tuple[Granularity, ...] = ("month", "quarter", "year")
_RANK: dict[str, int] = {"month": 0, "quarter": 1, "year": 2}
_MONTHS_IN: dict[str, int] = {"month": 1, "quarter": 3, "year": 12}
TIE_DECIMALS = 3

STRINGS: dict[str, tuple[str, str]] = {
    "leaders.period.month": ("{month:02d}/{year}", "{month:02d}/{year}"),
    "leaders.period.quarter": ("Quý {quarter}/{year}", "Q{quarter} {year}"),
    "leaders.period.year": ("Năm {year}", "{year}"),
    "leaders.granularity.month": ("Tháng", "Month"),
    "leaders.granularity.quarter": ("Quý", "Quarter"),
    "leaders.granularity.year": ("Năm", "Year"),
    "leaders.unit.pp": ("điểm %", "pp"),
    "leaders.unit.hours": ("giờ", "h"),
    "leaders.unit.days": ("ngày", "days"),
    "leaders.unit.VND": ("đồng", "VND"),
    "leaders.unit.score": ("điểm", "points"),
}
register(STRINGS)

# The page's and the exports' texts (dashboards.leaders, dashboards.export) live here, beside the figures.
PAGE_STRINGS: dict[str, tuple[str, str]] = {
    "leaders.title": ("Bảng điều hành lãnh đạo", "Leaders' panels"),
    "leaders.granularity": ("Kỳ báo cáo", "Period type"),
    "leaders.period": ("Kỳ", "Period"),
    "leaders.unit": ("Đơn vị", "Unit"),
    "leaders.kpi": ("Chỉ tiêu", "Indicator"),
    "leaders.no_source": (
        "Chưa cấu hình nguồn số liệu chỉ tiêu cho bảng điều hành.",
        "No KPI data source is configured for the leaders' panels.",
    ),
    "leaders.unavailable": (
        "Không đọc được số liệu chỉ tiêu (cơ sở dữ liệu không phản hồi). Thử lại sau ít phút.",
        "KPI figures cannot be read (the database does not answer). Try again in a few minutes.",
    ),
    "leaders.no_data": (
        "Chưa có số liệu chỉ tiêu nào trong phạm vi của bạn.",
        "No KPI figures in your scope yet.",
    ),
    "leaders.no_units": (
        "Tài khoản không được giao đơn vị nào có trong cấu hình.",
        "Your account has no known unit.",
    ),
    "leaders.panel.ranking": (
        "Xếp hạng xã theo chỉ số chuyển đổi số · {period}",
        "Communes ranked by digital-transformation index · {period}",
    ),
    "leaders.panel.kpis": ("Chỉ tiêu của {unit} · {period}", "Indicators of {unit} · {period}"),
    "leaders.panel.trend": ("Xu hướng", "Trend"),
    "leaders.col.rank": ("Hạng", "Rank"),
    "leaders.col.unit": ("Đơn vị", "Unit"),
    "leaders.col.points": ("Điểm", "Points"),
    "leaders.col.index": ("Chỉ số", "Index"),
    "leaders.col.index_change": ("So với kỳ trước", "vs previous period"),
    "leaders.col.reported": ("Đã báo cáo", "Reported"),
    "leaders.col.kpi": ("Chỉ tiêu", "Indicator"),
    "leaders.col.period": ("Kỳ số liệu", "Figure's period"),
    "leaders.col.value": ("Thực hiện", "Actual"),
    "leaders.col.target": ("Kế hoạch", "Target"),
    "leaders.col.attainment": ("Mức đạt", "Attainment"),
    "leaders.col.weight": ("Trọng số", "Weight"),
    "leaders.col.previous": ("So với kỳ trước", "vs previous period"),
    "leaders.col.last_year": ("So với cùng kỳ năm trước", "vs same period last year"),
    "leaders.col.status": ("Đánh giá", "Status"),
    "leaders.status.met": ("Đạt", "Met"),
    "leaders.status.missed": ("Chưa đạt", "Not met"),
    "leaders.status.missing": ("Chưa báo cáo", "Not reported"),
    "leaders.status.no_target": ("Chưa có kế hoạch", "No target"),
    "leaders.rank_was": ("hạng {rank} kỳ trước", "rank {rank} before"),
    "leaders.reported_of": ("{n}/{m}", "{n}/{m}"),
    "leaders.points_of": ("{points}/{max}", "{points}/{max}"),
    "leaders.method": (
        "Cách tính: mỗi chỉ tiêu có trọng số và kế hoạch được tính điểm = trọng số \u00d7 mức đạt"
        " (thực hiện / kế hoạch,"
        " tối đa 100 %; chỉ tiêu càng thấp càng tốt: kế hoạch / thực hiện); chưa báo cáo: 0 điểm. Chỉ số ="
        " tổng điểm / {max} \u00d7 100. Số liệu quý, năm là bình quân các kỳ đã báo cáo.",
        "Method: each indicator with a weight and a target scores weight \u00d7 attainment"
        " (actual / target, at most"
        " 100 %; lower-is-better indicators: target / actual); not reported: 0 points. Index = total points /"
        " {max} \u00d7 100. Quarters and years average the periods reported.",
    ),
    "leaders.baseline": ("mốc {as_of}: {value}", "baseline {as_of}: {value}"),
    "leaders.not_scored": (
        "Không tính điểm (chưa có kế hoạch): {names}.",
        "Not scored (no target): {names}.",
    ),
    "leaders.export.xlsx": ("Xuất Excel", "Export to Excel"),
    "leaders.export.pdf": ("Xuất PDF", "Export to PDF"),
    "leaders.trend.unit": ("{unit}", "{unit}"),
    "leaders.trend.average": ("Bình quân các xã trong phạm vi", "Average of communes in scope"),
    "leaders.trend.target": ("Kế hoạch", "Target"),
    "leaders.chart.index": ("Chỉ số", "Index"),
}
register(PAGE_STRINGS)


# --- periods ---------------------------------------------------------------------------------------------


MIN_YEAR, MAX_YEAR = 1900, 2999
_PERIOD_KEY = re.compile(r"(?P<year>[0-9]{4})(?:-(?P<month>[0-9]{2})|-Q(?P<quarter>[0-9]))?", re.ASCII)


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month, quarter or year in local time; ``index`` is the month or quarter (1 for a year)."""

    year: int
    kind: Granularity
    index: int

    def __post_init__(self) -> None:
        top = {"month": 12, "quarter": 4, "year": 1}[self.kind]
        if not 1 <= self.index <= top:
            raise ValueError(f"a {self.kind} index must be 1-{top}, not {self.index}")

    @staticmethod
    def containing(kind: Granularity, day: date) -> Period:
        """Return the period of this kind that contains a local date."""
        return _containing(kind, day.year, day.month)

    @classmethod
    def parse(cls, key: str) -> Period:
        """Read a period key: '2025-07', '2025-Q3' or '2025'; raise ValueError with the accepted forms.

        Years outside MIN_YEAR-MAX_YEAR are refused here: a report also reads the previous period, the
        same one a year earlier and years of trend, which would leave ``date``'s range (issue 12, hole 11:
        '0001-01', '9999-Q4' and '99999-12' were a 500).
        """
        match = _PERIOD_KEY.fullmatch(key.strip().upper())
        if match is None:
            raise ValueError(f"period {key[:20]!r} is not one of YYYY-MM, YYYY-Qn, YYYY")
        year = int(match["year"])
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise ValueError(
                f"period {key[:20]!r} (YYYY-MM, YYYY-Qn, YYYY): the year must be {MIN_YEAR}-{MAX_YEAR}"
            )
        try:
            if match["month"]:
                return cls(year, "month", int(match["month"]))
            if match["quarter"]:
                return cls(year, "quarter", int(match["quarter"]))
            return cls(year, "year", 1)
        except ValueError as exc:
            raise ValueError(f"period {key[:20]!r} is not one of YYYY-MM, YYYY-Qn, YYYY ({exc})") from exc

    @property
    def start(self) -> date:
        """Return the first local day of the period."""
        return date(self.year, self.first_month, 1)

    @property
    def first_month(self) -> int:
        """Return the period's first month (1-12)."""
        return (self.index - 1) * _MONTHS_IN[self.kind] + 1

    @property
    def end(self) -> date:
        """Return the first local day after the period."""
        return self.shift(1).start

    def key(self) -> str:
        """Return the period's key: '2025-07', '2025-Q3', '2025'."""
        if self.kind == "month":
            return f"{self.year}-{self.index:02d}"
        if self.kind == "quarter":
            return f"{self.year}-Q{self.index}"
        return str(self.year)

    def label(self, lang: str) -> str:
        """Return the period as leaders write it: '07/2025', 'Quý 3/2025', 'Năm 2025'."""
        return t(f"leaders.period.{self.kind}", lang, month=self.index, quarter=self.index, year=self.year)

    def shift(self, n: int) -> Period:
        """Return the period ``n`` periods later (earlier when negative)."""
        per_year = 12 // _MONTHS_IN[self.kind]
        total = self.year * per_year + (self.index - 1) + n
        return Period(total // per_year, self.kind, total % per_year + 1)

    def previous(self) -> Period:
        """Return the period just before."""
        return self.shift(-1)

    def last_year(self) -> Period:
        """Return the same period a year earlier."""
        return Period(self.year - 1, self.kind, self.index)

    def at(self, kind: Granularity) -> Period:
        """Return the period of ``kind`` containing this one's start (itself when the kind is the same)."""
        return _containing(kind, self.year, self.first_month)


@lru_cache(maxsize=8192)
def _containing(kind: Granularity, year: int, month: int) -> Period:
    # Periods are immutable and a report asks for the same few thousands times over: build each once.
    if kind == "month":
        return Period(year, "month", month)
    if kind == "quarter":
        return Period(year, "quarter", (month - 1) // 3 + 1)
    return Period(year, "year", 1)


def coarser(a: Granularity, b: Granularity) -> Granularity:
    """Return the coarser of two granularities."""
    return a if _RANK[a] >= _RANK[b] else b


# --- the catalogue and the units -------------------------------------------------------------------------


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


# --- figures, attainment, the index ------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One KPI's value for one unit and period: the average of the reports in it, and how many there were."""

    kpi_id: str
    unit_code: str
    period: Period
    value: float
    target: float | None
    reports: int


FigureKey = tuple[str, str, Period]


def attainment(value: float, target: float, higher_is_better: bool) -> float:
    """Return how far a value meets its target, 0..1 (1 when met or exceeded)."""
    if higher_is_better:
        if target <= 0:
            return 1.0
        return min(1.0, max(0.0, value / target))
    if value <= target:
        return 1.0
    return min(1.0, max(0.0, target / value)) if value > 0 else 1.0


@dataclass(frozen=True)
class KpiLine:
    """One KPI of one unit in the viewed period, with its attainment, points and comparisons."""

    kpi: KpiSpec
    period: Period  # the KPI's effective period (its own, if coarser than the view)
    value: float | None
    target: float | None
    reports: int
    attainment: float | None
    points: float | None  # None when the KPI is not scored
    previous: float | None
    last_year: float | None

    @property
    def met(self) -> bool | None:
        """Whether the target is met (None without a value or target)."""
        return None if self.attainment is None else self.attainment >= 1.0

    @property
    def change_previous(self) -> float | None:
        """Return value minus the previous period's value."""
        return None if self.value is None or self.previous is None else self.value - self.previous

    @property
    def change_last_year(self) -> float | None:
        """Return value minus the same period's value a year earlier."""
        return None if self.value is None or self.last_year is None else self.value - self.last_year


@dataclass(frozen=True)
class UnitScore:
    """One unit's index in a period: points of each scored KPI, the index on 0..100, and its rank."""

    unit: UnitSpec
    period: Period
    lines: tuple[KpiLine, ...]
    points: float
    max_points: float
    index: float | None  # None when nothing is scored at all
    reported: int  # scored KPIs with a figure
    expected: int  # scored KPIs
    rank: int = 0
    previous_index: float | None = None
    previous_rank: int | None = None
    previous_reported: int = 0

    @property
    def index_change(self) -> float | None:
        """Return the index minus the previous period's (None when nothing was reported then)."""
        if self.index is None or self.previous_index is None or self.previous_reported == 0:
            return None
        return self.index - self.previous_index


def kpi_line(kpi: KpiSpec, unit: str, view: Period, figures: Mapping[FigureKey, Figure]) -> KpiLine:
    """Build one KPI line of a unit for the viewed period from the grouped figures."""
    eff = view.at(coarser(view.kind, kpi.period))
    fig = figures.get((kpi.id, unit, eff))
    prev = figures.get((kpi.id, unit, eff.previous()))
    last = figures.get((kpi.id, unit, eff.last_year()))
    target = kpi.target
    if fig is not None and fig.target is not None:
        target = fig.target
    att = None
    if fig is not None and target is not None:
        att = attainment(fig.value, target, kpi.higher_is_better)
    points = None
    if kpi.scored:
        points = kpi.weight * (att if att is not None else 0.0)
    return KpiLine(
        kpi=kpi,
        period=eff,
        value=fig.value if fig else None,
        target=target,
        reports=fig.reports if fig else 0,
        attainment=att,
        points=points,
        previous=prev.value if prev else None,
        last_year=last.value if last else None,
    )


def score_unit(
    catalog: Catalog, unit: UnitSpec, view: Period, figures: Mapping[FigureKey, Figure]
) -> UnitScore:
    """Compute one unit's KPI lines and index for the viewed period (rank left at 0)."""
    lines = tuple(kpi_line(k, unit.code, view, figures) for k in catalog.kpis)
    scored = [ln for ln in lines if ln.kpi.scored]
    points = sum(ln.points or 0.0 for ln in scored)
    max_points = catalog.max_points
    return UnitScore(
        unit=unit,
        period=view,
        lines=lines,
        points=points,
        max_points=max_points,
        index=100.0 * points / max_points if max_points > 0 else None,
        reported=sum(1 for ln in scored if ln.value is not None),
        expected=len(scored),
    )


def competition_ranks(values: Sequence[float | None]) -> list[int]:
    """Rank values highest first; equal values (to TIE_DECIMALS) share a rank, the next skips (1, 2, 2, 4)."""
    keyed = [round(v, TIE_DECIMALS) if v is not None else -math.inf for v in values]
    order = sorted(range(len(values)), key=lambda i: -keyed[i])
    ranks = [0] * len(values)
    for pos, i in enumerate(order):
        if pos > 0 and keyed[i] == keyed[order[pos - 1]]:
            ranks[i] = ranks[order[pos - 1]]
        else:
            ranks[i] = pos + 1
    return ranks


def ranking(
    catalog: Catalog, units: Sequence[UnitSpec], view: Period, figures: Mapping[FigureKey, Figure]
) -> list[UnitScore]:
    """Score and rank units for a period, best first, with their index and rank in the previous period."""
    now = [score_unit(catalog, u, view, figures) for u in units]
    before = [score_unit(catalog, u, view.previous(), figures) for u in units]
    ranks = competition_ranks([s.index for s in now])
    prev_ranks = competition_ranks([s.index for s in before])
    out = []
    for s, r, b, pr in zip(now, ranks, before, prev_ranks, strict=True):
        out.append(
            UnitScore(
                unit=s.unit,
                period=s.period,
                lines=s.lines,
                points=s.points,
                max_points=s.max_points,
                index=s.index,
                reported=s.reported,
                expected=s.expected,
                rank=r,
                previous_index=b.index,
                previous_rank=pr if b.reported else None,
                previous_reported=b.reported,
            )
        )
    out.sort(key=lambda s: (s.rank, s.unit.name_vi))
    return out


def wanted_periods(view: Period) -> set[Period]:
    """Return every period a view needs figures for.

    At each effective granularity: the period of the view and of its previous period, each with its previous
    and its same period last year.
    """
    wanted: set[Period] = set()
    for kind in GRANULARITIES:
        eff_kind = coarser(view.kind, kind)
        for p in (view, view.previous()):
            eff = p.at(eff_kind)
            wanted.update((eff, eff.previous(), eff.last_year()))
    return wanted


# --- the report a page or an export shows ----------------------------------------------------------------


@dataclass(frozen=True)
class LeadersReport:
    """Everything one view of the leaders' panels shows, for one user's scope."""

    period: Period
    scores: tuple[UnitScore, ...]  # ranked units (communes), best first
    others: tuple[UnitScore, ...]  # other units in scope (province, former district), config order
    catalog: Catalog
    scopes: tuple[str, ...]

    def score_of(self, code: str) -> UnitScore | None:
        """Return the score of a unit in this report."""
        return next((s for s in (*self.scores, *self.others) if s.unit.code == code), None)

    @property
    def unit_codes(self) -> tuple[str, ...]:
        """Return the codes of every unit in the report."""
        return tuple(s.unit.code for s in (*self.scores, *self.others))


def build_report(
    catalog: Catalog, scopes: Sequence[str], view: Period, figures: Mapping[FigureKey, Figure]
) -> LeadersReport:
    """Assemble the ranking and the other units' KPI lines for one period and scope."""
    ranked = catalog.ranked_units(scopes)
    others = [u for u in catalog.in_scope(scopes) if u.level != catalog.ranked_level]
    return LeadersReport(
        period=view,
        scores=tuple(ranking(catalog, ranked, view, figures)),
        others=tuple(score_unit(catalog, u, view, figures) for u in others),
        catalog=catalog,
        scopes=tuple(scopes),
    )


@dataclass(frozen=True)
class TrendPoint:
    """One period of a KPI's trend: the unit's figure and the average of the communes in scope."""

    period: Period
    value: float | None
    scope_average: float | None
    units_reporting: int
    target: float | None


@dataclass(frozen=True)
class Trend:
    """A KPI's figures for one unit over consecutive periods, oldest first."""

    kpi: KpiSpec
    unit_code: str
    granularity: Granularity
    points: tuple[TrendPoint, ...] = field(default_factory=tuple)


# --- formatting ---------------------------------------------------------------------------------------------


def decimals_for(unit: str, value: float | None = None) -> int:
    """Return how many decimals a KPI's unit is shown with (counts of a single period are whole)."""
    if unit in ("count", "VND"):
        return 0 if value is None or float(value).is_integer() else 1
    return 1


def format_value(unit: str, value: float | None, lang: str) -> str:
    """Format a KPI value in its unit: '96,6 %', '1.234', '12,5 giờ'."""
    if value is None:
        return "—"
    if unit == "%":
        return format_percent(value, lang)
    text = format_number(value, lang, decimals_for(unit, value))
    return text if unit == "count" else f"{text} {t(f'leaders.unit.{unit}', lang)}"


def format_change(unit: str, change: float | None, lang: str) -> str:
    """Format a difference with its sign: '+1,2 điểm %', '-3', '+0,0 điểm %'."""
    if change is None:
        return "—"
    sign = "+" if change >= 0 else "-"
    size = abs(change)
    if unit == "%":
        return f"{sign}{format_number(size, lang, 1)} {t('leaders.unit.pp', lang)}"
    text = f"{sign}{format_number(size, lang, decimals_for(unit, size))}"
    return text if unit == "count" else f"{text} {t(f'leaders.unit.{unit}', lang)}"


def is_better(kpi: KpiSpec, change: float | None) -> bool | None:
    """Say whether a change is an improvement for this KPI (None when there is none or no change)."""
    if change is None or abs(change) < 1e-9:
        return None
    return change > 0 if kpi.higher_is_better else change < 0


# --- the adapter --------------------------------------------------------------------------------------------


class LeadersData(Protocol):
    """Everything the leaders' panels and exports read."""

    catalog: Catalog

    def periods(self, granularity: Granularity, scopes: Sequence[str]) -> list[Period]:
        """Return the periods of this granularity with any figure in scope, newest first."""

    def report(self, view: Period, scopes: Sequence[str]) -> LeadersReport:
        """Return the KPI lines, index and ranking of every unit in scope for a period."""

    def trend(self, kpi_id: str, unit_code: str, view: Period, count: int, scopes: Sequence[str]) -> Trend:
        """Return ``count`` periods of one KPI ending at ``view`` for a unit, with the scope's average."""


_KINDS = list(GRANULARITIES)
# The effective granularity of a row: the view's, or the row's own when it is coarser (a yearly KPI by month).
_EFF_KIND = (
    "(CASE WHEN array_position(%(kinds)s::text[], period_kind) > array_position(%(kinds)s::text[], "
    "%(g)s::text) THEN period_kind ELSE %(g)s::text END)"
)
_FIGURES_SQL = f"""
SELECT kpi_id, unit_code, kind, start, avg(value) AS value, avg(target) AS target, count(*) AS reports
  FROM (SELECT kpi_id, unit_code, value, target, {_EFF_KIND} AS kind,
               date_trunc({_EFF_KIND}, period_start AT TIME ZONE %(tz)s)::date AS start
          FROM kpi_values
         WHERE unit_code = ANY(%(units)s::text[]) AND period_start >= %(lo)s AND period_start < %(hi)s) AS v
 WHERE (kind, start) IN (SELECT * FROM unnest(%(want_kinds)s::text[], %(want_starts)s::date[]))
 GROUP BY kpi_id, unit_code, kind, start
"""
_PERIODS_SQL = """
SELECT DISTINCT date_trunc(%(g)s::text, period_start AT TIME ZONE %(tz)s)::date AS start
  FROM kpi_values
 WHERE unit_code = ANY(%(units)s::text[])
   AND array_position(%(kinds)s::text[], period_kind) <= array_position(%(kinds)s::text[], %(g)s::text)
 ORDER BY start DESC
 LIMIT %(limit)s
"""
# Per unit and period first (a unit's average month of a quarter), then across units: the unit's line and the
# scope's average in one pass over the grouped rows.
_TREND_SQL = f"""
SELECT start, avg(value) FILTER (WHERE unit_code = %(unit)s) AS value,
       avg(value) FILTER (WHERE unit_code = ANY(%(peers)s::text[])) AS scope_average,
       count(*) FILTER (WHERE unit_code = ANY(%(peers)s::text[])) AS units,
       avg(target) FILTER (WHERE unit_code = %(unit)s) AS target
  FROM (SELECT unit_code, date_trunc({_EFF_KIND}, period_start AT TIME ZONE %(tz)s)::date AS start,
               avg(value) AS value, avg(target) AS target
          FROM kpi_values
         WHERE kpi_id = %(kpi)s AND unit_code = ANY(%(units)s::text[])
           AND period_start >= %(lo)s AND period_start < %(hi)s
         GROUP BY 1, 2) AS per_unit
 GROUP BY start
 ORDER BY start
"""
MAX_PERIODS = 240


class PostgresLeadersData:
    """The leaders' figures from ``kpi_values``, grouped by period in SQL and limited to the user's units."""

    def __init__(self, pool: ConnectionPool, site: SiteConfig) -> None:
        self._pool = pool
        self.catalog = Catalog.from_site(site)

    @property
    def pool(self) -> ConnectionPool:
        """The connection pool (the export routes write their audit lines through it)."""
        return self._pool

    def periods(self, granularity: Granularity, scopes: Sequence[str]) -> list[Period]:
        """Return the periods of this granularity with any figure in scope, newest first."""
        units = [u.code for u in self.catalog.in_scope(scopes)]
        if not units:
            return []
        params = {
            "g": granularity,
            "tz": self.catalog.tz.key,
            "units": units,
            "kinds": _KINDS,
            "limit": MAX_PERIODS,
        }
        with self._connection() as conn:
            rows = conn.execute(_PERIODS_SQL, params).fetchall()
        return [Period.containing(granularity, row[0]) for row in rows]

    def figures(self, view: Period, unit_codes: Sequence[str]) -> dict[FigureKey, Figure]:
        """Return the grouped figures a view needs (``wanted_periods``) for these units."""
        wanted = sorted(wanted_periods(view))
        if not unit_codes:
            return {}
        lo = min(p.start for p in wanted)
        hi = max(p.end for p in wanted)
        params = {
            "g": view.kind,
            "kinds": _KINDS,
            "tz": self.catalog.tz.key,
            "units": list(unit_codes),
            "lo": self._utc(lo),
            "hi": self._utc(hi),
            "want_kinds": [p.kind for p in wanted],
            "want_starts": [p.start for p in wanted],
        }
        with self._connection() as conn:
            rows = conn.execute(_FIGURES_SQL, params).fetchall()
        out: dict[FigureKey, Figure] = {}
        for kpi_id, unit, kind, start, value, target, reports in rows:
            period = Period.containing(kind, start)
            out[(kpi_id, unit, period)] = Figure(
                kpi_id, unit, period, float(value), None if target is None else float(target), int(reports)
            )
        return out

    def report(self, view: Period, scopes: Sequence[str]) -> LeadersReport:
        """Return the KPI lines, index and ranking of every unit in scope for a period."""
        units = [u.code for u in self.catalog.in_scope(scopes)]
        return build_report(self.catalog, scopes, view, self.figures(view, units))

    def trend(self, kpi_id: str, unit_code: str, view: Period, count: int, scopes: Sequence[str]) -> Trend:
        """Return ``count`` periods of one KPI ending at ``view`` (at the KPI's effective granularity)."""
        kpi = self.catalog.kpi(kpi_id)
        if unit_code not in {u.code for u in self.catalog.in_scope(scopes)}:
            raise PermissionError(f"unit {unit_code} is outside the user's scope")
        peers = [u.code for u in self.catalog.ranked_units(scopes)]
        units = sorted({unit_code, *peers})
        kind = coarser(view.kind, kpi.period)
        last = view.at(kind)
        first = last.shift(-(count - 1))
        params = {
            "g": kind,
            "kinds": _KINDS,
            "tz": self.catalog.tz.key,
            "units": units,
            "unit": unit_code,
            "peers": peers,
            "kpi": kpi_id,
            "lo": self._utc(first.start),
            "hi": self._utc(last.end),
        }
        with self._connection() as conn:
            rows = conn.execute(_TREND_SQL, params).fetchall()
        by_start = {start: (value, avg, n, target) for start, value, avg, n, target in rows}
        points = []
        for i in range(count):
            p = first.shift(i)
            value, avg, n, target = by_start.get(p.start, (None, None, 0, None))
            points.append(TrendPoint(p, value, avg, int(n), target if target is not None else kpi.target))
        return Trend(kpi, unit_code, kind, tuple(points))

    def _utc(self, day: date) -> datetime:
        return datetime.combine(day, time(0), self.catalog.tz)

    def _connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        """Lend a pooled connection; an unreachable server comes out as ``SinkUnavailable``."""
        return pooled(self._pool, "PostgreSQL (KPIs)")


def unit_names(units: Iterable[UnitSpec], lang: str) -> dict[str, str]:
    """Return code -> name in ``lang``."""
    return {u.code: u.name(lang) for u in units}
