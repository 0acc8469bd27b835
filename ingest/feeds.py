"""News and official feeds (RSS 2.0, Atom, RSS 1.0) polled on a schedule; their new items become ``FeedItem`` events.

``parse_feed`` turns a document into ``RawItem`` values (XML parsed with ``defusedxml`` only: a feed is input from
outside, and entity expansion or external entities are refused); ``fetch`` is one conditional GET (ETag and
Last-Modified sent back, a timeout, a size cap); ``FeedPoller`` keeps, per feed, when it is next due, its validators
and the guids it has sent, matches each new item against the site's topics and places (``analytics.signals``) and
emits it. A feed that cannot be fetched or parsed gives one ``DeadLetter`` with its reason and is tried again at its
next turn; nothing a feed sends stops the poller.

The guids sent are kept in memory (the newest ``SEEN_PER_FEED`` per feed): after a restart a feed's items are sent
again, and the store (one row per feed and guid) and the alert stage (one mention per item id) each keep them once.
"""

from __future__ import annotations

import html
import http.client
import logging
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from analytics.signals import Matcher
from analytics.sources.public_signal import Feed
from ioc.errors import InvalidInput
from ioc.events import DeadLetter, Event, FeedItem, FeedMatch, utcnow

logger = logging.getLogger(__name__)

ATOM = "{http://www.w3.org/2005/Atom}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
RSS1 = "{http://purl.org/rss/1.0/}"
DC = "{http://purl.org/dc/elements/1.1/}"
SEEN_PER_FEED = 5000
USER_AGENT = "ioc-feeds/1 (+https://github.com/; Intelligent Operations Center)"
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class RawItem:
    """One item as the feed gave it, tags removed from its text."""

    guid: str
    url: str
    title: str
    summary: str
    published_at: datetime | None


def _text(el: Element | None) -> str:
    if el is None:
        return ""
    raw = "".join(el.itertext())
    # Descriptions carry HTML (escaped in the XML, so it arrives here as text): drop tags, then entities.
    return " ".join(html.unescape(_TAG.sub(" ", raw)).split())


def _date(value: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)  # RFC 822, RSS 2.0
    except (TypeError, ValueError, IndexError):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))  # RFC 3339, Atom
        except ValueError:
            return None
    # A date without a zone is taken as Việt Nam's, as local sites write it.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC) - timedelta(hours=7)


def parse_feed(data: bytes) -> list[RawItem]:
    """Return the items of an RSS 2.0, Atom or RSS 1.0 document; raise ``InvalidInput`` when it is none or malformed."""
    try:
        root = SafeET.fromstring(data)
    except DefusedXmlException as exc:
        raise InvalidInput("forbidden_xml", f"the feed uses a refused XML feature: {exc!r}") from exc
    except ParseError as exc:
        raise InvalidInput("malformed_xml", f"not well-formed XML: {exc}") from exc
    if root.tag == "rss":
        channel = root.find("channel")
        if channel is None:
            raise InvalidInput("not_a_feed", "an <rss> document without <channel>")
        return [item for el in channel.findall("item") if (item := _rss_item(el)) is not None]
    if root.tag == f"{ATOM}feed":
        return [item for el in root.findall(f"{ATOM}entry") if (item := _atom_entry(el)) is not None]
    if root.tag == f"{RDF}RDF":  # RSS 1.0, still served by some older portals
        return [item for el in root.findall(f"{RSS1}item") if (item := _rss1_item(el)) is not None]
    raise InvalidInput("not_a_feed", f"the document's root is <{root.tag}>, not <rss>, an Atom <feed> or RSS 1.0")


def _rss_item(el: Element) -> RawItem | None:
    url = _text(el.find("link"))
    guid = _text(el.find("guid")) or url
    title = _text(el.find("title"))
    if not guid or not (title or url):
        return None  # nothing to tell it apart or to show: skipped
    return RawItem(guid[:2000], url[:2000], title[:1000], _text(el.find("description"))[:4000],
                   _date(_text(el.find("pubDate"))))


def _rss1_item(el: Element) -> RawItem | None:
    url = _text(el.find(f"{RSS1}link"))
    guid = el.get(f"{RDF}about", "") or url
    title = _text(el.find(f"{RSS1}title"))
    if not guid or not (title or url):
        return None
    return RawItem(guid[:2000], url[:2000], title[:1000], _text(el.find(f"{RSS1}description"))[:4000],
                   _date(_text(el.find(f"{DC}date"))))


def _atom_entry(el: Element) -> RawItem | None:
    links = el.findall(f"{ATOM}link")
    url = next((lk.get("href", "") for lk in links if lk.get("rel", "alternate") == "alternate"), "")
    guid = _text(el.find(f"{ATOM}id")) or url
    title = _text(el.find(f"{ATOM}title"))
    if not guid or not (title or url):
        return None
    summary = _text(el.find(f"{ATOM}summary")) or _text(el.find(f"{ATOM}content"))
    published = _text(el.find(f"{ATOM}published")) or _text(el.find(f"{ATOM}updated"))
    return RawItem(guid[:2000], url[:2000], title[:1000], summary[:4000], _date(published))


def _unique(items: Sequence[RawItem]) -> list[RawItem]:
    """Return the items with the first of each guid (a feed listing one article twice sends it once)."""
    first: dict[str, RawItem] = {}
    for item in items:
        first.setdefault(item.guid, item)
    return list(first.values())


@dataclass
class Validators:
    """What a server said about a document, sent back so an unchanged feed answers 304."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class Fetched:
    """One fetch: the body (None when the server said it had not changed) and the validators to send next."""

    body: bytes | None
    validators: Validators


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http and https only (urllib would follow one to ftp too)."""

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):
            raise InvalidInput("bad_redirect", f"the server redirected to {newurl[:200]}, not an http(s) address")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)


def fetch(feed: Feed, validators: Validators) -> Fetched:
    """GET a feed conditionally; raise ``InvalidInput`` when it cannot be fetched or is larger than ``max_bytes``."""
    headers = {"User-Agent": USER_AGENT, "Accept": "application/rss+xml, application/atom+xml, application/xml, */*"}
    if validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    request = urllib.request.Request(feed.url, headers=headers)
    try:
        with _OPENER.open(request, timeout=feed.timeout_s) as response:
            body = response.read(feed.max_bytes + 1)
            if len(body) > feed.max_bytes:
                raise InvalidInput("too_large", f"the feed is larger than {feed.max_bytes} bytes; raise max_bytes "
                                   "if it is right")
            # read(n) returns what came before the server closed: a cut answer is told by its declared length.
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > len(body):
                raise InvalidInput("bad_response", f"the answer was cut short: {len(body)} of {declared} bytes")
            return Fetched(body, Validators(response.headers.get("ETag"), response.headers.get("Last-Modified")))
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return Fetched(None, validators)
        raise InvalidInput(f"http_{exc.code}", f"the server answered {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise InvalidInput("unreachable", f"could not fetch {feed.url}: {exc.reason}") from exc
    except (TimeoutError, OSError) as exc:
        raise InvalidInput("unreachable", f"could not fetch {feed.url}: {exc!r}") from exc
    except http.client.HTTPException as exc:  # a cut or garbled response (IncompleteRead, BadStatusLine)
        raise InvalidInput("bad_response", f"the server's answer was broken: {exc!r}") from exc


@dataclass
class _FeedState:
    due: datetime
    validators: Validators = field(default_factory=Validators)
    seen: OrderedDict[str, None] = field(default_factory=OrderedDict)


@dataclass(frozen=True)
class PollReport:
    """What one poll of one feed gave."""

    feed_id: str
    items: int = 0  # new items sent
    matched: int = 0  # of which matched a topic and a place
    not_modified: bool = False
    error: str | None = None  # the dead letter's reason


class FeedPoller:
    """Polls the site's feeds when due and emits new items (matched) and dead letters through ``emit``."""

    def __init__(
        self,
        site_id: str,
        feeds: Sequence[Feed],
        matcher: Matcher,
        emit: Callable[[Event], None],
        fetcher: Callable[[Feed, Validators], Fetched] = fetch,
        confirm: Callable[[], None] | None = None,
    ) -> None:
        self.site_id = site_id
        self.feeds = tuple(feeds)
        self.matcher = matcher
        self.emit = emit
        self.fetcher = fetcher
        # Waits until what ``emit`` took is delivered (Kafka's acknowledgements): only then are the guids kept as
        # sent, so an item whose delivery failed is sent again at the feed's next turn.
        self.confirm = confirm
        self._units = {p.id: p.unit for p in matcher.places}
        self._state: dict[str, _FeedState] = {}

    def due(self, now: datetime) -> list[Feed]:
        """Return the feeds whose turn has come (every feed at the first call)."""
        return [f for f in self.feeds if now >= self._feed_state(f, now).due]

    def _feed_state(self, feed: Feed, now: datetime) -> _FeedState:
        return self._state.setdefault(feed.id, _FeedState(due=now))

    def poll(self, feed: Feed, now: datetime | None = None) -> PollReport:
        """Fetch one feed, emit its new items, schedule its next turn; a failure is a dead letter, never raised."""
        now = now or utcnow()
        state = self._feed_state(feed, now)
        state.due = now + timedelta(seconds=feed.poll_interval_s)
        body = b""
        try:
            fetched = self.fetcher(feed, state.validators)
            if fetched.body is None:
                return PollReport(feed.id, not_modified=True)
            body = fetched.body
            raw_items = parse_feed(body)
        except InvalidInput as exc:
            logger.warning("feed %s (%s): %s", feed.id, feed.url, exc)
            self.emit(DeadLetter.of(f"feed:{feed.id}", body[:65536], exc, received_at=now))
            return PollReport(feed.id, error=exc.reason)
        new = [self.item(feed, raw, now) for raw in _unique(raw_items) if raw.guid not in state.seen]
        for item in new:
            self.emit(item)
        if new and self.confirm is not None:
            self.confirm()
        state.validators = fetched.validators  # kept once delivered: a 304 must not hide undelivered items
        for item in new:
            state.seen[item.guid] = None
        while len(state.seen) > SEEN_PER_FEED:
            state.seen.popitem(last=False)
        return PollReport(feed.id, items=len(new), matched=sum(bool(i.matches) for i in new))

    def item(self, feed: Feed, raw: RawItem, fetched_at: datetime, simulated: bool = False) -> FeedItem:
        """Return the event of one item with the places and topics it matched."""
        found = self.matcher.match([raw.title, raw.summary], default_place=feed.area_code)
        matches = [FeedMatch(place=p, unit=self._units.get(p, p), topics=list(found.topics)) for p in found.places]
        return FeedItem.create(
            self.site_id, feed.id, raw.guid, fetched_at, url=raw.url, title=raw.title, summary=raw.summary,
            published_at=raw.published_at, matches=matches, simulated=simulated,
        )

    def run(self, stop: threading.Event, idle_s: float = 5.0) -> None:
        """Poll the feeds as they fall due until ``stop`` is set."""
        while not stop.is_set():
            for feed in self.due(utcnow()):
                if stop.is_set():
                    break
                report = self.poll(feed)
                if report.items:
                    logger.info("feed %s: %d new items, %d matched", feed.id, report.items, report.matched)
            stop.wait(idle_s)
