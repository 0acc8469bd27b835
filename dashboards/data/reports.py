"""Citizens' reports on the wall: the open ones (map and list), their counts by commune (open, due soon,
overdue), and one report's detail with the nearest flood station's level and camera, limited to the user's scope.

A report is in a scope when its commune is (``reports.commune_code``), like an alert by its area. Due soon and
overdue follow the deadline alerts' settings (``reports.alerts.due_soon_h``), judged at the time the caller gives.
The nearest station and camera are shown for the categories of ``reports.nearby`` within its radius, and only when
the user's scope covers them too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg.rows import class_row

from analytics.reports import distance_m
from dashboards.data.cameras import CameraReader, CameraView
from dashboards.data.db import Database, scope_codes
from dashboards.data.stations import StationReader, StationView
from dashboards.wall_scope import Scope
from ioc.config.models import ReportsConfig

OPEN = ("received", "assigned", "in_progress")


@dataclass(frozen=True)
class OpenReport:
    """One open report as the map and the list show it."""

    code: str
    category: str
    commune_code: str
    unit_id: str
    status: str
    lon: float
    lat: float
    deadline: datetime
    created_at: datetime
    description: str

    def state(self, now: datetime, due_soon: timedelta) -> str:
        """Return 'overdue', 'due_soon' or 'on_track' at ``now``."""
        if now > self.deadline:
            return "overdue"
        return "due_soon" if now >= self.deadline - due_soon else "on_track"


@dataclass(frozen=True)
class CommuneReports:
    """The open reports of one commune: how many, how many due soon, how many overdue."""

    commune_code: str
    open: int
    due_soon: int
    overdue: int


@dataclass(frozen=True)
class ReportStep:
    """One step of a report's trail."""

    at: datetime
    actor: str
    action: str
    to_status: str
    note: str | None


@dataclass(frozen=True)
class Nearby:
    """The nearest station or camera to a report, and how far it is."""

    distance_m: float
    station: StationView | None = None
    camera: CameraView | None = None


@dataclass(frozen=True)
class ReportDetail:
    """One report for the operators: what was reported, its trail, and the sensors near it."""

    report: OpenReport
    closed_at: datetime | None
    phone_given: bool
    steps: list[ReportStep]
    station: Nearby | None
    camera: Nearby | None


_COLUMNS = "code, category, commune_code, unit_id, status, lon, lat, deadline, created_at, description"
_SCOPED = "(%(codes)s::text[] IS NULL OR commune_code = ANY(%(codes)s::text[]))"
_OPEN_SQL = f"""
SELECT {_COLUMNS} FROM reports
 WHERE status IN ('received', 'assigned', 'in_progress') AND {_SCOPED}
 ORDER BY deadline, id LIMIT %(limit)s
"""
_BY_COMMUNE_SQL = f"""
SELECT commune_code AS commune_code, count(*) AS open,
       count(*) FILTER (WHERE deadline >= %(now)s AND deadline - %(soon)s <= %(now)s) AS due_soon,
       count(*) FILTER (WHERE deadline < %(now)s) AS overdue
  FROM reports
 WHERE status IN ('received', 'assigned', 'in_progress') AND {_SCOPED}
 GROUP BY commune_code ORDER BY overdue DESC, open DESC, commune_code
"""


class ReportReader:
    """The reports' table for the wall, with the station and camera readers for the detail's sensors."""

    def __init__(self, db: Database, config: ReportsConfig, stations: StationReader, cameras: CameraReader) -> None:
        self._db = db
        self.config = config
        self._stations = stations
        self._cameras = cameras

    @property
    def due_soon(self) -> timedelta:
        """How close a deadline is 'due soon' (the deadline alerts' horizon)."""
        return timedelta(hours=self.config.alerts.due_soon_h)

    def open_reports(self, scope: Scope | None = None, limit: int = 500) -> list[OpenReport]:
        """Return the open reports in the scope, the nearest deadline first."""
        with self._db.connection() as conn:
            cur = conn.cursor(row_factory=class_row(OpenReport))
            return cur.execute(_OPEN_SQL, {"codes": scope_codes(scope), "limit": limit}).fetchall()

    def by_commune(self, now: datetime, scope: Scope | None = None) -> list[CommuneReports]:
        """Return the open, due-soon and overdue counts of each commune in the scope, most overdue first."""
        params = {"codes": scope_codes(scope), "now": now, "soon": self.due_soon}
        with self._db.connection() as conn:
            cur = conn.cursor(row_factory=class_row(CommuneReports))
            return cur.execute(_BY_COMMUNE_SQL, params).fetchall()

    def detail(self, code: str, scope: Scope | None = None) -> ReportDetail | None:
        """Return one report in the scope with its trail and nearby sensors; None when it is not there."""
        with self._db.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS}, closed_at, phone IS NOT NULL, id FROM reports WHERE code = %(code)s "
                f"AND {_SCOPED}", {"code": code, "codes": scope_codes(scope)},
            ).fetchone()
            if row is None:
                return None
            steps = conn.cursor(row_factory=class_row(ReportStep)).execute(
                "SELECT at, actor, action, to_status, note FROM report_events WHERE report_id = %s ORDER BY at, id",
                (row[-1],),
            ).fetchall()
        report = OpenReport(*row[:10])
        station = camera = None
        if report.category in self.config.nearby.categories:
            station = self._nearest_station(report, scope)
            camera = self._nearest_camera(report, scope)
        return ReportDetail(report, row[10], bool(row[11]), steps, station, camera)

    def _nearest_station(self, report: OpenReport, scope: Scope | None) -> Nearby | None:
        found = [(distance_m(report.lon, report.lat, s.lon, s.lat), s) for s in self._stations.stations(scope)]
        near = min((f for f in found if f[0] <= self.config.nearby.radius_m), default=None, key=lambda f: f[0])
        return Nearby(near[0], station=near[1]) if near else None

    def _nearest_camera(self, report: OpenReport, scope: Scope | None) -> Nearby | None:
        found = [(distance_m(report.lon, report.lat, c.lon, c.lat), c) for c in self._cameras.cameras(scope)]
        near = min((f for f in found if f[0] <= self.config.nearby.radius_m), default=None, key=lambda f: f[0])
        return Nearby(near[0], camera=near[1]) if near else None
