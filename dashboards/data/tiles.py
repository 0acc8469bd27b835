"""The wall's declared tiles (``tiles`` in wall.yaml): one reader per tile kind, found in ``TILE_READERS``.

A reader takes the shared context of one read of the wall (an open connection, the site's look-ups, the
stations in scope) and one tile, and returns the tile's newest value with its status, or None when the tile's
subject is outside the user's scope. Whether a value is ok, a warning or an alarm is decided by
``analytics.status``; a new kind of tile is one reader function and one entry in the table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from analytics.status import crowd_status, flood_status, kpi_status
from dashboards.data.db import Database
from dashboards.data.stations import StationReader, StationView
from dashboards.wall_scope import Scope
from ioc.config.models import Area, Camera, Kpi, SiteConfig, TileKind, WallTile
from ioc.events import utcnow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TileView:
    """One declared tile with its newest value; ``state``: ok, warning, major or alarm (None without data)."""

    id: str
    kind: str
    title: str
    value: float | None
    detail: dict[str, Any]
    observed_at: datetime | None
    freshness_s: float
    state: str | None
    area_code: str | None


# Crossings of one line over a window, from the minute rollup (never the raw crossings).
_LINE_COUNT_SQL = """
SELECT direction, sum(n)::bigint FROM line_counts_1m
 WHERE camera_id = %s AND line_id = %s AND bucket >= %s
 GROUP BY direction
"""
_NEWEST_SUMMARY_SQL = (
    "SELECT window_end FROM detection_summaries WHERE camera_id = %s ORDER BY window_end DESC LIMIT 1"
)
_ZONE_SQL = """
SELECT at, total, density_per_m2, congestion FROM zone_occupancy
 WHERE camera_id = %s AND zone_id = %s ORDER BY at DESC LIMIT 1
"""
_KPI_SQL = """
SELECT value, target, period_kind, period_start, updated_at FROM kpi_values
 WHERE kpi_id = %s AND unit_code = %s ORDER BY period_start DESC, updated_at DESC LIMIT 1
"""


@dataclass(frozen=True)
class TileContext:
    """What the tile readers share for one read of the wall."""

    conn: psycopg.Connection[Any]
    lang: str
    scope: Scope | None
    stations: Mapping[str, StationView]  # the stations in scope
    cameras: Mapping[str, Camera]
    kpis: Mapping[str, Kpi]
    areas: Mapping[str, Area]

    def covers(self, area_code: str) -> bool:
        """Say whether the user's scope covers an area."""
        return self.scope is None or self.scope.covers(area_code)


# A tile kind's reader: (context, tile, its title in the language or None) -> its view, None outside the scope.
TileReadFn = Callable[[TileContext, WallTile, str | None], TileView | None]


def flood_level_tile(ctx: TileContext, tile: WallTile, title: str | None) -> TileView | None:
    """A station's newest water level and alarm level."""
    st = ctx.stations.get(tile.station or "")
    if st is None:
        return None  # out of scope
    return TileView(
        tile.id,
        tile.kind,
        title or st.name,
        st.value,
        {"level": st.level, "thresholds": st.thresholds, "river": st.river},
        st.observed_at,
        tile.freshness_s,
        flood_status(st.level),
        st.area_code,
    )


def traffic_count_tile(ctx: TileContext, tile: WallTile, title: str | None) -> TileView | None:
    """The crossings of one camera line over the tile's window, by direction."""
    cam = ctx.cameras[tile.camera or ""]
    if not ctx.covers(cam.area_code):
        return None
    line = next(ln for ln in cam.lines if ln.id == tile.line)
    since = utcnow() - timedelta(minutes=tile.window_min)
    by_dir = {str(d): int(n) for d, n in ctx.conn.execute(_LINE_COUNT_SQL, (cam.id, line.id, since))}
    newest = ctx.conn.execute(_NEWEST_SUMMARY_SQL, (cam.id,)).fetchone()
    observed = newest[0] if newest else None
    total = sum(by_dir.values()) if observed is not None or by_dir else None
    return TileView(
        tile.id,
        tile.kind,
        title or cam.name,
        None if total is None else float(total),
        {
            "in": by_dir.get("in", 0),
            "out": by_dir.get("out", 0),
            "in_label": line.in_label,
            "out_label": line.out_label,
            "window_min": tile.window_min,
        },
        observed,
        tile.freshness_s,
        None if total is None else "ok",
        cam.area_code,
    )


def crowd_tile(ctx: TileContext, tile: WallTile, title: str | None) -> TileView | None:
    """The newest occupancy of one camera zone against its limits."""
    cam = ctx.cameras[tile.camera or ""]
    if not ctx.covers(cam.area_code):
        return None
    zone = next(z for z in cam.zones if z.id == tile.zone)
    limit = zone.thresholds.max_count
    row = ctx.conn.execute(_ZONE_SQL, (cam.id, zone.id)).fetchone()
    if row is None:
        return TileView(
            tile.id,
            tile.kind,
            title or zone.name or cam.name,
            None,
            {"max_count": limit},
            None,
            tile.freshness_s,
            None,
            cam.area_code,
        )
    at, total, density, congestion = row
    return TileView(
        tile.id,
        tile.kind,
        title or zone.name or cam.name,
        float(total),
        {"density": density, "max_count": limit, "congestion": congestion},
        at,
        tile.freshness_s,
        crowd_status(total, limit, density, zone.thresholds.max_density_per_m2, congestion),
        cam.area_code,
    )


def kpi_tile(ctx: TileContext, tile: WallTile, title: str | None) -> TileView | None:
    """The newest reported value of one KPI for one unit against its target."""
    unit = tile.unit or ""
    if not ctx.covers(unit):
        return None
    kpi = ctx.kpis[tile.kpi or ""]
    area = ctx.areas.get(unit)
    area_name = (area.name_en or area.name) if area and ctx.lang == "en" else (area.name if area else unit)
    name = kpi.name_en if ctx.lang == "en" else kpi.name_vi
    row = ctx.conn.execute(_KPI_SQL, (kpi.id, unit)).fetchone()
    value = target = updated = period = None
    if row:
        value, target, kind, start, updated = row
        period = {"kind": kind, "start": start}
    target = target if target is not None else kpi.target
    return TileView(
        tile.id,
        tile.kind,
        title or f"{name} · {area_name}",
        value,
        {"unit": kpi.unit, "target": target, "period": period},
        updated,
        tile.freshness_s,
        kpi_status(value, target, kpi.higher_is_better),
        unit,
    )


TILE_READERS: dict[TileKind, TileReadFn] = {
    "flood_level": flood_level_tile,
    "traffic_count": traffic_count_tile,
    "crowd": crowd_tile,
    "kpi": kpi_tile,
}


def tile_problems(site: SiteConfig) -> dict[str, str]:
    """Return, by tile id, why a declared tile cannot be shown (a subject the site does not declare)."""
    stations = {s.id for s in site.flood_stations}
    cameras = {c.id: c for c in site.cameras}
    kpis = {k.id for k in site.kpis}
    codes = {a.code for a in site.areas}
    problems: dict[str, str] = {}
    for tile in site.tiles:
        cam = cameras.get(tile.camera or "")
        if tile.station is not None and tile.station not in stations:
            problems[tile.id] = f"station {tile.station!r} is not in flood_stations"
        elif tile.kpi is not None and tile.kpi not in kpis:
            problems[tile.id] = f"KPI {tile.kpi!r} is not in kpis"
        elif tile.unit is not None and tile.unit not in codes:
            problems[tile.id] = f"unit {tile.unit!r} is not in areas"
        elif tile.camera is not None and cam is None:
            problems[tile.id] = f"camera {tile.camera!r} is not in cameras"
        elif cam is not None and tile.line is not None and tile.line not in {ln.id for ln in cam.lines}:
            problems[tile.id] = f"camera {cam.id} has no counting line {tile.line!r}"
        elif cam is not None and tile.zone is not None and tile.zone not in {z.id for z in cam.zones}:
            problems[tile.id] = f"camera {cam.id} has no zone {tile.zone!r}"
    return problems


class TileReader:
    """The site's declared tiles, each read by the reader of its kind."""

    def __init__(self, db: Database, site: SiteConfig, stations: StationReader) -> None:
        self._db = db
        self._site = site
        self._stations = stations
        self._cameras = {c.id: c for c in site.cameras}
        self._kpis = {k.id: k for k in site.kpis}
        self._areas = {a.code: a for a in site.areas}
        broken = tile_problems(site)
        for tile_id, why in broken.items():
            logger.error("wall tile %s is left out: %s (fix tiles in wall.yaml)", tile_id, why)
        self._tiles = [tile for tile in site.tiles if tile.id not in broken]

    def tiles(self, lang: str = "vi", scope: Scope | None = None) -> list[TileView]:
        """Return the site's declared tiles (in the scope) with their newest values, in config order."""
        stations = {s.id: s for s in self._stations.stations(scope)}
        out: list[TileView] = []
        with self._db.connection() as conn:
            ctx = TileContext(conn, lang, scope, stations, self._cameras, self._kpis, self._areas)
            for tile in self._tiles:
                title = tile.title_en if lang == "en" else tile.title_vi
                view = TILE_READERS[tile.kind](ctx, tile, title)
                if view is not None:
                    out.append(view)
        return out
