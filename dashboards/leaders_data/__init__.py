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

The package, one module per concern: ``periods`` (Period, granularities), ``catalog`` (KPIs, units, scopes),
``scoring`` (figures, KPI lines, index, ranking; the arithmetic in ``analytics.kpi_index``), ``report`` (one
view), ``trends`` (a KPI over periods), ``formatting`` (numbers as leaders read them), ``strings`` (texts),
``figures`` and ``db`` (the SQL), and ``postgres``: ``LeadersData`` and ``PostgresLeadersData``, the facade. It
turns psycopg errors into ``SinkUnavailable`` and rows into ``Figure`` values. ``kpi_values`` holds one row
per unit and reporting period (already an aggregate, at most a few hundred thousand rows for a province over
years), so there is no raw-row scan to avoid; each query returns only the grouped periods a panel shows.
"""

from __future__ import annotations

from analytics.kpi_index import TIE_DECIMALS, attainment, competition_ranks
from dashboards.leaders_data.catalog import Catalog, KpiSpec, UnitSpec, unit_names
from dashboards.leaders_data.figures import MAX_PERIODS
from dashboards.leaders_data.formatting import (
    decimals_for,
    format_change,
    format_number,
    format_percent,
    format_value,
)
from dashboards.leaders_data.periods import GRANULARITIES, MAX_YEAR, MIN_YEAR, Granularity, Period, coarser
from dashboards.leaders_data.postgres import LeadersData, PostgresLeadersData
from dashboards.leaders_data.report import LeadersReport, build_report
from dashboards.leaders_data.scoring import (
    Figure,
    FigureKey,
    KpiLine,
    UnitScore,
    is_better,
    kpi_line,
    ranking,
    score_unit,
    wanted_periods,
)
from dashboards.leaders_data.strings import PAGE_STRINGS, STRINGS
from dashboards.leaders_data.trends import Trend, TrendPoint

__all__ = [
    "GRANULARITIES",
    "MAX_PERIODS",
    "MAX_YEAR",
    "MIN_YEAR",
    "PAGE_STRINGS",
    "STRINGS",
    "TIE_DECIMALS",
    "Catalog",
    "Figure",
    "FigureKey",
    "Granularity",
    "KpiLine",
    "KpiSpec",
    "LeadersData",
    "LeadersReport",
    "Period",
    "PostgresLeadersData",
    "Trend",
    "TrendPoint",
    "UnitScore",
    "UnitSpec",
    "attainment",
    "build_report",
    "coarser",
    "competition_ranks",
    "decimals_for",
    "format_change",
    "format_number",
    "format_percent",
    "format_value",
    "is_better",
    "kpi_line",
    "ranking",
    "score_unit",
    "unit_names",
    "wanted_periods",
]
