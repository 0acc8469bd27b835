"""Area geometry at runtime: loading the sample's boundaries, locating points, drawing outlines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import shapely

from ioc.config import load_site
from ioc.config.models import SiteConfig
from ioc.errors import ConfigError
from ioc.geo import AreaIndex, map_zone_features

SAMPLE = Path(__file__).resolve().parents[1] / "configs" / "muong-cha"
SITE = load_site(SAMPLE)
FORMER_DISTRICT_COMMUNES = {"03172", "03181", "03193", "03194", "03202"}


@pytest.fixture(scope="module")
def index() -> AreaIndex:
    return AreaIndex.from_site(SITE, SAMPLE)


def test_every_area_has_a_readable_geometry(index: AreaIndex) -> None:
    assert set(index.codes) == {a.code for a in SITE.areas}
    for code in index.codes:
        assert index.geometry(code).is_valid, code


def test_geo_folder_stays_small() -> None:
    total = sum(p.stat().st_size for p in (SAMPLE / "geo").iterdir())
    assert total < 600 * 1024


@pytest.mark.parametrize(
    ("kind", "item_id", "lon", "lat", "area_code"),
    [("station", s.id, s.lon, s.lat, s.area_code) for s in SITE.flood_stations]
    + [("camera", c.id, c.lon, c.lat, c.area_code) for c in SITE.cameras],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_points_lie_in_their_declared_commune(
    index: AreaIndex, kind: str, item_id: str, lon: float, lat: float, area_code: str
) -> None:
    found = index.locate(lon, lat)
    assert found[0] == area_code, f"{kind} {item_id} at ({lon}, {lat}) is in {found}"
    assert found[1:] == ["former-muong-cha", "11"]


@pytest.mark.parametrize(
    ("lon", "lat", "expected"),
    [
        (105.8542, 21.0285, []),  # Hà Nội: outside the site
        (103.0167, 21.3917, ["11"]),  # Điện Biên Phủ: in the province, not in the former district
    ],
    ids=["outside", "province-only"],
)
def test_locate_outside_the_communes(index: AreaIndex, lon: float, lat: float, expected: list[str]) -> None:
    assert index.locate(lon, lat) == expected


def test_former_district_lies_across_its_successor_communes(index: AreaIndex) -> None:
    former = index.geometry("former-muong-cha")
    successors = shapely.union_all([index.geometry(c) for c in FORMER_DISTRICT_COMMUNES])
    # Sources differ in resolution, so allow a margin: most of the old district is inside the five communes.
    assert former.intersection(successors).area / former.area > 0.85


def test_geojson_features_are_simplified_and_carry_codes(index: AreaIndex) -> None:
    features = index.geojson_features()
    assert features[0]["properties"]["level"] == "province"
    assert {f["properties"]["code"] for f in features} == set(index.codes)
    for f in features:
        drawn = shapely.geometry.shape(f["geometry"])
        full = index.geometry(f["id"])
        assert shapely.get_num_coordinates(drawn) <= shapely.get_num_coordinates(full)
    json.dumps(features)  # plain JSON for the map


def test_map_zone_features_are_closed_polygons() -> None:
    features = map_zone_features(SITE.map_zones)
    assert len(features) == len(SITE.map_zones)
    for f in features:
        ring = f["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1]
        assert shapely.geometry.shape(f["geometry"]).is_valid


def test_unreadable_geometry_names_the_file(tmp_path: Path) -> None:
    site_dir = tmp_path / "site"
    shutil.copytree(SAMPLE, site_dir)
    (site_dir / "geo" / "03194_nam_nen.geojson").write_text("{not json", encoding="utf-8")
    site: SiteConfig = load_site(site_dir)
    with pytest.raises(ConfigError) as raised:
        AreaIndex.from_site(site, site_dir)
    [issue] = raised.value.issues
    assert issue.file.endswith("03194_nam_nen.geojson")
    assert issue.key == "areas[5].geometry"
