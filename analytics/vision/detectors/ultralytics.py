"""Ultralytics YOLO (``.pt`` or ``.onnx``) through the ``ultralytics`` package, an optional extra.

``ultralytics`` pulls torch (several GB), so it is imported only when this backend is built; the registry
checks for it first and says how to install it. Results are turned into ``Detections`` right here, at the
edge.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analytics.vision.detectors.coco import canonical
from analytics.vision.types import COUNTED_CLASSES, Detections, Frame
from ioc.errors import InvalidInput, ServiceError

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'ioc[ultralytics]'"


class UltralyticsDetector:
    """A YOLO model run by the ultralytics package on the CPU."""

    name = "ultralytics"

    def __init__(
        self, model_path: str | Path, confidence: float = 0.4, classes: Sequence[str] = COUNTED_CLASSES
    ) -> None:
        self.model_path = Path(model_path)
        self.confidence = confidence
        if self.model_path.suffix not in (".pt", ".onnx"):
            raise InvalidInput(
                "model_layout", f"{self.model_path}: the ultralytics detector reads .pt or .onnx"
            )
        # A bare name such as "yolo11n.pt" would make ultralytics fetch it from its hub; only local files.
        if not self.model_path.is_file():
            raise InvalidInput(
                "model_missing",
                f"model file {self.model_path} does not exist; copy the .pt or .onnx there "
                "(nothing is downloaded at run time), or use the onnx detector with `ioc models prepare`",
            )
        # A write, not a read: ultralytics reads YOLO_OFFLINE from os.environ when it is imported (below), so
        # this is the only way to keep its update checks and downloads off; an operator's own value is kept.
        os.environ.setdefault("YOLO_OFFLINE", "1")
        try:
            from ultralytics import YOLO
        except ImportError as exc:
            raise ServiceError(
                f"the ultralytics detector needs the ultralytics package: {INSTALL_HINT}"
            ) from exc
        self._model: Any = YOLO(str(self.model_path), task="detect")
        names: dict[int, str] = dict(self._model.names)
        wanted = {canonical(c) for c in classes}
        self.labels = {i: canonical(n) for i, n in names.items()}
        self._class_ids = sorted(i for i, n in self.labels.items() if n in wanted)

    def detect(self, frame: Frame) -> Detections:
        """Return the objects found in one frame."""
        results = self._model.predict(
            frame.image, conf=self.confidence, classes=self._class_ids, device="cpu", verbose=False
        )
        return detections_from_ultralytics(results[0], self.labels)


def detections_from_ultralytics(result: Any, labels: dict[int, str]) -> Detections:
    """Convert one ultralytics ``Results`` into the project's ``Detections``."""
    boxes = result.boxes
    if boxes is None or len(boxes) == 0:
        return Detections.empty()
    xyxy = np.asarray(boxes.xyxy.cpu().numpy(), np.float32)
    confidence = np.asarray(boxes.conf.cpu().numpy(), np.float32)
    class_ids = np.asarray(boxes.cls.cpu().numpy(), np.int64)
    return Detections(xyxy, tuple(labels[int(i)] for i in class_ids), confidence)
