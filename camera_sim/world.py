"""Where every simulated object is in every frame: the motion model, computed once per ``SceneSpec``.

``build_world(spec)`` turns a spec into a ``World``: a list of ``Agent``s, each with its ground anchor
(bottom-centre, image pixels) for each frame of its life. Everything random draws from generators seeded by
the spec's seed and the lane or crowd index, so a spec always gives the same world, and editing one lane
leaves the others unchanged. Vehicles follow the vehicle ahead in their lane (those with overlapping lateral
positions; two motorbikes can ride side by side), parked vehicles are passed, and the scene starts with
traffic already on the road (the motion is run from a warm-up before frame 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from camera_sim.scene import ClassName, Lane, SceneSpec

# Apparent size (width, height) in metres as a pole camera sees each class: vehicles show roof and one end,
# so their height in the image is more than their real height (a bus is "long").
CLASS_SIZE_M: dict[str, tuple[float, float]] = {
    "car": (1.8, 2.8),
    "motorcycle": (0.8, 2.0),
    "bus": (2.5, 6.0),
    "truck": (2.4, 5.0),
    "bicycle": (0.6, 1.9),
    "person": (0.5, 1.7),
}
LANE_WIDTH_M = 3.5
WARMUP_S = 40.0

_BODY_COLOURS: dict[str, list[tuple[int, int, int]]] = {  # BGR
    "car": [(235, 235, 235), (192, 192, 192), (40, 40, 40), (40, 40, 190), (150, 90, 30), (110, 110, 110)],
    "motorcycle": [(30, 30, 30), (40, 40, 170), (160, 100, 30), (200, 200, 200)],
    "bus": [(40, 200, 230), (60, 150, 60), (230, 230, 230), (60, 60, 200)],
    "truck": [(60, 80, 170), (150, 110, 40), (220, 220, 220), (40, 140, 40)],
    "bicycle": [(50, 50, 50), (30, 30, 140)],
    "person": [(60, 60, 60), (120, 60, 20), (40, 40, 40)],
}
_ACCENT_COLOURS: list[tuple[int, int, int]] = [  # shirts, helmets, truck boxes
    (200, 60, 40),
    (40, 40, 200),
    (230, 230, 230),
    (40, 160, 230),
    (60, 160, 60),
    (130, 60, 150),
    (30, 30, 30),
]


@dataclass(frozen=True)
class Agent:
    """One object's life in the clip: class, size, looks and its anchor per frame from ``first``."""

    track_id: int
    cls: str
    first: int
    xs: npt.NDArray[np.float64]
    ys: npt.NDArray[np.float64]
    size_m: tuple[float, float]
    colour: tuple[int, int, int]
    accent: tuple[int, int, int]
    towards_camera: bool

    @property
    def last(self) -> int:
        """Index of the agent's last frame."""
        return self.first + len(self.xs) - 1

    def anchor(self, index: int) -> tuple[float, float] | None:
        """Return the ground anchor at a frame, or None outside the agent's life."""
        k = index - self.first
        if k < 0 or k >= len(self.xs):
            return None
        return float(self.xs[k]), float(self.ys[k])

    def moving(self, index: int) -> bool:
        """Return whether the agent moved since the previous frame (for walking animation)."""
        k = index - self.first
        if k <= 0 or k >= len(self.xs):
            return False
        return bool(self.xs[k] != self.xs[k - 1] or self.ys[k] != self.ys[k - 1])


class World:
    """A spec's agents, indexed by frame for random access; ``World(spec)`` computes them."""

    def __init__(self, spec: SceneSpec, agents: tuple[Agent, ...] | None = None) -> None:
        self.spec = spec
        self.agents: tuple[Agent, ...] = agents if agents is not None else build_world(spec).agents

    def alive(self, index: int) -> list[Agent]:
        """Return the agents that exist at a frame (they may still be outside the image)."""
        return [a for a in self.agents if a.first <= index <= a.last]


@dataclass
class _Mover:
    """Mutable state of one vehicle or walker while the motion is integrated."""

    cls: str
    arrive: int
    speed_m_s: float
    size_m: tuple[float, float]
    lateral_m: float
    colour: tuple[int, int, int]
    accent: tuple[int, int, int]
    parked: bool = False
    stop_s: float = math.inf
    hold_frames: int = 0
    s: float = 0.0
    started: bool = False
    done: bool = False
    first: int | None = None
    xs: list[float] | None = None
    ys: list[float] | None = None

    def record(self, frame: int, x: float, y: float) -> None:
        if frame < 0:
            return
        if self.first is None:
            self.first, self.xs, self.ys = frame, [], []
        assert self.xs is not None and self.ys is not None
        self.xs.append(x)
        self.ys.append(y)


def build_world(spec: SceneSpec) -> World:
    """Compute every agent's anchor in every frame of the clip."""
    movers: list[tuple[_Mover, tuple[float, float]]] = []  # with their heading (dx, dy)
    for i, lane in enumerate(spec.lanes):
        movers.extend(_run_lane(spec, i, lane))
    walkers = _walkers(spec)
    movers.extend(walkers)
    agents: list[Agent] = []
    recorded = [(m, h) for m, h in movers if m.first is not None]
    recorded.sort(key=lambda mh: (mh[0].first, mh[0].arrive))
    for track_id, (m, heading) in enumerate(recorded, start=1):
        assert m.first is not None and m.xs is not None and m.ys is not None
        agents.append(
            Agent(
                track_id=track_id,
                cls=m.cls,
                first=m.first,
                xs=np.asarray(m.xs, np.float64).round(2),
                ys=np.asarray(m.ys, np.float64).round(2),
                size_m=m.size_m,
                colour=m.colour,
                accent=m.accent,
                towards_camera=heading[1] > 0,
            )
        )
    return World(spec, tuple(agents))


def _pick(rng: np.random.Generator, options: list[tuple[int, int, int]]) -> tuple[int, int, int]:
    return options[int(rng.integers(len(options)))]


def _new_mover(
    rng: np.random.Generator, cls: str, arrive: int, speed_range: tuple[float, float], lateral_room_m: float
) -> _Mover:
    w, h = CLASS_SIZE_M[cls]
    k = float(rng.uniform(0.9, 1.1))
    size = (round(w * k, 3), round(h * k, 3))
    room = max(0.0, lateral_room_m / 2 - size[0] / 2)
    return _Mover(
        cls=cls,
        arrive=arrive,
        speed_m_s=float(rng.uniform(*speed_range)),
        size_m=size,
        lateral_m=float(rng.uniform(-room, room)),
        colour=_pick(rng, _BODY_COLOURS[cls]),
        accent=_pick(rng, _ACCENT_COLOURS),
    )


def _run_lane(spec: SceneSpec, lane_index: int, lane: Lane) -> list[tuple[_Mover, tuple[float, float]]]:
    """Generate a lane's arrivals and integrate car-following motion from the warm-up to the last frame."""
    rng = np.random.default_rng([spec.seed, 1, lane_index])
    fps = spec.fps
    warmup = round(WARMUP_S * fps)
    n = spec.n_frames
    classes = sorted(lane.mix)
    weights = np.array([lane.mix[c] for c in classes], np.float64)
    movers: list[_Mover] = []
    if lane.per_minute > 0 and weights.sum() > 0:
        weights /= weights.sum()
        t = -WARMUP_S
        while True:
            t += float(rng.exponential(60.0 / lane.per_minute))
            if t >= spec.duration_s:
                break
            cls = classes[int(rng.choice(len(classes), p=weights))]
            room = LANE_WIDTH_M if cls != "person" else 1.5
            movers.append(_new_mover(rng, cls, math.floor(t * fps), lane.speed_m_s, room))
    (x0, y0), (x1, y1) = lane.start, lane.end
    length = math.hypot(x1 - x0, y1 - y0)
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    nx, ny = -uy, ux  # lateral unit vector
    for p in spec.parked:
        if p.lane != lane_index:
            continue
        m = _new_mover(rng, p.cls, math.floor(p.arrive_s * fps), (p.speed_m_s, p.speed_m_s), 0.0)
        m.parked, m.lateral_m = True, 0.0
        m.stop_s = (p.stop_at[0] - x0) * ux + (p.stop_at[1] - y0) * uy
        m.hold_frames = max(1, round(p.stop_s * fps))
        movers.append(m)
    movers.sort(key=lambda m: m.arrive)

    for frame in range(-warmup, n):
        active = [m for m in movers if m.arrive <= frame and not m.done]
        for m in active:
            if not m.started:
                m.started, m.s = True, 0.0
                # Queue off-screen behind whoever is still near the lane's entry.
                m.s = min(0.0, _limit(spec, m, active, lane, ux, uy))
            elif m.hold_frames and m.parked and m.s >= m.stop_s:
                m.s = m.stop_s
                m.hold_frames -= 1
            else:
                y = y0 + uy * m.s
                step = m.speed_m_s * spec.px_per_m(y) / fps
                target = m.s + step
                if m.parked and m.hold_frames and target >= m.stop_s:
                    target = m.stop_s
                m.s = min(target, _limit(spec, m, active, lane, ux, uy))
            if m.s > length:
                m.done = True
                continue
            off = m.lateral_m * spec.px_per_m(y0 + uy * m.s)
            m.record(frame, x0 + ux * m.s + nx * off, y0 + uy * m.s + ny * off)
    return [(m, (ux, uy)) for m in movers]


def _limit(spec: SceneSpec, m: _Mover, active: list[_Mover], lane: Lane, ux: float, uy: float) -> float:
    """Return the furthest path position ``m`` may take without running into a vehicle ahead of it."""
    limit = math.inf
    y0 = lane.start[1]
    for other in active:
        if other is m or not other.started or other.parked or other.s <= m.s:
            continue
        if abs(other.lateral_m - m.lateral_m) >= (other.size_m[0] + m.size_m[0]) / 2:
            continue
        scale = spec.px_per_m(y0 + uy * other.s)
        # Going down the image, the leader's box sits above its anchor; going up, ours sits above our anchor.
        extent = other.size_m[1] if uy > 0 else m.size_m[1]
        gap = (abs(uy) * extent + 1.0) * scale
        limit = min(limit, other.s - gap)
    return limit


def _walkers(spec: SceneSpec) -> list[tuple[_Mover, tuple[float, float]]]:
    """Plaza walkers crossing between random edges, and crowds that gather in a polygon then disperse."""
    out: list[tuple[_Mover, tuple[float, float]]] = []
    fps, n = spec.fps, spec.n_frames
    if spec.walkers_per_minute > 0:
        rng = np.random.default_rng([spec.seed, 2])
        t = -WARMUP_S / 2
        while True:
            t += float(rng.exponential(60.0 / spec.walkers_per_minute))
            if t >= spec.duration_s:
                break
            m = _new_mover(rng, "person", math.floor(t * fps), (1.0, 1.6), 0.0)
            a, b = _edge_point(spec, rng), _edge_point(spec, rng)
            out.append((m, _walk(spec, m, a, [(b, -1)], n)))
    for ci, crowd in enumerate(spec.crowds):
        rng = np.random.default_rng([spec.seed, 3, ci])
        for _ in range(crowd.size):
            arrive_t = float(rng.uniform(*crowd.gather_s))
            leave = math.floor(float(rng.uniform(*crowd.disperse_s)) * fps)
            m = _new_mover(rng, "person", 0, crowd.speed_m_s, 0.0)
            start = _edge_point(spec, rng)
            inside = _point_in_polygon(rng, crowd.target)
            travel = math.hypot(inside[0] - start[0], inside[1] - start[1]) / (
                m.speed_m_s * spec.px_per_m((start[1] + inside[1]) / 2)
            )
            m.arrive = math.floor((arrive_t - travel) * fps)
            out.append((m, _walk(spec, m, start, [(inside, leave), (_edge_point(spec, rng), -1)], n)))
    return out


def _walk(
    spec: SceneSpec,
    m: _Mover,
    start: tuple[float, float],
    legs: list[tuple[tuple[float, float], int]],
    n: int,
) -> tuple[float, float]:
    """Walk ``m`` from ``start`` through each leg's point, holding there until the leg's frame (-1: none)."""
    x, y = start
    frame = m.arrive
    heading = (0.0, 0.0)
    for (tx, ty), hold_until in legs:
        while frame < n:
            m.record(frame, x, y)
            frame += 1
            dx, dy = tx - x, ty - y
            dist = math.hypot(dx, dy)
            step = m.speed_m_s * spec.px_per_m(y) / spec.fps
            if dist <= step:
                x, y = tx, ty
                break
            x, y = x + dx / dist * step, y + dy / dist * step
            heading = (dx / dist, dy / dist)
        while frame < min(hold_until, n):
            m.record(frame, x, y)
            frame += 1
    if frame < n:
        m.record(frame, x, y)
    return heading


def _edge_point(spec: SceneSpec, rng: np.random.Generator) -> tuple[float, float]:
    """Return a point just outside the left, right or bottom edge, or on the far (top) part of the plaza."""
    w, h = spec.width, spec.height
    side = int(rng.integers(4))
    if side == 0:
        return -20.0, float(rng.uniform(0.25 * h, h))
    if side == 1:
        return w + 20.0, float(rng.uniform(0.25 * h, h))
    if side == 2:
        return float(rng.uniform(0, w)), h + 150.0
    return float(rng.uniform(0.1 * w, 0.9 * w)), 0.2 * h


def _point_in_polygon(rng: np.random.Generator, polygon: list[tuple[float, float]]) -> tuple[float, float]:
    """Return a uniformly drawn point inside a polygon (rejection sampling in its bounding box)."""
    pts = np.asarray(polygon, np.float64)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    for _ in range(1000):
        x, y = float(rng.uniform(lo[0], hi[0])), float(rng.uniform(lo[1], hi[1]))
        if _inside(pts, x, y):
            return x, y
    return float(pts[:, 0].mean()), float(pts[:, 1].mean())


def _inside(pts: npt.NDArray[np.float64], x: float, y: float) -> bool:
    """Even-odd rule point-in-polygon test."""
    inside = False
    j = len(pts) - 1
    for i in range(len(pts)):
        xi, yi = pts[i]
        xj, yj = pts[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


__all__ = ["CLASS_SIZE_M", "Agent", "ClassName", "World", "build_world"]
