"""Wall tiles as data: wall.yaml is read, each kind needs its own fields, bad subjects are reported."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dashboards.data import tile_problems
from dashboards.wall_scope import Scope, expand
from ioc.config.loader import load_site, validate_site
from ioc.config.models import SiteConfig


@pytest.fixture
def site_copy(site_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "site"
    shutil.copytree(site_dir, copy)
    # Geometry paths are relative to the site; the copy keeps them.
    return copy


def write_tiles(site: Path, body: str) -> None:
    (site / "wall.yaml").write_text("tiles:\n" + body, encoding="utf-8")


def test_the_sample_site_declares_one_tile_of_each_kind(site_dir: Path) -> None:
    site = load_site(site_dir)
    assert {t.kind for t in site.tiles} == {"flood_level", "traffic_count", "crowd", "kpi"}
    assert tile_problems(site) == {}


def test_a_site_without_wall_yaml_has_no_tiles(site_copy: Path) -> None:
    (site_copy / "wall.yaml").unlink()
    assert load_site(site_copy).tiles == []


@pytest.mark.parametrize(
    ("tile", "message"),
    [
        ("{id: t-a, kind: flood_level, freshness_s: 60}", "a flood_level tile needs station"),
        ("{id: t-a, kind: traffic_count, camera: thpt-road, freshness_s: 60}", "needs line"),
        (
            "{id: t-a, kind: crowd, camera: ns-one-stop, zone: stage, line: main, freshness_s: 60}",
            "does not use line",
        ),
        ("{id: t-a, kind: kpi, kpi: dossiers_on_time_pct, freshness_s: 60}", "needs unit"),
        ("{id: t-a, kind: weather, freshness_s: 60}", "(got 'weather')"),
        ("{id: t-a, kind: flood_level, station: NS-01}", "freshness_s"),
    ],
)
def test_each_kind_needs_its_fields_and_the_error_names_the_file_and_line(
    site_copy: Path, tile: str, message: str
) -> None:
    write_tiles(
        site_copy, f"  - {{id: ok, kind: flood_level, station: NS-01, freshness_s: 60}}\n  - {tile}\n"
    )
    issues = validate_site(site_copy)
    assert issues, "an invalid tile must not load"
    assert any(message in i.message for i in issues), [i.message for i in issues]
    assert any(i.file.endswith("wall.yaml") and i.line == 3 for i in issues), [
        (i.file, i.line) for i in issues
    ]


def test_duplicate_tile_ids_are_refused(site_copy: Path) -> None:
    write_tiles(site_copy, "  - {id: t-a, kind: flood_level, station: NS-01, freshness_s: 60}\n" * 2)
    assert any("used twice" in i.message for i in validate_site(site_copy))


def test_unknown_subjects_are_reported_by_the_wall(site_copy: Path) -> None:
    write_tiles(
        site_copy,
        "  - {id: t-s, kind: flood_level, station: XX-99, freshness_s: 60}\n"
        "  - {id: t-l, kind: traffic_count, camera: thpt-road, line: nowhere, freshness_s: 60}\n"
        "  - {id: t-z, kind: crowd, camera: no-camera, zone: stage, freshness_s: 60}\n"
        "  - {id: t-k, kind: kpi, kpi: dossiers_on_time_pct, unit: '99999', freshness_s: 60}\n"
        "  - {id: fine, kind: crowd, camera: ns-one-stop, zone: stage, freshness_s: 60}\n",
    )
    problems = tile_problems(load_site(site_copy))
    assert set(problems) == {"t-s", "t-l", "t-z", "t-k"}
    assert "XX-99" in problems["t-s"] and "nowhere" in problems["t-l"] and "no-camera" in problems["t-z"]
    assert "99999" in problems["t-k"]


@pytest.mark.parametrize(
    ("scopes", "covered", "not_covered"),
    [
        ((), ["03172", "03202", None], []),
        (("03172",), ["03172"], ["03181", "11", None]),
        (("former-muong-cha",), ["former-muong-cha", "03172", "03181", "03193", "03194", "03202"], ["11"]),
        (("11",), ["11", "former-muong-cha", "03172", "03202"], [None]),
    ],
)
def test_scopes_widen_to_the_areas_inside_them(
    site_dir: Path, scopes: tuple[str, ...], covered: list[str | None], not_covered: list[str | None]
) -> None:
    site: SiteConfig = load_site(site_dir)
    scope = expand(site, scopes)
    assert all(scope.covers(c) for c in covered)
    assert not any(scope.covers(c) for c in not_covered)
    assert Scope.nothing().covers("03172") is False


@pytest.mark.parametrize(
    ("state", "count", "limit", "congestion", "key"),
    [
        # Regression (issue 15, item 2): 60 people, limit 40, analytics said "free": the red tile said "thông thoáng".
        ("alarm", 60, 40, "free", "wall.crowd.over_limit"),
        ("alarm", 30, 40, "jammed", "wall.crowd.too_dense"),  # red for the density, under the head count
        ("warning", 35, 40, "free", "wall.crowd.near_limit"),
        ("warning", 20, 40, "jammed", "wall.congestion.jammed"),
        ("ok", 10, 40, "moderate", "wall.congestion.moderate"),
        ("ok", 10, None, None, "wall.congestion.free"),
        ("ok", 10, 40, "heavy", "wall.congestion.free"),  # green is never called heavy
    ],
)
def test_crowd_words_follow_the_colour(
    state: str, count: int, limit: int | None, congestion: str | None, key: str
) -> None:
    from dashboards.wall_pages import crowd_words

    assert crowd_words(state, count, limit, congestion) == key


@pytest.mark.parametrize(
    ("start", "kind", "label"),
    [
        # Regression (issue 15, item 1): November 2026 starts at 2026-10-31 17:00Z and said "10/2026".
        (datetime(2026, 10, 31, 17, tzinfo=UTC), "month", "11/2026"),
        (datetime(2026, 9, 30, 17, tzinfo=UTC), "quarter", "quý 4/2026"),
        (datetime(2025, 12, 31, 17, tzinfo=UTC), "year", "2026"),
    ],
)
def test_a_kpi_period_is_named_in_the_sites_zone(start: datetime, kind: str, label: str) -> None:
    from dashboards.format import VN_TZ
    from dashboards.wall_pages import kpi_period

    assert kpi_period(start, kind, VN_TZ, "vi") == label
