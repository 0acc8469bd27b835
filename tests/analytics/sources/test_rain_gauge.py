"""The rain-gauge-only alert source: its rules open, escalate, update and resolve on 1 h and 24 h rain, its section of
the site config is checked at its file and line, and its gauges' readings pass ingest."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from analytics.alerts import AlertProcessor, AlertSetup
from analytics.binding import alert_setup
from analytics.sources import SOURCES
from analytics.sources.rain_gauge import NATIONAL_24H, RainGaugeConfig, RainGaugeSource
from ingest.flood import FloodTopics, StationLimits, parse_reading
from ioc import i18n
from ioc.config import load_site, validate_site
from ioc.errors import InvalidInput
from ioc.events import AlertEvent, AlertTransition, SensorReading, Severity

SAMPLE = Path(__file__).resolve().parents[3] / "configs" / "muong-cha"
T0 = datetime(2026, 9, 14, 6, 0, tzinfo=UTC)
GAUGE = "NS-11"
OPENED, ESCALATED, UPDATED, RESOLVED = (
    AlertTransition.OPENED, AlertTransition.ESCALATED, AlertTransition.UPDATED, AlertTransition.RESOLVED
)


@pytest.fixture(scope="module")
def setup() -> AlertSetup:
    return alert_setup(load_site(SAMPLE), None)


def rain(minutes: float, mm: float) -> SensorReading:
    at = T0 + timedelta(minutes=minutes)
    return SensorReading.create(GAUGE, at, {"rainfall_mm": mm}, source="mqtt", received_at=at)


def run(proc: AlertProcessor, script: list[tuple[float, float | None]]) -> list[AlertEvent]:
    """(minutes, mm): a reading of the gauge; (minutes, None): a tick."""
    out: list[AlertEvent] = []
    for minutes, mm in script:
        out += proc.tick(T0 + timedelta(minutes=minutes)) if mm is None else proc.handle(rain(minutes, mm))
    return out


# A downpour over the gauge (a reading every 10 min), then dry readings; the 24 h total leaves its window a day later.
STORM: list[tuple[float, float | None]] = [
    (0, 0.0),
    (10, 10.0),  # 1 h 10, 24 h 10: nothing
    (20, 10.0),  # 24 h 20 > 15: mưa vừa, info
    (30, 15.0),  # 1 h 35 > 30: warning
    (40, 20.0),  # 1 h 55 > 50: major; 24 h 55 > 50: mưa to, warning
    (80, 0.0),  # 1 h 35 (the readings of 30 and 40 min): back to warning
    (100, 0.0),  # 1 h 0: clear from now
    (159, None),  # 59 min clear: not yet
    (160, None),  # 60 min clear: 1 h resolves
    (24 * 60 + 30, 0.0),  # the readings up to 30 min have left the 24 h window: 20 mm, info
    (24 * 60 + 45, 0.0),  # 0 mm: clear from now
    (24 * 60 + 105, None),  # clear for an hour: 24 h resolves
]
EXPECTED = [
    ("rain-24h", OPENED, Severity.INFO, 20.0, 20),
    ("rain-1h", OPENED, Severity.WARNING, 35.0, 30),
    ("rain-1h", ESCALATED, Severity.MAJOR, 55.0, 40),
    ("rain-24h", ESCALATED, Severity.WARNING, 55.0, 40),
    ("rain-1h", UPDATED, Severity.WARNING, 35.0, 80),
    ("rain-1h", RESOLVED, Severity.WARNING, 0.0, 160),
    ("rain-24h", UPDATED, Severity.INFO, 20.0, 24 * 60 + 30),
    ("rain-24h", RESOLVED, Severity.INFO, 0.0, 24 * 60 + 105),
]


def test_storm_opens_escalates_and_resolves_each_window_once(setup: AlertSetup) -> None:
    events = run(AlertProcessor(setup), STORM)
    got = [
        (e.alert_key.rsplit(":", 1)[1], e.transition, e.severity, e.value, (e.at - T0) / timedelta(minutes=1))
        for e in events
    ]
    assert got == EXPECTED
    assert {e.alert_key.rsplit(":", 1)[0] for e in events} == {f"rain_gauge:{GAUGE}"}
    assert {e.source_kind for e in events} == {"rain_gauge"}
    assert {e.area_code for e in events} == {"03172"}


def test_messages_in_both_languages(setup: AlertSetup) -> None:
    opened = run(AlertProcessor(setup), STORM[:4])[-1]
    assert i18n.t(opened.message_key, "vi", **opened.params) == (
        "Trạm đo mưa Điểm đo mưa đồi Na Sang: mưa 35 mm trong 1 giờ (ngưỡng 30 mm)"
    )
    assert i18n.t(opened.message_key, "en", **opened.params) == (
        "Rain gauge Điểm đo mưa đồi Na Sang: 35 mm of rain in 1 hour (threshold 30 mm)"
    )


def test_state_round_trip_gives_the_same_alerts(setup: AlertSetup) -> None:
    """Either runtime stores the state between events (a Faust table, the embedded snapshot): same ids after it."""
    whole = run(AlertProcessor(setup), STORM)
    first = AlertProcessor(setup)
    before = run(first, STORM[:5])
    after = run(AlertProcessor.from_state(setup, orjson.loads(orjson.dumps(first.state()))), STORM[5:])
    assert [e.event_id for e in before + after] == [e.event_id for e in whole]


def test_gauges_are_ticked_and_added_to_ingest(setup: AlertSetup) -> None:
    assert GAUGE in setup.subjects["station"]  # the Faust flood worker ticks the gauge's key
    site = load_site(SAMPLE)
    limits = {sid: StationLimits(sid, ranges) for sid, ranges in RainGaugeSource.sensor_stations(site).items()}
    topics, now = FloodTopics(site_id=site.site.id), datetime.now(UTC)
    ok = parse_reading(topics.for_station(GAUGE), b'{"ts": %d, "rainfall_mm": 12.5}' % now.timestamp(), topics,
                       limits, now)
    assert ok.values == {"rainfall_mm": 12.5}
    with pytest.raises(InvalidInput, match="outside the valid range"):
        parse_reading(topics.for_station(GAUGE), b'{"ts": %d, "rainfall_mm": 400}' % now.timestamp(), topics,
                      limits, now)


def test_registered_and_defaults_to_the_national_categories() -> None:
    assert SOURCES["rain_gauge"] is RainGaugeSource
    section = RainGaugeConfig.model_validate(
        {"stations": [{"id": "MC-21", "name": "Bản Huổi Mí", "area_code": "03193", "lon": 103.1, "lat": 21.8}]}
    )
    assert section.thresholds(section.stations[0], "rainfall_24h_mm") == NATIONAL_24H
    assert NATIONAL_24H.levels() == ((Severity.INFO, 15), (Severity.WARNING, 50), (Severity.MAJOR, 100))
    assert section.thresholds(section.stations[0], "rainfall_1h_mm").levels() == ()  # no national 1 h category


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
        ("lat: 21.7611", "lat: 31.7611", "lat: 31.7611", "sources.rain_gauge.stations[0].lat",
         "less than or equal to 23.4 (got 31.7611)"),
        ("clear_for_s: 3600", "clear_for_s: -1", "clear_for_s: -1", "sources.rain_gauge.clear_for_s",
         "greater than or equal to 0"),
        ("{warning: 30, major: 50}", "{warning: 30, major: 25}", "rainfall_1h_mm",
         "sources.rain_gauge.rainfall_1h_mm.major",
         "major (25.0 mm) must be above warning (30.0 mm)"),
        ("        lon: 103.0921", "        lon: 103.0921\n        max_mm_per_readin: 200", "max_mm_per_readin",
         "sources.rain_gauge.stations[0].max_mm_per_readin", "did you mean 'max_mm_per_reading'?"),
        ('area_code: "03172"', 'area_code: "03173"', 'area_code: "03173"', "sources.rain_gauge.stations[0].area_code",
         "area '03173' is not declared in areas"),
        ("id: NS-11", "id: NS-01", "id: NS-01", "sources.rain_gauge.stations[0].id", "a flood station has this id"),
        ("  rain_gauge:", "  rain_gauges:", "rain_gauges:", "sources.rain_gauges",
         "unknown alert source 'rain_gauges'; did you mean 'rain_gauge'?"),
    ],
    ids=["out-of-country", "negative", "decreasing", "misspelled", "unknown-area", "flood-station-id", "unknown-type"],
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
