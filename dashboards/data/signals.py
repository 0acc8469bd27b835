"""Feed items that matched a topic and a place (the wall's public-signals page), limited to the user's scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import dict_row

from analytics.sources.public_signal import PublicSignalSource, place_names
from dashboards.data.db import Database, scope_codes
from dashboards.wall_scope import Scope
from ioc.config.models import SiteConfig


@dataclass(frozen=True)
class SignalItemView:
    """One matched item: what it says, where it links, which feed, its topics and places named in the reader's
    language, when it was published (else fetched), and whether the demo made it."""

    event_id: str
    title: str
    url: str
    feed: str
    topics: tuple[str, ...]
    places: tuple[str, ...]
    at: datetime
    simulated: bool


# Matched items whose communes meet the scope (units && codes, through the GIN index), newest first.
_ITEMS_SQL = """
SELECT event_id::text, feed_id, title, url, matches, coalesce(least(published_at, fetched_at), fetched_at) AS at,
       simulated
  FROM feed_items
 WHERE topics <> '{}' AND fetched_at >= %(since)s
   AND (%(codes)s::text[] IS NULL OR units && %(codes)s::text[])
 ORDER BY at DESC, event_id
 LIMIT %(limit)s
"""


class SignalReader:
    """The matched feed items of the store, with the site's names for feeds, topics and places."""

    def __init__(self, db: Database, site: SiteConfig) -> None:
        self._db = db
        section = PublicSignalSource.section_of(site)
        self._feeds: dict[str, str] = {f.id: f.name for f in section.feeds} if section else {}
        self._topics = {t.id: (t.name_vi, t.name_en) for t in section.topics} if section else {}
        self._places = {k: name for k, (name, _) in place_names(site, section).items()} if section else {}

    def items(self, since: datetime, lang: str = "vi", scope: Scope | None = None, limit: int = 100
              ) -> list[SignalItemView]:
        """Return the matched items fetched since ``since`` about places in the scope, newest first."""
        params = {"since": since, "codes": scope_codes(scope), "limit": limit}
        with self._db.connection() as conn:
            rows = conn.cursor(row_factory=dict_row).execute(_ITEMS_SQL, params).fetchall()
        out = []
        for r in rows:
            topics: list[str] = []
            places: list[str] = []
            for match in r["matches"]:
                places.append(self._places.get(match["place"], match["place"]))
                topics += [t for t in match["topics"] if t not in topics]
            feed = self._feeds.get(r["feed_id"]) or r["feed_id"]
            out.append(SignalItemView(
                event_id=r["event_id"], title=r["title"], url=r["url"], feed=feed,
                topics=tuple(self._topic_name(t, lang) for t in topics), places=tuple(places), at=r["at"],
                simulated=r["simulated"],
            ))
        return out

    def _topic_name(self, topic: str, lang: str) -> str:
        vi, en = self._topics.get(topic, (topic, topic))
        return en if lang == "en" else vi
