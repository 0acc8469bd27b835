"""Where in a frame the detector looks: the whole frame, fixed tiles, or regions around motion.

A small detector sees a frame squeezed into its input (416 x 416 for YOLOX-Nano): a 960 x 540 picture shrinks
to 43 %, and a motorbike 40-60 px tall becomes 17-26 px, near the smallest objects such a model finds. Running
the
detector on parts of the frame at (near) native resolution makes the same motorbike 30-60 px in the model's
input. Frigate does this with regions around motion; this module offers that and a fixed tiling:

=========  ===================================================================================================
mode       what the detector sees in each analysed frame
=========  ===================================================================================================
full       the whole frame, once (cheapest: one inference)
tiles      the whole frame, plus a fixed grid of overlapping tiles of about ``tile_scale`` x the model input
           (1.25 x 416 = 520 px) over ``tile_area`` (default the whole frame): a 960 x 540 frame is 2 tiles,
           so 3 inferences; a 1280 x 720 frame is 6 tiles, so restrict ``tile_area`` to the far part of the
           road
motion     square regions of at least the model input around what moved since the previous analysed frame (at
           most ``max_regions``; beyond that, their bounding box), plus the whole frame every ``full_every_s``
           so still or slow objects keep their tracks
=========  ===================================================================================================

Merging (``merge``): boxes from every part are put back into frame coordinates, then class-aware NMS (IoU
0.45); a same-class box lying mostly inside a larger one (a nested duplicate) gives way to the larger box; a
box cut by a region's inner edge (touching an edge of its crop that is not an edge of the frame) gives way to
any box, of any class, that holds most of it (on a tile edge a pickup is seen half, as a "car", inside the
whole "truck"); and two boxes of different classes on the same object (IoU >= 0.7) keep the more confident
one, so one motorbike is never two objects to the tracker.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from analytics.vision.types import Detections, Detector, Frame
from ioc.config.models import Camera

logger = logging.getLogger(__name__)

RegionMode = Literal["full", "tiles", "motion"]
REGION_MODES: tuple[RegionMode, ...] = ("full", "tiles", "motion")
NMS_IOU = 0.45
NESTED_SHARE = 0.7  # this share of the smaller box inside the larger, same class: one object
CROSS_CLASS_IOU = 0.7
_MOTION_WIDTH = 320  # motion is found on a copy this wide: cheap, and enough for 20 px objects at 960


@dataclass(frozen=True)
class Region:
    """A rectangle of the frame in pixels: top-left corner and size."""

    x: int
    y: int
    w: int
    h: int

    def crop(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """Return the part of ``image`` inside the region (a view, no copy)."""
        return image[self.y : self.y + self.h, self.x : self.x + self.w]


def _spans(length: int, start: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """Cover [start, start + length) with windows of ``size`` overlapping by at least ``overlap``."""
    if length <= size * 1.1:  # one window, stretched a little, beats two nearly identical ones
        return [(start, length)]
    n = math.ceil((length - overlap) / (size - overlap))
    step = (length - size) / (n - 1)
    return [(start + round(i * step), size) for i in range(n)]


def tile_regions(
    width: int, height: int, side: int, area: Region | None = None, overlap: float = 0.15
) -> list[Region]:
    """Return overlapping tiles of about ``side`` px covering ``area`` (default the whole frame)."""
    if side < 16:
        raise ValueError(f"tiles must be at least 16 px, got {side}")
    box = area or Region(0, 0, width, height)
    x0, y0 = max(0, box.x), max(0, box.y)
    w, h = min(width, box.x + box.w) - x0, min(height, box.y + box.h) - y0
    if w <= 0 or h <= 0:
        raise ValueError(f"tile area {box} lies outside the {width}x{height} frame")
    ov = round(side * overlap)
    return [Region(x, y, tw, th) for y, th in _spans(h, y0, side, ov) for x, tw in _spans(w, x0, side, ov)]


class MotionRegions:
    """Square regions around what moved between two analysed frames; one verb: :meth:`update`."""

    def __init__(self, side: int, max_regions: int = 4, threshold: int = 25) -> None:
        """Regions are at least ``side`` px; more than ``max_regions`` become their bounding box."""
        self.side = side
        self.max_regions = max_regions
        self.threshold = threshold
        self._previous: npt.NDArray[np.uint8] | None = None

    def update(self, image: npt.NDArray[np.uint8]) -> list[Region]:
        """Return the regions that moved since the previous image (none for the first one)."""
        height, width = image.shape[:2]
        scale = min(1.0, _MOTION_WIDTH / width)
        small = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))))
        gray = np.asarray(cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0), np.uint8)
        previous, self._previous = self._previous, gray
        if previous is None or previous.shape != gray.shape:
            return []
        moved = cv2.threshold(cv2.absdiff(gray, previous), self.threshold, 255, cv2.THRESH_BINARY)[1]
        moved = cv2.dilate(moved, np.ones((5, 5), np.uint8), iterations=2)
        count, _, stats, _ = cv2.connectedComponentsWithStats(moved)
        boxes = [
            (x / scale, y / scale, (x + w) / scale, (y + h) / scale)
            for x, y, w, h, area in stats[1:count]
            if area >= 4  # a few pixels of sensor noise are not an object
        ]
        return self._regions(boxes, width, height)

    def _regions(
        self, boxes: list[tuple[float, float, float, float]], width: int, height: int
    ) -> list[Region]:
        """Grow each box into a square of at least ``side``, merging squares whose union still fits."""
        squares: list[list[float]] = []
        for x1, y1, x2, y2 in sorted(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True):
            merged = False
            for sq in squares:
                ux1, uy1, ux2, uy2 = min(sq[0], x1), min(sq[1], y1), max(sq[2], x2), max(sq[3], y2)
                if max(ux2 - ux1, uy2 - uy1) <= max(self.side, sq[2] - sq[0], sq[3] - sq[1]):
                    sq[:] = [ux1, uy1, ux2, uy2]
                    merged = True
                    break
            if not merged:
                squares.append([x1, y1, x2, y2])
        if len(squares) > self.max_regions:
            squares = [
                [
                    min(s[0] for s in squares),
                    min(s[1] for s in squares),
                    max(s[2] for s in squares),
                    max(s[3] for s in squares),
                ]
            ]
        return [_square(sq, self.side, width, height) for sq in squares]


def _square(box: Sequence[float], side: int, width: int, height: int) -> Region:
    """Return a region of at least ``side`` (and square where the frame allows) centred on ``box``."""
    x1, y1, x2, y2 = box
    s = max(side, x2 - x1, y2 - y1) * 1.1  # a margin, so an object at the edge of the motion is whole
    w, h = min(width, round(s)), min(height, round(s))
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    x = int(min(max(0, round(cx - w / 2)), width - w))
    y = int(min(max(0, round(cy - h / 2)), height - h))
    return Region(x, y, w, h)


def shift(detections: Detections, region: Region) -> Detections:
    """Return detections found in a region's crop in whole-frame pixels."""
    if not len(detections) or (region.x == 0 and region.y == 0):
        return detections
    offset = np.array([region.x, region.y, region.x, region.y], np.float32)
    return Detections(detections.xyxy + offset, detections.class_names, detections.confidence)


def concat(parts: Sequence[Detections]) -> Detections:
    """Return all detections of several parts as one set."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return Detections.empty()
    return Detections(
        np.concatenate([p.xyxy for p in parts]).astype(np.float32),
        tuple(n for p in parts for n in p.class_names),
        np.concatenate([p.confidence for p in parts]).astype(np.float32),
    )


def cut_by(
    detections: Detections, region: Region, width: int, height: int, margin: float = 2.0
) -> np.ndarray:
    """Return, per box found in a region's crop (crop pixels), whether it touches an edge inside the frame."""
    if not len(detections):
        return np.zeros((0,), np.bool_)
    x1, y1, x2, y2 = detections.xyxy.T
    cut = np.zeros(len(detections), np.bool_)
    if region.x > 0:
        cut |= x1 <= margin
    if region.y > 0:
        cut |= y1 <= margin
    if region.x + region.w < width:
        cut |= x2 >= region.w - margin
    if region.y + region.h < height:
        cut |= y2 >= region.h - margin
    return cut


def merge(parts: Sequence[Detections], cut: Sequence[np.ndarray] | None = None) -> Detections:
    """Merge the detections of overlapping parts of one frame into one box per object (module docstring).

    ``cut``: per part, which boxes touch an inner edge of their region (``cut_by``).
    """
    found = concat(parts)
    n = len(found)
    was_cut = (
        np.concatenate([c for p, c in zip(parts, cut, strict=True) if len(p)])
        if cut is not None and n
        else np.zeros(n, np.bool_)
    )
    if n < 2:
        return found
    xyxy = found.xyxy.astype(np.float64)
    xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    classes = {name: i for i, name in enumerate(sorted(set(found.class_names)))}
    class_ids = [classes[name] for name in found.class_names]
    kept = cv2.dnn.NMSBoxesBatched(xywh.tolist(), found.confidence.tolist(), class_ids, 0.0, NMS_IOU)
    order = [int(i) for i in np.asarray(kept).reshape(-1)]
    area = (xyxy[:, 2] - xyxy[:, 0]).clip(0) * (xyxy[:, 3] - xyxy[:, 1]).clip(0)
    # Largest first for the nesting rule (the whole object wins over its part), then by confidence.
    order.sort(key=lambda i: (-area[i], -float(found.confidence[i])))
    result: list[int] = []
    for i in order:
        absorbed = False
        for j in result:
            w = min(xyxy[i, 2], xyxy[j, 2]) - max(xyxy[i, 0], xyxy[j, 0])
            h = min(xyxy[i, 3], xyxy[j, 3]) - max(xyxy[i, 1], xyxy[j, 1])
            inter = max(0.0, w) * max(0.0, h)
            if was_cut[i] and inter > NESTED_SHARE * area[i]:
                absorbed = True
            elif found.class_names[i] == found.class_names[j]:
                absorbed = inter > NESTED_SHARE * min(area[i], area[j])
            else:
                union = area[i] + area[j] - inter
                if (
                    union > 0
                    and inter / union >= CROSS_CLASS_IOU
                    and found.confidence[j] >= found.confidence[i]
                ):
                    absorbed = True
                elif union > 0 and inter / union >= CROSS_CLASS_IOU:
                    result[result.index(j)] = i  # the more confident label takes the object
                    absorbed = True
            if absorbed:
                break
        if not absorbed:
            result.append(i)
    keep = sorted(set(result))
    return Detections(found.xyxy[keep], tuple(found.class_names[i] for i in keep), found.confidence[keep])


@dataclass(frozen=True)
class RegionSettings:
    """How a camera's frames are cut up for the detector (see the module docstring)."""

    mode: RegionMode = "full"
    model_input: int = 416
    tile_scale: float = 1.25
    tile_area: Region | None = None
    full_every_s: float = 1.0
    max_regions: int = 4


def settings_for(camera: Camera, model_input: int = 416) -> RegionSettings:
    """Return the region settings of a camera's ``detect`` config."""
    detect = camera.detect
    area = None
    if detect.tile_area is not None:
        (x1, y1), (x2, y2) = detect.tile_area
        area = Region(int(x1), int(y1), int(x2 - x1), int(y2 - y1))
    return RegionSettings(
        mode=detect.regions,
        model_input=model_input,
        tile_scale=detect.tile_scale,
        tile_area=area,
        full_every_s=detect.full_every_s,
        max_regions=detect.max_regions,
    )


class RegionDetector:
    """Runs a detector on the parts of each frame its settings choose and merges what they find."""

    def __init__(self, detector: Detector, settings: RegionSettings) -> None:
        """Wrap ``detector``; it is called once per part, with the part as the frame's image."""
        if settings.mode not in REGION_MODES:
            raise ValueError(f"regions must be one of {', '.join(REGION_MODES)}, got {settings.mode!r}")
        self.detector = detector
        self.settings = settings
        self.name = getattr(detector, "name", "detector")
        self._tiles: dict[tuple[int, int], list[Region]] = {}
        side = round(settings.model_input * settings.tile_scale)
        self._side = side
        self._motion = MotionRegions(side, settings.max_regions) if settings.mode == "motion" else None
        self._last_full: float | None = None
        self.inferences = 0

    def regions(self, frame: Frame) -> list[Region]:
        """Return the parts of this frame the detector looks at (the whole frame is Region(0, 0, w, h))."""
        height, width = frame.image.shape[:2]
        whole = Region(0, 0, width, height)
        mode = self.settings.mode
        if mode == "full":
            return [whole]
        if mode == "tiles":
            key = (width, height)
            if key not in self._tiles:
                tiles = tile_regions(width, height, self._side, self.settings.tile_area)
                self._tiles[key] = [t for t in tiles if t != whole]
            return [whole, *self._tiles[key]]
        assert self._motion is not None
        moved = self._motion.update(frame.image)
        now = frame.at.timestamp()
        full_due = self._last_full is None or now - self._last_full >= self.settings.full_every_s - 1e-6
        if full_due:
            self._last_full = now
        covers_all = any(r.w >= width and r.h >= height for r in moved)
        return [whole, *moved] if full_due and not covers_all else moved or []

    def detect(self, frame: Frame) -> Detections:
        """Return the objects found in the chosen parts of one frame, in frame pixels, merged."""
        height, width = frame.image.shape[:2]
        parts, cut = [], []
        for region in self.regions(frame):
            crop = region.crop(frame.image)
            found = self.detector.detect(Frame(frame.camera_id, frame.index, frame.at, crop))
            self.inferences += 1
            cut.append(cut_by(found, region, width, height))
            parts.append(shift(found, region))
        return merge(parts, cut) if len(parts) > 1 else (parts[0] if parts else Detections.empty())
