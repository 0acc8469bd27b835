"""``LeadersData``, what the leaders' panels and exports read, and ``PostgresLeadersData``, its facade.

The facade composes the readers (``figures``: periods on offer and a view's figures; ``trends``: a KPI over
periods) with the pure scoring (``scoring``, ``report``). The readers turn psycopg errors into
``SinkUnavailable`` and rows into ``Figure`` values. ``kpi_values`` holds one row per unit and reporting
period (already an aggregate, at most a few hundred thousand rows for a province over years), so there is no
raw-row scan to avoid; each query returns only the grouped periods a panel shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from psycopg_pool import ConnectionPool

from dashboards.leaders_data.catalog import Catalog
from dashboards.leaders_data.db import KpiDatabase
from dashboards.leaders_data.figures import FigureReader
from dashboards.leaders_data.periods import Granularity, Period
from dashboards.leaders_data.report import LeadersReport, build_report
from dashboards.leaders_data.scoring import Figure, FigureKey
from dashboards.leaders_data.trends import Trend, TrendReader
from ioc.config.models import SiteConfig


class LeadersData(Protocol):
    """Everything the leaders' panels and exports read."""

    catalog: Catalog

    def periods(self, granularity: Granularity, scopes: Sequence[str]) -> list[Period]:
        """Return the periods of this granularity with any figure in scope, newest first."""

    def report(self, view: Period, scopes: Sequence[str]) -> LeadersReport:
        """Return the KPI lines, index and ranking of every unit in scope for a period."""

    def trend(self, kpi_id: str, unit_code: str, view: Period, count: int, scopes: Sequence[str]) -> Trend:
        """Return ``count`` periods of one KPI ending at ``view`` for a unit, with the scope's average."""


class PostgresLeadersData:
    """The leaders' figures from ``kpi_values``, grouped by period in SQL and limited to the user's units."""

    def __init__(self, pool: ConnectionPool, site: SiteConfig) -> None:
        self.catalog = Catalog.from_site(site)
        self._db = KpiDatabase(pool, self.catalog)
        self.figure_reader = FigureReader(self._db)
        self.trend_reader = TrendReader(self._db)

    @property
    def pool(self) -> ConnectionPool:
        """The connection pool (the export routes write their audit lines through it)."""
        return self._db.pool

    def periods(self, granularity: Granularity, scopes: Sequence[str]) -> list[Period]:
        """Return the periods of this granularity with any figure in scope, newest first."""
        return self.figure_reader.periods(granularity, scopes)

    def figures(self, view: Period, unit_codes: Sequence[str]) -> dict[FigureKey, Figure]:
        """Return the grouped figures a view needs (``wanted_periods``) for these units."""
        return self.figure_reader.figures(view, unit_codes)

    def report(self, view: Period, scopes: Sequence[str]) -> LeadersReport:
        """Return the KPI lines, index and ranking of every unit in scope for a period."""
        units = [u.code for u in self.catalog.in_scope(scopes)]
        return build_report(self.catalog, scopes, view, self.figures(view, units))

    def trend(self, kpi_id: str, unit_code: str, view: Period, count: int, scopes: Sequence[str]) -> Trend:
        """Return ``count`` periods of one KPI ending at ``view`` (at the KPI's effective granularity)."""
        return self.trend_reader.trend(kpi_id, unit_code, view, count, scopes)
