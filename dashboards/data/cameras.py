"""Cameras on the wall: their newest health, detection counts and snapshot."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from psycopg.rows import class_row

from dashboards.data.db import Database
from dashboards.wall_scope import Scope
from ioc.config.models import SiteConfig

# A camera summary every 10 s by default (ioc.app.runtime.cameras): stale after twice that.
CAMERA_SUMMARY_INTERVAL_S = 10.0


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


class CameraReader:
    """The cameras' newest state and snapshots."""

    def __init__(self, db: Database, site: SiteConfig) -> None:
        self._db = db
        self._site = site

    def cameras(self, scope: Scope | None = None) -> list[CameraView]:
        """Return the site's cameras (in the scope) with their newest health, counts and snapshot time."""
        base = [c for c in camera_views_from_config(self._site) if scope is None or scope.covers(c.area_code)]
        if not base:
            return []
        with self._db.connection() as conn:
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
        with self._db.connection() as conn:
            row = conn.execute(_SNAPSHOT_SQL, {"camera": camera_id}).fetchone()
        return (row[0], str(row[1])) if row else None
