"""Reporting periods: a calendar month, quarter or year in the site's local time, and how they nest.

KPI values are stored per reporting period (``kpi_values``: month, quarter or year, the period's start as the UTC
instant of local midnight). A KPI reported at a coarser period than the view (a yearly KPI in a monthly view)
shows the figure of the period that contains the viewed one (``Period.at`` and ``coarser``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Literal

from dashboards.leaders_data import strings as _strings  # noqa: F401  (registers the period labels)
from ioc.i18n import t

Granularity = Literal["month", "quarter", "year"]
GRANULARITIES: tuple[Granularity, ...] = ("month", "quarter", "year")
_RANK: dict[str, int] = {"month": 0, "quarter": 1, "year": 2}
_MONTHS_IN: dict[str, int] = {"month": 1, "quarter": 3, "year": 12}

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
