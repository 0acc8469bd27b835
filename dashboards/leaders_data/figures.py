"""The periods with figures in a scope, and the grouped figures one view needs, read from ``kpi_values``."""

from __future__ import annotations

from collections.abc import Sequence

from dashboards.leaders_data.db import EFF_KIND, KINDS, KpiDatabase
from dashboards.leaders_data.periods import Granularity, Period
from dashboards.leaders_data.scoring import Figure, FigureKey, wanted_periods

_FIGURES_SQL = f"""
SELECT kpi_id, unit_code, kind, start, avg(value) AS value, avg(target) AS target, count(*) AS reports
  FROM (SELECT kpi_id, unit_code, value, target, {EFF_KIND} AS kind,
               date_trunc({EFF_KIND}, period_start AT TIME ZONE %(tz)s)::date AS start
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
MAX_PERIODS = 240


class FigureReader:
    """Periods on offer and the figures of a view, grouped by period in SQL and limited to the user's units."""

    def __init__(self, db: KpiDatabase) -> None:
        self._db = db

    def periods(self, granularity: Granularity, scopes: Sequence[str]) -> list[Period]:
        """Return the periods of this granularity with any figure in scope, newest first."""
        catalog = self._db.catalog
        units = [u.code for u in catalog.in_scope(scopes)]
        if not units:
            return []
        params = {"g": granularity, "tz": catalog.tz.key, "units": units, "kinds": KINDS, "limit": MAX_PERIODS}
        with self._db.connection() as conn:
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
            "kinds": KINDS,
            "tz": self._db.catalog.tz.key,
            "units": list(unit_codes),
            "lo": self._db.utc(lo),
            "hi": self._db.utc(hi),
            "want_kinds": [p.kind for p in wanted],
            "want_starts": [p.start for p in wanted],
        }
        with self._db.connection() as conn:
            rows = conn.execute(_FIGURES_SQL, params).fetchall()
        out: dict[FigureKey, Figure] = {}
        for kpi_id, unit, kind, start, value, target, reports in rows:
            period = Period.containing(kind, start)
            out[(kpi_id, unit, period)] = Figure(
                kpi_id, unit, period, float(value), None if target is None else float(target), int(reports)
            )
        return out
