"""Darknet (``.cfg`` + ``.weights``) to ONNX, with numpy and onnx only.

Supported sections: ``[net]``, ``[convolutional]`` (with or without ``batch_normalize``, linear or leaky),
``[maxpool]`` (including Darknet's size 2 / stride 1 with its one-pixel bottom-right padding), ``[route]``,
``[upsample]`` and ``[yolo]``; enough for yolov3-tiny and yolov3. Anything else is refused with the section's
index and type.

Output layout "darknet": one tensor ``detections`` of shape (1, N, 5 + nc), one row per anchor box of every
yolo head: ``cx, cy, w, h`` in input pixels (of the network's own input size), ``objectness`` (sigmoid), then
``nc`` class scores (sigmoid, conditional on an object). The YOLO decode (sigmoid, grid offsets, anchors,
stride) is inside the graph, so the runtime multiplies objectness by the class score and runs NMS, nothing
else. The input ``images`` is (1, 3, H, W), RGB, float32 in [0, 1].
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from ioc.errors import InvalidInput

logger = logging.getLogger(__name__)

LAYOUT = "darknet"
OPSET = 17
IR_VERSION = 8  # what onnxruntime >= 1.15 reads; the graph uses nothing newer than opset 17
INPUT_NAME = "images"
OUTPUT_NAME = "detections"
LEAKY_SLOPE = 0.1
BN_EPS = 1e-6  # Darknet divides by sqrt(var) + .000001

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Section:
    """One ``[type]`` block of a Darknet cfg, with its line number for error messages."""

    kind: str
    options: dict[str, str]
    line: int

    def integer(self, key: str, default: int | None = None) -> int:
        """Return an integer option, or ``default`` when it is absent."""
        if key in self.options:
            return int(self.options[key])
        if default is None:
            raise InvalidInput("darknet_cfg", f"[{self.kind}] at line {self.line} needs {key}=")
        return default

    def integers(self, key: str) -> list[int]:
        """Return a comma-separated integer list option."""
        raw = self.options.get(key)
        if raw is None:
            raise InvalidInput("darknet_cfg", f"[{self.kind}] at line {self.line} needs {key}=")
        return [int(v) for v in raw.split(",") if v.strip()]


def set_yolo_masks(text: str, masks: dict[int, tuple[int, ...]]) -> str:
    """Return the cfg text with the ``mask`` of the given ``[yolo]`` heads (0-based, in cfg order) replaced.

    Published cfgs sometimes disagree with how their weights were trained (yolov3-tiny's second head says
    ``0,1,2``; the weights use ``1,2,3``). Only the ``mask =`` lines change, so line numbers stay as they were.
    """
    if not masks:
        return text
    lines = text.splitlines(keepends=True)
    head = -1
    in_yolo = False
    done: set[int] = set()
    for i, raw in enumerate(lines):
        line = raw.split("#", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            in_yolo = line[1:-1].strip().lower() == "yolo"
            head += in_yolo
        elif in_yolo and head in masks and "=" in line and line.split("=", 1)[0].strip() == "mask":
            newline = "\n" if raw.endswith("\n") else ""
            lines[i] = "mask = " + ",".join(str(m) for m in masks[head]) + newline
            done.add(head)
    missing = sorted(set(masks) - done)
    if missing:
        raise InvalidInput("darknet_cfg", f"no mask line found in [yolo] head(s) {missing} to correct")
    return "".join(lines)


def parse_cfg(text: str) -> list[Section]:
    """Parse a Darknet cfg into its sections, in order; comments and blank lines are dropped."""
    sections: list[Section] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            sections.append(Section(line[1:-1].strip().lower(), {}, number))
        elif "=" in line and sections:
            key, value = line.split("=", 1)
            sections[-1].options[key.strip()] = value.strip()
        else:
            raise InvalidInput("darknet_cfg", f"line {number}: cannot read {raw!r}")
    if not sections or sections[0].kind not in ("net", "network"):
        raise InvalidInput("darknet_cfg", "a Darknet cfg starts with a [net] section")
    return sections


class _Weights:
    """Reads the float32 body of a ``.weights`` file in Darknet order, after its header."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.path = path
        major, minor, _revision = np.frombuffer(data[:12], dtype=np.int32)
        # Newer files store the "images seen" counter as int64, older ones as int32.
        seen_size = 8 if (major * 10 + minor) >= 2 and major < 1000 and minor < 1000 else 4
        self.values = np.frombuffer(data[12 + seen_size :], dtype=np.float32)
        self.at = 0

    def take(self, n: int) -> npt.NDArray[np.float32]:
        if self.at + n > self.values.size:
            raise InvalidInput(
                "darknet_weights",
                f"{self.path} ends after {self.values.size} values but the cfg needs more; "
                "cfg and weights do not match",
            )
        out = self.values[self.at : self.at + n]
        self.at += n
        return out


@dataclass
class _Graph:
    """The ONNX graph being built: nodes, constants and a counter for unique names."""

    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)
    count: int = 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def const(self, stem: str, value: npt.NDArray[np.generic]) -> str:
        name = self.name(stem)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], stem: str | None = None, **attrs: Any) -> str:
        out = self.name(stem or op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


@dataclass(frozen=True)
class _Tensor:
    """A layer's output: its name in the graph and its (channels, height, width)."""

    name: str
    c: int
    h: int
    w: int


def convert(
    cfg_text: str, weights: bytes, *, weights_path: Path = Path("weights"), progress: Progress | None = None
) -> onnx.ModelProto:
    """Build the ONNX model of a Darknet network, weights folded in, output in the "darknet" layout."""
    sections = parse_cfg(cfg_text)
    net = sections[0]
    width, height, channels = net.integer("width"), net.integer("height"), net.integer("channels", 3)
    body = sections[1:]
    reader = _Weights(weights, weights_path)
    g = _Graph()
    current = _Tensor(INPUT_NAME, channels, height, width)
    outputs: list[_Tensor] = []
    heads: list[tuple[str, int]] = []
    classes: int | None = None
    for index, section in enumerate(body):
        if section.kind == "convolutional":
            current = _convolutional(g, section, current, reader)
        elif section.kind == "maxpool":
            current = _maxpool(g, section, current)
        elif section.kind == "upsample":
            current = _upsample(g, section, current)
        elif section.kind == "route":
            current = _route(g, section, index, outputs)
        elif section.kind == "yolo":
            head_classes = section.integer("classes")
            if classes is not None and head_classes != classes:
                raise InvalidInput(
                    "darknet_cfg", f"yolo heads disagree on classes ({classes}, {head_classes})"
                )
            classes = head_classes
            heads.append(_yolo(g, section, current, (width, height)))
        else:
            raise InvalidInput(
                "darknet_cfg", f"section {index} [{section.kind}] at line {section.line} is not supported"
            )
        outputs.append(current)
        if progress is not None:
            progress(index + 1, len(body))
    if not heads or classes is None:
        raise InvalidInput("darknet_cfg", "the cfg has no [yolo] section; nothing to detect with")
    if reader.at != reader.values.size:
        raise InvalidInput(
            "darknet_weights",
            f"{weights_path} has {reader.values.size - reader.at} values left over; "
            "cfg and weights do not match",
        )
    names = [name for name, _ in heads]
    final = names[0] if len(names) == 1 else g.node("Concat", names, "detections_concat", axis=1)
    g.nodes.append(helper.make_node("Identity", [final], [OUTPUT_NAME], name=OUTPUT_NAME))
    rows = sum(n for _, n in heads)
    graph = helper.make_graph(
        g.nodes,
        "darknet",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [1, channels, height, width])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [1, rows, 5 + classes])],
        g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="ioc")
    model.ir_version = IR_VERSION
    helper.set_model_props(model, {"layout": LAYOUT, "classes": str(classes)})
    return model


def _convolutional(g: _Graph, s: Section, x: _Tensor, reader: _Weights) -> _Tensor:
    filters, size, stride = s.integer("filters"), s.integer("size"), s.integer("stride", 1)
    pad = size // 2 if s.integer("pad", 0) else s.integer("padding", 0)
    if s.integer("groups", 1) != 1:
        raise InvalidInput("darknet_cfg", f"[convolutional] at line {s.line}: groups are not supported")
    bn = s.integer("batch_normalize", 0) == 1
    biases = reader.take(filters)
    if bn:
        scales = reader.take(filters)
        mean = reader.take(filters)
        var = reader.take(filters)
    weights = reader.take(filters * x.c * size * size).reshape(filters, x.c, size, size)
    if bn:
        # Fold batch norm into the convolution: y = scale * (conv - mean) / (sqrt(var) + eps) + bias.
        factor = scales / (np.sqrt(var) + BN_EPS)
        weights = np.asarray(weights * factor[:, None, None, None], np.float32)
        biases = np.asarray(biases - mean * factor, np.float32)
    w_name = g.const("conv_w", weights.astype(np.float32))
    b_name = g.const("conv_b", biases.astype(np.float32))
    out = g.node(
        "Conv",
        [x.name, w_name, b_name],
        "conv",
        kernel_shape=[size, size],
        strides=[stride, stride],
        pads=[pad, pad, pad, pad],
    )
    activation = s.options.get("activation", "logistic")
    if activation == "leaky":
        out = g.node("LeakyRelu", [out], "leaky", alpha=LEAKY_SLOPE)
    elif activation != "linear":
        raise InvalidInput(
            "darknet_cfg", f"[convolutional] at line {s.line}: activation {activation} unsupported"
        )
    h = (x.h + 2 * pad - size) // stride + 1
    w = (x.w + 2 * pad - size) // stride + 1
    return _Tensor(out, filters, h, w)


def _maxpool(g: _Graph, s: Section, x: _Tensor) -> _Tensor:
    size = s.integer("size", 1)
    stride = s.integer("stride", 1)
    # Darknet pads size-1 in total, the smaller half before: size 2 stride 1 adds one row and column at
    # the bottom-right, so yolov3-tiny's 13x13 stays 13x13. ONNX MaxPool ignores pad cells, as Darknet's
    # -FLT_MAX does.
    total = s.integer("padding", size - 1)
    before, after = total // 2, total - total // 2
    out = g.node(
        "MaxPool",
        [x.name],
        "maxpool",
        kernel_shape=[size, size],
        strides=[stride, stride],
        pads=[before, before, after, after],
    )
    return _Tensor(out, x.c, (x.h + total - size) // stride + 1, (x.w + total - size) // stride + 1)


def _upsample(g: _Graph, s: Section, x: _Tensor) -> _Tensor:
    stride = s.integer("stride", 2)
    scales = g.const("up_scales", np.array([1, 1, stride, stride], np.float32))
    out = g.node(
        "Resize",
        [x.name, "", scales],
        "upsample",
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )
    return _Tensor(out, x.c, x.h * stride, x.w * stride)


def _route(g: _Graph, s: Section, index: int, outputs: list[_Tensor]) -> _Tensor:
    picked = []
    for ref in s.integers("layers"):
        at = index + ref if ref < 0 else ref
        if not 0 <= at < index:
            raise InvalidInput(
                "darknet_cfg", f"[route] at line {s.line} points at layer {ref}, which does not exist"
            )
        picked.append(outputs[at])
    if len({(t.h, t.w) for t in picked}) != 1:
        raise InvalidInput("darknet_cfg", f"[route] at line {s.line} joins layers of different sizes")
    if len(picked) == 1:
        return picked[0]
    out = g.node("Concat", [t.name for t in picked], "route", axis=1)
    return _Tensor(out, sum(t.c for t in picked), picked[0].h, picked[0].w)


def _yolo(g: _Graph, s: Section, x: _Tensor, input_wh: tuple[int, int]) -> tuple[str, int]:
    """Decode one head into (1, A*H*W, 5+nc) rows of cx, cy, w, h (input pixels), objectness, class scores."""
    classes = s.integer("classes")
    mask = s.integers("mask")
    flat = s.integers("anchors")
    anchors = np.array(flat, np.float32).reshape(-1, 2)[mask]
    a, per = len(mask), 5 + classes
    if x.c != a * per:
        raise InvalidInput(
            "darknet_cfg", f"[yolo] at line {s.line} expects {a * per} channels before it, got {x.c}"
        )
    scale_xy = float(s.options.get("scale_x_y", "1"))
    rows = a * x.h * x.w
    shape = g.const("yolo_shape", np.array([1, a, per, x.h * x.w], np.int64))
    t = g.node("Reshape", [x.name, shape], "yolo_reshape")
    t = g.node("Transpose", [t], "yolo_transpose", perm=[0, 1, 3, 2])  # (1, A, H*W, per)
    flat_shape = g.const("yolo_rows", np.array([1, rows, per], np.int64))
    t = g.node("Reshape", [t, flat_shape], "yolo_flat")

    def cols(start: int, end: int) -> str:
        s_ = g.const("start", np.array([start], np.int64))
        e_ = g.const("end", np.array([end], np.int64))
        ax = g.const("axis", np.array([2], np.int64))
        return g.node("Slice", [t, s_, e_, ax], "yolo_slice")

    gy, gx = np.meshgrid(np.arange(x.h, dtype=np.float32), np.arange(x.w, dtype=np.float32), indexing="ij")
    grid = np.tile(np.stack([gx.ravel(), gy.ravel()], axis=1), (a, 1))[None]  # (1, rows, 2), anchor-major
    wh = np.repeat(anchors, x.h * x.w, axis=0)[None]
    stride = np.array([input_wh[0] / x.w, input_wh[1] / x.h], np.float32).reshape(1, 1, 2)
    xy = g.node("Sigmoid", [cols(0, 2)])
    if scale_xy != 1.0:
        xy = g.node("Mul", [xy, g.const("scale_xy", np.array(scale_xy, np.float32))])
        xy = g.node("Sub", [xy, g.const("shift_xy", np.array((scale_xy - 1) / 2, np.float32))])
    xy = g.node("Add", [xy, g.const("grid", grid.astype(np.float32))])
    xy = g.node("Mul", [xy, g.const("stride", stride)])
    size = g.node("Exp", [cols(2, 4)])
    size = g.node("Mul", [size, g.const("anchors", wh.astype(np.float32))])
    scores = g.node("Sigmoid", [cols(4, per)])
    return g.node("Concat", [xy, size, scores], "yolo_out", axis=2), rows
