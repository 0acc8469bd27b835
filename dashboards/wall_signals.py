"""The wall page of public signals ("/signals"), for operators and admins: news items that named a place and a hazard.

Each row is one feed item that matched (``analytics.signals``): its headline as a link to the article (opened in a
new tab), the feed, its topics in the reader's language, the communes and villages it named, and when it was
published in the site's zone; items made by the demo are marked simulated. Only items about places in the user's
unit scopes are listed, filtered in the query. The spike alerts these items raise are in the alert feed like any
other; this page is the evidence behind them. The panel says how old its list is and turns amber when it could not
be read for a while.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dash
from dash import Input, Output, State, html

from dashboards.auth import User
from dashboards.data import SignalItemView, WallData
from dashboards.format import age_seconds, format_age
from dashboards.pages import Page, listing_page, register, session_user
from dashboards.wall_detail import local_time
from dashboards.wall_scope import scope_of
from ioc import i18n
from ioc.config.models import SiteConfig
from ioc.errors import SinkUnavailable
from ioc.events import utcnow
from ioc.i18n import normalise_lang, t

logger = logging.getLogger(__name__)

SIGNAL_ROLES: frozenset[str] = frozenset({"operator", "admin"})
WINDOW_HOURS = 48
LIMIT = 200
REFRESH_MS = 30_000
STALE_AFTER_S = 120.0

i18n.register(
    {
        "wall.page.signals": ("Tin công khai", "Public signals"),
        "wall.panel.signals": (
            "Tin báo chí, trang chính thức nhắc đến địa bàn và sự cố ({hours} giờ qua)",
            "News and official pages naming a place and a hazard (last {hours} hours)",
        ),
        "wall.signals.none": ("Không có tin nào khớp", "No matching items"),
        "wall.signals.count": ("{n} tin", "{n} items"),
        "wall.signals.forbidden": (
            "Trang này dành cho cán bộ trực và quản trị", "This page is for operators and administrators"
        ),
        "wall.signals.simulated": ("mô phỏng", "simulated"),
    }
)


def register_signals_page() -> None:
    """Register the page (idempotent)."""
    register(Page("/signals", "wall.page.signals", SIGNAL_ROLES, signals_layout))


def signals_layout(lang: str, user: User) -> html.Main:
    """The page: one panel listing the matched items of the last ``WINDOW_HOURS`` in the user's scope."""
    return listing_page("signals", t("wall.panel.signals", lang, hours=WINDOW_HOURS), REFRESH_MS)


def register_signals_callbacks(app: dash.Dash, data: WallData, site: SiteConfig) -> None:
    """Register the panel's refresh."""
    tz = ZoneInfo(site.site.timezone)

    @app.callback(
        Output("signals", "children"),
        Output("signals-count", "children"),
        Output("signals-age", "children"),
        Output("signals-age", "className"),
        Output("signals-read-at", "data"),
        Input("signals-tick", "n_intervals"),
        State("signals-read-at", "data"),
        State("lang", "data"),
    )
    def refresh(_tick: int | None, read_at: str | None, lang_choice: str | None) -> tuple[Any, ...]:
        return refresh_signals(data, site, tz, session_user(), read_at, normalise_lang(lang_choice))


def refresh_signals(
    data: WallData, site: SiteConfig, tz: ZoneInfo, user: User | None, read_at: str | None, lang: str
) -> tuple[Any, ...]:
    """Compute the panel's outputs for one user; with the database down keep the list and let the age grow."""
    now = utcnow()
    if user is None or user.role not in SIGNAL_ROLES:
        refused = html.Div(t("wall.signals.forbidden", lang), id="signals-forbidden", className="detail-error")
        return refused, "", "", "age", None
    try:
        items = data.signal_items(now - timedelta(hours=WINDOW_HOURS), lang, scope_of(site, user), LIMIT)
    except SinkUnavailable as exc:
        logger.warning("wall: public signals not refreshed: %s", exc)
        last = datetime.fromisoformat(read_at) if read_at else None
        seconds = age_seconds(last, now)
        stale = "age stale" if seconds is None or seconds > STALE_AFTER_S else "age"
        return dash.no_update, dash.no_update, format_age(seconds, lang), stale, read_at
    return signal_rows(items, lang, tz), t("wall.signals.count", lang, n=len(items)), format_age(0.0, lang), "age", \
        now.isoformat()


def signal_rows(items: Sequence[SignalItemView], lang: str, tz: ZoneInfo) -> list[Any]:
    """Render the items, newest first: the headline linking to the article, topics, places, feed and time."""
    if not items:
        return [html.Div(t("wall.signals.none", lang), className="alerts-none", id="signals-none")]
    out: list[Any] = []
    for item in items:
        meta = [local_time(item.at, tz), item.feed]
        if item.simulated:
            meta.append(t("wall.signals.simulated", lang))
        headline: Any = (
            html.A(item.title, href=item.url, target="_blank", rel="noopener noreferrer", className="signal-link")
            if item.url else html.Span(item.title)
        )
        out.append(
            html.Div(
                id=f"signal-{item.event_id}",
                className="alert signal" + (" simulated" if item.simulated else ""),
                children=[
                    html.Div(className="alert-head", children=[
                        html.Span(", ".join(item.topics), className="signal-topics"),
                        html.Span(", ".join(item.places), className="signal-places"),
                    ]),
                    html.Div(headline, className="alert-msg"),
                    html.Div(" · ".join(meta), className="alert-meta"),
                ],
            )
        )
    return out
