"""The dashboards' Dash app: the shell (header, navigation, clock, takeover), routing, the wall's pages.

Built for 1920x1080 and 4K screens read from across the room: dark, large type (sizes scale with the
viewport), and every panel says how old its data is, turning amber when it is stale. The pages under the
shell come from the page registry (dashboards.pages) and follow the browser's path; a user only gets pages
their role may see, and every data query is limited to the user's unit scopes (dashboards.wall_scope). When
PostgreSQL is unreachable the pages keep what they had, show a banner and let the ages grow instead of
failing.

Stable element ids (browser tests rely on them; keep them):
    login form        (plain HTML at /login)  #username, #password, button[type=submit], a.lang (switch)
    navigation        #nav, one link per page: #nav-wall ("/"), #nav-flood, #nav-cameras, #nav-leaders
    language switch   #lang-switch (a link to /lang/<other>); #logout; #signed-in-as; #clock
    page              #page-content (the routed page), #page-not-found (path missing or not allowed)
    alert feed        #alerts: the real-time alerts (flood, traffic, crowd, camera), a heading
                      #alerts-group-<severity> per severity; #alerts-reports (a <details>) holds the reports
                      (KPIs, missing reports) in #reports, counted in #reports-count; the header #alerts-count
                      counts each kind in #count-<flood|traffic|crowd|camera|reports>; each alert
                      #alert-<alert_id> (class "alert sev-<severity> status-<status> kind-<source kind>")
    map legend        #legend-alert (an open alert is a triangle ring round its subject on the map)
    map selection     #map-selected (store: the commune picked on the map), #map-selection (class
                      "map-selection", or "map-selection hidden" with none), #map-selection-name,
                      #map-selection-clear
    acknowledge       #ack-<alert_id> (button, operators and admins only, open alerts only);
                      outcome in #ack-status
    takeover          #takeover (class "takeover" when shown, "takeover hidden" otherwise), #takeover-message,
                      #takeover-ack (operators and admins), #takeover-dismiss
    panels' ages      #map-age, #alerts-age, #tile-age-<tile_id>, #gauge-age-<station_id>,
                      #camera-age-<camera_id>
    tiles             #tile-<tile_id>; gauges #gauge-<station_id>; cameras #camera-<camera_id>,
                      snapshot #snapshot-<camera_id> (an <img> of /snapshots/<camera_id>.jpg)
    rotation          ?rotate=<seconds> on any wall page cycles the pages the user may see (#rotate-tick)
    alert detail      #detail-<alert_id> (button in each feed item, class "detail-button"; clicking
                      the item opens it too); the panel #detail (class "detail" shown, "detail hidden"),
                      #detail-title, #detail-age, #detail-close, #detail-body with #detail-message,
                      #detail-assignee, #detail-trail (table), #detail-notifications (table, a row
                      #detail-msg-<outbox id>), #detail-unknown (missing or out of scope); operators and
                      admins: #detail-actions, #detail-assign-officer (dropdown), #detail-assign,
                      #detail-note-text, #detail-note, #detail-resolve, outcome in #detail-status;
                      leaders: #detail-read-only
    failed messages   page /deliveries (#nav-deliveries, operators and admins): #deliveries,
                      #deliveries-count, #deliveries-age, each message #delivery-<outbox id> with its
                      detail button #delivery-detail-<outbox id>; #deliveries-none when there is none
    public signals    page /signals (#nav-signals, operators and admins; only for a site with
                      sources.public_signal): #signals, #signals-count, #signals-age, each matched feed
                      item #signal-<event id> with its headline linking to the article (class
                      "signal-link"), class "simulated" for the demo's; #signals-none when there is none
    citizens' reports page /reports (a site with reports): #reports-map, #reports-communes (rows
                      #reports-commune-<code>), #reports-list (rows #report-<code>), #reports-pick,
                      #reports-detail (#report-detail, #report-station, #report-camera, #report-no-sensor,
                      #reports-unknown); docs/WALL.md lists them all
"""

from __future__ import annotations

import importlib
import logging
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dash
import plotly.io
from dash import Input, Output, State, dcc, html
from flask import Flask, redirect, request, session
from flask.typing import ResponseReturnValue

from analytics.sources.public_signal import PublicSignalSource
from dashboards import strings as _strings  # noqa: F401  (registers the catalog)
from dashboards.auth import AuthStore, User, install_login, safe_next
from dashboards.data import PostgresWallData, WallData, boundary_features, station_specs
from dashboards.data.db import Database
from dashboards.data.reports import ReportReader
from dashboards.format import format_clock
from dashboards.pages import (
    ACKNOWLEDGE_ROLES,
    page_for,
    registered,
    rotation,
    session_user,
    visible_pages,
)
from dashboards.pages import unregister as unregister_page
from dashboards.report_form import PUBLIC_PREFIX as REPORT_PREFIX
from dashboards.report_form import install_report_pages
from dashboards.report_zalo import ZALO_WORKER, ZaloIntake, ZaloReplies, ZaloWorker, install_zalo_webhook
from dashboards.sessions import SessionStore
from dashboards.settings import WallSettings
from dashboards.throttle import LoginThrottle
from dashboards.wall_deliveries import register_deliveries_callbacks, register_deliveries_page
from dashboards.wall_detail import detail_shell, register_detail_callbacks
from dashboards.wall_pages import (
    WALL_CONTEXT,
    WallContext,
    area_centres,
    register_geo_route,
    register_wall_callbacks,
    register_wall_pages,
    site_map_base,
)
from dashboards.wall_reports import register_reports_callbacks, register_reports_page
from dashboards.wall_scope import scope_of
from dashboards.wall_signals import register_signals_callbacks, register_signals_page
from dashboards.wall_snapshots import install_snapshots
from dashboards.web import install_security_headers, trust_proxies
from ioc.config.models import SiteConfig
from ioc.errors import SinkUnavailable
from ioc.events import utcnow
from ioc.geo import AreaIndex
from ioc.i18n import normalise_lang, t
from ioc.notify.channels.zalo import ZaloZnsAdapter
from ioc.store.alerts import Outcome
from ioc.store.report_zalo import ZaloIntakeStore
from ioc.store.reports import ReportStore

logger = logging.getLogger(__name__)

ASSETS = Path(__file__).parent / "assets"
WATCH_MS = 2_000  # how often the shell looks for a new critical alert
DEFAULT_ROTATE_S = 60
MIN_ROTATE_S = 10
TONE_REPEAT_S = 30

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
# ?rotate=60 turns the rotation on (seconds, at least MIN_ROTATE_S; a bare ?rotate means the default).
_ROTATE_SETUP_JS = f"""
function(search) {{
    const params = new URLSearchParams(search || '');
    if (!params.has('rotate')) {{ return [true, {DEFAULT_ROTATE_S * 1000}]; }}
    const s = parseInt(params.get('rotate'), 10);
    const seconds = isNaN(s) ? {DEFAULT_ROTATE_S} : Math.max({MIN_ROTATE_S}, s);
    return [false, seconds * 1000];
}}
"""
_ROTATE_NEXT_JS = """
function(n, path, paths) {
    if (!n || !paths || paths.length < 2) { return window.dash_clientside.no_update; }
    const i = paths.indexOf(path || '/');
    return paths[(i + 1) % paths.length];
}
"""
# Shows the takeover for the newest critical alert not dismissed here, and sounds three short beeps made with
# WebAudio (nothing downloaded) when it appears and again every TONE_REPEAT_S while nobody answers it.
# Browsers may hold sound until the page was clicked once; a wall kiosk is started with
# --autoplay-policy=no-user-gesture-required.
_TAKEOVER_JS = """
function(critical, dismissed) {
    const REPEAT_MS = TONE_REPEAT_MS;
    const gone = new Set(dismissed || []);
    const shown = (critical || []).find(a => !gone.has(a.id));
    const w = window;
    if (!shown) { w.iocTakeoverAlert = null; return ['takeover hidden', '', '']; }
    const now = Date.now();
    if (w.iocTakeoverAlert !== shown.id || now - (w.iocToneAt || 0) > REPEAT_MS) {
        w.iocTakeoverAlert = shown.id;
        w.iocToneAt = now;
        try {
            const Ctx = w.AudioContext || w.webkitAudioContext;
            w.iocAudio = w.iocAudio || new Ctx();
            const ctx = w.iocAudio;
            if (ctx.state === 'suspended') { ctx.resume(); }
            [0, 0.45, 0.9].forEach(start => {
                const osc = ctx.createOscillator(), gain = ctx.createGain();
                osc.type = 'square'; osc.frequency.value = 880;
                gain.gain.setValueAtTime(0.0001, ctx.currentTime + start);
                gain.gain.exponentialRampToValueAtTime(0.3, ctx.currentTime + start + 0.02);
                gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + start + 0.3);
                osc.connect(gain).connect(ctx.destination);
                osc.start(ctx.currentTime + start); osc.stop(ctx.currentTime + start + 0.32);
            });
            w.iocToneCount = (w.iocToneCount || 0) + 1;
        } catch (e) { console.warn('takeover tone not played', e); }
    }
    return ['takeover', shown.message, shown.meta];
}
""".replace("TONE_REPEAT_MS", str(TONE_REPEAT_S * 1000))
_DISMISS_JS = """
function(n, critical, dismissed) {
    if (!n) { return window.dash_clientside.no_update; }
    const ids = new Set(dismissed || []);
    (critical || []).forEach(a => ids.add(a.id));
    return Array.from(ids).slice(-200);
}
"""


def use_fast_json() -> None:
    """Make Dash serialise callback answers with the standard library's C encoder.

    Dash answers through ``plotly.io.to_json_plotly``, whose default engine, once orjson is installed, first walks
    the whole answer in Python (``clean_to_json_compatible``) to make it JSON-safe. The wall's answers are plain
    dicts, lists, strings and numbers already; measured on the 50-gauge page (340 KB), the walk made the callback
    several times slower than the ``json`` engine, whose encoder only calls back into Python for types JSON lacks.

    A switch of plotly's for the whole process, so the process's start calls it (``ioc dashboard``, ``ioc demo``,
    the dashboard bench), not ``create_app``.
    """
    plotly.io.json.config.default_engine = "json"


def create_app(
    data: WallData,
    site: SiteConfig,
    *,
    auth: AuthStore,
    secret_key: str,
    lang: str = "vi",
    site_dir: Path | None = None,
    snapshot_root: Path | None = None,
    settings: WallSettings | None = None,
    sessions: SessionStore | None = None,
    throttle: LoginThrottle | None = None,
    zalo_channel: ZaloZnsAdapter | None = None,
    public_url: str = "",
) -> dash.Dash:
    """Build the dashboards' Dash app and its login; with ``site_dir`` the map outlines the site's areas.

    The shell (header, navigation, clock, takeover) is the layout; the page under it follows the browser's
    path through ``dcc.Location`` and the page registry, so a user only ever gets the layouts of pages their
    role may see. Snapshots are served only from files under ``snapshot_root`` (the app passes the cache's snapshots
    folder; none: no snapshots). ``settings`` (cookies, session lifetimes, body limit) default to
    ``WallSettings()``; sessions live in PostgreSQL on ``auth``'s pool and sign-ins are throttled in memory
    unless ``sessions`` and ``throttle`` say otherwise (the distributed runtime passes a Redis throttle).
    With ``zalo_channel`` (the OA's zalo_zns channel) and the site's ``reports.zalo``, the OA webhook is at
    ``/report/zalo`` and its worker (not started here: the process's start does) is
    ``server.extensions[ZALO_WORKER]``; ``public_url`` is where followers open a report's status page.
    """
    default_lang = normalise_lang(lang)
    settings = settings or WallSettings()
    features = boundary_features(site, site_dir)
    app = dash.Dash(
        __name__,
        assets_folder=str(ASSETS),
        title=f"IOC · {site.site.name}",
        update_title=None,  # type: ignore[arg-type]  # None is documented: keep the tab title still
        serve_locally=True,
        suppress_callback_exceptions=True,  # page components come and go with the path
    )
    context = WallContext(
        site=site,
        specs=station_specs(site),
        features=features,
        map_base=site_map_base(site, features),
        area_centres=area_centres(features),
        tz=ZoneInfo(site.site.timezone),
        data=data,
    )
    server: Flask = app.server
    register_geo_route(server)
    server.extensions[WALL_CONTEXT] = context
    register_wall_pages()
    register_deliveries_page()
    has_signals = PublicSignalSource.section_of(site) is not None
    if has_signals:
        register_signals_page()
    else:
        unregister_page("/signals")  # a page of an earlier app in this process (tests) with feeds
    reports = _report_reader(data, site)
    if reports is not None:
        register_reports_page()
    leaders = _leaders_module()
    if leaders is not None:
        leaders.register_pages()
    # The citizens' report form is public (no session) when the site has reports and the map's polygons.
    reports_on = site.reports is not None and site.working_calendar is not None and site_dir is not None
    install_login(
        server,
        auth,
        secret_key=secret_key,
        default_lang=default_lang,
        site_name=site.site.name,
        page_paths=[p.path for p in registered()],
        health=lambda: data.database_jobs().summary(utcnow(), detail=False),
        settings=settings,
        sessions=sessions,
        throttle=throttle,
        public_prefixes=(REPORT_PREFIX,) if reports_on else (),
    )
    if reports_on and site_dir is not None:
        install_report_pages(
            server,
            site=site,
            store=ReportStore(auth.pool),
            index=AreaIndex.from_site(site, site_dir),
            secret_key=secret_key,
            default_lang=default_lang,
            wall_max_body_bytes=settings.max_body_bytes,
        )
        if site.reports is not None and site.reports.zalo is not None and zalo_channel is not None:
            _install_zalo(server, site, auth, site_dir, secret_key, zalo_channel, public_url)
    install_security_headers(app, settings)
    trust_proxies(server, settings)
    install_snapshots(server, data, site, snapshot_root)

    @server.get("/lang/<code>")
    def switch_language(code: str) -> ResponseReturnValue:
        session["lang"] = normalise_lang(code)
        return redirect(safe_next(request.args.get("next") or "/"))

    def layout() -> html.Div:
        # Built per page load, in the language and for the user of this session.
        chosen = normalise_lang(session.get("lang") or default_lang)
        return _shell(site, chosen, session_user())

    app.layout = layout
    _register_shell_callbacks(app, data, auth, site)
    register_wall_callbacks(app, data)
    register_detail_callbacks(app, data, auth, site)
    register_deliveries_callbacks(app, data, auth, site)
    if has_signals:
        register_signals_callbacks(app, data, site)
    if reports is not None:
        register_reports_callbacks(app, reports, site, context.map_base)
    if leaders is not None:
        leaders.register_callbacks(app, data, settings.pdf_font)
    return app


def _install_zalo(
    server: Flask, site: SiteConfig, auth: AuthStore, site_dir: Path, secret_key: str, channel: ZaloZnsAdapter,
    public_url: str,
) -> None:
    """The Zalo OA intake of citizens' reports: its webhook and its worker (dashboards.report_zalo)."""
    reports, store = ReportStore(auth.pool), ZaloIntakeStore(auth.pool)
    intake = ZaloIntake(site=site, reports=reports, store=store, index=AreaIndex.from_site(site, site_dir),
                        secret_key=secret_key)
    worker = ZaloWorker(intake, ZaloReplies(site=site, store=store, channel=channel, public_url=public_url))
    assert site.reports is not None and site.reports.zalo is not None  # the caller checked
    install_zalo_webhook(server, channel=channel, store=store, reports=reports, secret_key=secret_key,
                         events_per_hour=site.reports.zalo.events_per_user_per_hour, wake=worker.wake)
    server.extensions[ZALO_WORKER] = worker
def _report_reader(data: WallData, site: SiteConfig) -> ReportReader | None:
    """Return the reports' reader when the site takes reports and the wall reads PostgreSQL, else None."""
    if site.reports is None or not isinstance(data, PostgresWallData):
        return None
    return ReportReader(Database(data.pool), site.reports, data.station_reader, data.camera_reader)


def _leaders_module() -> Any:
    """Return dashboards.leaders when it exists (the leaders' panels are built separately), else None."""
    try:
        return importlib.import_module("dashboards.leaders")
    except ModuleNotFoundError as exc:
        if exc.name != "dashboards.leaders":
            raise
        return None


# --- the shell -------------------------------------------------------------------------------------------


def nav_id(path: str) -> str:
    """Return the element id of a page's navigation link: nav-wall for '/', nav-leaders for '/leaders'."""
    return "nav-" + (path.strip("/").replace("/", "-") or "wall")


DB_CHECK_MS = 60_000


def _admin_badge(user: User | None) -> list[Any]:
    """The database-jobs badge and its timer, for administrators only (hidden while every job runs)."""
    if user is None or user.role != "admin":
        return []
    return [html.Span(id="db-jobs-badge", className="wall-badge hidden"),
            dcc.Interval(id="db-tick", interval=DB_CHECK_MS)]


def _shell(site: SiteConfig, lang: str, user: User | None) -> html.Div:
    other = "en" if lang == "vi" else "vi"
    nav = [
        dcc.Link(t(p.title_key, lang), href=p.path, id=nav_id(p.path), className="wall-nav-link")
        for p in visible_pages(user)
    ]
    may_ack = user is not None and user.role in ACKNOWLEDGE_ROLES
    header = html.Header(
        className="wall-header",
        children=[
            html.Div(
                className="wall-title",
                children=[
                    html.H1(site.site.name),
                    html.Div(t("wall.title", lang), className="wall-subtitle"),
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
                        t("wall.signed_in_as", lang, user=user.username if user else "—")
                        + (f" · {t(f'wall.role.{user.role}', lang)}" if user else ""),
                        id="signed-in-as",
                        className="wall-muted",
                    ),
                    html.A(t("wall.logout", lang), href="/logout", id="logout", className="wall-link"),
                    *_admin_badge(user),
                ],
            ),
        ],
    )
    takeover_buttons: list[Any] = []
    if may_ack:
        takeover_buttons.append(
            html.Button(t("wall.alert.ack", lang), id="takeover-ack", className="takeover-ack", n_clicks=0)
        )
    takeover_buttons.append(
        html.Button(t("wall.takeover.dismiss", lang), id="takeover-dismiss", className="takeover-dismiss")
    )
    takeover = html.Div(
        id="takeover",
        className="takeover hidden",
        role="alertdialog",
        children=html.Div(
            className="takeover-box",
            children=[
                html.Div(t("wall.takeover.title", lang), className="takeover-title"),
                html.Div(id="takeover-message", className="takeover-message"),
                html.Div(id="takeover-meta", className="takeover-meta"),
                html.Div(takeover_buttons, className="takeover-buttons"),
            ],
        ),
    )
    return html.Div(
        className="wall",
        lang=lang,
        children=[
            dcc.Location(id="url", refresh=False),
            dcc.Store(id="lang", data=lang),
            dcc.Store(id="tz", data=site.site.timezone),
            dcc.Store(id="rotation", data=rotation(user)),
            dcc.Store(id="scale", data=1.0),
            dcc.Store(id="ack-request"),
            dcc.Store(id="ack-done", data=0),
            dcc.Store(id="critical", data=[]),
            dcc.Store(id="dismissed", data=[], storage_type="session"),
            dcc.Interval(id="clock-tick", interval=1_000),
            dcc.Interval(id="watch-tick", interval=WATCH_MS),
            dcc.Interval(id="rotate-tick", interval=DEFAULT_ROTATE_S * 1000, disabled=True),
            header,
            html.Div(id="banner", className="banner hidden"),
            html.Div(id="ack-status", className="ack-status hidden", role="status"),
            html.Div(id="page-content", className="page-content"),
            *detail_shell(site, lang, user),
            takeover,
        ],
    )


def _register_shell_callbacks(app: dash.Dash, data: WallData, auth: AuthStore, site: SiteConfig) -> None:
    app.clientside_callback(  # type: ignore[no-untyped-call]
        _CLOCK_JS, Output("clock", "children"), Input("clock-tick", "n_intervals"), State("tz", "data")
    )
    app.clientside_callback(  # type: ignore[no-untyped-call]
        "function(p) { return Math.max(1, Math.min(3, window.innerWidth / 1920)); }",
        Output("scale", "data"),
        Input("url", "pathname"),
    )
    app.clientside_callback(  # type: ignore[no-untyped-call]
        """function(path, search, href) {
            const next = (path || '/') + (search || '');
            return href.split('?')[0] + '?next=' + encodeURIComponent(next);
        }""",
        Output("lang-switch", "href"),
        Input("url", "pathname"),
        Input("url", "search"),
        State("lang-switch", "href"),
    )
    app.clientside_callback(  # type: ignore[no-untyped-call]
        _ROTATE_SETUP_JS,
        Output("rotate-tick", "disabled"),
        Output("rotate-tick", "interval"),
        Input("url", "search"),
    )
    app.clientside_callback(  # type: ignore[no-untyped-call]
        _ROTATE_NEXT_JS,
        Output("url", "pathname"),
        Input("rotate-tick", "n_intervals"),
        State("url", "pathname"),
        State("rotation", "data"),
    )
    app.clientside_callback(  # type: ignore[no-untyped-call]
        _TAKEOVER_JS,
        Output("takeover", "className"),
        Output("takeover-message", "children"),
        Output("takeover-meta", "children"),
        Input("critical", "data"),
        Input("dismissed", "data"),
    )
    app.clientside_callback(  # type: ignore[no-untyped-call]
        _DISMISS_JS,
        Output("dismissed", "data"),
        Input("takeover-dismiss", "n_clicks"),
        State("critical", "data"),
        State("dismissed", "data"),
    )

    @app.callback(
        Output("db-jobs-badge", "children"),
        Output("db-jobs-badge", "className"),
        Output("db-jobs-badge", "title"),
        Input("db-tick", "n_intervals"),
        State("lang", "data"),
    )
    def db_jobs_badge(_: int | None, lang_choice: str | None) -> tuple[str, str, str]:
        user = session_user()
        if user is None or user.role != "admin":
            return "", "wall-badge hidden", ""
        lang = normalise_lang(lang_choice)
        try:
            failing = data.database_jobs().failing(utcnow())
        except SinkUnavailable:
            return "", "wall-badge hidden", ""  # the freshness banner already says the database is down
        if not failing:
            return "", "wall-badge hidden", ""
        ids = ", ".join(str(j.job_id) for j in failing)
        return (t("wall.db.failing", lang, n=len(failing)), "wall-badge",
                t("wall.db.failing_title", lang, ids=ids))

    @app.callback(Output("page-content", "children"), Input("url", "pathname"), State("lang", "data"))
    def route(pathname: str | None, lang_choice: str | None) -> Any:
        lang = normalise_lang(lang_choice)
        user = session_user()
        page = page_for(pathname, user)
        if page is None or user is None:
            return html.Div(t("wall.page.not_found", lang), id="page-not-found", className="page-missing")
        return page.layout(lang, user)

    @app.callback(
        Output("critical", "data"),
        Input("watch-tick", "n_intervals"),
        Input("ack-done", "data"),
        State("lang", "data"),
    )
    def watch_critical(_tick: int | None, _done: int | None, lang_choice: str | None) -> Any:
        lang = normalise_lang(lang_choice)
        scope = scope_of(site, session_user())
        try:
            alerts = data.new_critical_alerts(lang, scope)
        except SinkUnavailable as exc:
            logger.warning("wall: critical alerts not checked: %s", exc)
            return dash.no_update
        tz = ZoneInfo(site.site.timezone)
        return [
            {
                "id": str(a.alert_id),
                "message": a.message,
                "meta": " · ".join(
                    x
                    for x in (
                        a.area,
                        t("wall.alert.opened_at", lang, time=f"{a.opened_at.astimezone(tz):%H:%M}"),
                    )
                    if x
                ),
            }
            for a in alerts
        ]

    @app.callback(
        Output("ack-status", "children"),
        Output("ack-status", "className"),
        Output("ack-done", "data"),
        Input("ack-request", "data"),
        State("ack-done", "data"),
        State("lang", "data"),
        prevent_initial_call=True,
    )
    def acknowledge(request_data: Any, done: int | None, lang_choice: str | None) -> tuple[Any, ...]:
        lang = normalise_lang(lang_choice)
        message, ok = acknowledge_from_wall(data, auth, site, session_user(), request_data)
        # Two class names in turn restart the fade-out animation for every new message.
        turn = f" n{(done or 0) % 2}"
        return t(message, lang), ("ack-status" if ok else "ack-status failed") + turn, (done or 0) + 1


def acknowledge_from_wall(
    data: WallData, auth: AuthStore, site: SiteConfig, user: User | None, request_data: Any
) -> tuple[str, bool]:
    """Acknowledge the alert a wall button asked for, as the session's user; return a message key and success.

    Only operators and admins may; a refused attempt is recorded in the audit log as well.
    """
    raw = request_data.get("alert_id") if isinstance(request_data, dict) else None
    try:
        alert_id = uuid.UUID(str(raw))
    except ValueError:
        logger.warning("wall: acknowledge with a malformed alert id %r", raw)
        return "wall.ack.unknown", False
    if user is None:
        return "auth.unauthorised", False
    if user.role not in ACKNOWLEDGE_ROLES:
        try:
            auth.record(user.username, "alert.acknowledge_refused", str(alert_id), {"role": user.role})
        except SinkUnavailable as exc:
            logger.warning("refused acknowledgement by %s not recorded: %s", user.username, exc)
        return "wall.ack.forbidden", False
    try:
        result = data.acknowledge(alert_id, user.username, scope_of(site, user))
    except SinkUnavailable as exc:
        logger.error("wall: acknowledgement of %s by %s failed: %s", alert_id, user.username, exc)
        return "wall.ack.unavailable", False
    logger.info("wall: %s acknowledged %s: %s", user.username, alert_id, result.outcome.value)
    return {
        Outcome.DONE: ("wall.ack.done", True),
        Outcome.ALREADY: ("wall.ack.already", True),
        Outcome.RESOLVED: ("wall.ack.resolved", False),
    }.get(result.outcome, ("wall.ack.unknown", False))
