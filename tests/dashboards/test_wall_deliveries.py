"""The /deliveries page: messages that failed for good, with the provider's reason, scoped and role-checked,
on real PostgreSQL with alerts from the real writer and outbox rows failed through ioc/notify/outbox.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dash
import psycopg
import pytest
from flask.testing import FlaskClient
from psycopg_pool import ConnectionPool

from dashboards.app import create_app
from dashboards.auth import AuthStore, User
from dashboards.data import PostgresWallData
from dashboards.wall_deliveries import refresh_deliveries
from ioc.config.models import SiteConfig
from ioc.events import utcnow
from ioc.store.alerts import short_code
from ioc.store.live import MemoryLiveStore
from tests.dashboards.wall_helpers import SECRET, call, find, ids, login, page
from tests.dashboards.wall_outbox import MUONG_TUNG, NA_SANG, flood_opened, in_day_shift, settle, write_alerts

pytestmark = pytest.mark.services

PASSWORD = "mat-khau-du-dai-5"
OPERATOR, SCOPED, LEADER, ADMIN = "truc.ban.tin", "truc.ban.nasang", "lanh.dao.tin", "quan.tri.tin"
NA_SANG_REASON = "speedsms 007: IP locked"
MUONG_TUNG_REASON = "bad_phone: officer nguyen-van-hung: phone '0912' is not 84xxxxxxxxx"


@pytest.fixture(scope="module")
def world(pg_dsn: str, site: SiteConfig) -> dict[str, object]:
    """Three critical alerts from the writer: Na Sang's and Mường Tùng's messages fail, the third's goes."""
    at = in_day_shift(utcnow())  # the roster's day officer is on duty whatever the hour of the run
    na_sang = flood_opened(NA_SANG, at)
    muong_tung = flood_opened(MUONG_TUNG, at)
    sent = flood_opened(NA_SANG, at, key_suffix="rise")
    write_alerts(pg_dsn, site, [na_sang, muong_tung, sent], at)
    rows = settle(
        pg_dsn,
        at + timedelta(seconds=5),
        {na_sang.alert_id: NA_SANG_REASON, muong_tung.alert_id: MUONG_TUNG_REASON, sent.alert_id: None},
    )
    assert len(rows[na_sang.alert_id]) == 1 and len(rows[muong_tung.alert_id]) == 1
    return {
        "na_sang": na_sang.alert_id,
        "muong_tung": muong_tung.alert_id,
        "sent": sent.alert_id,
        "rows": rows,
        "failed_at": at + timedelta(seconds=5),
    }


@pytest.fixture(scope="module")
def auth(pool: ConnectionPool) -> AuthStore:
    store = AuthStore(pool)
    store.ensure_user(OPERATOR, PASSWORD, "operator")
    store.ensure_user(SCOPED, PASSWORD, "operator", ["03172"])
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
    world: dict[str, object],
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


def refresh(client: FlaskClient, lang: str = "vi") -> dict[str, object]:
    out = call(
        client,
        "deliveries.children",
        {"deliveries-tick.n_intervals": 1, "deliveries-read-at.data": None, "lang.data": lang},
    )
    return {f"{cid}.{prop}": value for cid, props in out.items() for prop, value in props.items()}


def text_of(node: object) -> str:
    """All the text of a serialised component tree, joined by spaces."""
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return " ".join(text_of(n) for n in node)
    if isinstance(node, dict):
        return text_of(node.get("props", {}).get("children", ""))
    return "" if node is None else str(node)


def row_id(world: dict[str, object], which: str) -> int:
    rows = world["rows"]
    assert isinstance(rows, dict)
    alert_id = world[which]
    return int(rows[alert_id][0])


def test_the_page_lists_failed_messages_with_the_providers_reason(
    app: dash.Dash, world: dict[str, object]
) -> None:
    client = signed_in(app, ADMIN)
    out = refresh(client)
    listing = out["deliveries.children"]
    na_sang = find(listing, f"delivery-{row_id(world, 'na_sang')}")
    muong_tung = find(listing, f"delivery-{row_id(world, 'muong_tung')}")
    assert na_sang is not None and muong_tung is not None
    # The sent message is not a failure.
    assert (
        len([i for i in ids(listing) if i.startswith("delivery-") and not i.startswith("delivery-detail")])
        == 2
    )
    text = text_of(na_sang)
    # Regression (issue 15, item 7): people by name, position and unit, channels and reasons in words; the
    # provider's raw reason is only the reason line's tooltip.
    assert "Nguyễn Văn Hùng (cán bộ trực, Mường Chà (huyện cũ)) · Zalo (tin ZNS)" in text
    assert "Nhà cung cấp SpeedSMS từ chối tin (mã lỗi 007)." in text
    assert NA_SANG_REASON not in text and "zns-ubnd" not in text and "nguyen-van-hung" not in text
    reason_line = [c for c in na_sang["props"]["children"] if c["props"].get("className") == "delivery-reason"]
    assert reason_line[0]["props"]["title"] == NA_SANG_REASON
    assert "Trạm Suối Nậm Chà - cầu trung tâm Na Sang: mực nước 4,31 m, vượt báo động III" in text
    assert short_code(world["na_sang"]) in text  # type: ignore[arg-type]
    assert "Na Sang" in text and "1 lần thử" in text
    failed_at = world["failed_at"]
    assert isinstance(failed_at, datetime)
    assert f"{failed_at.astimezone(ZoneInfo('Asia/Ho_Chi_Minh')):%H:%M:%S %d/%m/%Y}" in text
    assert "Số điện thoại của cán bộ không đúng dạng 84xxxxxxxxx" in text_of(muong_tung)
    # Its detail button opens the alert's detail.
    button = find(na_sang, f"delivery-detail-{row_id(world, 'na_sang')}")
    assert button["props"]["data-alert-id"] == str(world["na_sang"])
    assert out["deliveries-count.children"] == "2 tin nhắn"
    assert out["deliveries-age.children"] == "cập nhật 0 giây trước"
    assert out["deliveries-age.className"] == "age"
    assert out["deliveries-read-at.data"] is not None


def test_the_page_speaks_english(app: dash.Dash, world: dict[str, object]) -> None:
    out = refresh(signed_in(app, OPERATOR), "en")
    text = text_of(find(out["deliveries.children"], f"delivery-{row_id(world, 'na_sang')}"))
    assert "The provider SpeedSMS refused the message (error code 007)." in text
    assert "Nguyễn Văn Hùng (duty officer, Muong Cha (former district)) · Zalo (ZNS message)" in text
    assert "Station Suối Nậm Chà - cầu trung tâm Na Sang: water level 4.31 m, above alarm level III" in text
    assert "1 attempt(s)" in text
    assert out["deliveries-age.children"] == "updated 0 s ago"


def test_a_scoped_operator_sees_only_failures_of_alerts_in_their_area(
    app: dash.Dash, world: dict[str, object]
) -> None:
    listing = refresh(signed_in(app, SCOPED))["deliveries.children"]
    assert find(listing, f"delivery-{row_id(world, 'na_sang')}") is not None
    assert find(listing, f"delivery-{row_id(world, 'muong_tung')}") is None
    assert MUONG_TUNG_REASON not in str(listing)


def test_operators_get_the_page_in_their_navigation_and_leaders_do_not(app: dash.Dash) -> None:
    operator = signed_in(app, OPERATOR)
    assert "nav-deliveries" in ids(operator.get("/_dash-layout").get_json())
    assert find(page(operator, "/deliveries"), "deliveries") is not None
    leader = signed_in(app, LEADER)
    assert "nav-deliveries" not in ids(leader.get("/_dash-layout").get_json())
    assert find(page(leader, "/deliveries"), "page-not-found") is not None


def test_a_leader_calling_the_panel_anyway_is_refused_and_audited(
    app: dash.Dash, pg_dsn: str, world: dict[str, object]
) -> None:
    out = refresh(signed_in(app, LEADER))
    assert find(out["deliveries.children"], "deliveries-forbidden") is not None
    assert NA_SANG_REASON not in str(out)
    with psycopg.connect(pg_dsn) as conn:
        got = conn.execute(
            "SELECT detail->>'role' FROM audit_log WHERE username = %s AND action = %s",
            (LEADER, "deliveries.view_refused"),
        ).fetchall()
    assert got == [("leader",)]


def test_old_failures_are_left_out(
    pool: ConnectionPool, live: MemoryLiveStore, site: SiteConfig, world: dict[str, object]
) -> None:
    data = PostgresWallData(pool, live, site)
    failed_at = world["failed_at"]
    assert isinstance(failed_at, datetime)
    assert len(data.failed_deliveries(failed_at - timedelta(seconds=1))) == 2
    assert data.failed_deliveries(failed_at + timedelta(seconds=1)) == []


def test_with_the_database_down_the_list_stays_and_the_age_grows(
    dead_pool: ConnectionPool, live: MemoryLiveStore, site: SiteConfig, auth: AuthStore
) -> None:
    data = PostgresWallData(dead_pool, live, site)
    read_at = (utcnow() - timedelta(minutes=3)).isoformat()
    out = refresh_deliveries(
        data, auth, site, ZoneInfo(site.site.timezone), User(OPERATOR, "operator", ()), read_at, "vi"
    )
    assert out[0] is dash.no_update and out[1] is dash.no_update
    assert out[2] == "cập nhật 3 phút trước" and out[3] == "age stale" and out[4] == read_at


def test_without_a_session_the_panel_answers_401(app: dash.Dash) -> None:
    client = app.server.test_client()
    body = {
        "output": "deliveries.children",
        "outputs": {"id": "deliveries", "property": "children"},
        "inputs": [{"id": "deliveries-tick", "property": "n_intervals", "value": 1}],
        "state": [],
        "changedPropIds": ["deliveries-tick.n_intervals"],
    }
    assert client.post("/_dash-update-component", json=body).status_code == 401
    assert client.get("/deliveries").status_code == 302
