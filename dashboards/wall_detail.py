"""The alert detail panel: an alert's trail and its messages, and for operators assign, note and resolve.

Clicking an alert in the feed (or its "Chi tiết" button, ``#detail-<alert_id>``; a failed message's
button on /deliveries too) hands the alert id to the shell's store ``detail-request`` (dashboards/assets/
wall.js). The server renders the panel for the session's user: the alert only if their unit scopes cover
its area (else it answers like a missing one), its trail from ``ioc.store.alerts.trail`` in the site's
local time, and every outbox row written for it. Operators and admins get the action controls, whose
clicks go to the store ``detail-action``; each action runs through ``ioc.store.alerts`` as the session's
user, which writes the change and its audit line in one transaction. A leader (or anyone without the role)
asking anyway is refused, and the refusal is written to the audit log like a refused acknowledgement.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import dash
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from dashboards import strings as _strings  # noqa: F401  (registers the catalog)
from dashboards.auth import AuthStore, User
from dashboards.data import AlertDetail, NotificationView, TrailEntry, WallData
from dashboards.format import age_seconds, format_age, severity_colour
from dashboards.pages import ACKNOWLEDGE_ROLES, session_user
from dashboards.wall_scope import scope_of
from dashboards.words import Words
from ioc.config.models import SiteConfig
from ioc.errors import SinkUnavailable
from ioc.events import utcnow
from ioc.i18n import catalog, normalise_lang, t
from ioc.store.alerts import Outcome, short_code

logger = logging.getLogger(__name__)

ACTIONS = ("assign", "note", "resolve")
NOTE_MAX = 2000
DETAIL_REFRESH_MS = 10_000
DETAIL_STALE_S = 30.0  # refreshed every 10 s while open: amber after three missed reads


def local_time(at: datetime, tz: ZoneInfo) -> str:
    """Return a moment in the site's zone as 'HH:MM:SS dd/mm/yyyy' (the Vietnamese order, both languages)."""
    return f"{at.astimezone(tz):%H:%M:%S %d/%m/%Y}"


def officer_names(site: SiteConfig) -> dict[str, str]:
    """Return the roster's officers by id: their names, in roster order."""
    return {o.id: o.name for o in site.roster.officers}


# --- the shell's part ------------------------------------------------------------------------------------


def detail_shell(site: SiteConfig, lang: str, user: User | None) -> list[Any]:
    """Return the stores, timer and (hidden) panel the shell carries for the alert detail."""
    may_act = user is not None and user.role in ACKNOWLEDGE_ROLES
    if may_act:
        words = Words(site)
        officers = [{"label": words.officer(oid, lang), "value": oid} for oid in officer_names(site)]
        controls: Any = html.Div(
            id="detail-actions",
            className="detail-actions",
            children=[
                html.H3(t("wall.detail.actions", lang)),
                html.Div(
                    className="detail-row",
                    children=[
                        dcc.Dropdown(
                            id="detail-assign-officer",
                            options=officers,
                            placeholder=t("wall.detail.assign_to", lang),
                            clearable=True,
                            className="detail-officer",
                        ),
                        html.Button(t("wall.detail.assign", lang), id="detail-assign", className="detail-do"),
                    ],
                ),
                html.Div(
                    className="detail-row",
                    children=[
                        dcc.Textarea(
                            id="detail-note-text",
                            placeholder=t("wall.detail.note_placeholder", lang),
                            maxLength=NOTE_MAX,
                            className="detail-note-text",
                        ),
                        html.Button(t("wall.detail.add_note", lang), id="detail-note", className="detail-do"),
                    ],
                ),
                html.Div(
                    className="detail-row",
                    children=[
                        html.Button(
                            t("wall.detail.resolve", lang), id="detail-resolve", className="detail-do danger"
                        ),
                        html.Div(id="detail-status", className="detail-status", role="status"),
                    ],
                ),
            ],
        )
    else:
        controls = html.Div(t("wall.detail.read_only", lang), id="detail-read-only", className="wall-muted")
    panel = html.Div(
        id="detail",
        className="detail hidden",
        role="dialog",
        children=html.Div(
            className="detail-box",
            children=[
                html.Div(
                    className="panel-head",
                    children=[
                        html.H2(id="detail-title"),
                        html.Span(id="detail-age", className="age"),
                        html.Button(
                            t("wall.detail.close", lang), id="detail-close", className="detail-close"
                        ),
                    ],
                ),
                html.Div(id="detail-body", className="detail-body"),
                controls,
            ],
        ),
    )
    return [
        dcc.Store(id="detail-request"),
        dcc.Store(id="detail-alert"),
        dcc.Store(id="detail-read-at"),
        dcc.Store(id="detail-action"),
        dcc.Store(id="detail-done", data=0),
        dcc.Interval(id="detail-tick", interval=DETAIL_REFRESH_MS),
        panel,
    ]


# --- callbacks -------------------------------------------------------------------------------------------


def register_detail_callbacks(app: dash.Dash, data: WallData, auth: AuthStore, site: SiteConfig) -> None:
    """Register the detail panel's callbacks: show (and refresh) the panel, act on the alert."""
    tz = ZoneInfo(site.site.timezone)

    @app.callback(
        Output("detail", "className"),
        Output("detail-title", "children"),
        Output("detail-body", "children"),
        Output("detail-alert", "data"),
        Output("detail-age", "children"),
        Output("detail-age", "className"),
        Output("detail-read-at", "data"),
        Input("detail-request", "data"),
        Input("detail-done", "data"),
        Input("detail-tick", "n_intervals"),
        State("detail-read-at", "data"),
        State("lang", "data"),
        prevent_initial_call=True,
    )
    def show(
        request_data: Any, _done: int | None, _tick: int | None, read_at: str | None, lang_choice: str | None
    ) -> tuple[Any, ...]:
        shown = isinstance(request_data, dict) and bool(request_data.get("alert_id"))
        if not shown and dash.callback_context.triggered_id != "detail-request":
            raise PreventUpdate  # a refresh of the closed panel: nothing to read, nothing to change
        return show_detail(data, site, tz, session_user(), request_data, read_at, normalise_lang(lang_choice))

    @app.callback(
        Output("detail-status", "children"),
        Output("detail-status", "className"),
        Output("detail-done", "data"),
        Output("detail-note-text", "value"),
        Input("detail-action", "data"),
        State("detail-alert", "data"),
        State("detail-assign-officer", "value"),
        State("detail-note-text", "value"),
        State("detail-done", "data"),
        State("lang", "data"),
        prevent_initial_call=True,
    )
    def act(
        action_data: Any,
        alert_ref: Any,
        officer: Any,
        note: Any,
        done: int | None,
        lang_choice: str | None,
    ) -> tuple[Any, ...]:
        lang = normalise_lang(lang_choice)
        action = action_data.get("action") if isinstance(action_data, dict) else None
        key, params, ok = act_on_alert(data, auth, site, session_user(), action, alert_ref, officer, note)
        keep_note = dash.no_update if not (ok and action == "note") else ""
        return (
            t(key, lang, **params),
            "detail-status" if ok else "detail-status failed",
            (done or 0) + 1,
            keep_note,
        )


def show_detail(
    data: WallData,
    site: SiteConfig,
    tz: ZoneInfo,
    user: User | None,
    request_data: Any,
    read_at: str | None,
    lang: str,
) -> tuple[Any, ...]:
    """Compute the detail panel's outputs for one user: hidden without an alert, else the alert's detail."""
    now = utcnow()
    raw = request_data.get("alert_id") if isinstance(request_data, dict) else None
    if not raw:
        return ("detail hidden", "", [], None, "", "age", None)
    alert_id = _parse_id(raw)
    if alert_id is None or user is None:
        return _missing(lang, raw)
    try:
        detail = data.alert_detail(alert_id, lang, scope_of(site, user))
    except SinkUnavailable as exc:
        logger.warning("wall: detail of %s not read: %s", alert_id, exc)
        last = datetime.fromisoformat(read_at) if read_at else None
        seconds = age_seconds(last, now)
        return (
            "detail",
            dash.no_update,
            dash.no_update if last else html.Div(t("wall.detail.not_read", lang), className="detail-error"),
            str(alert_id),
            format_age(seconds, lang),
            "age stale",
            read_at,
        )
    if detail is None:
        return _missing(lang, raw)
    return (
        "detail",
        t("wall.detail.title", lang, code=short_code(alert_id)),
        detail_body(detail, Words(site), now, lang, tz),
        str(alert_id),
        format_age(0.0, lang),
        "age",
        now.isoformat(),
    )


def _missing(lang: str, raw: Any) -> tuple[Any, ...]:
    logger.info("wall: detail asked for an alert that is missing, out of scope or malformed: %r", raw)
    return (
        "detail",
        t("wall.detail.unknown", lang),
        html.Div(t("wall.detail.unknown", lang), id="detail-unknown", className="detail-error"),
        None,
        "",
        "age",
        None,
    )


def _parse_id(raw: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        return None


def detail_body(detail: AlertDetail, words: Words, now: datetime, lang: str, tz: ZoneInfo) -> list[Any]:
    """Render the alert's summary, its trail and its messages."""
    a = detail.alert
    meta = [x for x in (a.area, t("wall.alert.opened_at", lang, time=local_time(a.opened_at, tz))) if x]
    meta.append(t("wall.detail.status", lang, status=t(f"wall.detail.status.{a.status}", lang)))
    assignee = (
        t("wall.detail.assignee", lang, user=words.officer(detail.assignee, lang))
        if detail.assignee
        else t("wall.detail.unassigned", lang)
    )
    summary = [
        html.Span(
            t(f"severity.{a.severity}", lang),
            className="alert-sev",
            style={"background": severity_colour(a.severity)},
        ),
        html.Div(a.message, className="alert-msg", id="detail-message"),
        html.Div(" · ".join(meta), className="alert-meta"),
        html.Div(assignee, className="alert-meta", id="detail-assignee"),
    ]
    if detail.resolved_at is not None:
        summary.append(
            html.Div(
                t(
                    "wall.detail.resolved_by",
                    lang,
                    user=words.person(detail.resolved_by, lang),
                    time=local_time(detail.resolved_at, tz),
                ),
                className="alert-meta",
            )
        )
    return [
        html.Div(summary, className="detail-summary"),
        html.H3(t("wall.detail.trail", lang)),
        trail_table(detail.trail, words, lang, tz),
        html.H3(t("wall.detail.notifications", lang)),
        notifications_table(detail.notifications, words, lang, tz),
    ]


def trail_table(entries: Sequence[TrailEntry], words: Words, lang: str, tz: ZoneInfo) -> Any:
    """The trail, oldest first: time (local), who, what."""
    if not entries:
        return html.Div(t("wall.detail.trail.none", lang), id="detail-trail", className="wall-muted")
    head = html.Tr([html.Th(t(f"wall.detail.col.{c}", lang)) for c in ("time", "who", "what")])
    rows = [
        html.Tr(
            className=f"trail-{e.kind}",
            children=[
                html.Td(local_time(e.at, tz)),
                html.Td(words.person(e.username, lang)),
                html.Td(trail_text(e, words, lang)),
            ],
        )
        for e in entries
    ]
    return html.Table([html.Thead(head), html.Tbody(rows)], id="detail-trail", className="detail-table")


def trail_text(entry: TrailEntry, words: Words, lang: str) -> str:
    """Say what one trail entry records, in ``lang``."""
    d = entry.detail or {}
    if entry.kind == "transition":
        severity = d.get("severity")
        label = t(f"severity.{severity}", lang) if severity else "—"
        key = f"wall.detail.transition.{entry.action}"
        return t(key, lang, severity=label)
    if entry.kind == "note":
        return str(d.get("text", ""))
    action = entry.action
    if action == "alert.acknowledge":
        return t("wall.detail.action.acknowledge", lang, via=words.via(d.get("via"), lang))
    if action == "alert.assign":
        if d.get("assignee"):
            return t("wall.detail.action.assign", lang, assignee=words.officer(d["assignee"], lang))
        return t("wall.detail.action.unassign", lang)
    if action == "alert.note":
        return t("wall.detail.action.note", lang)
    if action == "alert.resolve":
        return t("wall.detail.action.resolve", lang)
    if action.endswith("_refused"):
        verb = action.removeprefix("alert.").removesuffix("_refused")
        named = f"wall.detail.verb.{verb}"
        return t("wall.detail.action.refused", lang, action=t(named, lang) if named in catalog() else verb)
    return t("wall.detail.action.other", lang, action=action)


def notifications_table(rows: Sequence[NotificationView], words: Words, lang: str, tz: ZoneInfo) -> Any:
    """Every message written for the alert: when, officer, channel, step, status and reason."""
    if not rows:
        return html.Div(
            t("wall.detail.notifications.none", lang), id="detail-notifications", className="wall-muted"
        )
    cols = ("time", "officer", "channel", "step", "status", "reason")
    head = html.Tr([html.Th(t(f"wall.detail.col.{c}", lang)) for c in cols])
    body = []
    for n in rows:
        when = n.delivered_at or n.sent_at or n.due_at
        reason = words.reason(n.reason, lang)
        body.append(
            html.Tr(
                id=f"detail-msg-{n.id}",
                className=f"msg-{n.status}",
                children=[
                    html.Td(local_time(when, tz)),
                    html.Td(words.officer(n.officer_id, lang)),
                    html.Td(words.channel(n.channel_id, lang)),
                    html.Td(f"{n.step} · {t(f'wall.detail.kind.{n.kind}', lang)}"),
                    html.Td(t(f"wall.delivery.status.{n.status}", lang)),
                    html.Td(reason, title=n.reason or None),
                ],
            )
        )
    return html.Table(
        [html.Thead(head), html.Tbody(body)], id="detail-notifications", className="detail-table"
    )


def _person(officer_id: str, officers: dict[str, str]) -> str:
    return officers.get(officer_id, officer_id)


# --- actions ---------------------------------------------------------------------------------------------


def act_on_alert(
    data: WallData,
    auth: AuthStore,
    site: SiteConfig,
    user: User | None,
    action: Any,
    alert_ref: Any,
    officer: Any,
    note: Any,
) -> tuple[str, dict[str, Any], bool]:
    """Run one action of the detail panel as the session's user; return a message key, its values, success.

    Only operators and admins may act, on alerts their scopes cover; a refused attempt is audited as
    ``alert.<action>_refused``. Bad input (an unknown action, a malformed alert id, an officer not on the
    roster, an empty or too long note) is refused with its reason and changes nothing.
    """
    if user is None:
        return "auth.unauthorised", {}, False
    if action not in ACTIONS:
        logger.warning("wall: %s sent an unknown detail action %r", user.username, action)
        return "wall.detail.bad_action", {}, False
    alert_id = _parse_id(alert_ref) if alert_ref else None
    if alert_id is None:
        logger.warning("wall: %s asked to %s a malformed alert id %r", user.username, action, alert_ref)
        return "wall.detail.unknown", {}, False
    if user.role not in ACKNOWLEDGE_ROLES:
        try:
            auth.record(user.username, f"alert.{action}_refused", str(alert_id), {"role": user.role})
        except SinkUnavailable as exc:
            logger.warning("refused %s by %s not recorded: %s", action, user.username, exc)
        return "wall.detail.forbidden", {}, False
    scope = scope_of(site, user)
    officers = officer_names(site)
    try:
        if action == "assign":
            if not isinstance(officer, str) or officer not in officers:
                logger.warning(
                    "wall: %s tried to assign %s to unknown officer %r", user.username, alert_id, officer
                )
                return "wall.detail.unknown_officer", {}, False
            outcome = data.assign(alert_id, officer, user.username, scope)
            who = _person(officer, officers)
            return {
                Outcome.DONE: ("wall.detail.assigned", {"user": who}, True),
                Outcome.ALREADY: ("wall.detail.already_assigned", {"user": who}, True),
            }.get(outcome, ("wall.detail.unknown", {}, False))
        if action == "note":
            text = note.strip() if isinstance(note, str) else ""
            if not text:
                return "wall.detail.note_empty", {}, False
            if len(text) > NOTE_MAX:
                return "wall.detail.note_too_long", {}, False
            outcome = data.add_note(alert_id, text, user.username, scope)
            return (
                ("wall.detail.noted", {}, True)
                if outcome is Outcome.DONE
                else ("wall.detail.unknown", {}, False)
            )
        outcome = data.resolve(alert_id, user.username, scope)
        return {
            Outcome.DONE: ("wall.detail.resolved", {}, True),
            Outcome.ALREADY: ("wall.detail.already_resolved", {}, True),
        }.get(outcome, ("wall.detail.unknown", {}, False))
    except SinkUnavailable as exc:
        logger.error("wall: %s of %s by %s failed: %s", action, alert_id, user.username, exc)
        return "wall.detail.unavailable", {}, False
