"""``WallData``, everything the wall display reads, and ``PostgresWallData``, its facade over the readers.

The facade only composes: each concern (stations, histories, alerts, deliveries, signals, cameras, tiles, freshness)
has its reader and its SQL in its own module of this package, and the pages see one object.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from psycopg_pool import ConnectionPool

from dashboards.data.alerts import AlertActions, AlertDetail, AlertReader, AlertView
from dashboards.data.areas import AreaNames
from dashboards.data.cameras import CameraReader, CameraView
from dashboards.data.db import Database
from dashboards.data.deliveries import DeliveryReader, FailedDeliveryView
from dashboards.data.freshness import DatabaseJobs, Freshness, FreshnessReader
from dashboards.data.histories import HistoryReader, Point
from dashboards.data.signals import SignalItemView, SignalReader
from dashboards.data.stations import StationReader, StationView
from dashboards.data.tiles import TileReader, TileView
from dashboards.wall_scope import Scope
from ioc.config.models import SiteConfig
from ioc.store import alerts as alert_store
from ioc.store.jobs import DbStatus
from ioc.store.live import LiveStore


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

    def signal_items(
        self, since: datetime, lang: str = "vi", scope: Scope | None = None, limit: int = 100
    ) -> list[SignalItemView]:
        """Return the feed items fetched since ``since`` that matched a topic and a place in the scope, newest first."""

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


class PostgresWallData:
    """The wall's data from PostgreSQL (alerts, trends) and the live store (newest values), one reader per concern.

    It turns rows into small frozen values and psycopg's connection errors into ``SinkUnavailable``, so the pages
    never see a vendor type or a vendor exception.
    """

    def __init__(self, pool: ConnectionPool, live: LiveStore, site: SiteConfig) -> None:
        db = Database(pool)
        areas = AreaNames.from_site(site)
        self._db = db
        self.station_reader = StationReader(db, live, site)
        self.history_reader = HistoryReader(db)
        self.alert_reader = AlertReader(db, areas)
        self.alert_actions = AlertActions(db)
        self.delivery_reader = DeliveryReader(db, areas)
        self.signal_reader = SignalReader(db, site)
        self.camera_reader = CameraReader(db, site)
        self.tile_reader = TileReader(db, site, self.station_reader)
        self.freshness_reader = FreshnessReader(db, live, self.alert_reader)
        self.jobs = DatabaseJobs(db)

    @property
    def pool(self) -> ConnectionPool:
        """The connection pool, shared with the leaders' panels and the exports."""
        return self._db.pool

    def stations(self, scope: Scope | None = None) -> list[StationView]:
        """Return every configured flood station (in the scope) with its newest value, in config order."""
        return self.station_reader.stations(scope)

    def level_history(self, station_id: str, hours: float) -> list[Point]:
        """Return a station's water level over the last ``hours``, oldest first, from the rollups."""
        return self.history_reader.level_history(station_id, hours)

    def level_histories(
        self, station_ids: Sequence[str], hours: float, step_s: int = 60
    ) -> dict[str, list[Point]]:
        """Return several stations' water levels over the last ``hours`` in one read, per step_s."""
        return self.history_reader.level_histories(station_ids, hours, step_s)

    def open_alerts(self, limit: int = 20, lang: str = "vi", scope: Scope | None = None) -> list[AlertView]:
        """Return the open and acknowledged alerts (in the scope), most severe and newest first."""
        return self.alert_reader.open_alerts(limit, lang, scope)

    def count_open_alerts(self, scope: Scope | None = None) -> int:
        """Return how many alerts (in the scope) are not resolved."""
        return self.alert_reader.count_open_alerts(scope)

    def new_critical_alerts(self, lang: str = "vi", scope: Scope | None = None) -> list[AlertView]:
        """Return the critical alerts (in the scope) nobody has acknowledged yet, newest first (at most 5)."""
        return self.alert_reader.new_critical_alerts(lang, scope)

    def alert_detail(self, alert_id: UUID, lang: str, scope: Scope) -> AlertDetail | None:
        """Return one alert (any status) with its trail and messages; None outside the scope or missing."""
        return self.alert_reader.alert_detail(alert_id, lang, scope)

    def acknowledge(self, alert_id: UUID, by: str, scope: Scope) -> alert_store.AckResult:
        """Acknowledge an alert from the wall for ``by``; outside the scope it is as unknown as a missing one."""
        return self.alert_actions.acknowledge(alert_id, by, scope)

    def assign(self, alert_id: UUID, assignee: str | None, by: str, scope: Scope) -> alert_store.Outcome:
        """Give an alert in the scope to an officer, as ``by``; outside the scope it is as good as missing."""
        return self.alert_actions.assign(alert_id, assignee, by, scope)

    def add_note(self, alert_id: UUID, text: str, by: str, scope: Scope) -> alert_store.Outcome:
        """Add a note to an alert in the scope, as ``by``; ValueError for an empty or too long note."""
        return self.alert_actions.add_note(alert_id, text, by, scope)

    def resolve(self, alert_id: UUID, by: str, scope: Scope) -> alert_store.Outcome:
        """Close an alert in the scope by hand, as ``by``; outside the scope it is as good as missing."""
        return self.alert_actions.resolve(alert_id, by, scope)

    def failed_deliveries(
        self, since: datetime, lang: str = "vi", scope: Scope | None = None, limit: int = 100
    ) -> list[FailedDeliveryView]:
        """Return the failed-for-good messages about alerts in the scope since ``since``, newest first."""
        return self.delivery_reader.failed_deliveries(since, lang, scope, limit)

    def signal_items(
        self, since: datetime, lang: str = "vi", scope: Scope | None = None, limit: int = 100
    ) -> list[SignalItemView]:
        """Return the feed items fetched since ``since`` that matched a topic and a place in the scope, newest first."""
        return self.signal_reader.items(since, lang, scope, limit)

    def cameras(self, scope: Scope | None = None) -> list[CameraView]:
        """Return the site's cameras (in the scope) with their newest health, counts and snapshot time."""
        return self.camera_reader.cameras(scope)

    def latest_snapshot(self, camera_id: str) -> tuple[datetime, str] | None:
        """Return the time and file path of a camera's newest snapshot (summary or health change), if any."""
        return self.camera_reader.latest_snapshot(camera_id)

    def tiles(self, lang: str = "vi", scope: Scope | None = None) -> list[TileView]:
        """Return the site's declared tiles (in the scope) with their newest values, in config order."""
        return self.tile_reader.tiles(lang, scope)

    def freshness(self) -> Freshness:
        """Report how old each source is; never raises."""
        return self.freshness_reader.freshness()

    def database_jobs(self) -> DbStatus:
        """Return the database's flavour and TimescaleDB's background jobs, read at most every 30 s."""
        return self.jobs.database_jobs()
