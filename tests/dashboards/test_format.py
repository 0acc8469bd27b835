"""Pure formatting of the wall display: ages, local times, staleness, map fitting."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dashboards.figures import fit_view
from dashboards.format import format_age, format_clock, format_opened, is_stale, stale_after
from dashboards.strings import STRINGS
from ioc.i18n import catalog


@pytest.mark.parametrize(
    ("seconds", "vi", "en"),
    [
        (None, "chưa có dữ liệu", "no data yet"),
        (0.4, "cập nhật 0 giây trước", "updated 0 s ago"),
        (12.7, "cập nhật 12 giây trước", "updated 12 s ago"),
        (89, "cập nhật 89 giây trước", "updated 89 s ago"),
        (150, "cập nhật 2 phút trước", "updated 2 min ago"),
        (3 * 3600, "cập nhật 3 giờ trước", "updated 3 h ago"),
        (3 * 86400, "cập nhật 3 ngày trước", "updated 3 d ago"),
    ],
)
def test_format_age(seconds: float | None, vi: str, en: str) -> None:
    assert format_age(seconds, "vi") == vi
    assert format_age(seconds, "en") == en


def test_clock_is_vietnamese_local_time() -> None:
    assert format_clock(datetime(2025, 7, 1, 17, 5, 9, tzinfo=UTC)) == "02/07/2025 00:05:09"


@pytest.mark.parametrize(
    ("opened", "lang", "text"),
    [
        (datetime(2025, 7, 1, 7, 3, tzinfo=UTC), "vi", "mở lúc 14:03"),
        (datetime(2025, 7, 1, 7, 3, tzinfo=UTC), "en", "opened 14:03"),
        (datetime(2025, 6, 30, 7, 3, tzinfo=UTC), "vi", "mở lúc 14:03 30/06/2025"),
    ],
)
def test_opened_time(opened: datetime, lang: str, text: str) -> None:
    now = datetime(2025, 7, 1, 9, 0, tzinfo=UTC)
    assert format_opened(opened, now, lang) == text


@pytest.mark.parametrize(
    ("age", "interval", "stale"),
    [(None, 300, True), (599, 300, False), (601, 300, True), (119, None, False), (121, None, True)],
)
def test_staleness_is_twice_the_expected_interval_or_120_s(
    age: float | None, interval: float | None, stale: bool
) -> None:
    assert is_stale(age, interval) is stale


def test_stale_after_default() -> None:
    assert stale_after(None) == stale_after(0) == 120


def test_every_wall_string_has_both_languages() -> None:
    registered = catalog()
    for key, (vi, en) in STRINGS.items():
        assert registered[key] == (vi, en) and vi and en


def test_fit_view_centres_and_zooms_on_the_points() -> None:
    view = fit_view([(103.0, 21.6), (103.3, 21.95)])
    assert 103.0 < view.lon < 103.3 and 21.6 < view.lat < 21.95
    assert 8 < view.zoom < 12
    assert fit_view([]).zoom < 6
    assert fit_view([(103.1, 21.7)]).zoom <= 14
