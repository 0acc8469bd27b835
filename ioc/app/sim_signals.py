"""Simulated feed items for ``ioc demo``: a plausible stream of local news, marked simulated.

Headlines are drawn from templates written the way local sites and phone users write them (with and without
diacritics), about the site's communes and villages: everyday news, the phrases that look like a hazard but are
not (``lũ trẻ``, ``ngập tràn``, ``chạy việt dã``), and hazards. Each item goes through the same matching as a
fetched one (``ingest.feeds.FeedPoller.item``), so what the wall shows is what the matcher found. Every item is
``simulated`` and links to ``https://mo-phong.invalid/`` (a reserved name that resolves nowhere).

The stream is the same for the same start (seeded by it): a background of about one item every ``mean_gap_s``,
and, in the last hours before the start, a burst of landslide news about the site's first commune, enough for a
spike alert a demo can show.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from analytics.signals import strip_diacritics
from analytics.sources.public_signal import Feed, PublicSignalConfig, PublicSignalSource, communes, matcher
from ingest.feeds import FeedPoller, RawItem
from ioc.config.models import SiteConfig
from ioc.events import FeedItem

SIM_URL = "https://mo-phong.invalid/tin"

# (topic or "" for none, template); {place} is a commune or village name, with diacritics or not as the template is.
TEMPLATES: tuple[tuple[str, str], ...] = (
    ("", "{place} ra quân làm đường giao thông nông thôn"),
    ("", "Hội thi văn nghệ quần chúng tại {place}"),
    ("", "Lũ trẻ {place} háo hức ngày tựu trường"),
    ("", "Chợ phiên {place} ngập tràn sắc màu vùng cao"),
    ("", "Học sinh {place} chạy việt dã mừng năm học mới"),
    ("", "Nông dan {place} thu hoach lua nuong"),
    ("landslide", "Sạt lở taluy dương trên tuyến đường vào {place}"),
    ("landslide", "Mưa lớn gây sạt lở đất tại {place}, giao thông bị chia cắt"),
    ("landslide", "Sat lo dat o {place}, nhieu ho dan phai di doi"),
    ("flooding", "Lũ quét cuốn trôi cầu tạm ở {place}"),
    ("flooding", "Nhiều tuyến đường tại {place} ngập sâu sau mưa lớn"),
    ("flooding", "Lu quet o {place}, nuoc dang cao"),
    ("accident", "Tai nạn giao thông trên Quốc lộ 12 đoạn qua {place}"),
    ("accident", "Xe tải lật xe trên đèo, đoạn qua {place}"),
    ("fire", "Cháy rừng tại {place}, huy động hàng trăm người dập lửa"),
    ("fire", "Hỏa hoạn thiêu rụi nhà dân ở {place} lúc rạng sáng"),
)
BURST_TOPIC = "landslide"


def feed_simulator(site: SiteConfig) -> FeedSimulator | None:
    """Return the simulator of the site's feeds, None when it has no ``sources.public_signal``."""
    config = PublicSignalSource.section_of(site)
    if config is None:
        return None
    return FeedSimulator(site, config, FeedPoller(site.site.id, config.feeds, matcher(site, config), lambda _: None))


@dataclass(frozen=True)
class FeedSimulator:
    """Makes simulated items of the site's feeds, through the matcher of ``poller``."""

    site: SiteConfig
    config: PublicSignalConfig
    poller: FeedPoller
    mean_gap_s: float = 1800.0
    hazard_share: float = 0.3  # of the background items, those about a hazard

    def _places(self) -> list[str]:
        return [name for _, name in communes(self.site)] + [v.name for v in self.config.villages]

    def _item(self, rng: random.Random, at: datetime, hazard: bool, topic: str = "", place: str = "") -> FeedItem:
        pool = [t for t in TEMPLATES if (t[0] == topic if topic else bool(t[0]) == hazard)]
        _, template = rng.choice(pool)
        place = place or rng.choice(self._places())
        if not any(c != strip_diacritics(c) for c in template):
            place = strip_diacritics(place)  # a template typed without diacritics names the place so too
        feed: Feed = rng.choice(self.config.feeds)
        guid = f"{SIM_URL}/{feed.id}/{int(at.timestamp())}-{rng.randrange(10**6)}"
        title = template.format(place=place)
        return self.poller.item(feed, RawItem(guid, guid, title, "", at), at, simulated=True)

    def between(self, start: datetime, end: datetime) -> Iterator[FeedItem]:
        """Yield the background items published after ``start`` up to ``end``, oldest first."""
        rng = random.Random(f"feeds:{start.isoformat()}")
        at = start
        while True:
            at += timedelta(seconds=rng.expovariate(1 / self.mean_gap_s))
            if at > end:
                return
            yield self._item(rng, at, hazard=rng.random() < self.hazard_share)

    def burst(self, end: datetime, count: int = 5, over_s: float = 3 * 3600) -> list[FeedItem]:
        """Return ``count`` items about a landslide in the site's first commune over ``over_s`` up to ``end``."""
        rng = random.Random(f"burst:{end.isoformat()}")
        place = communes(self.site)[0][1]
        return [
            self._item(rng, end - timedelta(seconds=over_s * (count - i) / count), True, BURST_TOPIC, place)
            for i in range(count)
        ]
