"""Typed site configuration: what a province, former district or commune deploys, validated once at start.

Config stays data: no file access, no shapely objects here. Geometry files named by areas are opened by
``ioc.geo.AreaIndex`` at runtime; secrets are only *names* of environment variables, read by
``ioc.config.loader.secret``.

Cross-field checks raise ``ConfigProblems``, which carries the path of each offending field relative to the
model it was raised in, so the loader can point at the exact file and line.
"""

from __future__ import annotations

import difflib
import itertools
import logging
import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date as Date  # a field of CalendarDay is named `date`
from datetime import time
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    JsonValue,
    PrivateAttr,
    StringConstraints,
    model_validator,
)

from ioc.config.base import ConfigProblems as ConfigProblems
from ioc.config.base import EmailAddress as EmailAddress
from ioc.config.base import EnvVarName as EnvVarName
from ioc.config.base import KeyPath as KeyPath
from ioc.config.base import PathPart as PathPart
from ioc.config.base import Slug as Slug
from ioc.config.base import StrictModel, no_bare_number
from ioc.config.base import WebUrl as WebUrl
from ioc.config.channels import ChannelConfig, ChannelConfigs
from ioc.events import PeriodKind, Severity

logger = logging.getLogger(__name__)

_M = TypeVar("_M", bound=BaseModel)

# Mainland Việt Nam with its islands (Bạch Long Vĩ to Trường Sa), in WGS84 degrees.
VN_LON_MIN, VN_LON_MAX = 102.1, 117.9
VN_LAT_MIN, VN_LAT_MAX = 6.5, 23.4


class _Checks:
    """Collects every cross-field problem of one model before raising, so the user sees them all at once."""

    def __init__(self) -> None:
        self.problems: list[tuple[KeyPath, str]] = []

    def add(self, path: KeyPath, message: str) -> None:
        self.problems.append((path, message))

    def done(self) -> None:
        if self.problems:
            raise ConfigProblems(self.problems)


_Model = StrictModel
_no_bare_number = no_bare_number


def _number_to_str(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


AreaCode = Annotated[
    str,
    _no_bare_number("e.g. '03172'"),
    StringConstraints(pattern=r"^(\d{2}|\d{3}|\d{5}|[a-z0-9]+(?:-[a-z0-9]+)*)$", min_length=2, max_length=64),
    Field(description="GSO code (2 digits province, 3 district, 5 commune) or a slug for a named area"),
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Lon = Annotated[
    float, Field(ge=VN_LON_MIN, le=VN_LON_MAX, title="longitude", description="WGS84, inside Việt Nam")
]
Lat = Annotated[
    float, Field(ge=VN_LAT_MIN, le=VN_LAT_MAX, title="latitude", description="WGS84, inside Việt Nam")
]
LonLat = tuple[Lon, Lat]
Pixel = Annotated[float, Field(ge=0, le=16384, description="image coordinate in pixels, origin top-left")]
ImagePoint = tuple[Pixel, Pixel]


def _duplicates(values: Iterable[str]) -> list[str]:
    return sorted(v for v, n in Counter(values).items() if n > 1)


# --- site ------------------------------------------------------------------------------------------------


class AdminLevel(_Model):
    """One administrative level of the hierarchy; ``levels`` lists them from broadest to most specific."""

    id: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", min_length=2, max_length=32)] = Field(
        title="level id", description="e.g. province, former_district, commune"
    )
    name_vi: Name = Field(title="Vietnamese name", description="e.g. Tỉnh, Huyện (cũ), Xã")
    name_en: Name = Field(title="English name")


class SiteInfo(_Model):
    """Who this deployment serves."""

    id: Slug = Field(title="site id", description="slug used in topics and URLs, e.g. muong-cha")
    name: Name = Field(title="display name", description="e.g. Mường Chà (Điện Biên)")
    timezone: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$", max_length=64)] = (
        Field(
            default="Asia/Ho_Chi_Minh", title="time zone", description="IANA name used for display and shifts"
        )
    )
    default_language: Literal["vi", "en"] = Field(default="vi", title="default UI language")
    levels: list[AdminLevel] = Field(
        min_length=1, max_length=8, title="administrative levels", description="broadest first"
    )

    @model_validator(mode="after")
    def _unique_levels(self) -> SiteInfo:
        checks = _Checks()
        seen: set[str] = set()
        for i, level in enumerate(self.levels):
            if level.id in seen:
                checks.add(("levels", i, "id"), f"level {level.id!r} is declared twice; keep one entry")
            seen.add(level.id)
        checks.done()
        return self

    def level_rank(self, level_id: str) -> int:
        """Return the position of a level, 0 for the broadest."""
        return [lv.id for lv in self.levels].index(level_id)


class Area(_Model):
    """An administrative unit (province, commune) or a named area such as a former district."""

    code: AreaCode = Field(title="area code")
    name: Name = Field(title="name", description="Vietnamese name with diacritics")
    name_en: Name | None = Field(default=None, title="English name")
    level: Annotated[str, StringConstraints(min_length=2, max_length=32)] = Field(
        title="level", description="one of site.levels[].id"
    )
    parent: AreaCode | None = Field(
        default=None, title="parent area code", description="must be another area"
    )
    geometry: (
        Annotated[str, StringConstraints(pattern=r"^[^/\\][^\\]*\.(geo)?json$", max_length=300)] | None
    ) = Field(
        default=None,
        title="GeoJSON file",
        description="relative to the site directory, e.g. geo/03172_na_sang.geojson",
    )


class MapZone(_Model):
    """A polygon drawn on the operators' map (flood-prone strip, evacuation point, market area)."""

    id: Slug = Field(title="zone id")
    name: Name = Field(title="name")
    kind: Literal[
        "flood_risk", "landslide_risk", "evacuation", "market", "school", "public_service", "other"
    ] = Field(title="kind")
    area_code: AreaCode | None = Field(default=None, title="area it belongs to")
    polygon: list[LonLat] = Field(
        min_length=3, max_length=2000, title="outline", description="[lon, lat] pairs"
    )

    @model_validator(mode="after")
    def _not_degenerate(self) -> MapZone:
        if _shoelace(self.polygon) <= 0:
            raise ConfigProblems(
                [
                    (
                        ("polygon",),
                        f"map zone {self.id}: the polygon has no area; give 3 or more "
                        "distinct points that are not on one line",
                    )
                ]
            )
        return self


# --- flood stations --------------------------------------------------------------------------------------


class AlarmLevels(_Model):
    """The three official alarm levels of a station (báo động I, II, III), metres on its gauge datum."""

    I: float = Field(ge=-100, le=3000, title="alarm level I", description="metres")  # noqa: E741
    II: float = Field(ge=-100, le=3000, title="alarm level II", description="metres")
    III: float = Field(ge=-100, le=3000, title="alarm level III", description="metres")


class RainfallThresholds(_Model):
    """Rainfall accumulated over a window that raises a warning, millimetres."""

    mm_1h: float | None = Field(default=None, gt=0, le=500, title="1-hour rainfall threshold (mm)")
    mm_3h: float | None = Field(default=None, gt=0, le=1000, title="3-hour rainfall threshold (mm)")
    mm_24h: float | None = Field(default=None, gt=0, le=2000, title="24-hour rainfall threshold (mm)")


class ValueRange(_Model):
    """Inclusive plausible range of a measurement; readings outside are rejected as sensor faults."""

    min: float = Field(title="lowest plausible value")
    max: float = Field(title="highest plausible value")

    @model_validator(mode="after")
    def _ordered(self) -> ValueRange:
        if self.min >= self.max:
            raise ConfigProblems([(("max",), f"max ({self.max}) must be greater than min ({self.min})")])
        return self

    def contains(self, value: float) -> bool:
        """Return whether the value is inside the range."""
        return self.min <= value <= self.max


class ValidRanges(_Model):
    """Plausible ranges per metric, by metric name as it appears in sensor readings."""

    water_level_m: ValueRange = Field(default=ValueRange(min=-10, max=3000), title="water level (m)")
    rainfall_mm: ValueRange = Field(default=ValueRange(min=0, max=300), title="rainfall per reading (mm)")
    battery_v: ValueRange = Field(default=ValueRange(min=0, max=30), title="battery voltage (V)")
    signal_dbm: ValueRange = Field(default=ValueRange(min=-140, max=0), title="radio signal (dBm)")

    def for_metric(self, metric: str) -> ValueRange | None:
        """Return the range of a metric, or None for a metric without a declared range."""
        value = getattr(self, metric, None) if metric in type(self).model_fields else None
        return value if isinstance(value, ValueRange) else None


class StationAuth(_Model):
    """How a station proves itself when it posts readings: a bearer token, an HMAC key, or either."""

    token_env: EnvVarName | None = Field(
        default=None, title="token variable", description="env var holding the station's webhook token"
    )
    hmac_env: EnvVarName | None = Field(
        default=None,
        title="HMAC key variable",
        description="env var holding the key the station signs each request body with (HMAC-SHA256)",
    )

    @model_validator(mode="after")
    def _one_method(self) -> StationAuth:
        if self.token_env is None and self.hmac_env is None:
            raise ConfigProblems(
                [((), "give token_env, hmac_env or both: a station that posts readings must prove who it is")]
            )
        return self


# Decoder names of ``ingest.lorawan.DECODERS``; a test keeps the two lists equal.
LorawanModel = Literal["dragino-ldds75", "rain-pulses"]
DISTANCE_MODELS: frozenset[str] = frozenset({"dragino-ldds75"})


class LorawanDevice(_Model):
    """The LoRaWAN end device of a station, received through ChirpStack."""

    dev_eui: Annotated[str, StringConstraints(pattern=r"^[0-9A-Fa-f]{16}$")] = Field(
        title="DevEUI", description="16 hexadecimal digits, as ChirpStack shows it, e.g. a84041000181c061"
    )
    model: LorawanModel = Field(
        title="payload decoder", description="device model whose byte layout to decode"
    )
    mount_height_m: float | None = Field(
        default=None,
        gt=0,
        le=3000,
        title="sensor height (m)",
        description="distance sensors: height of the sensor face on the gauge datum; "
        "level = height - distance",
    )
    mm_per_pulse: float = Field(
        default=0.2,
        gt=0,
        le=10,
        title="rain per bucket tip (mm)",
        description="rain gauges: usually 0.2 or 0.5",
    )

    @model_validator(mode="after")
    def _height_for_distance(self) -> LorawanDevice:
        if self.model in DISTANCE_MODELS and self.mount_height_m is None:
            raise ConfigProblems(
                [
                    (
                        ("model",),
                        f"device {self.dev_eui}: {self.model} measures distance down to the water; "
                        "set mount_height_m (height of the sensor on the gauge datum)",
                    )
                ]
            )
        return self


class FloodStation(_Model):
    """A river or stream gauge (often with a rain gauge) and its alarm thresholds."""

    id: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,4}-\d{2,3}$")] = Field(
        title="station id", description="e.g. NS-01"
    )
    name: Name = Field(title="name")
    river: Name = Field(title="river or stream", description="e.g. Nậm Mức")
    area_code: AreaCode = Field(title="area", description="code of the commune the station stands in")
    lon: Lon
    lat: Lat
    alarm_levels: AlarmLevels = Field(title="alarm levels I < II < III (m)")
    hysteresis_m: float = Field(
        default=0.1,
        ge=0,
        le=5,
        title="hysteresis (m)",
        description="level must fall this far below a threshold before its alarm resolves",
    )
    rate_of_rise_m_per_h: float | None = Field(
        default=None,
        gt=0,
        le=20,
        title="rate-of-rise alarm (m/h)",
        description="alarm when rising faster than this",
    )
    rainfall: RainfallThresholds = Field(default=RainfallThresholds(), title="rainfall thresholds")
    expected_interval_s: int = Field(default=300, ge=1, le=86_400, title="expected reporting interval (s)")
    silent_after_s: int = Field(
        default=1800,
        ge=2,
        le=7 * 86_400,
        title="silent after (s)",
        description="raise 'station silent' when no reading arrived for this long",
    )
    valid_ranges: ValidRanges = Field(default=ValidRanges(), title="plausible ranges per metric")
    auth: StationAuth = Field(title="authentication")
    lorawan: LorawanDevice | None = Field(default=None, title="LoRaWAN device")

    @model_validator(mode="after")
    def _thresholds_consistent(self) -> FloodStation:
        checks = _Checks()
        lv = self.alarm_levels
        if not lv.I < lv.II:
            checks.add(
                ("alarm_levels", "II"),
                f"station {self.id}: alarm level II ({lv.II} m) must be above level I "
                f"({lv.I} m); set I < II < III in metres",
            )
        if not lv.II < lv.III:
            checks.add(
                ("alarm_levels", "III"),
                f"station {self.id}: alarm level III ({lv.III} m) must be above level "
                f"II ({lv.II} m); set I < II < III in metres",
            )
        gap = min(lv.II - lv.I, lv.III - lv.II)
        if gap > 0 and self.hysteresis_m >= gap:
            checks.add(
                ("hysteresis_m",),
                f"station {self.id}: hysteresis {self.hysteresis_m} m must be smaller than "
                f"the smallest gap between alarm levels ({gap:.2f} m); lower it",
            )
        if self.silent_after_s <= self.expected_interval_s:
            checks.add(
                ("silent_after_s",),
                f"station {self.id}: silent_after_s ({self.silent_after_s}) must be "
                f"longer than expected_interval_s ({self.expected_interval_s}); "
                "use at least three intervals",
            )
        rng = self.valid_ranges.water_level_m
        for name in ("I", "II", "III"):
            value = getattr(lv, name)
            if not rng.contains(value):
                checks.add(
                    ("alarm_levels", name),
                    f"station {self.id}: alarm level {name} ({value} m) is outside "
                    f"valid_ranges.water_level_m [{rng.min}, {rng.max}]; widen the range "
                    "or fix the level",
                )
        rain = self.rainfall
        windows = [
            (k, v) for k, v in (("mm_1h", rain.mm_1h), ("mm_3h", rain.mm_3h), ("mm_24h", rain.mm_24h)) if v
        ]
        for (_, shorter), (key, longer) in itertools.pairwise(windows):
            if longer < shorter:
                checks.add(
                    ("rainfall", key),
                    f"station {self.id}: rainfall.{key} ({longer} mm) is below the threshold "
                    f"of a shorter window ({shorter} mm); longer windows need larger totals",
                )
        checks.done()
        return self


# --- cameras ---------------------------------------------------------------------------------------------


class DetectorConfig(_Model):
    """Which object detector a camera uses; backends are looked up by ``name``."""

    name: Literal["onnx", "ultralytics", "motion", "groundtruth"] = Field(title="detector backend")
    model_path: Annotated[str, StringConstraints(min_length=1, max_length=300)] | None = Field(
        default=None, title="model file", description="relative to the site directory or absolute"
    )
    confidence: float = Field(default=0.4, gt=0, lt=1, title="minimum confidence")
    classes: list[Annotated[str, StringConstraints(min_length=1, max_length=32)]] = Field(
        default=["person", "bicycle", "car", "motorcycle", "bus", "truck"],
        min_length=1,
        max_length=80,
        title="object classes kept",
    )
    class_map: dict[
        Annotated[str, StringConstraints(min_length=1, max_length=32)],
        Literal["person", "bicycle", "car", "motorcycle", "bus", "truck"],
    ] = Field(
        default={"pickup": "car", "van": "car", "motorbike": "motorcycle", "scooter": "motorcycle"},
        max_length=80,
        title="model classes counted as",
        description="a model's own class names mapped onto the counted ones, e.g. pickup and van -> car",
    )

    @model_validator(mode="after")
    def _model_needed(self) -> DetectorConfig:
        if self.name == "ultralytics" and not self.model_path:
            raise ConfigProblems(
                [(("model_path",), "the ultralytics detector needs model_path (a .pt or .onnx file)")]
            )
        return self


class DetectRegions(_Model):
    """Which parts of each analysed frame the detector looks at (``analytics.vision.regions``)."""

    regions: Literal["full", "tiles", "motion"] = Field(
        default="full",
        title="regions",
        description="full: the whole frame (one inference, the cheapest); tiles: the whole frame plus tiles at "
        "near native resolution; motion: regions around what moved, plus the whole frame every full_every_s. "
        "Counting cameras with small two-wheelers want motion at 5 fps (docs/ACCURACY.md), at 3-4x the CPU",
    )
    tile_area: tuple[ImagePoint, ImagePoint] | None = Field(
        default=None,
        title="tiled area",
        description="[[x1, y1], [x2, y2]]: tile only this rectangle (e.g. the far part of the road)",
    )
    tile_scale: float = Field(
        default=1.25, ge=0.5, le=4, title="tile size", description="tile side as a multiple of the model input"
    )
    full_every_s: float = Field(
        default=1.0, gt=0, le=60, title="whole frame every (s)", description="motion mode only"
    )
    max_regions: int = Field(default=4, ge=1, le=16, title="most motion regions per frame")

    @model_validator(mode="after")
    def _area_is_a_rectangle(self) -> DetectRegions:
        if self.tile_area is not None:
            (x1, y1), (x2, y2) = self.tile_area
            if x2 <= x1 or y2 <= y1:
                raise ConfigProblems(
                    [(("tile_area",), "tile_area needs [[left, top], [right, bottom]] with right > left, "
                      "bottom > top")]
                )
        return self


class FrameSize(_Model):
    """Pixel size of the frames the line and zone coordinates refer to."""

    width: int = Field(ge=16, le=16384, title="width (px)")
    height: int = Field(ge=16, le=16384, title="height (px)")


class CountingLine(_Model):
    """A virtual line; tracked objects crossing it are counted with a direction."""

    id: Slug = Field(title="line id")
    points: tuple[ImagePoint, ImagePoint] = Field(
        title="end points", description="[[x1, y1], [x2, y2]] in pixels"
    )
    in_side: Literal["left", "right"] = Field(
        default="left",
        title="'in' side",
        description="side of the line, looking from the first to the second point",
    )
    in_label: Name = Field(
        default="vào", title="label of the 'in' direction", description="e.g. vào trung tâm"
    )
    out_label: Name = Field(default="ra", title="label of the 'out' direction")


class ZoneThresholds(_Model):
    """When a camera zone raises an alert; unset thresholds are not checked."""

    max_count: int | None = Field(default=None, ge=1, le=100_000, title="maximum objects inside")
    max_density_per_m2: float | None = Field(
        default=None, gt=0, le=10, title="maximum crowd density (persons/m²)", description="needs area_m2"
    )
    max_dwell_s: float | None = Field(
        default=None,
        gt=0,
        le=86_400,
        title="maximum dwell (s)",
        description="e.g. a vehicle stopped in a no-parking box",
    )


class CameraZone(_Model):
    """A polygon in image coordinates where objects are counted (a crowd area, a no-parking box)."""

    id: Slug = Field(title="zone id")
    name: Name | None = Field(default=None, title="name")
    polygon: list[ImagePoint] = Field(
        min_length=3, max_length=100, title="polygon", description="[x, y] in pixels"
    )
    area_m2: float | None = Field(
        default=None, gt=0, le=1_000_000, title="ground area (m²)", description="for density"
    )
    classes: list[Annotated[str, StringConstraints(min_length=1, max_length=32)]] | None = Field(
        default=None, title="classes counted", description="default: all the detector keeps"
    )
    thresholds: ZoneThresholds = Field(default=ZoneThresholds(), title="alert thresholds")


class Camera(_Model):
    """A fixed camera, where it looks and what is measured in its picture."""

    id: Slug = Field(title="camera id")
    name: Name = Field(title="name")
    area_code: AreaCode = Field(title="area")
    lon: Lon
    lat: Lat
    source: Annotated[
        str, StringConstraints(pattern=r"^((rtsps?|https?)://\S+|file:\S+|sim:[a-z0-9-]+)$", max_length=500)
    ] = Field(
        title="stream",
        description="rtsp://, http(s):// or file: URL (a relative file: path is under the site directory), or "
        "sim:<scene> for a camera_sim scene served over HTTP on loopback",
    )
    sample_fps: float = Field(default=2.0, gt=0, le=30, title="frames analysed per second")
    offline_after_s: float = Field(
        default=10.0, ge=1, le=3600, title="offline after (s)", description="no frame for this long: offline"
    )
    frozen_after_s: float = Field(
        default=20.0, ge=1, le=3600, title="frozen after (s)", description="an unchanged picture for this long"
    )
    frame_size: FrameSize | None = Field(default=None, title="frame size the coordinates refer to")
    detector: DetectorConfig = Field(default=DetectorConfig(name="motion"), title="detector")
    detect: DetectRegions = Field(default=DetectRegions(), title="where the detector looks")
    lines: list[CountingLine] = Field(default=[], max_length=32, title="counting lines")
    zones: list[CameraZone] = Field(default=[], max_length=32, title="zones")

    @model_validator(mode="after")
    def _geometry_consistent(self) -> Camera:
        checks = _Checks()
        for dup in _duplicates(line.id for line in self.lines):
            checks.add(
                ("lines",), f"camera {self.id}: line id {dup!r} is used twice; give each line its own id"
            )
        for dup in _duplicates(zone.id for zone in self.zones):
            checks.add(
                ("zones",), f"camera {self.id}: zone id {dup!r} is used twice; give each zone its own id"
            )
        for i, line in enumerate(self.lines):
            if line.points[0] == line.points[1]:
                checks.add(
                    ("lines", i, "points"),
                    f"camera {self.id}, line {line.id}: both points are the same; give two distinct points",
                )
            self._inside_frame(checks, ("lines", i, "points"), f"line {line.id}", line.points)
        if self.detect.tile_area is not None:
            self._inside_frame(checks, ("detect", "tile_area"), "tile_area", self.detect.tile_area)
        for i, zone in enumerate(self.zones):
            if _shoelace(zone.polygon) <= 0:
                checks.add(
                    ("zones", i, "polygon"),
                    f"camera {self.id}, zone {zone.id}: the polygon has no area; give "
                    "3 or more points that are not on one line",
                )
            self._inside_frame(checks, ("zones", i, "polygon"), f"zone {zone.id}", zone.polygon)
            if zone.thresholds.max_density_per_m2 is not None and zone.area_m2 is None:
                checks.add(
                    ("zones", i, "thresholds", "max_density_per_m2"),
                    f"camera {self.id}, zone {zone.id}: a density threshold needs the zone's ground area; "
                    "set area_m2 or use max_count",
                )
        checks.done()
        return self

    def _inside_frame(self, checks: _Checks, path: KeyPath, what: str, points: Sequence[ImagePoint]) -> None:
        if self.frame_size is None:
            return
        w, h = self.frame_size.width, self.frame_size.height
        outside = [p for p in points if p[0] > w or p[1] > h]
        if outside:
            checks.add(
                path,
                f"camera {self.id}, {what}: point {list(outside[0])} lies outside the {w}x{h} frame; "
                "fix the point or frame_size",
            )


# --- KPIs ------------------------------------------------------------------------------------------------


class KpiBaseline(_Model):
    """A reported figure the target is set against, with where it comes from."""

    value: float = Field(ge=-1e12, le=1e12, title="value")
    as_of: Annotated[str, StringConstraints(min_length=4, max_length=20)] = Field(
        title="as of", description="e.g. 2021"
    )
    scope: Name = Field(title="scope", description="unit the figure is for, e.g. Tỉnh Điện Biên")
    note: Name | None = Field(default=None, title="note")


class Kpi(_Model):
    """One indicator of socio-economic or digital-government performance."""

    id: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", min_length=2, max_length=64)] = Field(
        title="KPI id", description="snake_case, stable: stored with every value"
    )
    name_vi: Name = Field(title="Vietnamese name")
    name_en: Name = Field(title="English name")
    unit: Literal["%", "count", "VND", "hours", "days", "score"] = Field(title="unit")
    higher_is_better: bool = Field(default=True, title="higher is better")
    period: PeriodKind = Field(default=PeriodKind.MONTH, title="reporting period")
    target: float | None = Field(default=None, ge=0, le=1e12, title="target")
    source: Name = Field(title="data source", description="system or report the value comes from")
    weight: float | None = Field(default=None, ge=0, le=1000, title="weight in the ranking index")
    when_missing: Literal["zero", "skip"] = Field(
        default="zero", title="a period without a figure",
        description="zero: a report the unit owed (0 points, and a missing-report alert for a monthly KPI); skip: "
        "a figure computed from events where none means nothing to judge (not scored, no alert)",
    )
    baseline: KpiBaseline | None = Field(default=None, title="reported baseline")

    @model_validator(mode="after")
    def _percent_in_range(self) -> Kpi:
        checks = _Checks()
        if self.unit == "%":
            if self.target is not None and self.target > 100:
                checks.add(
                    ("target",), f"KPI {self.id}: target {self.target} % is above 100; use a percentage"
                )
            if self.baseline is not None and not 0 <= self.baseline.value <= 100:
                checks.add(
                    ("baseline", "value"),
                    f"KPI {self.id}: baseline {self.baseline.value} % is not within 0-100; use a percentage",
                )
        checks.done()
        return self


# --- roster ----------------------------------------------------------------------------------------------

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Domain = Literal["flood", "traffic", "security", "kpi", "reports"]
Role = Literal["on_duty", "deputy", "leader"]
PHONE_RE = re.compile(r"^84(3|5|7|8|9)\d{8}$")


class Officer(_Model):
    """A person who can be notified; contact details are the minimum needed to reach them."""

    id: Slug = Field(title="officer id")
    name: Name = Field(title="full name")
    phone: Annotated[str, BeforeValidator(_number_to_str), StringConstraints(max_length=20)] = Field(
        title="mobile number", description="84xxxxxxxxx: country code 84, no leading 0 or +"
    )
    zalo_user_id: (
        Annotated[str, BeforeValidator(_number_to_str), StringConstraints(pattern=r"^\d{5,32}$")] | None
    ) = Field(
        default=None, title="Zalo user id", description="id of the person as a follower of the OA, if known"
    )
    position: Literal["officer", "deputy", "leader"] = Field(
        default="officer",
        title="position",
        description="who the escalation roles deputy and leader resolve to",
    )
    area_codes: list[AreaCode] = Field(
        default=[], title="areas led", description="for deputies and leaders; empty means the whole site"
    )
    email: EmailAddress | None = Field(
        default=None,
        title="e-mail address",
        description="official address (thư công vụ) for channels that write e-mail, e.g. hung@muongcha.gov.vn",
    )
    channels: list[Slug] = Field(
        min_length=1, max_length=5, title="channel preference", description="channel ids, tried in this order"
    )
    lang: Literal["vi", "en"] = Field(default="vi", title="message language")

    @model_validator(mode="after")
    def _phone_well_formed(self) -> Officer:
        if not PHONE_RE.match(self.phone):
            hint = self.phone
            if hint.startswith("+"):
                hint = hint[1:]
            if hint.startswith("0"):
                hint = "84" + hint[1:]
            suggestion = f" (did you mean {hint}?)" if PHONE_RE.match(hint) else ""
            raise ConfigProblems(
                [
                    (
                        ("phone",),
                        f"officer {self.id}: phone {self.phone!r} is not a Vietnamese mobile "
                        f"number in 84xxxxxxxxx form{suggestion}; write 84 then 9 digits, "
                        "no 0, + or spaces",
                    )
                ]
            )
        return self


class Shift(_Model):
    """A recurring duty slot: one officer answers one domain in one area on these days and local hours."""

    officer: Slug = Field(title="officer id")
    area_code: AreaCode = Field(title="area")
    domain: Domain = Field(title="domain")
    weekdays: list[Weekday] = Field(default=list(WEEKDAYS), min_length=1, max_length=7, title="weekdays")
    start: time = Field(title="start (local)", description="HH:MM")
    end: time = Field(
        title="end (local)", description="HH:MM; earlier than start means the shift ends the next day"
    )

    @model_validator(mode="after")
    def _has_length(self) -> Shift:
        if self.start == self.end:
            raise ConfigProblems(
                [
                    (
                        ("end",),
                        f"shift of {self.officer} ({self.domain}, {self.area_code}) starts and "
                        "ends at the same time; for 24 h use 00:00 to 23:59",
                    )
                ]
            )
        return self


class EscalationStep(_Model):
    """Who is notified after how long without acknowledgement."""

    role: Role = Field(title="role")
    delay_min: int = Field(ge=0, le=24 * 60, title="delay (minutes)", description="after the alert opened")


class QuietHours(_Model):
    """Local night hours in which messages about low severities wait until the end (major/critical never wait)."""

    start: time = Field(default=time(22, 0), title="start (local)")
    end: time = Field(default=time(6, 0), title="end (local)", description="earlier than start: the next morning")
    severities: list[Severity] = Field(default=[Severity.INFO, Severity.WARNING], title="severities held")


class Delivery(_Model):
    """How notifications are paced: reminders, quiet hours, retries, rate limits, alert source to duty domain."""

    reminder_every_min: int = Field(default=10, ge=0, le=24 * 60, title="reminder interval (min)",
                                    description="to the current step's people until acknowledged; 0: none")
    max_reminders: int = Field(default=6, ge=0, le=100, title="reminders per escalation step")
    reminder_min_severity: Severity = Field(default=Severity.WARNING, title="lowest severity reminded")
    quiet_hours: QuietHours | None = Field(default=QuietHours(), title="quiet hours", description="null: none")
    per_officer_per_min: int = Field(default=6, ge=1, le=600, title="messages per officer per minute",
                                     description="more wait for the next minute, none are dropped")
    max_attempts: int = Field(default=8, ge=1, le=50, title="attempts per message before it fails")
    give_up_after_min: int = Field(default=60, ge=1, le=7 * 24 * 60, title="give up after (min)")
    domains: dict[str, Domain] = Field(
        default={"flood": "flood", "traffic": "traffic", "crowd": "security", "camera": "security", "kpi": "kpi",
                 "report": "reports"},
        title="duty domain per alert source",
    )


class Roster(_Model):
    """People, their duty shifts and the escalation ladder."""

    officers: list[Officer] = Field(default=[], max_length=2000, title="officers")
    shifts: list[Shift] = Field(default=[], max_length=10_000, title="shifts")
    escalation: dict[Severity, list[EscalationStep]] = Field(
        default={}, title="escalation ladder per severity"
    )
    area_spans: dict[AreaCode, list[AreaCode]] = Field(
        default={}, title="units a named area spans",
        description="a shift on the named area (a former district) also covers these units and the areas below them",
    )
    delivery: Delivery = Field(default=Delivery(), title="delivery settings")

    @model_validator(mode="after")
    def _consistent(self) -> Roster:
        checks = _Checks()
        for dup in _duplicates(o.id for o in self.officers):
            checks.add(("officers",), f"officer id {dup!r} is used twice; give each officer their own id")
        for dup in _duplicates(o.phone for o in self.officers):
            checks.add(("officers",), f"phone {dup} belongs to two officers; one number per person")
        ids = {o.id for o in self.officers}
        for i, shift in enumerate(self.shifts):
            if shift.officer not in ids:
                checks.add(
                    ("shifts", i, "officer"),
                    f"shift {i}: officer {shift.officer!r} is not in roster.officers"
                    f"{_suggest(shift.officer, ids)}",
                )
        for severity, steps in self.escalation.items():
            delays = [s.delay_min for s in steps]
            if delays != sorted(delays):
                checks.add(
                    ("escalation", severity.value),
                    f"escalation for {severity.value}: delays {delays} must not "
                    "decrease; list steps in the order they fire",
                )
        checks.done()
        return self


# --- simulation ------------------------------------------------------------------------------------------


class SimulatedStation(_Model):
    """One simulated gauge: one rain event per cycle, the level rising behind it from baseline to peak and receding
    (``ioc.app.hydrograph``), with noise."""

    baseline_m: float = Field(ge=-100, le=3000, title="baseline level (m)")
    peak_m: float = Field(ge=-100, le=3000, title="peak level (m)")
    period_s: float = Field(
        ge=10, le=7 * 86_400, title="cycle length (s)", description="one storm: rain, rise, crest, recession"
    )
    interval_s: float = Field(ge=0.1, le=3600, title="reading interval (s)")
    noise_m: float = Field(default=0.0, ge=0, le=5, title="noise amplitude (m)")
    phase_s: float = Field(default=0.0, ge=0, le=7 * 86_400, title="phase offset (s)")
    rain_peak_mm_per_h: float = Field(default=0.0, ge=0, le=300, title="rain intensity at the peak (mm/h)")

    @model_validator(mode="after")
    def _shape(self) -> SimulatedStation:
        checks = _Checks()
        if self.peak_m <= self.baseline_m:
            checks.add(("peak_m",), f"peak_m ({self.peak_m}) must be above baseline_m ({self.baseline_m})")
        if self.interval_s * 4 > self.period_s:
            checks.add(
                ("interval_s",),
                f"interval_s ({self.interval_s}) gives fewer than 4 readings per cycle of "
                f"{self.period_s} s; shorten the interval",
            )
        checks.done()
        return self


class Simulation(_Model):
    """Simulated flood stations for demos and tests, keyed by station id."""

    enabled: bool = Field(default=True, title="enabled")
    stations: dict[str, SimulatedStation] = Field(
        default={}, title="stations", description="by flood station id"
    )


# --- alert rules -----------------------------------------------------------------------------------------

AlertSource = Literal["flood", "traffic", "crowd", "camera", "kpi"]
CompareOp = Literal[">", ">=", "<", "<=", "==", "!="]
# What each source measures (kpi rules take a KPI id as metric). Derived flood metrics come from analytics.flood.
ALERT_METRICS: dict[str, tuple[str, ...]] = {
    "flood": (
        "water_level_m",
        "rainfall_mm",
        "battery_v",
        "signal_dbm",
        "rise_m_per_h",
        "rainfall_1h_mm",
        "rainfall_3h_mm",
        "rainfall_24h_mm",
        "silence_s",
    ),
    "traffic": ("occupancy", "dwell_s", "congestion"),
    "crowd": ("occupancy", "density_per_m2", "dwell_s"),
    "camera": ("camera_status", "objects", "frames_analysed"),
}
# Categorical metrics and their values; congestion is ordered (free < moderate < heavy < jammed), status is not.
ALERT_CATEGORIES: dict[str, tuple[str, ...]] = {
    "congestion": ("free", "moderate", "heavy", "jammed"),
    "camera_status": ("online", "offline", "frozen", "black"),
}
ORDERED_CATEGORIES: frozenset[str] = frozenset({"congestion"})
# Thresholds a rule may take from its subject's own config, e.g. ``station.alarm_levels.II``.
ALERT_REFERENCES: dict[str, tuple[str, ...]] = {
    "flood": (
        "station.alarm_levels.I",
        "station.alarm_levels.II",
        "station.alarm_levels.III",
        "station.rate_of_rise_m_per_h",
        "station.rainfall.mm_1h",
        "station.rainfall.mm_3h",
        "station.rainfall.mm_24h",
        "station.silent_after_s",
        "station.expected_interval_s",
    ),
    "traffic": ("zone.thresholds.max_count", "zone.thresholds.max_dwell_s"),
    "crowd": (
        "zone.thresholds.max_count",
        "zone.thresholds.max_density_per_m2",
        "zone.thresholds.max_dwell_s",
    ),
    "camera": ("camera.offline_after_s", "camera.frozen_after_s"),
    "kpi": ("kpi.target",),
}
# Placeholders a rule's message may use: every rule has the first five, each source adds its own.
ALERT_PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "flood": ("station", "river"),
    "traffic": ("camera", "zone"),
    "crowd": ("camera", "zone"),
    "camera": ("camera",),
    "kpi": ("kpi", "area"),
}
COMMON_PLACEHOLDERS: tuple[str, ...] = ("subject", "name", "value", "threshold", "severity")
Threshold = float | Annotated[str, StringConstraints(min_length=1, max_length=100)]
MessageText = Annotated[str, StringConstraints(min_length=1, max_length=300, strip_whitespace=True)]


class RuleCondition(_Model):
    """When a rule matches: an operator and one threshold, or one threshold per severity (escalation)."""

    op: CompareOp = Field(title="operator", description=">, >=, <, <=, == or !=")
    value: Threshold | None = Field(
        default=None,
        title="threshold",
        description="a number, a category (congestion: heavy) or a reference such as station.alarm_levels.II",
    )
    levels: dict[Severity, Threshold] | None = Field(
        default=None, title="threshold per severity", description="e.g. {warning: 0.5, major: 1.0}; escalates"
    )
    hysteresis: float = Field(
        default=0,
        ge=0,
        le=1e6,
        title="hysteresis",
        description="how far past a threshold a level is released",
    )


class RuleMessage(_Model):
    """A message template in both languages, with ``{placeholders}``."""

    vi: MessageText = Field(title="Vietnamese template")
    en: MessageText = Field(title="English template")


class AlertRuleConfig(_Model):
    """One alert rule: a metric of a source, a condition held long enough, a severity and a message."""

    id: Slug = Field(title="rule id", description="last part of the alert key <source>:<subject>:<id>")
    source: AlertSource = Field(title="source")
    metric: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)] = Field(
        title="metric", description="e.g. rise_m_per_h, rainfall_3h_mm, silence_s, occupancy, congestion"
    )
    subjects: list[Annotated[str, StringConstraints(min_length=1, max_length=130)]] | None = Field(
        default=None,
        min_length=1,
        title="subjects",
        description="station ids, camera ids, <camera>/<zone> or area codes (kpi); default: every one",
    )
    condition: RuleCondition = Field(title="condition")
    severity: Severity | None = Field(default=None, title="severity", description="with condition.value")
    for_s: float = Field(default=0, ge=0, le=7 * 86_400, title="held for (s)", description="before it opens")
    clear_for_s: float = Field(
        default=0, ge=0, le=7 * 86_400, title="clear for (s)", description="before it resolves"
    )
    update_delta: float | None = Field(
        default=None,
        gt=0,
        le=1e9,
        title="update when the value moves by",
        description="default: no value updates",
    )
    area_code: AreaCode | None = Field(
        default=None, title="fixed area", description="default: the commune the station or camera lies in"
    )
    message: RuleMessage = Field(title="message")
    resolved_message: RuleMessage | None = Field(default=None, title="message when resolved")

    @model_validator(mode="after")
    def _consistent(self) -> AlertRuleConfig:
        checks = _Checks()
        cond, who = self.condition, f"rule {self.id}"
        metrics = ALERT_METRICS.get(self.source)
        if metrics is not None and self.metric not in metrics:
            checks.add(
                ("metric",),
                f"{who}: metric {self.metric!r} is not measured by {self.source}"
                f"{_suggest(self.metric, metrics)}; use one of {', '.join(metrics)}",
            )
        if (cond.value is None) == (cond.levels is None):
            checks.add(
                ("condition",), f"{who}: give either condition.value or condition.levels, not both or none"
            )
        if cond.value is not None and self.severity is None:
            checks.add(
                ("severity",), f"{who}: a single threshold needs a severity (info, warning, major, critical)"
            )
        if cond.levels is not None and self.severity is not None:
            checks.add(
                ("severity",), f"{who}: with condition.levels each level is a severity; remove severity"
            )
        if cond.levels is not None and not cond.levels:
            checks.add(
                ("condition", "levels"), f"{who}: condition.levels is empty; give at least one severity"
            )
        thresholds: list[tuple[KeyPath, Threshold]] = []
        if cond.value is not None:
            thresholds.append((("condition", "value"), cond.value))
        for sev, th in (cond.levels or {}).items():
            thresholds.append((("condition", "levels", sev.value), th))
        for path, th in thresholds:
            self._check_threshold(checks, path, th)
        if (
            self.metric in ALERT_CATEGORIES
            and self.metric not in ORDERED_CATEGORIES
            and cond.op not in ("==", "!=")
        ):
            checks.add(("condition", "op"), f"{who}: {self.metric} has no order; use == or !=")
        allowed = (*COMMON_PLACEHOLDERS, *ALERT_PLACEHOLDERS[self.source])
        for field_name, msg in (("message", self.message), ("resolved_message", self.resolved_message)):
            if msg is None:
                continue
            for lang in ("vi", "en"):
                problem = _template_problem(getattr(msg, lang), allowed)
                if problem:
                    checks.add((field_name, lang), f"{who}: {field_name}.{lang}: {problem}")
        checks.done()
        return self

    def _check_threshold(self, checks: _Checks, path: KeyPath, th: Threshold) -> None:
        who = f"rule {self.id}"
        categories = ALERT_CATEGORIES.get(self.metric)
        if categories is not None:
            if not isinstance(th, str) or th not in categories:
                checks.add(
                    path, f"{who}: {th!r} is not a value of {self.metric}; use one of {', '.join(categories)}"
                )
            return
        if isinstance(th, str):
            refs = ALERT_REFERENCES[self.source]
            if th not in refs:
                checks.add(
                    path,
                    f"{who}: {th!r} is neither a number nor a reference a {self.source} rule can use"
                    f"{_suggest(th, refs)}; references: {', '.join(refs)}",
                )


def _template_problem(text: str, allowed: Sequence[str]) -> str | None:
    """Return what is wrong with a ``str.format`` template, or None."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        return f"not a valid template ({exc}); write placeholders as {{value}} and braces as {{{{ }}}}"
    for name in names:
        base = name.split(".")[0].split("[")[0]
        if base not in allowed:
            return f"unknown placeholder {{{name}}}{_suggest(base, allowed)}; use {', '.join(allowed)}"
    return None


class KpiReportsConfig(_Model):
    """When a unit's monthly KPI report counts as missing."""

    grace_days: int = Field(
        default=10,
        ge=0,
        le=60,
        title="days of grace",
        description="days after the end of a month before its report is missing",
    )
    required_from: Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")] | None = Field(
        default=None,
        title="reports required from (YYYY-MM)",
        description="first month every commune must report; before it (or unset) only a unit that has reported "
        "a KPI before is watched for stopping",
    )


class AlertsConfig(_Model):
    """Alert rules of the site and the windows the flood metrics are computed over."""

    kpi_reports: KpiReportsConfig = Field(default_factory=KpiReportsConfig, title="missing KPI reports")

    rise_window_s: int = Field(
        default=3600,
        ge=300,
        le=86_400,
        title="rate-of-rise window (s)",
        description="readings the slope is fit on",
    )
    rise_min_span_s: int = Field(
        default=900,
        ge=60,
        le=86_400,
        title="rate-of-rise minimum span (s)",
        description="history needed first",
    )
    rules: list[AlertRuleConfig] = Field(default=[], max_length=1000, title="rules")

    @model_validator(mode="after")
    def _windows(self) -> AlertsConfig:
        checks = _Checks()
        if self.rise_min_span_s > self.rise_window_s:
            checks.add(
                ("rise_min_span_s",),
                f"rise_min_span_s ({self.rise_min_span_s}) is longer than rise_window_s ({self.rise_window_s}); "
                "the rate of rise would never be computed",
            )
        for dup in _duplicates(r.id for r in self.rules):
            checks.add(("rules",), f"rule id {dup!r} is used twice; give each rule its own id")
        checks.done()
        return self


def reference_value(subject: BaseModel, reference: str) -> float | None:
    """Return the number a reference such as ``station.alarm_levels.II`` names on a subject; None when unset."""
    value: Any = subject
    for part in reference.split(".")[1:]:
        value = getattr(value, part, None)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


# --- wall tiles ------------------------------------------------------------------------------------------

TileKind = Literal["flood_level", "traffic_count", "crowd", "kpi"]


class WallTile(_Model):
    """One live tile of the wall, declared as data: what it shows, where the value comes from, when it is stale.

    The kind names the source query: ``flood_level`` the station's newest water level (live store, else its
    newest row); ``traffic_count`` the crossings of one camera line over the last ``window_min`` minutes (the
    minute rollup ``line_counts_1m``); ``crowd`` the newest occupancy of one camera zone; ``kpi`` the newest
    reported value of one KPI for one unit against its target.
    """

    id: Slug = Field(title="tile id")
    kind: TileKind = Field(title="kind", description="flood_level, traffic_count, crowd or kpi")
    station: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, title="flood station id", description="flood_level"
    )
    camera: Slug | None = Field(default=None, title="camera id", description="traffic_count, crowd")
    line: Slug | None = Field(default=None, title="counting line id", description="traffic_count")
    zone: Slug | None = Field(default=None, title="camera zone id", description="crowd")
    kpi: Annotated[str, StringConstraints(min_length=2, max_length=64)] | None = Field(
        default=None, title="KPI id", description="kpi"
    )
    unit: AreaCode | None = Field(default=None, title="administrative unit", description="kpi")
    window_min: int = Field(default=15, ge=1, le=1440, title="counting window (min)", description="traffic")
    freshness_s: int = Field(
        ge=1,
        le=400 * 86_400,
        title="stale after (s)",
        description="the tile turns into a warning when its data is older than this",
    )
    title_vi: Name | None = Field(default=None, title="Vietnamese title", description="default: the subject's")
    title_en: Name | None = Field(default=None, title="English title", description="default: the subject's")

    @model_validator(mode="after")
    def _fields_of_kind(self) -> WallTile:
        needed = {
            "flood_level": ("station",),
            "traffic_count": ("camera", "line"),
            "crowd": ("camera", "zone"),
            "kpi": ("kpi", "unit"),
        }[self.kind]
        checks = _Checks()
        for name in ("station", "camera", "line", "zone", "kpi", "unit"):
            given = getattr(self, name) is not None
            if name in needed and not given:
                checks.add((name,), f"tile {self.id}: a {self.kind} tile needs {name}")
            elif given and name not in needed:
                checks.add((name,), f"tile {self.id}: a {self.kind} tile does not use {name}; remove it")
        checks.done()
        return self


# --- working calendar ------------------------------------------------------------------------------------


class CalendarDay(_Model):
    """One day that departs from the Monday-Friday week: a weekday off, or a weekend day worked in exchange."""

    date: Date = Field(title="date", description="ISO date, e.g. 2025-01-29")
    name: Name = Field(title="reason", description="e.g. Tết Nguyên đán, nghỉ bù, làm bù")


class CalendarYear(_Model):
    """The official days off of one year (weekdays only) and the weekend days worked to bridge a holiday."""

    source: Annotated[str, StringConstraints(min_length=3, max_length=500)] = Field(
        title="source", description="the notice that set these days, e.g. Công văn 7059/LĐTBXH-LĐTL"
    )
    days_off: list[CalendarDay] = Field(
        default=[], max_length=60, title="weekdays off",
        description="public holidays, their compensatory days and bridged days that fall Monday-Friday",
    )
    working_days: list[CalendarDay] = Field(
        default=[], max_length=20, title="weekend days worked",
        description="Saturdays or Sundays worked in exchange for a bridged day",
    )


class WorkingCalendarConfig(_Model):
    """The Vietnamese working calendar: Monday-Friday minus each year's declared days off, plus days worked.

    Every year a deadline may reach must be declared: the government sets the days around Tết and the other
    holidays by notice each year, so they are data, not a formula.
    """

    years: dict[Annotated[int, Field(ge=2000, le=2100)], CalendarYear] = Field(
        min_length=1, max_length=100, title="years", description="by year, e.g. 2026"
    )

    @model_validator(mode="after")
    def _days_fit(self) -> WorkingCalendarConfig:
        checks = _Checks()
        for year, spec in self.years.items():
            seen: set[Date] = set()
            for field_name, days in (("days_off", spec.days_off), ("working_days", spec.working_days)):
                for i, day in enumerate(days):
                    path: KeyPath = ("years", year, field_name, i, "date")
                    d = day.date
                    if d.year != year:
                        checks.add(path, f"{d.isoformat()} is not in {year}; move it to years.{d.year}")
                    elif d in seen:
                        checks.add(path, f"{d.isoformat()} is listed twice in {year}; keep one entry")
                    elif field_name == "days_off" and d.weekday() >= 5:
                        checks.add(
                            path,
                            f"{d.isoformat()} is a {d.strftime('%A')}, already off; list the weekday given "
                            "in compensation instead",
                        )
                    elif field_name == "working_days" and d.weekday() < 5:
                        checks.add(
                            path,
                            f"{d.isoformat()} is a {d.strftime('%A')}, already a working day; working_days "
                            "lists Saturdays or Sundays worked in exchange",
                        )
                    seen.add(d)
        checks.done()
        return self



# --- citizens' reports ----------------------------------------------------------------------------------

COMMUNE_UNIT = "commune"  # a category's unit: the People's Committee of the commune the report is in


class ReportUnit(_Model):
    """A body that answers citizens' reports: a commune's People's Committee, a provincial department."""

    id: Slug = Field(title="unit id", description="e.g. ubnd-na-sang, cong-an-tinh")
    name: Name = Field(title="Vietnamese name", description="e.g. UBND xã Na Sang")
    name_en: Name = Field(title="English name", description="e.g. Na Sang Commune People's Committee")
    area_code: AreaCode = Field(title="area", description="the area the unit belongs to, one of areas[].code")


class ReportCategory(_Model):
    """A subject of citizens' reports, its deadline and who answers it."""

    id: Slug = Field(title="category id", description="e.g. traffic, flooding_landslide")
    name: Name = Field(title="Vietnamese name", description="e.g. Giao thông")
    name_en: Name = Field(title="English name", description="e.g. Traffic")
    deadline_working_days: int = Field(
        ge=1, le=60, title="deadline (working days)", description="counted from the day after it is received"
    )
    unit: Slug = Field(
        default=COMMUNE_UNIT,
        title="responsible unit",
        description=f"a unit id, or {COMMUNE_UNIT!r}: the People's Committee of the report's commune "
        "(reports.commune_units)",
    )
    by_commune: dict[AreaCode, Slug] = Field(
        default={}, max_length=20_000, title="unit per commune",
        description="exceptions to unit, by commune code, e.g. {'03172': so-xay-dung}",
    )


class ReportIntake(_Model):
    """Limits on what the public form and the hotline accept."""

    max_photos: int = Field(default=3, ge=0, le=3, title="photos per report")
    max_photo_bytes: int = Field(
        default=640 * 1024, ge=64 * 1024, le=32 * 1024 * 1024, title="largest photo as sent (bytes)",
        description="the form's script shrinks a phone's photo to photo_long_side_px before sending it",
    )
    max_photo_pixels: int = Field(
        default=40_000_000, ge=1_000_000, le=200_000_000, title="largest photo (pixels)",
        description="a picture larger than this is refused before it is decoded (a decompression bomb)",
    )
    photo_long_side_px: int = Field(
        default=1600, ge=320, le=4096, title="stored photo size (px)", description="longer side after re-encoding"
    )
    max_body_bytes: int = Field(
        default=2 * 1024 * 1024, ge=64 * 1024, le=128 * 1024 * 1024, title="largest form post (bytes)",
        description="at most the wall's IOC_MAX_BODY_BYTES, which the web server applies to every path",
    )
    max_description_chars: int = Field(default=2000, ge=100, le=10_000, title="longest description")
    per_address_per_hour: int = Field(default=5, ge=1, le=1000, title="reports per address per hour")
    per_phone_per_day: int = Field(default=5, ge=1, le=1000, title="reports per phone number per day")
    duplicate_radius_m: float = Field(default=100, gt=0, le=5000, title="near-duplicate distance (m)")
    duplicate_window_h: float = Field(default=24, gt=0, le=24 * 30, title="near-duplicate window (hours)")

    @model_validator(mode="after")
    def _photos_fit(self) -> ReportIntake:
        if self.max_photos * self.max_photo_bytes > self.max_body_bytes:
            raise ConfigProblems([(("max_body_bytes",), (
                f"{self.max_photos} photos of up to {self.max_photo_bytes} bytes do not fit in a post of "
                f"{self.max_body_bytes} bytes; raise max_body_bytes or lower max_photo_bytes"
            ))])
        return self


class ReportZalo(_Model):
    """Reports sent to the Zalo Official Account (the webhook at /report/zalo on the wall)."""

    channel: Slug = Field(
        title="Zalo channel", description="the id of the zalo_zns channel of the OA (its app id, OA secret key, tokens)"
    )
    per_user_per_day: int = Field(default=5, ge=1, le=1000, title="reports per Zalo follower per day")
    events_per_user_per_hour: int = Field(
        default=60, ge=5, le=10_000, title="messages per Zalo follower per hour",
        description="more are answered 200 and dropped (the first one over is kept as a rejection)",
    )
    draft_expiry_h: float = Field(
        default=24, gt=0, le=24 * 7, title="draft expiry (hours)", description="an unfinished report is dropped then"
    )
    image_timeout_s: float = Field(default=10, gt=0, le=60, title="image download timeout (s)")
    image_hosts: list[str] = Field(
        default=["zadn.vn", "zdn.vn", "zalo.me", "zaloapp.com"], min_length=1, max_length=20,
        title="image hosts", description="a photo is fetched only from these hosts or their subdomains (Zalo's CDN)",
    )
    max_send_attempts: int = Field(default=8, ge=1, le=50, title="send attempts per message to a follower")
class ReportDeadlineAlerts(_Model):
    """When an open report's deadline raises an alert to the duty roster of its unit, and how severe it is."""

    due_soon_h: float = Field(
        default=24, ge=0, le=24 * 30, title="due soon within (hours)",
        description="an open report whose deadline is this close is an alert; 0: only overdue reports",
    )
    due_soon_severity: Severity = Field(default=Severity.WARNING, title="severity when due soon")
    overdue_severity: Severity = Field(default=Severity.MAJOR, title="severity when overdue")

    @model_validator(mode="after")
    def _ordered(self) -> ReportDeadlineAlerts:
        if self.overdue_severity.rank < self.due_soon_severity.rank:
            raise ConfigProblems([(("overdue_severity",), (
                f"overdue ({self.overdue_severity.value}) is less severe than due soon "
                f"({self.due_soon_severity.value}); an overdue report must be at least as severe"
            ))])
        return self


class CitizenSms(_Model):
    """The SMS telling a citizen who gave a phone number of each status change of their report."""

    channels: list[Slug] = Field(
        min_length=1, max_length=5, title="SMS channels", description="ids of sms_http channels, tried in order"
    )
    max_attempts: int = Field(default=8, ge=1, le=50, title="attempts before it fails")
    give_up_after_h: float = Field(
        default=24, gt=0, le=24 * 7, title="give up after (hours)", description="an older status is not sent"
    )


class ReportSensors(_Model):
    """Which reports show the nearest flood station's level and camera's snapshot in their detail on the wall."""

    radius_m: float = Field(default=2000, gt=0, le=50_000, title="within (m)",
                            description="the nearest station or camera this close to the report's point")
    categories: list[Slug] = Field(default=["flooding_landslide"], max_length=50, title="categories",
                                   description="category ids whose reports show them")


class ReportsConfig(_Model):
    """Citizens' reports (phản ánh hiện trường): categories, the units that answer them, intake limits."""

    categories: list[ReportCategory] = Field(min_length=1, max_length=50, title="categories")
    units: list[ReportUnit] = Field(min_length=1, max_length=5000, title="responsible units")
    commune_units: dict[AreaCode, Slug] = Field(
        default={}, max_length=20_000, title="People's Committee per commune",
        description="the unit that answers a category whose unit is 'commune', by commune code",
    )
    intake: ReportIntake = Field(default=ReportIntake(), title="intake limits")
    zalo: ReportZalo | None = Field(default=None, title="Zalo Official Account intake")
    alerts: ReportDeadlineAlerts = Field(default=ReportDeadlineAlerts(), title="deadline alerts")
    nearby: ReportSensors = Field(default=ReportSensors(), title="nearby station and camera")
    citizen_sms: CitizenSms | None = Field(
        default=None, title="SMS to the citizen", description="null: the citizen is not sent SMS"
    )

    @model_validator(mode="after")
    def _references(self) -> ReportsConfig:
        checks = _Checks()
        for dup in _duplicates(c.id for c in self.categories):
            checks.add(("categories",), f"category id {dup!r} is used twice; ids must be unique")
        for dup in _duplicates(u.id for u in self.units):
            checks.add(("units",), f"unit id {dup!r} is used twice; ids must be unique")
        units = {u.id for u in self.units}
        if COMMUNE_UNIT in units:
            checks.add(("units",), f"{COMMUNE_UNIT!r} names the commune's People's Committee; give the unit another id")
        for code, unit in self.commune_units.items():
            _ref(checks, ("commune_units", code), unit, units, f"commune {code}", "reports.units")
        uses_commune = False
        for i, cat in enumerate(self.categories):
            if cat.unit == COMMUNE_UNIT:
                uses_commune = True
            else:
                _ref(checks, ("categories", i, "unit"), cat.unit, units, f"category {cat.id}", "reports.units")
            for code, unit in cat.by_commune.items():
                _ref(checks, ("categories", i, "by_commune", code), unit, units, f"category {cat.id}",
                     "reports.units")
        if uses_commune and not self.commune_units:
            checks.add(
                ("commune_units",),
                f"a category's unit is {COMMUNE_UNIT!r} but no commune has a unit; fill commune_units",
            )
        checks.done()
        return self

    def category(self, category_id: str) -> ReportCategory:
        """Return the category with this id; KeyError if there is none."""
        for c in self.categories:
            if c.id == category_id:
                return c
        raise KeyError(category_id)

    def unit(self, unit_id: str) -> ReportUnit:
        """Return the unit with this id; KeyError if there is none."""
        for u in self.units:
            if u.id == unit_id:
                return u
        raise KeyError(unit_id)


# --- root ------------------------------------------------------------------------------------------------


class SiteConfig(_Model):
    """Everything one deployment needs, validated as a whole."""

    site: SiteInfo = Field(title="site")
    areas: list[Area] = Field(min_length=1, max_length=20_000, title="areas")
    map_zones: list[MapZone] = Field(default=[], max_length=5000, title="map zones")
    flood_stations: list[FloodStation] = Field(default=[], max_length=5000, title="flood stations")
    cameras: list[Camera] = Field(default=[], max_length=2000, title="cameras")
    kpis: list[Kpi] = Field(default=[], max_length=1000, title="KPIs")
    roster: Roster = Field(default=Roster(), title="roster")
    channels: list[ChannelConfigs] = Field(default=[], max_length=50, title="notification channels")
    simulation: Simulation = Field(default=Simulation(), title="simulation")
    alerts: AlertsConfig = Field(default=AlertsConfig(), title="alert rules")
    tiles: list[WallTile] = Field(default=[], max_length=500, title="wall tiles")
    working_calendar: WorkingCalendarConfig | None = Field(
        default=None, title="working calendar", description="days off per year (calendar.yaml)"
    )
    reports: ReportsConfig | None = Field(
        default=None, title="citizens' reports", description="categories, units, limits (reports.yaml)"
    )
    sources: dict[Slug, JsonValue] = Field(
        default={},
        max_length=100,
        title="alert sources' own sections",
        description="by alert source type, e.g. rain_gauge; each is validated by its source's model "
        "(ioc.config.sections)",
    )
    # The sections of ``sources`` validated by their registered models (``ioc.config.sections``), by type.
    _source_configs: dict[str, BaseModel] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> SiteConfig:
        checks = _Checks()
        self._check_areas(checks)
        codes = {a.code for a in self.areas}
        self._check_unique(checks)
        for i, st in enumerate(self.flood_stations):
            _ref(checks, ("flood_stations", i, "area_code"), st.area_code, codes, f"station {st.id}", "areas")
        for i, cam in enumerate(self.cameras):
            _ref(checks, ("cameras", i, "area_code"), cam.area_code, codes, f"camera {cam.id}", "areas")
        for i, zone in enumerate(self.map_zones):
            if zone.area_code is not None:
                _ref(
                    checks,
                    ("map_zones", i, "area_code"),
                    zone.area_code,
                    codes,
                    f"map zone {zone.id}",
                    "areas",
                )
        channel_ids = {c.id for c in self.channels}
        if self.reports is not None and self.reports.citizen_sms is not None:
            sms_ids = {c.id for c in self.channels if c.type == "sms_http"}
            for j, ch in enumerate(self.reports.citizen_sms.channels):
                _ref(checks, ("reports", "citizen_sms", "channels", j), ch, sms_ids, "reports.citizen_sms",
                     "channels (of type sms_http)")
        for i, officer in enumerate(self.roster.officers):
            for j, ch in enumerate(officer.channels):
                _ref(
                    checks,
                    ("roster", "officers", i, "channels", j),
                    ch,
                    channel_ids,
                    f"officer {officer.id}",
                    "channels",
                )
            for j, code in enumerate(officer.area_codes):
                _ref(
                    checks,
                    ("roster", "officers", i, "area_codes", j),
                    code,
                    codes,
                    f"officer {officer.id}",
                    "areas",
                )
        for named, spanned in self.roster.area_spans.items():
            for j, code in enumerate([named, *spanned]):
                _ref(checks, ("roster", "area_spans", named, *((j - 1,) if j else ())), code, codes,
                     f"area span of {named}", "areas")
        for i, shift in enumerate(self.roster.shifts):
            _ref(
                checks,
                ("roster", "shifts", i, "area_code"),
                shift.area_code,
                codes,
                f"shift {i} of {shift.officer}",
                "areas",
            )
        self._check_simulation(checks)
        self._check_reports(checks)
        self._check_alerts(checks)
        self._check_tiles(checks)
        checks.done()
        return self

    def _check_reports(self, checks: _Checks) -> None:
        if self.reports is None:
            return
        if self.working_calendar is None:
            checks.add(
                ("reports",),
                "report deadlines are counted in working days but the site has no working_calendar; add "
                "calendar.yaml with each year's days off",
            )
        codes = {a.code for a in self.areas}
        for i, unit in enumerate(self.reports.units):
            _ref(checks, ("reports", "units", i, "area_code"), unit.area_code, codes, f"unit {unit.id}", "areas")
        communes = self.report_communes()
        for code in self.reports.commune_units:
            _ref(checks, ("reports", "commune_units", code), code, communes, f"commune_units {code}",
                 f"areas of level {self.site.levels[-1].id} with a geometry")
        for i, cat in enumerate(self.reports.categories):
            for code in cat.by_commune:
                _ref(checks, ("reports", "categories", i, "by_commune", code), code, communes,
                     f"category {cat.id}", f"areas of level {self.site.levels[-1].id} with a geometry")
            if cat.unit == COMMUNE_UNIT:
                for code in sorted(communes - set(self.reports.commune_units) - set(cat.by_commune)):
                    checks.add(
                        ("reports", "categories", i, "unit"),
                        f"category {cat.id}: commune {code} has no unit in reports.commune_units; add it there "
                        "or in this category's by_commune",
                    )

        zalo = self.reports.zalo
        if zalo is not None:
            kinds = {c.id: c.type for c in self.channels}
            if kinds.get(zalo.channel) != "zalo_zns":
                checks.add(
                    ("reports", "zalo", "channel"),
                    f"reports.zalo.channel {zalo.channel!r} is not a zalo_zns channel of channels.yaml"
                    + (f" (known: {', '.join(sorted(kinds))})" if kinds else "")
                    + "; name the channel of the Official Account that receives the reports",
                )

    def report_communes(self) -> set[str]:
        """Return the codes of the areas reports are routed by: the most specific level, with a geometry."""
        level = self.site.levels[-1].id
        return {a.code for a in self.areas if a.level == level and a.geometry is not None}

    def _check_tiles(self, checks: _Checks) -> None:
        # Subjects of tiles (stations, camera lines and zones, KPIs, units) are checked by the wall when it
        # starts (dashboards.data.tile_problems): a site trimmed for a test or a pilot keeps loading.
        for dup in _duplicates(t.id for t in self.tiles):
            checks.add(("tiles",), f"tile id {dup!r} is used twice in tiles; ids must be unique")
    def _check_areas(self, checks: _Checks) -> None:
        level_ids = {lv.id for lv in self.site.levels}
        by_code = {a.code: a for a in self.areas}
        for i, area in enumerate(self.areas):
            _ref(checks, ("areas", i, "level"), area.level, level_ids, f"area {area.code}", "site.levels")
            if area.parent is None:
                continue
            if area.parent == area.code:
                checks.add(
                    ("areas", i, "parent"),
                    f"area {area.code} names itself as parent; remove parent or fix it",
                )
            elif area.parent not in by_code:
                _ref(checks, ("areas", i, "parent"), area.parent, set(by_code), f"area {area.code}", "areas")
            else:
                seen = {area.code}
                cursor: Area | None = by_code[area.parent]
                while cursor is not None and cursor.parent is not None:
                    if cursor.code in seen:
                        checks.add(
                            ("areas", i, "parent"),
                            f"area {area.code}: parents form a cycle through "
                            f"{cursor.code}; one area must have no parent",
                        )
                        break
                    seen.add(cursor.code)
                    cursor = by_code.get(cursor.parent)

    def _check_unique(self, checks: _Checks) -> None:
        groups: list[tuple[str, str, Iterable[str]]] = [
            ("areas", "area code", (a.code for a in self.areas)),
            ("flood_stations", "station id", (s.id for s in self.flood_stations)),
            (
                "flood_stations",
                "LoRaWAN dev_eui",
                (s.lorawan.dev_eui.lower() for s in self.flood_stations if s.lorawan),
            ),
            ("cameras", "camera id", (c.id for c in self.cameras)),
            ("map_zones", "map zone id", (z.id for z in self.map_zones)),
            ("kpis", "KPI id", (k.id for k in self.kpis)),
            ("channels", "channel id", (c.id for c in self.channels)),
        ]
        for section, what, values in groups:
            for dup in _duplicates(values):
                checks.add((section,), f"{what} {dup!r} is used twice in {section}; ids must be unique")

    def _check_alerts(self, checks: _Checks) -> None:
        codes = {a.code for a in self.areas}
        kpi_ids = {k.id for k in self.kpis}
        for i, rule in enumerate(self.alerts.rules):
            path: KeyPath = ("alerts", "rules", i)
            who = f"rule {rule.id}"
            if rule.source == "kpi" and rule.metric not in kpi_ids:
                checks.add(
                    (*path, "metric"),
                    f"{who}: KPI {rule.metric!r} is not declared in kpis{_suggest(rule.metric, kpi_ids)}; "
                    "a kpi rule's metric is a KPI id",
                )
                continue
            if rule.area_code is not None:
                _ref(checks, (*path, "area_code"), rule.area_code, codes, who, "areas")
            known = dict(self.alert_subjects(rule.source, rule.metric))
            for j, subject in enumerate(rule.subjects or []):
                section = {"flood": "flood_stations", "camera": "cameras", "kpi": "areas"}.get(
                    rule.source, "cameras[].zones (as <camera>/<zone>)"
                )
                _ref(checks, (*path, "subjects", j), subject, set(known), who, section)
            cond = rule.condition
            refs = [(("condition", "value"), cond.value)] + [
                (("condition", "levels", sev.value), th) for sev, th in (cond.levels or {}).items()
            ]
            for rel, th in refs:
                if not isinstance(th, str) or th not in ALERT_REFERENCES[rule.source]:
                    continue
                chosen = [s for s in (rule.subjects or known) if s in known]
                unset = [s for s in chosen if reference_value(known[s], th) is None]
                if rule.subjects is not None and unset:
                    checks.add(
                        (*path, *rel),
                        f"{who}: {th} is not set for {', '.join(unset)}; set it there or leave them out of subjects",
                    )
                elif chosen and len(unset) == len(chosen):
                    checks.add((*path, *rel), f"{who}: {th} is set for none of them; set it or use a number")

    def alert_subjects(self, source: str, metric: str = "") -> list[tuple[str, BaseModel]]:
        """Return the subjects a rule of ``source`` can watch, each with the config its references read."""
        if source == "flood":
            return [(s.id, s) for s in self.flood_stations]
        if source == "camera":
            return [(c.id, c) for c in self.cameras]
        if source == "kpi":
            kpi = next((k for k in self.kpis if k.id == metric), None)
            return [(a.code, kpi) for a in self.areas] if kpi is not None else []
        return [(f"{c.id}/{z.id}", z) for c in self.cameras for z in c.zones]

    def _check_simulation(self, checks: _Checks) -> None:
        stations = {s.id: s for s in self.flood_stations}
        for station_id, sim in self.simulation.stations.items():
            path: KeyPath = ("simulation", "stations", station_id)
            station = stations.get(station_id)
            if station is None:
                checks.add(
                    path,
                    f"simulated station {station_id!r} is not in flood_stations"
                    f"{_suggest(station_id, set(stations))}; add the station or fix the id",
                )
                continue
            rng = station.valid_ranges.water_level_m
            if not (rng.contains(sim.baseline_m) and rng.contains(sim.peak_m + sim.noise_m)):
                checks.add(
                    path,
                    f"simulated station {station_id}: levels {sim.baseline_m}-{sim.peak_m} m fall outside "
                    f"its valid range [{rng.min}, {rng.max}]; the readings would be rejected",
                )
            if sim.interval_s >= station.silent_after_s:
                checks.add(
                    (*path, "interval_s"),
                    f"simulated station {station_id}: interval_s ({sim.interval_s}) is "
                    f"not below silent_after_s ({station.silent_after_s}); the station "
                    "would look silent",
                )

    # --- lookups used by the rest of the system

    def source_config(self, name: str, model: type[_M]) -> _M | None:
        """Return the section ``sources.<name>`` as its model; None when the site has none.

        The loader has validated it (with file and line errors) when the model was registered before loading;
        otherwise it is validated here, and a ``pydantic.ValidationError`` names the fields without lines.
        """
        if name not in self.sources:
            return None
        found = self._source_configs.get(name)
        if isinstance(found, model):
            return found
        validated = model.model_validate(self.sources[name])
        self._source_configs[name] = validated
        return validated

    def with_source_config(self, name: str, config: BaseModel) -> None:
        """Keep the validated model of ``sources.<name>`` (the loader calls this once per registered section)."""
        self._source_configs[name] = config

    def area(self, code: str) -> Area:
        """Return the area with this code; KeyError if there is none."""
        for a in self.areas:
            if a.code == code:
                return a
        raise KeyError(code)

    def station(self, station_id: str) -> FloodStation:
        """Return the flood station with this id; KeyError if there is none."""
        for s in self.flood_stations:
            if s.id == station_id:
                return s
        raise KeyError(station_id)

    def camera(self, camera_id: str) -> Camera:
        """Return the camera with this id; KeyError if there is none."""
        for c in self.cameras:
            if c.id == camera_id:
                return c
        raise KeyError(camera_id)

    def channel(self, channel_id: str) -> ChannelConfig:
        """Return the notification channel with this id; KeyError if there is none."""
        for c in self.channels:
            if c.id == channel_id:
                return c
        raise KeyError(channel_id)


def _ref(checks: _Checks, path: KeyPath, value: str, known: set[str], owner: str, section: str) -> None:
    if value not in known:
        checks.add(
            path,
            f"{owner}: {value!r} is not declared in {section}{_suggest(value, known)}; "
            f"add it to {section} or fix the reference",
        )


def _suggest(value: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _shoelace(points: Sequence[tuple[float, float]]) -> float:
    """Return the absolute area of a polygon given by its vertices (any unit)."""
    total = 0.0
    for (x1, y1), (x2, y2) in zip(points, [*points[1:], points[0]], strict=True):
        total += x1 * y2 - x2 * y1
    return abs(total) / 2
