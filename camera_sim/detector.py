"""The ``groundtruth`` detector: returns a simulated clip's true boxes, optionally with seeded noise.

It reads the frame index stamped in the picture (``camera_sim.stamp``), looks that frame up in the clip's
truth file, and returns its boxes as ``Detections`` without track ids (tracking is the tracker's job). A
picture with no valid stamp (a black frame, a garbled one) gives no detections, as a real detector would find
nothing; a frozen picture gives the boxes of the frame it shows, again as a real detector would.

Noise, all drawn from a generator seeded by ``NoiseSpec.seed`` and the frame index (the same frame always gets
the same noise): each true box is dropped with ``miss_rate``; a kept box is relabelled to another class with
``confusion_rate``; its corners move by up to ``jitter_px`` each (uniform), clipped to the image; then
``false_positives`` boxes on average (Poisson) are added at random places with random classes and confidences
in [0.3, 0.7). True boxes have confidence 1.0 without noise and in [0.5, 1.0) with it.

Importing this module registers the backend with ``analytics.vision.detectors`` (the arrow goes from the
simulator to analytics, never back); the app imports it wherever it builds cameras.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analytics.vision.detectors import Backend, BuildContext, register_backend
from analytics.vision.types import COUNTED_CLASSES, Detections, Detector, Frame
from camera_sim.stamp import read_frame_index
from camera_sim.truth import Truth, load_truth
from ioc.config.models import DetectorConfig
from ioc.errors import InvalidInput

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NoiseSpec:
    """How far detections stray from the truth; the defaults add no noise."""

    jitter_px: float = 0.0
    miss_rate: float = 0.0
    false_positives: float = 0.0
    confusion_rate: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.jitter_px < 0 or self.false_positives < 0:
            raise ValueError("jitter_px and false_positives must be >= 0")
        for name in ("miss_rate", "confusion_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")


class GroundTruthDetector:
    """Detector backend ``groundtruth``: the truth of a simulated clip, looked up by the picture's stamp."""

    name = "groundtruth"

    def __init__(self, truth_path: Path | str, noise: NoiseSpec | None = None) -> None:
        self.truth: Truth = load_truth(truth_path)
        self.noise = noise
        self._classes = tuple(c for c in COUNTED_CLASSES)

    def detect(self, frame: Frame) -> Detections:
        """Return the true boxes of the frame stamped in the picture, with noise if configured."""
        index = read_frame_index(frame.image)
        if index is None or not 0 <= index < len(self.truth.frames):
            if index is not None:
                logger.warning("camera %s: stamped index %d is not in the truth file", frame.camera_id, index)
            return Detections.empty()
        objects = self.truth.frame(index).objects
        xyxy = np.array([o.box for o in objects], np.float32).reshape(-1, 4)
        names = tuple(o.cls for o in objects)
        conf = np.ones(len(objects), np.float32)
        if self.noise is None:
            return Detections(xyxy, names, conf)
        return self._noisy(index, xyxy, names, frame.image.shape[1], frame.image.shape[0])

    def _noisy(
        self, index: int, xyxy: np.ndarray, names: tuple[str, ...], width: int, height: int
    ) -> Detections:
        noise = self.noise
        assert noise is not None
        rng = np.random.default_rng([noise.seed, index])
        n = len(names)
        keep = rng.random(n) >= noise.miss_rate
        confuse = rng.random(n) < noise.confusion_rate
        other = rng.integers(0, len(self._classes) - 1, n)
        jitter = (
            rng.uniform(-noise.jitter_px, noise.jitter_px, (n, 4)) if noise.jitter_px else np.zeros((n, 4))
        )
        conf = rng.uniform(0.5, 1.0, n)
        boxes: list[np.ndarray] = []
        classes: list[str] = []
        scores: list[float] = []
        for i in range(n):
            if not keep[i]:
                continue
            cls = names[i]
            if confuse[i]:
                choices = [c for c in self._classes if c != cls]
                cls = choices[int(other[i]) % len(choices)]
            box = _clip(xyxy[i] + jitter[i], width, height)
            if box is None:
                continue
            boxes.append(box)
            classes.append(cls)
            scores.append(float(conf[i]))
        for _ in range(int(rng.poisson(noise.false_positives)) if noise.false_positives else 0):
            bw, bh = rng.uniform(0.02, 0.12) * width, rng.uniform(0.04, 0.2) * height
            x, y = rng.uniform(0, width - bw), rng.uniform(0, height - bh)
            boxes.append(np.array([x, y, x + bw, y + bh], np.float32))
            classes.append(self._classes[int(rng.integers(len(self._classes)))])
            scores.append(float(rng.uniform(0.3, 0.7)))
        if not boxes:
            return Detections.empty()
        return Detections(np.stack(boxes).astype(np.float32), tuple(classes), np.array(scores, np.float32))


def _clip(box: np.ndarray, width: int, height: int) -> np.ndarray | None:
    x1, y1, x2, y2 = (float(v) for v in box)
    x1, x2 = sorted((min(max(x1, 0.0), width), min(max(x2, 0.0), width)))
    y1, y2 = sorted((min(max(y1, 0.0), height), min(max(y2, 0.0), height)))
    if x2 - x1 < 1 or y2 - y1 < 1:
        return None
    return np.array([x1, y1, x2, y2], np.float32)


def _build(config: DetectorConfig, ctx: BuildContext) -> Detector:
    if ctx.truth_path is None:
        raise InvalidInput(
            "detector_config",
            "the groundtruth detector reads the camera simulator's truth file; pass truth_path",
        )
    return GroundTruthDetector(ctx.truth_path)


register_backend(Backend("groundtruth", _build))
