"""Flood stations: their config, their newest water level (live store, else the newest raw row) and alarm level."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg.rows import class_row

from analytics.flood import WATER_LEVEL, level_of
from dashboards.data.db import Database
from dashboards.wall_scope import Scope
from ioc.config.models import SiteConfig
from ioc.errors import SinkUnavailable
from ioc.events import utcnow
from ioc.store.live import LiveReading, LiveStore

logger = logging.getLogger(__name__)

# Stations missing from the live store fall back on their newest raw row, looked for only this far back.
RAW_FALLBACK_WINDOW = timedelta(hours=6)


@dataclass(frozen=True)
class StationSpec:
    """A flood station as the wall display needs it from the site config."""

    id: str
    name: str
    river: str
    area_code: str
    area: str
    lat: float
    lon: float
    thresholds: tuple[float, float, float]
    hysteresis_m: float
    expected_interval_s: float


@dataclass(frozen=True)
class StationView:
    """One station's newest water level and its alarm level (None when the station never reported)."""

    id: str
    name: str
    river: str
    area_code: str
    area: str
    lat: float
    lon: float
    thresholds: tuple[float, float, float]
    expected_interval_s: float
    value: float | None
    observed_at: datetime | None
    level: int | None


@dataclass(frozen=True)
class _LatestRow:
    station_id: str
    time: datetime
    value: float


_FLOOD_ALERT_LEVELS_SQL = """
SELECT source_id, params->>'alarm_level'
  FROM alerts
 WHERE status <> 'resolved' AND source_kind = 'flood' AND params ? 'alarm_level'
"""
# One index probe per station (primary key station_id, metric, time), not a scan of the window.
_LATEST_RAW_SQL = """
SELECT s.station_id, r.time, r.value
  FROM unnest(%s::text[]) AS s(station_id)
 CROSS JOIN LATERAL (
       SELECT time, value FROM sensor_readings
        WHERE station_id = s.station_id AND metric = %s AND time >= %s
        ORDER BY time DESC LIMIT 1) AS r
"""


def station_specs(site: SiteConfig) -> tuple[StationSpec, ...]:
    """Take the flood stations of a site config, in config order."""
    areas = {a.code: a.name for a in site.areas}
    return tuple(
        StationSpec(
            id=s.id,
            name=s.name,
            river=s.river,
            area_code=s.area_code,
            area=areas.get(s.area_code, s.area_code),
            lat=s.lat,
            lon=s.lon,
            thresholds=(s.alarm_levels.I, s.alarm_levels.II, s.alarm_levels.III),
            hysteresis_m=s.hysteresis_m,
            expected_interval_s=float(s.expected_interval_s),
        )
        for s in site.flood_stations
    )


def station_view(
    spec: StationSpec, latest: tuple[datetime, float] | None, alert_level: int | None
) -> StationView:
    """Combine a station's config, its newest value and the level of its open alert into one view.

    The open alert's level is the starting point for the hysteresis, so the tile agrees with the alert feed
    while the water hovers just under a threshold.
    """
    observed_at, value = latest if latest is not None else (None, None)
    level = None
    if value is not None:
        level = level_of(value, spec.thresholds, alert_level or 0, spec.hysteresis_m)
    return StationView(
        id=spec.id,
        name=spec.name,
        river=spec.river,
        area_code=spec.area_code,
        area=spec.area,
        lat=spec.lat,
        lon=spec.lon,
        thresholds=spec.thresholds,
        expected_interval_s=spec.expected_interval_s,
        value=value,
        observed_at=observed_at,
        level=level,
    )


class StationReader:
    """The stations' newest values from the live store, with PostgreSQL standing in for what it lacks."""

    def __init__(self, db: Database, live: LiveStore, site: SiteConfig) -> None:
        self._db = db
        self._live = live
        self._specs = station_specs(site)

    def stations(self, scope: Scope | None = None) -> list[StationView]:
        """Return every configured flood station (in the scope) with its newest value, in config order.

        With PostgreSQL down the live values still show (levels then start from 0 for the hysteresis); with
        the live store down the newest rows in PostgreSQL stand in for it.
        """
        specs = [s for s in self._specs if scope is None or scope.covers(s.area_code)]
        latest: dict[str, tuple[datetime, float]] = {}
        for sid, reading in self.live_readings().items():
            value = reading.values.get(WATER_LEVEL)
            if value is not None:
                latest[sid] = (reading.observed_at, value)
        missing = [s.id for s in specs if s.id not in latest]
        levels: dict[str, int] = {}
        try:
            with self._db.connection() as conn:
                if missing:
                    cur = conn.cursor(row_factory=class_row(_LatestRow))
                    since = utcnow() - RAW_FALLBACK_WINDOW
                    for row in cur.execute(_LATEST_RAW_SQL, (missing, WATER_LEVEL, since)):
                        latest[row.station_id] = (row.time, row.value)
                for sid, lvl in conn.execute(_FLOOD_ALERT_LEVELS_SQL):
                    if str(lvl).isdigit():
                        levels[sid] = int(lvl)
        except SinkUnavailable as exc:
            logger.warning("stations shown from live values only: %s", exc)
        return [station_view(spec, latest.get(spec.id), levels.get(spec.id)) for spec in specs]

    def live_readings(self) -> dict[str, LiveReading]:
        """Return the live store's newest readings; nothing when it is down (the database has them all)."""
        try:
            return self._live.latest_readings()
        except SinkUnavailable as exc:
            logger.warning("live store unreachable, using the database: %s", exc)
            return {}
