"""The wall display: the station map, station tiles and open-alerts feed on one page, behind a login.

Built for a 1920x1080 screen read from across the room: dark, large type, and every panel says how old its
data is, turning amber when it is older than twice the station's expected interval (120 s for the feed). The
page refreshes every 2 s; the trends, which change once a minute, every 30 s. When PostgreSQL is unreachable
the page keeps the last alerts it had, shows a banner and lets the ages grow, instead of failing.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dash
from dash import Input, Output, Patch, State, dcc, html
from flask import Flask, current_app, has_request_context, redirect, session
from flask.typing import ResponseReturnValue

from dashboards import strings as _strings  # noqa: F401  (registers the catalog)
from dashboards.auth import AuthStore, User, install_login
from dashboards.data import AlertView, StationSpec, StationView, WallData, boundary_features, station_specs
from dashboards.figures import HALO_TRACE, STATION_TRACE, map_figure, marker_state, trend_figure
from dashboards.format import (
    age_seconds,
    format_age,
    format_clock,
    format_metres,
    format_opened,
    is_stale,
    level_colour,
    severity_colour,
)
from dashboards.pages import WALL_ROLES, Page, page_for, register, registered, session_user, visible_pages
from ioc.config.models import SiteConfig
from ioc.errors import SinkUnavailable
from ioc.events import utcnow
from ioc.i18n import normalise_lang, t

logger = logging.getLogger(__name__)

ASSETS = Path(__file__).parent / "assets"
REFRESH_MS = 2_000
TREND_REFRESH_MS = 30_000
TREND_HOURS = 6
ALERT_LIMIT = 12
ALERTS_EXPECTED_INTERVAL_S = 60.0  # the feed is read every 2 s; stale after 120 s without a successful read

# Formats the wall clock in the site's zone from the browser's own clock, every second, without a round trip.
_CLOCK_JS = """
function(n, tz) {
    const parts = {};
    new Intl.DateTimeFormat('en-GB', {timeZone: tz, day: '2-digit', month: '2-digit', year: 'numeric',
        hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23'})
        .formatToParts(new Date()).forEach(p => { parts[p.type] = p.value; });
    return `${parts.day}/${parts.month}/${parts.year} ${parts.hour}:${parts.minute}:${parts.second}`;
}
"""


@dataclass(frozen=True)
class WallContext:
    """What the wall pages of one app need from its site: kept on the Flask app, read by the layouts."""

    site: SiteConfig
    specs: tuple[StationSpec, ...]
    base_map: Any
    tz: ZoneInfo
    default_lang: str


WALL_CONTEXT = "ioc_wall"


def wall_context() -> WallContext:
    """Return the wall context of the app serving the current request."""
    ctx: WallContext = current_app.extensions[WALL_CONTEXT]
    return ctx


def create_app(
    data: WallData,
    site: SiteConfig,
    *,
    auth: AuthStore,
    secret_key: str,
    lang: str = "vi",
    site_dir: Path | None = None,
) -> dash.Dash:
    """Build the dashboards' Dash app and its login; with ``site_dir`` the map outlines the site's areas.

    The shell (header, navigation, clock) is the layout; the page under it follows the browser's path through
    ``dcc.Location`` and the page registry (dashboards.pages), so a user only ever gets the layouts of pages
    their role may see.
    """
    default_lang = normalise_lang(lang)
    specs = station_specs(site)
    tz = ZoneInfo(site.site.timezone)
    fine_level = site.site.levels[-1].id
    base_map = map_figure(specs, boundary_features(site, site_dir), fine_level)

    app = dash.Dash(
        __name__,
        assets_folder=str(ASSETS),
        title=f"IOC · {site.site.name}",
        update_title=None,  # type: ignore[arg-type]  # None is documented: keep the tab title still
        serve_locally=True,
        suppress_callback_exceptions=True,  # page components come and go with the path
    )
    server: Flask = app.server
    server.extensions[WALL_CONTEXT] = WallContext(site, specs, base_map, tz, default_lang)
    register_wall_pages()
    leaders = _leaders_module()
    if leaders is not None:
        leaders.register_pages()
    install_login(
        server,
        auth,
        secret_key=secret_key,
        default_lang=default_lang,
        site_name=site.site.name,
        page_paths=[p.path for p in registered()],
    )

    @server.get("/lang/<code>")
    def switch_language(code: str) -> ResponseReturnValue:
        session["lang"] = normalise_lang(code)
        return redirect("/")

    def layout() -> html.Div:
        # Built per page load, in the language and for the user of this session.
        if not has_request_context():
            return _shell(site, default_lang, None)
        chosen = normalise_lang(session.get("lang") or default_lang)
        return _shell(site, chosen, session_user())

    app.layout = layout
    _register_routing(app)
    _register_callbacks(app, data, specs, tz)
    if leaders is not None:
        leaders.register_callbacks(app, data)
    return app


def _leaders_module() -> Any:
    """Return dashboards.leaders when it exists (the leaders' panels are built separately), else None."""
    try:
        return importlib.import_module("dashboards.leaders")
    except ModuleNotFoundError as exc:
        if exc.name != "dashboards.leaders":
            raise
        return None


def register_wall_pages() -> None:
    """Register the wall's pages (idempotent)."""
    register(Page("/", "wall.page.overview", WALL_ROLES, _overview_page))


# --- layout ----------------------------------------------------------------------------------------------


def _shell(site: SiteConfig, lang: str, user: User | None) -> html.Div:
    other = "en" if lang == "vi" else "vi"
    nav = [
        html.A(
            t(p.title_key, lang),
            href=p.path,
            id=f"nav-{p.path.strip('/') or 'wall'}",
            className="wall-nav-link",
        )
        for p in visible_pages(user)
    ]
    header = html.Header(
        className="wall-header",
        children=[
            html.Div(
                className="wall-title",
                children=[
                    html.H1(site.site.name),
                    html.Div(
                        f"{t('wall.title', lang)} · {t('wall.subtitle.flood', lang)}",
                        className="wall-subtitle",
                    ),
                ],
            ),
            html.Nav(nav, id="nav", className="wall-nav"),
            html.Div(
                format_clock(utcnow(), ZoneInfo(site.site.timezone)), id="clock", className="wall-clock"
            ),
            html.Div(
                className="wall-user",
                children=[
                    html.A(
                        t(f"wall.lang.{other}", lang),
                        href=f"/lang/{other}",
                        id="lang-switch",
                        className="wall-link",
                    ),
                    html.Span(
                        t("wall.signed_in_as", lang, user=user.username if user else "—"),
                        id="signed-in-as",
                        className="wall-muted",
                    ),
                    html.A(t("wall.logout", lang), href="/logout", id="logout", className="wall-link"),
                ],
            ),
        ],
    )
    return html.Div(
        className="wall",
        lang=lang,
        children=[
            dcc.Location(id="url", refresh=False),
            dcc.Store(id="lang", data=lang),
            dcc.Store(id="tz", data=site.site.timezone),
            dcc.Interval(id="clock-tick", interval=1_000),
            header,
            html.Div(id="banner", className="banner hidden"),
            html.Div(id="page-content", className="page-content"),
        ],
    )


def _register_routing(app: dash.Dash) -> None:
    @app.callback(Output("page-content", "children"), Input("url", "pathname"), State("lang", "data"))
    def route(pathname: str | None, lang_choice: str | None) -> Any:
        lang = normalise_lang(lang_choice)
        user = session_user()
        page = page_for(pathname, user)
        if page is None or user is None:
            return html.Div(t("wall.page.not_found", lang), id="page-not-found", className="page-missing")
        return page.layout(lang, user)


def _overview_page(lang: str, user: User) -> html.Main:
    ctx = wall_context()
    return _layout(ctx.specs, ctx.base_map, lang)


def _layout(specs: Sequence[StationSpec], base_map: Any, lang: str) -> html.Main:
    tiles = [
        html.Div(
            className="tile",
            children=[
                html.Div(id=f"tile-body-{i}", className="tile-body"),
                dcc.Graph(
                    id=f"trend-{i}",
                    className="tile-trend",
                    config={"staticPlot": True, "displayModeBar": False},
                    figure=trend_figure([], spec.thresholds, None),
                ),
                html.Div(id=f"tile-age-{i}", className="age"),
            ],
        )
        for i, spec in enumerate(specs)
    ]
    return html.Main(
        className="wall-grid",
        children=[
            dcc.Interval(id="tick", interval=REFRESH_MS),
            dcc.Interval(id="trend-tick", interval=TREND_REFRESH_MS),
            html.Section(
                className="panel panel-map",
                children=[
                    _panel_head(t("wall.panel.map", lang), "map-age"),
                    html.Div(
                        className="map",
                        children=dcc.Graph(
                            id="map",
                            figure=base_map,
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
                ],
            ),
            html.Section(
                className="panel panel-stations",
                children=[
                    _panel_head(t("wall.panel.stations", lang), None),
                    html.Div(tiles, className="tiles"),
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


def _legend(lang: str) -> html.Div:
    items = [(level_colour(lv), t(f"flood.level.{lv}", lang)) for lv in range(4)]
    items.append((level_colour(None), t("wall.legend.stale", lang)))
    return html.Div(
        className="legend",
        children=[html.Span([html.I(style={"background": colour}), label]) for colour, label in items],
    )


# --- callbacks -------------------------------------------------------------------------------------------


def _register_callbacks(app: dash.Dash, data: WallData, specs: Sequence[StationSpec], tz: ZoneInfo) -> None:
    n = len(specs)
    app.clientside_callback(  # type: ignore[no-untyped-call]
        _CLOCK_JS, Output("clock", "children"), Input("clock-tick", "n_intervals"), State("tz", "data")
    )

    @app.callback(
        Output("banner", "children"),
        Output("banner", "className"),
        Output("map", "figure"),
        Output("map-age", "children"),
        Output("map-age", "className"),
        [Output(f"tile-body-{i}", "children") for i in range(n)],
        [Output(f"tile-body-{i}", "className") for i in range(n)],
        [Output(f"tile-age-{i}", "children") for i in range(n)],
        [Output(f"tile-age-{i}", "className") for i in range(n)],
        Output("alerts", "children"),
        Output("alerts-count", "children"),
        Output("alerts-age", "children"),
        Output("alerts-age", "className"),
        Input("tick", "n_intervals"),
        State("lang", "data"),
    )
    def refresh(_tick: int | None, lang_choice: str | None) -> tuple[Any, ...]:
        lang = normalise_lang(lang_choice)
        now = utcnow()
        stations = data.stations()
        try:
            alerts: list[AlertView] | None = data.open_alerts(ALERT_LIMIT, lang)
            total = data.count_open_alerts()
        except SinkUnavailable as exc:
            logger.warning("wall: alerts not refreshed: %s", exc)
            alerts, total = None, 0
        fresh = data.freshness()

        problems = []
        if not fresh.database_ok or alerts is None:
            problems.append(t("wall.banner.database", lang))
        if not fresh.live_ok:
            problems.append(t("wall.banner.live", lang))
        banner = [html.Div(p) for p in problems]

        ages = [age_seconds(s.observed_at, now) for s in stations]
        stale = [is_stale(a, s.expected_interval_s) for a, s in zip(ages, stations, strict=True)]
        markers = marker_state(stations, stale, lang)
        patch = Patch()
        patch["data"][STATION_TRACE]["marker"]["color"] = markers.colours
        patch["data"][STATION_TRACE]["marker"]["opacity"] = markers.opacities
        patch["data"][STATION_TRACE]["hovertext"] = markers.hover
        patch["data"][STATION_TRACE]["hovertemplate"] = "%{hovertext}<extra></extra>"
        patch["data"][HALO_TRACE]["marker"]["opacity"] = [0.9 * o for o in markers.opacities]

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
            *[_tile_body(s, lang) for s in stations],
            *[f"tile-body level-{s.level if s.level is not None else 'none'}" for s in stations],
            *[format_age(a, lang) for a in ages],
            *[_age_class(x) for x in stale],
            dash.no_update if alerts is None else _alert_feed(alerts, total, now, lang, tz),
            dash.no_update if alerts is None else t("wall.alerts.count", lang, n=total),
            format_age(alerts_age, lang),
            _age_class(is_stale(alerts_age, ALERTS_EXPECTED_INTERVAL_S)),
        )

    @app.callback(
        [Output(f"trend-{i}", "figure") for i in range(n)],
        Input("trend-tick", "n_intervals"),
    )
    def trends(_tick: int | None) -> list[Any]:
        try:
            stations = {s.id: s for s in data.stations()}
            return [
                trend_figure(
                    data.level_history(spec.id, TREND_HOURS), spec.thresholds, stations[spec.id].level
                )
                for spec in specs
            ]
        except SinkUnavailable as exc:
            logger.warning("wall: trends not refreshed: %s", exc)
            return [dash.no_update] * n


def _age_class(stale: bool) -> str:
    return "age stale" if stale else "age"


def _tile_body(st: StationView, lang: str) -> list[Any]:
    no_level = st.level is None
    label = t("wall.station.no_data", lang) if no_level else t(f"flood.level.{st.level}", lang)
    i, ii, iii = (f"{v:.2f}" for v in st.thresholds)
    return [
        html.Div(st.name, className="tile-name"),
        html.Div(st.river if st.river == st.area else f"{st.river} · {st.area}", className="tile-river"),
        html.Div(
            className="tile-reading",
            children=[
                html.Span(format_metres(st.value), className="tile-value"),
                html.Span(label, className="tile-level", style={"background": level_colour(st.level)}),
            ],
        ),
        html.Div(t("wall.station.thresholds", lang, i=i, ii=ii, iii=iii), className="tile-thresholds"),
    ]


def _alert_feed(alerts: Sequence[AlertView], total: int, now: datetime, lang: str, tz: ZoneInfo) -> list[Any]:
    if not alerts:
        return [html.Div(t("wall.alerts.none", lang), className="alerts-none")]
    items: list[Any] = []
    for a in alerts:
        meta = [format_opened(a.opened_at, now, lang, tz)]
        if a.area:
            meta.insert(0, a.area)
        if a.status == "acknowledged":
            meta.append(t("wall.alert.acknowledged", lang))
        items.append(
            html.Div(
                className=f"alert sev-{a.severity}",
                style={"borderLeftColor": severity_colour(a.severity)},
                children=[
                    html.Span(
                        t(f"severity.{a.severity}", lang),
                        className="alert-sev",
                        style={"background": severity_colour(a.severity)},
                    ),
                    html.Div(a.message, className="alert-msg"),
                    html.Div(" · ".join(meta), className="alert-meta"),
                ],
            )
        )
    if total > len(alerts):
        items.append(html.Div(t("wall.alerts.more", lang, n=total - len(alerts)), className="alerts-more"))
    return items
