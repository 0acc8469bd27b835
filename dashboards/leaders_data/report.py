"""What one view of the leaders' panels shows: the ranked communes and the other units in scope."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from dashboards.leaders_data.catalog import Catalog
from dashboards.leaders_data.periods import Period
from dashboards.leaders_data.scoring import Figure, FigureKey, UnitScore, due_kpis, ranking, score_unit


@dataclass(frozen=True)
class LeadersReport:
    """Everything one view of the leaders' panels shows, for one user's scope."""

    period: Period
    scores: tuple[UnitScore, ...]  # ranked units (communes), best first
    others: tuple[UnitScore, ...]  # other units in scope (province, former district), config order
    catalog: Catalog
    scopes: tuple[str, ...]
    today: date | None = None  # the local day the report was made for (periods in progress: see periods.so_far)

    def label(self, lang: str) -> str:
        """Return the period's label, "so far" when it is in progress."""
        return self.period.label_as_of(lang, self.today)

    @property
    def max_points(self) -> float:
        """Return the points of a unit meeting every target due in this view (the most of any unit: a KPI with
        ``when_missing: skip`` and no figure is left out of a unit's own)."""
        return max(s.max_points for s in self.scores) if self.scores else self.catalog.max_points

    def score_of(self, code: str) -> UnitScore | None:
        """Return the score of a unit in this report."""
        return next((s for s in (*self.scores, *self.others) if s.unit.code == code), None)

    @property
    def unit_codes(self) -> tuple[str, ...]:
        """Return the codes of every unit in the report."""
        return tuple(s.unit.code for s in (*self.scores, *self.others))


def build_report(
    catalog: Catalog,
    scopes: Sequence[str],
    view: Period,
    figures: Mapping[FigureKey, Figure],
    today: date | None = None,
) -> LeadersReport:
    """Assemble the ranking and the other units' KPI lines for one period and scope.

    ``view`` is already the window to show (``periods.so_far``); ``today`` decides which KPIs are due.
    """
    ranked = catalog.ranked_units(scopes)
    others = [u for u in catalog.in_scope(scopes) if u.level != catalog.ranked_level]
    due = due_kpis(catalog, view, today)
    return LeadersReport(
        period=view,
        scores=tuple(ranking(catalog, ranked, view, figures, today)),
        others=tuple(score_unit(catalog, u, view, figures, due) for u in others),
        catalog=catalog,
        scopes=tuple(scopes),
        today=today,
    )
