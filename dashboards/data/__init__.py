"""What the wall display reads, converted at the edge into small frozen values, one module per concern.

- ``stations``: flood stations, newest water level (live store, else the newest raw row) and alarm level;
- ``histories``: water-level trends from the minute and hourly rollups, never raw rows;
- ``alerts``: the feed, the new criticals, one alert's detail and the officers' actions;
- ``deliveries``: messages that failed for good;
- ``signals``: feed items that matched a topic and a place (public signals);
- ``reports``: citizens' reports: the open ones, counts by commune, one report's detail with the sensors near it;
- ``cameras``: cameras' newest health, counts and snapshots;
- ``tiles``: the declared tiles, one reader per tile kind in ``TILE_READERS`` (statuses from ``analytics.status``);
- ``freshness``: how current each source is, and the database's background jobs;
- ``areas``: area names and outlines; ``db``: the pooled connection shared by the readers;
- ``wall``: the ``WallData`` protocol and ``PostgresWallData``, the facade the pages use.
"""

from __future__ import annotations

from dashboards.data.alerts import AlertDetail, AlertView, NotificationView, TrailEntry, render_message
from dashboards.data.areas import AreaNames, boundary_features
from dashboards.data.cameras import CAMERA_SUMMARY_INTERVAL_S, CameraView, camera_views_from_config
from dashboards.data.deliveries import FailedDeliveryView
from dashboards.data.freshness import JOBS_CACHE, Freshness
from dashboards.data.histories import MINUTE_ROLLUP_MAX_HOURS, Point
from dashboards.data.signals import SignalItemView
from dashboards.data.stations import RAW_FALLBACK_WINDOW, StationSpec, StationView, station_specs, station_view
from dashboards.data.tiles import TILE_READERS, TileView, tile_problems
from dashboards.data.wall import PostgresWallData, WallData

__all__ = [
    "CAMERA_SUMMARY_INTERVAL_S",
    "JOBS_CACHE",
    "MINUTE_ROLLUP_MAX_HOURS",
    "RAW_FALLBACK_WINDOW",
    "TILE_READERS",
    "AlertDetail",
    "AlertView",
    "AreaNames",
    "CameraView",
    "FailedDeliveryView",
    "Freshness",
    "NotificationView",
    "Point",
    "PostgresWallData",
    "SignalItemView",
    "StationSpec",
    "StationView",
    "TileView",
    "TrailEntry",
    "WallData",
    "boundary_features",
    "camera_views_from_config",
    "render_message",
    "station_specs",
    "station_view",
    "tile_problems",
]
