"""Reporting periods: a calendar month, quarter or year in the site's local time, and how they nest.

KPI values are stored per reporting period (``kpi_values``: month, quarter or year, the period's start as the UTC
instant of local midnight). A KPI reported at a coarser period than the view (a yearly KPI in a monthly view)
shows the figure of the period that contains the viewed one (``Period.at`` and ``coarser``).

**Periods in progress are compared like for like.** A period that has not ended (``in_progress``) is read as
the *window* of its months that have ended (``so_far``: 2026 on 3 December is January-November, the fourth
quarter is October-November; in a period's first month, that month alone). A window's previous period and its
same period a year earlier are the same months of those periods (``Period.months``), so the unfinished 2026 is
compared with January-November 2025, not with the whole of 2025; labels say "đến nay" / "so far".
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
# English month names for windows ('Jan-Nov'), fixed: calendar.month_abbr follows the process's locale.
_MONTH_ABBR_EN = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_PERIOD_KEY = re.compile(r"(?P<year>[0-9]{4})(?:-(?P<month>[0-9]{2})|-Q(?P<quarter>[0-9]))?", re.ASCII)


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month, quarter or year in local time; ``index`` is the month or quarter (1 for a year).

    ``months`` above 0 makes it a window: the period's first ``months`` months only (a period in progress, or
    the same months of the period it is compared with); 0 (and the period's own length) is the whole period.
    """

    year: int
    kind: Granularity
    index: int
    months: int = 0

    def __post_init__(self) -> None:
        top = {"month": 12, "quarter": 4, "year": 1}[self.kind]
        if not 1 <= self.index <= top:
            raise ValueError(f"a {self.kind} index must be 1-{top}, not {self.index}")
        if not 0 <= self.months <= _MONTHS_IN[self.kind]:
            raise ValueError(f"a {self.kind} window must be 0-{_MONTHS_IN[self.kind]} months, not {self.months}")
        if self.months == _MONTHS_IN[self.kind]:
            object.__setattr__(self, "months", 0)  # every month of it: the whole period, one value for one thing

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
    def length(self) -> int:
        """Return how many months the period (or its window) covers."""
        return self.months or _MONTHS_IN[self.kind]

    @property
    def partial(self) -> bool:
        """Whether this is a window of the period's first months rather than all of it."""
        return self.months > 0

    def whole(self) -> Period:
        """Return the whole period of a window (itself when whole)."""
        return _containing(self.kind, self.year, self.first_month) if self.months else self

    def window(self, months: int) -> Period:
        """Return the period's first ``months`` months (the whole period when that is all of them)."""
        return Period(self.year, self.kind, self.index, months)

    @property
    def end(self) -> date:
        """Return the first local day after the period (after its window's last month)."""
        total = self.year * 12 + self.first_month - 1 + self.length
        return date(total // 12, total % 12 + 1, 1)

    def key(self) -> str:
        """Return the period's key: '2025-07', '2025-Q3', '2025'."""
        if self.kind == "month":
            return f"{self.year}-{self.index:02d}"
        if self.kind == "quarter":
            return f"{self.year}-Q{self.index}"
        return str(self.year)

    def label(self, lang: str) -> str:
        """Return the period as leaders write it: '07/2025', 'Quý 3/2025', 'Năm 2025 (tháng 1-11)'."""
        whole = t(f"leaders.period.{self.kind}", lang, month=self.index, quarter=self.index, year=self.year)
        if not self.months:
            return whole
        return t("leaders.period.window", lang, period=whole, months=self._months_text(lang))

    def label_as_of(self, lang: str, today: date | None) -> str:
        """Return the label, saying "đến nay" / "so far" when the period has not ended by ``today``."""
        if today is None or not in_progress(self, today):
            return self.label(lang)
        whole = self.whole().label(lang)
        if not self.months:
            return t("leaders.period.so_far", lang, period=whole)
        return t("leaders.period.so_far_window", lang, period=whole, months=self._months_text(lang))

    def _months_text(self, lang: str) -> str:
        first, last = self.first_month, self.first_month + self.length - 1
        if lang == "en":
            names = _MONTH_ABBR_EN
            return names[first] if first == last else f"{names[first]}-{names[last]}"
        return t("leaders.period.months", lang, first=first, last=last) if first != last else (
            t("leaders.period.one_month", lang, month=first)
        )

    def shift(self, n: int) -> Period:
        """Return the period ``n`` periods later (earlier when negative), the same window of it."""
        per_year = 12 // _MONTHS_IN[self.kind]
        total = self.year * per_year + (self.index - 1) + n
        return Period(total // per_year, self.kind, total % per_year + 1, self.months)

    def previous(self) -> Period:
        """Return the period just before."""
        return self.shift(-1)

    def last_year(self) -> Period:
        """Return the same period (the same window of it) a year earlier."""
        return Period(self.year - 1, self.kind, self.index, self.months)

    def at(self, kind: Granularity) -> Period:
        """Return the period of ``kind`` containing this one's start (itself, window kept, for the same kind)."""
        return self if kind == self.kind else _containing(kind, self.year, self.first_month)


def in_progress(period: Period, today: date) -> bool:
    """Whether the (whole) period has not ended by the local day ``today``."""
    return period.whole().end > today


def so_far(period: Period, today: date) -> Period:
    """Return what of a period can be compared on ``today``: the whole period once it has ended, else its months
    that have ended (at least its first month, the one in progress when none has).

    On 3 December 2026: 2026 -> January-November, 2026-Q4 -> October-November, 12/2026 -> itself (so far).
    """
    whole = period.whole()
    if whole.end <= today:
        return whole
    ended = (today.year * 12 + today.month) - (whole.year * 12 + whole.first_month)
    return whole.window(min(max(ended, 1), _MONTHS_IN[whole.kind]))


@lru_cache(maxsize=8192)
def _containing(kind: Granularity, year: int, month: int) -> Period:
    # Periods are immutable and a report asks for the same few thousands times over: build each once.
    if kind == "month":
        return Period(year, "month", month)
    if kind == "quarter":
        return Period(year, "quarter", (month - 1) // 3 + 1)
    return Period(year, "year", 1)


def months_in(kind: Granularity) -> int:
    """Return how many months a whole period of ``kind`` lasts."""
    return _MONTHS_IN[kind]


def coarser(a: Granularity, b: Granularity) -> Granularity:
    """Return the coarser of two granularities."""
    return a if _RANK[a] >= _RANK[b] else b
