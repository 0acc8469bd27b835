"""The project's own vision types. Detector outputs, tracker outputs and simulator truth are converted into these
where they enter (a model's raw tensor or a library's detections never travel further inward).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

# The classes the platform counts, in COCO naming; detectors map their own labels onto these.
VEHICLE_CLASSES: tuple[str, ...] = ("car", "motorcycle", "bus", "truck", "bicycle")
PERSON = "person"
COUNTED_CLASSES: tuple[str, ...] = (PERSON, *VEHICLE_CLASSES)
# One colour per class wherever boxes are drawn (the wall's snapshots, `ioc vision count --annotate`), BGR.
CLASS_COLOURS: dict[str, tuple[int, int, int]] = {
    "person": (75, 201, 242),
    "car": (232, 155, 76),
    "motorcycle": (109, 179, 47),
    "bus": (61, 145, 242),
    "truck": (61, 145, 242),
    "bicycle": (250, 139, 167),
}
OTHER_COLOUR = (235, 233, 229)


@dataclass(frozen=True)
class Detections:
    """N boxes in image pixels (x1, y1, x2, y2) with class name, confidence and, after tracking, a track id."""

    xyxy: npt.NDArray[np.float32]
    class_names: tuple[str, ...]
    confidence: npt.NDArray[np.float32]
    track_id: npt.NDArray[np.int64] | None = None

    def __post_init__(self) -> None:
        n = len(self.class_names)
        if self.xyxy.shape != (n, 4) or self.confidence.shape != (n,):
            raise ValueError(
                f"inconsistent detections: {self.xyxy.shape} boxes, {n} names, {self.confidence.shape}"
            )
        if self.track_id is not None and self.track_id.shape != (n,):
            raise ValueError("track_id must have one id per box")

    def __len__(self) -> int:
        return len(self.class_names)

    @classmethod
    def empty(cls) -> Detections:
        """Return no detections."""
        return cls(np.zeros((0, 4), np.float32), (), np.zeros((0,), np.float32))

    def anchors(self) -> npt.NDArray[np.float32]:
        """Return the bottom-centre point of each box (where an object touches the ground)."""
        return (
            np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, self.xyxy[:, 3]], axis=1)
            if len(self)
            else np.zeros((0, 2), np.float32)
        )


@dataclass(frozen=True)
class Frame:
    """One decoded frame of one camera."""

    camera_id: str
    index: int
    at: datetime
    image: npt.NDArray[np.uint8] = field(repr=False)


class Detector(Protocol):
    """Finds objects in a BGR image; every backend (onnx, ultralytics, motion, groundtruth) has this shape."""

    name: str

    def detect(self, frame: Frame) -> Detections:
        """Return the objects found in one frame."""
