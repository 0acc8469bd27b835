"""Figure building for the wall display: the station map and the small trends. Values in, plotly figures out.

The map uses an inline MapLibre style with only a background layer, so it draws with no tile server, no glyph
server and no network at all; boundaries are GeoJSON layers from the site config and stations are plain
circles (text on a map layer would need glyphs from the network, so names live in the tiles and the hover).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from dashboards.data import AlertView, CameraView, StationSpec, StationView
from dashboards.format import level_colour, severity_colour
from ioc.i18n import t
from ioc.number_format import format_metres

BACKGROUND = "#0b1220"
MAP_BACKGROUND = "#0e1626"
PANEL_BACKGROUND = "#131c2e"
TEXT = "#e5e9f0"
MUTED = "#93a4c3"
STALE_OPACITY = 0.35
# Trace order on the map: the communes the operator may select (an invisible choropleth: the only kind of
# trace a click inside a polygon reaches; plotly draws choropleths under every scatter trace whatever their
# order), the selected commune's outline, then the open alerts, one trace per severity (a map line has one
# colour per trace), then a white halo under each station's coloured circle, then the cameras (squares would
# need a sprite server, so smaller circles). An alert is a triangle outline round its subject, drawn as map
# lines: a shape and a ring of the severity's colour on a dark casing, never a filled circle that could be read
# as a station's alarm level (issue 15, item 3).
COMMUNE_TRACE, SELECTED_TRACE = 0, 1
ALERT_SEVERITIES = ("info", "warning", "major", "critical")
ALERT_CASING_TRACE = 2  # every triangle once more, wider and dark, under the coloured ones: a ring on any ground
ALERT_TRACES: dict[str, int] = {severity: ALERT_CASING_TRACE + 1 + i for i, severity in enumerate(ALERT_SEVERITIES)}
HALO_TRACE, STATION_TRACE, CAMERA_TRACE = 7, 8, 9
# The selected commune's outline: cyan, a colour no alarm level, severity or camera state uses, thick enough to
# read across the room over the boundaries' thin blue lines.
SELECTED_COLOUR = "#22e5ff"
SELECTED_WIDTH = 6
ALERT_LINE_WIDTH = 4
ALERT_CASING_WIDTH = 9
ALERT_CASING = "#05080f"
# The triangle's inscribed radius at 1920 pixels: it clears the station's 30-pixel halo; each further alert
# on the same subject draws a larger triangle round the previous one.
ALERT_RADIUS_PX = 20.0
ALERT_NEST_PX = 8.0
TILE_PX = 512  # MapLibre's world is 512 * 2**zoom pixels wide (fit_view uses the same)
CAMERA_COLOURS: dict[str | None, str] = {
    "online": "#4c9be8",
    "offline": "#6b7280",
    "frozen": "#a78bfa",
    "black": "#a78bfa",
    None: "#6b7280",
}

# One empty inline source: plotly.js drops an empty ``sources`` object from the style it hands MapLibre, which
# then refuses the style ("missing required property sources") and every later map update is lost.
BLANK_STYLE: dict[str, Any] = {
    "version": 8,
    "name": "ioc-blank",
    "sources": {"ioc-blank": {"type": "geojson", "data": {"type": "FeatureCollection", "features": []}}},
    "layers": [{"id": "background", "type": "background", "paint": {"background-color": MAP_BACKGROUND}}],
}


@dataclass(frozen=True)
class MapView:
    """Where the map looks and how far in."""

    lon: float
    lat: float
    zoom: float


def fit_view(
    points: Iterable[tuple[float, float]], width_px: float = 1150, height_px: float = 460
) -> MapView:
    """Return the centre and zoom that show every (lon, lat) point, with a margin, in a web-Mercator view."""
    pts = list(points)
    if not pts:
        return MapView(lon=105.8, lat=16.0, zoom=4.5)  # all of Việt Nam
    lons, lats = [p[0] for p in pts], [p[1] for p in pts]
    lon_min, lon_max, lat_min, lat_max = min(lons), max(lons), min(lats), max(lats)
    lon_span = max(lon_max - lon_min, 0.01) * 1.15
    y_min, y_max = _merc_y(lat_min), _merc_y(lat_max)
    y_span = max(y_max - y_min, 1e-4) * 1.15
    zoom_x = math.log2(width_px * 360 / (512 * lon_span))
    zoom_y = math.log2(height_px * 2 * math.pi / (512 * y_span))
    centre_lat = math.degrees(math.atan(math.sinh((y_min + y_max) / 2)))
    return MapView(lon=(lon_min + lon_max) / 2, lat=centre_lat, zoom=round(min(zoom_x, zoom_y, 14.0), 2))


def _merc_y(lat: float) -> float:
    return math.asinh(math.tan(math.radians(lat)))


def feature_points(features: Sequence[dict[str, Any]]) -> list[tuple[float, float]]:
    """Return every vertex of some GeoJSON features, to fit the map around them."""
    out: list[tuple[float, float]] = []

    def walk(coords: Any) -> None:
        if coords and isinstance(coords[0], int | float):
            out.append((float(coords[0]), float(coords[1])))
        else:
            for c in coords:
                walk(c)

    for f in features:
        walk(f.get("geometry", {}).get("coordinates", []))
    return out


@dataclass(frozen=True)
class MapBase:
    """The part of the site map that never changes: its boundary layers, and the points the view is fitted to.

    The boundaries are built once per app and travel inline in the overview's figure. They were also tried as
    files (``source`` as a URL, which plotly hands to MapLibre): MapLibre fetches those in a web worker and, in
    the wall's headless Chromium, drew nothing at all, stations included, with no error. Inline they cost the
    page callback little now that the figure is a plain dict serialised by the C encoder (plotly's deep copies
    and Python walk of them were 1.1 s of its 1.9 s). ``geojson`` keeps the same files, served as
    ``/geo/<name>.geojson``; ``boundaries`` holds them parsed, once, for the leaders' choropleth (it was parsed
    again in every callback). Nothing may change them: every callback of the app shares them.
    """

    layers: list[dict[str, Any]]
    points: list[tuple[float, float]]
    geojson: dict[str, bytes]
    boundaries: dict[str, dict[str, Any]]
    communes: dict[str, Outline]  # each commune's outline by code, to draw the selected one on top


@dataclass(frozen=True)
class Outline:
    """A commune's outer boundary as one map line: its rings' vertices, None between rings."""

    lons: tuple[float | None, ...]
    lats: tuple[float | None, ...]


NO_OUTLINE = Outline((), ())


def map_base(
    features: Sequence[dict[str, Any]],
    fine_level: str | None,
    outer_level: str | None = None,
) -> MapBase:
    """Split the site's boundaries into the map's layers and their files, once per app.

    ``fine_level`` is the most specific administrative level (communes): drawn thin and filled; broader areas
    such as a former district are drawn as a thicker outline on top. Areas of ``outer_level`` (the province)
    are drawn as a faint outline and left out of the fit, or the map would zoom out to the whole province.
    """
    outer = [f for f in features if outer_level is not None and f["properties"].get("level") == outer_level]
    inner = [f for f in features if f not in outer]
    fine = [f for f in inner if f["properties"].get("level") == fine_level]
    broad = [f for f in inner if f["properties"].get("level") != fine_level]
    files: dict[str, list[dict[str, Any]]] = {
        "outer": [outline(f) for f in outer],
        "fine": fine,
        "broad": [outline(f) for f in broad],
    }
    geojson = {
        name: json.dumps({"type": "FeatureCollection", "features": fs}, separators=(",", ":")).encode()
        for name, fs in files.items()
        if fs
    }

    def source(name: str) -> dict[str, Any]:
        collection = {"type": "FeatureCollection", "features": files[name]}
        return {"sourcetype": "geojson", "source": collection, "below": "traces"}

    layers: list[dict[str, Any]] = []
    if "outer" in geojson:
        layers.append({**source("outer"), "type": "line", "color": "#5d6f8f", "line": {"width": 1.5, "dash": [3, 2]}})
    if "fine" in geojson:
        layers += [
            {**source("fine"), "type": "fill", "color": "#16233a", "opacity": 0.9},
            {**source("fine"), "type": "line", "color": "#3b5378", "line": {"width": 1.2}},
        ]
    if "broad" in geojson:
        layers.append({**source("broad"), "type": "line", "color": "#8fb3e6", "line": {"width": 2.6}})
    # Parsed from the files themselves, so the leaders' map gets what it got from the bytes, not the site's own
    # feature objects.
    boundaries = {name: json.loads(data) for name, data in geojson.items()}
    communes = {
        str(f["properties"]["code"]): _outline_of(f)
        for f in boundaries.get("fine", {}).get("features", [])
        if f.get("properties", {}).get("code")
    }
    return MapBase(layers, feature_points(inner), geojson, boundaries, communes)


def _outline_of(feature: dict[str, Any]) -> Outline:
    lons: list[float | None] = []
    lats: list[float | None] = []
    for ring in outline(feature).get("geometry", {}).get("coordinates", []):
        if not ring or not isinstance(ring[0], list):
            continue
        lons += [float(p[0]) for p in ring] + [None]
        lats += [float(p[1]) for p in ring] + [None]
    return Outline(tuple(lons[:-1]), tuple(lats[:-1]))


def selected_commune(base: MapBase, code: object, may_see: Callable[[str], bool]) -> str | None:
    """Return the selection to honour: a commune of the map that the user may see, else None.

    No selection, a code that is no commune, and a commune outside the user's scope (a selection forged in the
    browser) all come back as None: nothing is drawn and nothing is named.
    """
    if isinstance(code, str) and code in base.communes and may_see(code):
        return code
    return None


def selection_outline(base: MapBase, code: object, may_see: Callable[[str], bool]) -> Outline:
    """Return the outline to draw on top for a selection, empty when it is not to be honoured."""
    chosen = selected_commune(base, code, may_see)
    return NO_OUTLINE if chosen is None else base.communes[chosen]


def _everyone(_code: str) -> bool:
    return True


def map_figure(
    specs: Sequence[StationSpec],
    base: MapBase,
    cameras: Sequence[CameraView] = (),
    may_see: Callable[[str], bool] = _everyone,
    selected: str | None = None,
) -> dict[str, Any]:
    """Build the site map: boundaries as GeoJSON layers (``base``), alerts as triangles, stations and cameras
    as circles; a click selects one of the communes ``may_see`` lets through, and ``selected`` is outlined.

    A plain figure dict: plotly's validating objects cost the overview's page callback about 0.2 s.
    """
    view = fit_view([*base.points, *((s.lon, s.lat) for s in specs), *((c.lon, c.lat) for c in cameras)])
    lons, lats = [s.lon for s in specs], [s.lat for s in specs]
    marker = {"type": "scattermap", "mode": "markers", "showlegend": False}
    lines = {"type": "scattermap", "mode": "lines", "showlegend": False, "lon": [], "lat": []}
    clickable = [code for code in base.communes if may_see(code)]
    chosen = selection_outline(base, selected, may_see)
    data: list[dict[str, Any]] = [
        {
            # Invisible, with no hover label: it is there so that a click inside a commune reaches the page.
            "type": "choroplethmap",
            "geojson": base.boundaries.get("fine", {"type": "FeatureCollection", "features": []}),
            "featureidkey": "properties.code",
            "locations": clickable,
            "z": [0] * len(clickable),
            "colorscale": [[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0)"]],
            "showscale": False,
            "marker": {"line": {"width": 0}},
            "hoverinfo": "none",
        },
        {
            **lines,
            "lon": list(chosen.lons),
            "lat": list(chosen.lats),
            "hoverinfo": "skip",
            "line": {"color": SELECTED_COLOUR, "width": SELECTED_WIDTH},
        },
        {**lines, "hoverinfo": "skip", "line": {"color": ALERT_CASING, "width": ALERT_CASING_WIDTH}},
        *(
            {
                **lines,
                "name": severity,
                "hovertemplate": "%{hovertext}<extra></extra>",
                "line": {"color": severity_colour(severity), "width": ALERT_LINE_WIDTH},
            }
            for severity in ALERT_SEVERITIES
        ),
        {
            **marker,
            "lon": lons,
            "lat": lats,
            "hoverinfo": "skip",
            "marker": {"size": 30, "color": "#ffffff", "opacity": 0.9},
        },
        {
            **marker,
            "lon": lons,
            "lat": lats,
            "text": [s.name for s in specs],
            "hovertemplate": "%{text}<extra></extra>",
            "marker": {"size": 22, "color": [level_colour(None)] * len(specs)},
        },
        {
            **marker,
            "lon": [c.lon for c in cameras],
            "lat": [c.lat for c in cameras],
            "text": [c.name for c in cameras],
            "hovertemplate": "%{text}<extra></extra>",
            "marker": {"size": 9, "color": [CAMERA_COLOURS[None]] * len(cameras)},
        },
    ]
    layout = {
        "map": {
            "style": BLANK_STYLE,
            "center": {"lon": view.lon, "lat": view.lat},
            "zoom": view.zoom,
            "layers": base.layers,
        },
        "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
        "paper_bgcolor": MAP_BACKGROUND,
        "font": {"color": TEXT, "size": 18},
        "hoverlabel": {"font": {"size": 20}},
        "uirevision": "wall",
    }
    return {"data": data, "layout": layout}


def outline(feature: dict[str, Any]) -> dict[str, Any]:
    """Return a polygon feature as the line of its outer boundary: slivers and holes left where communes were
    merged would otherwise show as stray strokes inside a former district."""
    geometry = feature.get("geometry") or {}
    if geometry.get("type") == "Polygon":
        rings = [geometry["coordinates"][0]]
    elif geometry.get("type") == "MultiPolygon":
        rings = [polygon[0] for polygon in geometry["coordinates"]]
    else:
        return feature
    return {**feature, "geometry": {"type": "MultiLineString", "coordinates": rings}}


@dataclass(frozen=True)
class MarkerState:
    """What changes on the map from one refresh to the next."""

    colours: list[str]
    opacities: list[float]
    hover: list[str]


def marker_state(stations: Sequence[StationView], stale: Sequence[bool], lang: str) -> MarkerState:
    """Return the colour, opacity and hover text of each station's circle."""
    colours, opacities, hover = [], [], []
    for st, old in zip(stations, stale, strict=True):
        colours.append(level_colour(st.level))
        opacities.append(STALE_OPACITY if old else 1.0)
        level = (
            t(f"flood.level.{st.level}", lang) if st.level is not None else t("wall.station.no_data", lang)
        )
        note = f" · {t('wall.station.stale', lang)}" if old and st.value is not None else ""
        hover.append(f"<b>{st.name}</b> ({st.river})<br>{format_metres(st.value, lang)} · {level}{note}")
    return MarkerState(colours, opacities, hover)


def _with_alpha(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


@dataclass(frozen=True)
class AlertShapes:
    """One severity's open alerts on the map: triangle outlines as one line trace (None between shapes)."""

    lons: list[float | None]
    lats: list[float | None]
    hover: list[str | None]


def alert_markers(
    alerts: Sequence[AlertView],
    places: dict[str, tuple[float, float]],
    areas: dict[str, tuple[float, float]],
    zoom: float,
    lang: str,
) -> dict[str, AlertShapes]:
    """Place each open alert as a triangle round its subject (station or camera id in ``places``), else round
    its area's centre, sized in pixels at ``zoom``; returned per severity. Hover text is in ``lang``.

    An alert with neither is left off the map (it stays in the feed).
    """
    out = {severity: AlertShapes([], [], []) for severity in ALERT_SEVERITIES}
    seen: dict[tuple[float, float], int] = {}
    # The most severe first, so that it gets the innermost triangle where several alerts share a subject.
    for a in sorted(alerts, key=lambda x: -_severity_rank(x.severity)):
        subject = a.source_id.split("/", 1)[0]
        where = places.get(subject) or (areas.get(a.area_code) if a.area_code else None)
        if where is None:
            continue
        nth = seen.get(where, 0)
        seen[where] = nth + 1
        shape = out.get(a.severity, out["info"])
        text = f"<b>{t(f'severity.{a.severity}', lang)}</b><br>{a.message}"
        for lon, lat in triangle(where, ALERT_RADIUS_PX + nth * ALERT_NEST_PX, zoom):
            shape.lons.append(lon)
            shape.lats.append(lat)
            shape.hover.append(text)
        shape.lons.append(None)
        shape.lats.append(None)
        shape.hover.append(None)
    return out


def _severity_rank(severity: str) -> int:
    return ALERT_SEVERITIES.index(severity) if severity in ALERT_SEVERITIES else 0


def triangle(centre: tuple[float, float], radius_px: float, zoom: float) -> list[tuple[float, float]]:
    """Return the closed outline of an upward triangle whose inscribed circle, ``radius_px`` pixels at ``zoom``,
    is centred on ``centre`` (lon, lat): apex, lower right, lower left, apex again."""
    world_px = TILE_PX * 2**zoom
    lon0, lat0 = centre
    y0 = _merc_y(lat0)
    out = []
    for dx, dy in ((0.0, 2.0), (math.sqrt(3), -1.0), (-math.sqrt(3), -1.0), (0.0, 2.0)):
        lon = lon0 + dx * radius_px * 360 / world_px
        y = y0 + dy * radius_px * 2 * math.pi / world_px
        out.append((round(lon, 7), round(math.degrees(math.atan(math.sinh(y))), 7)))
    return out
