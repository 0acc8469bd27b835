"""No page, callback, snapshot or export without a session: every route of the server, from its URL map."""

from __future__ import annotations

import uuid
from pathlib import Path

import dash
import pytest
from flask.testing import FlaskClient
from psycopg_pool import ConnectionPool
from werkzeug.routing import FloatConverter, IntegerConverter, Rule, UUIDConverter

from dashboards.app import create_app
from dashboards.auth import PUBLIC_PATHS, AuthStore
from dashboards.data import PostgresWallData
from dashboards.pages import registered
from dashboards.report_form import PUBLIC_PREFIX as REPORT_PREFIX
from ioc.config.models import SiteConfig
from ioc.store.live import MemoryLiveStore
from tests.dashboards.wall_helpers import SECRET, csrf_header, login

pytestmark = pytest.mark.services

ADMIN, PASSWORD = "quan.tri", "mat-khau-quan-tri-1"
# A concrete value for each argument a route may take, so every rule becomes a real URL.
ARGUMENTS = {
    "filename": "wall.css",
    "package_name": "dash",
    "fingerprinted_path": "dcc/dash_core_components.js",
    "camera_id": "ns-crossroads",
    "code": "en",
    "path": "flood",
}


@pytest.fixture(scope="module")
def app(
    pool: ConnectionPool,
    live: MemoryLiveStore,
    site: SiteConfig,
    site_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dash.Dash:
    auth = AuthStore(pool)
    auth.ensure_user(ADMIN, PASSWORD, "admin")
    return create_app(
        PostgresWallData(pool, live, site),
        site,
        auth=auth,
        secret_key=SECRET,
        site_dir=site_dir,
        snapshot_root=tmp_path_factory.mktemp("snapshots"),
    )


def _url(rule: Rule) -> str:
    values = {name: ARGUMENTS.get(name, _sample(rule, name)) for name in rule.arguments}
    return rule.build(values, append_unknown=False)[1]


def _sample(rule: Rule, name: str) -> object:
    """A value the argument's converter accepts, for routes added later (exports by id, by year...)."""
    converter = rule._converters[name]
    if isinstance(converter, IntegerConverter):
        return 1
    if isinstance(converter, FloatConverter):
        return 1.0
    if isinstance(converter, UUIDConverter):
        return uuid.UUID(int=1)
    return "x"


def _requests(app: dash.Dash) -> list[tuple[str, str]]:
    out = []
    for rule in app.server.url_map.iter_rules():
        for method in sorted(rule.methods or ()):
            if method != "HEAD":
                out.append((method, _url(rule)))
    return out


def test_every_route_is_enumerated(app: dash.Dash) -> None:
    urls = {url for _, url in _requests(app)}
    for expected in ("/_dash-update-component", "/_dash-layout", "/snapshots/ns-crossroads.jpg", "/flood"):
        assert expected in urls
    assert len(urls) >= 14


def test_nothing_but_login_health_and_the_report_pages_answer_without_a_session(app: dash.Dash) -> None:
    client = app.server.test_client()
    pages = {p.path for p in registered()}
    checked = 0
    for method, url in _requests(app):
        response = client.open(url, method=method, json={} if method == "POST" else None)
        path = url.split("?")[0]
        if path in PUBLIC_PATHS:
            assert response.status_code in (200, 204, 400, 405), (method, url, response.status_code)
            continue
        if path == REPORT_PREFIX or path.startswith(REPORT_PREFIX + "/"):
            # The citizens' report form and status pages: public, and never the wall's pages or scripts.
            assert response.status_code in (200, 301, 303, 400, 404), (method, url, response.status_code)
            assert b"Dash" not in response.data and b"plotly" not in response.data
            continue
        checked += 1
        if method == "GET" and (path in pages or path.startswith("/lang/") or path == "/logout"):
            assert response.status_code == 302, (method, url)
            assert response.headers["Location"].startswith("/login?next="), (method, url)
        else:
            assert response.status_code == 401, (method, url, response.status_code)
        assert b"Dash" not in response.data and b"plotly" not in response.data
    assert checked >= 25


def test_the_enumerated_urls_are_real_routes_once_signed_in(app: dash.Dash) -> None:
    # Guards the test above: the URLs it refused are ones that answer with a session, not 404s of typos.
    client = app.server.test_client()
    login(client, ADMIN, PASSWORD)
    for url in ("/assets/wall.css", "/_dash-layout", "/_dash-dependencies", "/flood", "/cameras", "/"):
        assert client.get(url).status_code == 200, url
    suites = client.get("/_dash-component-suites/dash/dcc/dash_core_components.js")
    assert suites.status_code in (200, 304)
    # No snapshot was ever taken: known camera, no picture.
    assert client.get("/snapshots/ns-crossroads.jpg").status_code == 404


def test_a_forged_session_cookie_is_no_session(app: dash.Dash) -> None:
    client = app.server.test_client()
    client.set_cookie("ioc_session", "eyJ1c2VyIjoicXVhbi50cmkifQ.forged.signature")
    assert client.get("/_dash-layout").status_code == 401
    assert client.get("/snapshots/ns-crossroads.jpg").status_code == 401


def test_callbacks_refuse_a_session_without_its_csrf_token(app: dash.Dash) -> None:
    client: FlaskClient = app.server.test_client()
    login(client, ADMIN, PASSWORD)
    body = {
        "output": "page-content.children",
        "outputs": {"id": "page-content", "property": "children"},
        "inputs": [{"id": "url", "property": "pathname", "value": "/"}],
        "state": [{"id": "lang", "property": "data", "value": "vi"}],
        "changedPropIds": ["url.pathname"],
    }
    assert client.post("/_dash-update-component", json=body).status_code == 403
    wrong = {"X-CSRFToken": "not-the-token"}
    assert client.post("/_dash-update-component", json=body, headers=wrong).status_code == 403
    assert client.post("/_dash-update-component", json=body, headers=csrf_header(client)).status_code == 200
