"""The alert detail from the feed: trail and messages, and assign / note / resolve through the real callbacks,
on real PostgreSQL with alerts from the real writer and outbox rows settled through ioc/notify/outbox.py."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dash
import psycopg
import pytest
from flask.testing import FlaskClient
from plotly.utils import PlotlyJSONEncoder
from psycopg_pool import ConnectionPool

from dashboards.app import create_app
from dashboards.auth import AuthStore, User
from dashboards.data import PostgresWallData
from dashboards.wall_detail import show_detail
from dashboards.wall_pages import count_groups, realtime_feed
from dashboards.wall_scope import Scope
from ioc.config.models import SiteConfig
from ioc.events import utcnow
from ioc.store import alerts as lifecycle
from ioc.store.live import MemoryLiveStore
from tests.dashboards.wall_helpers import SECRET, call, callback_payload, csrf_header, find, ids, login
from tests.dashboards.wall_outbox import MUONG_TUNG, NA_SANG, flood_opened, in_day_shift, settle, write_alerts

pytestmark = pytest.mark.services

PASSWORD = "mat-khau-du-dai-6"
OPERATOR, LEADER, ADMIN = "truc.ban.ct", "lanh.dao.ct", "quan.tri.ct"
REASON = "esms 99: unknown error"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture(scope="module")
def world(pg_dsn: str, site: SiteConfig) -> dict[str, Any]:
    """Na Sang's alert (its message failed, then acknowledged by SMS), Mường Tùng's (message sent), a third
    in Na Sang left for resolving."""
    at = in_day_shift(utcnow())  # the roster's day officer is on duty whatever the hour of the run
    na_sang = flood_opened(NA_SANG, at)
    muong_tung = flood_opened(MUONG_TUNG, at)
    spare = flood_opened(NA_SANG, at, key_suffix="rise")
    write_alerts(pg_dsn, site, [na_sang, muong_tung, spare], at)
    rows = settle(
        pg_dsn,
        at + timedelta(seconds=3),
        {na_sang.alert_id: REASON, muong_tung.alert_id: None, spare.alert_id: None},
    )
    acked_at = at + timedelta(minutes=1)
    with psycopg.connect(pg_dsn) as conn:
        result = lifecycle.acknowledge(conn, na_sang.alert_id, by="nguyen-van-hung", via="sms", at=acked_at)
    assert result.outcome is lifecycle.Outcome.DONE
    return {
        "na_sang": na_sang.alert_id,
        "muong_tung": muong_tung.alert_id,
        "spare": spare.alert_id,
        "rows": rows,
        "opened_at": at,
        "acked_at": acked_at,
    }


@pytest.fixture(scope="module")
def auth(pool: ConnectionPool) -> AuthStore:
    store = AuthStore(pool)
    store.ensure_user(OPERATOR, PASSWORD, "operator", ["03172"])
    store.ensure_user(LEADER, PASSWORD, "leader")
    store.ensure_user(ADMIN, PASSWORD, "admin")
    return store


@pytest.fixture(scope="module")
def app(
    pool: ConnectionPool,
    live: MemoryLiveStore,
    site: SiteConfig,
    site_dir: Path,
    auth: AuthStore,
    world: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> dash.Dash:
    return create_app(
        PostgresWallData(pool, live, site),
        site,
        auth=auth,
        secret_key=SECRET,
        site_dir=site_dir,
        snapshot_root=tmp_path_factory.mktemp("snapshots"),
    )


def signed_in(app: dash.Dash, username: str) -> FlaskClient:
    client: FlaskClient = app.server.test_client()
    assert login(client, username, PASSWORD).status_code == 302
    return client


def open_detail(client: FlaskClient, alert_id: object, lang: str = "vi") -> dict[str, Any]:
    out = call(
        client,
        "detail.className",
        {
            "detail-request.data": {"alert_id": None if alert_id is None else str(alert_id), "at": 1},
            "detail-done.data": 0,
            "detail-tick.n_intervals": None,
            "detail-read-at.data": None,
            "lang.data": lang,
        },
    )
    return {f"{cid}.{prop}": value for cid, props in out.items() for prop, value in props.items()}


def act(
    client: FlaskClient,
    action: str,
    alert_id: object,
    *,
    officer: Any = None,
    note: Any = None,
    lang: str = "vi",
) -> dict[str, Any]:
    out = call(
        client,
        "detail-status.children",
        {
            "detail-action.data": {"action": action, "at": 1},
            "detail-alert.data": None if alert_id is None else str(alert_id),
            "detail-assign-officer.value": officer,
            "detail-note-text.value": note,
            "detail-done.data": 0,
            "lang.data": lang,
        },
    )
    return {f"{cid}.{prop}": value for cid, props in out.items() for prop, value in props.items()}


def text_of(node: object) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return " ".join(text_of(n) for n in node)
    if isinstance(node, dict):
        return text_of(node.get("props", {}).get("children", ""))
    return "" if node is None else str(node)


def table_rows(node: Any) -> list[str]:
    """The text of each body row of a serialised detail table."""
    body = node["props"]["children"][1]
    return [text_of(r) for r in body["props"]["children"]]


def alert_row(pg_dsn: str, alert_id: object) -> tuple[Any, ...]:
    with psycopg.connect(pg_dsn) as conn:
        got = conn.execute(
            "SELECT status, assignee, resolved_by FROM alerts WHERE alert_id = %s", (alert_id,)
        ).fetchone()
    assert got is not None
    return tuple(got)


def audit(pg_dsn: str, alert_id: object) -> list[tuple[str, str]]:
    with psycopg.connect(pg_dsn) as conn:
        return [
            (str(u), str(a))
            for u, a in conn.execute(
                "SELECT username, action FROM audit_log WHERE target = %s ORDER BY at, id", (str(alert_id),)
            )
        ]


def local(at: datetime) -> str:
    return f"{at.astimezone(TZ):%H:%M:%S %d/%m/%Y}"


# --- reading -----------------------------------------------------------------------------------------------


def test_the_detail_shows_trail_and_messages_in_local_time(app: dash.Dash, world: dict[str, Any]) -> None:
    out = open_detail(signed_in(app, ADMIN), world["na_sang"])
    assert out["detail.className"] == "detail"
    assert out["detail-title.children"] == f"Chi tiết cảnh báo {lifecycle.short_code(world['na_sang'])}"
    assert out["detail-alert.data"] == str(world["na_sang"])
    assert out["detail-age.children"] == "cập nhật 0 giây trước"
    body = out["detail-body.children"]
    assert "vượt báo động III" in text_of(find(body, "detail-message"))
    assert text_of(find(body, "detail-assignee")) == "Chưa giao cho ai"
    trail = table_rows(find(body, "detail-trail"))
    assert trail[0] == f"{local(world['opened_at'])} hệ thống Cảnh báo mở (mức Khẩn cấp)"
    # Regression (issue 15, item 7): the officer who replied by SMS by name and unit, the channel and the
    # reason in words, not 'nguyen-van-hung', '(qua sms)', 'zns-ubnd' or 'esms 99: unknown error'.
    hung = "Nguyễn Văn Hùng (cán bộ trực, Mường Chà (huyện cũ))"
    assert trail[1] == f"{local(world['acked_at'])} {hung} Tiếp nhận bằng tin nhắn SMS"
    (message,) = table_rows(find(body, "detail-notifications"))
    assert hung in message and "Zalo (tin ZNS)" in message
    assert "0 · báo mới" in message and "gửi không được" in message
    assert "Nhà cung cấp eSMS từ chối tin (mã lỗi 99)." in message and REASON not in message
    (row_id,) = world["rows"][world["na_sang"]]
    assert find(body, f"detail-msg-{row_id}") is not None


def test_the_detail_speaks_english(app: dash.Dash, world: dict[str, Any]) -> None:
    out = open_detail(signed_in(app, ADMIN), world["muong_tung"], "en")
    body = out["detail-body.children"]
    trail = table_rows(find(body, "detail-trail"))
    assert trail == [f"{local(world['opened_at'])} system Alert opened (Critical)"]
    (message,) = table_rows(find(body, "detail-notifications"))
    assert "sent" in message and "new alert" in message
    assert text_of(find(body, "detail-assignee")) == "Not assigned"


def test_closing_hides_the_panel(app: dash.Dash) -> None:
    out = open_detail(signed_in(app, ADMIN), None)
    assert out["detail.className"] == "detail hidden" and out["detail-alert.data"] is None


def test_the_closed_panel_reads_nothing_on_its_refresh_tick(app: dash.Dash) -> None:
    client = signed_in(app, ADMIN)
    payload = callback_payload(
        client,
        "detail.className",
        {"detail-request.data": None, "detail-done.data": 0, "detail-tick.n_intervals": 3, "lang.data": "vi"},
    )
    payload["changedPropIds"] = ["detail-tick.n_intervals"]
    response = client.post("/_dash-update-component", json=payload, headers=csrf_header(client))
    assert response.status_code == 204  # PreventUpdate: no query, no re-render


def test_the_feed_offers_the_detail_to_every_role(
    pool: ConnectionPool, live: MemoryLiveStore, site: SiteConfig, world: dict[str, Any]
) -> None:
    alerts = PostgresWallData(pool, live, site).open_alerts(20, "vi", Scope.whole_site())
    feed = json.loads(
        json.dumps(
            realtime_feed(alerts, count_groups(alerts), utcnow(), "vi", TZ, may_ack=False), cls=PlotlyJSONEncoder
        )
    )
    button = find(feed, f"detail-{world['muong_tung']}")
    assert button is not None and text_of(button) == "Chi tiết"
    assert button["props"]["data-alert-id"] == str(world["muong_tung"])
    assert find(feed, f"alert-{world['muong_tung']}")["props"]["data-alert-id"] == str(world["muong_tung"])


def test_an_alert_outside_the_scope_answers_like_a_missing_one(app: dash.Dash, world: dict[str, Any]) -> None:
    client = signed_in(app, OPERATOR)  # Na Sang only
    out = open_detail(client, world["muong_tung"])
    assert find(out["detail-body.children"], "detail-unknown") is not None
    assert "Mường Tùng" not in str(out) and out["detail-alert.data"] is None
    assert find(open_detail(client, world["na_sang"])["detail-body.children"], "detail-trail") is not None


def test_a_malformed_or_unknown_id_shows_nothing(app: dash.Dash) -> None:
    client = signed_in(app, ADMIN)
    for ref in ("not-a-uuid", "00000000-0000-0000-0000-000000000001", "'; DROP TABLE alerts; --"):
        out = open_detail(client, ref)
        assert find(out["detail-body.children"], "detail-unknown") is not None, ref


def test_operators_get_the_controls_and_leaders_read_only(app: dash.Dash) -> None:
    operator = ids(signed_in(app, OPERATOR).get("/_dash-layout").get_json())
    assert {
        "detail",
        "detail-actions",
        "detail-assign-officer",
        "detail-assign",
        "detail-note-text",
        "detail-note",
        "detail-resolve",
        "detail-status",
    } <= operator
    leader = ids(signed_in(app, LEADER).get("/_dash-layout").get_json())
    assert "detail" in leader and "detail-read-only" in leader
    assert not {"detail-actions", "detail-assign", "detail-note", "detail-resolve"} & leader


def test_a_leader_reads_the_detail(app: dash.Dash, world: dict[str, Any]) -> None:
    out = open_detail(signed_in(app, LEADER), world["na_sang"])
    assert find(out["detail-body.children"], "detail-notifications") is not None


def test_with_the_database_down_the_panel_keeps_its_content_and_the_age_grows(
    dead_pool: ConnectionPool, live: MemoryLiveStore, site: SiteConfig, world: dict[str, Any]
) -> None:
    data = PostgresWallData(dead_pool, live, site)
    read_at = (utcnow() - timedelta(seconds=45)).isoformat()
    out = show_detail(
        data, site, TZ, User(ADMIN, "admin", ()), {"alert_id": str(world["na_sang"])}, read_at, "vi"
    )
    assert out[0] == "detail" and out[2] is dash.no_update
    assert out[4] == "cập nhật 45 giây trước" and out[5] == "age stale"


# --- acting ----------------------------------------------------------------------------------------------


def test_an_operator_assigns_to_an_officer_from_the_roster(
    app: dash.Dash, pg_dsn: str, world: dict[str, Any]
) -> None:
    client = signed_in(app, OPERATOR)
    out = act(client, "assign", world["na_sang"], officer="quang-van-son")
    assert out["detail-status.children"] == "Đã giao cho Quàng Văn Sơn."
    assert out["detail-status.className"] == "detail-status" and out["detail-done.data"] == 1
    assert alert_row(pg_dsn, world["na_sang"])[1] == "quang-van-son"
    assert (OPERATOR, "alert.assign") in audit(pg_dsn, world["na_sang"])
    again = act(client, "assign", world["na_sang"], officer="quang-van-son")
    assert again["detail-status.children"] == "Cảnh báo đã giao cho Quàng Văn Sơn rồi."
    body = open_detail(client, world["na_sang"])["detail-body.children"]
    assert text_of(find(body, "detail-assignee")) == "Người được giao: Quàng Văn Sơn (cấp phó, Mường Chà (huyện cũ))"
    assert any(
        r.endswith(f"tài khoản {OPERATOR} Giao cho Quàng Văn Sơn (cấp phó, Mường Chà (huyện cũ))")
        for r in table_rows(find(body, "detail-trail"))
    )


def test_an_unknown_officer_is_refused(app: dash.Dash, pg_dsn: str, world: dict[str, Any]) -> None:
    client = signed_in(app, ADMIN)
    before = alert_row(pg_dsn, world["spare"])
    for officer in ("ai-do-khong-co", None, "", ["quang-van-son"]):
        out = act(client, "assign", world["spare"], officer=officer)
        assert out["detail-status.children"] == "Chọn một cán bộ trong danh sách trực ban.", officer
        assert out["detail-status.className"] == "detail-status failed"
    assert alert_row(pg_dsn, world["spare"]) == before
    assert (ADMIN, "alert.assign") not in audit(pg_dsn, world["spare"])


def test_a_note_is_added_and_shown_in_the_trail(app: dash.Dash, pg_dsn: str, world: dict[str, Any]) -> None:
    client = signed_in(app, OPERATOR)
    out = act(client, "note", world["na_sang"], note="  Đã cử tổ phản ứng nhanh ra cầu Na Sang.  ")
    assert out["detail-status.children"] == "Đã thêm ghi chú."
    assert out["detail-note-text.value"] == ""  # the box is emptied for the next note
    with psycopg.connect(pg_dsn) as conn:
        notes = conn.execute(
            "SELECT username, text FROM alert_notes WHERE alert_id = %s", (world["na_sang"],)
        ).fetchall()
    assert notes == [(OPERATOR, "Đã cử tổ phản ứng nhanh ra cầu Na Sang.")]
    assert (OPERATOR, "alert.note") in audit(pg_dsn, world["na_sang"])
    trail = table_rows(find(open_detail(client, world["na_sang"])["detail-body.children"], "detail-trail"))
    assert any(r.endswith(f"{OPERATOR} Đã cử tổ phản ứng nhanh ra cầu Na Sang.") for r in trail)


def test_an_empty_or_too_long_note_is_refused(app: dash.Dash, pg_dsn: str, world: dict[str, Any]) -> None:
    client = signed_in(app, ADMIN)
    for note in ("", "   \n ", None, 42):
        out = act(client, "note", world["spare"], note=note)
        assert out["detail-status.children"] == "Ghi chú đang trống.", note
        assert "detail-note-text.value" not in out  # what was typed stays in the box
    out = act(client, "note", world["spare"], note="x" * 2001, lang="en")
    assert out["detail-status.children"] == "The note is longer than 2000 characters."
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute(
            "SELECT count(*) FROM alert_notes WHERE alert_id = %s", (world["spare"],)
        ).fetchone() == (0,)
    assert (ADMIN, "alert.note") not in audit(pg_dsn, world["spare"])


def test_malformed_ids_and_actions_are_refused(app: dash.Dash, pg_dsn: str, world: dict[str, Any]) -> None:
    client = signed_in(app, ADMIN)
    for ref in ("not-a-uuid", None, "", 17):
        assert act(client, "resolve", ref)["detail-status.children"] == "Không tìm thấy cảnh báo này.", ref
    out = act(client, "delete", world["spare"])
    assert out["detail-status.children"] == "Yêu cầu không hợp lệ."
    assert alert_row(pg_dsn, world["spare"])[0] == "open"


def test_the_scoped_operator_cannot_act_outside_the_scope(
    app: dash.Dash, pg_dsn: str, world: dict[str, Any]
) -> None:
    client = signed_in(app, OPERATOR)  # Na Sang only; Mường Tùng's alert is not theirs
    for action, kw in (("assign", {"officer": "vang-a-chua"}), ("note", {"note": "thử"}), ("resolve", {})):
        out = act(client, action, world["muong_tung"], **kw)
        assert out["detail-status.children"] == "Không tìm thấy cảnh báo này.", action
    assert alert_row(pg_dsn, world["muong_tung"]) == ("open", None, None)
    assert all(u != OPERATOR for u, _ in audit(pg_dsn, world["muong_tung"]))


def test_a_leader_is_refused_and_the_refusal_audited(
    app: dash.Dash, pg_dsn: str, world: dict[str, Any]
) -> None:
    client = signed_in(app, LEADER)
    for action, kw in (("assign", {"officer": "vang-a-chua"}), ("note", {"note": "xem"}), ("resolve", {})):
        out = act(client, action, world["muong_tung"], **kw)
        assert out["detail-status.children"] == "Tài khoản của bạn không được xử lý cảnh báo.", action
        assert out["detail-status.className"] == "detail-status failed"
    assert alert_row(pg_dsn, world["muong_tung"]) == ("open", None, None)
    refused = [a for u, a in audit(pg_dsn, world["muong_tung"]) if u == LEADER]
    assert refused == ["alert.assign_refused", "alert.note_refused", "alert.resolve_refused"]
    with psycopg.connect(pg_dsn) as conn:
        roles = conn.execute(
            "SELECT DISTINCT detail->>'role' FROM audit_log WHERE username = %s AND action LIKE '%%_refused'",
            (LEADER,),
        ).fetchall()
    assert roles == [("leader",)]


def test_an_operator_resolves_by_hand(app: dash.Dash, pg_dsn: str, world: dict[str, Any]) -> None:
    client = signed_in(app, OPERATOR)
    out = act(client, "resolve", world["spare"])
    assert out["detail-status.children"] == "Đã kết thúc cảnh báo."
    status, _, resolved_by = alert_row(pg_dsn, world["spare"])
    assert (status, resolved_by) == ("resolved", OPERATOR)
    assert (OPERATOR, "alert.resolve") in audit(pg_dsn, world["spare"])
    assert (
        act(client, "resolve", world["spare"])["detail-status.children"] == "Cảnh báo đã kết thúc trước đó."
    )
    body = open_detail(client, world["spare"])["detail-body.children"]
    assert "đã kết thúc" in text_of(body) and f"Kết thúc bởi tài khoản {OPERATOR}" in text_of(body)
    trail = table_rows(find(body, "detail-trail"))
    assert trail[-1].endswith(f"{OPERATOR} Kết thúc bằng tay")


def test_without_a_session_the_detail_callbacks_answer_401(app: dash.Dash) -> None:
    client = app.server.test_client()
    for output, input_id in (
        ("detail.className", "detail-request"),
        ("detail-status.children", "detail-action"),
    ):
        cid, prop = output.split(".")
        body = {
            "output": output,
            "outputs": {"id": cid, "property": prop},
            "inputs": [{"id": input_id, "property": "data", "value": {"alert_id": "x", "action": "resolve"}}],
            "state": [],
            "changedPropIds": [f"{input_id}.data"],
        }
        assert client.post("/_dash-update-component", json=body).status_code == 401
