"""``ioc ingest feeds --once`` against a local feed server and the real Kafka: new items on ioc.signals.items
(keyed by site), a broken feed in the dead letters, a report line per feed in the chosen language."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaConsumer
from typer.testing import CliRunner

from ioc import topics
from ioc.app.cli import common
from ioc.app.cli.ingest import app as cli
from ioc.app.endpoints import Endpoints
from ioc.app.runtime.kafka import client_options
from ioc.events import DeadLetter, FeedItem, decode
from tests.fakes.feeds import Route, serve

pytestmark = pytest.mark.services
SAMPLE = Path(__file__).resolve().parents[2] / "configs" / "muong-cha"
RSS = """<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Báo Điện Biên Phủ</title>
<item><title>Sạt lở taluy trên đường vào xã Na Sang</title><link>https://baodienbienphu.vn/a/9</link></item>
<item><title>Nậm Nèn: lũ ống cuốn trôi cầu treo</title><link>https://baodienbienphu.vn/a/10</link></item>
</channel></rss>"""


def consume(endpoints: Endpoints, topic: topics.Topic, namespace: str, n: int) -> list[bytes]:
    consumer = KafkaConsumer(topic.kafka_name(namespace), bootstrap_servers=endpoints.kafka_bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=5000,
                             **client_options(endpoints.kafka_auth))
    got = []
    for record in consumer:
        got.append(record.value)
        if len(got) == n:
            break
    consumer.close()
    return got


def test_once_sends_new_items_and_dead_letters(endpoints: Endpoints, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               kafka_namespace: Callable[[str], str]) -> None:
    site = tmp_path / "muong-cha"
    shutil.copytree(SAMPLE, site)
    namespace = kafka_namespace("feeds")
    monkeypatch.setenv("IOC_KAFKA_NAMESPACE", namespace)
    monkeypatch.setattr(common, "_settings", common._settings)  # the command's settings are undone after the test
    with serve() as server:
        server.routes["/xa-hoi.rss"] = Route(body=RSS)
        server.routes["/tin-tuc.rss"] = Route(500, "Internal Server Error")
        sources = site / "sources.yaml"
        text = sources.read_text(encoding="utf-8")
        text = text.replace("https://baodienbienphu.vn/rss/xa-hoi.rss", server.url("/xa-hoi.rss"))
        text = text.replace("https://dienbien.gov.vn/rss/tin-tuc.rss", server.url("/tin-tuc.rss"))
        text = text.replace("https://nasang.dienbien.gov.vn/rss", server.url("/missing"))
        sources.write_text(text, encoding="utf-8")
        result = CliRunner().invoke(cli, ["feeds", "--once", "--site", str(site), "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "Polling 3 RSS/Atom feeds" in result.output
    assert "bao-dien-bien-phu: 2 new items, 2 matching a topic and a place" in result.output
    assert "cong-tt-dien-bien: failed with http_500, written to the dead letters" in result.output
    assert "xa-na-sang: failed with http_404" in result.output
    items = [decode(raw) for raw in consume(endpoints, topics.FEED_ITEMS, namespace, 2)]
    assert all(isinstance(i, FeedItem) and i.site == "muong-cha" for i in items)
    matched = {(m.place, t) for i in items if isinstance(i, FeedItem) for m in i.matches for t in m.topics}
    assert matched == {("03172", "landslide"), ("03194", "flooding")}
    dead = [decode(raw) for raw in consume(endpoints, topics.DEAD_LETTERS, namespace, 2)]
    assert sorted((d.source, d.reason) for d in dead if isinstance(d, DeadLetter)) == [
        ("feed:cong-tt-dien-bien", "http_500"), ("feed:xa-na-sang", "http_404")
    ]
