"""The wall's pages: overview (map, live tiles, alert feed), flood gauges and the camera grid.

Each page is a layout built for one user (only what their unit scopes cover) and callbacks that refresh its
panels from ``WallData`` with the same scope, so a scoped user never receives another commune's data. Every
panel, tile, gauge and camera shows how old its data is and turns amber when it is stale.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import dash
from dash import Input, Output, Patch, State, dcc, html
from flask import Flask, Response, abort, current_app, request

from dashboards import strings as _strings  # noqa: F401  (registers the catalog)
from dashboards.auth import User
from dashboards.card_grid import grid_shape
from dashboards.data import (
    AlertView,
    CameraView,
    Point,
    StationSpec,
    StationView,
    TileView,
    WallData,
    camera_views_from_config,
)
from dashboards.feed_data import REALTIME_KINDS, REPORTS, FeedCounts, feed_group
from dashboards.figures import (
    ALERT_CASING_TRACE,
    ALERT_CASING_WIDTH,
    ALERT_LINE_WIDTH,
    ALERT_TRACES,
    CAMERA_COLOURS,
    CAMERA_TRACE,
    COMMUNE_TRACE,
    HALO_TRACE,
    SELECTED_TRACE,
    SELECTED_WIDTH,
    STATION_TRACE,
    MapBase,
    alert_markers,
    feature_points,
    map_base,
    map_figure,
    marker_state,
    selected_commune,
    selection_outline,
)
from dashboards.format import (
    VN_TZ,
    age_seconds,
    format_age,
    format_opened,
    is_stale,
    level_colour,
    local,
    severity_colour,
)
from dashboards.leaders_data import format_value
from dashboards.pages import ACKNOWLEDGE_ROLES, WALL_ROLES, Page, register, session_user
from dashboards.sparkline import data_uri, gauge_svg, trend_svg
from dashboards.wall_scope import Scope, scope_of
from dashboards.words import Words
from ioc.config.models import SiteConfig
from ioc.errors import SinkUnavailable
from ioc.events import utcnow
from ioc.i18n import normalise_lang, t
from ioc.number_format import format_measure, format_metres, format_number

logger = logging.getLogger(__name__)

WALL_CONTEXT = "ioc_wall"
GEO_ROUTE = "/geo/"  # the map's boundary files
REFRESH_MS = 2_000
GAUGE_REFRESH_MS = 10_000
CAMERA_REFRESH_MS = 5_000
TREND_HOURS = 6
ALERT_LIMIT = 12  # real-time alerts in the feed
REPORT_LIMIT = 20  # reports in the feed's collapsible section
MAP_ALERT_LIMIT = 100
ALERTS_EXPECTED_INTERVAL_S = 60.0  # the feed is read every 2 s; stale after 120 s without a successful read
# Marker sizes of the map at 1920 pixels (dashboards.figures.map_figure), grown with the screen.
MARKER_SIZES = {HALO_TRACE: 30, STATION_TRACE: 22, CAMERA_TRACE: 9}
LINE_WIDTHS = {
    ALERT_CASING_TRACE: ALERT_CASING_WIDTH,
    **{i: ALERT_LINE_WIDTH for i in ALERT_TRACES.values()},
    SELECTED_TRACE: SELECTED_WIDTH,
}
FALLBACK_ZOOM = 11.0  # sizes the alert shapes if a refresh comes without the page's map zoom
KNOWN_CLASSES = ("person", "bicycle", "car", "motorcycle", "bus", "truck")


@dataclass(frozen=True)
class WallContext:
    """What the wall pages of one app need from its site: kept on the Flask app, read by the layouts."""

    site: SiteConfig
    specs: tuple[StationSpec, ...]
    features: list[dict[str, Any]]
    map_base: MapBase
    area_centres: dict[str, tuple[float, float]]
    tz: ZoneInfo
    data: WallData


def wall_context() -> WallContext:
    """Return the wall context of the app serving the current request."""
    ctx: WallContext = current_app.extensions[WALL_CONTEXT]
    return ctx


def area_centres(features: Sequence[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """Return the centre of each area's outline (mean of its vertices), to place alerts without a subject."""
    out: dict[str, tuple[float, float]] = {}
    for f in features:
        pts = feature_points([f])
        code = f.get("properties", {}).get("code")
        if pts and code:
            out[str(code)] = (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts))
    return out


def site_map_base(site: SiteConfig, features: Sequence[dict[str, Any]]) -> MapBase:
    """The site map's boundary layers: communes filled, broader areas outlined, the province faint."""
    levels = [lv.id for lv in site.site.levels]
    return map_base(features, levels[-1], levels[0] if len(levels) > 1 else None)


def register_geo_route(server: Flask) -> None:
    """Serve the map's boundary files (``/geo/<name>.geojson``) to signed-in browsers, cached for an hour."""

    def geojson(name: str) -> Response:
        body = wall_context().map_base.geojson.get(name)
        if body is None:
            abort(404)
        response = Response(body, mimetype="application/geo+json")
        response.cache_control.private = True
        response.cache_control.max_age = 3600
        response.set_etag(hashlib.sha1(body, usedforsecurity=False).hexdigest())
        response.make_conditional(request)
        return response

    server.add_url_rule(f"{GEO_ROUTE}<name>.geojson", "wall_geojson", geojson, methods=["GET"])


def register_wall_pages() -> None:
    """Register the wall's pages (idempotent)."""
    register(Page("/", "wall.page.overview", WALL_ROLES, overview_layout))
    register(Page("/flood", "wall.page.flood", WALL_ROLES, flood_layout))
    register(Page("/cameras", "wall.page.cameras", WALL_ROLES, cameras_layout))


# --- layouts ---------------------------------------------------------------------------------------------


def _scoped(ctx: WallContext, user: User) -> tuple[Scope, list[StationSpec], list[CameraView]]:
    scope = scope_of(ctx.site, user)
    specs = [s for s in ctx.specs if scope.covers(s.area_code)]
    cams = [c for c in camera_views_from_config(ctx.site) if scope.covers(c.area_code)]
    return scope, specs, cams


def overview_layout(lang: str, user: User) -> html.Main:
    """The overview: the map of the site, the declared live tiles and the open-alert feed."""
    ctx = wall_context()
    scope, specs, cams = _scoped(ctx, user)
    figure = map_figure(specs, ctx.map_base, cams, scope.covers)
    _draw_current_state(figure, ctx, scope, lang)
    return html.Main(
        className="wall-grid",
        children=[
            dcc.Interval(id="tick", interval=REFRESH_MS),
            dcc.Store(id="map-zoom", data=figure["layout"]["map"]["zoom"]),
            # The commune picked on the map (its code), drawn by the refresh; checked against the scope there.
            dcc.Store(id="map-selected", data=None),
            html.Section(
                className="panel panel-map",
                children=[
                    _panel_head(t("wall.panel.map", lang), "map-age", extra=_selection_head(lang)),
                    html.Div(
                        className="map",
                        children=dcc.Graph(
                            id="map",
                            figure=figure,
                            responsive=True,
                            style={"height": "100%", "width": "100%"},
                            config={"displayModeBar": False, "scrollZoom": False},
                        ),
                    ),
                    _legend(lang),
                ],
            ),
            html.Section(
                className="panel panel-alerts",
                children=[
                    _panel_head(
                        t("wall.panel.alerts", lang),
                        "alerts-age",
                        extra=html.Span(id="alerts-count", className="count"),
                    ),
                    html.Div(id="alerts", className="alerts"),
                    # Outside the refreshed children, so that the section stays open or closed as the
                    # operator left it while its list refreshes.
                    html.Details(
                        id="alerts-reports",
                        className="alerts-reports",
                        children=[
                            html.Summary(
                                [t("wall.feed.reports", lang), html.Span(id="reports-count", className="count")]
                            ),
                            html.Div(id="reports", className="alerts reports"),
                        ],
                    ),
                ],
            ),
            html.Section(
                className="panel panel-tiles",
                children=[html.Div(id="tiles", className="tiles")],
            ),
        ],
    )


def _draw_current_state(figure: dict[str, Any], ctx: WallContext, scope: Scope, lang: str) -> None:
    """Colour the new map with the state of this moment (the refreshes change it from there)."""
    try:
        stations = ctx.data.stations(scope)
        cams = ctx.data.cameras(scope)
        alerts = ctx.data.open_alerts(MAP_ALERT_LIMIT, lang, scope)
    except SinkUnavailable as exc:
        logger.warning("wall: map drawn without its current state: %s", exc)
        return
    for trace, path, value in map_updates(ctx, stations, utcnow(), cams, alerts, lang, figure["layout"]["map"]["zoom"]):
        node = figure["data"][trace]
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value


def flood_layout(lang: str, user: User) -> html.Main:
    """The flood page: one gauge per station against its alarm levels, with the last hours' trend."""
    return html.Main(
        className="page-single",
        children=[
            dcc.Interval(id="gauge-tick", interval=GAUGE_REFRESH_MS),
            html.Section(
                className="panel panel-full",
                children=[
                    _panel_head(t("wall.panel.gauges", lang, hours=TREND_HOURS), None),
                    html.Div(id="gauges", className="gauges"),
                ],
            ),
        ],
    )


def cameras_layout(lang: str, user: User) -> html.Main:
    """The camera grid: each camera's newest snapshot with its detection boxes, state and counts."""
    return html.Main(
        className="page-single",
        children=[
            dcc.Interval(id="camera-tick", interval=CAMERA_REFRESH_MS),
            html.Section(
                className="panel panel-full",
                children=[
                    _panel_head(t("wall.panel.cameras", lang), None),
                    html.Div(id="camera-grid", className="camera-grid"),
                ],
            ),
        ],
    )


def _panel_head(title: str, age_id: str | None, extra: Any = None) -> html.Div:
    children: list[Any] = [html.H2(title)]
    if extra is not None:
        children.append(extra)
    if age_id is not None:
        children.append(html.Span(id=age_id, className="age"))
    return html.Div(children, className="panel-head")


def _selection_head(lang: str) -> html.Span:
    """The selected commune's name and the button that clears it; hidden while nothing is selected."""
    return html.Span(
        id="map-selection",
        className="map-selection hidden",
        children=[
            html.Span(id="map-selection-name", className="map-selection-name"),
            html.Button(t("wall.map.clear", lang), id="map-selection-clear", className="map-selection-clear"),
        ],
    )


def _legend(lang: str) -> html.Div:
    items = [(level_colour(lv), t(f"flood.level.{lv}", lang)) for lv in range(4)]
    items.append((level_colour(None), t("wall.legend.stale", lang)))
    items.append((CAMERA_COLOURS["online"], t("wall.legend.camera", lang)))
    spans = [html.Span([html.I(style={"background": colour}), label]) for colour, label in items]
    # The alert's shape as on the map: a triangle outline, not a dot (issue 15, item 3).
    spans.append(
        html.Span(
            [html.I(className="legend-alert", style={"borderBottomColor": severity_colour("critical")}),
             t("wall.legend.alert", lang)],
            id="legend-alert",
        )
    )
    return html.Div(className="legend", children=spans)


# --- callbacks -------------------------------------------------------------------------------------------


def register_wall_callbacks(app: dash.Dash, data: WallData) -> None:
    """Register the refresh callbacks of the wall's pages."""
    pool = getattr(data, "pool", None)  # PostgresWallData's pool: the feed's counts by kind are read on it
    feed = FeedCounts(pool) if pool is not None else None

    @app.callback(
        Output("banner", "children"),
        Output("banner", "className"),
        Output("map", "figure"),
        Output("map-age", "children"),
        Output("map-age", "className"),
        Output("tiles", "children"),
        Output("alerts", "children"),
        Output("alerts-count", "children"),
        Output("alerts-age", "children"),
        Output("alerts-age", "className"),
        Output("reports", "children"),
        Output("reports-count", "children"),
        Output("map-selection-name", "children"),
        Output("map-selection", "className"),
        Input("tick", "n_intervals"),
        Input("map-selected", "data"),
        # State, not Input: the shell's store exists on every page, and an Input there would fire this
        # callback where its page is not shown (the feed catches up within one tick of an acknowledgement).
        State("ack-done", "data"),
        State("lang", "data"),
        State("scale", "data"),
        State("map-zoom", "data"),
    )
    def refresh(
        _tick: int | None,
        selected: Any,
        _done: int | None,
        lang_choice: str | None,
        scale: float | None,
        zoom: float | None,
    ) -> tuple[Any, ...]:
        if _tick is None and dash.ctx.triggered_id == "map-selected":
            _tick = 0  # a commune picked before the first tick: the map is there, draw it now
        out = refresh_overview(
            data, wall_context(), session_user(), normalise_lang(lang_choice), _tick, zoom, feed, selected
        )
        if isinstance(out[2], Patch) and zoom is not None and scale and scale > 1:
            # A new uirevision with it: under the old one Plotly keeps the view MapLibre reported at start.
            out[2]["layout"]["map"]["zoom"] = scaled_zoom(zoom, scale)
            out[2]["layout"]["uirevision"] = f"wall-x{scale:g}"
            for trace, size in MARKER_SIZES.items():
                out[2]["data"][trace]["marker"]["size"] = round(size * scale)
            for trace, width in LINE_WIDTHS.items():
                out[2]["data"][trace]["line"]["width"] = round(width * scale)
        return out

    @app.callback(
        Output("map-selected", "data"),
        Input("map", "clickData"),
        Input("map-selection-clear", "n_clicks"),
        State("map-selected", "data"),
        prevent_initial_call=True,
    )
    def select(click: dict[str, Any] | None, _clear: int | None, current: Any) -> Any:
        ctx = wall_context()
        if dash.ctx.triggered_id == "map-selection-clear":
            return None
        return next_selection(ctx.map_base, scope_of(ctx.site, session_user()), click, current)

    @app.callback(
        Output("gauges", "children"),
        Input("gauge-tick", "n_intervals"),
        State("lang", "data"),
    )
    def gauges(_tick: int | None, lang_choice: str | None) -> Any:
        return gauge_cards(data, wall_context(), session_user(), normalise_lang(lang_choice))

    @app.callback(
        Output("camera-grid", "children"), Input("camera-tick", "n_intervals"), State("lang", "data")
    )
    def cameras(_tick: int | None, lang_choice: str | None) -> Any:
        return camera_cards(data, wall_context(), session_user(), normalise_lang(lang_choice))


def next_selection(base: MapBase, scope: Scope, click: Any, current: Any) -> str | None:
    """Return the selection after a click on the map: the clicked commune, or None if it was the one selected.

    Only a click on the communes' layer counts: a station, a camera or an alert under the pointer wins the
    click, and like a commune outside the user's scope it leaves the selection as it was.
    """
    points = click.get("points") if isinstance(click, dict) else None
    point = points[0] if isinstance(points, list) and points and isinstance(points[0], dict) else {}
    code = selected_commune(base, point.get("location"), scope.covers)
    if point.get("curveNumber") != COMMUNE_TRACE or code is None:
        return selected_commune(base, current, scope.covers)
    return None if code == current else code


def selection_updates(
    ctx: WallContext, scope: Scope, selected: Any, lang: str, words: Words
) -> tuple[list[tuple[int, tuple[str, ...], Any]], str | None]:
    """Return the map's changes for a selection (its outline, or none) and the commune's name to show.

    The selection comes from the browser: one that is not a commune of the user's scope draws nothing and is
    not named.
    """
    code = selected_commune(ctx.map_base, selected, scope.covers)
    shape = selection_outline(ctx.map_base, code, scope.covers)  # empty when ``code`` is None
    updates: list[tuple[int, tuple[str, ...], Any]] = [
        (SELECTED_TRACE, ("lon",), list(shape.lons)),
        (SELECTED_TRACE, ("lat",), list(shape.lats)),
    ]
    return updates, None if code is None else words.area(code, lang)


def map_updates(
    ctx: WallContext,
    stations: Sequence[StationView],
    now: datetime,
    cams: Sequence[CameraView] | None,
    alerts: Sequence[AlertView] | None,
    lang: str,
    zoom: float,
) -> list[tuple[int, tuple[str, ...], Any]]:
    """Return what changes on the map as (trace, property path, value): station colours, cameras, alerts.

    ``zoom`` is the map's zoom at 1920 pixels: alert shapes are sized in pixels at that zoom.
    """
    stale = [is_stale(age_seconds(s.observed_at, now), s.expected_interval_s) for s in stations]
    markers = marker_state(stations, stale, lang)
    out: list[tuple[int, tuple[str, ...], Any]] = [
        (STATION_TRACE, ("marker", "color"), markers.colours),
        (STATION_TRACE, ("marker", "opacity"), markers.opacities),
        (STATION_TRACE, ("hovertext",), markers.hover),
        (STATION_TRACE, ("hovertemplate",), "%{hovertext}<extra></extra>"),
        (HALO_TRACE, ("marker", "opacity"), [0.9 * o for o in markers.opacities]),
    ]
    if cams is not None:
        colours = [CAMERA_COLOURS.get(c.status, CAMERA_COLOURS[None]) for c in cams]
        out.append((CAMERA_TRACE, ("marker", "color"), colours))
    if alerts is not None:
        places = {s.id: (s.lon, s.lat) for s in ctx.specs}
        places.update({c.id: (c.lon, c.lat) for c in ctx.site.cameras})
        # Reports (KPIs, missing reports) are about a commune's month, not a place now: the feed has them.
        live = [a for a in alerts if a.source_kind in REALTIME_KINDS]
        shapes = alert_markers(live, places, ctx.area_centres, zoom, lang)
        every_lon = [x for sh in shapes.values() for x in sh.lons]
        every_lat = [y for sh in shapes.values() for y in sh.lats]
        out += [(ALERT_CASING_TRACE, ("lon",), every_lon), (ALERT_CASING_TRACE, ("lat",), every_lat)]
        for severity, shape in shapes.items():
            trace = ALERT_TRACES[severity]
            out += [
                (trace, ("lon",), shape.lons),
                (trace, ("lat",), shape.lats),
                (trace, ("hovertext",), shape.hover),
            ]
    return out


def scaled_zoom(zoom: float, scale: float) -> float:
    """Return the zoom that shows a 1920-pixel fit's area on a screen ``scale`` times as wide."""
    return round(zoom + math.log2(scale), 2)


def refresh_overview(
    data: WallData,
    ctx: WallContext,
    user: User | None,
    lang: str,
    _tick: int | None = 1,
    zoom: float | None = None,
    feed: FeedCounts | None = None,
    selected: Any = None,
) -> tuple[Any, ...]:
    """Compute every output of the overview's refresh for one user (``_tick`` None: the page's first call).

    ``zoom`` is the map's fitted zoom at 1920 pixels (the page's store), which sizes the alert shapes;
    ``feed`` counts the open alerts by kind for the feed's header (without it they are counted in the list);
    ``selected`` is the commune picked on the map (the page's store, checked against the scope here).
    """
    now = utcnow()
    scope = scope_of(ctx.site, user)
    may_ack = user is not None and user.role in ACKNOWLEDGE_ROLES
    stations = data.stations(scope)
    alerts: list[AlertView] | None
    counts: dict[str, int] = {}
    try:
        alerts = data.open_alerts(MAP_ALERT_LIMIT, lang, scope)
        counts = feed.open_by_group(scope) if feed is not None else count_groups(alerts)
    except SinkUnavailable as exc:
        logger.warning("wall: alerts not refreshed: %s", exc)
        alerts = None
    try:
        cams: list[CameraView] | None = data.cameras(scope)
        tiles: list[TileView] | None = data.tiles(lang, scope)
    except SinkUnavailable as exc:
        logger.warning("wall: cameras and tiles not refreshed: %s", exc)
        cams, tiles = None, None
    fresh = data.freshness()
    words = Words(ctx.site)

    problems = []
    if not fresh.database_ok or alerts is None:
        problems.append(t("wall.banner.database", lang))
    if not fresh.live_ok:
        problems.append(t("wall.banner.live", lang))
    banner = [html.Div(p) for p in problems]
    chosen, chosen_name = selection_updates(ctx, scope, selected, lang, words)

    patch: Any = dash.no_update
    if _tick is not None:
        # The first call races the map's creation in the browser, and an update lost there would not be
        # repeated while the values stay the same; the layout already drew the state of its moment.
        patch = Patch()
        shapes_zoom = zoom if zoom is not None else FALLBACK_ZOOM
        for trace, path, value in [*map_updates(ctx, stations, now, cams, alerts, lang, shapes_zoom), *chosen]:
            target = patch["data"][trace]
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
    newest = max((s.observed_at for s in stations if s.observed_at), default=None)
    map_age = age_seconds(newest, now)
    fastest = min((s.expected_interval_s for s in stations), default=None)
    alerts_age = age_seconds(fresh.alerts_read_at, now)
    return (
        banner,
        "banner" if problems else "banner hidden",
        patch,
        format_age(map_age, lang),
        _age_class(is_stale(map_age, fastest)),
        dash.no_update if tiles is None else [tile_card(tl, now, lang, ctx.tz) for tl in tiles],
        dash.no_update if alerts is None else realtime_feed(alerts, counts, now, lang, ctx.tz, may_ack, words),
        dash.no_update if alerts is None else feed_header(counts, lang),
        format_age(alerts_age, lang),
        _age_class(is_stale(alerts_age, ALERTS_EXPECTED_INTERVAL_S)),
        dash.no_update if alerts is None else reports_feed(alerts, counts, now, lang, ctx.tz, may_ack, words),
        dash.no_update if alerts is None else f" · {counts.get(REPORTS, 0)}",
        t("wall.map.selected", lang, name=chosen_name) if chosen_name else "",
        "map-selection" if chosen_name else "map-selection hidden",
    )


def _age_class(stale: bool) -> str:
    return "age stale" if stale else "age"


def _age(element_id: str, at: datetime | None, now: datetime, stale_after_s: float, lang: str) -> html.Span:
    """A panel's age line: 'cập nhật 12 giây trước', amber past ``stale_after_s``."""
    seconds = age_seconds(at, now)
    stale = seconds is None or seconds > stale_after_s
    return html.Span(format_age(seconds, lang), id=element_id, className=_age_class(stale))


# --- tiles -----------------------------------------------------------------------------------------------


def tile_card(tile: TileView, now: datetime, lang: str, tz: ZoneInfo = VN_TZ) -> html.Div:
    """Render one declared tile: its title, big value, a detail line and its age."""
    value, detail = _tile_text(tile, lang, tz)
    return html.Div(
        id=f"tile-{tile.id}",
        className=f"tile kind-{tile.kind} state-{tile.state or 'none'}",
        children=[
            html.Div(tile.title, className="tile-name"),
            html.Div(value, className="tile-value"),
            html.Div(detail, className="tile-detail"),
            _age(f"tile-age-{tile.id}", tile.observed_at, now, float(tile.freshness_s), lang),
        ],
    )


def crowd_words(state: str | None, count: float, limit: int | None, congestion: str | None) -> str:
    """Return the catalogue key of a crowd tile's words, at the level of its colour (``state``).

    The congestion the analytics report is said only when it agrees with the colour: 60 people where 40
    is the limit are "over the limit" in a red tile, never "uncrowded" (issue 15, item 2).
    """
    if state == "alarm":
        return "wall.crowd.over_limit" if limit is not None and count > limit else "wall.crowd.too_dense"
    if state == "warning":
        return f"wall.congestion.{congestion}" if congestion in ("heavy", "jammed") else "wall.crowd.near_limit"
    return f"wall.congestion.{congestion}" if congestion in ("free", "moderate") else "wall.congestion.free"


def kpi_period(start: datetime, kind: str | None, tz: ZoneInfo, lang: str) -> str:
    """Name a KPI's period from its UTC start in the site's zone: 2026-10-31 17:00Z is November 2026."""
    when = local(start, tz)
    if kind == "quarter":
        return t("wall.tile.quarter", lang, q=(when.month - 1) // 3 + 1, year=when.year)
    if kind == "year":
        return f"{when.year}"
    return f"{when:%m/%Y}"


def _tile_text(tile: TileView, lang: str, tz: ZoneInfo) -> tuple[str, str]:
    d = tile.detail
    if tile.kind == "flood_level":
        level = d.get("level")
        label = t("wall.station.no_data", lang) if level is None else t(f"flood.level.{level}", lang)
        return format_metres(tile.value, lang), label
    if tile.value is None:
        return "—", t("wall.station.no_data", lang)
    if tile.kind == "traffic_count":
        return (
            format_number(tile.value, lang),
            t(
                "wall.tile.traffic",
                lang,
                minutes=d["window_min"],
                n_in=format_number(d["in"], lang),
                n_out=format_number(d["out"], lang),
                in_label=d["in_label"],
                out_label=d["out_label"],
            ),
        )
    if tile.kind == "crowd":
        parts = []
        if d.get("max_count") is not None:
            parts.append(t("wall.tile.crowd_limit", lang, n=format_number(d["max_count"], lang)))
        if d.get("density") is not None:
            parts.append(format_measure(d["density"], t("wall.unit.per_m2", lang), lang, 2))
        parts.append(t(crowd_words(tile.state, tile.value, d.get("max_count"), d.get("congestion")), lang))
        return format_number(tile.value, lang), " · ".join(parts)
    unit = d.get("unit") or "count"
    target = d.get("target")
    period = d.get("period") or {}
    parts = [kpi_period(period["start"], period.get("kind"), tz, lang)] if period.get("start") else []
    if target is not None:
        parts.append(t("wall.tile.target", lang, target=format_value(unit, target, lang)))
    return format_value(unit, tile.value, lang), " · ".join(parts)


# --- alerts ----------------------------------------------------------------------------------------------


SEVERITY_ORDER = ("critical", "major", "warning", "info")


def count_groups(alerts: Sequence[AlertView]) -> dict[str, int]:
    """Count a list of alerts by feed group (when the counts cannot be read over every open alert)."""
    out = dict.fromkeys((*REALTIME_KINDS, REPORTS), 0)
    for a in alerts:
        out[feed_group(a.source_kind)] += 1
    return out


def feed_header(counts: dict[str, int], lang: str) -> list[Any]:
    """The feed's header: how many alerts are open, then how many of each kind (a kind with none is dimmed)."""
    total = sum(counts.values())
    chips: list[Any] = [html.Span(t("wall.alerts.count", lang, n=total), className="count-total")]
    for kind in (*REALTIME_KINDS, REPORTS):
        n = counts.get(kind, 0)
        chips.append(
            html.Span(
                f"{t(f'wall.feed.kind.{kind}', lang)} {n}",
                id=f"count-{kind}",
                className=f"count-kind{'' if n else ' none'}",
            )
        )
    return chips


def realtime_feed(
    alerts: Sequence[AlertView],
    counts: dict[str, int],
    now: datetime,
    lang: str,
    tz: ZoneInfo,
    may_ack: bool,
    words: Words | None = None,
) -> list[Any]:
    """The real-time alerts (flood, traffic, crowd, cameras), most severe group first, newest first in each."""
    live = [a for a in alerts if a.source_kind in REALTIME_KINDS]
    if not live:
        return [html.Div(t("wall.feed.none_live", lang), className="alerts-none", id="alerts-none")]
    shown = live[:ALERT_LIMIT]
    items: list[Any] = []
    for severity in SEVERITY_ORDER:
        group = [a for a in shown if a.severity == severity]
        if not group:
            continue
        n = sum(1 for a in live if a.severity == severity)
        items.append(
            html.Div(
                f"{t(f'severity.{severity}', lang)} · {n}",
                id=f"alerts-group-{severity}",
                className=f"alert-group sev-{severity}",
                style={"color": severity_colour(severity)},
            )
        )
        items += [alert_item(a, now, lang, tz, may_ack, words) for a in group]
    hidden = sum(counts.get(kind, 0) for kind in REALTIME_KINDS) - len(shown)
    if hidden > 0:
        items.append(html.Div(t("wall.alerts.more", lang, n=hidden), className="alerts-more"))
    return items


def reports_feed(
    alerts: Sequence[AlertView],
    counts: dict[str, int],
    now: datetime,
    lang: str,
    tz: ZoneInfo,
    may_ack: bool,
    words: Words | None = None,
) -> list[Any]:
    """The reports (KPIs below target, missing reports), for the feed's collapsible section."""
    reports = [a for a in alerts if feed_group(a.source_kind) == REPORTS]
    if not reports:
        return [html.Div(t("wall.feed.none_reports", lang), className="alerts-none")]
    shown = reports[:REPORT_LIMIT]
    items = [alert_item(a, now, lang, tz, may_ack, words) for a in shown]
    hidden = counts.get(REPORTS, 0) - len(shown)
    if hidden > 0:
        items.append(html.Div(t("wall.alerts.more", lang, n=hidden), className="alerts-more"))
    return items


def alert_item(
    a: AlertView, now: datetime, lang: str, tz: ZoneInfo, may_ack: bool, words: Words | None = None
) -> html.Div:
    """One alert of the feed: severity, acknowledge and detail buttons, message, area, time and who took it
    (an officer by name and unit, a wall account as such, with ``words``; else as recorded)."""
    meta = [format_opened(a.opened_at, now, lang, tz)]
    if a.area:
        meta.insert(0, a.area)
    if a.status == "acknowledged":
        meta.append(
            t(
                "wall.alert.acknowledged_by",
                lang,
                user=words.person(a.acknowledged_by, lang) if words else a.acknowledged_by,
            )
            if a.acknowledged_by
            else t("wall.alert.acknowledged", lang)
        )
    head: list[Any] = [
        html.Span(
            t(f"severity.{a.severity}", lang),
            className="alert-sev",
            style={"background": severity_colour(a.severity)},
        )
    ]
    if may_ack and a.status == "open":
        head.append(
            html.Button(
                t("wall.alert.ack", lang),
                id=f"ack-{a.alert_id}",
                className="ack-button",
                **_data_attributes({"data-alert-id": str(a.alert_id)}),
            )
        )
    head.append(
        html.Button(
            t("wall.alert.detail", lang),
            id=f"detail-{a.alert_id}",
            className="detail-button",
            **_data_attributes({"data-alert-id": str(a.alert_id)}),
        )
    )
    return html.Div(
        id=f"alert-{a.alert_id}",
        className=f"alert sev-{a.severity} status-{a.status} kind-{a.source_kind}",
        **_data_attributes({"data-alert-id": str(a.alert_id)}),
        style={"borderLeftColor": severity_colour(a.severity)},
        children=[
            html.Div(head, className="alert-head"),
            html.Div(a.message, className="alert-msg"),
            html.Div(" · ".join(meta), className="alert-meta"),
        ],
    )


# --- gauges ----------------------------------------------------------------------------------------------


GAUGE_STEP_S = 300  # a gauge's 6 h sparkline: five-minute averages


def gauge_cards(data: WallData, ctx: WallContext, user: User | None, lang: str) -> Any:
    """Render one gauge card per station in the user's scope, with the trend from the minute rollup.

    The gauge and the trend are SVG pictures (dashboards.sparkline) that scale with their card, so the 4K wall
    needs no scale of its own here.
    """
    now = utcnow()
    scope = scope_of(ctx.site, user)
    stations = data.stations(scope)
    if not stations:
        return html.Div(t("wall.none_in_scope", lang), className="alerts-none")
    try:
        histories = data.level_histories([st.id for st in stations], TREND_HOURS, step_s=GAUGE_STEP_S)
    except SinkUnavailable as exc:
        logger.warning("wall: trends not read: %s", exc)
        histories = {}
    return card_grid([_gauge_card(st, histories.get(st.id, []), now, lang, ctx.tz) for st in stations], GAUGE_ASPECT)


# The gauges' pictures are pure functions of what they show. A station reports every few minutes and the page
# asks every 10 s (on every wall and desk that shows it), so most answers find the picture already drawn; the
# first drawing of fifty costs about 10 ms.
@functools.lru_cache(maxsize=1024)
def gauge_picture(
    value: float | None, thresholds: tuple[float, float, float], level: int | None, label: str, lang: str
) -> str:
    """The gauge of a station as an ``<img>`` source, in ``lang``'s numbers."""
    return data_uri(gauge_svg(value, thresholds, level, label, number=lambda v: format_number(v, lang, 2)))


@functools.lru_cache(maxsize=1024)
def trend_picture(
    points: tuple[Point, ...],
    thresholds: tuple[float, float, float],
    level: int | None,
    label: str,
    tz: ZoneInfo,
    lang: str,
) -> str:
    """The trend of a station as an ``<img>`` source, times on ``tz``'s clock and ``lang``'s numbers."""
    return data_uri(trend_svg(points, thresholds, level, label, tz=tz, number=lambda v: format_number(v, lang, 2)))


def _gauge_card(st: StationView, points: Sequence[Point], now: datetime, lang: str, tz: ZoneInfo) -> html.Div:
    label = t("wall.station.no_data", lang) if st.level is None else t(f"flood.level.{st.level}", lang)
    i, ii, iii = (format_number(v, lang, 2) for v in st.thresholds)
    return html.Div(
        id=f"gauge-{st.id}",
        className=f"gauge-card level-{st.level if st.level is not None else 'none'}",
        children=[
            html.Div(
                className="gauge-head",
                children=[
                    html.Div(st.name, className="tile-name"),
                    html.Span(label, className="tile-level", style={"background": level_colour(st.level)}),
                ],
            ),
            html.Div(f"{st.river} · {st.area}", className="tile-river"),
            html.Div(format_metres(st.value, lang), className="tile-value gauge-value"),
            html.Img(
                src=gauge_picture(
                    st.value,
                    st.thresholds,
                    st.level,
                    t("wall.gauge.alt", lang, station=st.name, value=format_metres(st.value, lang), i=i, ii=ii,
                      iii=iii),
                    lang,
                ),
                className="gauge",
            ),
            html.Div(t("wall.station.thresholds", lang, i=i, ii=ii, iii=iii), className="tile-thresholds"),
            html.Img(
                src=trend_picture(
                    tuple(points),
                    st.thresholds,
                    st.level,
                    t("wall.gauge.trend_alt", lang, station=st.name, hours=TREND_HOURS),
                    tz,
                    lang,
                ),
                className="gauge-trend",
            ),
            _age(f"gauge-age-{st.id}", st.observed_at, now, 2 * st.expected_interval_s, lang),
        ],
    )


# --- cameras ---------------------------------------------------------------------------------------------


GAUGE_ASPECT = 1.2  # a gauge card, width over height: name, value, gauge, thresholds, trend
CAMERA_ASPECT = 1.45  # a camera card: a 16:9 snapshot with a head and counts


def card_grid(cards: list[html.Div], card_aspect: float) -> html.Div:
    """Lay cards out in a grid shaped by their count, filling the page (``dashboards.card_grid``)."""
    cols, rows = grid_shape(len(cards), card_aspect)
    return html.Div(className="card-grid", style={"--cols": cols, "--rows": rows}, children=cards)


def camera_cards(data: WallData, ctx: WallContext, user: User | None, lang: str) -> Any:
    """Render one card per camera in the user's scope: snapshot with boxes, state, counts and age."""
    now = utcnow()
    try:
        cams = data.cameras(scope_of(ctx.site, user))
    except SinkUnavailable as exc:
        logger.warning("wall: cameras not refreshed: %s", exc)
        return dash.no_update
    if not cams:
        return html.Div(t("wall.none_in_scope", lang), className="alerts-none")
    return card_grid([_camera_card(c, now, lang) for c in cams], CAMERA_ASPECT)


def _camera_card(cam: CameraView, now: datetime, lang: str) -> html.Div:
    status = cam.status or "unknown"
    if cam.snapshot_at is not None:
        picture: Any = html.Img(
            id=f"snapshot-{cam.id}",
            src=f"/snapshots/{cam.id}.jpg?v={int(cam.snapshot_at.timestamp())}",
            alt=cam.name,
            className="snapshot",
        )
    else:
        picture = html.Div(
            t("wall.camera.no_snapshot", lang), id=f"snapshot-{cam.id}", className="snapshot none"
        )
    counts = " · ".join(
        f"{_class_name(name, lang)} {n}" for name, n in sorted(cam.counts.items(), key=lambda kv: -kv[1])
    )
    seen = max((x for x in (cam.summary_at, cam.status_at) if x is not None), default=None)
    return html.Div(
        id=f"camera-{cam.id}",
        className=f"camera-card status-{status}",
        children=[
            html.Div(picture, className="snapshot-frame"),
            html.Div(
                className="gauge-head",
                children=[
                    html.Div(cam.name, className="tile-name"),
                    html.Span(t(f"wall.camera.status.{status}", lang), className=f"camera-status {status}"),
                ],
            ),
            html.Div(counts or t("wall.camera.no_counts", lang), className="tile-detail"),
            _age(f"camera-age-{cam.id}", seen, now, 2 * cam.expected_interval_s, lang),
        ],
    )


def _data_attributes(attributes: dict[str, str]) -> dict[str, Any]:
    """HTML data-* attributes for a Dash component (its typed signature does not list them)."""
    return dict(attributes)


def _class_name(name: str, lang: str) -> str:
    return t(f"wall.class.{name}", lang) if name in KNOWN_CLASSES else name
