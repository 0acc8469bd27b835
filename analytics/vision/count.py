"""Count a video once, start to end, through the same pipeline as a camera: for commissioning a camera.

``count_video`` opens a file (or a stream, for ``seconds``), analyses frames evenly in video time at
``sample_fps``, runs the detector on the chosen regions, tracks, counts every line, and returns the counts per
class and direction in image terms: for a line that is more horizontal than vertical, ``down`` is movement
towards larger y and ``up`` towards smaller y; for a steeper line, ``right`` towards larger x and ``left``.
Drawing (``--annotate``, ``--sheet``) is done by separate functions on what the count saw.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import numpy.typing as npt

from analytics.vision.detectors import build_detector
from analytics.vision.lines import Crossing, side_of
from analytics.vision.pipeline import CameraAnalytics, FrameResult
from analytics.vision.regions import RegionDetector, RegionMode, settings_for
from analytics.vision.sampling import is_due
from analytics.vision.types import CLASS_COLOURS, OTHER_COLOUR, Detections, Frame
from ioc.config.models import Camera, DetectorConfig
from ioc.errors import InvalidInput, IocError
from ioc.events import Direction

if TYPE_CHECKING:
    from ioc.models import ModelStore

logger = logging.getLogger(__name__)

Point = tuple[float, float]
T0 = datetime(2000, 1, 1, tzinfo=UTC)  # video time starts here; only differences matter
_STREAM_PREFIXES = ("rtsp://", "rtsps://", "http://", "https://")


@dataclass(frozen=True)
class CountOptions:
    """What to count and how."""

    lines: Sequence[tuple[Point, Point]]
    sample_fps: float = 5.0
    model: str = "yolox-nano"
    confidence: float = 0.25
    regions: RegionMode = "motion"
    seconds: float | None = None
    threads: int = 1
    models: ModelStore | None = None  # where a model named by ``model`` is prepared (from Settings)


@dataclass(frozen=True)
class LineCount:
    """One line's counts: class -> direction key -> crossings."""

    id: str
    points: tuple[Point, Point]
    counts: dict[str, dict[str, int]]


@dataclass
class CountResult:
    """What ``count_video`` found, in the shape ``ioc vision count --json`` prints."""

    source: str
    frames: int
    analysed: int
    cpu_s: float
    model: str
    lines: list[LineCount]
    width: int = 0
    height: int = 0
    crossings: list[tuple[Crossing, str]] = field(default_factory=list)  # with the direction key

    def as_json(self) -> dict[str, Any]:
        """Return the JSON object of the command's contract."""
        return {
            "source": self.source,
            "frames": self.frames,
            "analysed": self.analysed,
            "cpu_s": round(self.cpu_s, 3),
            "model": self.model,
            "lines": [
                {"id": line.id, "points": [list(line.points[0]), list(line.points[1])], "counts": line.counts}
                for line in self.lines
            ],
        }


def direction_keys(p0: Point, p1: Point) -> tuple[str, dict[Direction, str]]:
    """Return the line's ``in_side`` and what in/out mean in image terms (down/up or right/left)."""
    mid = ((p0[0] + p1[0]) / 2, (p0[1] + p1[1]) / 2)
    if abs(p1[0] - p0[0]) >= abs(p1[1] - p0[1]):
        towards, keys = (mid[0], mid[1] + 1.0), ("down", "up")
    else:
        towards, keys = (mid[0] + 1.0, mid[1]), ("right", "left")
    side = side_of(p0, p1, towards)
    assert side is not None  # a point one pixel off a non-degenerate line's middle is on a side
    return side, {Direction.IN: keys[0], Direction.OUT: keys[1]}


def parse_line(text: str) -> tuple[Point, Point]:
    """Parse ``X1,Y1,X2,Y2`` into two points, or refuse it saying what is expected."""
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InvalidInput("bad_line", f"--line {text!r}: expected four numbers X1,Y1,X2,Y2")
    x1, y1, x2, y2 = values
    if (x1, y1) == (x2, y2):
        raise InvalidInput("bad_line", f"--line {text!r}: both points are the same")
    return (x1, y1), (x2, y2)


def _model_file(model: str, store: ModelStore | None) -> tuple[Path, str]:
    """Return the ONNX file for a model name from ``ioc models list`` (prepared in ``store``) or a path, and how
    to call it."""
    from ioc import models

    if model in models.MODELS:
        if store is None:
            raise InvalidInput("model_missing", f"--model {model!r}: no model cache was given to prepare it in")
        return models.prepare(store, model).onnx_path, model
    path = Path(model).expanduser()
    if not path.is_file():
        raise InvalidInput(
            "model_missing",
            f"--model {model!r} is neither a known model ({', '.join(sorted(models.MODELS))}) nor a file",
        )
    return path, str(path)


def _open(source: str) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        capture.release()
        raise InvalidInput(
            "video", f"cannot open {source!r} as a video (missing file, unknown format or stream)"
        )
    return capture


Observer = Callable[[Frame, FrameResult], None]


def count_video(source: str, options: CountOptions, observe: Observer | None = None) -> CountResult:
    """Count every line over the whole video (or ``options.seconds`` of a stream); see the module doc."""
    if not options.lines:
        raise InvalidInput("bad_line", "give at least one counting line")
    capture = _open(source)
    try:
        ok, image = capture.read()
        # A stream's clock starts at its first frame: frames that arrive while the model loads are inside the
        # window, not extra (a 3 s count of a 10 fps stream read 43 frames when the clock started after loading).
        first_frame_at = time.monotonic()
        if not ok or image is None:
            raise InvalidInput("video", f"{source!r} opened but gave no frame")
        height, width = image.shape[:2]
        for i, (a, b) in enumerate(options.lines, start=1):
            for x, y in (a, b):
                if not (0 <= x <= width and 0 <= y <= height):
                    raise InvalidInput(
                        "bad_line", f"line{i}: point ({x:g}, {y:g}) lies outside the {width}x{height} frame"
                    )
        model_file, model_name = _model_file(options.model, options.models)
        sides = [direction_keys(a, b) for a, b in options.lines]
        camera = Camera.model_validate(
            {
                "id": "count",
                "name": Path(source).name or source,
                "area_code": "00000",
                "lon": 105.0,
                "lat": 21.0,
                "source": "file:count",
                "sample_fps": options.sample_fps,
                "frame_size": {"width": width, "height": height},
                "detector": {"name": "onnx", "model_path": str(model_file), "confidence": options.confidence},
                "detect": {"regions": options.regions},
                "lines": [
                    {"id": f"line{i}", "points": [list(a), list(b)], "in_side": side}
                    for i, ((a, b), (side, _)) in enumerate(zip(options.lines, sides, strict=True), start=1)
                ],
            }
        )
        detector = RegionDetector(
            build_detector(
                DetectorConfig(name="onnx", model_path=str(model_file), confidence=options.confidence),
                threads=options.threads,
            ),
            settings_for(camera),
        )
        analytics = CameraAnalytics(camera, fps=options.sample_fps)
        fps = capture.get(cv2.CAP_PROP_FPS)
        stream = source.startswith(_STREAM_PREFIXES)
        # A live stream's declared rate is often a guess (FFmpeg says 25 for MJPEG): time it by the clock.
        source_fps = fps if 1.0 <= fps <= 240.0 and not stream else None
        cpu0 = time.process_time()
        index, analysed, next_wall = 0, 0, first_frame_at
        crossings: list[tuple[Crossing, str]] = []
        while ok and image is not None:
            video_s = index / source_fps if source_fps else time.monotonic() - first_frame_at
            if options.seconds is not None and video_s >= options.seconds:
                break
            if source_fps:
                due = is_due(index, source_fps, options.sample_fps)
            else:
                due = time.monotonic() >= next_wall
                if due:
                    next_wall += 1.0 / options.sample_fps
            if due:
                at = T0 + timedelta(seconds=video_s)
                frame = Frame(camera.id, index, at, np.asarray(image, np.uint8))
                result = analytics.process(at, detector.detect(frame))
                analysed += 1
                line_keys = {f"line{i}": keys for i, (_, keys) in enumerate(sides, start=1)}
                crossings.extend((c, line_keys[c.line_id][c.direction]) for c in result.crossings)
                if observe is not None:
                    observe(frame, result)
            index += 1
            ok, image = capture.read()
    finally:
        capture.release()
    lines = []
    for i, (counter, (_, keys)) in enumerate(zip(analytics.lines, sides, strict=True), start=1):
        counts: dict[str, dict[str, int]] = {}
        for direction, per_class in counter.counts.items():
            for name, n in per_class.items():
                counts.setdefault(name, dict.fromkeys(keys.values(), 0))[keys[direction]] += n
        lines.append(LineCount(f"line{i}", options.lines[i - 1], dict(sorted(counts.items()))))
    return CountResult(
        source=source,
        frames=index,
        analysed=analysed,
        cpu_s=time.process_time() - cpu0,
        model=model_name,
        lines=lines,
        width=width,
        height=height,
        crossings=crossings,
    )


# --- drawing ------------------------------------------------------------------------------------------------


def draw(
    image: npt.NDArray[np.uint8],
    tracks: Detections,
    lines: Sequence[LineCount],
    totals: Sequence[dict[str, int]],
) -> npt.NDArray[np.uint8]:
    """Return a copy of the frame with boxes, track ids, the lines and each line's running total."""
    out = image.copy()
    ids = tracks.track_id.tolist() if tracks.track_id is not None else [None] * len(tracks)
    for box, name, track_id in zip(tracks.xyxy.astype(int), tracks.class_names, ids, strict=True):
        colour = CLASS_COLOURS.get(name, OTHER_COLOUR)
        cv2.rectangle(out, (int(box[0]), int(box[1])), (int(box[2]), int(box[3])), colour, 2)
        label = f"{name} {track_id}" if track_id is not None else name
        cv2.putText(out, label, (int(box[0]), max(10, int(box[1]) - 3)), 0, 0.4, colour, 1, cv2.LINE_AA)
    for i, (line, total) in enumerate(zip(lines, totals, strict=True)):
        (x1, y1), (x2, y2) = line.points
        cv2.line(out, (round(x1), round(y1)), (round(x2), round(y2)), (0, 255, 255), 2)
        text = f"{line.id}: " + ", ".join(f"{k} {v}" for k, v in sorted(total.items())) if total else line.id
        cv2.putText(out, text, (8, 20 + 18 * i), 0, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, text, (8, 20 + 18 * i), 0, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def contact_sheet(
    shots: Sequence[tuple[npt.NDArray[np.uint8], str]], columns: int = 6, cell: int = 160
) -> npt.NDArray[np.uint8]:
    """Return one image of the crossings' crops in a grid, each labelled."""
    if not shots:
        blank = np.full((cell, cell * 2, 3), 255, np.uint8)
        cv2.putText(blank, "0", (cell - 10, cell // 2), 0, 1.0, (0, 0, 0), 2)
        return blank
    rows = math.ceil(len(shots) / columns)
    sheet = np.full((rows * (cell + 18), columns * cell, 3), 255, np.uint8)
    for k, (crop, label) in enumerate(shots):
        r, c = divmod(k, columns)
        h, w = crop.shape[:2]
        scale = cell / max(h, w, 1)
        small = cv2.resize(crop, (max(1, round(w * scale)), max(1, round(h * scale))))
        y, x = r * (cell + 18), c * cell
        sheet[y : y + small.shape[0], x : x + small.shape[1]] = small
        cv2.putText(sheet, label[:24], (x + 2, y + cell + 13), 0, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return sheet


def crop_around(
    image: npt.NDArray[np.uint8], box: Sequence[float], margin: float = 0.3
) -> npt.NDArray[np.uint8]:
    """Return the part of the frame around a box, with a margin."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    a, b = max(0, int(x1 - mx)), max(0, int(y1 - my))
    c, d = min(width, int(x2 + mx) + 1), min(height, int(y2 + my) + 1)
    return image[b:d, a:c].copy() if c > a and d > b else image.copy()


__all__ = ["CountOptions", "CountResult", "IocError", "count_video", "parse_line"]
