"""What the wall display reads, converted at the edge into small frozen values.

``PostgresWallData`` is the dashboards' one adapter to PostgreSQL and the live store: it turns rows into
``StationView``, ``AlertView`` and ``Point`` values and psycopg's connection errors into ``SinkUnavailable``,
so the pages never see a vendor type or a vendor exception. Trends read the minute rollups, never raw rows, so
a chart of a day costs at most 1,440 rows per station.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import psycopg
from psycopg.rows import class_row, dict_row
from psycopg_pool import ConnectionPool

from analytics.flood import WATER_LEVEL, level_of
from dashboards import strings as _strings  # noqa: F401  (registers the catalog)
from dashboards.wall_scope import Scope
from ioc.config.models import SiteConfig
from ioc.errors import SinkUnavailable
from ioc.events import utcnow
from ioc.geo import AreaIndex
from ioc.i18n import t
from ioc.notify.outbox import FailedDelivery
from ioc.store import alerts as alert_store
from ioc.store.jobs import DbStatus, read_status
from ioc.store.live import LiveReading, LiveStore
from ioc.store.pool import pooled

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
    acknowledged_by: str | None = None


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

    def stations(self, scope: Scope | None = None) -> list[StationView]:
        """Return every configured flood station (in the scope) with its newest value, in config order."""

    def open_alerts(self, limit: int = 20, lang: str = "vi", scope: Scope | None = None) -> list[AlertView]:
        """Return the open and acknowledged alerts (in the scope), most severe and newest first."""

    def count_open_alerts(self, scope: Scope | None = None) -> int:
        """Return how many alerts (in the scope) are not resolved."""

    def level_history(self, station_id: str, hours: float) -> list[Point]:
        """Return a station's water level over the last ``hours``, oldest first."""

    def level_histories(
        self, station_ids: Sequence[str], hours: float, step_s: int = 60
    ) -> dict[str, list[Point]]:
        """Return several stations' water levels over the last ``hours`` in one read, per step_s."""

    def freshness(self) -> Freshness:
        """Report how old each source is; never raises."""

    def new_critical_alerts(self, lang: str = "vi", scope: Scope | None = None) -> list[AlertView]:
        """Return the critical alerts (in the scope) nobody has acknowledged yet, newest first."""

    def acknowledge(self, alert_id: UUID, by: str, scope: Scope) -> alert_store.AckResult:
        """Acknowledge an alert from the wall (refused outside the scope)."""

    def cameras(self, scope: Scope | None = None) -> list[CameraView]:
        """Return the cameras (in the scope) with their newest state."""

    def latest_snapshot(self, camera_id: str) -> tuple[datetime, str] | None:
        """Return the time and path of a camera's newest snapshot."""

    def tiles(self, lang: str = "vi", scope: Scope | None = None) -> list[TileView]:
        """Return the declared tiles (in the scope) with their newest values."""

    def failed_deliveries(
        self, since: datetime, lang: str = "vi", scope: Scope | None = None, limit: int = 100
    ) -> list[FailedDeliveryView]:
        """Return the failed-for-good messages about alerts in the scope since ``since``, newest first."""

    def alert_detail(self, alert_id: UUID, lang: str, scope: Scope) -> AlertDetail | None:
        """Return one alert (any status) with its trail and messages; None outside the scope or missing."""

    def assign(self, alert_id: UUID, assignee: str | None, by: str, scope: Scope) -> alert_store.Outcome:
        """Give an alert in the scope to an officer, as ``by`` (audited)."""

    def add_note(self, alert_id: UUID, text: str, by: str, scope: Scope) -> alert_store.Outcome:
        """Add a note to an alert in the scope, as ``by`` (audited); ValueError for an empty or long note."""

    def resolve(self, alert_id: UUID, by: str, scope: Scope) -> alert_store.Outcome:
        """Close an alert in the scope by hand, as ``by`` (audited)."""

    def database_jobs(self) -> DbStatus:
        """Return the database's flavour and TimescaleDB's background jobs; ``SinkUnavailable`` when down."""


# --- alert detail and failed deliveries ------------------------------------------------------------------


@dataclass(frozen=True)
class FailedDeliveryView:
    """A message that failed for good, with its alert's message in the reader's language and its area."""

    delivery: FailedDelivery
    message: str
    severity: str
    area_code: str | None
    area: str | None


@dataclass(frozen=True)
class TrailEntry:
    """One step of an alert's trail (``ioc.store.alerts.trail``): a transition, an action or a note."""

    at: datetime
    kind: str  # transition, action, note
    action: str
    username: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class NotificationView:
    """One outbox row of an alert: to whom, on which channel, at which step, and how it went."""

    id: int
    officer_id: str
    channel_id: str | None
    step: int
    kind: str
    status: str
    attempts: int
    reason: str
    due_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None


@dataclass(frozen=True)
class AlertDetail:
    """One alert with everything the detail panel shows."""

    alert: AlertView
    assignee: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    trail: list[TrailEntry]
    notifications: list[NotificationView]


# --- cameras and tiles -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CameraView:
    """One camera as the wall shows it: its newest state, counts and snapshot."""

    id: str
    name: str
    area_code: str
    area: str
    lat: float
    lon: float
    status: str | None  # online, offline, frozen, black; None before the first report
    status_at: datetime | None
    summary_at: datetime | None  # end of the newest detection summary
    counts: dict[str, int]
    snapshot_at: datetime | None
    expected_interval_s: float


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


@dataclass(frozen=True)
class _CameraRow:
    camera_id: str
    status: str | None
    status_at: datetime | None
    summary_at: datetime | None
    counts: dict[str, int] | None
    snapshot_at: datetime | None


# Newest health, newest summary and newest snapshot of each camera: three index probes per camera.
_CAMERAS_SQL = """
SELECT c.camera_id, h.status, h.at AS status_at, d.window_end AS summary_at, d.counts,
       greatest(s.window_end, hs.at) AS snapshot_at
  FROM unnest(%s::text[]) AS c(camera_id)
  LEFT JOIN LATERAL (SELECT status, at FROM camera_health WHERE camera_id = c.camera_id
                      ORDER BY at DESC LIMIT 1) AS h ON true
  LEFT JOIN LATERAL (SELECT window_end, counts FROM detection_summaries WHERE camera_id = c.camera_id
                      ORDER BY window_end DESC LIMIT 1) AS d ON true
  LEFT JOIN LATERAL (SELECT window_end FROM detection_summaries WHERE camera_id = c.camera_id
                        AND snapshot IS NOT NULL ORDER BY window_end DESC LIMIT 1) AS s ON true
  LEFT JOIN LATERAL (SELECT at FROM camera_health WHERE camera_id = c.camera_id AND snapshot IS NOT NULL
                      ORDER BY at DESC LIMIT 1) AS hs ON true
"""
_SNAPSHOT_SQL = """
SELECT at, snapshot FROM (
    (SELECT window_end AS at, snapshot FROM detection_summaries
      WHERE camera_id = %(camera)s AND snapshot IS NOT NULL ORDER BY window_end DESC LIMIT 1)
    UNION ALL
    (SELECT at, snapshot FROM camera_health
      WHERE camera_id = %(camera)s AND snapshot IS NOT NULL ORDER BY at DESC LIMIT 1)
) AS newest ORDER BY at DESC LIMIT 1
"""
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
# A camera summary every 10 s by default (ingest.camera_runtime): stale after twice that.
CAMERA_SUMMARY_INTERVAL_S = 10.0


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


def camera_views_from_config(site: SiteConfig) -> list[CameraView]:
    """Return the site's cameras with no state yet, in config order."""
    areas = {a.code: a.name for a in site.areas}
    return [
        CameraView(
            id=c.id,
            name=c.name,
            area_code=c.area_code,
            area=areas.get(c.area_code, c.area_code),
            lat=c.lat,
            lon=c.lon,
            status=None,
            status_at=None,
            summary_at=None,
            counts={},
            snapshot_at=None,
            expected_interval_s=CAMERA_SUMMARY_INTERVAL_S,
        )
        for c in site.cameras
    ]


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
    acknowledged_by: str | None


@dataclass(frozen=True)
class _LatestRow:
    station_id: str
    time: datetime
    value: float


# %(codes)s is the user's scope: NULL for the whole site, else the area codes an alert must be in.
_SCOPED = "(%(codes)s::text[] IS NULL OR area_code = ANY(%(codes)s::text[]))"
_OPEN_ALERTS_SQL = f"""
SELECT alert_id, alert_key, severity, status, message_key, params, opened_at, updated_at, area_code,
       source_kind, source_id, value, acknowledged_by
  FROM alerts
 WHERE status <> 'resolved' AND {_SCOPED}
 ORDER BY array_position(ARRAY['critical', 'major', 'warning', 'info'], severity), opened_at DESC
 LIMIT %(limit)s
"""
_COUNT_OPEN_SQL = f"SELECT count(*) FROM alerts WHERE status <> 'resolved' AND {_SCOPED}"
_NEW_CRITICAL_SQL = f"""
SELECT alert_id, alert_key, severity, status, message_key, params, opened_at, updated_at, area_code,
       source_kind, source_id, value, acknowledged_by
  FROM alerts
 WHERE status = 'open' AND severity = 'critical' AND {_SCOPED}
 ORDER BY opened_at DESC
 LIMIT 5
"""
_ALERT_AREA_SQL = "SELECT area_code FROM alerts WHERE alert_id = %s"
# Failed messages of the alerts in the scope (the scope is the alert's area, as for the feed); newest first,
# through the partial index on failed rows.
_FAILED_SQL = """
SELECT o.id, o.alert_id, o.alert_key, o.officer_id, o.channel_id, o.kind, o.step, o.attempts, o.reason,
       o.due_at, o.next_attempt_at AS failed_at, a.message_key, a.params, a.severity, a.area_code
  FROM notify_outbox o JOIN alerts a ON a.alert_id = o.alert_id
 WHERE o.status = 'failed' AND o.next_attempt_at >= %(since)s
   AND (%(codes)s::text[] IS NULL OR a.area_code = ANY(%(codes)s::text[]))
 ORDER BY o.next_attempt_at DESC, o.id DESC
 LIMIT %(limit)s
"""
_DETAIL_SQL = f"""
SELECT alert_id, alert_key, severity, status, message_key, params, opened_at, updated_at, area_code,
       source_kind, source_id, value, acknowledged_by, assignee, resolved_at, resolved_by
  FROM alerts
 WHERE alert_id = %(alert_id)s AND {_SCOPED}
"""
_NOTIFICATIONS_SQL = """
SELECT id, officer_id, channel_id, step, kind, status, attempts, reason, due_at, sent_at, delivered_at
  FROM notify_outbox WHERE alert_id = %s ORDER BY due_at, id
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
# Several stations at once (the gauges page): one round trip instead of one per station, averaged over
# ``step`` buckets in the database (a 6 h sparkline needs 72 five-minute points, not 360 minutes).
_HISTORIES_SQL = {
    rollup: "SELECT station_id, date_bin(%s::interval, bucket, timestamptz '2000-01-01') AS at, "
    f"avg(value_avg) AS value FROM sensor_readings_{rollup} "
    "WHERE station_id = ANY(%s) AND metric = %s AND bucket >= %s GROUP BY 1, 2 ORDER BY 1, 2"
    for rollup in ("1m", "1h")
}
_HISTORY_SQL = {
    "1m": "SELECT bucket AS at, value_avg AS value FROM sensor_readings_1m "
    "WHERE station_id = %s AND metric = %s AND bucket >= %s ORDER BY bucket",
    "1h": "SELECT bucket AS at, value_avg AS value FROM sensor_readings_1h "
    "WHERE station_id = %s AND metric = %s AND bucket >= %s ORDER BY bucket",
}


JOBS_CACHE = timedelta(seconds=30)  # the health endpoint and the admin badge share one read per 30 s


class PostgresWallData:
    """The wall's data from PostgreSQL (alerts, trends) and the live store (newest values)."""

    def __init__(self, pool: ConnectionPool, live: LiveStore, site: SiteConfig) -> None:
        self._pool = pool
        self._live = live
        self._site = site
        self._specs = station_specs(site)
        self._areas = {a.code: a.name for a in site.areas}
        self._areas_en = {a.code: a.name_en or a.name for a in site.areas}
        self._alerts_read_at: datetime | None = None
        self._broken_tiles = tile_problems(site)
        self._jobs_cache: tuple[datetime, DbStatus] | None = None
        for tile_id, why in self._broken_tiles.items():
            logger.error("wall tile %s is left out: %s (fix tiles in wall.yaml)", tile_id, why)

    @property
    def pool(self) -> ConnectionPool:
        """The connection pool, shared with the leaders' panels and the exports."""
        return self._pool

    def database_jobs(self) -> DbStatus:
        """Return the database's flavour and TimescaleDB's background jobs, read at most every 30 s."""
        now = utcnow()
        cached = self._jobs_cache
        if cached is not None and now - cached[0] < JOBS_CACHE:
            return cached[1]
        with self._connection() as conn:
            status = read_status(conn)
        self._jobs_cache = (now, status)
        return status

    def stations(self, scope: Scope | None = None) -> list[StationView]:
        """Return every configured flood station (in the scope) with its newest value, in config order.

        With PostgreSQL down the live values still show (levels then start from 0 for the hysteresis); with
        the live store down the newest rows in PostgreSQL stand in for it.
        """
        specs = [s for s in self._specs if scope is None or scope.covers(s.area_code)]
        latest: dict[str, tuple[datetime, float]] = {}
        for sid, reading in self._live_readings().items():
            value = reading.values.get(WATER_LEVEL)
            if value is not None:
                latest[sid] = (reading.observed_at, value)
        missing = [s.id for s in specs if s.id not in latest]
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
        return [station_view(spec, latest.get(spec.id), levels.get(spec.id)) for spec in specs]

    def open_alerts(self, limit: int = 20, lang: str = "vi", scope: Scope | None = None) -> list[AlertView]:
        """Return the open and acknowledged alerts (in the scope), most severe and newest first."""
        params = {"limit": limit, "codes": _codes(scope)}
        with self._connection() as conn:
            rows = conn.cursor(row_factory=class_row(_AlertRow)).execute(_OPEN_ALERTS_SQL, params).fetchall()
        self._alerts_read_at = utcnow()
        return [self._alert_view(row, lang) for row in rows]

    def count_open_alerts(self, scope: Scope | None = None) -> int:
        """Return how many alerts (in the scope) are not resolved."""
        with self._connection() as conn:
            row = conn.execute(_COUNT_OPEN_SQL, {"codes": _codes(scope)}).fetchone()
        return int(row[0]) if row else 0

    def new_critical_alerts(self, lang: str = "vi", scope: Scope | None = None) -> list[AlertView]:
        """Return the critical alerts (in the scope) nobody has acknowledged yet, newest first (at most 5)."""
        with self._connection() as conn:
            rows = (
                conn.cursor(row_factory=class_row(_AlertRow))
                .execute(_NEW_CRITICAL_SQL, {"codes": _codes(scope)})
                .fetchall()
            )
        return [self._alert_view(row, lang) for row in rows]

    def acknowledge(self, alert_id: UUID, by: str, scope: Scope) -> alert_store.AckResult:
        """Acknowledge an alert from the wall for ``by``; outside the scope it is as unknown as a missing one.

        The acknowledgement and its audit line are written in one transaction (ioc.store.alerts).
        """
        with self._connection() as conn:
            row = conn.execute(_ALERT_AREA_SQL, (alert_id,)).fetchone()
            if row is None or not scope.covers(row[0]):
                return alert_store.AckResult(alert_store.Outcome.UNKNOWN)
            return alert_store.acknowledge(conn, alert_id, by=by, via="wall")

    def failed_deliveries(
        self, since: datetime, lang: str = "vi", scope: Scope | None = None, limit: int = 100
    ) -> list[FailedDeliveryView]:
        """Return the failed-for-good messages about alerts in the scope since ``since``, newest first."""
        params = {"since": since, "codes": _codes(scope), "limit": limit}
        with self._connection() as conn:
            rows = conn.cursor(row_factory=dict_row).execute(_FAILED_SQL, params).fetchall()
        out = []
        for r in rows:
            message_key, message_params = r.pop("message_key"), r.pop("params")
            severity, area_code = r.pop("severity"), r.pop("area_code")
            out.append(
                FailedDeliveryView(
                    delivery=FailedDelivery(short_code=alert_store.short_code(r["alert_id"]), **r),
                    message=render_message(message_key, message_params, lang),
                    severity=severity,
                    area_code=area_code,
                    area=self._area_name(area_code, lang),
                )
            )
        return out

    def alert_detail(self, alert_id: UUID, lang: str, scope: Scope) -> AlertDetail | None:
        """Return one alert (any status) with its trail and messages; None outside the scope or missing."""
        with self._connection() as conn:
            row = (
                conn.cursor(row_factory=dict_row)
                .execute(_DETAIL_SQL, {"alert_id": alert_id, "codes": _codes(scope)})
                .fetchone()
            )
            if row is None:
                return None
            trail = [TrailEntry(**e) for e in alert_store.trail(conn, alert_id)]
            notes = (
                conn.cursor(row_factory=class_row(NotificationView))
                .execute(_NOTIFICATIONS_SQL, (alert_id,))
                .fetchall()
            )
        extra = {k: row.pop(k) for k in ("assignee", "resolved_at", "resolved_by")}
        return AlertDetail(
            alert=self._alert_view(_AlertRow(**row), lang), trail=trail, notifications=notes, **extra
        )

    def assign(self, alert_id: UUID, assignee: str | None, by: str, scope: Scope) -> alert_store.Outcome:
        """Give an alert in the scope to an officer, as ``by``; outside the scope it is as good as missing."""
        with self._connection() as conn:
            if not self._in_scope(conn, alert_id, scope):
                return alert_store.Outcome.UNKNOWN
            return alert_store.assign(conn, alert_id, assignee=assignee, by=by)

    def add_note(self, alert_id: UUID, text: str, by: str, scope: Scope) -> alert_store.Outcome:
        """Add a note to an alert in the scope, as ``by``; ValueError for an empty or too long note."""
        with self._connection() as conn:
            if not self._in_scope(conn, alert_id, scope):
                return alert_store.Outcome.UNKNOWN
            return alert_store.add_note(conn, alert_id, text=text, by=by)

    def resolve(self, alert_id: UUID, by: str, scope: Scope) -> alert_store.Outcome:
        """Close an alert in the scope by hand, as ``by``; outside the scope it is as good as missing."""
        with self._connection() as conn:
            if not self._in_scope(conn, alert_id, scope):
                return alert_store.Outcome.UNKNOWN
            return alert_store.resolve(conn, alert_id, by=by)

    @staticmethod
    def _in_scope(conn: psycopg.Connection[Any], alert_id: UUID, scope: Scope) -> bool:
        row = conn.execute(_ALERT_AREA_SQL, (alert_id,)).fetchone()
        return row is not None and scope.covers(row[0])

    def _area_name(self, code: str | None, lang: str) -> str | None:
        if not code:
            return None
        return (self._areas_en if lang == "en" else self._areas).get(code)

    def cameras(self, scope: Scope | None = None) -> list[CameraView]:
        """Return the site's cameras (in the scope) with their newest health, counts and snapshot time."""
        base = [c for c in camera_views_from_config(self._site) if scope is None or scope.covers(c.area_code)]
        if not base:
            return []
        with self._connection() as conn:
            cur = conn.cursor(row_factory=class_row(_CameraRow))
            rows = {r.camera_id: r for r in cur.execute(_CAMERAS_SQL, ([c.id for c in base],))}
        out = []
        for cam in base:
            row = rows.get(cam.id)
            if row is None:
                out.append(cam)
                continue
            out.append(
                replace(
                    cam,
                    status=row.status,
                    status_at=row.status_at,
                    summary_at=row.summary_at,
                    counts={str(k): int(v) for k, v in (row.counts or {}).items()},
                    snapshot_at=row.snapshot_at,
                )
            )
        return out

    def latest_snapshot(self, camera_id: str) -> tuple[datetime, str] | None:
        """Return the time and file path of a camera's newest snapshot (summary or health change), if any."""
        with self._connection() as conn:
            row = conn.execute(_SNAPSHOT_SQL, {"camera": camera_id}).fetchone()
        return (row[0], str(row[1])) if row else None

    def tiles(self, lang: str = "vi", scope: Scope | None = None) -> list[TileView]:
        """Return the site's declared tiles (in the scope) with their newest values, in config order."""
        site = self._site
        stations = {s.id: s for s in self.stations(scope)}
        cameras = {c.id: c for c in site.cameras}
        kpis = {k.id: k for k in site.kpis}
        areas = {a.code: a for a in site.areas}
        out: list[TileView] = []
        with self._connection() as conn:
            for tile in site.tiles:
                if tile.id in self._broken_tiles:
                    continue
                title = tile.title_en if lang == "en" else tile.title_vi
                if tile.kind == "flood_level":
                    st = stations.get(tile.station or "")
                    if st is None:
                        continue  # out of scope
                    state = None if st.level is None else ("ok", "warning", "major", "alarm")[st.level]
                    out.append(
                        TileView(
                            tile.id,
                            tile.kind,
                            title or st.name,
                            st.value,
                            {"level": st.level, "thresholds": st.thresholds, "river": st.river},
                            st.observed_at,
                            tile.freshness_s,
                            state,
                            st.area_code,
                        )
                    )
                elif tile.kind in ("traffic_count", "crowd"):
                    cam = cameras[tile.camera or ""]
                    if scope is not None and not scope.covers(cam.area_code):
                        continue
                    if tile.kind == "traffic_count":
                        out.append(self._traffic_tile(conn, tile, cam, title, lang))
                    else:
                        out.append(self._crowd_tile(conn, tile, cam, title))
                else:
                    unit = tile.unit or ""
                    if scope is not None and not scope.covers(unit):
                        continue
                    kpi = kpis[tile.kpi or ""]
                    area = areas.get(unit)
                    area_name = (
                        (area.name_en or area.name)
                        if area and lang == "en"
                        else (area.name if area else unit)
                    )
                    name = kpi.name_en if lang == "en" else kpi.name_vi
                    row = conn.execute(_KPI_SQL, (kpi.id, unit)).fetchone()
                    value = target = updated = period = None
                    if row:
                        value, target, kind, start, updated = row
                        period = {"kind": kind, "start": start}
                    target = target if target is not None else kpi.target
                    state = None
                    if value is not None and target is not None:
                        met = value >= target if kpi.higher_is_better else value <= target
                        state = "ok" if met else "warning"
                    out.append(
                        TileView(
                            tile.id,
                            tile.kind,
                            title or f"{name} · {area_name}",
                            value,
                            {"unit": kpi.unit, "target": target, "period": period},
                            updated,
                            tile.freshness_s,
                            state,
                            unit,
                        )
                    )
        return out

    def _traffic_tile(
        self, conn: psycopg.Connection[Any], tile: Any, cam: Any, title: str | None, lang: str
    ) -> TileView:
        line = next(ln for ln in cam.lines if ln.id == tile.line)
        since = utcnow() - timedelta(minutes=tile.window_min)
        by_dir = {str(d): int(n) for d, n in conn.execute(_LINE_COUNT_SQL, (cam.id, line.id, since))}
        newest = conn.execute(_NEWEST_SUMMARY_SQL, (cam.id,)).fetchone()
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

    def _crowd_tile(self, conn: psycopg.Connection[Any], tile: Any, cam: Any, title: str | None) -> TileView:
        zone = next(z for z in cam.zones if z.id == tile.zone)
        row = conn.execute(_ZONE_SQL, (cam.id, zone.id)).fetchone()
        if row is None:
            return TileView(
                tile.id,
                tile.kind,
                title or zone.name or cam.name,
                None,
                {"max_count": zone.thresholds.max_count},
                None,
                tile.freshness_s,
                None,
                cam.area_code,
            )
        at, total, density, congestion = row
        state = "ok"
        limit = zone.thresholds.max_count
        dlimit = zone.thresholds.max_density_per_m2
        if (limit is not None and total > limit) or (
            dlimit is not None and density is not None and density > dlimit
        ):
            state = "alarm"
        elif (limit is not None and total > 0.8 * limit) or congestion in ("heavy", "jammed"):
            state = "warning"
        return TileView(
            tile.id,
            tile.kind,
            title or zone.name or cam.name,
            float(total),
            {"density": density, "max_count": limit, "congestion": congestion},
            at,
            tile.freshness_s,
            state,
            cam.area_code,
        )

    def level_history(self, station_id: str, hours: float) -> list[Point]:
        """Return a station's water level over the last ``hours``, oldest first, from the rollups."""
        rollup = "1m" if hours <= MINUTE_ROLLUP_MAX_HOURS else "1h"
        since = utcnow() - timedelta(hours=hours)
        with self._connection() as conn:
            cur = conn.cursor(row_factory=class_row(Point))
            return cur.execute(_HISTORY_SQL[rollup], (station_id, WATER_LEVEL, since)).fetchall()

    def level_histories(
        self, station_ids: Sequence[str], hours: float, step_s: int = 60
    ) -> dict[str, list[Point]]:
        """Return several stations' water levels over the last ``hours`` in one read, per step_s."""
        rollup = "1m" if hours <= MINUTE_ROLLUP_MAX_HOURS else "1h"
        since = utcnow() - timedelta(hours=hours)
        out: dict[str, list[Point]] = {sid: [] for sid in station_ids}
        with self._connection() as conn:
            rows = conn.execute(_HISTORIES_SQL[rollup],
                                (timedelta(seconds=step_s), list(station_ids), WATER_LEVEL, since))
            for sid, at, value in rows:
                out[sid].append(Point(at=at, value=value))
        return out

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
            area=(self._areas_en if lang == "en" else self._areas).get(row.area_code)
            if row.area_code
            else None,
            source_kind=row.source_kind,
            source_id=row.source_id,
            value=row.value,
            acknowledged_by=row.acknowledged_by,
        )

    def _connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        """Lend a pooled connection; an unreachable server comes out as ``SinkUnavailable``."""
        return pooled(self._pool, "PostgreSQL")


def _codes(scope: Scope | None) -> list[str] | None:
    return None if scope is None else scope.sql()


def boundary_features(site: SiteConfig, site_dir: Path | None) -> list[dict[str, Any]]:
    """Return simplified GeoJSON outlines of the site's areas (province, former districts, communes).

    Without a site directory there is nothing to read and the map shows only the stations and cameras.
    """
    if site_dir is None:
        return []
    return AreaIndex.from_site(site, site_dir).geojson_features()
