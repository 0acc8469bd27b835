"""The leaders' panels at ``/leaders``: KPIs by unit against targets, trends, the communes' ranking, exports.

Leaders and admins only (operators get the page-not-found answer, and every callback and export refuses them
too). Everything is limited to the user's ``unit_scopes`` in the queries (dashboards.leaders_data). The index,
its weights and its rules are in leaders_data's docstring and are printed under the ranking, so a leader can
redo the sum by hand. Exports (XLSX, PDF) are Flask routes in dashboards.export, linked from the page for the
period shown.

``create_app`` calls ``register_pages()`` and then ``register_callbacks(app, data, pdf_font)``. The figures come from
the ``LeadersData`` installed on the Flask app with ``install(app, leaders_data)``; without one, a
``PostgresLeadersData`` is built on the wall data's connection pool.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import dash
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate
from flask import Flask, current_app, has_app_context
from psycopg_pool import ConnectionPool

from dashboards import export
from dashboards.auth import User
from dashboards.figures import BLANK_STYLE, MAP_BACKGROUND, fit_view
from dashboards.leaders_data import (
    GRANULARITIES,
    Granularity,
    KpiLine,
    LeadersData,
    LeadersReport,
    Period,
    PostgresLeadersData,
    Trend,
    UnitScore,
    format_change,
    format_value,
    is_better,
)
from dashboards.pages import EXPORT_ROLES, Page, register, session_user
from ioc.errors import SinkUnavailable
from ioc.i18n import normalise_lang, t
from ioc.number_format import format_number, format_percent, plotly_separators

logger = logging.getLogger(__name__)

PATH = "/leaders"
PAGE_ROLES: frozenset[str] = frozenset({"leader", "admin"})
LEADERS_DATA = "ioc_leaders"
DEFAULT_GRANULARITY: Granularity = "month"
TREND_PERIODS: dict[str, int] = {"month": 24, "quarter": 12, "year": 8}

GOOD, BAD, NEUTRAL, MUTED = "#2fb36d", "#eb4d4b", "#e5e9f0", "#93a4c3"
_TABLE = {"width": "100%", "borderCollapse": "collapse", "fontSize": "1.05rem"}
_CELL = {"padding": "0.35rem 0.6rem", "borderBottom": "1px solid #24324d", "textAlign": "left"}
_NUM = {**_CELL, "textAlign": "right", "fontVariantNumeric": "tabular-nums", "whiteSpace": "nowrap"}
_HEAD = {**_CELL, "verticalAlign": "bottom"}
_HEAD_NUM = {**_HEAD, "textAlign": "right"}  # headings wrap; the numbers under them do not


# --- wiring ---------------------------------------------------------------------------------------------


def register_pages() -> None:
    """Register the leaders' page (idempotent)."""
    register(Page(PATH, "leaders.title", PAGE_ROLES, layout, rotates=False))


def install(app: dash.Dash | Flask, data: LeadersData) -> None:
    """Give an app the leaders' data source explicitly (tests, or a deployment with its own pool)."""
    server = app.server if isinstance(app, dash.Dash) else app
    server.extensions[LEADERS_DATA] = data


def register_callbacks(app: dash.Dash, data: Any, pdf_font: Path) -> None:
    """Add the leaders' callbacks and export routes to the app (``pdf_font``: the TTF the PDF embeds); build the
    data source from the wall's pool."""
    server: Flask = app.server
    if LEADERS_DATA not in server.extensions:
        source = _from_wall_data(server, data)
        if source is not None:
            server.extensions[LEADERS_DATA] = source
    export.install_routes(server, _source_of, pdf_font)
    _register(app)


def _from_wall_data(server: Flask, data: Any) -> LeadersData | None:
    # The wall's data adapter owns the pool; the leaders share it rather than opening a second one.
    pool = getattr(data, "pool", None)  # PostgresWallData.pool; other adapters (tests) may have none
    context = server.extensions.get("ioc_wall")  # dashboards.app.WALL_CONTEXT: the site being served
    site = getattr(context, "site", None)
    if not isinstance(pool, ConnectionPool) or site is None:
        logger.warning(
            "leaders' panels: no PostgreSQL pool on the wall data; call dashboards.leaders.install()"
        )
        return None
    return PostgresLeadersData(pool, site)


def _source_of(server: Flask) -> LeadersData | None:
    source: LeadersData | None = server.extensions.get(LEADERS_DATA)
    return source


def _source() -> LeadersData | None:
    return _source_of(current_app) if has_app_context() else None


def _today(source: LeadersData) -> date | None:
    today = getattr(source, "today", None)  # PostgresLeadersData.today(): the site's local date
    return today() if callable(today) else None


def _commune_map() -> CommuneMap | None:
    """The communes' boundary file and the map's view, from the wall's context (the same /geo/ files)."""
    context = current_app.extensions.get("ioc_wall") if has_app_context() else None
    base = getattr(context, "map_base", None)
    if base is None:
        return None
    fine = base.boundaries.get("fine")
    if fine is None:
        return None
    view = fit_view(base.points, width_px=560, height_px=460)
    return CommuneMap(fine, view.lon, view.lat, view.zoom)


def allowed(user: User | None) -> bool:
    """Return whether a user may see the leaders' panels."""
    return user is not None and user.role in PAGE_ROLES


# --- layout ---------------------------------------------------------------------------------------------


def layout(lang: str, user: User) -> html.Div:
    """Build the page for one user: only the units of their scope, periods that have figures."""
    source = _source()
    if source is None:
        return _message(t("leaders.no_source", lang))
    units = source.catalog.in_scope(user.unit_scopes)
    if not units:
        return _message(t("leaders.no_units", lang))
    granularity, periods = DEFAULT_GRANULARITY, []
    try:
        # Months first; a site whose KPIs are all yearly opens on the first view that has figures.
        for granularity in (DEFAULT_GRANULARITY, *(g for g in GRANULARITIES if g != DEFAULT_GRANULARITY)):
            periods = source.periods(granularity, user.unit_scopes)
            if periods:
                break
        else:
            granularity = DEFAULT_GRANULARITY
    except SinkUnavailable as exc:
        logger.warning("leaders' page for %s: %s", user.username, exc)
        return _message(t("leaders.unavailable", lang))
    period = periods[0].key() if periods else None
    ranked = source.catalog.ranked_units(user.unit_scopes)
    default_unit = (ranked[0] if ranked else units[0]).code  # a commune: the units that report most figures
    kpis = source.catalog.kpis
    controls: list[Any] = [
        _control(
            t("leaders.granularity", lang),
            dcc.RadioItems(
                id="leaders-granularity",
                options=[{"label": t(f"leaders.granularity.{g}", lang), "value": g} for g in GRANULARITIES],
                value=granularity,
                inline=True,
                inputStyle={"marginRight": "0.3rem", "marginLeft": "0.8rem"},
                labelStyle={"color": NEUTRAL},
                style={"color": NEUTRAL},
            ),
        ),
        _control(
            t("leaders.period", lang),
            dcc.Dropdown(
                id="leaders-period",
                options=_period_options(periods, lang, _today(source)),
                value=period,
                clearable=False,
                style={"width": "12rem", "color": "#0b1220"},
            ),
        ),
        _control(
            t("leaders.unit", lang),
            dcc.Dropdown(
                id="leaders-unit",
                options=[{"label": u.name(lang), "value": u.code} for u in units],
                value=default_unit,
                clearable=False,
                style={"width": "18rem", "color": "#0b1220"},
            ),
        ),
    ]
    if user.role in EXPORT_ROLES:
        controls.append(
            html.Div(
                style={"display": "flex", "gap": "1rem", "alignItems": "flex-end"},
                children=[
                    html.A(
                        t("leaders.export.xlsx", lang),
                        id="leaders-export-xlsx",
                        className="wall-link",
                        href=export.export_href("xlsx", period, lang),
                    ),
                    html.A(
                        t("leaders.export.pdf", lang),
                        id="leaders-export-pdf",
                        className="wall-link",
                        href=export.export_href("pdf", period, lang),
                    ),
                ],
            )
        )
    return html.Div(
        id="leaders",
        className="leaders",
        style={
            "display": "flex",
            "flexDirection": "column",
            "gap": "0.9rem",
            "overflowY": "auto",
            "fontSize": "1.05rem",
        },
        children=[
            dcc.Store(id="leaders-lang", data=lang),
            html.Div(
                controls,
                className="panel",
                style={
                    "display": "flex",
                    "flexDirection": "row",
                    "gap": "1.6rem",
                    "flexWrap": "wrap",
                    "alignItems": "flex-end",
                    "flexShrink": 0,
                },
            ),
            html.Div(id="leaders-status", className="banner hidden"),
            html.Div(
                # Above the fold at 1080p: the ranking down the left, the map of the index and the trend beside
                # it, and the selected unit's indicators under those two (no empty half beside a long column).
                style={
                    "display": "grid",
                    "gridTemplateColumns": "minmax(0, 4fr) minmax(0, 3fr) minmax(0, 5fr)",
                    "gridTemplateRows": "auto 1fr",
                    "gap": "0.9rem",
                    "alignItems": "start",
                },
                children=[
                    html.Section(
                        className="panel",
                        style={"gridRow": "1 / span 2"},
                        children=[
                            html.Div(html.H2(id="leaders-ranking-title"), className="panel-head"),
                            dcc.Graph(id="leaders-ranking-chart", config={"displayModeBar": False}),
                            html.Div(id="leaders-ranking"),
                            html.Div(
                                id="leaders-method",
                                className="wall-muted",
                                style={"fontSize": "0.9rem", "marginTop": "0.6rem"},
                            ),
                        ],
                    ),
                    html.Section(
                        className="panel",
                        children=[
                            html.Div(html.H2(id="leaders-map-title"), className="panel-head"),
                            dcc.Graph(
                                id="leaders-map",
                                config={"displayModeBar": False, "scrollZoom": False},
                                style={"height": "30rem"},
                            ),
                        ],
                    ),
                    html.Section(
                        className="panel",
                        children=[
                            html.Div(
                                className="panel-head",
                                style={"flexWrap": "wrap", "gap": "0.5rem"},
                                children=[
                                    html.H2(t("leaders.panel.trend", lang)),
                                    dcc.Dropdown(
                                        id="leaders-kpi",
                                        options=[{"label": k.name(lang), "value": k.id} for k in kpis],
                                        value=kpis[0].id if kpis else None,
                                        clearable=False,
                                        style={"width": "100%", "minWidth": "20rem", "color": "#0b1220"},
                                    ),
                                ],
                            ),
                            dcc.Graph(
                                id="leaders-trend", config={"displayModeBar": False}, style={"height": "26rem"}
                            ),
                        ],
                    ),
                    html.Section(
                        className="panel",
                        style={"gridColumn": "2 / span 2"},
                        children=[
                            html.Div(html.H2(id="leaders-kpis-title"), className="panel-head"),
                            html.Div(id="leaders-kpis", style={"overflowX": "auto"}),
                        ],
                    ),
                ],
            ),
        ],
    )


def _message(text: str) -> html.Div:
    return html.Div(html.Div(text, className="alerts-none"), id="leaders", className="panel")


def _control(label: str, component: Any) -> html.Div:
    return html.Div([html.Label(label, className="wall-muted", style={"display": "block"}), component])


def _period_options(periods: list[Period], lang: str, today: date | None) -> list[dict[str, str]]:
    # A period in progress says so in the list too: 'Năm 2026 (đến nay)'.
    return [{"label": p.label_as_of(lang, today), "value": p.key()} for p in periods]


# --- callbacks ------------------------------------------------------------------------------------------


def _checked_user() -> User:
    user = session_user()
    if not allowed(user):
        # A session without the role never gets the leaders' figures, whatever it posts to Dash.
        raise PreventUpdate
    assert user is not None
    return user


def _register(app: dash.Dash) -> None:
    @app.callback(
        Output("leaders-period", "options"),
        Output("leaders-period", "value"),
        Input("leaders-granularity", "value"),
        State("leaders-period", "value"),
        State("leaders-lang", "data"),
        prevent_initial_call=True,
    )
    def periods(granularity: str | None, current: str | None, lang_choice: str | None) -> tuple[Any, Any]:
        user = _checked_user()
        source = _source()
        if source is None or granularity not in GRANULARITIES:
            raise PreventUpdate
        lang = normalise_lang(lang_choice)
        try:
            found = source.periods(granularity, user.unit_scopes)
        except SinkUnavailable as exc:
            # The panels callback shows the banner for the same cause; the list keeps its last periods.
            logger.warning("leaders' periods for %s: %s", user.username, exc)
            raise PreventUpdate from exc
        keep = None
        if current:
            try:
                keep = Period.parse(current).at(granularity)
            except ValueError:
                keep = None
        value = keep.key() if keep in found else (found[0].key() if found else None)
        return _period_options(found, lang, _today(source)), value

    outputs = [
        Output("leaders-ranking-title", "children"),
        Output("leaders-ranking-chart", "figure"),
        Output("leaders-ranking-chart", "style"),
        Output("leaders-map-title", "children"),
        Output("leaders-map", "figure"),
        Output("leaders-ranking", "children"),
        Output("leaders-method", "children"),
        Output("leaders-kpis-title", "children"),
        Output("leaders-kpis", "children"),
        Output("leaders-status", "children"),
        Output("leaders-status", "className"),
    ]

    @app.callback(
        *outputs,
        Input("leaders-period", "value"),
        Input("leaders-unit", "value"),
        State("leaders-lang", "data"),
    )
    def panels(period_key: str | None, unit: str | None, lang_choice: str | None) -> tuple[Any, ...]:
        user = _checked_user()
        source = _source()
        lang = normalise_lang(lang_choice)
        if source is None:
            raise PreventUpdate
        if not period_key:
            return (
                "", _empty_figure(), dash.no_update, "", _empty_figure(), "", "", "", "",
                t("leaders.no_data", lang), "banner",
            )
        try:
            view = Period.parse(period_key)
        except ValueError as exc:
            logger.info("leaders: bad period from %s: %s", user.username, exc)
            raise PreventUpdate from exc
        try:
            report = source.report(view, user.unit_scopes)
        except SinkUnavailable as exc:
            logger.warning("leaders' panels for %s: %s", user.username, exc)
            return (dash.no_update,) * 9 + (t("leaders.unavailable", lang), "banner")
        chosen = report.score_of(unit or "")  # a unit outside the scope is simply not in the report
        label = report.label(lang)
        ranking = ranking_figure(report, lang)
        return (
            t("leaders.panel.ranking", lang, period=label),
            ranking,
            {"height": f"{ranking['layout']['height']}px"},
            t("leaders.panel.map", lang, period=label),
            index_map_figure(report, unit, _commune_map(), lang),
            ranking_table(report, lang),
            method_note(report, lang),
            t(
                "leaders.panel.kpis",
                lang,
                unit=chosen.unit.name(lang) if chosen else "—",
                period=label,
            ),
            kpi_table(chosen, lang, report.today) if chosen else "",
            "",
            "banner hidden",
        )

    @app.callback(
        Output("leaders-unit", "value"),
        Input("leaders-map", "clickData"),
        prevent_initial_call=True,
    )
    def unit_from_map(click: dict[str, Any] | None) -> str:
        """A click on a commune of the index map selects it, if it is in the user's scope (checked here)."""
        user = _checked_user()
        source = _source()
        points = (click or {}).get("points") or []
        code = points[0].get("location") if points else None
        if source is None or not code or code not in {u.code for u in source.catalog.in_scope(user.unit_scopes)}:
            raise PreventUpdate
        return str(code)

    @app.callback(
        Output("leaders-export-xlsx", "href"),
        Output("leaders-export-pdf", "href"),
        Input("leaders-period", "value"),
        State("leaders-lang", "data"),
    )
    def export_links(period_key: str | None, lang_choice: str | None) -> tuple[str, str]:
        _checked_user()
        lang = normalise_lang(lang_choice)
        return export.export_href("xlsx", period_key, lang), export.export_href("pdf", period_key, lang)

    @app.callback(
        Output("leaders-trend", "figure"),
        Input("leaders-period", "value"),
        Input("leaders-unit", "value"),
        Input("leaders-kpi", "value"),
        State("leaders-lang", "data"),
    )
    def trend(period_key: str | None, unit: str | None, kpi_id: str | None, lang_choice: str | None) -> Any:
        user = _checked_user()
        source = _source()
        if source is None or not period_key or not unit or not kpi_id:
            raise PreventUpdate
        lang = normalise_lang(lang_choice)
        try:
            view = Period.parse(period_key)
            series = source.trend(kpi_id, unit, view, TREND_PERIODS[view.kind], user.unit_scopes)
        except (ValueError, KeyError, PermissionError) as exc:
            logger.info("leaders: trend refused for %s: %s", user.username, exc)
            raise PreventUpdate from exc
        except SinkUnavailable as exc:
            logger.warning("leaders' trend for %s: %s", user.username, exc)
            return dash.no_update
        unit_name = source.catalog.unit(unit).name(lang)
        return trend_figure(series, unit_name, lang, _today(source))


# --- building blocks (pure) ---------------------------------------------------------------------------------


def ranking_table(report: LeadersReport, lang: str) -> html.Table:
    """The communes, best first: rank, name, points of the maximum, index, change, KPIs reported."""
    head = [
        html.Th(t("leaders.col.rank", lang), style=_HEAD_NUM),
        html.Th(t("leaders.col.unit", lang), style=_HEAD),
        html.Th(t("leaders.col.points", lang), style=_HEAD_NUM),
        html.Th(t("leaders.col.index", lang), style=_HEAD_NUM),
        html.Th(t("leaders.col.index_change", lang), style=_HEAD_NUM),
        html.Th(t("leaders.col.reported", lang), style=_HEAD_NUM),
    ]
    rows = [html.Tr(head)]
    for s in report.scores:
        change = s.index_change
        colour = NEUTRAL if change is None or abs(change) < 1e-9 else (GOOD if change > 0 else BAD)
        was = t("leaders.rank_was", lang, rank=s.previous_rank) if s.previous_rank is not None else ""
        rows.append(
            html.Tr(
                id=f"leaders-rank-{s.unit.code}",
                children=[
                    html.Td(str(s.rank), style=_NUM),
                    html.Td(s.unit.name(lang), style=_CELL),
                    html.Td(
                        t(
                            "leaders.points_of",
                            lang,
                            points=format_number(s.points, lang, 1),
                            max=format_number(s.max_points, lang, 0),
                        ),
                        style=_NUM,
                    ),
                    html.Td(format_number(s.index, lang, 1), style={**_NUM, "fontWeight": 700}),
                    html.Td(
                        [
                            export.signed(change, lang),
                            html.Div(was, className="wall-muted", style={"fontSize": "0.85rem"}),
                        ],
                        style={**_NUM, "color": colour},
                    ),
                    html.Td(t("leaders.reported_of", lang, n=s.reported, m=s.expected), style=_NUM),
                ],
            )
        )
    return html.Table(rows, style=_TABLE)


def method_note(report: LeadersReport, lang: str) -> list[Any]:
    """The index's rule in words, with the KPIs that are not scored and those not due yet in this view."""
    cat = report.catalog
    note: list[Any] = [html.Div(t("leaders.method", lang, max=format_number(report.max_points, lang, 0)))]
    unscored = [k.name(lang) for k in cat.kpis if k.weight > 0 and not k.scored]
    if unscored:
        note.append(html.Div(t("leaders.not_scored", lang, names="; ".join(unscored))))
    lines = report.scores[0].lines if report.scores else ()
    not_due = [ln.kpi.name(lang) for ln in lines if ln.kpi.scored and not ln.due]
    if not_due:
        note.append(
            html.Div(
                t("leaders.not_due_note", lang, names="; ".join(not_due)), id="leaders-not-due-note"
            )
        )
    if report.period.partial:
        note.append(
            html.Div(
                t("leaders.compared_with", lang, period=report.period.previous().label(lang)),
                id="leaders-compared-with",
            )
        )
    return note


def status_of(line: KpiLine, lang: str) -> tuple[str, str]:
    """Return the status text and its colour of one KPI line."""
    if not line.due:
        return t("leaders.status.not_due", lang), MUTED
    if line.value is None:
        return t("leaders.status.missing", lang), MUTED
    if line.target is None:
        return t("leaders.status.no_target", lang), MUTED
    return (t("leaders.status.met", lang), GOOD) if line.met else (t("leaders.status.missed", lang), BAD)


def _change_cell(line: KpiLine, change: float | None, lang: str) -> html.Td:
    better = is_better(line.kpi, change)
    colour = NEUTRAL if better is None else (GOOD if better else BAD)
    return html.Td(format_change(line.kpi.unit, change, lang), style={**_NUM, "color": colour})


def _line_meta(line: KpiLine, lang: str, today: date | None = None) -> str:
    """The figure's period, the KPI's weight and baseline: 'Năm 2025 · trọng số 10 · mốc 2022: 36,0 %'."""
    meta = line.period.label_as_of(lang, today)
    if line.kpi.weight:
        meta += f" · {t('leaders.col.weight', lang).lower()} {format_number(line.kpi.weight, lang, 0)}"
    if line.kpi.baseline is not None:
        base = format_value(line.kpi.unit, line.kpi.baseline, lang)
        meta += " · " + t("leaders.baseline", lang, as_of=line.kpi.baseline_as_of or "", value=base)
    return meta


def kpi_table(score: UnitScore, lang: str, today: date | None = None) -> html.Table:
    """One unit's KPIs: actual, target, attainment, comparisons, status; period and weight under the name."""
    head = [
        html.Th(t("leaders.col.kpi", lang), style=_HEAD),
        html.Th(t("leaders.col.value", lang), style=_HEAD_NUM),
        html.Th(t("leaders.col.target", lang), style=_HEAD_NUM),
        html.Th(t("leaders.col.attainment", lang), style=_HEAD_NUM),
        html.Th(t("leaders.col.previous", lang), style=_HEAD_NUM),
        html.Th(t("leaders.col.last_year", lang), style=_HEAD_NUM),
        html.Th(t("leaders.col.status", lang), style=_HEAD),
    ]
    rows = [html.Tr(head)]
    for ln in score.lines:
        text, colour = status_of(ln, lang)
        rows.append(
            html.Tr(
                id=f"leaders-kpi-{ln.kpi.id}",
                children=[
                    html.Td(
                        [
                            html.Div(ln.kpi.name(lang)),
                            html.Div(
                                _line_meta(ln, lang, today), className="wall-muted", style={"fontSize": "0.85rem"}
                            ),
                        ],
                        style={**_CELL, "minWidth": "16rem"},
                    ),
                    html.Td(format_value(ln.kpi.unit, ln.value, lang), style={**_NUM, "fontWeight": 700}),
                    html.Td(format_value(ln.kpi.unit, ln.target, lang), style=_NUM),
                    html.Td(
                        format_percent(None if ln.attainment is None else 100 * ln.attainment, lang),
                        style=_NUM,
                    ),
                    _change_cell(ln, ln.change_previous, lang),
                    _change_cell(ln, ln.change_last_year, lang),
                    html.Td(text, style={**_CELL, "color": colour, "fontWeight": 600}),
                ],
            )
        )
    return html.Table(rows, style=_TABLE)


def _layout_base() -> dict[str, Any]:
    return {
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"color": NEUTRAL, "size": 15},
        "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
    }


# Figures are plain dicts, as on the wall: plotly.graph_objects would validate every property on each call.
Figure = dict[str, Any]


def _empty_figure() -> Figure:
    return {
        "data": [],
        "layout": {**_layout_base(), "xaxis": {"visible": False}, "yaxis": {"visible": False}},
    }


def ranking_figure(report: LeadersReport, lang: str) -> Figure:
    """Horizontal bars of the communes' indexes, best on top, numbers written Vietnamese style.

    The figure is as tall as its bars need (``layout.height``, which the page gives the graph), and its
    margins make room for the tick labels and the axis title below the bars: with a fixed 16rem graph and a
    10 px margin they fell under the table's header and the title sat on the bars (issue 15, item 9).
    """
    scores = list(reversed(report.scores))
    bar = {
        "type": "bar",
        "x": [s.index or 0.0 for s in scores],
        "y": [s.unit.name(lang) for s in scores],
        "orientation": "h",
        "text": [format_number(s.index, lang, 1) for s in scores],
        "textposition": "auto",
        "marker": {"color": "#4c9be8"},
        "hovertemplate": "%{y}: %{text}<extra></extra>",
    }
    layout = {
        **_layout_base(),
        "height": RANKING_BASE_PX + RANKING_BAR_PX * max(len(scores), 1),
        "margin": {"l": 10, "r": 16, "t": 6, "b": 64},
        "xaxis": {
            "range": [0, 100],
            "gridcolor": "#24324d",
            "automargin": True,
            "title": {"text": t("leaders.chart.index", lang), "standoff": 12},
        },
        "yaxis": {"automargin": True},
        "separators": plotly_separators(lang),
    }
    return {"data": [bar], "layout": layout}


RANKING_BASE_PX, RANKING_BAR_PX = 90, 34


@dataclass(frozen=True)
class CommuneMap:
    """Where the communes' boundaries are served (the wall's /geo/ file) and the view that fits them."""

    geojson: dict[str, Any]  # the communes, inline: as a URL the map was drawn empty in the wall's Chromium
    lon: float
    lat: float
    zoom: float


INDEX_COLOURS = [[0.0, "#7a2e3a"], [0.5, "#c9a227"], [1.0, "#2fb36d"]]  # low red-brown, mid ochre, high green


def index_map_figure(report: LeadersReport, selected: str | None, where: CommuneMap | None, lang: str) -> Figure:
    """A choropleth of the leaders' index by commune, on the inline blank style (no tiles, no network).

    The boundaries are the site's commune GeoJSON the wall already serves; each commune's hover gives its name,
    index, rank and the period in the page's language; the selected commune is outlined in white on top.
    """
    if where is None or not report.scores:
        return _empty_figure()
    scores = report.scores
    codes = [s.unit.code for s in scores]
    hover = [
        t(
            "leaders.map.hover",
            lang,
            unit=s.unit.name(lang),
            index=format_number(s.index, lang, 1),
            rank=s.rank,
            n=len(scores),
            change=export.signed(s.index_change, lang),
        )
        for s in scores
    ]
    # Only the communes the user may see: the file names every commune of the site.
    shown = {"type": "FeatureCollection", "features": [
        f for f in where.geojson.get("features", []) if f.get("properties", {}).get("code") in set(codes)
    ]}
    data: list[dict[str, Any]] = [
        {
            "type": "choroplethmap",
            "geojson": shown,
            "featureidkey": "properties.code",
            "locations": codes,
            "z": [s.index if s.index is not None else 0.0 for s in scores],
            "zmin": 0,
            "zmax": 100,
            "colorscale": INDEX_COLOURS,
            "marker": {"opacity": 0.85, "line": {"color": "#0b1220", "width": 1}},
            "text": hover,
            "hovertemplate": "%{text}<extra></extra>",
            "colorbar": {
                "title": {"text": t("leaders.chart.index", lang), "side": "right"},
                "thickness": 12,
                "len": 0.8,
                "outlinewidth": 0,
            },
        }
    ]
    if selected in codes:
        data.append(
            {
                "type": "choroplethmap",
                "geojson": shown,
                "featureidkey": "properties.code",
                "locations": [selected],
                "z": [1],
                "colorscale": [[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0)"]],
                "showscale": False,
                "marker": {"line": {"color": "#ffffff", "width": 4}},
                "hoverinfo": "skip",
                "name": "selected",
            }
        )
    layout = {
        **_layout_base(),
        "paper_bgcolor": MAP_BACKGROUND,
        "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
        "map": {"style": BLANK_STYLE, "center": {"lon": where.lon, "lat": where.lat}, "zoom": where.zoom},
        "separators": plotly_separators(lang),
        "uirevision": "leaders-map",
    }
    return {"data": data, "layout": layout}


def trend_figure(trend: Trend, unit_name: str, lang: str, today: date | None = None) -> Figure:
    """The unit's line, the communes' average and the target, by period; a period in progress says "so far".

    The y axis makes room for its labels ('97,5 %' was cut to '%' by a 10 px margin) and the legend sits above
    the plot, clear of the period labels.
    """
    labels = [p.period.label_as_of(lang, today) for p in trend.points]
    kpi = trend.kpi
    average = t("leaders.trend.average", lang)
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "x": labels,
            "y": [p.value for p in trend.points],
            "name": unit_name,
            "mode": "lines+markers",
            "line": {"color": "#4c9be8", "width": 3},
            "text": [format_value(kpi.unit, p.value, lang) for p in trend.points],
            "hovertemplate": "%{x}: %{text}<extra>" + unit_name + "</extra>",
        },
        {
            "type": "scatter",
            "x": labels,
            "y": [p.scope_average for p in trend.points],
            "name": average,
            "mode": "lines",
            "line": {"color": MUTED, "dash": "dot"},
            "text": [format_value(kpi.unit, p.scope_average, lang) for p in trend.points],
            "hovertemplate": "%{x}: %{text}<extra>" + average + "</extra>",
        },
    ]
    if any(p.target is not None for p in trend.points):
        data.append(
            {
                "type": "scatter",
                "x": labels,
                "y": [p.target for p in trend.points],
                "name": t("leaders.trend.target", lang),
                "mode": "lines",
                "line": {"color": GOOD, "dash": "dash"},
                "hoverinfo": "skip",
            }
        )
    layout = {
        **_layout_base(),
        "margin": {"l": 10, "r": 16, "t": 36, "b": 10},
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        "yaxis": {
            "gridcolor": "#24324d",
            "automargin": True,
            "ticksuffix": (" %" if lang != "en" else "%") if kpi.unit == "%" else "",
        },
        "xaxis": {"type": "category", "automargin": True, "gridcolor": "#24324d"},
        "separators": plotly_separators(lang),
    }
    return {"data": data, "layout": layout}
