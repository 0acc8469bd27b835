"""The working calendar: weekends, the shipped holidays of 2025-2027, bridged Saturdays, missing years."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from analytics.working_days import CalendarYearDays, WorkingCalendar, add_working_days
from ioc.config.loader import load_site, validate_site
from ioc.config.models import WorkingCalendarConfig
from ioc.errors import CalendarError

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
SITE = Path(__file__).resolve().parents[2] / "configs" / "muong-cha"


@pytest.fixture(scope="module")
def shipped() -> WorkingCalendar:
    config = load_site(SITE).working_calendar
    assert config is not None
    return WorkingCalendar.from_config(config)


def test_the_shipped_calendar_declares_2025_to_2027(shipped: WorkingCalendar) -> None:
    assert shipped.years == [2025, 2026, 2027]


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 1, 1), False),  # New Year's Day
        (date(2025, 1, 2), True),
        (date(2025, 1, 27), False),  # Tết Ất Tỵ, Monday to Friday
        (date(2025, 1, 31), False),
        (date(2025, 2, 3), True),
        (date(2025, 4, 7), False),  # 10/3 lunar
        (date(2025, 4, 26), True),  # a Saturday worked for Friday 2 May
        (date(2025, 5, 2), False),
        (date(2025, 9, 1), False),
        (date(2025, 9, 2), False),
        (date(2025, 9, 3), True),
        (date(2026, 2, 17), False),  # Tết Bính Ngọ
        (date(2026, 4, 27), False),  # Giỗ Tổ fell on Sunday 26/4
        (date(2026, 1, 10), True),
        (date(2027, 2, 11), False),  # Tết Đinh Mùi on a Saturday: two compensatory days
        (date(2027, 4, 16), False),
        (date(2027, 5, 3), False),
        (date(2026, 12, 5), False),  # an ordinary Saturday
        (date(2026, 12, 7), True),
    ],
)
def test_shipped_days(shipped: WorkingCalendar, day: date, working: bool) -> None:
    assert shipped.is_working_day(day) is working


@pytest.mark.parametrize(
    ("received_utc", "n", "due_local_day"),
    [
        # Friday 4 Dec 2026, 18:00 in Hà Nội: one working day is Monday.
        (datetime(2026, 12, 4, 11, 0, tzinfo=UTC), 1, date(2026, 12, 7)),
        # 23:30 on Friday in Hà Nội (16:30 UTC): still Friday there.
        (datetime(2026, 12, 4, 16, 30, tzinfo=UTC), 1, date(2026, 12, 7)),
        # 17:30 UTC on Friday is 00:30 Saturday local: counting starts after Saturday.
        (datetime(2026, 12, 4, 17, 30, tzinfo=UTC), 1, date(2026, 12, 7)),
        # Received the Friday before Tết 2026 (13 Feb): the holiday week does not count.
        (datetime(2026, 2, 13, 3, 0, tzinfo=UTC), 1, date(2026, 2, 23)),
        (datetime(2026, 2, 13, 3, 0, tzinfo=UTC), 5, date(2026, 2, 27)),
        # Thursday 24 Apr 2025, 2 working days: Friday 25, then Saturday 26 (worked), not Monday 28.
        (datetime(2025, 4, 24, 3, 0, tzinfo=UTC), 2, date(2025, 4, 26)),
        # Across the year end: Wednesday 31 Dec, then 1 and 2 Jan 2026 off (2 Jan swapped), Monday 5, Tuesday 6.
        (datetime(2025, 12, 30, 3, 0, tzinfo=UTC), 3, date(2026, 1, 6)),
        (datetime(2026, 12, 28, 3, 0, tzinfo=UTC), 10, date(2027, 1, 12)),
    ],
)
def test_add_working_days(shipped: WorkingCalendar, received_utc: datetime, n: int, due_local_day: date) -> None:
    due = add_working_days(received_utc, n, HCM, shipped)
    assert due.tzinfo is HCM
    assert due.date() == due_local_day
    assert (due.hour, due.minute) == (23, 59)


def test_a_year_missing_from_the_calendar_is_an_error_not_weekends_only(shipped: WorkingCalendar) -> None:
    with pytest.raises(CalendarError, match=r"no year 2028 .*calendar.yaml"):
        add_working_days(datetime(2027, 12, 29, 3, 0, tzinfo=UTC), 5, HCM, shipped)
    with pytest.raises(CalendarError):
        shipped.is_working_day(date(2024, 12, 31))


def test_working_days_between(shipped: WorkingCalendar) -> None:
    # 24 Jan 2025 (Fri) to 7 Feb 2025 (Fri): the Tết week is off, 5 working days from 3 to 7 Feb.
    assert shipped.working_days_between(date(2025, 1, 24), date(2025, 2, 7)) == 5
    assert shipped.working_days_between(date(2025, 2, 7), date(2025, 2, 7)) == 0


def test_a_deadline_needs_an_aware_time_and_a_sane_length() -> None:
    cal = WorkingCalendar({2026: CalendarYearDays(frozenset())})
    with pytest.raises(ValueError, match="aware"):
        add_working_days(datetime(2026, 3, 2, 9, 0), 1, HCM, cal)
    with pytest.raises(ValueError, match="1 to"):
        add_working_days(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), 0, HCM, cal)


@pytest.mark.parametrize(
    ("years", "message"),
    [
        ({2026: {"source": "test", "days_off": [{"date": "2025-12-31", "name": "x"}]}}, "not in 2026"),
        ({2026: {"source": "test", "days_off": [{"date": "2026-12-05", "name": "x"}]}}, "already off"),
        ({2026: {"source": "test", "working_days": [{"date": "2026-12-07", "name": "x"}]}}, "already a working"),
        (
            {2026: {"source": "test", "days_off": [{"date": "2026-12-07", "name": "x"}] * 2}},
            "listed twice",
        ),
    ],
)
def test_calendar_config_problems(years: dict[int, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        WorkingCalendarConfig.model_validate({"years": years})


def test_a_calendar_problem_points_at_its_file_and_line(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    for f in SITE.iterdir():
        target = site / f.name
        if f.is_dir():
            target.symlink_to(f)
        else:
            target.write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    text = (site / "calendar.yaml").read_text(encoding="utf-8")
    (site / "calendar.yaml").write_text(text.replace("2026-04-27", "2026-04-26"), encoding="utf-8")
    issues = validate_site(site)
    assert len(issues) == 1
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "2026-04-27" in row)
    assert issues[0].file.endswith("calendar.yaml") and issues[0].line == line
    assert "Sunday" in issues[0].message
