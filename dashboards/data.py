"""What the wall display reads, converted at the edge into small frozen values.

``PostgresWallData`` is the dashboards' one adapter to PostgreSQL and the live store: it turns rows into
``StationView``, ``AlertView`` and ``Point`` values and psycopg's connection errors into ``SinkUnavailable``,
so the pages never see a vendor type or a vendor exception. Trends read the minute rollups, never raw rows, so
a chart of a day costs at most 1,440 rows per station.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import psycopg
from psycopg.rows import class_row
from psycopg_pool import ConnectionPool

from analytics.flood import WATER_LEVEL, level_of
from dashboards import strings as _strings  # noqa: F401  (registers the catalog)
from ioc.config.models import SiteConfig
from ioc.errors import SinkUnavailable
from ioc.events import utcnow
from ioc.geo import AreaIndex
from ioc.i18n import t
from ioc.store.live import LiveReading, LiveStore

logger = logging.getLogger(__name__)

# Minute rollups up to two days, hourly ones beyond: a trend never needs more than a few thousand points.
MINUTE_ROLLUP_MAX_HOURS = 48
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
class AlertView:
    """One open alert, its message already in the reader's language."""

    alert_id: UUID
    key: str
    severity: str
    status: str
    message: str
    opened_at: datetime
    updated_at: datetime
    area_code: str | None
    area: str | None
    source_kind: str
    source_id: str
    value: float | None


@dataclass(frozen=True)
class Point:
    """One point of a trend: the average over its bucket."""

    at: datetime
    value: float


@dataclass(frozen=True)
class Freshness:
    """How current each source of the wall is, and whether it could be read at all."""

    checked_at: datetime
    database_ok: bool
    live_ok: bool
    live_newest: datetime | None
    readings_newest: datetime | None
    alerts_read_at: datetime | None


class WallData(Protocol):
    """Everything the wall display reads."""

    def stations(self) -> list[StationView]:
        """Return every configured flood station with its newest value, in config order."""

    def open_alerts(self, limit: int = 20, lang: str = "vi") -> list[AlertView]:
        """Return the open and acknowledged alerts, most severe and newest first."""

    def count_open_alerts(self) -> int:
        """Return how many alerts are not resolved."""

    def level_history(self, station_id: str, hours: float) -> list[Point]:
        """Return a station's water level over the last ``hours``, oldest first."""

    def freshness(self) -> Freshness:
        """Report how old each source is; never raises."""


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


def render_message(message_key: str, params: Mapping[str, Any], lang: str) -> str:
    """Format an alert message in ``lang`` from its template key and parameters."""
    return t(message_key, lang, **params)


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


@dataclass(frozen=True)
class _AlertRow:
    alert_id: UUID
    alert_key: str
    severity: str
    status: str
    message_key: str
    params: dict[str, Any]
    opened_at: datetime
    updated_at: datetime
    area_code: str | None
    source_kind: str
    source_id: str
    value: float | None


@dataclass(frozen=True)
class _LatestRow:
    station_id: str
    time: datetime
    value: float


_OPEN_ALERTS_SQL = """
SELECT alert_id, alert_key, severity, status, message_key, params, opened_at, updated_at, area_code,
       source_kind, source_id, value
  FROM alerts
 WHERE status <> 'resolved'
 ORDER BY array_position(ARRAY['critical', 'major', 'warning', 'info'], severity), opened_at DESC
 LIMIT %s
"""
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
_HISTORY_SQL = {
    "1m": "SELECT bucket AS at, value_avg AS value FROM sensor_readings_1m "
    "WHERE station_id = %s AND metric = %s AND bucket >= %s ORDER BY bucket",
    "1h": "SELECT bucket AS at, value_avg AS value FROM sensor_readings_1h "
    "WHERE station_id = %s AND metric = %s AND bucket >= %s ORDER BY bucket",
}


class PostgresWallData:
    """The wall's data from PostgreSQL (alerts, trends) and the live store (newest values)."""

    def __init__(self, pool: ConnectionPool, live: LiveStore, site: SiteConfig) -> None:
        self._pool = pool
        self._live = live
        self._site = site
        self._specs = station_specs(site)
        self._areas = {a.code: a.name for a in site.areas}
        self._alerts_read_at: datetime | None = None

    def stations(self) -> list[StationView]:
        """Return every configured flood station with its newest value, in config order.

        With PostgreSQL down the live values still show (levels then start from 0 for the hysteresis); with
        the live store down the newest rows in PostgreSQL stand in for it.
        """
        latest: dict[str, tuple[datetime, float]] = {}
        for sid, reading in self._live_readings().items():
            value = reading.values.get(WATER_LEVEL)
            if value is not None:
                latest[sid] = (reading.observed_at, value)
        missing = [s.id for s in self._specs if s.id not in latest]
        levels: dict[str, int] = {}
        try:
            with self._connection() as conn:
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
        return [station_view(spec, latest.get(spec.id), levels.get(spec.id)) for spec in self._specs]

    def open_alerts(self, limit: int = 20, lang: str = "vi") -> list[AlertView]:
        """Return the open and acknowledged alerts, most severe and newest first."""
        with self._connection() as conn:
            rows = (
                conn.cursor(row_factory=class_row(_AlertRow)).execute(_OPEN_ALERTS_SQL, (limit,)).fetchall()
            )
        self._alerts_read_at = utcnow()
        return [self._alert_view(row, lang) for row in rows]

    def count_open_alerts(self) -> int:
        """Return how many alerts are not resolved."""
        with self._connection() as conn:
            row = conn.execute("SELECT count(*) FROM alerts WHERE status <> 'resolved'").fetchone()
        return int(row[0]) if row else 0

    def level_history(self, station_id: str, hours: float) -> list[Point]:
        """Return a station's water level over the last ``hours``, oldest first, from the rollups."""
        rollup = "1m" if hours <= MINUTE_ROLLUP_MAX_HOURS else "1h"
        since = utcnow() - timedelta(hours=hours)
        with self._connection() as conn:
            cur = conn.cursor(row_factory=class_row(Point))
            return cur.execute(_HISTORY_SQL[rollup], (station_id, WATER_LEVEL, since)).fetchall()

    def freshness(self) -> Freshness:
        """Report how old each source is; never raises."""
        live_ok, live_newest = True, None
        try:
            stamps = [r.observed_at for r in self._live.latest_readings().values()]
            live_newest = max(stamps, default=None)
        except SinkUnavailable as exc:
            logger.warning("live store unreachable: %s", exc)
            live_ok = False
        database_ok, readings_newest = True, None
        try:
            with self._connection() as conn:
                row = conn.execute(
                    "SELECT max(time) FROM sensor_readings WHERE time >= %s",
                    (utcnow() - RAW_FALLBACK_WINDOW,),
                ).fetchone()
            readings_newest = row[0] if row else None
        except SinkUnavailable as exc:
            logger.warning("database unreachable: %s", exc)
            database_ok = False
        return Freshness(
            checked_at=utcnow(),
            database_ok=database_ok,
            live_ok=live_ok,
            live_newest=live_newest,
            readings_newest=readings_newest,
            alerts_read_at=self._alerts_read_at,
        )

    def _live_readings(self) -> dict[str, LiveReading]:
        try:
            return self._live.latest_readings()
        except SinkUnavailable as exc:
            # The database still has every reading; the tiles fall back on it.
            logger.warning("live store unreachable, using the database: %s", exc)
            return {}

    def _alert_view(self, row: _AlertRow, lang: str) -> AlertView:
        return AlertView(
            alert_id=row.alert_id,
            key=row.alert_key,
            severity=row.severity,
            status=row.status,
            message=render_message(row.message_key, row.params, lang),
            opened_at=row.opened_at,
            updated_at=row.updated_at,
            area_code=row.area_code,
            area=self._areas.get(row.area_code) if row.area_code else None,
            source_kind=row.source_kind,
            source_id=row.source_id,
            value=row.value,
        )

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """Lend a pooled connection; a lost or unreachable server comes out as ``SinkUnavailable``."""
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg.OperationalError as exc:  # PoolTimeout is one too
            raise SinkUnavailable(f"PostgreSQL is unreachable: {exc}") from exc


def boundary_features(site: SiteConfig, site_dir: Path | None) -> list[dict[str, Any]]:
    """Return simplified GeoJSON outlines of the areas below the broadest level (communes, former districts).

    The province outline is left out: drawn, it would zoom the map out to the whole province. Without a site
    directory there is nothing to read and the map shows only the stations.
    """
    if site_dir is None:
        return []
    broadest = site.site.levels[0].id if len(site.site.levels) > 1 else None
    features = AreaIndex.from_site(site, site_dir).geojson_features()
    return [f for f in features if f["properties"].get("level") != broadest]
