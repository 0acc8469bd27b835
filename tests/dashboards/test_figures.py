"""The map's alert shapes: a triangle ring round the subject, per severity, hover text in the reader's language."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime

import pytest

from dashboards.data import AlertView
from dashboards.figures import ALERT_RADIUS_PX, ALERT_SEVERITIES, TILE_PX, alert_markers, triangle

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
