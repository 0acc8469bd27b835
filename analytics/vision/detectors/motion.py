"""Motion boxes without any model: MOG2 background subtraction, morphology, contours.

Every box has the class name ``"motion"``: this detector says *something moved here*, not what it is, so it
feeds zone occupancy and activity alerts, not per-class counts. Its confidence is the share of the box that is
foreground. It is meant for cameras with no model yet and for servers too busy for one: a frame costs about a
couple of milliseconds at the default 320-pixel working width.

The detector keeps one background model per camera id, so one instance may serve several cameras. The first
``warmup_frames`` of each camera return nothing while the background is learnt; shadows (MOG2's grey 127) are
not motion.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from analytics.vision.types import Detections, Frame
from ioc.errors import InvalidInput

logger = logging.getLogger(__name__)

MOTION = "motion"
FOREGROUND = 200  # MOG2 marks foreground 255 and shadows 127; keep only the former


@dataclass(frozen=True)
class MotionSettings:
    """Tuning of the motion detector; areas are in pixels of the original frame."""

    min_area: float = 400.0
    work_width: int = 320
    history: int = 300
    var_threshold: float = 25.0
    warmup_frames: int = 2
    kernel: int = 3


class MotionDetector:
    """Boxes around regions that differ from a learnt background, class ``"motion"``."""

    name = "motion"

    def __init__(self, settings: MotionSettings = MotionSettings()) -> None:
        self.settings = settings
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (settings.kernel, settings.kernel))
        self._models: dict[str, tuple[cv2.BackgroundSubtractorMOG2, int]] = {}

    def detect(self, frame: Frame) -> Detections:
        """Return one box per moving region of at least ``min_area`` pixels."""
        image = frame.image
        if image.ndim not in (2, 3):
            raise InvalidInput(
                "bad_frame", f"camera {frame.camera_id}: expected an image, got shape {image.shape}"
            )
        height, width = image.shape[:2]
        scale = min(1.0, self.settings.work_width / width)
        small = np.asarray(
            cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA),
            np.uint8,
        )
        mask = self._foreground(frame.camera_id, small)
        if mask is None:
            return Detections.empty()
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        boxes: list[tuple[float, float, float, float]] = []
        scores: list[float] = []
        min_area_small = self.settings.min_area * scale * scale
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            if w * h < min_area_small:
                continue
            boxes.append((x / scale, y / scale, min((x + w) / scale, width), min((y + h) / scale, height)))
            scores.append(float(np.count_nonzero(mask[y : y + h, x : x + w])) / (w * h))
        if not boxes:
            return Detections.empty()
        xyxy: npt.NDArray[np.float32] = np.array(boxes, np.float32)
        return Detections(xyxy, (MOTION,) * len(boxes), np.array(scores, np.float32))

    def _foreground(self, camera_id: str, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8] | None:
        model, seen = self._models.get(camera_id) or (self._new_model(), 0)
        raw = model.apply(image)
        self._models[camera_id] = (model, seen + 1)
        if seen < self.settings.warmup_frames:
            return None
        _, mask = cv2.threshold(raw, FOREGROUND, 255, cv2.THRESH_BINARY)
        # Opening removes sensor noise and leaf flicker; closing joins the parts of one moving body.
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._kernel)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._kernel, iterations=2)
        return np.asarray(mask, np.uint8)

    def _new_model(self) -> cv2.BackgroundSubtractorMOG2:
        return cv2.createBackgroundSubtractorMOG2(
            history=self.settings.history, varThreshold=self.settings.var_threshold, detectShadows=True
        )
