"""Figures, KPI lines, the weighted index and the communes' ranking of one view (the arithmetic is in
``analytics.kpi_index``).

A figure is the **average of the reported sub-periods** at the view's granularity; the target stays the
per-period target. Each KPI figure is compared with the previous period and the same period a year earlier,
both at the KPI's effective granularity (for a yearly KPI: the previous year). The index is compared with the
previous period of the view.

**Like for like in a period in progress** (``periods.so_far``): the view is the window of its months that have
ended, and its comparisons are the same months of the other periods. A KPI with no period of its own inside that
window yet (a yearly KPI in the 2026-so-far view, a quarterly one in a quarter's first two months, a yearly one
in any month of a year in progress) is *not due*: it is shown as such and left out of the index and of the
index it is compared with, so a commune is not marked down for a report nobody could have made yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from analytics.kpi_index import attainment, competition_ranks, index, is_improvement, points
from dashboards.leaders_data.catalog import Catalog, KpiSpec, UnitSpec
from dashboards.leaders_data.periods import GRANULARITIES, Granularity, Period, coarser, months_in


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
    due: bool = True  # False: no period of the KPI's own has ended in the view yet (not scored, not missing)
    skipped: bool = False  # no figure, and the KPI's missing figure means nothing to judge (not scored)

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


def is_due(kpi_period: Granularity, view: Period, today: date | None) -> bool:
    """Whether a KPI reported per ``kpi_period`` can have a figure in ``view`` by ``today`` (always, without one).

    In the view's own granularity (a finer or equal KPI), a window must hold at least one of the KPI's periods; a
    KPI coarser than the view shows the period containing it, which must have ended.
    """
    if today is None:
        return True
    eff_kind = coarser(view.kind, kpi_period)
    if eff_kind == view.kind:
        return months_in(kpi_period) <= view.length
    return view.at(eff_kind).end <= today


def kpi_line(
    kpi: KpiSpec, unit: str, view: Period, figures: Mapping[FigureKey, Figure], due: bool = True
) -> KpiLine:
    """Build one KPI line of a unit for the viewed period from the grouped figures (``due``: see ``is_due``)."""
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
    # A KPI whose missing figure means nothing to judge (when_missing: skip) is not scored without one.
    counts = due and not (kpi.skip_missing and fig is None)
    earned = points(kpi.weight, att) if kpi.scored and counts else None
    return KpiLine(
        kpi=kpi,
        period=eff,
        value=fig.value if fig else None,
        target=target,
        reports=fig.reports if fig else 0,
        attainment=att,
        points=earned,
        previous=prev.value if prev else None,
        last_year=last.value if last else None,
        due=due,
        skipped=due and kpi.skip_missing and fig is None,
    )


def due_kpis(catalog: Catalog, view: Period, today: date | None) -> frozenset[str]:
    """Return the ids of the KPIs due in a view on ``today`` (every KPI without one)."""
    return frozenset(k.id for k in catalog.kpis if is_due(k.period, view, today))


def score_unit(
    catalog: Catalog,
    unit: UnitSpec,
    view: Period,
    figures: Mapping[FigureKey, Figure],
    due: frozenset[str] | None = None,
) -> UnitScore:
    """Compute one unit's KPI lines and index for the viewed period (rank left at 0).

    ``due`` (default: every KPI) are the KPIs that count; the others are shown but not scored.
    """
    lines = tuple(kpi_line(k, unit.code, view, figures, due is None or k.id in due) for k in catalog.kpis)
    scored = [ln for ln in lines if ln.kpi.scored and ln.due and not ln.skipped]
    total = sum(ln.points or 0.0 for ln in scored)
    max_points = sum(ln.kpi.weight for ln in scored)
    return UnitScore(
        unit=unit,
        period=view,
        lines=lines,
        points=total,
        max_points=max_points,
        index=index(total, max_points),
        reported=sum(1 for ln in scored if ln.value is not None),
        expected=len(scored),
    )


def ranking(
    catalog: Catalog,
    units: Sequence[UnitSpec],
    view: Period,
    figures: Mapping[FigureKey, Figure],
    today: date | None = None,
) -> list[UnitScore]:
    """Score and rank units for a period, best first, with their index and rank in the previous period.

    The previous period is scored on the KPIs due in the view (``due_kpis``), so both indexes count the same.
    """
    due = due_kpis(catalog, view, today)
    now = [score_unit(catalog, u, view, figures, due) for u in units]
    before = [score_unit(catalog, u, view.previous(), figures, due) for u in units]
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


def is_better(kpi: KpiSpec, change: float | None) -> bool | None:
    """Say whether a change is an improvement for this KPI (None when there is none or no change)."""
    return is_improvement(change, kpi.higher_is_better)
