"""The wall's pages for each role and scope, driven through the real callbacks on PostgreSQL data.

The sample site's tiles (configs/muong-cha/wall.yaml) read what the workers would have written: line crossings
and their minute rollup, a camera summary with its snapshot, zone occupancy, a KPI report, camera health.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import dash
import numpy as np
import psycopg
import pytest
from dash import html
from flask.testing import FlaskClient
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from dashboards.app import create_app, nav_id
from dashboards.auth import AuthStore
from dashboards.data import PostgresWallData
from dashboards.figures import COMMUNE_TRACE, SELECTED_TRACE, STATION_TRACE
from dashboards.pages import ALL_ROLES, Page, register, registered, unregister
from ioc.config.models import SiteConfig
from ioc.i18n import t
from ioc.store.live import MemoryLiveStore
from ioc.store.snapshots import SnapshotStore
from tests.dashboards.wall_helpers import SECRET, call, callback_payload, csrf_header, find, ids, login, page

pytestmark = pytest.mark.services

USERS = {
    "admin": ("quan.tri", "admin", []),
    "operator": ("truc.ban.nasang", "operator", ["03172"]),
    "leader": ("lanh.dao", "leader", []),
    "district": ("truc.ban.huyen", "operator", ["former-muong-cha"]),
}
PASSWORD = "mat-khau-du-dai-1"


@pytest.fixture(scope="module")
def snapshot_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("snapshots")


@pytest.fixture(scope="module")
def cameras_filled(pg_dsn: str, now: datetime, snapshot_root: Path) -> dict[str, Any]:
    """Crossings, a summary with its snapshot and boxes, a crowded zone, a KPI report and camera health."""
    image = np.full((360, 640, 3), 40, np.uint8)
    snap = SnapshotStore(snapshot_root).save("thpt-road", image, now - timedelta(seconds=5), "summary")
    assert snap is not None
    SnapshotStore.write_boxes(snap, [{"xyxy": [100, 100, 200, 180], "class": "car", "track_id": 7}], 640, 360)
    crossings = []
    for i, (direction, minutes_ago) in enumerate(
        [
            ("in", 2),
            ("in", 3),
            ("in", 6),
            ("in", 9),
            ("out", 4),
            ("out", 12),
            ("in", 30),
            ("out", 40),
            ("in", 50),
        ]
    ):
        at = now - timedelta(minutes=minutes_ago)
        crossings.append((at, "thpt-road", "main", i, "car", direction, uuid.uuid4()))
    with psycopg.connect(pg_dsn) as conn:
        conn.cursor().executemany(
            "INSERT INTO line_crossings (crossed_at, camera_id, line_id, track_id, object_class, direction, "
            "event_id) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            crossings,
        )
        conn.execute("SELECT ioc_refresh_line_counts(%s, %s)", (now - timedelta(hours=2), now))
        conn.execute(
            "INSERT INTO detection_summaries (window_end, camera_id, window_start, frames_analysed, counts, "
            "snapshot, event_id) VALUES (%s, 'thpt-road', %s, 50, %s, %s, %s)",
            (
                now - timedelta(seconds=5),
                now - timedelta(seconds=15),
                Jsonb({"car": 3, "motorcycle": 5}),
                snap,
                uuid.uuid4(),
            ),
        )
        conn.cursor().executemany(
            "INSERT INTO camera_health (at, camera_id, status, detail, event_id) VALUES (%s, %s, %s, '', %s)",
            [
                (now - timedelta(hours=1), "thpt-road", "online", uuid.uuid4()),
                (now - timedelta(minutes=2), "ns-parking", "offline", uuid.uuid4()),
            ],
        )
        conn.execute(
            "INSERT INTO zone_occupancy (at, camera_id, zone_id, counts, total, density_per_m2, event_id) "
            "VALUES (%s, 'ns-one-stop', 'stage', %s, 45, 0.3, %s)",
            (now - timedelta(seconds=3), Jsonb({"person": 45}), uuid.uuid4()),
        )
        conn.execute(
            "INSERT INTO kpi_values (kpi_id, unit_code, period_kind, period_start, value, target, source, "
            "event_id, updated_at) "
            "VALUES ('dossiers_on_time_pct', '03172', 'month', %s, 92.5, 95, 'test', %s, %s)",
            # October 2026 as the KPI store keeps it: local midnight of 1 October in UTC (issue 15, item 1).
            (datetime(2026, 9, 30, 17, tzinfo=now.tzinfo), uuid.uuid4(), now - timedelta(days=1)),
        )
    return {"snapshot": snap}


@pytest.fixture(scope="module")
def app(
    pool: ConnectionPool,
    live: MemoryLiveStore,
    site: SiteConfig,
    site_dir: Path,
    filled: dict[str, object],
    cameras_filled: dict[str, Any],
    snapshot_root: Path,
) -> dash.Dash:
    auth = AuthStore(pool)
    for name, role, scopes in USERS.values():
        auth.ensure_user(name, PASSWORD, role, scopes)  # type: ignore[arg-type]
    return create_app(
        PostgresWallData(pool, live, site),
        site,
        auth=auth,
        secret_key=SECRET,
        site_dir=site_dir,
        snapshot_root=snapshot_root,
    )


def client_for(app: dash.Dash, who: str, lang: str = "vi") -> FlaskClient:
    client = app.server.test_client()
    response = login(client, USERS[who][0], PASSWORD, lang)
    assert response.status_code == 302
    return client


def overview(client: FlaskClient, lang: str = "vi") -> dict[str, Any]:
    return call(client, "banner.children", {"tick.n_intervals": 1, "ack-done.data": 0, "lang.data": lang})


# --- pages and navigation by role ------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "operator", "leader"])
def test_navigation_lists_exactly_the_pages_of_the_role(app: dash.Dash, who: str) -> None:
    client = client_for(app, who)
    shell = client.get("/_dash-layout").get_json()
    shown = ids(shell)
    role = USERS[who][1]
    for p in registered():
        assert (nav_id(p.path) in shown) == (role in p.roles), (who, p.path)
    for path in ("/", "/flood", "/cameras"):
        assert nav_id(path) in shown


def test_a_page_the_role_may_not_see_answers_like_a_missing_one(app: dash.Dash) -> None:
    secret = html.Div("admin only content", id="admin-only")
    register(Page("/wall-test-admins", "wall.page.overview", frozenset({"admin"}), lambda lang, user: secret))
    try:
        operator = client_for(app, "operator")
        refused = page(operator, "/wall-test-admins")
        assert find(refused, "page-not-found") is not None
        assert "admin only content" not in json.dumps(refused)
        assert find(page(operator, "/no/such/page"), "page-not-found") is not None
        admin = client_for(app, "admin")
        assert find(page(admin, "/wall-test-admins"), "admin-only") is not None
    finally:
        unregister("/wall-test-admins")


def test_pages_refuse_unknown_roles() -> None:
    with pytest.raises(ValueError, match="roles"):
        Page("/x", "wall.page.overview", frozenset({"visitor"}), lambda lang, user: html.Div())
    with pytest.raises(ValueError, match="path"):
        Page("x/", "wall.page.overview", ALL_ROLES, lambda lang, user: html.Div())


# --- overview: tiles, map, feed --------------------------------------------------------------------------


def test_admin_sees_every_tile_with_its_value_and_age(app: dash.Dash) -> None:
    out = overview(client_for(app, "admin"))
    tiles = out["tiles"]["children"]
    assert [t["props"]["id"] for t in tiles] == [
        "tile-flood-ns-01",
        "tile-flood-mt-01",
        "tile-flood-mp-01",
        "tile-flood-nn-01",
        "tile-traffic-ql12",
        "tile-traffic-thpt",
        "tile-crowd-one-stop",
        "tile-kpi-dossiers-na-sang",
    ]
    text = {t["props"]["id"]: json.dumps(t, ensure_ascii=False) for t in tiles}
    assert "3,20 m" in text["tile-flood-ns-01"] and "Báo động II" in text["tile-flood-ns-01"]
    # 6 crossings in the last 15 minutes (4 in, 2 out), three older ones left out; from the minute rollup.
    thpt = find(tiles, "tile-traffic-thpt")
    assert thpt["props"]["children"][1]["props"]["children"] == "6"
    assert "về phía trường 4" in text["tile-traffic-thpt"] and "ra thị trấn 2" in text["tile-traffic-thpt"]
    crowd = find(tiles, "tile-crowd-one-stop")
    assert crowd["props"]["children"][1]["props"]["children"] == "45"
    assert "state-alarm" in crowd["props"]["className"]  # 45 people where 40 is the limit
    # Regression (issue 15, item 2): the words follow the colour; a red tile never says "uncrowded".
    assert crowd["props"]["children"][2]["props"]["children"] == "tối đa 40 · 0,30 người/m² · vượt mức tối đa"
    kpi = find(tiles, "tile-kpi-dossiers-na-sang")
    assert kpi["props"]["children"][1]["props"]["children"] == "92,5 %"
    assert "state-warning" in kpi["props"]["className"]
    # Regression (issue 15, item 1): the local month of the period, not the month of its UTC start.
    assert kpi["props"]["children"][2]["props"]["children"] == "10/2026 · mục tiêu 95,0 %"
    # Ages: the camera summary is 5 s old (fresh), a station that never reported and a camera with no
    # summary are warnings.
    assert find(tiles, "tile-age-traffic-thpt")["props"]["className"] == "age"
    assert "cập nhật" in find(tiles, "tile-age-traffic-thpt")["props"]["children"]
    assert find(tiles, "tile-age-flood-mp-01")["props"]["className"] == "age stale"
    assert find(tiles, "tile-age-traffic-ql12")["props"]["className"] == "age stale"
    assert find(tiles, "tile-age-kpi-dossiers-na-sang")["props"]["className"] == "age"


def test_tiles_in_english(app: dash.Dash) -> None:
    out = overview(client_for(app, "admin", "en"), "en")
    text = json.dumps(out["tiles"], ensure_ascii=False)
    assert "Alarm level II" in text and "last 15 min" in text and "target 95.0%" in text and "updated" in text


def test_a_scoped_operator_gets_only_their_communes_data(app: dash.Dash) -> None:
    client = client_for(app, "operator")
    out = overview(client)
    tile_ids = [t["props"]["id"] for t in out["tiles"]["children"]]
    assert tile_ids == [
        "tile-flood-ns-01",
        "tile-traffic-ql12",
        "tile-traffic-thpt",
        "tile-crowd-one-stop",
        "tile-kpi-dossiers-na-sang",
    ]
    feed = json.dumps(out["alerts"], ensure_ascii=False)
    assert "Nậm Nèn" not in feed and "Mường Pồn" not in feed
    # The map of the page holds only the commune's station.
    graph = find(page(client, "/"), "map")
    assert len(graph["props"]["figure"]["data"][STATION_TRACE]["lon"]) == 1


def test_a_former_district_scope_covers_its_communes(app: dash.Dash) -> None:
    out = overview(client_for(app, "district"))
    tile_ids = {t["props"]["id"] for t in out["tiles"]["children"]}
    assert {"tile-flood-ns-01", "tile-flood-mt-01", "tile-flood-mp-01", "tile-flood-nn-01"} <= tile_ids


@pytest.mark.parametrize(("who", "buttons"), [("operator", True), ("admin", True), ("leader", False)])
def test_acknowledge_buttons_only_for_roles_that_may(
    app: dash.Dash, filled: dict[str, object], who: str, buttons: bool
) -> None:
    out = overview(client_for(app, who))
    major = filled["major_alert_id"]
    feed = out["alerts"]["children"]
    assert find(feed, f"alert-{major}") is not None
    assert (find(feed, f"ack-{major}") is not None) == buttons


def test_map_places_open_alerts_and_colours_cameras(app: dash.Dash) -> None:
    out = overview(client_for(app, "admin"))
    patch = json.dumps(out["map"]["figure"])
    # NS-01's major alert sits on the station, in the severity's colour; the offline camera is grey.
    assert "103.0878" in patch and "#f2913d" in patch
    assert "#6b7280" in patch


# --- the commune selected on the map --------------------------------------------------------------------


def commune_click(code: str, trace: int = COMMUNE_TRACE) -> dict[str, Any]:
    """The map's clickData for a click on ``code``'s polygon (or on another trace's point)."""
    point: dict[str, Any] = {"curveNumber": trace, "pointNumber": 0, "pointIndex": 0}
    if trace == COMMUNE_TRACE:
        point["location"] = code
    else:
        point.update({"lon": 103.0878, "lat": 22.0786})
    return {"points": [point]}


def select(client: FlaskClient, click: Any, current: str | None) -> Any:
    out = call(client, "map-selected.data", {"map.clickData": click, "map-selected.data": current})
    return out["map-selected"]["data"]


def selection_assigned(patch: dict[str, Any]) -> dict[str, Any]:
    """The values a refresh's Patch assigns to the selected commune's outline, by property."""
    return {
        op["location"][-1]: op["params"]["value"]
        for op in patch["operations"]
        if op["location"][:2] == ["data", SELECTED_TRACE]
    }


def test_a_click_on_a_commune_selects_it_and_a_second_click_clears_it(app: dash.Dash) -> None:
    client = client_for(app, "admin")
    assert select(client, commune_click("03181"), None) == "03181"
    assert select(client, commune_click("03181"), "03181") is None
    assert select(client, commune_click("03172"), "03181") == "03172"  # another commune moves the selection


@pytest.mark.parametrize(
    "click",
    [
        pytest.param(commune_click("NS-01", STATION_TRACE), id="a station"),
        pytest.param({"points": []}, id="no point"),
        pytest.param({"points": [{"curveNumber": COMMUNE_TRACE}]}, id="a commune point without its code"),
        pytest.param("not a click", id="not a click at all"),
    ],
)
def test_a_click_on_anything_but_a_commune_keeps_the_selection(app: dash.Dash, click: Any) -> None:
    assert select(client_for(app, "admin"), click, "03172") == "03172"


def test_the_clear_button_clears_the_selection(app: dash.Dash) -> None:
    client = client_for(app, "admin")
    payload = callback_payload(
        client, "map-selected.data", {"map-selection-clear.n_clicks": 1, "map-selected.data": "03172"}
    )
    payload["changedPropIds"] = ["map-selection-clear.n_clicks"]
    response = client.post("/_dash-update-component", json=payload, headers=csrf_header(client))
    assert response.status_code == 200
    assert response.get_json()["response"]["map-selected"]["data"] is None


def test_the_refresh_outlines_the_selection_and_names_it_in_the_page_language(
    app: dash.Dash, site: SiteConfig
) -> None:
    client = client_for(app, "admin")
    muong_tung = next(a for a in site.areas if a.code == "03181")
    for lang, name in (("vi", muong_tung.name), ("en", muong_tung.name_en)):
        out = call(client, "banner.children", {"tick.n_intervals": 4, "map-selected.data": "03181", "lang.data": lang})
        outline = selection_assigned(out["map"]["figure"])
        assert len(outline["lon"]) == len(outline["lat"]) > 3
        assert out["map-selection-name"]["children"] == f"{t('wall.map.selected', lang, name=name)}"
        assert out["map-selection"]["className"] == "map-selection"
    # Nothing selected: the outline is emptied and the heading hidden, on every tick.
    out = call(client, "banner.children", {"tick.n_intervals": 5, "map-selected.data": None, "lang.data": "vi"})
    assert selection_assigned(out["map"]["figure"]) == {"lon": [], "lat": []}
    assert out["map-selection"]["className"] == "map-selection hidden"


def test_a_scoped_operator_selects_only_their_communes(app: dash.Dash) -> None:
    client = client_for(app, "operator")  # Na Sang only
    graph = find(page(client, "/"), "map")
    assert graph["props"]["figure"]["data"][COMMUNE_TRACE]["locations"] == ["03172"]
    assert select(client, commune_click("03181"), None) is None
    assert select(client, commune_click("03172"), None) == "03172"
    # A selection of another commune forged in the page's store drops out at the next click...
    assert select(client, commune_click("NS-01", STATION_TRACE), "03181") is None
    # ...and the refresh neither draws nor names it.
    out = call(client, "banner.children", {"tick.n_intervals": 2, "map-selected.data": "03181", "lang.data": "vi"})
    assert selection_assigned(out["map"]["figure"]) == {"lon": [], "lat": []}
    assert out["map-selection-name"]["children"] == ""
    assert out["map-selection"]["className"] == "map-selection hidden"
    assert "Mường Tùng" not in json.dumps(out, ensure_ascii=False)


# --- gauges and cameras ----------------------------------------------------------------------------------


def test_gauges_for_every_station_of_the_admin(app: dash.Dash) -> None:
    client = client_for(app, "admin")
    out = call(client, "gauges.children", {"gauge-tick.n_intervals": 1, "lang.data": "vi", "scale.data": 2.0})
    grid = out["gauges"]["children"]["props"]
    cards = grid["children"]
    assert [c["props"]["id"] for c in cards] == ["gauge-NS-01", "gauge-MT-01", "gauge-MP-01", "gauge-NN-01"]
    assert grid["className"] == "card-grid" and grid["style"] == {"--cols": 2, "--rows": 2}  # four fill the page
    assert find(cards, "gauge-age-NS-01")["props"]["className"] == "age"
    assert find(cards, "gauge-age-MP-01")["props"]["className"] == "age stale"
    assert "chưa có số liệu" in json.dumps(find(cards, "gauge-MP-01"), ensure_ascii=False)


def test_camera_grid_shows_snapshots_states_and_counts(app: dash.Dash) -> None:
    client = client_for(app, "admin")
    out = call(client, "camera-grid.children", {"camera-tick.n_intervals": 1, "lang.data": "vi"})
    cards = out["camera-grid"]["children"]["props"]["children"]
    assert [c["props"]["id"] for c in cards] == [
        "camera-ns-crossroads",
        "camera-ns-parking",
        "camera-thpt-road",
        "camera-ns-one-stop",
    ]
    img = find(cards, "snapshot-thpt-road")
    assert img["type"] == "Img" and img["props"]["src"].startswith("/snapshots/thpt-road.jpg?v=")
    thpt = json.dumps(find(cards, "camera-thpt-road"), ensure_ascii=False)
    assert "xe máy 5 · ô tô 3" in thpt and "hoạt động" in thpt
    assert find(cards, "camera-age-thpt-road")["props"]["className"] == "age"
    parking = find(cards, "camera-ns-parking")
    assert "status-offline" in parking["props"]["className"]
    assert "mất kết nối" in json.dumps(parking, ensure_ascii=False)
    assert find(cards, "snapshot-ns-parking")["type"] == "Div"  # no picture yet
    assert find(cards, "camera-age-ns-crossroads")["props"]["className"] == "age stale"
    # The picture itself: a JPEG through the authenticated route.
    picture = client.get(img["props"]["src"])
    assert picture.status_code == 200 and picture.mimetype == "image/jpeg"
    assert cv2.imdecode(np.frombuffer(picture.data, np.uint8), cv2.IMREAD_COLOR).shape == (360, 640, 3)


def test_rotation_cycles_the_pages_of_the_user(app: dash.Dash) -> None:
    shell = client_for(app, "operator").get("/_dash-layout").get_json()
    rotation = find(shell, "rotation")["props"]["data"]
    assert rotation[:3] == ["/", "/flood", "/cameras"]
    assert all(p.path in rotation for p in registered() if "operator" in p.roles and p.rotates)
    assert find(shell, "rotate-tick")["props"]["disabled"] is True  # on only with ?rotate=N


def test_a_4k_wall_zooms_the_map_in_and_grows_its_markers(app: dash.Dash) -> None:
    client = client_for(app, "admin")
    values = {
        "tick.n_intervals": 3,
        "ack-done.data": 0,
        "lang.data": "vi",
        "scale.data": 2.0,
        "map-zoom.data": 9.5,
    }
    patch = json.dumps(call(client, "banner.children", values)["map"]["figure"])
    assert "10.5" in patch and "wall-x2" in patch and "44" in patch  # zoom + 1, new uirevision, 22 px x 2
    values["scale.data"] = 1.0
    assert "uirevision" not in json.dumps(call(client, "banner.children", values)["map"]["figure"])
