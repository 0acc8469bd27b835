"""Drawing simulated frames with OpenCV: a background drawn once per scene, objects drawn per frame.

Objects are drawn far to near (by anchor row), so nearer ones occlude farther ones as in a real picture. Night
darkens the scene and adds headlights (towards the camera) and tail lights (away); rain lowers contrast and
adds streaks. Every picture carries its frame index in the bottom-left strip (``camera_sim.stamp``).

``Renderer.frame(i)`` applies the camera faults: a frozen camera repeats the picture of the freeze's first
frame, a black one sends zeros, a dropped one sends nothing (None).
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
import numpy.typing as npt

from camera_sim.scene import SceneSpec
from camera_sim.stamp import read_frame_index, stamp_frame_index
from camera_sim.truth import frame_fault, full_box
from camera_sim.world import Agent, World, build_world

logger = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]
BGR = tuple[int, int, int]

__all__ = ["Renderer", "read_frame_index", "stamp_frame_index"]

_RAIN_LAYERS = 6


class Renderer:
    """Renders the frames of one scene; the background and rain layers are drawn once."""

    def __init__(self, spec: SceneSpec, world: World | None = None) -> None:
        self.spec = spec
        self.world = world if world is not None else build_world(spec)
        self._night = spec.variant == "night"
        self._dim = 0.3 if self._night else 1.0
        self._background = _background(spec)
        self._rain = _rain_layers(spec) if spec.variant == "rain" else []
        self._cached: tuple[int, Image] | None = None

    def picture(self, index: int) -> Image:
        """Return the scene at a frame as the camera sees it without faults, index stamped."""
        if self._cached is not None and self._cached[0] == index:
            return self._cached[1].copy()
        spec = self.spec
        img = self._background.copy()
        light = np.zeros_like(img) if self._night else None
        agents = [(a, a.anchor(index)) for a in self.world.alive(index)]
        for agent, anchor in sorted(agents, key=lambda aa: (aa[1][1] if aa[1] else 0.0, aa[0].track_id)):
            assert anchor is not None
            box = full_box(spec, agent.size_m, anchor)
            if box[2] < 0 or box[0] > spec.width or box[3] < 0 or box[1] > spec.height:
                continue
            _draw_agent(img, light, agent, box, index, self._dim)
        if light is not None:
            cv2.add(img, light, dst=img)
        if self._rain:
            img = np.asarray(cv2.convertScaleAbs(img, alpha=0.65, beta=45), np.uint8)
            cv2.add(img, self._rain[index % len(self._rain)], dst=img)
        _osd(img, spec, index)
        stamp_frame_index(img, index)
        self._cached = (index, img.copy())
        return img

    def frame(self, index: int) -> Image | None:
        """Return what the camera sends at a frame: the picture, a repeated or black one, or None (drop)."""
        fault, shows = frame_fault(self.spec, index)
        if fault == "drop":
            return None
        if fault == "black" or shows is None:
            return np.zeros((self.spec.height, self.spec.width, 3), np.uint8)
        return self.picture(shows)


def _scale(colour: BGR, k: float) -> BGR:
    return (int(colour[0] * k), int(colour[1] * k), int(colour[2] * k))


def _rect(img: Image, x1: float, y1: float, x2: float, y2: float, colour: BGR) -> None:
    cv2.rectangle(img, (round(x1), round(y1)), (round(x2), round(y2)), colour, -1)


def _draw_agent(
    img: Image,
    light: Image | None,
    agent: Agent,
    box: tuple[float, float, float, float],
    index: int,
    dim: float,
) -> None:
    """Draw one object filling its box; ``dim`` darkens body colours at night."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    body, accent = _scale(agent.colour, dim), _scale(agent.accent, dim)
    dark = _scale((25, 25, 25), dim)
    glass = _scale((90, 70, 50), dim)
    cls = agent.cls
    towards = agent.towards_camera
    if cls == "car":
        _rect(img, x1, y1 + 0.45 * h, x2, y2 - 0.1 * h, body)
        _rect(img, x1 + 0.1 * w, y1, x2 - 0.1 * w, y1 + 0.5 * h, _scale(body, 0.85))
        g0, g1 = (y1 + 0.3 * h, y1 + 0.48 * h) if towards else (y1 + 0.04 * h, y1 + 0.2 * h)
        _rect(img, x1 + 0.16 * w, g0, x2 - 0.16 * w, g1, glass)
        _rect(img, x1, y2 - 0.12 * h, x1 + 0.2 * w, y2, dark)
        _rect(img, x2 - 0.2 * w, y2 - 0.12 * h, x2, y2, dark)
        _lights(img, light, x1, x2, y2 - 0.25 * h, w, towards, pair=True)
    elif cls in ("bus", "truck"):
        if cls == "bus":
            _rect(img, x1, y1, x2, y2 - 0.05 * h, body)
            for k in range(5):
                wy = y1 + (0.08 + 0.16 * k) * h
                _rect(img, x1 + 0.08 * w, wy, x2 - 0.08 * w, wy + 0.1 * h, glass)
            _rect(img, x1, y1 + 0.86 * h, x2, y1 + 0.9 * h, accent)
        else:
            cab = (y2 - 0.38 * h, y2 - 0.05 * h) if towards else (y1, y1 + 0.3 * h)
            box_rows = (y1, y2 - 0.38 * h) if towards else (y1 + 0.3 * h, y2 - 0.05 * h)
            _rect(img, x1, box_rows[0], x2, box_rows[1], _scale((205, 205, 200), dim))
            cv2.rectangle(
                img,
                (round(x1), round(box_rows[0])),
                (round(x2), round(box_rows[1])),
                accent,
                max(1, round(w / 25)),
            )
            _rect(img, x1 + 0.04 * w, cab[0], x2 - 0.04 * w, cab[1], body)
            _rect(img, x1 + 0.14 * w, cab[0] + 0.04 * h, x2 - 0.14 * w, cab[0] + 0.14 * h, glass)
        _rect(img, x1, y2 - 0.06 * h, x1 + 0.18 * w, y2, dark)
        _rect(img, x2 - 0.18 * w, y2 - 0.06 * h, x2, y2, dark)
        _lights(img, light, x1, x2, y2 - 0.1 * h, w, towards, pair=True)
    elif cls in ("motorcycle", "bicycle"):
        cx = (x1 + x2) / 2
        wheel_w = 0.18 * w if cls == "bicycle" else 0.3 * w
        _rect(
            img, cx - wheel_w / 2, y2 - 0.42 * h, cx + wheel_w / 2, y2, body if cls == "motorcycle" else dark
        )
        cv2.line(
            img,
            (round(x1), round(y2 - 0.5 * h)),
            (round(x2), round(y2 - 0.5 * h)),
            dark,
            max(1, round(w / 12)),
        )
        _rect(img, cx - 0.32 * w, y1 + 0.2 * h, cx + 0.32 * w, y2 - 0.4 * h, accent)  # rider's shirt
        head = (round(cx), round(y1 + 0.1 * h))
        radius = max(1, round(min(0.22 * w, 0.1 * h)))
        if cls == "motorcycle":
            cv2.circle(img, head, radius, _scale(agent.colour, dim * 0.9 + 0.1), -1)  # helmet
        else:  # conical hat (nón lá)
            cv2.circle(img, head, max(1, radius - 1), _scale((90, 130, 170), dim), -1)
            hat = np.array([[cx - 0.5 * w, y1 + 0.12 * h], [cx + 0.5 * w, y1 + 0.12 * h], [cx, y1]], np.int32)
            cv2.fillConvexPoly(img, hat, _scale((150, 200, 220), dim))
        if cls == "motorcycle":
            _lights(img, light, cx - 0.1 * w, cx + 0.1 * w, y2 - 0.45 * h, w, towards, pair=False)
    else:  # person
        cx = (x1 + x2) / 2
        cv2.circle(
            img, (round(cx), round(y1 + 0.09 * h)), max(1, round(0.09 * h)), _scale((90, 130, 170), dim), -1
        )
        _rect(img, x1 + 0.1 * w, y1 + 0.18 * h, x2 - 0.1 * w, y1 + 0.55 * h, accent)
        stride = 0.25 * w if agent.moving(index) and (index + agent.track_id) % 4 < 2 else 0.1 * w
        thick = max(1, round(w / 5))
        legs = _scale(agent.colour, dim)
        cv2.line(
            img, (round(cx - 0.1 * w), round(y1 + 0.55 * h)), (round(cx - stride), round(y2)), legs, thick
        )
        cv2.line(
            img, (round(cx + 0.1 * w), round(y1 + 0.55 * h)), (round(cx + stride), round(y2)), legs, thick
        )


def _lights(
    img: Image, light: Image | None, x1: float, x2: float, y: float, w: float, towards: bool, *, pair: bool
) -> None:
    """Draw head or tail lights; at night also a light cone ahead of vehicles coming towards the camera."""
    if light is None and not towards:
        return
    r = max(1, round(w / (12 if pair else 6)))
    lamp: BGR = (220, 250, 255) if towards else (40, 40, 230)
    xs = [x1 + 0.15 * (x2 - x1), x2 - 0.15 * (x2 - x1)] if pair else [(x1 + x2) / 2]
    if light is None:
        for x in xs:
            cv2.circle(img, (round(x), round(y)), r, (200, 220, 230), -1)
        return
    for x in xs:
        cv2.circle(img, (round(x), round(y)), r + 1, lamp, -1)
    if towards:
        reach = 2.5 * w
        cone = np.array([[x1, y], [x2, y], [x2 + 0.6 * w, y + reach], [x1 - 0.6 * w, y + reach]], np.int32)
        cv2.fillConvexPoly(light, cone, (45, 55, 60))


def _osd(img: Image, spec: SceneSpec, index: int) -> None:
    """Write the camera name and clip time in the top-left corner, as camera firmware does."""
    t = index / spec.fps
    text = f"{spec.name}  {int(t // 3600):02d}:{int(t // 60) % 60:02d}:{t % 60:04.1f}"
    scale = spec.width / 1600
    org = (round(spec.width * 0.015), round(spec.height * 0.05))
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def _background(spec: SceneSpec) -> Image:
    """Draw the static scene (road or plaza) in the spec's lighting."""
    img = _road(spec) if spec.kind == "road" else _plaza(spec)
    rng = np.random.default_rng([spec.seed, 9])
    grain = rng.normal(0, 4, img.shape[:2]).astype(np.int16)[:, :, None]
    img = np.clip(img.astype(np.int16) + grain, 0, 255).astype(np.uint8)
    if spec.variant == "night":
        img = np.asarray(cv2.convertScaleAbs(img, alpha=0.25, beta=4), np.uint8)
        _street_lights(img, spec)
    img.setflags(write=False)
    return img


def _road(spec: SceneSpec) -> Image:
    w, h = spec.width, spec.height
    img = np.full((h, w, 3), (70, 110, 85), np.uint8)  # verges
    cx = w / 2
    top, bottom = -0.08 * h, 1.08 * h

    def quad(t0: float, b0: float, t1: float, b1: float) -> npt.NDArray[np.int32]:
        return np.array(
            [[cx + t0 * w, top], [cx + t1 * w, top], [cx + b1 * w, bottom], [cx + b0 * w, bottom]], np.int32
        )

    cv2.fillConvexPoly(img, quad(-0.13, -0.6, 0.13, 0.6), (165, 170, 172))  # pavements
    cv2.fillConvexPoly(img, quad(-0.08, -0.44, 0.08, 0.44), (88, 88, 90))  # asphalt
    for edge in (-0.08, 0.08):
        b = edge / 0.08 * 0.44
        cv2.line(img, _at(cx, w, top, edge), _at(cx, w, bottom, b), (230, 230, 230), max(2, w // 320))
    for off in (-0.003, 0.003):  # double yellow centre line
        cv2.line(img, _at(cx, w, top, off), _at(cx, w, bottom, off * 12), (40, 200, 230), max(2, w // 400))
    for t_off, b_off in ((-0.04, -0.225), (0.04, 0.225)):  # dashed lane dividers, longer near the camera
        y = top
        dash = 0
        while y < bottom:
            f = (y - top) / (bottom - top)
            length = (0.02 + 0.1 * f) * h
            if dash % 2 == 0:
                ya, yb = y, min(y + length, bottom)
                xa = cx + (t_off + (b_off - t_off) * (ya - top) / (bottom - top)) * w
                xb = cx + (t_off + (b_off - t_off) * (yb - top) / (bottom - top)) * w
                cv2.line(
                    img, (round(xa), round(ya)), (round(xb), round(yb)), (220, 220, 220), max(2, w // 400)
                )
            y += length
            dash += 1
    for side in (-1, 1):  # shop houses at the far end
        for k in range(3):
            x0 = cx + side * (0.2 + 0.12 * k) * w
            bw, bh = 0.1 * w, (0.12 + 0.05 * ((k + spec.seed) % 3)) * h
            colour = [(170, 200, 225), (150, 170, 190), (200, 190, 160)][(k + spec.seed) % 3]
            xa, xb = sorted((x0, x0 + side * bw))
            _rect(img, xa, 0, xb, bh, colour)
            for wy in range(2):
                _rect(
                    img,
                    xa + 0.2 * bw,
                    (0.2 + 0.35 * wy) * bh,
                    xb - 0.2 * bw,
                    (0.4 + 0.35 * wy) * bh,
                    (80, 70, 60),
                )
    return img


def _at(cx: float, w: int, y: float, off: float) -> tuple[int, int]:
    return round(cx + off * w), round(y)


def _plaza(spec: SceneSpec) -> Image:
    w, h = spec.width, spec.height
    img = np.full((h, w, 3), (175, 190, 200), np.uint8)  # paving
    _rect(img, 0, 0, w, 0.16 * h, (120, 150, 130))  # far-side trees and buildings
    for k in range(8):
        cv2.circle(img, (round((k + 0.5) * w / 8), round(0.12 * h)), round(0.05 * h), (60, 110, 70), -1)
    row = 0.16 * h
    while row < h:  # tile joints, wider apart near the camera
        cv2.line(img, (0, round(row)), (w, round(row)), (150, 165, 175), 1)
        row += 0.7 * spec.px_per_m(row)
    vx, vy = w / 2, -0.6 * h
    for k in range(-12, 13):
        xb = w / 2 + k * w / 12
        x_top = vx + (xb - vx) * (0.16 * h - vy) / (h - vy)
        cv2.line(img, (round(x_top), round(0.16 * h)), (round(xb), h), (150, 165, 175), 1)
    for fx, fy in ((0.12, 0.45), (0.88, 0.45), (0.15, 0.85), (0.85, 0.85)):  # planters
        r = round(0.8 * spec.px_per_m(fy * h))
        cv2.circle(img, (round(fx * w), round(fy * h)), r, (90, 100, 110), -1)
        cv2.circle(img, (round(fx * w), round(fy * h)), round(r * 0.8), (50, 120, 60), -1)
    return img


def _street_lights(img: Image, spec: SceneSpec) -> None:
    """Warm pools of light on the ground under street lamps."""
    overlay = np.zeros_like(img)
    for fx, fy in ((0.2, 0.35), (0.8, 0.35), (0.12, 0.75), (0.88, 0.75)):
        centre = (round(fx * spec.width), round(fy * spec.height))
        axes = (round(0.12 * spec.width), round(0.06 * spec.height))
        cv2.ellipse(overlay, centre, axes, 0, 0, 360, (30, 60, 80), -1)
    overlay = np.asarray(cv2.GaussianBlur(overlay, (0, 0), spec.width / 60), np.uint8)
    cv2.add(img, overlay, dst=img)


def _rain_layers(spec: SceneSpec) -> list[Image]:
    """Pre-draw a few layers of rain streaks; frames cycle through them."""
    rng = np.random.default_rng([spec.seed, 10])
    layers = []
    n = spec.width * spec.height // 2500
    for _ in range(_RAIN_LAYERS):
        layer = np.zeros((spec.height, spec.width, 3), np.uint8)
        xs = rng.uniform(0, spec.width, n)
        ys = rng.uniform(0, spec.height, n)
        lengths = rng.uniform(0.015, 0.04, n) * spec.height
        for x, y, length in zip(xs, ys, lengths, strict=True):
            cv2.line(
                layer, (round(x), round(y)), (round(x - 0.25 * length), round(y + length)), (70, 70, 70), 1
            )
        layers.append(layer)
    return layers
