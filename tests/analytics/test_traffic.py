"""Traffic, crowds and camera health through the sample site's rules: held / not held, a parked vehicle once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics.alerts import AlertProcessor, AlertSetup
from ioc import i18n
from ioc.app.site import SiteRuntime
from ioc.config import load_site
from ioc.events import CameraHealth, CameraStatus, Event, ZoneOccupancy

SAMPLE = Path(__file__).resolve().parents[2] / "configs" / "muong-cha"
T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def setup() -> AlertSetup:
    return SiteRuntime.build(load_site(SAMPLE), SAMPLE).alerts


def zone(
    seconds: float,
    camera: str,
    zone_id: str,
    *,
    count: int = 0,
    density: float | None = None,
    dwell: float | None = None,
    congestion: str | None = None,
) -> ZoneOccupancy:
    return ZoneOccupancy(
        event_id=uuid.uuid4(),
        camera_id=camera,
        zone_id=zone_id,
        at=T0 + timedelta(seconds=seconds),
        counts={"x": count} if count else {},
        density_per_m2=density,
        max_dwell_s=dwell,
        congestion=congestion,
    )


def health(seconds: float, camera: str, status: CameraStatus) -> CameraHealth:
    return CameraHealth(
        event_id=uuid.uuid4(), camera_id=camera, at=T0 + timedelta(seconds=seconds), status=status
    )


def run(setup: AlertSetup, script: list[Event | float]) -> list[tuple[str, str, int]]:
    """Events are handled, numbers are ticks (seconds after T0); returns (key, transition, seconds)."""
    proc = AlertProcessor(setup)
    out = []
    for item in script:
        events = (
            proc.tick(T0 + timedelta(seconds=item)) if isinstance(item, float | int) else proc.handle(item)
        )
        out += [(e.alert_key, e.transition.value, int((e.at - T0).total_seconds())) for e in events]
    return out


STAGE = ("ns-one-stop", "stage")  # max_count 40, max_density 0.25, held 60 s, clear 300 s
ROAD = ("ns-crossroads", "near-carriageway")  # max_dwell 300; congestion held 180 s
# fmt: off
CASES = [
    ("crowd-held", [zone(0, *STAGE, count=45), zone(30, *STAGE, count=50), zone(60, *STAGE, count=48),
                    zone(90, *STAGE, count=20), 300.0, zone(400, *STAGE, count=20)],
     [("crowd:ns-one-stop/stage:overcrowded", "opened", 60), ("crowd:ns-one-stop/stage:overcrowded", "resolved", 390)]),
    ("crowd-not-held", [zone(0, *STAGE, count=45), zone(30, *STAGE, count=10), zone(50, *STAGE, count=45), 100.0], []),
    ("density-held-by-tick", [zone(0, *STAGE, count=30, density=0.3), 61.0],
     [("crowd:ns-one-stop/stage:crowd-density", "opened", 60)]),
    ("congestion-held", [zone(0, *ROAD, count=9, congestion="heavy"), zone(120, *ROAD, count=11, congestion="jammed"),
                         zone(180, *ROAD, count=11, congestion="jammed"),
                         zone(240, *ROAD, count=12, congestion="jammed")],
     [("traffic:ns-crossroads/near-carriageway:congestion", "opened", 180)]),
    ("congestion-not-held", [zone(0, *ROAD, count=9, congestion="heavy"), zone(100, *ROAD, count=3, congestion="free"),
                             zone(150, *ROAD, count=9, congestion="jammed"), 300.0], []),
    ("parked-once", [zone(s, *ROAD, count=1, dwell=float(s)) for s in range(0, 1200, 60)]
     + [zone(1200, *ROAD), zone(1260, *ROAD), 1300.0],
     [("traffic:ns-crossroads/near-carriageway:parked", "opened", 360),
      ("traffic:ns-crossroads/near-carriageway:parked", "resolved", 1260)]),
    ("camera-offline-5-min", [health(0, "thpt-road", CameraStatus.FROZEN), 200.0, 301.0,
                              health(500, "thpt-road", CameraStatus.ONLINE)],
     [("camera:thpt-road:offline", "opened", 300), ("camera:thpt-road:offline", "resolved", 500)]),
    ("camera-blip", [health(0, "thpt-road", CameraStatus.OFFLINE), health(60, "thpt-road", CameraStatus.ONLINE),
                     400.0], []),
]
# fmt: on


@pytest.mark.parametrize(("name", "script", "expected"), [c for c in CASES], ids=[c[0] for c in CASES])
def test_camera_side_rules(
    setup: AlertSetup, name: str, script: list[Event | float], expected: list[object]
) -> None:
    assert run(setup, script) == expected


def test_alert_names_the_commune_and_renders_in_both_languages(setup: AlertSetup) -> None:
    proc = AlertProcessor(setup)
    proc.handle(health(0, "ns-parking", CameraStatus.OFFLINE))
    (event,) = proc.tick(T0 + timedelta(minutes=6))
    assert event.area_code == "03172"
    assert i18n.t(event.message_key, "vi", **event.params) == (
        "Camera Bãi đỗ xe UBND xã Na Sang không hoạt động (offline) quá 5 phút"
    )
    assert "not working (offline)" in i18n.t(event.message_key, "en", **event.params)
