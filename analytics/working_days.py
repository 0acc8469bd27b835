"""The Vietnamese working calendar: which days count towards a deadline given in working days.

A working day is a Monday to Friday that is not a declared day off, or a Saturday or Sunday declared worked in
exchange for a bridged holiday. The days off are data per year (``calendar.yaml``, validated as
``ioc.config.models.WorkingCalendarConfig``): the government moves and bridges them by notice every year, so a
formula would be wrong around Tết. A day in a year the calendar does not declare raises ``CalendarError`` rather
than being counted as an ordinary weekday.

A deadline of n working days runs from the day after the day received (in the site's time zone) and ends at the
end of the n-th working day, so a report received on a Friday evening with a 1-day deadline is due by the end of
Monday, and one received on the eve of Tết waits out the holiday.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from ioc.config.models import WorkingCalendarConfig
from ioc.errors import CalendarError

logger = logging.getLogger(__name__)

END_OF_DAY = time(23, 59, 59)
MAX_WORKING_DAYS = 366  # a deadline longer than a year is a typo in the config, not a plan


@dataclass(frozen=True)
class CalendarYearDays:
    """One year's departures from the Monday-Friday week."""

    days_off: frozenset[date]
    working_weekend_days: frozenset[date] = frozenset()


class WorkingCalendar:
    """Working days over the declared years; ``CalendarError`` for a day outside them."""

    def __init__(self, years: Mapping[int, CalendarYearDays]) -> None:
        self._years = dict(years)

    @classmethod
    def from_config(cls, config: WorkingCalendarConfig) -> WorkingCalendar:
        """Build the calendar from the site's validated ``working_calendar`` section."""
        return cls(
            {
                year: CalendarYearDays(
                    days_off=frozenset(d.date for d in spec.days_off),
                    working_weekend_days=frozenset(d.date for d in spec.working_days),
                )
                for year, spec in config.years.items()
            }
        )

    @property
    def years(self) -> list[int]:
        """Return the declared years, in order."""
        return sorted(self._years)

    def is_working_day(self, day: date) -> bool:
        """Return whether public offices work on ``day``; ``CalendarError`` when its year is not declared."""
        spec = self._years.get(day.year)
        if spec is None:
            declared = ", ".join(str(y) for y in self.years) or "none"
            raise CalendarError(
                f"the working calendar has no year {day.year} (declared: {declared}); add its days off to "
                "calendar.yaml (working_calendar.years) from the government's notice for that year"
            )
        if day in spec.days_off:
            return False
        if day in spec.working_weekend_days:
            return True
        return day.weekday() < 5

    def nth_working_day_after(self, day: date, n: int) -> date:
        """Return the n-th working day after ``day`` (``day`` itself is not counted); n from 1."""
        if not 1 <= n <= MAX_WORKING_DAYS:
            raise ValueError(f"a deadline counts 1 to {MAX_WORKING_DAYS} working days, not {n}")
        current, left = day, n
        while left:
            current += timedelta(days=1)
            if self.is_working_day(current):
                left -= 1
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """Return how many working days lie after ``start`` up to and including ``end`` (0 when end <= start)."""
        return sum(1 for d in _days_after(start, end) if self.is_working_day(d))


def add_working_days(start: datetime, n: int, zone: tzinfo, calendar: WorkingCalendar) -> datetime:
    """Return when something received at ``start`` (aware) is due: the end of its n-th working day in ``zone``."""
    if start.tzinfo is None:
        raise ValueError("start must be an aware datetime (UTC from the database)")
    local_day = start.astimezone(zone).date()
    return datetime.combine(calendar.nth_working_day_after(local_day, n), END_OF_DAY, tzinfo=zone)


def _days_after(start: date, end: date) -> Iterable[date]:
    current = start + timedelta(days=1)
    while current <= end:
        yield current
        current += timedelta(days=1)
