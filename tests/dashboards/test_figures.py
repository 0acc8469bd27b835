"""The map's alert shapes (a triangle ring round the subject, per severity, hover text in the reader's language)
and the commune an operator selects on it (outlined once, only inside their scope)."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime

import pytest

from dashboards.data import AlertView
from dashboards.figures import (
    ALERT_RADIUS_PX,
    ALERT_SEVERITIES,
    COMMUNE_TRACE,
    SELECTED_COLOUR,
    SELECTED_TRACE,
    TILE_PX,
    alert_markers,
    map_base,
    map_figure,
    triangle,
)

NA_SANG = (103.17, 22.08)
ZOOM = 11.0


def _alert(severity: str, source_id: str, message: str = "Trạm NS-01: mực nước 3,20 m") -> AlertView:
    at = datetime(2026, 11, 2, 3, tzinfo=UTC)
    return AlertView(
        alert_id=uuid.uuid4(), key=f"flood:{source_id}", severity=severity, status="open", message=message,
        opened_at=at, updated_at=at, area_code="03172", area="Na Sang", source_kind="flood",
        source_id=source_id, value=3.2,
    )


def _px(a: tuple[float, float], b: tuple[float, float], zoom: float) -> float:
    """Distance in screen pixels between two (lon, lat) points at ``zoom`` (web Mercator)."""
    world = TILE_PX * 2**zoom
    dx = (b[0] - a[0]) / 360 * world
    dy = (math.asinh(math.tan(math.radians(b[1]))) - math.asinh(math.tan(math.radians(a[1])))) / (2 * math.pi) * world
    return math.hypot(dx, dy)


def test_a_triangle_is_closed_and_its_size_is_in_screen_pixels_whatever_the_zoom() -> None:
    for zoom in (9.0, 12.5):
        apex, right, left, closing = triangle(NA_SANG, 20.0, zoom)
        assert closing == apex
        assert _px(NA_SANG, apex, zoom) == pytest.approx(40.0, rel=1e-3)  # the apex is 2 r above the centre
        assert _px(left, right, zoom) == pytest.approx(2 * math.sqrt(3) * 20.0, rel=1e-3)


def test_alerts_are_triangles_per_severity_with_vietnamese_hover() -> None:
    """Regression (issue 15, item 3): alerts were filled yellow circles with 'MAJOR' / 'WARNING' hover text."""
    shapes = alert_markers(
        [_alert("warning", "ns-01"), _alert("major", "ns-01"), _alert("critical", "cam-9/zone")],
        {"ns-01": NA_SANG},
        {"03172": (103.2, 22.1)},
        ZOOM,
        "vi",
    )
    assert set(shapes) == set(ALERT_SEVERITIES)
    warning, major, critical = shapes["warning"], shapes["major"], shapes["critical"]
    assert len(warning.lons) == len(major.lons) == len(critical.lons) == 5  # four corners and a break
    assert warning.lons[-1] is None and warning.hover[0] is not None
    assert warning.hover[0].startswith("<b>Cảnh báo</b>") and "3,20 m" in warning.hover[0]
    assert major.hover[0].startswith("<b>Nghiêm trọng</b>")
    assert not any("MAJOR" in (h or "") or "WARNING" in (h or "") for s in shapes.values() for h in s.hover)
    # Two alerts on one station: the more severe inside, the other round it.
    major_apex = (major.lons[0], major.lats[0])
    warning_apex = (warning.lons[0], warning.lats[0])
    assert _px(NA_SANG, major_apex, ZOOM) == pytest.approx(2 * ALERT_RADIUS_PX, rel=1e-3)
    assert _px(NA_SANG, warning_apex, ZOOM) > _px(NA_SANG, major_apex, ZOOM)
    # The camera is not placed: the alert goes round its area's centre.
    assert _px((103.2, 22.1), (critical.lons[0], critical.lats[0]), ZOOM) == pytest.approx(40.0, rel=1e-3)
    english = alert_markers([_alert("major", "ns-01")], {"ns-01": NA_SANG}, {}, ZOOM, "en")
    assert english["major"].hover[0] is not None and english["major"].hover[0].startswith("<b>Major</b>")


def test_an_alert_with_no_place_stays_off_the_map() -> None:
    shapes = alert_markers([_alert("critical", "nowhere")], {}, {}, ZOOM, "vi")
    assert all(not s.lons for s in shapes.values())


# --- the selected commune --------------------------------------------------------------------------------


def _square(code: str, level: str, lon: float, lat: float, size: float = 0.1) -> dict[str, object]:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {
        "type": "Feature",
        "properties": {"code": code, "level": level, "name": code},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


BASE = map_base(
    [
        _square("03172", "commune", 103.1, 22.0),
        _square("03181", "commune", 103.2, 22.0),
        _square("former", "former_district", 103.1, 22.0, 0.2),
    ],
    "commune",
)
NA_SANG_ONLY = {"03172"}.__contains__


def _selected_colour_traces(figure: dict[str, object]) -> list[dict[str, object]]:
    data = figure["data"]
    assert isinstance(data, list)
    return [tr for tr in data if tr.get("line", {}).get("color") == SELECTED_COLOUR]


def test_the_selected_commune_is_outlined_once_on_top_of_the_boundaries() -> None:
    figure = map_figure([], BASE, selected="03172")
    [outline] = _selected_colour_traces(figure)
    assert outline is figure["data"][SELECTED_TRACE]
    assert outline["lon"] == pytest.approx([103.1, 103.2, 103.2, 103.1, 103.1])  # its ring once, closed
    assert outline["lat"] == pytest.approx([22.0, 22.0, 22.1, 22.1, 22.0])
    assert outline["hoverinfo"] == "skip"
    assert outline["line"]["width"] >= 5


def test_without_a_selection_nothing_is_outlined_and_every_commune_is_clickable() -> None:
    figure = map_figure([], BASE)
    assert figure["data"][SELECTED_TRACE]["lon"] == [] and figure["data"][SELECTED_TRACE]["lat"] == []
    communes = figure["data"][COMMUNE_TRACE]
    assert communes["type"] == "choroplethmap" and communes["locations"] == ["03172", "03181"]
    assert communes["hoverinfo"] == "none"  # clickable, with no label over the whole map


@pytest.mark.parametrize(
    "selected",
    [
        pytest.param("03181", id="a commune outside the scope"),
        pytest.param("99999", id="an unknown code"),
        pytest.param("former", id="a former district, not a commune"),
        pytest.param(["03172"], id="not a code at all"),
    ],
)
def test_a_selection_the_user_may_not_make_is_not_drawn(selected: object) -> None:
    figure = map_figure([], BASE, may_see=NA_SANG_ONLY, selected=selected)  # type: ignore[arg-type]
    assert figure["data"][SELECTED_TRACE]["lon"] == []
    assert figure["data"][COMMUNE_TRACE]["locations"] == ["03172"]  # only their commune takes a click
