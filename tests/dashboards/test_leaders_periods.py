"""Fair period comparisons on the leaders' panels (issue 15, item 9): a period in progress is the window of its
ended months and is compared with the same months of the other periods; KPIs not due yet are left out of both
indexes. Pure: no database (the SQL side is in test_leaders.py)."""

from __future__ import annotations

from datetime import date

import pytest

from dashboards.leaders_data import Catalog, Figure, KpiSpec, Period, UnitSpec, build_report
from dashboards.leaders_data.periods import in_progress, so_far
from dashboards.leaders_data.scoring import is_due, wanted_periods

DEC_3_2026 = date(2026, 12, 3)


@pytest.mark.parametrize(
    ("key", "today", "window", "previous", "last_year"),
    [
        # The demo's day: the unfinished 2026 is January-November, against January-November 2025.
        ("2026", DEC_3_2026, (2026, "year", 1, 11), (2025, "year", 1, 11), (2025, "year", 1, 11)),
        ("2026-Q4", DEC_3_2026, (2026, "quarter", 4, 2), (2026, "quarter", 3, 2), (2025, "quarter", 4, 2)),
        # January: nothing of the year has ended; its first month stands for it, against January.
        ("2027", date(2027, 1, 10), (2027, "year", 1, 1), (2026, "year", 1, 1), (2026, "year", 1, 1)),
        # A quarter's first week: its first month, against the first month of the previous quarter.
        ("2026-Q3", date(2026, 7, 3), (2026, "quarter", 3, 1), (2026, "quarter", 2, 1), (2025, "quarter", 3, 1)),
        # A leap day: only January has ended; the year before is not asked for a 29 February.
        ("2028-Q1", date(2028, 2, 29), (2028, "quarter", 1, 1), (2027, "quarter", 4, 1), (2027, "quarter", 1, 1)),
        ("2028-Q1", date(2028, 3, 1), (2028, "quarter", 1, 2), (2027, "quarter", 4, 2), (2027, "quarter", 1, 2)),
        # Ended periods are whole, the last day of a year included.
        ("2025", DEC_3_2026, (2025, "year", 1, 0), (2024, "year", 1, 0), (2024, "year", 1, 0)),
        ("2026-Q4", date(2027, 1, 1), (2026, "quarter", 4, 0), (2026, "quarter", 3, 0), (2025, "quarter", 4, 0)),
    ],
)
def test_a_period_in_progress_is_compared_with_the_same_months(
    key: str,
    today: date,
    window: tuple[int, str, int, int],
    previous: tuple[int, str, int, int],
    last_year: tuple[int, str, int, int],
) -> None:
    w = so_far(Period.parse(key), today)
    assert (w.year, w.kind, w.index, w.months) == window
    p, ly = w.previous(), w.last_year()
    assert (p.year, p.kind, p.index, p.months) == previous
    assert (ly.year, ly.kind, ly.index, ly.months) == last_year
    assert w.key() == key  # the page's and the export's key stays the period's


def test_a_month_in_progress_is_itself_and_says_so_far() -> None:
    december = so_far(Period.parse("2026-12"), DEC_3_2026)
    assert december == Period(2026, "month", 12) and in_progress(december, DEC_3_2026)
    assert december.label_as_of("vi", DEC_3_2026) == "12/2026 (đến nay)"
    assert december.label_as_of("en", DEC_3_2026) == "12/2026 (so far)"
    assert not in_progress(Period.parse("2026-11"), DEC_3_2026)


def test_labels_of_windows_say_which_months_and_so_far() -> None:
    year = so_far(Period.parse("2026"), DEC_3_2026)
    assert year.label_as_of("vi", DEC_3_2026) == "Năm 2026 (đến nay: tháng 1-11)"
    assert year.label_as_of("en", DEC_3_2026) == "2026 (so far: Jan-Nov)"
    assert year.previous().label("vi") == "Năm 2025 (tháng 1-11)"  # an ended window: no "so far"
    assert year.previous().label_as_of("en", DEC_3_2026) == "2025 (Jan-Nov)"
    january = so_far(Period.parse("2027-Q1"), date(2027, 1, 5))
    assert january.label_as_of("vi", date(2027, 1, 5)) == "Quý 1/2027 (đến nay: tháng 1)"
    assert january.end == date(2027, 2, 1) and year.end == date(2026, 12, 1)


def test_a_window_of_every_month_is_the_whole_period() -> None:
    assert Period(2025, "quarter", 2, 3) == Period(2025, "quarter", 2)
    assert Period(2025, "year", 1).window(12).partial is False
    with pytest.raises(ValueError, match="window"):
        Period(2025, "quarter", 2, 4)


@pytest.mark.parametrize(
    ("kpi_period", "view", "today", "due"),
    [
        ("month", so_far(Period.parse("2026"), DEC_3_2026), DEC_3_2026, True),
        ("quarter", so_far(Period.parse("2026"), DEC_3_2026), DEC_3_2026, True),  # Q1-Q3 are inside
        ("year", so_far(Period.parse("2026"), DEC_3_2026), DEC_3_2026, False),  # 2026's report is not due
        ("quarter", so_far(Period.parse("2026-Q4"), DEC_3_2026), DEC_3_2026, False),
        ("year", Period.parse("2026-11"), DEC_3_2026, False),  # the year containing the month has not ended
        ("year", Period.parse("2025-11"), DEC_3_2026, True),
        ("year", Period.parse("2025"), DEC_3_2026, True),
        ("quarter", so_far(Period.parse("2028-Q1"), date(2028, 2, 29)), date(2028, 2, 29), False),
    ],
)
def test_which_kpis_are_due(kpi_period: str, view: Period, today: date, due: bool) -> None:
    assert is_due(kpi_period, view, today) is due  # type: ignore[arg-type]


def _catalog() -> Catalog:
    from zoneinfo import ZoneInfo

    kpis = (
        KpiSpec("dossiers", "Hồ sơ đúng hạn", "Dossiers on time", "%", True, "month", 100.0, 60.0, None),
        KpiSpec("households", "Hộ dùng dịch vụ số", "Households online", "%", True, "year", 100.0, 40.0, None),
    )
    units = (UnitSpec("A", "Xã A", "A", "commune", None), UnitSpec("B", "Xã B", "B", "commune", None))
    return Catalog(kpis, units, "commune", ZoneInfo("Asia/Ho_Chi_Minh"))


def test_the_year_so_far_is_not_marked_down_for_the_yearly_report_not_yet_due() -> None:
    """The regression of issue 15: 2026 (unfinished, no yearly report yet) against the whole of 2025 showed every
    commune about -30; like for like, a commune whose monthly figures held steady has not changed."""
    cat = _catalog()
    view = so_far(Period.parse("2026"), DEC_3_2026)
    before = view.previous()
    figures = {}
    for unit, monthly in (("A", 90.0), ("B", 70.0)):
        for p in (view, before):
            figures[("dossiers", unit, p)] = Figure("dossiers", unit, p, monthly, None, 11)
        figures[("households", unit, Period(2025, "year", 1))] = Figure(
            "households", unit, Period(2025, "year", 1), 50.0, None, 1
        )
    assert ("dossiers", "A", before) in {("dossiers", "A", p) for p in wanted_periods(view)}
    report = build_report(cat, [], view, figures, DEC_3_2026)
    a = report.score_of("A")
    assert a is not None and a.index == pytest.approx(90.0) and a.max_points == 60.0
    assert a.index_change == pytest.approx(0.0)  # was 90 x 60/100 - (54 + 20) = -20 against the whole 2025
    assert [s.unit.code for s in report.scores] == ["A", "B"]
    households = {ln.kpi.id: ln for ln in a.lines}["households"]
    assert households.due is False and households.points is None
    assert report.label("en") == "2026 (so far: Jan-Nov)" and report.max_points == 60.0
    # Without a day (an ended period), the same figures count the yearly KPI: the old arithmetic is unchanged.
    whole = build_report(cat, [], Period(2025, "year", 1), figures)
    assert whole.score_of("A").max_points == 100.0  # type: ignore[union-attr]
