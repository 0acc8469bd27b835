"""What a simulated camera looks at, as data: a ``SceneSpec`` fully determines every frame and its truth.

A spec is plain validated data (pydantic, frozen, ``extra="forbid"``) so it can be written into the header of
a truth file and read back. Counting lines and zones reuse the site config's own models (``CountingLine``,
``CameraZone``), so a spec's geometry can be pasted into ``cameras.yaml`` unchanged.

``road_scene`` and ``plaza_scene`` build sensible specs from a seed; tests override what they need.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from analytics.vision.types import COUNTED_CLASSES
from ioc.config.models import CameraZone, CountingLine

Point = tuple[float, float]
TimeRange = tuple[Annotated[float, Field(ge=0)], Annotated[float, Field(ge=0)]]
ClassName = Literal["car", "motorcycle", "bus", "truck", "bicycle", "person"]

# Motorbikes dominate Vietnamese roads.
VN_TRAFFIC_MIX: dict[ClassName, float] = {
    "motorcycle": 0.60,
    "car": 0.25,
    "truck": 0.07,
    "bus": 0.04,
    "bicycle": 0.04,
}


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Lane(_Spec):
    """A straight path objects travel along, from ``start`` to ``end`` (the direction of travel)."""

    name: str = Field(default="", max_length=64, title="lane name", description="e.g. northbound")
    start: Point = Field(title="entry point", description="image pixels; usually just outside the frame")
    end: Point = Field(title="exit point", description="image pixels; usually just outside the frame")
    speed_m_s: tuple[float, float] = Field(
        default=(6.0, 12.0), title="speed range (m/s)", description="each object draws a speed in this range"
    )
    per_minute: float = Field(default=12.0, ge=0, le=600, title="arrivals per minute (Poisson)")
    mix: dict[ClassName, float] = Field(
        default=VN_TRAFFIC_MIX, title="class mix", description="relative weights, normalised"
    )

    @model_validator(mode="after")
    def _valid(self) -> Lane:
        lo, hi = self.speed_m_s
        if not 0 < lo <= hi <= 40:
            raise ValueError(
                f"lane {self.name!r}: speed range {self.speed_m_s} must satisfy 0 < low <= high <= 40"
            )
        if self.start == self.end:
            raise ValueError(f"lane {self.name!r}: start and end are the same point")
        if self.per_minute > 0 and sum(self.mix.values()) <= 0:
            raise ValueError(f"lane {self.name!r}: the class mix has no positive weight")
        return self


class ParkedVehicle(_Spec):
    """A vehicle that drives along a lane, stops with its anchor near a counting line, then drives on."""

    lane: int = Field(ge=0, title="lane index")
    cls: ClassName = Field(default="car", title="class")
    arrive_s: float = Field(ge=0, title="when it enters the lane (s)")
    stop_at: Point = Field(
        title="where its anchor stops", description="a point on the lane; put it on the line to test counters"
    )
    stop_s: float = Field(gt=0, title="how long it stays (s)")
    speed_m_s: float = Field(default=6.0, gt=0, le=40, title="speed when moving (m/s)")


class Crowd(_Spec):
    """People who walk into ``target`` during ``gather_s``, stay, and walk away during ``disperse_s``."""

    target: list[Point] = Field(min_length=3, title="gathering polygon (image pixels)")
    size: int = Field(ge=1, le=500, title="people")
    gather_s: tuple[float, float] = Field(title="arrivals spread over this time range (s)")
    disperse_s: tuple[float, float] = Field(title="departures spread over this time range (s)")
    speed_m_s: tuple[float, float] = Field(default=(1.0, 1.6), title="walking speed range (m/s)")

    @model_validator(mode="after")
    def _ordered(self) -> Crowd:
        if not self.gather_s[0] <= self.gather_s[1] <= self.disperse_s[0] <= self.disperse_s[1]:
            raise ValueError("crowd: need gather start <= gather end <= disperse start <= disperse end")
        return self


class Faults(_Spec):
    """Time ranges (seconds of scene time, start inclusive, end exclusive) when the camera misbehaves."""

    freeze: list[TimeRange] = Field(default=[], title="the frame at the range start repeats")
    black: list[TimeRange] = Field(default=[], title="all-black frames")
    drop: list[TimeRange] = Field(
        default=[], title="no frames; the HTTP server closes and refuses connections"
    )
    corrupt: list[TimeRange] = Field(default=[], title="HTTP only: garbage bytes instead of a JPEG")

    def at(self, t: float) -> str | None:
        """Return the fault active at scene time ``t`` (drop wins over black over freeze), or None."""
        for name in ("drop", "black", "freeze", "corrupt"):
            if any(start <= t < end for start, end in getattr(self, name)):
                return name
        return None

    def range_start(self, name: str, t: float) -> float:
        """Return the start of the range of fault ``name`` that contains ``t``."""
        for start, end in getattr(self, name):
            if start <= t < end:
                return float(start)
        raise ValueError(f"no {name} range contains t={t}")


class SceneSpec(_Spec):
    """Everything that determines a simulated clip; the same spec always gives the same frames and truth."""

    name: str = Field(default="sim", pattern=r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$", title="camera id")
    kind: Literal["road", "plaza"] = Field(title="scene kind")
    width: int = Field(default=1280, ge=160, le=3840, title="width (px)")
    height: int = Field(default=720, ge=120, le=2160, title="height (px)")
    fps: float = Field(default=10.0, gt=0, le=60, title="frames per second")
    duration_s: float = Field(gt=0, le=24 * 3600, title="clip length (s)")
    seed: int = Field(ge=0, title="random seed")
    variant: Literal["day", "night", "rain"] = Field(default="day", title="lighting and weather")
    px_per_m_far: float = Field(default=12.0, gt=0, title="pixels per metre at the top row (perspective)")
    px_per_m_near: float = Field(default=60.0, gt=0, title="pixels per metre at the bottom row")
    lanes: list[Lane] = Field(default=[], max_length=32, title="lanes and footpaths")
    parked: list[ParkedVehicle] = Field(default=[], max_length=16, title="vehicles that stop for a while")
    crowds: list[Crowd] = Field(default=[], max_length=8, title="crowds that gather and disperse")
    walkers_per_minute: float = Field(
        default=0.0, ge=0, le=600, title="plaza walkers per minute", description="cross between random edges"
    )
    lines: list[CountingLine] = Field(default=[], max_length=32, title="counting lines")
    zones: list[CameraZone] = Field(default=[], max_length=32, title="zones")
    faults: Faults = Field(default=Faults(), title="faults")

    @model_validator(mode="after")
    def _consistent(self) -> SceneSpec:
        for i, p in enumerate(self.parked):
            if p.lane >= len(self.lanes):
                raise ValueError(f"parked[{i}] names lane {p.lane} but the scene has {len(self.lanes)} lanes")
        ids = [line.id for line in self.lines]
        if len(set(ids)) != len(ids):
            raise ValueError(f"line ids must be unique: {ids}")
        zone_ids = [z.id for z in self.zones]
        if len(set(zone_ids)) != len(zone_ids):
            raise ValueError(f"zone ids must be unique: {zone_ids}")
        return self

    @property
    def n_frames(self) -> int:
        """Number of frames in the clip."""
        return max(1, round(self.duration_s * self.fps))

    def px_per_m(self, y: float) -> float:
        """Return the image scale (pixels per metre) at image row ``y``; linear in ``y``, as from a pole."""
        f = min(max(y / self.height, 0.0), 1.0)
        return self.px_per_m_far + (self.px_per_m_near - self.px_per_m_far) * f


assert set(COUNTED_CLASSES) == set(get_args(ClassName))  # the simulator draws exactly the counted classes


def road_scene(
    seed: int,
    duration_s: float = 60.0,
    *,
    variant: Literal["day", "night", "rain"] = "day",
    width: int = 1280,
    height: int = 720,
    fps: float = 10.0,
    name: str = "sim-road",
    per_minute: float = 60.0,
    parked: bool = False,
    faults: Faults | None = None,
) -> SceneSpec:
    """Return a two-way road seen from a pole: four lanes (two each way), two footpaths, one counting line.

    The counting line ``main`` runs left to right across the road at 60 % of the height with ``in_side:
    left``, so vehicles moving up the image (away from the camera) count ``in`` and vehicles coming down count
    ``out``. With ``parked=True`` a car (entering lane 1 at 2 s) stops with its anchor exactly on the line
    for 20 s, then drives on: it must count once, ``out``.
    """
    w, h = float(width), float(height)
    cx = w / 2
    # Lanes converge towards a vanishing point above the frame; x offsets at the top and bottom rows.
    top_y, bottom_y = -0.08 * h, 1.08 * h
    offsets = [(-0.06, -0.33), (-0.02, -0.12), (0.02, 0.12), (0.06, 0.33)]  # (top, bottom) as fractions of w
    lanes: list[Lane] = []
    for i, (top, bottom) in enumerate(offsets):
        a, b = (cx + top * w, top_y), (cx + bottom * w, bottom_y)
        down = i < 2  # left lanes come towards the camera
        lanes.append(
            Lane(
                name=f"{'down' if down else 'up'}-{i}",
                start=a if down else b,
                end=b if down else a,
                speed_m_s=(4.0, 10.0),
                per_minute=per_minute / 4,
            )
        )
    for side in (-1, 1):
        a, b = (cx + side * 0.11 * w, top_y), (cx + side * 0.47 * w, bottom_y)
        lanes.append(
            Lane(
                name=f"footpath-{'left' if side < 0 else 'right'}",
                start=a if side < 0 else b,
                end=b if side < 0 else a,
                speed_m_s=(1.0, 1.6),
                per_minute=max(1.0, per_minute / 10),
                mix={"person": 1.0},
            )
        )
    line_y = round(0.6 * h)
    line = CountingLine(
        id="main",
        points=((round(0.08 * w), line_y), (round(0.92 * w), line_y)),
        in_side="left",
        in_label="đi lên",
        out_label="đi xuống",
    )
    lanes_x_at_line = [lane_x(lanes[1], line_y)]
    parked_list = (
        [
            ParkedVehicle(
                lane=1,
                cls="car",
                arrive_s=min(2.0, duration_s / 4),
                stop_at=(lanes_x_at_line[0], float(line_y)),
                stop_s=20.0,
            )
        ]
        if parked
        else []
    )
    zone = CameraZone(
        id="junction",
        name="Lòng đường",
        polygon=[
            (round(cx - 0.2 * w), round(0.35 * h)),
            (round(cx + 0.2 * w), round(0.35 * h)),
            (round(cx + 0.4 * w), round(0.95 * h)),
            (round(cx - 0.4 * w), round(0.95 * h)),
        ],
    )
    return SceneSpec(
        name=name,
        kind="road",
        width=width,
        height=height,
        fps=fps,
        duration_s=duration_s,
        seed=seed,
        variant=variant,
        lanes=lanes,
        parked=parked_list,
        lines=[line],
        zones=[zone],
        faults=faults or Faults(),
    )


def plaza_scene(
    seed: int,
    duration_s: float = 60.0,
    *,
    variant: Literal["day", "night", "rain"] = "day",
    width: int = 1280,
    height: int = 720,
    fps: float = 10.0,
    name: str = "sim-plaza",
    crowd_size: int = 40,
    walkers_per_minute: float = 20.0,
    faults: Faults | None = None,
) -> SceneSpec:
    """Return a town plaza: walkers crossing, a crowd that gathers in zone ``stage`` then disperses.

    Line ``entrance`` runs right to left across the lower quarter with ``in_side: left``: with points from
    right to left, the left side (looking along the line) is the lower part of the image, so walking down the
    image counts ``in`` (towards the camera, into the plaza's front) and walking up counts ``out``.
    """
    w, h = float(width), float(height)
    stage = [(0.35 * w, 0.35 * h), (0.65 * w, 0.35 * h), (0.7 * w, 0.6 * h), (0.3 * w, 0.6 * h)]
    stage_px = [(float(round(x)), float(round(y))) for x, y in stage]
    third = duration_s / 3
    crowd = Crowd(
        target=[(float(x), float(y)) for x, y in stage_px],
        size=crowd_size,
        gather_s=(0.05 * duration_s, third),
        disperse_s=(2 * third, 0.9 * duration_s),
    )
    line_y = round(0.78 * h)
    return SceneSpec(
        name=name,
        kind="plaza",
        width=width,
        height=height,
        fps=fps,
        duration_s=duration_s,
        seed=seed,
        variant=variant,
        px_per_m_far=25.0,
        px_per_m_near=70.0,
        crowds=[crowd],
        walkers_per_minute=walkers_per_minute,
        lines=[
            CountingLine(
                id="entrance",
                points=((round(0.95 * w), line_y), (round(0.05 * w), line_y)),
                in_side="left",
                in_label="vào quảng trường",
                out_label="ra",
            )
        ],
        zones=[CameraZone(id="stage", name="Sân khấu", polygon=stage_px, area_m2=150.0, classes=["person"])],
        faults=faults or Faults(),
    )


def lane_x(lane: Lane, y: float) -> float:
    """Return the x of a lane's centre line at image row ``y``."""
    (x0, y0), (x1, y1) = lane.start, lane.end
    if y1 == y0:
        return x0
    return x0 + (x1 - x0) * (y - y0) / (y1 - y0)
