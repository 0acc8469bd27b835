"""The leaders' panels at ``/leaders``: KPIs by unit against targets, trends, the communes' ranking, exports.

Leaders and admins only (operators get the page-not-found answer, and every callback and export refuses them
too). Everything is limited to the user's ``unit_scopes`` in the queries (dashboards.leaders_data). The index,
its weights and its rules are in leaders_data's docstring and are printed under the ranking, so a leader can
redo the sum by hand. Exports (XLSX, PDF) are Flask routes in dashboards.export, linked from the page for the
period shown.

``create_app`` calls ``register_pages()`` and then ``register_callbacks(app, data)``. The figures come from
the ``LeadersData`` installed on the Flask app with ``install(app, leaders_data)``; without one, a
``PostgresLeadersData`` is built on the wall data's connection pool.
"""

from __future__ import annotations

import logging
from typing import Any

import dash
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate
from flask import Flask, current_app, has_app_context
from psycopg_pool import ConnectionPool

from dashboards import export
from dashboards.auth import User
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


def register_callbacks(app: dash.Dash, data: Any) -> None:
    """Add the leaders' callbacks and export routes to the app; build the data source from the wall's pool."""
    server: Flask = app.server
    if LEADERS_DATA not in server.extensions:
        source = _from_wall_data(server, data)
        if source is not None:
            server.extensions[LEADERS_DATA] = source
    export.install_routes(server, _source_of)
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
                options=_period_options(periods, lang),
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
                style={
                    "display": "grid",
                    "gridTemplateColumns": "minmax(0, 5fr) minmax(0, 6fr)",
                    "gap": "0.9rem",
                },
                children=[
                    html.Section(
                        className="panel",
                        children=[
                            html.Div(html.H2(id="leaders-ranking-title"), className="panel-head"),
                            dcc.Graph(
                                id="leaders-ranking-chart",
                                config={"displayModeBar": False},
                                style={"height": "16rem"},
                            ),
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
                            html.Div(html.H2(id="leaders-kpis-title"), className="panel-head"),
                            html.Div(id="leaders-kpis", style={"overflowX": "auto"}),
                        ],
                    ),
                ],
            ),
            html.Section(
                className="panel",
                style={"flexShrink": 0},
                children=[
                    html.Div(
                        className="panel-head",
                        children=[
                            html.H2(t("leaders.panel.trend", lang)),
                            dcc.Dropdown(
                                id="leaders-kpi",
                                options=[{"label": k.name(lang), "value": k.id} for k in kpis],
                                value=kpis[0].id if kpis else None,
                                clearable=False,
                                style={"width": "34rem", "color": "#0b1220"},
                            ),
                        ],
                    ),
                    dcc.Graph(
                        id="leaders-trend", config={"displayModeBar": False}, style={"height": "20rem"}
                    ),
                ],
            ),
        ],
    )


def _message(text: str) -> html.Div:
    return html.Div(html.Div(text, className="alerts-none"), id="leaders", className="panel")


def _control(label: str, component: Any) -> html.Div:
    return html.Div([html.Label(label, className="wall-muted", style={"display": "block"}), component])


def _period_options(periods: list[Period], lang: str) -> list[dict[str, str]]:
    return [{"label": p.label(lang), "value": p.key()} for p in periods]


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
        return _period_options(found, lang), value

    outputs = [
        Output("leaders-ranking-title", "children"),
        Output("leaders-ranking-chart", "figure"),
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
            return ("", _empty_figure(), "", "", "", "", t("leaders.no_data", lang), "banner")
        try:
            view = Period.parse(period_key)
        except ValueError as exc:
            logger.info("leaders: bad period from %s: %s", user.username, exc)
            raise PreventUpdate from exc
        try:
            report = source.report(view, user.unit_scopes)
        except SinkUnavailable as exc:
            logger.warning("leaders' panels for %s: %s", user.username, exc)
            return (dash.no_update,) * 6 + (t("leaders.unavailable", lang), "banner")
        chosen = report.score_of(unit or "")  # a unit outside the scope is simply not in the report
        return (
            t("leaders.panel.ranking", lang, period=view.label(lang)),
            ranking_figure(report, lang),
            ranking_table(report, lang),
            method_note(report, lang),
            t(
                "leaders.panel.kpis",
                lang,
                unit=chosen.unit.name(lang) if chosen else "—",
                period=view.label(lang),
            ),
            kpi_table(chosen, lang) if chosen else "",
            "",
            "banner hidden",
        )

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
        return trend_figure(series, unit_name, lang)


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
    """The index's rule in words, with the KPIs that are not scored."""
    cat = report.catalog
    note: list[Any] = [html.Div(t("leaders.method", lang, max=format_number(cat.max_points, lang, 0)))]
    unscored = [k.name(lang) for k in cat.kpis if k.weight > 0 and not k.scored]
    if unscored:
        note.append(html.Div(t("leaders.not_scored", lang, names="; ".join(unscored))))
    return note


def status_of(line: KpiLine, lang: str) -> tuple[str, str]:
    """Return the status text and its colour of one KPI line."""
    if line.value is None:
        return t("leaders.status.missing", lang), MUTED
    if line.target is None:
        return t("leaders.status.no_target", lang), MUTED
    return (t("leaders.status.met", lang), GOOD) if line.met else (t("leaders.status.missed", lang), BAD)


def _change_cell(line: KpiLine, change: float | None, lang: str) -> html.Td:
    better = is_better(line.kpi, change)
    colour = NEUTRAL if better is None else (GOOD if better else BAD)
    return html.Td(format_change(line.kpi.unit, change, lang), style={**_NUM, "color": colour})


def _line_meta(line: KpiLine, lang: str) -> str:
    """The figure's period, the KPI's weight and baseline: 'Năm 2025 · trọng số 10 · mốc 2022: 36,0 %'."""
    meta = line.period.label(lang)
    if line.kpi.weight:
        meta += f" · {t('leaders.col.weight', lang).lower()} {format_number(line.kpi.weight, lang, 0)}"
    if line.kpi.baseline is not None:
        base = format_value(line.kpi.unit, line.kpi.baseline, lang)
        meta += " · " + t("leaders.baseline", lang, as_of=line.kpi.baseline_as_of or "", value=base)
    return meta


def kpi_table(score: UnitScore, lang: str) -> html.Table:
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
                                _line_meta(ln, lang), className="wall-muted", style={"fontSize": "0.85rem"}
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
    """Horizontal bars of the communes' indexes, best on top, numbers written Vietnamese style."""
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
        "xaxis": {
            "range": [0, 100],
            "gridcolor": "#24324d",
            "title": {"text": t("leaders.chart.index", lang)},
        },
        "yaxis": {"automargin": True},
        "separators": plotly_separators(lang),
    }
    return {"data": [bar], "layout": layout}


def trend_figure(trend: Trend, unit_name: str, lang: str) -> Figure:
    """The unit's line, the communes' average and the target, by period."""
    labels = [p.period.label(lang) for p in trend.points]
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
        "legend": {"orientation": "h", "y": -0.18},
        "yaxis": {"gridcolor": "#24324d", "ticksuffix": ("%" if lang == "en" else " %") if kpi.unit == "%" else ""},
        "xaxis": {"type": "category"},
        "separators": plotly_separators(lang),
    }
    return {"data": data, "layout": layout}
