"""The leaders' figures as plotly dicts (issue 15, item 9): the ranking's room for its axis, the choropleth of the
index by commune (vi/en hover, the selected commune, no network), the trend's y labels and "so far". Pure."""

from __future__ import annotations

import json
from datetime import date
from zoneinfo import ZoneInfo

import pytest

from dashboards.leaders import CommuneMap, index_map_figure, ranking_figure, trend_figure
from dashboards.leaders_data import Catalog, Figure, KpiSpec, LeadersReport, Period, UnitSpec, build_report
from dashboards.leaders_data.periods import so_far
from dashboards.leaders_data.trends import Trend, TrendPoint

TODAY = date(2026, 12, 3)
def _square(code: str, x: float) -> dict[str, object]:
    ring = [[x, 21.8], [x + 0.1, 21.8], [x + 0.1, 21.9], [x, 21.9], [x, 21.8]]
    return {"type": "Feature", "properties": {"code": code}, "geometry": {"type": "Polygon", "coordinates": [ring]}}


# Four communes on file, of which the reports below name three.
WHERE = CommuneMap(
    {"type": "FeatureCollection", "features": [_square(f"0{i}", 103.0 + 0.1 * i) for i in range(4)]}, 103.1, 21.8, 9.0
)
DOSSIERS = KpiSpec("dossiers", "Hồ sơ đúng hạn", "Dossiers on time", "%", True, "month", 100.0, 60.0, None)


def report(n: int) -> LeadersReport:
    units = tuple(UnitSpec(f"0{i}", f"Xã {i}", f"Commune {i}", "commune", None) for i in range(n))
    cat = Catalog((DOSSIERS,), units, "commune", ZoneInfo("Asia/Ho_Chi_Minh"))
    view = so_far(Period(2026, "year", 1), TODAY)
    figures = {}
    for i, u in enumerate(units):
        for p, value in ((view, 95.0 - 8 * i), (view.previous(), 90.0 - 8 * i)):
            figures[("dossiers", u.code, p)] = Figure("dossiers", u.code, p, value, None, 11)
    return build_report(cat, [], view, figures, TODAY)


def test_the_ranking_is_as_tall_as_its_bars_and_keeps_room_for_its_axis() -> None:
    five, twenty = ranking_figure(report(5), "vi")["layout"], ranking_figure(report(20), "vi")["layout"]
    assert twenty["height"] > five["height"] >= 5 * 30
    assert five["margin"]["b"] >= 40 and five["xaxis"]["automargin"] is True  # ticks and title below the bars
    assert five["xaxis"]["title"]["standoff"] > 0


def test_the_index_map_colours_each_commune_and_outlines_the_selected_one() -> None:
    fig = index_map_figure(report(3), "01", WHERE, "vi")
    shapes, selected = fig["data"]
    assert shapes["type"] == "choroplethmap"
    # inline, and only the communes of the report (a scoped leader is not shown the others' boundaries)
    assert [f["properties"]["code"] for f in shapes["geojson"]["features"]] == ["00", "01", "02"]
    assert shapes["featureidkey"] == "properties.code" and shapes["locations"] == ["00", "01", "02"]
    assert shapes["z"] == pytest.approx([95.0, 87.0, 79.0]) and (shapes["zmin"], shapes["zmax"]) == (0, 100)
    assert shapes["text"][0] == "<b>Xã 0</b><br>Chỉ số: 95,0<br>Hạng 1/3<br>So với kỳ trước: +5,0"
    assert selected["locations"] == ["01"] and selected["marker"]["line"]["width"] >= 3
    assert selected["hoverinfo"] == "skip"
    english = index_map_figure(report(3), "01", WHERE, "en")["data"][0]["text"][2]
    assert english == "<b>Commune 2</b><br>Index: 79.0<br>Rank 3 of 3<br>vs previous period: +5.0"
    # No tile server and no network: the inline blank style and inline boundaries.
    layout = json.dumps(fig["layout"])
    assert "http" not in layout and fig["layout"]["map"]["style"]["layers"][0]["type"] == "background"


def test_the_index_map_without_a_selection_or_boundaries() -> None:
    assert len(index_map_figure(report(3), "not-a-commune", WHERE, "vi")["data"]) == 1
    assert index_map_figure(report(3), "01", None, "vi")["data"] == []  # a site without commune boundaries


def test_the_trend_keeps_its_y_labels_and_says_so_far_on_the_period_in_progress() -> None:
    points = tuple(
        TrendPoint(Period(y, "year", 1), 90.0, 80.0, 5, 100.0) for y in (2024, 2025, 2026)
    )
    layout = trend_figure(Trend(DOSSIERS, "00", "year", points), "Xã 0", "vi", TODAY)
    assert layout["data"][0]["x"] == ["Năm 2024", "Năm 2025", "Năm 2026 (đến nay)"]
    axis = layout["layout"]["yaxis"]
    assert axis["automargin"] is True and axis["ticksuffix"] == " %"
    assert trend_figure(Trend(DOSSIERS, "00", "year", points), "A", "en", TODAY)["layout"]["yaxis"]["ticksuffix"] == "%"
