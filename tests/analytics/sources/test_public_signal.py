"""The public-signal alert source: its section of the site config (file and line errors), its places and rules,
and a spike of feed items about one place and topic opening, escalating and resolving an alert through the rule
engine, in Vietnamese and English."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics.alerts import AlertProcessor, AlertSetup
from analytics.binding import alert_setup
from analytics.sources import SOURCES
from analytics.sources.public_signal import DEFAULT_TOPICS, PublicSignalConfig, PublicSignalSource, matcher
from ioc import i18n
from ioc.config import load_site, validate_site
from ioc.events import AlertEvent, AlertTransition, FeedItem, FeedMatch, Severity

SAMPLE = Path(__file__).resolve().parents[3] / "configs" / "muong-cha"
T0 = datetime(2026, 9, 14, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def setup() -> AlertSetup:
    return alert_setup(load_site(SAMPLE), None)


def item(n: int, minutes: float, place: str = "03172", topics: tuple[str, ...] = ("landslide",)) -> FeedItem:
    at = T0 + timedelta(minutes=minutes)
    return FeedItem.create(
        "muong-cha", "bao-dien-bien-phu", f"https://baodienbienphu.vn/a/{n}", at, url=f"https://baodienbienphu.vn/a/{n}",
        title=f"Sạt lở ở Na Sang ({n})", published_at=at - timedelta(minutes=5),
        matches=[FeedMatch(place=place, unit="03172", topics=list(topics))],
    )


def test_registered_with_its_section() -> None:
    assert SOURCES["public_signal"] is PublicSignalSource
    site = load_site(SAMPLE)
    section = PublicSignalSource.section_of(site)
    assert isinstance(section, PublicSignalConfig)
    assert [t.id for t in section.topics] == [t.id for t in DEFAULT_TOPICS]
    assert section.feeds[2].area_code == "03172"


def test_rules_per_place_and_topic(setup: AlertSetup) -> None:
    rules = {(r.subject, r.id): r for r in setup.rules if r.source == "public_signal"}
    # 5 communes and 3 villages, 4 topics
    assert len(rules) == 8 * 4
    rule = rules[("huoi-leng", "flooding")]
    assert rule.area_code == "03172"  # a village alerts in its commune
    assert rule.levels == ((Severity.WARNING, 1.0), (Severity.MAJOR, 2.0))
    assert rule.params["place"] == "Huổi Lèng" and rule.params["topic"] == "flooding"
    assert setup.subjects["site"] == ("muong-cha",)


def test_place_names_match_from_the_site(setup: AlertSetup) -> None:
    site = load_site(SAMPLE)
    found = matcher(site, PublicSignalSource.section_of(site) or PublicSignalConfig(feeds=[])).match(
        ["Lũ quét ở bản Nậm He, xã Mường Tùng"]
    )
    assert found.topics == ("flooding",) and found.places == ("03181", "nam-he")


def run(proc: AlertProcessor, script: list[tuple[float, FeedItem | None]]) -> list[AlertEvent]:
    out: list[AlertEvent] = []
    for minutes, event in script:
        out += proc.tick(T0 + timedelta(minutes=minutes)) if event is None else proc.handle(event)
    return out


SPIKE: list[tuple[float, FeedItem | None]] = [
    (0, item(1, 0)),
    (30, item(2, 30)),
    (30, item(2, 30)),  # the same article again: counted once
    (40, item(3, 40, place="03181")),  # another place
    (60, item(4, 60)),  # third mention of Na Sang in 6 h: warning
    (90, item(5, 90)),
    (100, item(6, 100)),
    (120, item(7, 120)),  # 6 mentions: twice what a spike needs, major
    # Items count at their publication, 5 min before they were fetched.
    (6 * 60 + 10, None),  # the first has left the window: 5, back to warning (an update)
    (6 * 60 + 60, None),  # 3 left: still a spike
    (8 * 60, None),  # none left: clear from now
    (8 * 60 + 59, None),  # clear for 59 min: not yet
    (9 * 60, None),  # clear for an hour: resolved
]


def test_spike_opens_escalates_and_resolves(setup: AlertSetup) -> None:
    out = run(AlertProcessor(setup), SPIKE)
    steps = [(a.alert_key, a.transition, a.severity) for a in out]
    key = "public_signal:03172:landslide"
    assert steps == [
        (key, AlertTransition.OPENED, Severity.WARNING),
        (key, AlertTransition.ESCALATED, Severity.MAJOR),
        (key, AlertTransition.UPDATED, Severity.WARNING),
        (key, AlertTransition.RESOLVED, Severity.WARNING),
    ]  # Mường Tùng's one mention is no spike
    assert out[-1].at == T0 + timedelta(hours=9)
    resolved = i18n.t(out[-1].message_key, "en", **out[-1].params)
    assert resolved == "News about landslide in Na Sang back to the usual level"
    opened = out[0]
    assert opened.area_code == "03172" and opened.at == T0 + timedelta(minutes=60)
    assert i18n.t(opened.message_key, "vi", **opened.params).startswith("Tin về sạt lở tại Na Sang tăng")
    assert "News about landslide in Na Sang spiking" in i18n.t(opened.message_key, "en", **opened.params)


def test_state_round_trip_gives_the_same_alerts(setup: AlertSetup) -> None:
    whole = run(AlertProcessor(setup), SPIKE)
    first = AlertProcessor(setup)
    out = run(first, SPIKE[:5])
    second = AlertProcessor.from_state(setup, first.state())
    out += run(second, SPIKE[5:])
    assert [a.event_id for a in out] == [a.event_id for a in whole]


def test_items_ignored_without_a_section() -> None:
    proc = AlertProcessor(AlertSetup())
    assert proc.handle(item(1, 0)) == [] and proc.state().get("signal_mentions") == {}


# --- its section of the site config: every mistake at its file, line and key

@pytest.fixture
def site_copy(tmp_path: Path) -> Path:
    target = tmp_path / "muong-cha"
    shutil.copytree(SAMPLE, target)
    return target


def edit(site: Path, old: str, new: str) -> None:
    path = site / "sources.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in sources.yaml: the sample changed, update the test"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(site: Path, needle: str) -> int:
    for number, line in enumerate((site / "sources.yaml").read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in sources.yaml")


@pytest.mark.parametrize(
    ("old", "new", "needle", "key", "message"),
    [
        ("url: https://dienbien.gov.vn/rss/tin-tuc.rss", "url: dienbien.gov.vn/rss", "url: dienbien.gov.vn",
         "sources.public_signal.feeds[1].url", "should match pattern"),
        ("poll_interval_s: 900", "poll_interval_s: 5", "poll_interval_s: 5",
         "sources.public_signal.feeds[0].poll_interval_s", "greater than or equal to 30"),
        ('        area_code: "03172"\n    villages', '        area_code: "03999"\n    villages', '"03999"',
         "sources.public_signal.feeds[2].area_code", "area '03999' is not declared in areas"),
        ('{id: nam-he, name: Nậm He, area_code: "03181"}', '{id: nam-he, name: Nậm He, area_code: "03182"}',
         "03182", "sources.public_signal.villages[1].area_code", "area '03182' is not declared"),
        ("id: huoi-mi,", "id: huoi-leng,", "Huổi Mí", "sources.public_signal.villages[2].id",
         "village id 'huoi-leng' is used twice"),
        ("min_mentions: 3", "min_mentions: 0", "min_mentions: 0", "sources.public_signal.spike.min_mentions",
         "greater than or equal to 1"),
        ("major_ratio: 2", "major_ratio: 2\n      factr: 3", "factr", "sources.public_signal.spike.factr",
         "did you mean 'factor'?"),
    ],
    ids=["url", "poll-too-often", "feed-area", "village-area", "village-twice", "min-mentions", "misspelled"],
)
def test_section_errors_name_file_line_and_key(
    site_copy: Path, old: str, new: str, needle: str, key: str, message: str
) -> None:
    edit(site_copy, old, new)
    issues = validate_site(site_copy)
    assert len(issues) == 1, "\n".join(str(i) for i in issues)
    issue = issues[0]
    assert (issue.file, issue.line, issue.key) == (str(site_copy / "sources.yaml"), line_of(site_copy, needle), key)
    assert message in issue.message


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_spike_message_renders_on_every_channel_and_goes_to_the_security_desk(setup: AlertSetup, lang: str) -> None:
    import uuid

    from ioc.notify.render import AlertView, Renderer
    from ioc.notify.roster import DutyRoster

    site = load_site(SAMPLE)
    opened = run(AlertProcessor(setup), SPIKE)[0]
    alert = AlertView(alert_id=str(uuid.uuid4()), severity="warning", message_key=opened.message_key,
                      params=opened.params, area_code=opened.area_code, opened_at=opened.at, updated_at=opened.at,
                      resolved_at=None)
    officer = site.roster.officers[0].model_copy(update={"lang": lang})
    renderer = Renderer(site, public_url="https://ioc.example.vn", ack_secret=b"k")
    expected = {"vi": "Tin về sạt lở tại Na Sang tăng đột biến", "en": "News about landslide in Na Sang spiking"}
    for channel in site.channels:
        text = renderer.message(key="k", kind="alert_opened", cause="", step_delay_min=5, officer=officer,
                                alert=alert, severity="warning", channel_id=channel.id).text
        assert expected[lang] in text, (channel.id, text)
    assert DutyRoster(site.roster, site.areas).domain_of("public_signal") == "security"


def test_an_item_fetched_late_is_judged_at_the_latest_time(setup: AlertSetup) -> None:
    # Three mentions, the last fetched late (a feed caught up after a tick at 9 h): counted at 9 h, where the
    # window holds only its own mention, so no alert opens in the past and time never runs backwards.
    proc = AlertProcessor(setup)
    out = run(proc, [(0, item(1, 0)), (30, item(2, 30)), (9 * 60, None), (60, item(3, 60))])
    assert out == []
    assert proc.state()["signal_clock"] == (T0 + timedelta(hours=9)).isoformat()


def test_a_tick_that_changes_nothing_leaves_the_state_alone(setup: AlertSetup) -> None:
    # A Faust worker writes a key's state to its changelog when a tick changed it: every 5 s otherwise.
    proc = AlertProcessor(setup)
    run(proc, [(0, item(1, 0)), (30, item(2, 30)), (40, None)])
    before = proc.state()
    assert proc.tick(T0 + timedelta(minutes=41)) == [] and proc.state() == before
    # once a mention leaves the window the value moves: observed, and the state moves with it
    proc.tick(T0 + timedelta(hours=6))
    assert proc.state()["signal_last"]["03172|landslide"] == round(1 / 3, 2)
