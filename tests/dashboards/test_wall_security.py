"""Issue 12's attacks on the wall, replayed: each test names the hole it guards and failed before its fix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dash
import pytest
from flask.testing import FlaskClient
from psycopg_pool import ConnectionPool

from dashboards.app import create_app
from dashboards.auth import AuthStore, safe_next
from dashboards.data import PostgresWallData
from ioc.config.models import SiteConfig
from ioc.store.live import MemoryLiveStore
from tests.dashboards.wall_helpers import SECRET, login

pytestmark = pytest.mark.services

USER, PASSWORD = "truc.ban", "mat-khau-dung-1"


@pytest.fixture(scope="module")
def auth(pool: ConnectionPool) -> AuthStore:
    store = AuthStore(pool)
    store.ensure_user(USER, PASSWORD, "operator")
    return store


@pytest.fixture(scope="module")
def app(pool: ConnectionPool, live: MemoryLiveStore, site: SiteConfig, site_dir: Path, auth: AuthStore) -> dash.Dash:
    return create_app(PostgresWallData(pool, live, site), site, auth=auth, secret_key=SECRET, site_dir=site_dir)


@pytest.fixture
def client(app: dash.Dash) -> Iterator[FlaskClient]:
    yield app.server.test_client()


# --- hole 1: open redirect through next= ------------------------------------------------------------------

EVIL = [
    "/%09/evil.example/phish",  # a browser drops the tab and follows //evil.example/phish
    "/%0a/evil.example/phish",
    "/%0d/evil.example/phish",
    "/%0d%0a/evil.example",
    "/%0aSet-Cookie:%20x=1",  # was a 500 (a newline in the Location header)
    "%09//evil.example",
    "/%5c%5cevil.example",
    "/%20/evil.example",
    "/%E3%80%80/evil.example",  # an ideographic space
    "/%00/evil.example",
    "https:evil.example",
    "/%2F/evil.example",
]


@pytest.mark.parametrize("raw", EVIL)
def test_hole1_next_after_sign_in_never_leaves_the_site(client: FlaskClient, raw: str) -> None:
    page = client.get(f"/login?next={raw}")
    assert page.status_code == 200
    import re

    csrf = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True))
    assert csrf is not None
    from urllib.parse import unquote

    response = client.post(
        "/login", data={"username": USER, "password": PASSWORD, "csrf": csrf.group(1), "next": unquote(raw)}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("raw", EVIL)
def test_hole1_language_switch_never_leaves_the_site(client: FlaskClient, raw: str) -> None:
    login(client, USER, PASSWORD)
    response = client.get(f"/lang/en?next={raw}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize(
    ("target", "followed"),
    [("/flood?rotate=60", "/flood?rotate=60"), ("/leaders", "/leaders"), ("/\t/evil", "/"), ("/a\nb", "/")],
)
def test_hole1_safe_next_keeps_local_paths_only(target: str, followed: str) -> None:
    assert safe_next(target) == followed
