"""YOLO detectors exported to ONNX, run with onnxruntime on the CPU.

Three output layouts are read; all are COCO-trained YOLO heads with one row (or column) per candidate box:

* ``ultralytics``: shape (1, 4 + nc, N), e.g. (1, 84, 8400) for yolov8n / yolo11n at 640. Per column ``cx, cy,
  w, h`` in input pixels, then ``nc`` class scores (already sigmoid); no objectness.
* ``darknet``: shape (1, N, 5 + nc), e.g. (1, 2535, 85) for yolov3-tiny at 416, as written by ``ioc models
  prepare`` (``ioc.darknet_onnx``). Per row ``cx, cy, w, h`` in input pixels, objectness, then ``nc`` class
  scores; a box's confidence is objectness x class score.
* ``yolox``: shape (1, N, 5 + nc), e.g. (1, 3549, 85) for YOLOX-Nano at 416, exported without decoding
  (Megvii's ``export_onnx``): per row raw ``x, y`` offsets in grid cells and log ``w, h``, one anchor-free
  prediction per cell of the stride 8, 16 and 32 grids (so N = sum of (H/s)(W/s)), then objectness and class
  scores (already sigmoid). Its input is BGR 0-255, letterboxed at the top left with grey 114; the other two
  take RGB in [0, 1], letterboxed centred.

How the layout is told apart: the model's metadata first; a model converted by ``ioc models prepare`` says
``layout=darknet``, and an Ultralytics export carries ``names`` (and ``stride``, ``task``). Otherwise the
output shape decides: the number of candidate boxes N is always far larger than the per-box width (8400
against 84, 2535 against 85), so with (1, a, b) a < b means ``ultralytics`` and a > b means a row layout,
which is ``yolox`` when N is exactly the number of stride 8/16/32 grid cells of the input and ``darknet``
otherwise (yolov3-tiny has 3 anchors per cell on two grids: 2535 at 416, never a YOLOX count). When one
dimension is symbolic (a dynamic export), the fixed one is the per-box width; when both are, the first real
output decides. Class names come from the model's ``names`` metadata (Ultralytics writes it) or, with 80
classes, COCO.
"""

from __future__ import annotations

import ast
import enum
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

from analytics.vision.detectors.coco import COCO_NAMES, canonical
from analytics.vision.types import COUNTED_CLASSES, Detections, Frame
from ioc.errors import InvalidInput

logger = logging.getLogger(__name__)

DEFAULT_INPUT_SIZE = 640  # for models whose input size is dynamic
PAD_VALUE = 114  # the grey Ultralytics pads with
NMS_IOU = 0.45
PREPARE_HINT = (
    "run `ioc models prepare` to put the default model (yolox-nano) into the model cache, "
    "or point model_path at an ONNX file"
)

_ORT_LOAD_ERRORS: tuple[type[Exception], ...] = (
    ort_errors.Fail,
    ort_errors.InvalidArgument,
    ort_errors.InvalidGraph,
    ort_errors.InvalidProtobuf,
    ort_errors.NoSuchFile,
    ort_errors.NotImplemented,
    ort_errors.RuntimeException,
)


class Layout(enum.StrEnum):
    """How a YOLO model lays out its single output tensor."""

    ULTRALYTICS = "ultralytics"  # (1, 4 + nc, N)
    DARKNET = "darknet"  # (1, N, 5 + nc), boxes decoded in input pixels
    YOLOX = "yolox"  # (1, N, 5 + nc), raw grid offsets and log sizes


YOLOX_STRIDES = (8, 16, 32)


def yolox_rows(input_wh: tuple[int, int] | None) -> int | None:
    """Return how many rows a YOLOX head gives for an input size (one per stride 8/16/32 grid cell)."""
    if input_wh is None:
        return None
    w, h = input_wh
    return sum((h // s) * (w // s) for s in YOLOX_STRIDES)


@dataclass(frozen=True)
class OutputSpec:
    """A model output's layout and how many classes it scores."""

    layout: Layout
    num_classes: int


Dim = int | str | None


def output_spec(
    shape: Sequence[Dim],
    metadata: Mapping[str, str] | None = None,
    input_wh: tuple[int, int] | None = None,
) -> OutputSpec | None:
    """Tell the layout from an output shape, the input size and the metadata; None while sizes are unknown.

    Raises ``ValueError`` when the shape fits no layout.
    """
    if len(shape) != 3 or (isinstance(shape[0], int) and shape[0] != 1):
        raise ValueError("expected one output of shape (1, 4+classes, boxes) or (1, boxes, 5+classes)")
    a, b = (d if isinstance(d, int) and d > 0 else None for d in shape[1:])
    meta = metadata or {}
    declared = meta.get("layout") or (Layout.ULTRALYTICS if "names" in meta else None)
    if declared == Layout.YOLOX or (declared is None and a is not None and a == yolox_rows(input_wh)):
        return None if b is None else _spec(Layout.YOLOX, b - 5, shape)
    if declared == Layout.DARKNET or (declared is None and _is_darknet(a, b)):
        return None if b is None else _spec(Layout.DARKNET, b - 5, shape)
    return None if a is None else _spec(Layout.ULTRALYTICS, a - 4, shape)


def _is_darknet(a: int | None, b: int | None) -> bool:
    if a is not None and b is not None:
        return a > b
    return a is None and b is not None  # only the per-box width is fixed, and it is last


def _spec(layout: Layout, num_classes: int, shape: Sequence[Dim]) -> OutputSpec:
    if num_classes < 1:
        raise ValueError(f"output {tuple(shape)} leaves no room for class scores in the {layout} layout")
    return OutputSpec(layout, num_classes)


@dataclass(frozen=True)
class Letterbox:
    """How an image was fitted into the network input: scaled by ``scale``, then shifted by the padding."""

    scale: float
    pad_x: float
    pad_y: float

    def to_image(self, xyxy: npt.NDArray[np.float32], width: int, height: int) -> npt.NDArray[np.float32]:
        """Map boxes from network-input pixels back to image pixels, clipped to the image."""
        out = xyxy.copy()
        out[:, [0, 2]] = np.clip((out[:, [0, 2]] - self.pad_x) / self.scale, 0, width)
        out[:, [1, 3]] = np.clip((out[:, [1, 3]] - self.pad_y) / self.scale, 0, height)
        return out


def letterbox(
    image: npt.NDArray[np.uint8], size: tuple[int, int], *, raw_bgr_top_left: bool = False
) -> tuple[npt.NDArray[np.float32], Letterbox]:
    """Fit a BGR image into ``size`` (width, height), aspect kept; NCHW float32.

    By default padded centred, RGB in [0, 1] (Ultralytics, Darknet); with ``raw_bgr_top_left`` placed at the
    top left, BGR in 0-255 (YOLOX).
    """
    h, w = image.shape[:2]
    target_w, target_h = size
    scale = min(target_w / w, target_h / h)
    new_w, new_h = min(target_w, round(w * scale)), min(target_h, round(h * scale))
    pad_x, pad_y = (target_w - new_w) / 2, (target_h - new_h) / 2
    resized = (
        cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        if (new_w, new_h) != (w, h)
        else image
    )
    top, left = (0, 0) if raw_bgr_top_left else (round(pad_y - 0.1), round(pad_x - 0.1))
    canvas = np.full((target_h, target_w, 3), PAD_VALUE, np.uint8)
    canvas[top : top + new_h, left : left + new_w] = resized
    if raw_bgr_top_left:
        tensor = cv2.dnn.blobFromImage(canvas, scalefactor=1.0, swapRB=False)
    else:
        tensor = cv2.dnn.blobFromImage(canvas, scalefactor=1 / 255.0, swapRB=True)
    return tensor.astype(np.float32, copy=False), Letterbox(scale, float(left), float(top))


@dataclass(frozen=True)
class Candidates:
    """Boxes above the confidence threshold, in network-input pixels, before NMS."""

    xyxy: npt.NDArray[np.float32]
    confidence: npt.NDArray[np.float32]
    class_id: npt.NDArray[np.int64]


def yolox_grid(input_wh: tuple[int, int]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Return each YOLOX row's grid cell (N x 2, in cells) and stride (N x 1), in the head's row order."""
    w, h = input_wh
    cells, strides = [], []
    for s in YOLOX_STRIDES:
        gy, gx = np.meshgrid(np.arange(h // s), np.arange(w // s), indexing="ij")
        cells.append(np.stack([gx.ravel(), gy.ravel()], axis=1))
        strides.append(np.full((gx.size, 1), s))
    return np.concatenate(cells).astype(np.float32), np.concatenate(strides).astype(np.float32)


def decode(
    output: npt.NDArray[np.float32],
    spec: OutputSpec,
    confidence: float,
    keep: npt.NDArray[np.bool_],
    grid: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]] | None = None,
) -> Candidates:
    """Turn one raw output into the boxes of kept class ids whose confidence reaches ``confidence``.

    ``grid``: for the ``yolox`` layout, the cells and strides of ``yolox_grid``.
    """
    rows = output[0].T if spec.layout is Layout.ULTRALYTICS else output[0]
    if spec.layout is Layout.ULTRALYTICS:
        boxes, scores = rows[:, :4], rows[:, 4:]
    else:
        boxes, scores = rows[:, :4], rows[:, 5:] * rows[:, 4:5]
    if spec.layout is Layout.YOLOX:
        if grid is None or len(grid[0]) != len(rows):
            raise ValueError(f"a yolox output of {len(rows)} rows needs the grid of its input size")
        # Only rows that can pass are decoded: exp() of thousands of raw sizes costs more than the filter.
        candidate = (scores * keep[None, :]).max(axis=1) >= confidence
        cells, strides = grid[0][candidate], grid[1][candidate]
        raw = boxes[candidate]
        boxes = np.concatenate([(raw[:, :2] + cells) * strides, np.exp(raw[:, 2:4]) * strides], axis=1)
        scores = scores[candidate]
    scores = np.where(keep[None, :], scores, 0.0)
    class_id = scores.argmax(axis=1)
    best = scores[np.arange(len(scores)), class_id]
    chosen = best >= confidence
    cx, cy, w, h = boxes[chosen].T
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
    return Candidates(xyxy.reshape(-1, 4), best[chosen].astype(np.float32), class_id[chosen].astype(np.int64))


def nms(c: Candidates, confidence: float, iou: float = NMS_IOU) -> npt.NDArray[np.int64]:
    """Return the indices kept by class-wise non-maximum suppression, best first."""
    if len(c.confidence) == 0:
        return np.zeros((0,), np.int64)
    xywh = np.concatenate([c.xyxy[:, :2], c.xyxy[:, 2:] - c.xyxy[:, :2]], axis=1)
    kept = cv2.dnn.NMSBoxesBatched(xywh.tolist(), c.confidence.tolist(), c.class_id.tolist(), confidence, iou)
    return np.asarray(kept, np.int64).reshape(-1)


def _metadata_names(metadata: Mapping[str, str]) -> tuple[str, ...] | None:
    raw = metadata.get("names")
    if raw is None:
        return None
    try:
        parsed = ast.literal_eval(raw)  # Ultralytics writes "{0: 'person', 1: 'bicycle', ...}"
    except (ValueError, SyntaxError):
        return None
    if isinstance(parsed, dict):
        return tuple(canonical(str(parsed[i])) for i in sorted(parsed))
    if isinstance(parsed, list | tuple):
        return tuple(canonical(str(n)) for n in parsed)
    return None


class OnnxDetector:
    """A COCO YOLO model in ONNX (YOLOX, Ultralytics export or converted Darknet) on onnxruntime's CPU."""

    name = "onnx"

    def __init__(
        self,
        model_path: str | Path,
        confidence: float = 0.4,
        classes: Sequence[str] = COUNTED_CLASSES,
        input_size: int | None = None,
        *,
        threads: int = 1,
        iou: float = NMS_IOU,
    ) -> None:
        self.model_path = Path(model_path)
        self.confidence = confidence
        self.iou = iou
        if not self.model_path.is_file():
            raise InvalidInput(
                "model_missing", f"model file {self.model_path} does not exist; {PREPARE_HINT}"
            )
        options = ort.SessionOptions()
        # One thread per camera by default: a district server has 2 cores shared by several cameras, and
        # spinning idle threads would steal them from the others.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(
                str(self.model_path), options, providers=["CPUExecutionProvider"]
            )
        except _ORT_LOAD_ERRORS as exc:
            raise InvalidInput(
                "model_unreadable", f"{self.model_path} is not a usable ONNX model: {exc}"
            ) from exc
        metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self._input = self.session.get_inputs()[0]
        self._input_float16 = self._input.type == "tensor(float16)"
        self.input_wh = self._input_size(input_size)
        outputs = self.session.get_outputs()
        self._output_shape: tuple[Dim, ...] = tuple(outputs[0].shape)
        try:
            spec = output_spec(self._output_shape, metadata, self.input_wh)
        except ValueError as exc:
            raise self._layout_error(str(exc)) from exc
        self._metadata = metadata
        self.spec: OutputSpec | None = None
        self._grid: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]] | None = None
        self.labels: tuple[str, ...] = ()
        self._keep = np.zeros((0,), np.bool_)
        self._wanted = tuple(canonical(c) for c in classes)
        if spec is not None:
            self._adopt(spec)

    def _input_size(self, requested: int | None) -> tuple[int, int]:
        shape = self._input.shape
        if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
            raise self._layout_error(f"expected an image input (1, 3, height, width), found {tuple(shape)}")
        h, w = shape[2], shape[3]
        if isinstance(h, int) and isinstance(w, int):
            if requested is not None and (requested, requested) != (w, h):
                raise InvalidInput(
                    "model_layout",
                    f"{self.model_path} takes a fixed {w}x{h} input; input_size {requested} cannot be used",
                )
            return w, h
        size = requested or DEFAULT_INPUT_SIZE
        return size, size

    def _layout_error(self, why: str) -> InvalidInput:
        inputs = [f"{i.name}{tuple(i.shape)}" for i in self.session.get_inputs()]
        outputs = [f"{o.name}{tuple(o.shape)}" for o in self.session.get_outputs()]
        return InvalidInput(
            "model_layout",
            f"{self.model_path}: {why}; the model has inputs {', '.join(inputs)} "
            f"and outputs {', '.join(outputs)}. "
            "Use an Ultralytics YOLO export (output (1, 84, N)) or a model from `ioc models prepare`",
        )

    def _adopt(self, spec: OutputSpec) -> None:
        labels = _metadata_names(self._metadata)
        if labels is None:
            if spec.num_classes != len(COCO_NAMES):
                raise self._layout_error(
                    f"the {spec.layout} output scores {spec.num_classes} classes and the model carries no "
                    f"class names; only the {len(COCO_NAMES)} COCO classes are known"
                )
            labels = COCO_NAMES
        if len(labels) != spec.num_classes:
            raise self._layout_error(f"{len(labels)} class names for {spec.num_classes} class scores")
        unknown = [c for c in self._wanted if c not in labels]
        if unknown:
            logger.warning(
                "%s: classes %s are not among the model's classes; they are never found",
                self.model_path,
                unknown,
            )
        self.spec, self.labels = spec, labels
        self._keep = np.array([label in self._wanted for label in labels], np.bool_)
        self._grid = yolox_grid(self.input_wh) if spec.layout is Layout.YOLOX else None

    def infer(self, image: npt.NDArray[np.uint8]) -> Detections:
        """Detect objects in one BGR image."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise InvalidInput("bad_frame", f"expected a BGR image (h, w, 3), got shape {image.shape}")
        # A model whose layout is known only once it has run (dynamic shapes) is never YOLOX: YOLOX exports
        # have a fixed input, so the layout, and with it the preprocessing, is known before the first frame.
        yolox = self.spec is not None and self.spec.layout is Layout.YOLOX
        tensor, box = letterbox(image, self.input_wh, raw_bgr_top_left=yolox)
        feed = tensor.astype(np.float16) if self._input_float16 else tensor
        output = np.asarray(self.session.run(None, {self._input.name: feed})[0], np.float32)
        if self.spec is None:
            try:
                spec = output_spec(output.shape)
            except ValueError as exc:
                raise self._layout_error(str(exc)) from exc
            assert spec is not None  # a real output has real sizes
            self._adopt(spec)
        assert self.spec is not None
        candidates = decode(output, self.spec, self.confidence, self._keep, self._grid)
        kept = nms(candidates, self.confidence, self.iou)
        if len(kept) == 0:
            return Detections.empty()
        xyxy = box.to_image(candidates.xyxy[kept], image.shape[1], image.shape[0])
        names = tuple(self.labels[i] for i in candidates.class_id[kept])
        return Detections(xyxy.astype(np.float32), names, candidates.confidence[kept])

    def detect(self, frame: Frame) -> Detections:
        """Return the objects found in one frame."""
        return self.infer(frame.image)
