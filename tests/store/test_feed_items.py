"""Feed items in the store: one row per feed and guid with its matches, units and topics; a replay writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import psycopg
import pytest

from ioc.events import FeedItem, FeedMatch
from ioc.store.writer import Writer

pytestmark = pytest.mark.services
T0 = datetime(2026, 9, 14, 6, 0, tzinfo=UTC)


@pytest.fixture
async def writer(pg_dsn: str) -> AsyncIterator[Writer]:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE feed_items")
    w = await Writer.open(pg_dsn)
    yield w
    await w.close()


def items() -> list[FeedItem]:
    return [
        FeedItem.create("muong-cha", "bao-dien-bien-phu", "bdbp-1", T0, url="https://baodienbienphu.vn/a/1",
                        title="Sạt lở và lũ quét ở Na Sang, bản Huổi Lèng", published_at=T0,
                        matches=[FeedMatch(place="03172", unit="03172", topics=["landslide", "flooding"]),
                                 FeedMatch(place="huoi-leng", unit="03172", topics=["landslide", "flooding"])]),
        FeedItem.create("muong-cha", "bao-dien-bien-phu", "bdbp-2", T0, url="", title="Hội thi văn nghệ"),
        FeedItem.create("muong-cha", "demo", "sim-1", T0, url="https://example.invalid/1", title="Cháy rừng",
                        matches=[FeedMatch(place="03181", unit="03181", topics=["fire"])], simulated=True),
    ]


async def test_items_stored_once(writer: Writer, pg_dsn: str) -> None:
    first = await writer.write(items())
    again = await writer.write(items())
    assert (first.camera, again.camera) == (3, 0)
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(
            "SELECT guid, units, topics, simulated, published_at, matches FROM feed_items ORDER BY guid"
        ).fetchall()
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("bdbp-1", ["03172"], ["flooding", "landslide"], False),
        ("bdbp-2", [], [], False),
        ("sim-1", ["03181"], ["fire"], True),
    ]
    assert rows[0][4] == T0 and rows[1][4] is None
    assert rows[0][5][1] == {"place": "huoi-leng", "unit": "03172", "topics": ["landslide", "flooding"]}
