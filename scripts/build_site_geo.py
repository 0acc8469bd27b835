"""Rebuild ``configs/muong-cha/geo/`` from the public boundary data in ``../shared/data/geo``.

Writes the Điện Biên province outline, the five 2025 communes that cover the former Mường Chà district, and
the former district itself as the union of its 12 pre-2025 communes. Geometries are simplified so the folder
stays small; the output is deterministic, so re-running it gives the same files.

Usage: ``python scripts/build_site_geo.py [--source DIR] [--out DIR]``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from shapely import make_valid, set_precision
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "geo"
DEFAULT_OUT = REPO / "configs" / "muong-cha" / "geo"

PROVINCE_FILE = "11_dien_bien.geojson"
PROVINCE_TOLERANCE = 0.001  # degrees, about 100 m: an outline for the map, not for locating points
COMMUNE_TOLERANCE = 0.0002  # about 20 m: good enough to tell which commune a gauge or camera is in
COMMUNE_FILES = (
    "03172_na_sang.geojson",
    "03181_muong_tung.geojson",
    "03193_pa_ham.geojson",
    "03194_nam_nen.geojson",
    "03202_muong_pon.geojson",
)
KEPT_PROPERTIES = ("code", "name", "nameEn", "fullName", "fullNameEn", "areaKm2")
PRE2025_FILE = "dien_bien_pre2025_communes.geojson"
FORMER_DISTRICT_VN = "Huyện Mường Chà"
FORMER_FILE = "former_muong_cha.geojson"
PRECISION = 1e-6  # degrees, about 0.1 m; coordinates are rounded to this grid


def _polygonal(geom: BaseGeometry) -> MultiPolygon:
    """Return the polygonal part of a geometry as a MultiPolygon (make_valid may add stray lines)."""
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    if isinstance(geom, MultiPolygon):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon | MultiPolygon)]
    polygons: list[Polygon] = []
    for part in parts:
        polygons.extend(part.geoms if isinstance(part, MultiPolygon) else [part])
    return MultiPolygon(polygons)


def _clean(geom: BaseGeometry, tolerance: float) -> MultiPolygon:
    simplified = geom.simplify(tolerance, preserve_topology=True)
    return _polygonal(make_valid(set_precision(simplified, PRECISION)))


def _feature_collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def _single_feature(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    features = data["features"]
    if len(features) != 1:
        raise SystemExit(f"{path}: expected one feature, found {len(features)}")
    feature: dict[str, Any] = features[0]
    return feature


def _write(path: Path, collection: dict[str, Any]) -> None:
    text = json.dumps(collection, ensure_ascii=False, separators=(",", ":"))
    path.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


def build_unit(source: Path, out: Path, name: str, tolerance: float) -> None:
    """Copy one 2025 unit (province or commune), simplified, keeping its GSO code and names."""
    feature = _single_feature(source / "dien_bien_2025" / name)
    props = {k: feature["properties"][k] for k in KEPT_PROPERTIES if k in feature["properties"]}
    geom = _clean(shape(feature["geometry"]), tolerance)
    _write(
        out / name, _feature_collection([{"type": "Feature", "properties": props, "geometry": mapping(geom)}])
    )


def build_former_district(source: Path, out: Path) -> None:
    """Rebuild the former Mường Chà district as the union of its pre-2025 communes."""
    data = json.loads((source / PRE2025_FILE).read_text(encoding="utf-8"))
    members = [f for f in data["features"] if f["properties"]["district_vn"] == FORMER_DISTRICT_VN]
    if len(members) != 12:
        raise SystemExit(f"expected 12 communes of {FORMER_DISTRICT_VN}, found {len(members)}")
    union = unary_union([make_valid(shape(f["geometry"])) for f in members])
    geom = _clean(union, COMMUNE_TOLERANCE)
    props = {
        "code": "former-muong-cha",
        "name": "Mường Chà (huyện cũ)",
        "nameEn": "Muong Cha (former district)",
        "fullName": "Huyện Mường Chà (trước 1/7/2025)",
        "communes": sorted(f["properties"]["commune_vn"] for f in members),
    }
    _write(
        out / FORMER_FILE,
        _feature_collection([{"type": "Feature", "properties": props, "geometry": mapping(geom)}]),
    )


def main(argv: list[str] | None = None) -> int:
    """Regenerate the site's GeoJSON files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="folder holding dien_bien_2025/")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args(argv)
    if not (args.source / "dien_bien_2025").is_dir():
        print(f"no dien_bien_2025/ under {args.source}; pass --source", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    build_unit(args.source, args.out, PROVINCE_FILE, PROVINCE_TOLERANCE)
    for name in COMMUNE_FILES:
        build_unit(args.source, args.out, name, COMMUNE_TOLERANCE)
    build_former_district(args.source, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
