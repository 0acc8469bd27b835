"""Area geometry at runtime: which areas contain a point, and simplified outlines for the map.

Built once at start from a validated ``SiteConfig`` (config stays data; this step opens the GeoJSON files).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shapely import STRtree
from shapely.geometry import Point, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union
from shapely.prepared import PreparedGeometry, prep

from ioc.config.models import MapZone, SiteConfig
from ioc.errors import ConfigError, ConfigIssue

logger = logging.getLogger(__name__)

DRAW_TOLERANCE = 0.0005  # degrees, about 50 m: enough detail for a province or commune on a wall screen


@dataclass(frozen=True)
class AreaShape:
    """One area's geometry with what the map and the lookups need to know about it."""

    code: str
    name: str
    level: str
    rank: int  # position of the level in site.levels; higher is more specific
    parent: str | None
    geometry: BaseGeometry
    prepared: PreparedGeometry


class AreaIndex:
    """Point-in-area lookups over every area of a site that has a geometry file."""

    def __init__(self, shapes: list[AreaShape]) -> None:
        self._shapes = shapes
        self._by_code = {s.code: s for s in shapes}
        self._tree = STRtree([s.geometry for s in shapes])

    @classmethod
    def from_site(cls, site: SiteConfig, site_dir: Path | str) -> AreaIndex:
        """Load each area's GeoJSON file (relative to ``site_dir``); raise ``ConfigError`` naming bad ones."""
        root = Path(site_dir)
        shapes: list[AreaShape] = []
        issues: list[ConfigIssue] = []
        for i, area in enumerate(site.areas):
            if area.geometry is None:
                continue
            path = root / area.geometry
            try:
                geom = load_geometry(path)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                issues.append(
                    ConfigIssue(
                        str(path),
                        None,
                        f"areas[{i}].geometry",
                        f"area {area.code}: cannot read its geometry ({exc}); fix the file or run "
                        "scripts/build_site_geo.py",
                    )
                )
                continue
            shapes.append(
                AreaShape(
                    code=area.code,
                    name=area.name,
                    level=area.level,
                    rank=site.site.level_rank(area.level),
                    parent=area.parent,
                    geometry=geom,
                    prepared=prep(geom),
                )
            )
        if issues:
            raise ConfigError(issues)
        logger.info("area index: %d areas with geometry", len(shapes))
        return cls(shapes)

    @property
    def codes(self) -> list[str]:
        """Return the codes of the areas that have a geometry, in config order."""
        return [s.code for s in self._shapes]

    def geometry(self, code: str) -> BaseGeometry:
        """Return the full-resolution geometry of an area; KeyError if it has none."""
        return self._by_code[code].geometry

    def locate(self, lon: float, lat: float) -> list[str]:
        """Return the codes of the areas holding the point, most specific level first, then smallest."""
        point = Point(lon, lat)
        hits = [self._shapes[int(i)] for i in self._tree.query(point)]
        inside = [s for s in hits if s.prepared.covers(point)]
        inside.sort(key=lambda s: (-s.rank, s.geometry.area))
        return [s.code for s in inside]

    def contains(self, code: str, lon: float, lat: float) -> bool:
        """Return whether the area ``code`` contains the point (on its edge counts)."""
        return bool(self._by_code[code].prepared.covers(Point(lon, lat)))

    def geojson_features(self, tolerance: float = DRAW_TOLERANCE) -> list[dict[str, Any]]:
        """Return one GeoJSON Feature per area, simplified for drawing, broadest level first."""
        features = []
        for s in sorted(self._shapes, key=lambda s: s.rank):
            drawn = s.geometry.simplify(tolerance, preserve_topology=True)
            features.append(
                {
                    "type": "Feature",
                    "id": s.code,
                    "properties": {"code": s.code, "name": s.name, "level": s.level, "parent": s.parent},
                    "geometry": mapping(drawn),
                }
            )
        return features


def load_geometry(path: Path) -> BaseGeometry:
    """Read a GeoJSON file (FeatureCollection, Feature or bare geometry) into one shapely geometry."""
    data = json.loads(path.read_text(encoding="utf-8"))
    kind = data.get("type")
    if kind == "FeatureCollection":
        geoms = [shape(f["geometry"]) for f in data["features"] if f.get("geometry")]
    elif kind == "Feature":
        geoms = [shape(data["geometry"])]
    else:
        geoms = [shape(data)]
    if not geoms:
        raise ValueError(f"{path.name} holds no geometry")
    geom = geoms[0] if len(geoms) == 1 else unary_union(geoms)
    if geom.is_empty or geom.area <= 0:
        raise ValueError(f"{path.name} holds no polygon")
    return geom


def map_zone_features(zones: list[MapZone]) -> list[dict[str, Any]]:
    """Return the site's map zones as GeoJSON Features (closed polygons, [lon, lat])."""
    features = []
    for z in zones:
        ring = [list(p) for p in z.polygon]
        if ring[0] != ring[-1]:
            ring.append(ring[0])
        features.append(
            {
                "type": "Feature",
                "id": z.id,
                "properties": {"id": z.id, "name": z.name, "kind": z.kind, "area_code": z.area_code},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    return features
