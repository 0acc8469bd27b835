"""The feed poller against a local HTTP feed server: RSS 2.0 and Atom, conditional GET (304), a feed that fails
(500, garbage, an entity bomb, too large, a server that does not answer) going to the dead letters without stopping
the others, and items sent once by guid."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics.sources.public_signal import Feed, PublicSignalSource, matcher
from ingest.feeds import FeedPoller, parse_feed
from ioc.config import load_site
from ioc.errors import InvalidInput, SinkUnavailable
from ioc.events import DeadLetter, Event, FeedItem
from tests.fakes.feeds import FeedServer, Route, serve

SAMPLE = Path(__file__).resolve().parents[2] / "configs" / "muong-cha"
T0 = datetime(2026, 9, 14, 6, 0, tzinfo=UTC)

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Báo Điện Biên Phủ</title><link>https://baodienbienphu.vn</link>
<item><title>Sạt lở đất vùi lấp nhà dân ở xã Na Sang</title><link>https://baodienbienphu.vn/a/1</link>
  <guid isPermaLink="false">bdbp-1</guid><pubDate>Mon, 14 Sep 2026 12:30:00 +0700</pubDate>
  <description>&lt;p&gt;Mưa lớn kéo dài khiến taluy dương &lt;b&gt;sạt lở&lt;/b&gt; &amp;amp; vùi lấp 2 nhà.&lt;/p&gt;
  </description></item>
<item><title>Hội thi văn nghệ quần chúng Mường Tùng</title><link>https://baodienbienphu.vn/a/2</link>
  <pubDate>Mon, 14 Sep 2026 11:00:00 +0700</pubDate></item>
</channel></rss>"""
ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Trang thông tin xã Na Sang</title><id>urn:nasang</id>
<updated>2026-09-14T05:00:00Z</updated>
<entry><title>Cháy nhà dân lúc rạng sáng</title><id>urn:nasang:17</id>
  <link rel="alternate" href="https://nasang.dienbien.gov.vn/tin/17"/><published>2026-09-14T04:50:00Z</published>
  <summary type="html">Lực lượng chức năng đã dập tắt đám cháy.</summary></entry>
<entry><title>Lu quet o ban Huoi Leng</title><id>urn:nasang:18</id>
  <link href="https://nasang.dienbien.gov.vn/tin/18"/><updated>2026-09-14T04:55:00+00:00</updated></entry>
</feed>"""
BOMB = """<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<rss version="2.0"><channel><item><title>&lol2;</title><guid>x</guid></item></channel></rss>"""


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with serve() as running:
        yield running


def poller(feeds: list[Feed], out: list[Event]) -> FeedPoller:
    site = load_site(SAMPLE)
    section = PublicSignalSource.section_of(site)
    assert section is not None
    return FeedPoller(site.site.id, feeds, matcher(site, section), out.append)


def feed(server: FeedServer, path: str, **kw: object) -> Feed:
    return Feed.model_validate({"id": path.strip("/").replace(".", "-"), "name": path, "url": server.url(path), **kw})


def test_rss_items_matched_and_sent_once_then_304(server: FeedServer) -> None:
    server.routes["/rss.xml"] = Route(body=RSS, etag='"v1"')
    out: list[Event] = []
    p = poller([feed(server, "/rss.xml")], out)
    report = p.poll(p.feeds[0], T0)
    assert (report.items, report.matched) == (2, 1)
    first, second = out
    assert isinstance(first, FeedItem) and isinstance(second, FeedItem)
    assert first.guid == "bdbp-1" and first.url == "https://baodienbienphu.vn/a/1"
    assert first.summary == "Mưa lớn kéo dài khiến taluy dương sạt lở & vùi lấp 2 nhà."
    assert first.published_at == datetime(2026, 9, 14, 5, 30, tzinfo=UTC)
    assert [(m.place, m.unit, m.topics) for m in first.matches] == [("03172", "03172", ["landslide"])]
    assert second.guid == "https://baodienbienphu.vn/a/2" and second.matches == []  # no guid: its link
    # the second poll sends the validators back; the server answers 304 and nothing is sent
    report = p.poll(p.feeds[0], T0 + timedelta(minutes=15))
    assert report.not_modified and len(out) == 2
    assert server.requests[-1] == ("/rss.xml", '"v1"', "Mon, 14 Sep 2026 05:00:00 GMT")
    # a changed document with one new item: only the new one is sent
    server.routes["/rss.xml"] = Route(body=RSS.replace("bdbp-1", "bdbp-3"), etag='"v2"')
    assert p.poll(p.feeds[0], T0 + timedelta(minutes=30)).items == 1
    assert isinstance(out[-1], FeedItem) and out[-1].guid == "bdbp-3"
    assert out[-1].event_id != first.event_id


def test_atom_and_a_scoped_feed(server: FeedServer) -> None:
    server.routes["/atom.xml"] = Route(body=ATOM)
    out: list[Event] = []
    p = poller([feed(server, "/atom.xml", area_code="03172")], out)
    assert p.poll(p.feeds[0], T0).items == 2
    fire, flood = out
    assert isinstance(fire, FeedItem) and isinstance(flood, FeedItem)
    assert fire.url == "https://nasang.dienbien.gov.vn/tin/17" and fire.guid == "urn:nasang:17"
    # it names no place: it counts for the commune the feed is scoped to
    assert [(m.place, m.topics) for m in fire.matches] == [("03172", ["fire"])]
    # without diacritics, a village: counted for the village, in its commune
    assert [(m.place, m.unit, m.topics) for m in flood.matches] == [("huoi-leng", "03172", ["flooding"])]
    assert flood.published_at == datetime(2026, 9, 14, 4, 55, tzinfo=UTC)


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        (Route(500, "oops"), "http_500"),
        (Route(body="<html><body>Trang không tồn tại</body></html>"), "not_a_feed"),
        (Route(body="<rss><channel><item><title>Sạt lở</item></channel>"), "malformed_xml"),
        (Route(body=BOMB), "forbidden_xml"),
        (Route(body="<rss version='2.0'><channel>" + "x" * 5000 + "</channel></rss>"), "too_large"),
        (Route(body=RSS, delay_s=5), "unreachable"),
        (Route(302, "", location="ftp://127.0.0.1/rss.xml"), "bad_redirect"),
    ],
    ids=["500", "html", "garbage", "entity-bomb", "too-large", "timeout", "redirect-to-ftp"],
)
def test_a_broken_feed_is_a_dead_letter_and_the_others_go_on(
    server: FeedServer, route: Route, reason: str
) -> None:
    server.routes["/broken"] = route
    server.routes["/rss.xml"] = Route(body=RSS)
    out: list[Event] = []
    p = poller([feed(server, "/broken", max_bytes=1000, timeout_s=0.5), feed(server, "/rss.xml")], out)
    reports = [p.poll(f, T0) for f in p.due(T0)]
    assert [r.error for r in reports] == [reason, None]
    dead = out[0]
    assert isinstance(dead, DeadLetter) and dead.source == "feed:broken" and dead.reason == reason
    assert sum(isinstance(e, FeedItem) for e in out) == 2
    # the broken feed's turn comes again at its interval
    assert p.due(T0 + timedelta(seconds=100)) == []
    assert [f.id for f in p.due(T0 + timedelta(seconds=900))] == ["broken", "rss-xml"]


def test_unreachable_server() -> None:
    out: list[Event] = []
    p = poller([Feed(id="gone", name="gone", url="http://127.0.0.1:9/rss", timeout_s=1)], out)
    assert p.poll(p.feeds[0], T0).error == "unreachable"


def test_parse_rejects_what_is_not_a_feed() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_feed(b"")
    assert err.value.reason == "malformed_xml"
    assert parse_feed(b"<rss version='2.0'><channel><item><description>no title, no link</description></item>"
                      b"</channel></rss>") == []


def test_run_polls_until_stopped(server: FeedServer) -> None:
    server.routes["/rss.xml"] = Route(body=RSS)
    out: list[Event] = []
    p = poller([feed(server, "/rss.xml")], out)
    stop = threading.Event()
    worker = threading.Thread(target=p.run, args=(stop, 0.05))
    worker.start()
    for _ in range(100):
        if len(out) >= 2:
            break
        threading.Event().wait(0.05)
    stop.set()
    worker.join(5)
    assert not worker.is_alive() and len(out) == 2


def test_guids_kept_only_once_delivered(server: FeedServer) -> None:
    # Kafka did not acknowledge: the items are not marked sent, and no validators are kept to hide them behind 304.
    server.routes["/rss.xml"] = Route(body=RSS + "", etag='"v1"')
    out: list[Event] = []
    site = load_site(SAMPLE)
    section = PublicSignalSource.section_of(site)
    assert section is not None
    failing = [True]

    def confirm() -> None:
        if failing[0]:
            raise SinkUnavailable("Kafka has not acknowledged 2 events yet")

    p = FeedPoller(site.site.id, [feed(server, "/rss.xml")], matcher(site, section), out.append, confirm=confirm)
    with pytest.raises(SinkUnavailable):
        p.poll(p.feeds[0], T0)
    failing[0] = False
    assert p.poll(p.feeds[0], T0 + timedelta(minutes=15)).items == 2
    assert server.requests[-1][1] is None  # no If-None-Match: the first fetch's validators were not kept
    assert len(out) == 4  # sent twice; the store and the alert stage keep each once by its id
    assert {e.event_id for e in out} == {e.event_id for e in out[:2]}


def test_an_article_listed_twice_is_sent_once(server: FeedServer) -> None:
    twice = RSS.replace("</channel>", RSS[RSS.index("<item>"):RSS.index("</item>") + 7] + "</channel>")
    server.routes["/rss.xml"] = Route(body=twice)
    out: list[Event] = []
    p = poller([feed(server, "/rss.xml")], out)
    assert p.poll(p.feeds[0], T0).items == 2


RSS1 = """<?xml version="1.0" encoding="UTF-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://dienbien.gov.vn/"><title>Cổng thông tin</title></channel>
<item rdf:about="https://dienbien.gov.vn/tin/5"><title>Tai nạn giao thông ở Pa Ham</title>
  <link>https://dienbien.gov.vn/tin/5</link><dc:date>2026-09-14T10:00:00+07:00</dc:date></item>
</rdf:RDF>"""


def test_rss_1_0() -> None:
    (item,) = parse_feed(RSS1.encode())
    assert (item.guid, item.title) == ("https://dienbien.gov.vn/tin/5", "Tai nạn giao thông ở Pa Ham")
    assert item.published_at == datetime(2026, 9, 14, 3, 0, tzinfo=UTC)


def test_a_response_cut_short_is_a_dead_letter() -> None:
    # The server promises more bytes than it sends, then closes: http.client's IncompleteRead.
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer() -> None:
        conn, _ = listener.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n<rss version='2.0'><channel>")
        conn.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    out: list[Event] = []
    p = poller([Feed(id="cut", name="cut", url=f"http://127.0.0.1:{port}/rss", timeout_s=5)], out)
    assert p.poll(p.feeds[0], T0).error == "bad_response"
    thread.join(5)
    listener.close()
    assert isinstance(out[0], DeadLetter) and out[0].reason == "bad_response"


def test_a_redirect_to_http_is_followed(server: FeedServer) -> None:
    server.routes["/old"] = Route(301, "", location=server.url("/rss.xml"))
    server.routes["/rss.xml"] = Route(body=RSS)
    out: list[Event] = []
    p = poller([feed(server, "/old")], out)
    assert p.poll(p.feeds[0], T0).items == 2
