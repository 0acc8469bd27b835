"""Events: wire round trip, stable ids, schemas in the package match the code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ioc import events as ev
from ioc import topics
from ioc.errors import InvalidInput

T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


def samples() -> list[ev.Event]:
    """One valid event of every type."""
    return [
        ev.SensorReading.create("NS-01", T0, {"water_level_m": 1.5}, source="mqtt", received_at=T0),
        ev.DetectionSummary(event_id=ev.stable_id("d"), camera_id="cam-1", window_start=T0,
                            window_end=T0 + timedelta(seconds=10), frames_analysed=20, counts={"car": 3}),
        ev.LineCrossing(event_id=ev.stable_id("l"), camera_id="cam-1", line_id="l1", track_id=7,
                        object_class="motorbike", direction=ev.Direction.IN, crossed_at=T0),
        ev.ZoneOccupancy(event_id=ev.stable_id("z"), camera_id="cam-1", zone_id="z1", at=T0, counts={"person": 4}),
        ev.CameraHealth(event_id=ev.stable_id("h"), camera_id="cam-1", at=T0, status=ev.CameraStatus.FROZEN),
        ev.KpiValue(event_id=ev.stable_id("k"), kpi_id="dossiers_on_time", unit_code="03172",
                    period_kind=ev.PeriodKind.MONTH, period_start=T0, value=96.63, source="csv"),
        ev.AlertEvent.create("flood:NS-01:level", ev.AlertTransition.OPENED, T0, opened_at=T0,
                             severity=ev.Severity.MAJOR, source_kind="flood", source_id="NS-01",
                             message_key="alert.flood.level"),
        ev.Notification(event_id=ev.stable_id("n"), alert_key="flood:NS-01:level", recipient="officer-1",
                        channel="zalo", step=0, status="sent", at=T0),
        ev.DeadLetter.of("mqtt:x", b"{bad", InvalidInput("malformed_json", "nope"), T0),
        ev.FeedItem.create("muong-cha", "bao-dien-bien", "https://example.vn/a/1", T0, url="https://example.vn/a/1",
                           title="Sạt lở ở Na Sang", published_at=T0,
                           matches=[ev.FeedMatch(place="03172", unit="03172", topics=["landslide"])]),
        ev.ReportStatus.create("PA-ABCDE-12345", 1, status="received", category="traffic", commune_code="03172",
                               unit_id="ubnd-na-sang", deadline=T0 + timedelta(days=7), at=T0),
        ev.Tick.create(3, T0),
    ]


@pytest.mark.parametrize("event", samples(), ids=lambda e: e.type)
def test_round_trip_and_topic(event: ev.Event) -> None:
    back = ev.decode(event.to_bytes())
    assert back == event
    if isinstance(event, ev.CONTROL_TYPES):
        with pytest.raises(KeyError):
            topics.for_event(event)
    else:
        assert topics.for_event(event).event_type is type(event)
    assert event.key()


def test_every_type_has_a_topic_and_a_sample() -> None:
    assert {type(e) for e in samples()} == set(ev.EVENT_TYPES)
    assert {t.event_type for t in topics.ALL} | set(ev.CONTROL_TYPES) == set(ev.EVENT_TYPES)


def test_reading_id_depends_on_station_and_time_only() -> None:
    a = ev.SensorReading.create("NS-01", T0, {"water_level_m": 1.0}, source="mqtt")
    b = ev.SensorReading.create("NS-01", T0.astimezone(timezone(timedelta(hours=7))), {"water_level_m": 2.0},
                                source="sim")
    c = ev.SensorReading.create("NS-01", T0 + timedelta(seconds=1), {"water_level_m": 1.0}, source="mqtt")
    assert a.event_id == b.event_id != c.event_id


def test_times_are_stored_in_utc() -> None:
    local = datetime(2026, 11, 22, 9, 0, tzinfo=timezone(timedelta(hours=7)))
    r = ev.SensorReading.create("NS-01", local, {"water_level_m": 1.0}, source="mqtt")
    assert r.observed_at.utcoffset() == timedelta(0) and r.observed_at.hour == 2


@pytest.mark.parametrize("raw", [b"", b"{}", b'{"type": "nope", "v": 1}', b"[1,2]", b'{"type": "sensor_reading"}'])
def test_decode_rejects_garbage(raw: bytes) -> None:
    with pytest.raises(InvalidInput) as info:
        ev.decode(raw)
    assert info.value.reason == "invalid_event"


@pytest.mark.parametrize("event_type", ev.EVENT_TYPES, ids=lambda t: t.__name__)
def test_shipped_schema_matches_code(event_type: type[ev.Event]) -> None:
    shipped = (ev.SCHEMA_DIR / ev.schema_name(event_type)).read_text(encoding="utf-8")
    assert shipped == ev.render_schema(event_type), "run `python -m ioc.events` and commit ioc/schemas"
