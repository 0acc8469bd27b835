"""The wall display behind its login, driven through Flask's test client on the real PostgreSQL."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import dash
import psycopg
import pytest
from flask.testing import FlaskClient
from psycopg_pool import ConnectionPool

from dashboards.app import create_app
from dashboards.auth import AuthStore
from dashboards.data import PostgresWallData
from ioc.config.models import SiteConfig
from ioc.store.live import MemoryLiveStore
from tests.dashboards.wall_helpers import SECRET, callback_payload, csrf_header, login

USER, PASSWORD = "truc.ban", "mat-khau-dung-1"


@pytest.fixture(scope="module")
def auth(pool: ConnectionPool) -> AuthStore:
    store = AuthStore(pool)
    store.ensure_user(USER, PASSWORD, "operator", ["03172"])
    return store


@pytest.fixture(scope="module")
def app(
    pool: ConnectionPool,
    live: MemoryLiveStore,
    site: SiteConfig,
    site_dir: Path,
    auth: AuthStore,
    filled: dict[str, object],
) -> dash.Dash:
    return create_app(
        PostgresWallData(pool, live, site), site, auth=auth, secret_key=SECRET, site_dir=site_dir
    )


@pytest.fixture
def client(app: dash.Dash) -> FlaskClient:
    return app.server.test_client()


@pytest.fixture
def signed_in(client: FlaskClient) -> Iterator[FlaskClient]:
    login(client, USER, PASSWORD)
    yield client


def page(client: FlaskClient, path: str = "/", lang: str = "vi") -> Any:
    """Ask the routing callback for the page at ``path``, the way dcc.Location does after a load."""
    payload = callback_payload(client, "page-content.children", {"url.pathname": path, "lang.data": lang})
    response = client.post("/_dash-update-component", json=payload, headers=csrf_header(client))
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_json()["response"]["page-content"]["children"]


def refresh(client: FlaskClient, lang: str = "vi") -> str:
    payload = callback_payload(
        client, "banner.children", {"tick.n_intervals": 1, "ack-done.data": 0, "lang.data": lang}
    )
    response = client.post("/_dash-update-component", json=payload, headers=csrf_header(client))
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return json.dumps(response.get_json()["response"], ensure_ascii=False)


# --- the guard ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_dash-layout"),
        ("GET", "/_dash-dependencies"),
        ("POST", "/_dash-update-component"),
        ("GET", "/assets/wall.css"),
        ("GET", "/_dash-component-suites/dash/dcc/dash_core_components.js"),
        ("GET", "/_favicon.ico"),
        ("GET", "/some/random/path"),
        ("GET", "/geo/fine.geojson"),
        ("POST", "/logout"),
    ],
)
def test_everything_but_login_and_health_is_refused_without_a_session(
    client: FlaskClient, method: str, path: str
) -> None:
    response = client.open(path, method=method, json={} if method == "POST" else None)
    assert response.status_code in (401, 405)
    if response.status_code == 405:  # a route that exists for GET only is not an opening either
        assert client.get(path).status_code in (302, 401)


def test_the_page_redirects_to_login(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=%2F")


def test_login_page_and_health_are_open(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200
    vi = client.get("/login").get_data(as_text=True)
    assert "Đăng nhập" in vi and "Mật khẩu" in vi
    en = client.get("/login?lang=en").get_data(as_text=True)
    assert "Sign in" in en and "Password" in en


def test_wrong_password_is_refused_and_recorded(client: FlaskClient, pg_dsn: str) -> None:
    response = login(client, USER, "wrong-password")
    assert response.status_code == 401
    assert "Sai tên đăng nhập hoặc mật khẩu" in response.get_data(as_text=True)
    assert client.get("/_dash-layout").status_code == 401
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM audit_log WHERE username = %s AND action = 'login_failed'", (USER,)
        ).fetchone()
    assert row is not None and row[0] >= 1


def test_login_form_without_its_token_is_refused(client: FlaskClient) -> None:
    client.get("/login")
    response = client.post("/login", data={"username": USER, "password": PASSWORD, "csrf": "forged"})
    assert response.status_code == 400
    assert client.get("/_dash-layout").status_code == 401


def test_right_password_signs_in_and_is_recorded(client: FlaskClient, pg_dsn: str) -> None:
    response = login(client, USER.upper(), PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    layout = client.get("/_dash-layout")
    assert layout.status_code == 200
    assert "Mường Chà (Điện Biên)" in json.dumps(layout.get_json(), ensure_ascii=False)
    assert "Cảnh báo đang mở" in json.dumps(page(client, "/"), ensure_ascii=False)
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM audit_log WHERE username = %s AND action = 'login'", (USER,)
        ).fetchone()
    assert row is not None and row[0] >= 1


def test_next_never_leaves_the_site(client: FlaskClient) -> None:
    page = client.get("/login?next=//evil.example/x")
    assert 'name="next" value="/"' in page.get_data(as_text=True)


def test_logout_ends_the_session(signed_in: FlaskClient) -> None:
    confirm = signed_in.get("/logout")  # a GET only asks (issue 12, hole 3: no state change on GET)
    assert confirm.status_code == 200 and 'action="/logout"' in confirm.get_data(as_text=True)
    assert signed_in.get("/_dash-layout").status_code == 200
    assert signed_in.post("/logout", data={"csrf": "forged"}).status_code == 403
    assert signed_in.post("/logout", headers=csrf_header(signed_in)).status_code == 302
    assert signed_in.get("/_dash-layout").status_code == 401
    assert signed_in.get("/").status_code == 302


# --- the page --------------------------------------------------------------------------------------------


def test_refresh_shows_the_station_level_and_the_open_alert(signed_in: FlaskClient) -> None:
    out = refresh(signed_in, "vi")
    assert "3,20 m" in out  # the decimal comma in Vietnamese (issue 15, item 8)
    assert "Báo động II" in out
    assert "Suối Nậm Chà - cầu trung tâm Na Sang: mực nước 3,20 m, vượt báo động II" in out
    assert re.search(r"mở lúc \d\d:\d\d", out)
    assert "cập nhật 3" in out  # the live reading is about 30 s old
    # The operator's scope is Na Sang (03172): Nậm Nèn's acknowledged alert is not theirs to see.
    assert "1 đang mở" in out
    assert "Suối Nậm Nèn" not in out
    assert "Không kết nối được cơ sở dữ liệu" not in out


def test_refresh_in_english(signed_in: FlaskClient) -> None:
    out = refresh(signed_in, "en")
    assert "Alarm level II" in out
    assert "water level 3.20 m, above alarm level II" in out
    assert re.search(r"opened \d\d:\d\d", out)
    assert "updated 3" in out


def test_language_switch_returns_to_the_page_it_came_from(signed_in: FlaskClient) -> None:
    assert signed_in.get("/lang/en?next=/flood%3Frotate%3D60").headers["Location"] == "/flood?rotate=60"
    assert signed_in.get("/lang/vi?next=//evil.example/").headers["Location"] == "/"


def test_language_choice_is_kept_in_the_session(signed_in: FlaskClient) -> None:
    assert signed_in.get("/lang/en").status_code == 302
    shell = signed_in.get("/_dash-layout").get_json()
    assert _find(shell, "lang")["props"]["data"] == "en"
    assert _find(shell, "lang-switch")["props"]["children"] == "Tiếng Việt"
    assert "Open alerts" in json.dumps(page(signed_in, "/", "en"))
    signed_in.get("/lang/vi")
    assert _find(signed_in.get("/_dash-layout").get_json(), "lang")["props"]["data"] == "vi"


def _pictures(card: dict[str, Any]) -> list[ElementTree.Element]:
    """The SVG pictures of a gauge card (the gauge, then the trend), parsed from their data URIs."""
    prefix = "data:image/svg+xml;base64,"
    srcs = [c["props"]["src"] for c in card["props"]["children"] if c.get("type") == "Img"]
    assert all(s.startswith(prefix) for s in srcs)
    return [ElementTree.fromstring(base64.b64decode(s[len(prefix) :])) for s in srcs]


SVG = "{http://www.w3.org/2000/svg}"


def test_gauges_show_levels_and_trends_from_the_rollups(signed_in: FlaskClient) -> None:
    payload = callback_payload(signed_in, "gauges.children", {"gauge-tick.n_intervals": 1, "lang.data": "vi"})
    response = signed_in.post("/_dash-update-component", json=payload, headers=csrf_header(signed_in))
    assert response.status_code == 200
    cards = response.get_json()["response"]["gauges"]["children"]
    ns01 = _find(cards, "gauge-NS-01")
    assert ns01 is not None
    gauge, trend = _pictures(ns01)
    assert float(gauge.find(f"{SVG}rect[@class='value']").get("data-value")) == pytest.approx(3.2)
    assert [float(b.get("data-to")) for b in gauge.findall(f"{SVG}rect[@class='band']")][:3] == [2.0, 3.0, 4.0]
    assert "3,20 m" in gauge.find(f"{SVG}title").text
    # three hours of minute buckets, as five-minute averages
    assert 36 <= int(trend.find(f"{SVG}polyline[@class='level']").get("data-points")) <= 38
    # Only the operator's commune: Mường Pồn's and Nậm Nèn's stations are out of scope.
    assert _find(cards, "gauge-MP-01") is None and _find(cards, "gauge-NN-01") is None


def test_callbacks_need_the_csrf_token(signed_in: FlaskClient) -> None:
    payload = callback_payload(
        signed_in, "banner.children", {"tick.n_intervals": 1, "ack-done.data": 0, "lang.data": "vi"}
    )
    assert signed_in.post("/_dash-update-component", json=payload).status_code == 403


def test_map_draws_boundaries_without_tiles(signed_in: FlaskClient) -> None:
    layout = page(signed_in, "/")
    text = json.dumps(layout)
    assert "mapbox://" not in text and "https://" not in text.replace("https://plotly", "")
    graph = _find(layout, "map")
    assert graph is not None
    map_layout = graph["props"]["figure"]["layout"]["map"]
    # No tile or glyph server: the style is inline and the boundaries are files of the wall's own server.
    assert all(
        src["type"] == "geojson" and isinstance(src["data"], dict)
        for src in map_layout["style"]["sources"].values()
    )
    urls = {lay["source"] for lay in map_layout["layers"]}
    assert all(url.startswith("/geo/") and url.endswith(".geojson") for url in urls)
    levels = set()
    for url in urls:
        response = signed_in.get(url)
        assert response.status_code == 200 and response.mimetype == "application/geo+json"
        levels |= {f["properties"]["level"] for f in response.get_json()["features"]}
        # cached by the browser, and answered 304 when it asks again with the tag
        assert "max-age=3600" in response.headers["Cache-Control"]
        again = signed_in.get(url, headers={"If-None-Match": response.headers["ETag"]})
        assert again.status_code == 304
    assert levels == {"province", "commune", "former_district"}
    assert signed_in.get("/geo/nothing.geojson").status_code == 404
    # Regression: the boundaries inside the figure were most of the overview's callback time and 95 KB a load.
    assert len(text) < 40_000


def test_database_outage_shows_a_banner_not_an_error(
    dead_pool: ConnectionPool, live: MemoryLiveStore, site: SiteConfig, auth: AuthStore
) -> None:
    app = create_app(PostgresWallData(dead_pool, live, site), site, auth=auth, secret_key=SECRET)
    client = app.server.test_client()
    login(client, USER, PASSWORD)
    out = refresh(client, "vi")
    assert "Không kết nối được cơ sở dữ liệu" in out
    assert "3,20 m" in out  # the live value still shows


def _find(node: Any, component_id: str) -> Any:
    if isinstance(node, dict):
        if node.get("props", {}).get("id") == component_id:
            return node
        return next((f for v in node.values() if (f := _find(v, component_id)) is not None), None)
    if isinstance(node, list):
        return next((f for v in node if (f := _find(v, component_id)) is not None), None)
    return None


def test_trends_are_drawn_in_the_sites_local_time(signed_in: FlaskClient) -> None:
    payload = callback_payload(signed_in, "gauges.children", {"gauge-tick.n_intervals": 1, "lang.data": "vi"})
    response = signed_in.post("/_dash-update-component", json=payload, headers=csrf_header(signed_in))
    cards = response.get_json()["response"]["gauges"]["children"]
    trend = _pictures(_find(cards, "gauge-NS-01"))[1]
    last = [t.text for t in trend.findall(f"{SVG}text") if t.get("text-anchor") == "end" and ":" in (t.text or "")][-1]
    local_now = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh"))
    drawn = local_now.replace(hour=int(last[:2]), minute=int(last[3:]), second=0, microsecond=0)
    gap = abs((drawn - local_now).total_seconds())
    assert min(gap, 86400 - gap) < 1200  # UTC would be 7 h off


def test_answers_are_serialised_by_the_json_engine_not_a_python_walk(app: dash.Dash) -> None:
    # Regression: with orjson installed plotly walked every answer in Python first; the 50-gauge page took
    # several times longer to serialise than with the standard library's encoder.
    import plotly.io

    assert plotly.io.json.config.default_engine == "json"
