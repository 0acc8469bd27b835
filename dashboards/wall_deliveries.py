"""The wall page of messages that failed for good ("/deliveries"), for operators and admins.

Each row is one notify_outbox row the sender gave up on (``ioc.notify.outbox``): when it failed, the alert
(its message rendered like the feed, with its short code and area), the officer by name, position and unit,
the channel by what it is and the reason as a sentence (``dashboards.words``; the provider's own words are the
reason's tooltip). Only alerts whose area the user's unit scopes cover are listed, filtered in the query. The panel
says how old its list is and turns amber when it could not be read for a while; a leader calling the
callback anyway is refused and the refusal is audited.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dash
from dash import Input, Output, State, html

from dashboards import strings as _strings  # noqa: F401  (registers the catalog)
from dashboards.auth import AuthStore, User
from dashboards.data import FailedDeliveryView, WallData
from dashboards.format import age_seconds, format_age, severity_colour
from dashboards.pages import Page, listing_page, register, session_user
from dashboards.wall_detail import local_time
from dashboards.wall_scope import scope_of
from dashboards.words import Words
from ioc.config.models import SiteConfig
from ioc.errors import SinkUnavailable
from ioc.events import utcnow
from ioc.i18n import normalise_lang, t

logger = logging.getLogger(__name__)

DELIVERY_ROLES: frozenset[str] = frozenset({"operator", "admin"})
WINDOW_HOURS = 24
LIMIT = 100
REFRESH_MS = 10_000
STALE_AFTER_S = 60.0  # read every 10 s: amber after a minute without a successful read


def register_deliveries_page() -> None:
    """Register the page (idempotent)."""
    register(Page("/deliveries", "wall.page.deliveries", DELIVERY_ROLES, deliveries_layout))


def deliveries_layout(lang: str, user: User) -> html.Main:
    """The page: one panel listing the failed messages of the last ``WINDOW_HOURS`` in the user's scope."""
    return listing_page("deliveries", t("wall.panel.deliveries", lang, hours=WINDOW_HOURS), REFRESH_MS)


def register_deliveries_callbacks(app: dash.Dash, data: WallData, auth: AuthStore, site: SiteConfig) -> None:
    """Register the panel's refresh."""
    tz = ZoneInfo(site.site.timezone)

    @app.callback(
        Output("deliveries", "children"),
        Output("deliveries-count", "children"),
        Output("deliveries-age", "children"),
        Output("deliveries-age", "className"),
        Output("deliveries-read-at", "data"),
        Input("deliveries-tick", "n_intervals"),
        State("deliveries-read-at", "data"),
        State("lang", "data"),
    )
    def refresh(_tick: int | None, read_at: str | None, lang_choice: str | None) -> tuple[Any, ...]:
        return refresh_deliveries(data, auth, site, tz, session_user(), read_at, normalise_lang(lang_choice))


def refresh_deliveries(
    data: WallData,
    auth: AuthStore,
    site: SiteConfig,
    tz: ZoneInfo,
    user: User | None,
    read_at: str | None,
    lang: str,
) -> tuple[Any, ...]:
    """Compute the panel's outputs for one user; with the database down keep the list and let the age grow."""
    now = utcnow()
    if user is None or user.role not in DELIVERY_ROLES:
        if user is not None:
            try:
                auth.record(user.username, "deliveries.view_refused", None, {"role": user.role})
            except SinkUnavailable as exc:
                logger.warning("refused view of failed deliveries by %s not recorded: %s", user.username, exc)
        refused = html.Div(
            t("wall.deliveries.forbidden", lang), id="deliveries-forbidden", className="detail-error"
        )
        return refused, "", "", "age", None
    try:
        rows = data.failed_deliveries(now - timedelta(hours=WINDOW_HOURS), lang, scope_of(site, user), LIMIT)
    except SinkUnavailable as exc:
        logger.warning("wall: failed deliveries not refreshed: %s", exc)
        last = datetime.fromisoformat(read_at) if read_at else None
        seconds = age_seconds(last, now)
        return dash.no_update, dash.no_update, format_age(seconds, lang), "age stale", read_at
    return (
        delivery_rows(rows, Words(site), lang, tz),
        t("wall.deliveries.count", lang, n=len(rows)),
        format_age(0.0, lang),
        "age",
        now.isoformat(),
    )


def delivery_rows(rows: Sequence[FailedDeliveryView], words: Words, lang: str, tz: ZoneInfo) -> list[Any]:
    """Render the failed messages, newest first: when, alert, officer (name, position, unit), channel and the
    reason in words; the raw reason is the reason line's tooltip, for the provider's support desk."""
    if not rows:
        return [html.Div(t("wall.deliveries.none", lang), className="alerts-none", id="deliveries-none")]
    out: list[Any] = []
    for r in rows:
        d = r.delivery
        officer = words.officer(d.officer_id, lang)
        meta = [local_time(d.failed_at, tz), d.short_code]
        if r.area:
            meta.append(r.area)
        meta.append(t("wall.deliveries.attempts", lang, n=d.attempts))
        out.append(
            html.Div(
                id=f"delivery-{d.id}",
                className=f"alert delivery sev-{r.severity}",
                style={"borderLeftColor": severity_colour(r.severity)},
                children=[
                    html.Div(
                        className="alert-head",
                        children=[
                            html.Span(f"{officer} · {words.channel(d.channel_id, lang)}", className="delivery-to"),
                            html.Button(
                                t("wall.alert.detail", lang),
                                id=f"delivery-detail-{d.id}",
                                className="detail-button",
                                **_data_attributes({"data-alert-id": str(d.alert_id)}),
                            ),
                        ],
                    ),
                    html.Div(r.message, className="alert-msg"),
                    html.Div(words.reason(d.reason, lang), className="delivery-reason", title=d.reason),
                    html.Div(" · ".join(meta), className="alert-meta"),
                ],
            )
        )
    return out


def _data_attributes(attributes: dict[str, str]) -> dict[str, Any]:
    """HTML data-* attributes for a Dash component (its typed signature does not list them)."""
    return dict(attributes)
