"""What one view of the leaders' panels shows: the ranked communes and the other units in scope."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dashboards.leaders_data.catalog import Catalog
from dashboards.leaders_data.periods import Period
from dashboards.leaders_data.scoring import Figure, FigureKey, UnitScore, ranking, score_unit


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
