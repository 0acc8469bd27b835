"""Exact ground truth of a simulated clip: boxes, line crossings and zone occupancy per frame, and their
totals.

Boxes
    ``[x1, y1, x2, y2]`` in image pixels, rounded to 0.01, clipped to the image. An object whose box lies
    fully outside the image is not in the truth. Occluded objects stay in the truth with the part of their box
    inside the image (occlusion is a detector's problem, not the world's).

Anchor
    The bottom-centre of the (clipped) box, ``((x1 + x2) / 2, y2)``, as ``Detections.anchors()`` computes it.

Line sides (the convention counters must follow)
    For a line with ``points = (P0, P1)`` and an anchor ``A``, all in image pixels (origin top-left, y down),
    let ``cross = (P1.x - P0.x) * (A.y - P0.y) - (P1.y - P0.y) * (A.x - P0.x)``. ``cross < 0`` is the **left**
    side, ``cross > 0`` the **right** side, ``cross == 0`` on the line. "Left" is the viewer's left when
    standing on ``P0`` and looking at ``P1`` on the screen: for a line drawn left to right (P0.x < P1.x), left
    is *up* the image (smaller y); for a line drawn top to bottom (P0.y < P1.y), left is the image's *right*
    (larger x). ``side_of`` computes it. (supervision 0.31's ``LineZone(start=P0, end=P1)`` counts ``in`` on a
    move to ``cross < 0``, our left side: use it as is for ``in_side: left`` and swap the points for
    ``right``.)

Crossings
    A track crosses a line in frame ``i`` when its anchor is strictly on one side at its last frame off the
    line and strictly on the other side in frame ``i``, and the straight move between those two anchors meets
    the line *segment* (not its extension beyond the end points). Frames with the anchor exactly on the line
    keep the previous side, so a vehicle that parks with its anchor on the line counts once, when it finally
    leaves to the other side, and never if it drives back. Direction is ``in`` when the new side is the line's
    ``in_side``, else ``out``. A track's first frame never counts (it has no previous side).

Zones
    An object occupies a zone when its anchor is inside the polygon or on its edge; occupancy is counted per
    class (only classes present are listed). The zone's ``classes`` filter is not applied: counters apply it.

The truth describes the world, not the stream: objects move and cross during ``freeze``, ``black`` and
``drop`` faults as they would in reality; each frame record says which fault the camera showed and, for
``freeze``, which frame's picture was shown.

File format (JSON Lines, ``<name>.truth.jsonl``)
    First line, the header::

        {"type": "header", "version": 1, "spec": {...SceneSpec...}, "frames": n, "fps": f,
         "side_convention": "..."}

    then one line per frame index ``i`` (0..n-1)::

        {"type": "frame", "index": i, "t": seconds, "fault": null|"freeze"|"black"|"drop"|"corrupt",
         "shows": index of the picture shown or null,
         "objects": [{"id": 3, "cls": "car", "box": [x1, y1, x2, y2]}, ...],
         "crossings": [{"line": "main", "id": 3, "cls": "car", "dir": "in"}, ...],
         "zones": {"stage": {"person": 12}}}

    and last the totals over the whole clip::

        {"type": "totals", "lines": {"main": {"car": {"in": 4, "out": 6}, ...}}, "frames_written": k}
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from camera_sim.errors import SimulatorError
from camera_sim.scene import SceneSpec
from camera_sim.world import World

logger = logging.getLogger(__name__)

TRUTH_VERSION = 1
SIDE_CONVENTION = (
    "cross = (P1.x-P0.x)*(A.y-P0.y) - (P1.y-P0.y)*(A.x-P0.x) in image pixels (y down); cross<0 is left, "
    "cross>0 right, 0 on the line (keeps the previous side); a crossing needs a strict side change whose "
    "move meets the segment; dir is 'in' when the new side equals in_side"
)

Side = Literal[-1, 0, 1]
LEFT: Side = -1
RIGHT: Side = 1


def side_of(points: tuple[tuple[float, float], tuple[float, float]], anchor: tuple[float, float]) -> Side:
    """Return -1 (left), 1 (right) or 0 (on the line) for an anchor, looking from points[0] to points[1]."""
    (x0, y0), (x1, y1) = points
    cross = (x1 - x0) * (anchor[1] - y0) - (y1 - y0) * (anchor[0] - x0)
    return -1 if cross < 0 else 1 if cross > 0 else 0


def meets_segment(
    points: tuple[tuple[float, float], tuple[float, float]], a: tuple[float, float], b: tuple[float, float]
) -> bool:
    """Return whether the move from ``a`` to ``b`` (on opposite sides) meets the segment."""
    (x0, y0), (x1, y1) = points
    dx, dy = x1 - x0, y1 - y0
    ex, ey = b[0] - a[0], b[1] - a[1]
    denom = dx * ey - dy * ex
    if denom == 0:
        return False
    # Solve P0 + u * (P1 - P0) = a + v * (b - a) for u, the position along the line.
    u = ((a[0] - x0) * ey - (a[1] - y0) * ex) / denom
    return 0.0 <= u <= 1.0


@dataclass(frozen=True)
class TruthObject:
    """One object visible in a frame."""

    track_id: int
    cls: str
    box: tuple[float, float, float, float]

    @property
    def anchor(self) -> tuple[float, float]:
        """Bottom-centre of the box."""
        return (self.box[0] + self.box[2]) / 2, self.box[3]


@dataclass(frozen=True)
class Crossing:
    """One track crossing one counting line."""

    line_id: str
    track_id: int
    cls: str
    direction: Literal["in", "out"]


@dataclass(frozen=True)
class FrameTruth:
    """Everything true about one frame of the scene."""

    index: int
    t: float
    fault: str | None
    shows: int | None
    objects: tuple[TruthObject, ...]
    crossings: tuple[Crossing, ...]
    zones: dict[str, dict[str, int]]

    def to_json(self) -> dict[str, Any]:
        """Return the frame's JSON Lines record."""
        return {
            "type": "frame",
            "index": self.index,
            "t": round(self.t, 4),
            "fault": self.fault,
            "shows": self.shows,
            "objects": [{"id": o.track_id, "cls": o.cls, "box": list(o.box)} for o in self.objects],
            "crossings": [
                {"line": c.line_id, "id": c.track_id, "cls": c.cls, "dir": c.direction}
                for c in self.crossings
            ],
            "zones": self.zones,
        }

    @classmethod
    def from_json(cls, rec: dict[str, Any]) -> FrameTruth:
        """Parse a frame record."""
        return cls(
            index=int(rec["index"]),
            t=float(rec["t"]),
            fault=rec["fault"],
            shows=rec["shows"],
            objects=tuple(TruthObject(int(o["id"]), str(o["cls"]), tuple(o["box"])) for o in rec["objects"]),
            crossings=tuple(
                Crossing(str(c["line"]), int(c["id"]), str(c["cls"]), c["dir"]) for c in rec["crossings"]
            ),
            zones={z: {k: int(v) for k, v in counts.items()} for z, counts in rec["zones"].items()},
        )


Totals = dict[str, dict[str, dict[str, int]]]  # line id -> class -> "in"/"out" -> count


@dataclass(frozen=True)
class TruthSummary:
    """What a written clip holds: where, how many frames, and crossings per line, class and direction."""

    video_path: Path | None
    truth_path: Path
    frames: int
    frames_written: int
    totals: Totals = field(default_factory=dict)

    def count(self, line_id: str, direction: str, cls: str | None = None) -> int:
        """Return the number of crossings of a line in a direction, for one class or all."""
        per_cls = self.totals.get(line_id, {})
        return sum(d.get(direction, 0) for c, d in per_cls.items() if cls is None or c == cls)


def frame_objects(world: World, index: int) -> tuple[TruthObject, ...]:
    """Return the objects whose box reaches into the image at a frame, boxes clipped, nearest last."""
    spec = world.spec
    out: list[TruthObject] = []
    for agent in world.alive(index):
        anchor = agent.anchor(index)
        assert anchor is not None
        box = full_box(spec, agent.size_m, anchor)
        x1, y1 = max(box[0], 0.0), max(box[1], 0.0)
        x2, y2 = min(box[2], float(spec.width)), min(box[3], float(spec.height))
        if x2 - x1 < 1.0 or y2 - y1 < 1.0:
            continue
        out.append(
            TruthObject(agent.track_id, agent.cls, (round(x1, 2), round(y1, 2), round(x2, 2), round(y2, 2)))
        )
    out.sort(key=lambda o: (o.box[3], o.track_id))
    return tuple(out)


def full_box(
    spec: SceneSpec, size_m: tuple[float, float], anchor: tuple[float, float]
) -> tuple[float, float, float, float]:
    """Return an object's unclipped box from its size in metres and its anchor, scaled by perspective."""
    scale = spec.px_per_m(anchor[1])
    w, h = size_m[0] * scale, size_m[1] * scale
    return anchor[0] - w / 2, anchor[1] - h, anchor[0] + w / 2, anchor[1]


def zone_counts(spec: SceneSpec, objects: Iterable[TruthObject]) -> dict[str, dict[str, int]]:
    """Return, per zone, how many objects of each class have their anchor inside (edge included)."""
    import cv2  # only here: truth reading (the groundtruth detector) must not need OpenCV's video stack

    out: dict[str, dict[str, int]] = {}
    objs = list(objects)
    for zone in spec.zones:
        poly = np.asarray(zone.polygon, np.float32).reshape(-1, 1, 2)
        counts: dict[str, int] = {}
        for o in objs:
            if cv2.pointPolygonTest(poly, (float(o.anchor[0]), float(o.anchor[1])), False) >= 0:
                counts[o.cls] = counts.get(o.cls, 0) + 1
        out[zone.id] = dict(sorted(counts.items()))
    return out


def frame_fault(spec: SceneSpec, index: int) -> tuple[str | None, int | None]:
    """Return the fault shown at a frame and the index of the picture shown (None when no picture)."""
    t = index / spec.fps
    fault = spec.faults.at(t)
    if fault == "freeze":
        start = spec.faults.range_start("freeze", t)
        return fault, min(index, max(0, round(start * spec.fps)))
    if fault in ("black", "drop", "corrupt"):
        return fault, None
    return None, index


def iter_truth(world: World) -> Iterator[FrameTruth]:
    """Yield each frame's truth in order; crossings need the previous frames, so this is sequential."""
    spec = world.spec
    last_side: dict[tuple[str, int], tuple[Side, tuple[float, float]]] = {}
    for index in range(spec.n_frames):
        objects = frame_objects(world, index)
        crossings: list[Crossing] = []
        for line in spec.lines:
            for o in sorted(objects, key=lambda o: o.track_id):
                a = o.anchor
                side = side_of(line.points, a)
                if side == 0:
                    continue
                key = (line.id, o.track_id)
                prev = last_side.get(key)
                last_side[key] = (side, a)
                if prev is None or prev[0] == side or not meets_segment(line.points, prev[1], a):
                    continue
                new_side = "left" if side == LEFT else "right"
                crossings.append(
                    Crossing(line.id, o.track_id, o.cls, "in" if new_side == line.in_side else "out")
                )
        fault, shows = frame_fault(spec, index)
        yield FrameTruth(
            index=index,
            t=index / spec.fps,
            fault=fault,
            shows=shows,
            objects=objects,
            crossings=tuple(crossings),
            zones=zone_counts(spec, objects),
        )


def totals(frames: Iterable[FrameTruth]) -> Totals:
    """Return crossing counts per line, class and direction."""
    out: Totals = {}
    for ft in frames:
        for c in ft.crossings:
            per_dir = out.setdefault(c.line_id, {}).setdefault(c.cls, {"in": 0, "out": 0})
            per_dir[c.direction] += 1
    return out


def header(spec: SceneSpec) -> dict[str, Any]:
    """Return the truth file's first record."""
    return {
        "type": "header",
        "version": TRUTH_VERSION,
        "spec": spec.model_dump(mode="json"),
        "frames": spec.n_frames,
        "fps": spec.fps,
        "side_convention": SIDE_CONVENTION,
    }


def truth_path_for(video_path: Path) -> Path:
    """Return ``<name>.truth.jsonl`` next to ``<name>.<ext>``."""
    return video_path.with_name(video_path.stem + ".truth.jsonl")


class TruthWriter:
    """Writes a truth file record by record while frames are produced."""

    def __init__(self, path: Path, spec: SceneSpec) -> None:
        self.path = path
        self._file = path.open("w", encoding="utf-8")
        self._file.write(json.dumps(header(spec), ensure_ascii=False) + "\n")
        self._frames: list[FrameTruth] = []

    def add(self, ft: FrameTruth) -> None:
        """Append one frame's record."""
        self._file.write(json.dumps(ft.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n")
        self._frames.append(ft)

    def close(self, frames_written: int) -> Totals:
        """Write the totals record, close the file and return the totals."""
        tot = totals(self._frames)
        self._file.write(
            json.dumps({"type": "totals", "lines": tot, "frames_written": frames_written}) + "\n"
        )
        self._file.close()
        return tot


@dataclass(frozen=True)
class Truth:
    """A truth file read back: the spec, each frame's truth by index, and the totals."""

    spec: SceneSpec
    frames: tuple[FrameTruth, ...]
    totals: Totals
    frames_written: int

    def frame(self, index: int) -> FrameTruth:
        """Return the truth of one frame index; IndexError when the clip has no such frame."""
        if not 0 <= index < len(self.frames):
            raise IndexError(f"frame {index} is not in this clip (0..{len(self.frames) - 1})")
        return self.frames[index]


def load_truth(path: Path | str) -> Truth:
    """Read a truth file written by ``write_mp4`` or ``write_truth``."""
    path = Path(path)
    spec: SceneSpec | None = None
    frames: list[FrameTruth] = []
    tot: Totals = {}
    written = 0
    with path.open(encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                rec = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise SimulatorError(
                    f"{path}:{lineno}: not JSON ({exc}); the file is damaged, write it again"
                ) from exc
            kind = rec.get("type")
            if kind == "header":
                if rec.get("version") != TRUTH_VERSION:
                    raise SimulatorError(f"{path}: truth version {rec.get('version')} is not {TRUTH_VERSION}")
                spec = SceneSpec.model_validate(rec["spec"])
            elif kind == "frame":
                frames.append(FrameTruth.from_json(rec))
            elif kind == "totals":
                tot, written = rec["lines"], int(rec.get("frames_written", 0))
    if spec is None:
        raise SimulatorError(f"{path}: no header line; is this a camera_sim truth file?")
    frames.sort(key=lambda f: f.index)
    return Truth(spec=spec, frames=tuple(frames), totals=tot, frames_written=written)


def write_truth(world: World, path: Path) -> TruthSummary:
    """Write only the truth of a world (no video); useful for detector tests on rendered frames."""
    writer = TruthWriter(path, world.spec)
    n = 0
    for ft in iter_truth(world):
        writer.add(ft)
        n += ft.fault not in ("drop",)
    tot = writer.close(n)
    return TruthSummary(
        video_path=None, truth_path=path, frames=world.spec.n_frames, frames_written=n, totals=tot
    )
