"""Per-camera analytics from config to events, on synthetic detections (no images)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from analytics.vision.congestion import CongestionLevel
from analytics.vision.pipeline import CameraAnalytics
from analytics.vision.types import Detections
from ioc import events
from ioc.config.models import Camera
from ioc.events import Direction, stable_id

T0 = datetime(2025, 7, 1, 1, 0, tzinfo=UTC)
FPS = 5.0


def camera() -> Camera:
    return Camera.model_validate(
        {
            "id": "ns-crossroads",
            "name": "Ngã tư trung tâm Na Sang",
            "area_code": "03172",
            "lon": 103.08484,
            "lat": 21.75908,
            "source": "file:clip.mp4",
            "sample_fps": FPS,
            "frame_size": {"width": 640, "height": 480},
            "lines": [{"id": "northbound", "points": [[20, 240], [620, 240]], "in_side": "left"}],
            "zones": [
                {
                    "id": "junction",
                    "polygon": [[0, 0], [640, 0], [640, 200], [0, 200]],
                    "thresholds": {"max_count": 10},
                },
                {
                    "id": "square",
                    "polygon": [[0, 300], [640, 300], [640, 480], [0, 480]],
                    "area_m2": 40,
                    "classes": ["person"],
                },
            ],
        }
    )


def scene(frames: int) -> list[Detections]:
    """Two cars and a truck going up the picture (in), a motorbike going down (out), two people standing."""
    movers = [  # (class, x, y at frame 0, px per frame, half width): a lorry is wider than a car, a bike narrower
        ("car", 100.0, 420.0, -20.0, 25.0),
        ("car", 250.0, 460.0, -20.0, 25.0),
        ("truck", 400.0, 440.0, -16.0, 36.0),
        ("motorcycle", 550.0, 60.0, 24.0, 12.0),
    ]
    out = []
    for k in range(frames):
        xyxy, names = [], []
        for name, x, y0, v, half in movers:
            y = y0 + v * k
            if 0 <= y <= 480:
                xyxy.append([x - half, y - 40, x + half, y])
                names.append(name)
        for x in (100.0, 300.0):
            xyxy.append([x - 10, 360, x + 10, 420])
            names.append("person")
        out.append(Detections(np.array(xyxy, np.float32), tuple(names), np.full(len(names), 0.9, np.float32)))
    return out


def run(analytics: CameraAnalytics, frames: list[Detections]) -> None:
    for k, dets in enumerate(frames):
        analytics.process(T0 + timedelta(seconds=k / FPS), dets)


def test_counts_each_direction_and_emits_events_with_stable_ids() -> None:
    analytics = CameraAnalytics(camera())
    run(analytics, scene(25))
    end = T0 + timedelta(seconds=5)
    out = analytics.flush(end)

    summaries = [e for e in out if isinstance(e, events.DetectionSummary)]
    crossings = [e for e in out if isinstance(e, events.LineCrossing)]
    zones = {e.zone_id: e for e in out if isinstance(e, events.ZoneOccupancy)}

    assert len(summaries) == 1
    summary = summaries[0]
    assert (summary.window_start, summary.window_end, summary.frames_analysed) == (T0, end, 25)
    assert summary.counts == {"car": 2, "truck": 1, "motorcycle": 1, "person": 2}  # objects, not boxes

    got = sorted((c.object_class, c.direction) for c in crossings)
    assert got == [
        ("car", Direction.IN), ("car", Direction.IN), ("motorcycle", Direction.OUT), ("truck", Direction.IN),
    ]  # fmt: skip
    for c in crossings:
        assert c.camera_id == "ns-crossroads" and c.line_id == "northbound"
        assert c.event_id == stable_id("ns-crossroads", "northbound", c.track_id, c.crossed_at)
    assert len({c.event_id for c in crossings}) == 4

    assert zones["square"].counts == {"person": 2}
    assert zones["square"].density_per_m2 == 2 / 40
    assert zones["square"].max_dwell_s is not None and zones["square"].max_dwell_s > 4
    assert zones["junction"].density_per_m2 is None
    for e in out:
        assert events.decode(e.to_bytes()) == e


def test_replaying_the_same_frames_gives_the_same_event_ids() -> None:
    first, second = CameraAnalytics(camera()), CameraAnalytics(camera())
    run(first, scene(25))
    run(second, scene(25))
    end = T0 + timedelta(seconds=5)
    assert [e.event_id for e in first.flush(end)] == [e.event_id for e in second.flush(end)]


def test_windows_follow_each_other() -> None:
    analytics = CameraAnalytics(camera())
    frames = scene(30)
    run(analytics, frames[:10])
    first = analytics.flush(T0 + timedelta(seconds=2))
    for k in range(10, 30):
        analytics.process(T0 + timedelta(seconds=k / FPS), frames[k])
    second = analytics.flush(T0 + timedelta(seconds=6))
    s1, s2 = first[0], second[0]
    assert isinstance(s1, events.DetectionSummary) and isinstance(s2, events.DetectionSummary)
    assert s2.window_start == s1.window_end == T0 + timedelta(seconds=2)
    assert (s1.frames_analysed, s2.frames_analysed) == (10, 20)
    crossings = [e for e in first + second if isinstance(e, events.LineCrossing)]
    assert len(crossings) == 4  # each crossing reported once, in the window it happened
    empty = analytics.flush(T0 + timedelta(seconds=7))
    assert [type(e) for e in empty] == [events.DetectionSummary]
    assert isinstance(empty[0], events.DetectionSummary) and empty[0].frames_analysed == 0


def test_frame_result_has_tracks_zones_and_congestion() -> None:
    analytics = CameraAnalytics(camera())
    results = [analytics.process(T0 + timedelta(seconds=k / FPS), d) for k, d in enumerate(scene(25))]
    last = results[-1]
    assert last.camera_id == "ns-crossroads" and last.tracks.track_id is not None
    assert set(last.zones) == {"junction", "square"}
    assert last.congestion["junction"] is CongestionLevel.FREE
    assert "square" not in last.congestion  # a person-only zone has no traffic congestion
    assert sum(len(r.crossings) for r in results) == 4


def test_lines_and_zones_are_built_from_config() -> None:
    analytics = CameraAnalytics(camera(), fps=2.0)
    assert analytics.fps == 2.0 and analytics.tracker.fps == 2.0
    (line,) = analytics.lines
    assert (line.line_id, line.p0, line.p1, line.in_side) == ("northbound", (20, 240), (620, 240), "left")
    assert line.band_px == 0.012 * 800  # 1.2 % of the 640x480 diagonal
    assert [z.zone_id for z in analytics.zones] == ["junction", "square"]
    assert analytics.zones[1].area_m2 == 40 and analytics.zones[1].classes == {"person"}
