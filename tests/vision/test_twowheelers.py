"""Two-wheelers as operators count them: riders merge into bikes, size priors, rider speed, track votes."""

from __future__ import annotations

from collections import Counter

import numpy as np

from analytics.vision.tracking import majority
from analytics.vision.twowheelers import RiderSpeed, SizePrior, merge_riders
from analytics.vision.types import Detections


def dets(*rows: tuple[float, float, float, float, str, float], ids: list[int] | None = None) -> Detections:
    return Detections(
        np.array([r[:4] for r in rows], np.float32).reshape(-1, 4),
        tuple(r[4] for r in rows),
        np.array([r[5] for r in rows], np.float32),
        None if ids is None else np.array(ids, np.int64),
    )


def test_a_rider_merges_into_the_bike_and_the_ground_point_stays_the_wheels() -> None:
    """As seen on the junction clip: person 280-340 x 210-305 on motorcycle 278-342 x 248-331."""
    found = merge_riders(dets((280, 210, 340, 305, "person", 0.74), (278, 248, 342, 331, "motorcycle", 0.69)))
    assert found.class_names == ("motorcycle",)
    np.testing.assert_allclose(found.xyxy, [[278, 210, 342, 331]])
    assert float(found.confidence[0]) == np.float32(0.74)


def test_a_pedestrian_beside_a_bike_or_standing_on_the_road_is_not_a_rider() -> None:
    found = merge_riders(
        dets(
            (200, 100, 230, 200, "person", 0.9),  # beside the bike, feet on the road below it
            (235, 150, 280, 195, "motorcycle", 0.8),
            (400, 100, 430, 200, "person", 0.9),  # far away
        )
    )
    assert found.class_names.count("person") == 2
    # A person whose feet are below the bike (walking behind it) is not on it.
    behind = merge_riders(dets((240, 120, 275, 230, "person", 0.9), (235, 150, 280, 195, "motorcycle", 0.8)))
    assert behind.class_names.count("person") == 1


def test_a_bike_takes_its_pillion_too_and_each_person_one_bike() -> None:
    found = merge_riders(
        dets(
            (100, 50, 140, 130, "person", 0.9),
            (105, 60, 145, 135, "person", 0.8),
            (98, 100, 150, 160, "motorcycle", 0.7),
            (300, 50, 340, 130, "person", 0.9),
            (298, 100, 350, 160, "bicycle", 0.6),
        )
    )
    assert sorted(found.class_names) == ["bicycle", "motorcycle"]


def learn(prior: SizePrior, row: float, car_w: float, bike_w: float, n: int = 25) -> None:
    for _ in range(n):
        prior.learn(
            dets((0, row - 80, car_w, row, "car", 0.8), (500, row - 70, 500 + bike_w, row, "motorcycle", 0.8))
        )


def test_size_prior_relabels_unsure_motorbike_sized_cars_and_car_sized_trucks() -> None:
    prior = SizePrior()
    learn(prior, 200, 60, 24)
    learn(prior, 400, 120, 48)
    assert abs((prior.width("car", 300) or 0) - 90) < 1
    frame = dets(
        (0, 220, 34, 300, "car", 0.35),  # 34 px at row 300: a motorbike's width (36), not a car's (90)
        (100, 220, 185, 300, "car", 0.35),  # car-sized: stays
        (200, 220, 234, 300, "car", 0.9),  # confident: stays, whatever its size
        (300, 200, 400, 300, "truck", 0.6),  # a pickup: 100 px <= 1.2 x 90
        (400, 150, 540, 300, "truck", 0.6),  # a lorry: 140 px
    )
    assert prior.relabel(frame).class_names == ("motorcycle", "car", "car", "car", "truck")


def test_size_prior_changes_nothing_before_it_has_learnt() -> None:
    prior = SizePrior()
    frame = dets((0, 220, 34, 300, "car", 0.35), (300, 200, 400, 300, "truck", 0.6))
    assert prior.relabel(frame).class_names == ("car", "truck")


def test_fast_person_tracks_are_riders_and_walkers_stay_pedestrians() -> None:
    riders = RiderSpeed()
    out = None
    for step in range(6):  # 5 fps; the rider's box is 70 px tall and moves 25 px a frame (1.8 heights/s)
        t = step * 0.2
        out = riders.relabel(
            dets(
                (100, 300 - 25 * step - 70, 130, 300 - 25 * step, "person", 0.8),
                (400 + 2 * step, 200, 430 + 2 * step, 370, "person", 0.8),  # 170 px tall, 10 px/s: walking
                ids=[1, 2],
            ),
            t,
        )
    assert out is not None and out.class_names == ("motorcycle", "person")


def test_a_track_seen_as_a_bike_a_quarter_of_the_time_is_a_bike() -> None:
    assert majority(Counter({"person": 6, "motorcycle": 2})) == "motorcycle"
    assert majority(Counter({"person": 7, "motorcycle": 1})) == "person"
    assert majority(Counter({"car": 3, "truck": 2})) == "car"
    assert majority(Counter({"person": 4, "bicycle": 2})) == "bicycle"
