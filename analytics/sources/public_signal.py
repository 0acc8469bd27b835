"""Public signals: news and official feeds (RSS, Atom) whose items name a place of the site and a hazard.

Config table: ``sources.public_signal`` (``PublicSignalConfig`` below, validated by the site loader with file and
line errors): the feeds to poll, the topics with their Vietnamese keywords, the villages (communes come from
``areas``), and the spike rule. ``ioc ingest feeds`` polls the feeds (``ingest.feeds``) and sends one ``FeedItem``
per new item with what it matched (``analytics.signals``); the stage here counts the mentions of each place and
topic, and one observation per place and topic (metric: the topic, value: mentions over what a spike needs) goes to
the rules built from the section, ``public_signal:<place>:<topic>``: warning from 1, major from ``major_ratio``.

Places are the communes (the areas of the site's lowest level, by name with and without diacritics, plus their
``aliases``) and the ``villages`` listed here, each counted for its own place id and alerting in its commune.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from analytics import signals
from analytics.rules import AlertRule, Observation
from analytics.setup import AlertSetup
from analytics.sources.base import AlertSource, Outcome, Stage, State, register
from ioc import i18n
from ioc.config.models import AreaCode, ConfigProblems, KeyPath, Name, SiteConfig, Slug, WebUrl
from ioc.events import FeedItem, Severity
from ioc.geo import AreaIndex

TYPE = "public_signal"
SECTION: KeyPath = ("sources", TYPE)

Keyword = Annotated[str, StringConstraints(min_length=1, max_length=80, strip_whitespace=True)]

i18n.register(
    {
        "alert.source.public_signal": ("Tin công khai", "Public signals"),
    }
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Feed(_Model):
    """One RSS or Atom feed: a local news site, a commune's or a department's page."""

    id: Slug = Field(title="feed id")
    name: Name = Field(title="name", description="e.g. Báo Điện Biên Phủ")
    url: WebUrl = Field(title="URL", description="of the RSS or Atom document")
    poll_interval_s: float = Field(default=900, ge=30, le=86_400, title="poll every (s)")
    area_code: AreaCode | None = Field(
        default=None, title="unit", description="the unit the feed is about (a commune's page): an item naming no "
        "place counts for it, and only its operators see it; unset: the whole site"
    )
    timeout_s: float = Field(default=15, gt=0, le=120, title="timeout (s)")
    max_bytes: int = Field(default=2_000_000, ge=1000, le=50_000_000, title="largest document (bytes)")


class SignalTopic(_Model):
    """A hazard the feeds are watched for, with the Vietnamese words that name it."""

    id: Slug = Field(title="topic id", description="e.g. landslide; the last part of the alert key")
    name_vi: Name = Field(title="Vietnamese name", description="e.g. sạt lở")
    name_en: Name = Field(title="English name")
    keywords: list[Keyword] = Field(
        min_length=1, max_length=200, title="keywords", description="with diacritics; those of two syllables or "
        "more also match text written without them"
    )
    unaccented: list[Keyword] = Field(
        default=[], max_length=200, title="keywords without diacritics",
        description="matched only in text written without diacritics, e.g. ngap lut",
    )
    exclude: list[Keyword] = Field(
        default=[], max_length=200, title="phrases that are not this topic", description="e.g. lũ lượt, cháy hàng"
    )

    def terms(self) -> signals.Terms:
        """Return the topic's phrases for the matcher."""
        return signals.Terms.build(self.id, self.keywords, self.unaccented, self.exclude)


class Village(_Model):
    """A village (thôn, bản) news may name, counted as its own place and alerting in its commune."""

    id: Slug = Field(title="village id")
    name: Name = Field(title="name", description="with diacritics, without the word bản or thôn")
    area_code: AreaCode = Field(title="commune", description="code of the commune it belongs to")
    aliases: list[Name] = Field(default=[], max_length=20, title="other names")


class SpikeConfig(_Model):
    """When the mentions of one place and topic are an alert."""

    window_s: float = Field(default=6 * 3600, ge=600, le=7 * 86_400, title="window (s)")
    min_mentions: int = Field(default=3, ge=1, le=1000, title="fewest mentions in the window")
    baseline_days: float = Field(default=7, gt=0, le=90, title="usual rate over (days)", description="before the "
                                 "window")
    factor: float = Field(default=3, ge=1, le=100, title="times the usual rate")
    major_ratio: float = Field(default=2, gt=1, le=100, title="major from (times what a spike needs)")
    clear_for_s: float = Field(default=3600, ge=0, le=7 * 86_400, title="clear for (s)")

    def rule(self) -> signals.SpikeRule:
        """Return the pure rule of ``analytics.signals``."""
        return signals.SpikeRule(
            window_s=self.window_s, min_mentions=self.min_mentions, baseline_s=self.baseline_days * 86_400,
            factor=self.factor,
        )


# The hazards the issue names, with the traps of everyday Vietnamese: lũ lượt (in droves), lũ trẻ (the kids), ngập
# tràn (full of), cháy hàng (sold out), cháy vé (sold out), cháy nắng (sunburnt), va chạm (also a quarrel: kept out).
DEFAULT_TOPICS: tuple[SignalTopic, ...] = (
    SignalTopic(
        id="landslide", name_vi="sạt lở", name_en="landslide",
        keywords=["sạt lở", "sạt lở đất", "lở đất", "sạt taluy", "đất đá vùi lấp", "sụt lún", "sạt trượt"],
    ),
    SignalTopic(
        id="flooding", name_vi="lũ, ngập", name_en="flooding",
        keywords=["lũ", "lũ quét", "lũ ống", "lũ lụt", "lụt", "ngập", "ngập lụt", "ngập úng", "nước lũ", "mưa lũ"],
        unaccented=["ngap lut", "ngap sau", "ngap ung", "bi ngap"],
        exclude=["lũ lượt", "lũ trẻ", "lũ bạn", "lũ con", "ngập tràn", "ngập ngừng", "ngập mặt", "ngập đầu"],
    ),
    SignalTopic(
        id="accident", name_vi="tai nạn", name_en="accident",
        keywords=["tai nạn", "tai nạn giao thông", "lật xe", "đâm xe", "xe lao xuống vực", "đuối nước"],
    ),
    SignalTopic(
        id="fire", name_vi="cháy", name_en="fire",
        keywords=["cháy", "hỏa hoạn", "cháy rừng", "cháy nhà", "bốc cháy", "cháy lớn"],
        unaccented=["hoa hoan", "chay rung", "chay nha", "boc chay"],
        exclude=["cháy hàng", "cháy vé", "cháy túi", "cháy nắng", "cháy bỏng", "cháy hết mình", "cháy phố"],
    ),
)


class PublicSignalConfig(_Model):
    """The feeds of a site, the topics they are matched against, its villages and the spike rule."""

    feeds: list[Feed] = Field(min_length=1, max_length=500, title="feeds")
    topics: list[SignalTopic] = Field(
        default=list(DEFAULT_TOPICS), min_length=1, max_length=50, title="topics",
        description="default: landslide, flooding, accident, fire",
    )
    villages: list[Village] = Field(default=[], max_length=20_000, title="villages")
    aliases: dict[AreaCode, list[Name]] = Field(
        default={}, max_length=20_000, title="other names of communes", description="by area code"
    )
    spike: SpikeConfig = Field(default=SpikeConfig(), title="spike rule")

    @model_validator(mode="after")
    def _unique(self) -> PublicSignalConfig:
        problems: list[tuple[KeyPath, str]] = []
        ids = {"feeds": [f.id for f in self.feeds], "topics": [t.id for t in self.topics],
               "villages": [v.id for v in self.villages]}
        for part, values in ids.items():
            seen: set[str] = set()
            for i, value in enumerate(values):
                if value in seen:
                    problems.append(((part, i, "id"), f"{part[:-1]} id {value!r} is used twice; give each its own"))
                seen.add(value)
        if problems:
            raise ConfigProblems(problems)
        return self

    def feed(self, feed_id: str) -> Feed | None:
        """Return the feed with this id, or None."""
        return next((f for f in self.feeds if f.id == feed_id), None)

    def topic(self, topic_id: str) -> SignalTopic | None:
        """Return the topic with this id, or None."""
        return next((t for t in self.topics if t.id == topic_id), None)


def communes(site: SiteConfig) -> list[tuple[str, str]]:
    """Return the code and name of every area of the site's lowest level (the communes)."""
    lowest = site.site.levels[-1].id
    return [(a.code, a.name) for a in site.areas if a.level == lowest]


def places(site: SiteConfig, config: PublicSignalConfig) -> list[signals.Place]:
    """Return the communes and villages items may name, each with its names in both spellings."""
    out = [
        signals.Place(code, code, signals.Terms.build(code, [name, *config.aliases.get(code, [])],
                                                      single_syllable_unaccented=True))
        for code, name in communes(site)
    ]
    out += [
        signals.Place(v.id, v.area_code, signals.Terms.build(v.id, [v.name, *v.aliases],
                                                             single_syllable_unaccented=True))
        for v in config.villages
    ]
    return out


def matcher(site: SiteConfig, config: PublicSignalConfig) -> signals.Matcher:
    """Return the matcher of the site's topics and places."""
    return signals.Matcher([t.terms() for t in config.topics], places(site, config))


def place_names(site: SiteConfig, config: PublicSignalConfig) -> dict[str, tuple[str, str]]:
    """Return place id -> (its name, the commune's area code)."""
    out = {code: (name, code) for code, name in communes(site)}
    out.update({v.id: (v.name, v.area_code) for v in config.villages})
    return out


def message_keys(topic: SignalTopic) -> tuple[str, str]:
    """Register the spike and resolved messages of one topic (its name in each language is part of the text)."""
    key = f"alert.public_signal.{topic.id}"
    i18n.register({
        key: (
            f"Tin về {topic.name_vi} tại {{place}} tăng đột biến: {{value}} lần ngưỡng",
            f"News about {topic.name_en} in {{place}} spiking: {{value}} times the threshold",
        ),
        f"{key}.resolved": (
            f"Tin về {topic.name_vi} tại {{place}} đã trở lại mức thường",
            f"News about {topic.name_en} in {{place}} back to the usual level",
        ),
    })
    return key, f"{key}.resolved"


class PublicSignalStage(Stage[FeedItem]):
    """The recent mentions of each place and topic (times and item ids), within the window and the baseline."""

    events = (FeedItem,)

    def __init__(self, setup: AlertSetup, state: State) -> None:
        super().__init__(setup, state)
        # "place|topic" -> [[ISO time, item id], ...], oldest first.
        self._mentions: dict[str, list[list[str]]] = {k: [list(m) for m in v]
                                                      for k, v in state.get("signal_mentions", {}).items()}
        # The last value observed of each pair: a tick observes only the pairs whose value moved, so a tick that
        # changes nothing leaves the state as it was (a Faust worker then writes nothing to its changelog).
        self._last: dict[str, float] = dict(state.get("signal_last", {}))
        # The latest time observed: an item fetched earlier (a backfill, a feed caught up late) is judged at this
        # time, never before it, so the rule engine never sees time go backwards.
        clock = state.get("signal_clock")
        self._clock: datetime | None = datetime.fromisoformat(clock) if clock else None

    def handle(self, event: FeedItem) -> Outcome:
        """Count the item once for each place and topic it matched; observe those pairs at its fetch time (or later)."""
        rule = self.setup.signal_spike
        if rule is None:
            return Outcome()
        # An item dated in the future (a wrong clock on the site) counts at its fetch time.
        at = min(event.published_at or event.fetched_at, event.fetched_at).astimezone(UTC)
        touched: list[str] = []
        for match in event.matches:
            for topic in match.topics:
                key = f"{match.place}|{topic}"
                held = self._mentions.setdefault(key, [])
                if any(item == str(event.event_id) for _, item in held):
                    continue
                held.append([at.isoformat(), str(event.event_id)])
                held.sort()
                touched.append(key)
        now = self._advance(event.fetched_at)
        out = [self._observe(key, now, rule) for key in touched]
        for obs in out:
            self._last[f"{obs.subject}|{obs.metric}"] = float(obs.value)
        return Outcome(observations=out)

    def _advance(self, at: datetime) -> datetime:
        self._clock = at if self._clock is None else max(self._clock, at)
        return self._clock

    def tick(self, now: datetime, units: Sequence[str] | None) -> Outcome:
        """Observe the pairs whose value moved (a spike ends as its mentions leave the window); forget old ones."""
        rule = self.setup.signal_spike
        if rule is None:
            return Outcome()
        now = max(now, self._clock) if self._clock is not None else now
        out = [obs for key in sorted(self._mentions)
               if (obs := self._observe(key, now, rule)).value != self._last.get(key)]
        if out:
            self._advance(now)
        for obs in out:
            self._last[f"{obs.subject}|{obs.metric}"] = float(obs.value)
        oldest = (now - timedelta(seconds=signals.horizon(rule))).astimezone(UTC).isoformat()
        for key in list(self._mentions):
            kept = [m for m in self._mentions[key] if m[0] > oldest]  # ISO times in UTC sort as text
            if kept:
                self._mentions[key] = kept
            else:  # long out of the window: its last value observed was 0
                del self._mentions[key]
                self._last.pop(key, None)
        return Outcome(observations=out)

    def _observe(self, key: str, now: datetime, rule: signals.SpikeRule) -> Observation:
        place, topic = key.split("|", 1)
        found = signals.spike([datetime.fromisoformat(t) for t, _ in self._mentions.get(key, [])], now, rule)
        return Observation(TYPE, place, topic, found.ratio, now)

    def state(self) -> dict[str, Any]:
        """Return the mentions held."""
        return {
            "signal_mentions": {k: v for k, v in sorted(self._mentions.items())},
            "signal_last": {k: v for k, v in sorted(self._last.items())},
            "signal_clock": self._clock.isoformat() if self._clock else None,
        }


@register
class PublicSignalSource(AlertSource):
    """Mentions of a place and a hazard in the feeds of ``sources.public_signal``."""

    type = TYPE
    observes = TYPE
    stages = (PublicSignalStage,)
    config = PublicSignalConfig
    section = "sources.public_signal"
    subject_kind = "site"  # feed items are keyed by site: one state counts every place

    @classmethod
    def section_of(cls, site: SiteConfig) -> PublicSignalConfig | None:
        """Return the site's ``sources.public_signal`` section, None when it has none."""
        return site.source_config(TYPE, PublicSignalConfig)

    @classmethod
    def subjects(cls, site: SiteConfig, metric: str) -> list[tuple[str, BaseModel]]:
        """Return every place (commune or village) for a rule on a topic."""
        section = cls.section_of(site)
        if section is None or section.topic(metric) is None:
            return []
        return [(p.id, section) for p in places(site, section)]

    @classmethod
    def details(
        cls, site: SiteConfig, subject: str, metric: str, areas: AreaIndex | None
    ) -> tuple[str | None, dict[str, str | float | int]]:
        """Return the commune of a place, its name and the topic's names."""
        section = cls.section_of(site)
        assert section is not None  # subjects() returned this place
        name, unit = place_names(site, section)[subject]
        return unit, {"place": name, "name": name, "topic": metric}

    @classmethod
    def builtin_rules(cls, site: SiteConfig, areas: AreaIndex | None) -> list[AlertRule]:
        """Return one rule per place and topic: warning at a spike, major at ``major_ratio`` times one."""
        section = cls.section_of(site)
        if section is None:
            return []
        rules = []
        for topic in section.topics:
            message, resolved = message_keys(topic)
            for place in places(site, section):
                unit, params = cls.details(site, place.id, topic.id, areas)
                rules.append(AlertRule(
                    id=topic.id, source=TYPE, observes=TYPE, subject=place.id, metric=topic.id, op=">=",
                    levels=((Severity.WARNING, 1.0), (Severity.MAJOR, section.spike.major_ratio)),
                    clear_for_s=section.spike.clear_for_s, area_code=unit, message_key=message,
                    resolved_key=resolved, params=params,
                ))
        return rules

    @classmethod
    def tick_subjects(cls, site: SiteConfig) -> tuple[str, ...]:
        """Return the site id (the key of its feed items) when it has feeds."""
        return (site.site.id,) if cls.section_of(site) is not None else ()

    @classmethod
    def configure(cls, setup: AlertSetup, site: SiteConfig) -> AlertSetup:
        """Fill in the spike rule (None without a section: the stage then ignores feed items)."""
        section = cls.section_of(site)
        return replace(setup, signal_spike=section.spike.rule() if section is not None else None)

    @classmethod
    def check(cls, site: SiteConfig, config: BaseModel) -> list[tuple[KeyPath, str]]:
        """Return feeds, villages and aliases in an undeclared area, and villages named like a commune."""
        if not isinstance(config, PublicSignalConfig):
            return []
        codes = {a.code for a in site.areas}
        problems: list[tuple[KeyPath, str]] = []
        for i, feed in enumerate(config.feeds):
            if feed.area_code is not None and feed.area_code not in codes:
                problems.append(((*SECTION, "feeds", i, "area_code"), f"feed {feed.id}: area {feed.area_code!r} is "
                                 "not declared in areas; add it to areas or fix the code"))
        commune_ids = {code for code, _ in communes(site)}
        for i, village in enumerate(config.villages):
            if village.area_code not in codes:
                problems.append(((*SECTION, "villages", i, "area_code"), f"village {village.id}: area "
                                 f"{village.area_code!r} is not declared in areas; add it to areas or fix the code"))
            if village.id in commune_ids:
                problems.append(((*SECTION, "villages", i, "id"), f"village {village.id}: a commune has this code; "
                                 "give the village its own id"))
        for code in config.aliases:
            if code not in commune_ids:
                problems.append(((*SECTION, "aliases", code), f"aliases of {code!r}: not a commune of areas; use "
                                 "the code of a commune"))
        return problems
