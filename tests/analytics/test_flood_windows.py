"""Flood windows: rate of rise, rainfall over 1 h / 3 h / 24 h, silence; a whole flood through the AlertProcessor."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from analytics.alerts import AlertEvent, AlertProcessor, AlertRule, AlertSetup
from analytics.flood import AlarmRules, FloodWindows, WindowSettings, rate_of_rise
from ioc.events import SensorReading, Severity

T0 = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
W, M, C = Severity.WARNING, Severity.MAJOR, Severity.CRITICAL
LEVELS = {"NS-01": AlarmRules("NS-01", "Na Sang", (2.0, 3.0, 4.0), hysteresis_m=0.15, area_code="03172")}


def rule(rid: str, metric: str, levels: tuple[tuple[Severity, float], ...], **kw: object) -> AlertRule:
    return AlertRule(
        id=rid,
        source="flood",
        observes="flood",
        subject="NS-01",
        metric=metric,
        op=">=",
        levels=levels,
        area_code="03172",
        message_key=f"alert.rule.{rid}",
        **kw,
    )  # type: ignore[arg-type]


RULES = (
    rule("rise", "rise_m_per_h", ((W, 0.5), (M, 1.0)), hysteresis=0.1, clear_for_s=1800),
    rule("rain-1h", "rainfall_1h_mm", ((W, 30.0),), clear_for_s=1800),
    rule("rain-24h", "rainfall_24h_mm", ((W, 100.0), (M, 150.0))),
    rule("silent", "silence_s", ((M, 1800.0),)),
)
SETUP = AlertSetup(
    rules=RULES, level_rules=LEVELS, windows=WindowSettings(rise_window_s=3600, rise_min_span_s=900)
)


def reading(
    minutes: float, level: float | None = None, rain: float | None = None, received_late_s: float = 0
) -> SensorReading:
    values = {k: v for k, v in (("water_level_m", level), ("rainfall_mm", rain)) if v is not None}
    at = T0 + timedelta(minutes=minutes)
    return SensorReading.create(
        "NS-01", at, values, source="sim", received_at=at + timedelta(seconds=received_late_s)
    )


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([(0, 1.0)], None),
        ([(0, 1.0), (10, 1.2)], None),  # 10 minutes: shorter than the 15-minute minimum span
        ([(0, 1.0), (15, 1.25), (30, 1.5)], 1.0),  # 0.5 m in 30 min
        ([(0, 2.0), (30, 1.5), (60, 1.0)], -1.0),
        ([(0, 1.0), (15, 1.0), (30, 1.0)], 0.0),
    ],
)
def test_rate_of_rise(points: list[tuple[int, float]], expected: float | None) -> None:
    levels = [(T0 + timedelta(minutes=m), v) for m, v in points]
    got = rate_of_rise(levels, min_span_s=900)
    assert got == (None if expected is None else pytest.approx(expected))


def test_rainfall_windows_sum_only_their_readings() -> None:
    win = FloodWindows()
    for hour in range(26):
        obs = win.update(reading(hour * 60, rain=10.0 if hour in (0, 20, 24, 25) else 0.0))
    totals = {
        o.metric: o.value for o in obs if o.metric.startswith("rainfall_") and o.metric.endswith("h_mm")
    }
    # At hour 25: 1 h holds hour 25; 3 h holds 24 and 25; 24 h holds 20, 24 and 25 (hour 0 has left the window).
    assert totals == {"rainfall_1h_mm": 10.0, "rainfall_3h_mm": 20.0, "rainfall_24h_mm": 30.0}
    assert len(win.to_dict()["NS-01"]["rain_1m"]) == 3  # dry readings and rain older than 24 h are not kept


Point = tuple[datetime, float | None, float | None]


def exact(points: list[Point], settings: WindowSettings) -> list[dict[str, float]]:
    """The windows as defined, reading by reading, with every reading kept: the reference for the buckets."""
    out = []
    for i, (at, _, _) in enumerate(points):
        seen = points[: i + 1]
        levels = [(t, lv) for t, lv, _ in seen if lv is not None and (at - t).total_seconds() <= settings.rise_window_s]
        got: dict[str, float] = {}
        if points[i][1] is not None:
            xs = [(t - levels[0][0]).total_seconds() / 3600 for t, _ in levels]
            if len(levels) >= 2 and xs[-1] * 3600 >= settings.rise_min_span_s:
                ys = [v for _, v in levels]
                mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
                sxx = sum((x - mx) ** 2 for x in xs)
                got["rise_m_per_h"] = round(sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx, 4)
        if points[i][2] is not None:
            for metric, seconds in (("rainfall_1h_mm", 3600), ("rainfall_3h_mm", 10800), ("rainfall_24h_mm", 86400)):
                got[metric] = round(sum(r for t, _, r in seen if r and (at - t).total_seconds() < seconds), 2)
        out.append(got)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_minute_buckets_give_the_exact_figures_at_a_minute_or_slower(seed: int) -> None:
    import random

    rnd = random.Random(seed)
    settings = WindowSettings(rise_window_s=3600, rise_min_span_s=900)
    at, level, points = T0, 1.0, []
    for _ in range(250):
        at += timedelta(minutes=rnd.choice((1, 2, 5, 5, 10, 15, 30, 90)))
        level = max(0.0, level + rnd.uniform(-0.2, 0.3))
        rain = rnd.choice((None, 0.0, 0.0, round(rnd.uniform(0, 20), 1)))
        points.append((at, rnd.choice((None, round(level, 3), round(level, 3))), rain))
    win, stored = FloodWindows(settings), None
    for i, (t, lv, rain) in enumerate(points):
        values = {k: v for k, v in (("water_level_m", lv), ("rainfall_mm", rain)) if v is not None}
        if not values:
            values = {"battery_v": 12.0}
        if i % 37 == 0:  # now and then through the stored form, as a Faust worker does per batch
            stored = json.loads(json.dumps(win.to_dict()))
            win = FloodWindows(settings, stored)
        obs = win.update(SensorReading.create("NS-01", t, values, source="sim", received_at=t))
        got = {o.metric: o.value for o in obs if o.metric.startswith(("rise", "rainfall_"))}
        got.pop("rainfall_mm", None)
        assert got == pytest.approx(exact(points[: i + 1], settings)[-1], abs=2e-4), (i, t)


def test_a_station_reporting_every_few_seconds_keeps_a_small_state() -> None:
    win = FloodWindows(WindowSettings(rise_window_s=3600, rise_min_span_s=900))
    for s in range(0, 25 * 3600, 5):
        obs = win.update(SensorReading.create("NS-01", T0 + timedelta(seconds=s),
                                              {"water_level_m": 1.0 + s / 36000, "rainfall_mm": 0.01},
                                              source="sim", received_at=T0))
    state = win.to_dict()["NS-01"]
    assert len(state["levels_1m"]) <= 61 and len(state["rain_1m"]) <= 1440
    got = {o.metric: o.value for o in obs}
    assert got["rise_m_per_h"] == pytest.approx(0.1, abs=1e-6)  # 1 cm per 6 min
    assert got["rainfall_1h_mm"] == pytest.approx(7.2)  # 720 readings of 0.01 mm in the last 60 minutes
    assert got["rainfall_24h_mm"] == pytest.approx(172.8)


def test_state_written_before_the_buckets_is_read() -> None:
    old = {"NS-01": {"last_at": (T0 + timedelta(minutes=30)).isoformat(),
                     "levels": [[(T0 + timedelta(minutes=m)).isoformat(), v]
                                for m, v in ((0, 1.0), (15, 1.25), (30, 1.5))],
                     "rain": [[(T0 + timedelta(minutes=m)).isoformat(), 4.0] for m in (0, 30)]}}
    obs = FloodWindows(WindowSettings(), old).update(reading(45, level=1.75, rain=1.0))
    got = {o.metric: o.value for o in obs}
    assert got["rise_m_per_h"] == pytest.approx(1.0)
    assert got["rainfall_1h_mm"] == 9.0


def test_windows_state_round_trip() -> None:
    win = FloodWindows()
    for m, lv in ((0, 1.0), (15, 1.3), (30, 1.6)):
        win.update(reading(m, level=lv, rain=2.0))
    stored = json.loads(json.dumps(win.to_dict()))
    a, b = (
        win.update(reading(45, level=1.9, rain=1.0)),
        FloodWindows(state=stored).update(reading(45, 1.9, 1.0)),
    )
    assert a == b


def feed(proc: AlertProcessor, script: list[tuple[float, float | None, float | None]]) -> list[AlertEvent]:
    """(minutes, level, rain): a reading; (minutes, None, None): a tick."""
    out: list[AlertEvent] = []
    for minutes, level, rain in script:
        if level is None and rain is None:
            out += proc.tick(T0 + timedelta(minutes=minutes))
        else:
            out += proc.handle(reading(minutes, level, rain))
    return out


# A flash flood on the Nậm Chà: rain, a fast rise through levels I, II and III, a peak, a slow fall.
FLOOD = [
    (0, 1.0, 0.0),
    (15, 1.05, 5.0),
    (30, 1.2, 12.0),
    (45, 1.6, 15.0),
    (60, 2.1, 8.0),
    (75, 2.7, 4.0),
    (90, 3.3, 2.0),
    (105, 4.1, 0.0),
    (120, 4.3, 0.0),
    (135, 4.2, 0.0),
    (150, 3.8, 0.0),
    (180, 3.4, 0.0),
    (210, 2.9, 0.0),
    (240, 2.4, 0.0),
    (270, 1.9, 0.0),
    (300, 1.7, 0.0),
    (330, 1.6, 0.0),
    (360, 1.5, 0.0),
]


def test_flood_from_first_reading_to_level_three_and_back() -> None:
    events = feed(AlertProcessor(SETUP), FLOOD)
    got = [
        (
            e.alert_key.split(":")[-1],
            e.transition.value,
            e.severity.value,
            int((e.at - T0).total_seconds() // 60),
        )
        for e in events
    ]
    assert got == [
        ("rise", "opened", "warning", 45),  # slope 0.78 m/h over the first 45 min
        ("rain-1h", "opened", "warning", 45),  # 5 + 12 + 15 = 32 mm in the last hour
        ("level", "opened", "warning", 60),
        ("rise", "escalated", "major", 60),
        ("level", "escalated", "major", 90),
        ("level", "escalated", "critical", 105),
        ("rain-1h", "resolved", "warning", 120),  # 29 mm from minute 90, clear for 30 min
        ("level", "updated", "major", 150),
        ("rise", "updated", "warning", 150),  # 0.44 m/h: under 1.0 - 0.1, kept at warning by the hysteresis
        ("rise", "resolved", "warning", 210),  # falling from minute 180, clear for 30 min
        ("level", "updated", "warning", 240),  # 2.9 m at minute 210 is still within II's hysteresis (2.85)
        ("level", "resolved", "warning", 300),  # 1.9 m at minute 270 is still within I's hysteresis (1.85)
    ]
    assert {e.area_code for e in events} == {"03172"}


def test_silence_opens_on_tick_and_resolves_on_the_next_reading() -> None:
    proc = AlertProcessor(SETUP)
    events = feed(proc, [(0, 1.0, 0.0), (5, 1.0, 0.0), (20, None, None), (35, None, None), (50, None, None)])
    assert [(e.alert_key, e.transition.value) for e in events] == [("flood:NS-01:silent", "opened")]
    assert events[0].at == T0 + timedelta(minutes=35)
    # The reading taken at minute 49 arrives after the tick at minute 50 that found the station silent.
    back = proc.handle(reading(49, 1.0, 0.0, received_late_s=90))
    assert [(e.transition.value, e.at) for e in back] == [
        ("resolved", T0 + timedelta(minutes=50, seconds=30))
    ]
    assert feed(proc, [(60, None, None), (70, 1.0, 0.0)]) == []


def test_processor_state_round_trip_and_replay_ids() -> None:
    straight = feed(AlertProcessor(SETUP), FLOOD)
    for cut in (3, 7, 11, 15):
        first = AlertProcessor(SETUP)
        events = feed(first, FLOOD[:cut])
        stored = json.loads(json.dumps(first.state()))
        events += feed(AlertProcessor.from_state(SETUP, stored), FLOOD[cut:])
        assert [e.event_id for e in events] == [e.event_id for e in straight], cut
    again = feed(AlertProcessor(SETUP), FLOOD)
    assert [e.event_id for e in again] == [e.event_id for e in straight]
    # A replay of the whole stream into a processor that has seen it changes nothing.
    proc = AlertProcessor(SETUP)
    feed(proc, FLOOD)
    assert feed(proc, FLOOD) == []
