"""Citizens' reports as monthly KPIs by commune, for the leaders' panels, the index and the exports.

- ``reports_on_time_pct``: of the reports of a commune whose deadline fell in the month (rejected ones left out),
  the share resolved by their deadline; a report still open or resolved late counts against it. No report due in
  the month: no value (nothing to judge), not 0.
- ``reports_median_resolve_h``: the median time, in hours, from receipt to resolution of the reports of a
  commune resolved in the month (lower is better). None resolved: no value.

Pure: the rows come in (``ReportOutcome``), ``KpiValue`` events go out, with ids fixed by KPI, commune, month and
figure, so computing a month again writes nothing when nothing changed and replaces a figure that did
(``kpi_values`` keeps one per KPI, unit and period).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ioc.events import KpiValue, PeriodKind, stable_id

ON_TIME = "reports_on_time_pct"
MEDIAN_HOURS = "reports_median_resolve_h"
KPI_IDS = (ON_TIME, MEDIAN_HOURS)
SOURCE = "reports"


@dataclass(frozen=True)
class ReportOutcome:
    """What the KPIs need of one report."""

    commune_code: str
    created_at: datetime
    deadline: datetime
    status: str
    closed_at: datetime | None


def monthly_kpis(
    outcomes: Iterable[ReportOutcome], start: datetime, end: datetime, targets: dict[str, float | None] | None = None
) -> list[KpiValue]:
    """Return both KPIs of every commune with something to judge in the month ``[start, end)``."""
    targets = targets or {}
    due: dict[str, list[bool]] = {}
    hours: dict[str, list[float]] = {}
    for r in outcomes:
        if r.status == "rejected":
            continue
        resolved = r.status == "resolved" and r.closed_at is not None
        if start <= r.deadline < end:
            due.setdefault(r.commune_code, []).append(resolved and r.closed_at is not None
                                                      and r.closed_at <= r.deadline)
        if resolved and r.closed_at is not None and start <= r.closed_at < end:
            hours.setdefault(r.commune_code, []).append((r.closed_at - r.created_at).total_seconds() / 3600)
    out = [_value(ON_TIME, code, start, 100.0 * sum(flags) / len(flags), targets) for code, flags in due.items()]
    out += [_value(MEDIAN_HOURS, code, start, statistics.median(h), targets) for code, h in hours.items()]
    return sorted(out, key=lambda v: (v.kpi_id, v.unit_code))


def _value(kpi_id: str, unit: str, start: datetime, value: float, targets: dict[str, float | None]) -> KpiValue:
    # The id follows the figure too: the writer replaces a month's value only for another event id, so the same
    # figure computed again changes nothing and a month recomputed after more reports closed replaces it.
    figure = round(value, 2)
    return KpiValue(
        event_id=stable_id("kpi", SOURCE, kpi_id, unit, start, figure), kpi_id=kpi_id, unit_code=unit,
        period_kind=PeriodKind.MONTH, period_start=start, value=figure, target=targets.get(kpi_id),
        source=SOURCE,
    )


def months(first: str, last: str | None = None) -> Sequence[tuple[int, int]]:
    """Return the (year, month) pairs from ``first`` to ``last`` (YYYY-MM, inclusive; None: just the first)."""
    y, m = (int(p) for p in first.split("-"))
    ly, lm = (int(p) for p in (last or first).split("-"))
    out = []
    while (y, m) <= (ly, lm):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out
