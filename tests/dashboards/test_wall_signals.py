"""The /signals page: matched feed items with links, topics and places in the reader's language, local time,
simulated ones marked, scoped by unit in the query and role-checked; on real PostgreSQL with items from the real
writer."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dash
import pytest
from flask.testing import FlaskClient
from psycopg_pool import ConnectionPool

from dashboards.app import create_app
from dashboards.auth import AuthStore
from dashboards.data import PostgresWallData
from dashboards.wall_scope import Scope
from ioc.config.models import SiteConfig
from ioc.events import FeedItem, FeedMatch, utcnow
from ioc.store.live import MemoryLiveStore
from ioc.store.writer import Writer
from tests.dashboards.wall_helpers import SECRET, call, find, ids, login, page

pytestmark = pytest.mark.services

PASSWORD = "mat-khau-du-dai-5"
OPERATOR, SCOPED, LEADER = "truc.ban.tin.bao", "truc.ban.muongtung", "lanh.dao.tin.bao"
NOW = utcnow().replace(microsecond=0)


def items() -> list[FeedItem]:
    return [
        FeedItem.create("muong-cha", "bao-dien-bien-phu", "bdbp-1", NOW - timedelta(minutes=30),
                        url="https://baodienbienphu.vn/a/1", title="Sạt lở đất ở bản Huổi Lèng, xã Na Sang",
                        published_at=NOW - timedelta(hours=1),
                        matches=[FeedMatch(place="03172", unit="03172", topics=["landslide"]),
                                 FeedMatch(place="huoi-leng", unit="03172", topics=["landslide"])]),
        FeedItem.create("muong-cha", "bao-dien-bien-phu", "demo-2", NOW - timedelta(minutes=10),
                        url="https://mo-phong.invalid/tin/2", title="Lũ quét ở Mường Tùng", simulated=True,
                        matches=[FeedMatch(place="03181", unit="03181", topics=["flooding"])]),
        FeedItem.create("muong-cha", "bao-dien-bien-phu", "bdbp-3", NOW, url="https://baodienbienphu.vn/a/3",
                        title="Hội thi văn nghệ quần chúng"),  # matched nothing: not listed
        FeedItem.create("muong-cha", "bao-dien-bien-phu", "bdbp-old", NOW - timedelta(days=3),
                        url="https://baodienbienphu.vn/a/0", title="Cháy rừng ở Pa Ham",
                        matches=[FeedMatch(place="03193", unit="03193", topics=["fire"])]),  # too old
    ]


@pytest.fixture(scope="module")
def stored(pg_dsn: str) -> None:
    async def write() -> None:
        writer = await Writer.open(pg_dsn)
        try:
            await writer.write(items())
        finally:
            await writer.close()

    asyncio.run(write())


@pytest.fixture(scope="module")
def app(pool: ConnectionPool, live: MemoryLiveStore, site: SiteConfig, site_dir: Path, stored: None,
        tmp_path_factory: pytest.TempPathFactory) -> dash.Dash:
    auth = AuthStore(pool)
    auth.ensure_user(OPERATOR, PASSWORD, "operator")
    auth.ensure_user(SCOPED, PASSWORD, "operator", ["03181"])
    auth.ensure_user(LEADER, PASSWORD, "leader")
    return create_app(PostgresWallData(pool, live, site), site, auth=auth, secret_key=SECRET, site_dir=site_dir,
                      snapshot_root=tmp_path_factory.mktemp("snapshots"))


def signed_in(app: dash.Dash, username: str) -> FlaskClient:
    client: FlaskClient = app.server.test_client()
    assert login(client, username, PASSWORD).status_code == 302
    return client


def refresh(client: FlaskClient, lang: str = "vi") -> dict[str, object]:
    out = call(client, "signals.children",
               {"signals-tick.n_intervals": 1, "signals-read-at.data": None, "lang.data": lang})
    return {f"{cid}.{prop}": value for cid, props in out.items() for prop, value in props.items()}


def text_of(node: object) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return " ".join(text_of(n) for n in node)
    if isinstance(node, dict):
        return text_of(node.get("props", {}).get("children", ""))
    return "" if node is None else str(node)


def test_reader_scopes_in_the_query(pool: ConnectionPool, live: MemoryLiveStore, site: SiteConfig,
                                    stored: None) -> None:
    data = PostgresWallData(pool, live, site)
    since = NOW - timedelta(hours=48)
    everything = data.signal_items(since, "en")
    assert [i.title for i in everything] == ["Lũ quét ở Mường Tùng", "Sạt lở đất ở bản Huổi Lèng, xã Na Sang"]
    landslide = everything[1]
    assert landslide.topics == ("landslide",) and landslide.places == ("Na Sang", "Huổi Lèng")
    assert landslide.at == NOW - timedelta(hours=1) and landslide.feed == "Báo Điện Biên Phủ"
    assert data.signal_items(since, "vi")[1].topics == ("sạt lở",)
    assert [i.title for i in data.signal_items(since, "vi", Scope(frozenset({"03181"})))] == ["Lũ quét ở Mường Tùng"]
    assert data.signal_items(since, "vi", Scope.nothing()) == []


def test_the_page_lists_items_with_links(app: dash.Dash) -> None:
    client = signed_in(app, OPERATOR)
    assert find(page(client, "/signals"), "signals") is not None
    out = refresh(client)
    listing = out["signals.children"]
    rows = sorted(i for i in ids(listing) if i.startswith("signal-"))
    assert len(rows) == 2
    landslide = next(find(listing, r) for r in rows if "Huổi Lèng" in text_of(find(listing, r)))
    link = _link(landslide)
    assert link["href"] == "https://baodienbienphu.vn/a/1" and link["target"] == "_blank"
    text = text_of(landslide)
    assert "sạt lở" in text and "Na Sang, Huổi Lèng" in text and "Báo Điện Biên Phủ" in text
    local = (NOW - timedelta(hours=1)).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert f"{local:%H:%M:%S %d/%m/%Y}" in text
    flood = next(find(listing, r) for r in rows if "Mường Tùng" in text_of(find(listing, r)))
    assert "mô phỏng" in text_of(flood) and "simulated" in flood["props"]["className"]
    assert out["signals-count.children"] == "2 tin"
    english = refresh(client, "en")
    assert "landslide" in text_of(english["signals.children"]) and english["signals-count.children"] == "2 items"


def _link(node: object) -> dict[str, str]:
    if isinstance(node, dict):
        if node.get("type") == "A":
            return dict(node["props"])
        for v in node.values():
            if (found := _link(v)):
                return found
    if isinstance(node, list):
        for v in node:
            if (found := _link(v)):
                return found
    return {}


def test_a_scoped_operator_sees_only_their_communes(app: dash.Dash) -> None:
    listing = refresh(signed_in(app, SCOPED))["signals.children"]
    assert "Lũ quét ở Mường Tùng" in text_of(listing) and "Huổi Lèng" not in text_of(listing)


def test_leaders_do_not_get_the_page(app: dash.Dash) -> None:
    client = signed_in(app, LEADER)
    assert find(page(client, "/signals"), "signals") is None
    out = refresh(client)
    assert find(out["signals.children"], "signals-forbidden") is not None
