"""Two-wheelers as Vietnamese traffic counts them: a motorbike with its riders is one ``motorcycle``.

A COCO detector sees a ridden motorbike as two objects, the ``motorcycle`` and a ``person`` on it, and from
above or behind often only the rider. Operators count vehicles: the rider is part of the vehicle and never a
pedestrian crossing. Three rules, each a pure function over one frame's detections or one track:

1. **Riders merge into their bike** (``merge_riders``). A ``person`` box is a rider of a ``motorcycle`` or
   ``bicycle`` box when at least half of the person's width lies over the bike, the person's top is above the
   bike's top and the person's bottom lies within the bike's height (feet on the foot rests, not on the road
   beside it). Each person joins the bike it overlaps most; a bike takes up to three riders. The rider's box
   is removed and the bike's box grows to hold it, so the ground point stays the wheels'.
2. **Small "cars" are two-wheelers** (``SizePrior``). Small detectors call far motorbikes seen from behind
   ``car`` at 0.3-0.5. A motorbike is 0.7-0.8 m wide, a car 1.7-1.9 m: at the same distance from the camera
   (the same image row, on a road plane) a car is more than twice as wide. Each camera learns, from its own
   confident boxes (>= 0.5), how wide a car and a motorbike are along the image rows (a least-squares line
   of width against the box's bottom row, which perspective makes nearly linear); an unsure ``car`` box
   (< 0.5) whose width is nearer, in ratio, to a motorbike's width at its row than to a car's is relabelled
   ``motorcycle``. Nothing is relabelled before the camera has seen ``MIN_SAMPLES`` confident boxes of each.
   The same prior answers pickups: COCO calls a pickup ``truck`` (and sometimes ``bus``); a ``truck`` or
   ``bus`` box no wider than ``PICKUP_WIDTH`` = 1.2 x a car's width at its row is counted as ``car``, as
   Vietnamese counts put pickups and vans with cars (a lorry is 2.3-2.5 m wide against a car's 1.7-1.9 m;
   the smallest lorries, 1.6-1.8 m, are then counted as cars too).
   The shape of the box is no guide: seen from a pole, a car's box is as tall as a motorbike's (0.8 to 1.6
   times its width, depending on the camera's height).
3. **A rider without a detected bike** (``RiderSpeed``) is judged by speed in body heights per second along
   its
   track: people walk at about 1.4 m/s, 0.8 body heights per second across the picture and less along the
   camera's axis, while a motorbike in town does 15-40 km/h. Measured on the junction clip
   (``docs/ACCURACY.md``), where every ``person`` track is a rider going away from the camera (foreshortened),
   riders moved 0.5-2.0 heights/s over a second, while camera_sim's pedestrians (1.0-1.6 m/s, with box
   jitter) reach about 1.2. A ``person`` track faster than ``RIDER_HEIGHTS_PER_S`` = 1.5 (its move over the
   last second, see ``RiderSpeed``) counts as a ``motorcycle``; a walking pedestrian stays a person, a running
   one (about 2 heights/s) does not, and slow riders are left to rules 1 and 4, which catch most of them.
4. **A track once seen as a two-wheeler stays one** (``analytics.vision.tracking``): a pedestrian is never
   detected as a motorbike, while a rider's bike is missed in many frames, so a track with a quarter or more
   of
   its sightings ``motorcycle`` or ``bicycle`` takes that class even if ``person`` has more votes.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from analytics.vision.types import PERSON, Detections

TWO_WHEELERS = ("motorcycle", "bicycle")
CONFIDENT = 0.5
PICKUP_WIDTH = 1.2
MIN_SAMPLES = 20
RIDER_HEIGHTS_PER_S = 1.5
_MAX_RIDERS = 3


def merge_riders(detections: Detections) -> Detections:
    """Return the detections with each rider's box merged into the bike it rides (module doc, rule 1)."""
    names = detections.class_names
    bikes = [i for i, n in enumerate(names) if n in TWO_WHEELERS]
    people = [i for i, n in enumerate(names) if n == PERSON]
    if not bikes or not people:
        return detections
    xyxy = detections.xyxy.astype(np.float32).copy()
    confidence = detections.confidence.copy()
    riders: dict[int, int] = {}
    load = dict.fromkeys(bikes, 0)
    for p in people:
        px1, py1, px2, py2 = xyxy[p]
        width = max(px2 - px1, 1e-6)
        best, best_share = -1, 0.5
        for b in bikes:
            bx1, by1, bx2, by2 = detections.xyxy[b]
            share = (min(px2, bx2) - max(px1, bx1)) / width
            on_bike = py1 < by1 and by1 < py2 <= by2 + 0.1 * (by2 - by1)
            if on_bike and share >= best_share and load[b] < _MAX_RIDERS:
                best, best_share = b, share
        if best >= 0:
            riders[p] = best
            load[best] += 1
    for p, b in riders.items():
        xyxy[b, :2] = np.minimum(xyxy[b, :2], xyxy[p, :2])
        xyxy[b, 2:] = np.maximum(xyxy[b, 2:], xyxy[p, 2:])
        confidence[b] = max(confidence[b], confidence[p])
    keep = [i for i in range(len(detections)) if i not in riders]
    return Detections(xyxy[keep], tuple(names[i] for i in keep), confidence[keep])


class SizePrior:
    """How wide cars and motorbikes are along one camera's image rows, learnt from its confident boxes."""

    def __init__(self, min_samples: int = MIN_SAMPLES, keep: int = 400) -> None:
        """Relabel only once ``min_samples`` confident boxes of each class were seen; keep the last
        ``keep``."""
        self.min_samples = min_samples
        self._samples: dict[str, deque[tuple[float, float]]] = {
            name: deque(maxlen=keep) for name in ("car", "motorcycle")
        }
        self._fits: dict[str, tuple[float, float] | None] = {}

    def learn(self, detections: Detections) -> None:
        """Remember the bottom row and width of each confident car and motorbike box."""
        for i, name in enumerate(detections.class_names):
            samples = self._samples.get(name)
            if samples is not None and detections.confidence[i] >= CONFIDENT:
                x1, _, x2, y2 = (float(v) for v in detections.xyxy[i])
                samples.append((y2, x2 - x1))
                self._fits.pop(name, None)

    def width(self, name: str, row: float) -> float | None:
        """Return the expected width of a ``name`` box whose bottom is at ``row``, or None before learning."""
        if name not in self._fits:
            samples = self._samples[name]
            fit = None
            if len(samples) >= self.min_samples:
                rows, widths = np.array(samples, np.float64).T
                if np.ptp(rows) > 1.0:
                    slope, intercept = np.polyfit(rows, widths, 1)
                    fit = (float(slope), float(intercept))
                else:
                    fit = (0.0, float(np.median(widths)))
            self._fits[name] = fit
        fit = self._fits[name]
        return None if fit is None else max(1.0, fit[0] * row + fit[1])

    def relabel(self, detections: Detections) -> Detections:
        """Learn from this frame; return it with unsure motorbike-sized cars as motorbikes, car-sized trucks
        as cars."""
        self.learn(detections)
        names = list(detections.class_names)
        for i, name in enumerate(names):
            x1, _, x2, y2 = (float(v) for v in detections.xyxy[i])
            if name in ("truck", "bus"):
                car = self.width("car", y2)
                if car is not None and x2 - x1 <= PICKUP_WIDTH * car:
                    names[i] = "car"
                continue
            if name != "car" or detections.confidence[i] >= CONFIDENT:
                continue
            car, bike = self.width("car", y2), self.width("motorcycle", y2)
            if car is None or bike is None or bike >= car:
                continue
            w = max(x2 - x1, 1.0)
            if abs(math.log(w / bike)) < abs(math.log(w / car)):
                names[i] = "motorcycle"
        if names == list(detections.class_names):
            return detections
        return Detections(detections.xyxy, tuple(names), detections.confidence, detections.track_id)


class RiderSpeed:
    """Tells riders whose bike was not detected from pedestrians by speed (rule 3); one instance per camera.

    Speed is the straight-line move of the track's ground point over the last ``window_s`` seconds (at least
    ``min_span_s``), divided by its median box height: a per-frame figure would add the detector's box jitter
    (a few pixels a frame on a 30 px far pedestrian is itself a body height per second).
    """

    def __init__(
        self,
        heights_per_s: float = RIDER_HEIGHTS_PER_S,
        window_s: float = 1.0,
        min_span_s: float = 0.5,
        memory_s: float = 10.0,
    ) -> None:
        """A ``person`` track faster than ``heights_per_s`` body heights per second counts as a motorcycle."""
        self.heights_per_s = heights_per_s
        self.window_s = window_s
        self.min_span_s = min_span_s
        self.memory_s = memory_s
        self._tracks: dict[int, deque[tuple[float, float, float, float]]] = {}

    def speed(self, track_id: int) -> float | None:
        """Return a track's recent speed in body heights per second, or None while too short."""
        history = self._tracks.get(track_id)
        if not history or history[-1][0] - history[0][0] < self.min_span_s - 1e-9:
            return None
        (t0, x0, y0, _), (t1, x1, y1, _) = history[0], history[-1]
        height = float(np.median([h for *_, h in history]))
        return math.dist((x0, y0), (x1, y1)) / max(height, 1.0) / (t1 - t0)

    def relabel(self, tracks: Detections, at: float) -> Detections:
        """Return tracked detections with fast ``person`` tracks named ``motorcycle``; ``at`` in seconds."""
        if tracks.track_id is None or not len(tracks):
            self._forget(at)
            return tracks
        names = list(tracks.class_names)
        for i, track_id in enumerate(tracks.track_id.tolist()):
            x1, y1, x2, y2 = (float(v) for v in tracks.xyxy[i])
            history = self._tracks.setdefault(track_id, deque())
            history.append((at, (x1 + x2) / 2, y2, y2 - y1))
            while at - history[0][0] > self.window_s + 1e-9:
                history.popleft()
            if names[i] == PERSON:
                speed = self.speed(track_id)
                if speed is not None and speed > self.heights_per_s:
                    names[i] = "motorcycle"
        self._forget(at)
        return Detections(tracks.xyxy, tuple(names), tracks.confidence, tracks.track_id)

    def _forget(self, at: float) -> None:
        for track_id in [t for t, h in self._tracks.items() if not h or at - h[-1][0] > self.memory_s]:
            del self._tracks[track_id]
