"""The gauges' SVG pictures: what they show, and that any station name makes valid SVG."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import pytest

from dashboards.format import level_colour
from dashboards.sparkline import GAUGE_W, data_uri, gauge_range, gauge_svg, trend_svg

SVG = "{http://www.w3.org/2000/svg}"
THRESHOLDS = (2.0, 3.0, 4.0)


@dataclass(frozen=True)
class P:
    at: datetime
    value: float


def parse(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)


def test_the_gauge_has_a_band_per_level_and_the_value_as_a_bar_in_its_levels_colour() -> None:
    root = parse(gauge_svg(3.2, THRESHOLDS, 2, "NS-01"))
    bands = root.findall(f"{SVG}rect[@class='band']")
    assert [(float(b.get("data-from")), float(b.get("data-to"))) for b in bands][1:] == [
        (2.0, 3.0),
        (3.0, 4.0),
        (4.0, gauge_range(3.2, THRESHOLDS)[1]),
    ]
    assert float(root.find(f"{SVG}rect[@class='value']").get("data-value")) == 3.2
    assert root.find(f"{SVG}line").get("stroke") == level_colour(2)
    assert [t.text for t in root.findall(f"{SVG}text")] == ["2.00", "3.00", "4.00"]


def test_a_value_off_the_scale_widens_it_and_no_value_draws_no_bar() -> None:
    low, high = gauge_range(9.5, THRESHOLDS)
    assert high > 9.5 and low < 2.0
    root = parse(gauge_svg(9.5, THRESHOLDS, 3, "x"))
    bar = root.find(f"{SVG}rect[@class='value']")
    assert float(bar.get("x")) + float(bar.get("width")) <= GAUGE_W
    assert parse(gauge_svg(None, THRESHOLDS, None, "x")).find(f"{SVG}rect[@class='value']") is None


def test_the_label_is_escaped_so_any_station_name_makes_valid_svg() -> None:
    name = 'Cầu "Nà" <Pheo> & bản \'Xá\''
    for svg in (gauge_svg(1.0, THRESHOLDS, 0, name), trend_svg([], THRESHOLDS, 0, name)):
        root = parse(svg)
        assert root.get("aria-label") == name and root.find(f"{SVG}title").text == name


def test_the_trend_shows_level_one_always_and_higher_levels_only_within_reach() -> None:
    start = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
    calm = [P(start + timedelta(minutes=5 * k), 1.0 + 0.01 * k) for k in range(36)]
    root = parse(trend_svg(calm, THRESHOLDS, 0, "calm"))
    assert [ln.get("data-level") for ln in root.findall(f"{SVG}line[@class='threshold']")] == ["1"]
    assert root.find(f"{SVG}polyline[@class='level']").get("data-points") == "36"
    rising = [P(start + timedelta(minutes=5 * k), 2.0 + 0.05 * k) for k in range(36)]
    root = parse(trend_svg(rising, THRESHOLDS, 2, "rising"))
    assert [ln.get("data-level") for ln in root.findall(f"{SVG}line[@class='threshold']")] == ["1", "2", "3"]


def test_the_trend_writes_times_on_the_sites_clock() -> None:
    start = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
    points = [P(start + timedelta(minutes=5 * k), 1.0) for k in range(37)]
    root = parse(trend_svg(points, THRESHOLDS, 0, "x", tz=ZoneInfo("Asia/Ho_Chi_Minh")))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts[-3:] == ["08:00", "09:30", "11:00"]  # UTC+7


@pytest.mark.parametrize("points", [[], [P(datetime(2026, 12, 3, tzinfo=UTC), 2.5)]])
def test_an_empty_or_single_point_trend_is_still_a_picture(points: list[P]) -> None:
    svg = trend_svg(points, THRESHOLDS, None, "x")
    assert parse(svg).tag == f"{SVG}svg"
    assert base64.b64decode(data_uri(svg).split(",", 1)[1]).decode() == svg
