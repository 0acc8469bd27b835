"""The ByteTrack adapter on synthetic detections: stable ids on smooth motion, majority class, misses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from analytics.vision.tracking import Tracker
from analytics.vision.types import Detections

T0 = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)


def boxes(
    centres: list[tuple[float, float]], names: list[str], size: tuple[float, float] = (40, 30)
) -> Detections:
    """Detections with boxes of ``size`` (w, h) centred on the given points."""
    w, h = size
    xyxy = np.array([[x - w / 2, y - h / 2, x + w / 2, y + h / 2] for x, y in centres], np.float32).reshape(
        -1, 4
    )
    return Detections(xyxy, tuple(names), np.full(len(names), 0.9, np.float32))


def ids_by_object(tracks: Detections, centres: list[tuple[float, float]]) -> dict[int, int]:
    """Map each object (index in ``centres``) to the track id whose box centre matches it."""
    assert tracks.track_id is not None
    got = (tracks.xyxy[:, :2] + tracks.xyxy[:, 2:]) / 2
    out = {}
    for i, c in enumerate(centres):
        j = int(np.argmin(np.linalg.norm(got - np.array(c), axis=1)))
        assert np.linalg.norm(got[j] - np.array(c)) < 1e-3
        out[i] = int(tracks.track_id[j])
    return out


@pytest.mark.parametrize("fps", [2.0, 5.0, 10.0])
def test_ids_stay_the_same_for_objects_moving_smoothly(fps: float) -> None:
    tracker = Tracker(fps=fps)
    rng = np.random.default_rng(0)
    n = 12
    start = np.stack([rng.uniform(50, 1200, n), np.linspace(40, 680, n)], axis=1)  # one lane per object
    velocity = np.stack([rng.uniform(-60, 60, n), np.zeros(n)], axis=1)  # px/s, up to a car's speed on screen
    names = ["car", "motorcycle", "bus", "truck"] * 3
    seen: dict[int, set[int]] = {}
    frames = int(fps * 8)
    for k in range(frames):
        centres = [tuple(p) for p in (start + velocity * k / fps).tolist()]
        tracks = tracker.update(boxes(centres, names), T0 + timedelta(seconds=k / fps))  # type: ignore[arg-type]
        if k == 0:
            assert len(tracks) == 0  # a track needs two sightings before it gets an id
            continue
        assert len(tracks) == n
        for obj, track_id in ids_by_object(tracks, centres).items():  # type: ignore[arg-type]
            seen.setdefault(obj, set()).add(track_id)
    assert all(len(ids) == 1 for ids in seen.values()), seen
    assert len({next(iter(ids)) for ids in seen.values()}) == n  # and distinct


def test_majority_class_survives_flicker() -> None:
    tracker = Tracker(fps=5)
    flicker = ["car", "car", "truck", "car", "truck", "car", "car", "bus", "car", "truck", "car", "car"]
    reported = []
    for k, name in enumerate(flicker):
        tracks = tracker.update(boxes([(100 + 5 * k, 200)], [name]), T0 + timedelta(seconds=k / 5))
        reported.extend(tracks.class_names)
    assert reported[-1] == "car"
    assert set(reported) == {"car"}  # the first voted sighting was a car, and car stays ahead
    track_id = int(tracks.track_id[0])  # type: ignore[index]
    assert tracker.class_of(track_id) == "car"


def test_majority_follows_a_consistent_change_of_mind() -> None:
    tracker = Tracker(fps=5)
    names = ["bicycle"] * 3 + ["motorcycle"] * 10  # a far-away motorbike first looked like a bicycle
    for k, name in enumerate(names):
        tracks = tracker.update(boxes([(100 + 5 * k, 200)], [name]), T0 + timedelta(seconds=k / 5))
    assert tracks.class_names == ("motorcycle",)


def test_short_misses_keep_the_id_and_long_ones_end_it() -> None:
    tracker = Tracker(fps=5, lost_track_s=1.0)
    ids = []
    for k in range(20):
        if 6 <= k < 9:  # missed for 0.6 s, within the 1 s buffer
            tracker.update(Detections.empty(), T0 + timedelta(seconds=k / 5))
            continue
        tracks = tracker.update(boxes([(100 + 4 * k, 200)], ["car"]), T0 + timedelta(seconds=k / 5))
        ids.extend(int(i) for i in tracks.track_id)  # type: ignore[union-attr]
    assert len(set(ids)) == 1
    for k in range(20, 30):  # gone for 2 s
        tracker.update(Detections.empty(), T0 + timedelta(seconds=k / 5))
    assert tracker.class_of(ids[0]) is None
    again = [
        tracker.update(boxes([(180, 200)], ["car"]), T0 + timedelta(seconds=(30 + k) / 5)) for k in range(2)
    ]
    assert again[-1].track_id is not None and int(again[-1].track_id[0]) != ids[0]


def test_tracks_carry_the_detection_they_came_from() -> None:
    tracker = Tracker(fps=5)
    tracker.update(boxes([(100, 100), (300, 300)], ["car", "person"]), T0)
    tracks = tracker.update(boxes([(300, 302), (102, 100)], ["person", "car"]), T0 + timedelta(seconds=0.2))
    by_name = dict(zip(tracks.class_names, tracks.xyxy.tolist(), strict=True))
    assert by_name["person"] == pytest.approx([280, 287, 320, 317])
    assert by_name["car"] == pytest.approx([82, 85, 122, 115])


def test_low_confidence_boxes_only_extend_tracks() -> None:
    tracker = Tracker(fps=5, activation_confidence=0.5)
    faint = Detections(np.array([[0, 0, 20, 20]], np.float32), ("car",), np.array([0.2], np.float32))
    for k in range(5):
        assert len(tracker.update(faint, T0 + timedelta(seconds=k / 5))) == 0


@pytest.mark.parametrize(("fps", "lost"), [(0.0, 1.0), (-1.0, 1.0), (5.0, -1.0)])
def test_bad_settings_are_refused(fps: float, lost: float) -> None:
    with pytest.raises(ValueError):
        Tracker(fps=fps, lost_track_s=lost)
