"""A KPI's trend for one unit over consecutive periods, beside the average of the communes in scope."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dashboards.leaders_data.catalog import KpiSpec
from dashboards.leaders_data.db import EFF_KIND, KINDS, KpiDatabase
from dashboards.leaders_data.periods import Granularity, Period, coarser


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


# Per unit and period first (a unit's average month of a quarter), then across units: the unit's line and the
# scope's average in one pass over the grouped rows.
_TREND_SQL = f"""
SELECT start, avg(value) FILTER (WHERE unit_code = %(unit)s) AS value,
       avg(value) FILTER (WHERE unit_code = ANY(%(peers)s::text[])) AS scope_average,
       count(*) FILTER (WHERE unit_code = ANY(%(peers)s::text[])) AS units,
       avg(target) FILTER (WHERE unit_code = %(unit)s) AS target
  FROM (SELECT unit_code, date_trunc({EFF_KIND}, period_start AT TIME ZONE %(tz)s)::date AS start,
               avg(value) AS value, avg(target) AS target
          FROM kpi_values
         WHERE kpi_id = %(kpi)s AND unit_code = ANY(%(units)s::text[])
           AND period_start >= %(lo)s AND period_start < %(hi)s
         GROUP BY 1, 2) AS per_unit
 GROUP BY start
 ORDER BY start
"""


class TrendReader:
    """A KPI's figures over periods for a unit and its peers, grouped in SQL."""

    def __init__(self, db: KpiDatabase) -> None:
        self._db = db

    def trend(self, kpi_id: str, unit_code: str, view: Period, count: int, scopes: Sequence[str]) -> Trend:
        """Return ``count`` periods of one KPI ending at ``view`` (at the KPI's effective granularity).

        ``PermissionError`` when the unit is outside the user's scope.
        """
        catalog = self._db.catalog
        kpi = catalog.kpi(kpi_id)
        if unit_code not in {u.code for u in catalog.in_scope(scopes)}:
            raise PermissionError(f"unit {unit_code} is outside the user's scope")
        peers = [u.code for u in catalog.ranked_units(scopes)]
        units = sorted({unit_code, *peers})
        kind = coarser(view.kind, kpi.period)
        last = view.at(kind)
        first = last.shift(-(count - 1))
        params = {
            "g": kind,
            "kinds": KINDS,
            "tz": catalog.tz.key,
            "units": units,
            "unit": unit_code,
            "peers": peers,
            "kpi": kpi_id,
            "lo": self._db.utc(first.start),
            "hi": self._db.utc(last.end),
        }
        with self._db.connection() as conn:
            rows = conn.execute(_TREND_SQL, params).fetchall()
        by_start = {start: (value, avg, n, target) for start, value, avg, n, target in rows}
        points = []
        for i in range(count):
            p = first.shift(i)
            value, avg, n, target = by_start.get(p.start, (None, None, 0, None))
            points.append(TrendPoint(p, value, avg, int(n), target if target is not None else kpi.target))
        return Trend(kpi, unit_code, kind, tuple(points))
