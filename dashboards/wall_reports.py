"""The wall page of citizens' reports ("/reports"): a map of the open reports by category, their counts by
commune (open, due soon, overdue), the list by nearest deadline, and one report's detail.

The detail shows what was reported, its trail, and for the categories of ``reports.nearby`` (flooding and
landslides in the sample) the nearest flood station's newest level and alarm level and the nearest camera's newest
snapshot within ``radius_m``, each only when the user's scope covers it. Everything is filtered in the queries by
the user's unit scopes (``dashboards.data.reports``). The page says how old its data is and turns amber when it
could not be read for a minute.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import dash
from dash import Input, Output, State, dcc, html

from dashboards.auth import User
from dashboards.data.reports import CommuneReports, OpenReport, ReportDetail, ReportReader
from dashboards.figures import BLANK_STYLE, MAP_BACKGROUND, TEXT, MapBase, fit_view
from dashboards.format import age_seconds, format_age
from dashboards.pages import WALL_ROLES, Page, register, session_user
from dashboards.wall_detail import local_time
from dashboards.wall_scope import scope_of
from ioc import i18n
from ioc.config.models import ReportsConfig, SiteConfig
from ioc.errors import SinkUnavailable
from ioc.events import utcnow
from ioc.i18n import normalise_lang, t
from ioc.number_format import format_number

logger = logging.getLogger(__name__)

REFRESH_MS = 10_000
STALE_AFTER_S = 60.0
# One colour per category, in the order of reports.yaml (repeats after eight).
CATEGORY_COLOURS = ("#4fc3f7", "#ef5350", "#66bb6a", "#ffa726", "#ab47bc", "#ffee58", "#8d6e63", "#bdbdbd")

i18n.register(
    {
        "wall.page.reports": ("Phản ánh", "Reports"),
        "wall.reports.title": ("Phản ánh của người dân đang xử lý", "Citizens' reports being dealt with"),
        "wall.reports.count": ("{n} phản ánh", "{n} reports"),
        "wall.reports.none": ("Không có phản ánh nào đang mở", "No open reports"),
        "wall.reports.by_commune": ("Theo xã", "By commune"),
        "wall.reports.commune": ("Xã", "Commune"),
        "wall.reports.open": ("Đang mở", "Open"),
        "wall.reports.due_soon": ("Sắp đến hạn", "Due soon"),
        "wall.reports.overdue": ("Quá hạn", "Overdue"),
        "wall.reports.on_track": ("Trong hạn", "On track"),
        "wall.reports.deadline": ("Hạn xử lý", "Deadline"),
        "wall.reports.pick": ("Chọn phản ánh để xem chi tiết", "Pick a report to see its detail"),
        "wall.reports.unknown": ("Không có phản ánh này", "No such report"),
        "wall.reports.received": ("Tiếp nhận", "Received"),
        "wall.reports.closed": ("Đóng lúc", "Closed at"),
        "wall.reports.phone": ("Người gửi để lại số điện thoại (nhận SMS)", "The sender left a phone number (SMS)"),
        "wall.reports.trail": ("Các bước", "Steps"),
        "wall.reports.station": (
            "Trạm {name} (cách {distance} m): mực nước {value} m, {level}",
            "Station {name} ({distance} m away): water level {value} m, {level}",
        ),
        "wall.reports.station_silent": (
            "Trạm {name} (cách {distance} m): chưa có số liệu", "Station {name} ({distance} m away): no data yet",
        ),
        "wall.reports.level.0": ("dưới báo động I", "below alarm level I"),
        "wall.reports.camera": ("Camera {name} (cách {distance} m)", "Camera {name} ({distance} m away)"),
        "wall.reports.no_sensor": (
            "Không có trạm đo hay camera trong bán kính {radius} m",
            "No station or camera within {radius} m",
        ),
    }
)


def register_reports_page() -> None:
    """Register the page (idempotent)."""
    register(Page("/reports", "wall.page.reports", WALL_ROLES, reports_layout))


def reports_layout(lang: str, user: User) -> html.Main:
    """The page: the map and the communes' counts side by side, the list, and the detail of the picked report."""
    return html.Main(
        className="page-single",
        children=[
            dcc.Interval(id="reports-tick", interval=REFRESH_MS),
            dcc.Store(id="reports-read-at"),
            html.Section(
                className="panel panel-full",
                children=[
                    html.Div(className="panel-head", children=[
                        html.H2(t("wall.reports.title", lang)),
                        html.Span(id="reports-count", className="count"),
                        html.Span(id="reports-age", className="age"),
                    ]),
                    html.Div(className="reports-top", children=[
                        dcc.Graph(id="reports-map", config={"displayModeBar": False}, className="reports-map"),
                        html.Div(id="reports-communes", className="reports-communes"),
                    ]),
                    html.Div(id="reports-list", className="reports-list"),
                    dcc.Dropdown(id="reports-pick", placeholder=t("wall.reports.pick", lang), options=[]),
                    html.Div(id="reports-detail", className="detail-body"),
                ],
            ),
        ],
    )


def register_reports_callbacks(app: dash.Dash, reader: ReportReader, site: SiteConfig, base: MapBase) -> None:
    """Register the page's refresh and its detail."""
    tz = ZoneInfo(site.site.timezone)

    @app.callback(
        Output("reports-map", "figure"),
        Output("reports-communes", "children"),
        Output("reports-list", "children"),
        Output("reports-pick", "options"),
        Output("reports-count", "children"),
        Output("reports-age", "children"),
        Output("reports-age", "className"),
        Output("reports-read-at", "data"),
        Input("reports-tick", "n_intervals"),
        State("reports-read-at", "data"),
        State("lang", "data"),
    )
    def refresh(_tick: int | None, read_at: str | None, lang_choice: str | None) -> tuple[Any, ...]:
        return refresh_reports(reader, site, base, tz, session_user(), read_at, normalise_lang(lang_choice))

    @app.callback(Output("reports-detail", "children"), Input("reports-pick", "value"), State("lang", "data"))
    def detail(code: str | None, lang_choice: str | None) -> Any:
        return show_detail(reader, site, tz, session_user(), code, normalise_lang(lang_choice))


def refresh_reports(reader: ReportReader, site: SiteConfig, base: MapBase, tz: ZoneInfo, user: User | None,
                    read_at: str | None, lang: str) -> tuple[Any, ...]:
    """Compute the page's outputs for one user; with the database down keep them and let the age grow."""
    now = utcnow()
    scope = scope_of(site, user)
    try:
        reports = reader.open_reports(scope)
        communes = reader.by_commune(now, scope)
    except SinkUnavailable as exc:
        logger.warning("wall: reports not refreshed: %s", exc)
        seconds = age_seconds(datetime.fromisoformat(read_at) if read_at else None, now)
        stale = "age stale" if seconds is None or seconds > STALE_AFTER_S else "age"
        keep = dash.no_update
        return keep, keep, keep, keep, keep, format_age(seconds, lang), stale, read_at
    config = _config(site)
    options = [{"label": f"{r.code} · {_category(config, r.category, lang)} · {_area(site, r.commune_code)}",
                "value": r.code} for r in reports]
    return (
        reports_map(reports, config, base, lang),
        commune_table(communes, site, lang),
        report_rows(reports, reader, site, tz, now, lang),
        options,
        t("wall.reports.count", lang, n=len(reports)),
        format_age(0.0, lang),
        "age",
        now.isoformat(),
    )


def reports_map(reports: Sequence[OpenReport], config: ReportsConfig, base: MapBase, lang: str) -> dict[str, Any]:
    """The communes' outlines with one marker trace per category (its name in the legend)."""
    view = fit_view([*base.points, *((r.lon, r.lat) for r in reports)])
    data: list[dict[str, Any]] = []
    for i, category in enumerate(config.categories):
        mine = [r for r in reports if r.category == category.id]
        if not mine:
            continue
        data.append({
            "type": "scattermap", "mode": "markers", "name": _category(config, category.id, lang),
            "lon": [r.lon for r in mine], "lat": [r.lat for r in mine],
            "text": [f"{r.code} · {t(f'report.status.{r.status}', lang)}" for r in mine],
            "hovertemplate": "%{text}<extra></extra>",
            "marker": {"size": 16, "color": CATEGORY_COLOURS[i % len(CATEGORY_COLOURS)]},
        })
    return {
        "data": data,
        "layout": {
            "map": {"style": BLANK_STYLE, "center": {"lon": view.lon, "lat": view.lat}, "zoom": view.zoom,
                    "layers": base.layers},
            "margin": {"l": 0, "r": 0, "t": 0, "b": 0}, "paper_bgcolor": MAP_BACKGROUND,
            "font": {"color": TEXT, "size": 18}, "legend": {"x": 0, "y": 1}, "uirevision": "reports",
        },
    }


def commune_table(rows: Sequence[CommuneReports], site: SiteConfig, lang: str) -> html.Table:
    """Open, due-soon and overdue reports by commune, the most overdue first."""
    head = html.Tr([html.Th(t(k, lang)) for k in (
        "wall.reports.commune", "wall.reports.open", "wall.reports.due_soon", "wall.reports.overdue")])
    body = [
        html.Tr(id=f"reports-commune-{r.commune_code}", className="overdue" if r.overdue else "", children=[
            html.Td(_area(site, r.commune_code)), html.Td(str(r.open)), html.Td(str(r.due_soon)),
            html.Td(str(r.overdue)),
        ])
        for r in rows
    ]
    return html.Table(className="reports-by-commune", children=[html.Caption(t("wall.reports.by_commune", lang)),
                                                                 html.Thead(head), html.Tbody(body)])


def report_rows(reports: Sequence[OpenReport], reader: ReportReader, site: SiteConfig, tz: ZoneInfo,
                now: datetime, lang: str) -> list[Any]:
    """One line per open report, the nearest deadline first, marked due soon or overdue."""
    if not reports:
        return [html.Div(t("wall.reports.none", lang), className="alerts-none", id="reports-none")]
    config = _config(site)
    out: list[Any] = []
    for r in reports:
        state = r.state(now, reader.due_soon)
        out.append(html.Div(id=f"report-{r.code}", className=f"alert report report-{state}", children=[
            html.Div(className="alert-head", children=[
                html.Span(r.code, className="report-code"),
                html.Span(t(f"wall.reports.{state}", lang), className=f"report-state {state}"),
            ]),
            html.Div(r.description[:160], className="alert-msg"),
            html.Div(" · ".join([
                _category(config, r.category, lang), _area(site, r.commune_code), t(f"report.status.{r.status}", lang),
                f"{t('wall.reports.deadline', lang)} {local_time(r.deadline, tz)}",
            ]), className="alert-meta"),
        ]))
    return out


def show_detail(reader: ReportReader, site: SiteConfig, tz: ZoneInfo, user: User | None, code: str | None,
                lang: str) -> Any:
    """The picked report's detail: description, status, trail, nearby station level and camera snapshot."""
    if not code:
        return []
    try:
        found = reader.detail(code, scope_of(site, user))
    except SinkUnavailable as exc:
        logger.warning("wall: report %s not read: %s", code, exc)
        return dash.no_update
    if found is None:
        return html.Div(t("wall.reports.unknown", lang), id="reports-unknown", className="detail-error")
    return detail_view(found, reader, site, tz, lang)


def detail_view(found: ReportDetail, reader: ReportReader, site: SiteConfig, tz: ZoneInfo, lang: str) -> html.Div:
    """Render one report's detail."""
    r = found.report
    config = _config(site)
    lines: list[Any] = [
        html.H3(f"{r.code} · {_category(config, r.category, lang)} · {_area(site, r.commune_code)}",
                id="report-detail-title"),
        html.P(r.description, id="report-detail-description"),
        html.P(" · ".join([
            t(f"report.status.{r.status}", lang),
            f"{t('wall.reports.received', lang)} {local_time(r.created_at, tz)}",
            f"{t('wall.reports.deadline', lang)} {local_time(r.deadline, tz)}",
            *([f"{t('wall.reports.closed', lang)} {local_time(found.closed_at, tz)}"] if found.closed_at else []),
        ]), id="report-detail-status"),
    ]
    if found.phone_given:
        lines.append(html.P(t("wall.reports.phone", lang), className="report-phone"))
    lines.append(html.H4(t("wall.reports.trail", lang)))
    lines.append(html.Ul(id="report-detail-trail", children=[
        html.Li(" · ".join([local_time(s.at, tz), t(f"report.step.{s.action}", lang), s.actor,
                            *([s.note] if s.note else [])]))
        for s in found.steps
    ]))
    if r.category in config.nearby.categories:
        lines += sensors(found, config, lang)
    return html.Div(id="report-detail", children=lines)


def sensors(found: ReportDetail, config: ReportsConfig, lang: str) -> list[Any]:
    """The nearest station's level and the nearest camera's snapshot, or a line saying there is none."""
    out: list[Any] = []
    if found.station is not None and found.station.station is not None:
        s, distance = found.station.station, round(found.station.distance_m)
        if s.value is None:
            text = t("wall.reports.station_silent", lang, name=s.name, distance=distance)
        else:
            level = t(f"wall.alarm.inline.{s.level}", lang) if s.level else t("wall.reports.level.0", lang)
            text = t("wall.reports.station", lang, name=s.name, distance=distance,
                     value=format_number(s.value, lang, 2), level=level)
        out.append(html.P(text, id="report-station", className=f"report-station level-{s.level or 0}"))
    if found.camera is not None and found.camera.camera is not None:
        c, distance = found.camera.camera, round(found.camera.distance_m)
        out.append(html.Figure(id="report-camera", children=[
            html.Img(src=f"/snapshots/{c.id}.jpg", alt=c.name, className="report-snapshot"),
            html.Figcaption(t("wall.reports.camera", lang, name=c.name, distance=distance)),
        ]))
    if not out:
        out.append(html.P(t("wall.reports.no_sensor", lang, radius=round(config.nearby.radius_m)),
                          id="report-no-sensor"))
    return out


def _config(site: SiteConfig) -> ReportsConfig:
    assert site.reports is not None  # the page is registered only for a site with reports
    return site.reports


def _category(config: ReportsConfig, category_id: str, lang: str) -> str:
    found = next((c for c in config.categories if c.id == category_id), None)
    if found is None:
        return category_id
    return found.name if lang == "vi" else found.name_en


def _area(site: SiteConfig, code: str) -> str:
    found = next((a for a in site.areas if a.code == code), None)
    return found.name if found is not None else code
