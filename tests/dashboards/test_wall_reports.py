"""The /reports page of the wall on real PostgreSQL: open reports on the map and in the list, counts by commune
(open, due soon, overdue), each user's scope applied in the queries, and a flooding report's detail showing the
nearest station's level and camera's snapshot (a traffic report's does not)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dash
import psycopg
import pytest
from flask.testing import FlaskClient
from psycopg_pool import ConnectionPool

from analytics.reports import Action, Status, next_status
from dashboards.app import create_app
from dashboards.auth import AuthStore
from dashboards.data import PostgresWallData
from ioc.config.models import SiteConfig
from ioc.events import utcnow
from ioc.store.live import MemoryLiveStore
from ioc.store.reports import NewReport, ReportStore
from tests.dashboards.wall_helpers import SECRET, call, find, login, page

pytestmark = pytest.mark.services

PASSWORD = "mat-khau-du-dai-5"
OPERATOR, SCOPED, LEADER = "truc.ban.pa", "truc.ban.pa.nasang", "lanh.dao.pa"


def new(category: str, commune: str, unit: str, deadline_in: timedelta, lon: float, lat: float,
        phone: str | None = None) -> NewReport:
    return NewReport(category=category, description=f"Phản ánh {category} ở {commune}", lon=lon, lat=lat,
                     location_source="gps", commune_code=commune, unit_id=unit, deadline=utcnow() + deadline_in,
                     channel="web", created_by="public", phone=phone)


@pytest.fixture(scope="module")
def world(pool: ConnectionPool, pg_dsn: str) -> dict[str, str]:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE reports, report_events, report_photos, report_sms")
    store = ReportStore(pool)
    flood = store.submit(new("flooding_landslide", "03172", "ubnd-na-sang", timedelta(days=2), 103.0880, 21.7575,
                             phone="84912345678"))  # 40 m from NS-01
    traffic = store.submit(new("traffic", "03172", "ubnd-na-sang", -timedelta(hours=2), 103.0900, 21.7600))
    far_flood = store.submit(new("flooding_landslide", "03181", "ubnd-muong-tung", timedelta(hours=5), 103.30,
                                 21.90))  # Mường Tùng, due soon, nothing within 2 km
    done = store.submit(new("traffic", "03172", "ubnd-na-sang", -timedelta(days=1), 103.09, 21.76))
    for action in (Action.ASSIGN, Action.RESOLVE):
        store.step(done.code, action.value, actor="lo-thi-mai", note="Đã xử lý",
                   decide=lambda s, a=action: next_status(Status(s), a).value)
    store.step(flood.code, "assign", actor="lo-thi-mai", decide=lambda s: next_status(Status(s), Action.ASSIGN).value)
    return {"flood": flood.code, "traffic": traffic.code, "far": far_flood.code, "done": done.code}


@pytest.fixture(scope="module")
def auth(pool: ConnectionPool) -> AuthStore:
    store = AuthStore(pool)
    store.ensure_user(OPERATOR, PASSWORD, "operator")
    store.ensure_user(SCOPED, PASSWORD, "operator", ["03172"])
    store.ensure_user(LEADER, PASSWORD, "leader")
    return store


@pytest.fixture(scope="module")
def app(pool: ConnectionPool, live: MemoryLiveStore, site: SiteConfig, site_dir: Path, auth: AuthStore,
        world: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dash.Dash:
    return create_app(PostgresWallData(pool, live, site), site, auth=auth, secret_key=SECRET, site_dir=site_dir,
                      snapshot_root=tmp_path_factory.mktemp("snapshots"))


def signed_in(app: dash.Dash, username: str) -> FlaskClient:
    client: FlaskClient = app.server.test_client()
    assert login(client, username, PASSWORD).status_code == 302
    return client


def refresh(client: FlaskClient, lang: str = "vi") -> dict[str, object]:
    out = call(client, "reports-map.figure",
               {"reports-tick.n_intervals": 1, "reports-read-at.data": None, "lang.data": lang})
    return {f"{cid}.{prop}": value for cid, props in out.items() for prop, value in props.items()}


def detail(client: FlaskClient, code: str, lang: str = "vi") -> object:
    return call(client, "reports-detail.children", {"reports-pick.value": code, "lang.data": lang})[
        "reports-detail"]["children"]


def text_of(node: object) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return " ".join(text_of(n) for n in node)
    if isinstance(node, dict):
        props = node.get("props", {})
        return " ".join([text_of(props.get("children", "")), str(props.get("src", ""))])
    return ""


def test_the_page_is_in_every_wall_role(app: dash.Dash) -> None:
    for user in (OPERATOR, LEADER):
        layout = page(signed_in(app, user), "/reports")
        assert find(layout, "reports-map") is not None and find(layout, "reports-detail") is not None


def test_open_reports_map_list_and_counts_by_commune(app: dash.Dash, world: dict[str, str]) -> None:
    out = refresh(signed_in(app, OPERATOR))
    assert out["reports-count.children"] == "3 phản ánh"
    listed = [row["props"]["id"] for row in out["reports-list.children"]]  # type: ignore[attr-defined]
    assert listed == [f"report-{world['traffic']}", f"report-{world['far']}", f"report-{world['flood']}"]
    classes = [row["props"]["className"] for row in out["reports-list.children"]]  # type: ignore[attr-defined]
    assert classes == ["alert report report-overdue", "alert report report-due_soon", "alert report report-on_track"]
    figure = out["reports-map.figure"]
    names = {trace["name"]: len(trace["lon"]) for trace in figure["data"]}  # type: ignore[index]
    assert names == {"Giao thông": 1, "Ngập lụt, sạt lở": 2}
    assert figure["layout"]["map"]["layers"]  # type: ignore[index]  # the communes' outlines
    table = out["reports-communes.children"]
    assert text_of(find(table, "reports-commune-03172")).split() == ["Na", "Sang", "2", "0", "1"]
    assert text_of(find(table, "reports-commune-03181")).split()[-3:] == ["1", "1", "0"]
    picks = [f"report-{o['value']}" for o in out["reports-pick.options"]]  # type: ignore[attr-defined]
    assert picks == listed


def test_a_scoped_operator_sees_only_their_communes(app: dash.Dash, world: dict[str, str]) -> None:
    client = signed_in(app, SCOPED)
    out = refresh(client)
    assert out["reports-count.children"] == "2 phản ánh"
    assert find(out["reports-communes.children"], "reports-commune-03181") is None
    assert find(detail(client, world["far"]), "reports-unknown") is not None
    assert find(detail(client, world["done"]), "report-detail") is not None  # closed reports still open by code


def test_a_flooding_reports_detail_shows_the_station_level_and_the_camera(app: dash.Dash,
                                                                        world: dict[str, str]) -> None:
    client = signed_in(app, OPERATOR)
    shown = detail(client, world["flood"])
    station = text_of(find(shown, "report-station"))
    assert station.startswith("Trạm Suối Nậm Chà - cầu trung tâm Na Sang (cách ") and \
        "mực nước 3,20 m, báo động II" in station
    camera = find(shown, "report-camera")
    assert "/snapshots/thpt-road.jpg" in text_of(camera) and "(cách 198 m)" in text_of(camera)  # the nearest
    assert "Người gửi để lại số điện thoại" in text_of(shown)
    trail = text_of(find(shown, "report-detail-trail"))
    assert "Tiếp nhận phản ánh" in trail and "Chuyển đơn vị xử lý" in trail
    english = text_of(find(detail(client, world["flood"], "en"), "report-station"))
    assert "water level 3.20 m, alarm level II" in english
    assert find(detail(client, world["far"]), "report-no-sensor") is not None  # nothing within 2 km
    traffic = detail(client, world["traffic"])
    assert find(traffic, "report-station") is None and find(traffic, "report-no-sensor") is None
