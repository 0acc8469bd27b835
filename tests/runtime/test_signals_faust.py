"""Public signals in the Faust alert worker: feed items keyed by site, one state for the site's places, the
configured site id ticked so a spike resolves without new items, the same alerts as one event at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from analytics.alerts import AlertProcessor
from analytics.binding import alert_setup
from ioc import topics
from ioc.app.runtime.faust_app import ALERT_TOPICS, KEY_KINDS, AlertBatch, FaustSettings
from ioc.config import load_site
from ioc.events import AlertTransition, FeedItem, FeedMatch, Tick
from tests.runtime.test_alert_batch import FakeTable

SAMPLE = Path(__file__).resolve().parents[2] / "configs" / "muong-cha"
T0 = datetime(2026, 9, 14, 6, 0, tzinfo=UTC)
SETUP = alert_setup(load_site(SAMPLE), None)


def item(n: int, minutes: float) -> FeedItem:
    at = T0 + timedelta(minutes=minutes)
    return FeedItem.create("muong-cha", "bao-dien-bien-phu", f"a-{n}", at, url=f"https://baodienbienphu.vn/a/{n}",
                           title="Lũ quét ở Nậm Nèn", published_at=at,
                           matches=[FeedMatch(place="03194", unit="03194", topics=["flooding"])])


def test_feed_items_through_batches_and_ticks() -> None:
    assert topics.FEED_ITEMS in ALERT_TOPICS and KEY_KINDS[topics.FEED_ITEMS.name] == "site"
    events: list[FeedItem | Tick] = [item(i, 20 * i) for i in range(4)]
    events += [Tick.create(0, T0 + timedelta(hours=h)) for h in (7, 8, 9)]
    one_by_one = AlertProcessor(SETUP)
    expected = [a.event_id for e in events
                for a in (one_by_one.tick(e.at) if isinstance(e, Tick) else one_by_one.handle(e))]
    table = FakeTable()
    settings = FaustSettings(kafka_bootstrap="-", database_url="-", redis_url="-", alerts=SETUP)
    got = []
    for chunk in (events[:2], events[2:4], events[4:]):
        batch = AlertBatch(settings, topics.FEED_ITEMS, table, "site", SETUP.subjects["site"])  # type: ignore[arg-type]
        batch.run([(0, e.to_bytes()) for e in chunk])
        got += batch.alerts
    assert [a.event_id for a in got] == expected
    assert [(a.alert_key, a.transition) for a in got] == [
        ("public_signal:03194:flooding", AlertTransition.OPENED),
        ("public_signal:03194:flooding", AlertTransition.RESOLVED),
    ]
    assert set(table.data) == {"muong-cha"}  # one state for the site
    state: Any = table.data["muong-cha"]
    assert state["signal_mentions"]["03194|flooding"]  # still within the baseline
