"""Water-level trends of the stations, read from the rollups (never raw rows).

Minute rollups up to ``MINUTE_ROLLUP_MAX_HOURS``, hourly ones beyond, so a chart of a day costs at most 1,440
rows per station and a trend never needs more than a few thousand points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg.rows import class_row

from analytics.flood import WATER_LEVEL
from dashboards.data.db import Database
from ioc.events import utcnow

MINUTE_ROLLUP_MAX_HOURS = 48


@dataclass(frozen=True)
class Point:
    """One point of a trend: the average over its bucket."""

    at: datetime
    value: float


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


def rollup_for(hours: float) -> str:
    """Return the rollup a window of ``hours`` reads: minutes up to two days, hours beyond."""
    return "1m" if hours <= MINUTE_ROLLUP_MAX_HOURS else "1h"


class HistoryReader:
    """Stations' water levels over a window, from the minute or hourly rollup."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def level_history(self, station_id: str, hours: float) -> list[Point]:
        """Return a station's water level over the last ``hours``, oldest first, from the rollups."""
        since = utcnow() - timedelta(hours=hours)
        with self._db.connection() as conn:
            cur = conn.cursor(row_factory=class_row(Point))
            return cur.execute(_HISTORY_SQL[rollup_for(hours)], (station_id, WATER_LEVEL, since)).fetchall()

    def level_histories(
        self, station_ids: Sequence[str], hours: float, step_s: int = 60
    ) -> dict[str, list[Point]]:
        """Return several stations' water levels over the last ``hours`` in one read, per step_s."""
        since = utcnow() - timedelta(hours=hours)
        out: dict[str, list[Point]] = {sid: [] for sid in station_ids}
        with self._db.connection() as conn:
            rows = conn.execute(
                _HISTORIES_SQL[rollup_for(hours)],
                (timedelta(seconds=step_s), list(station_ids), WATER_LEVEL, since),
            ).fetchall()  # at once: the cursor's row-by-row iteration cost the 50-gauge page ~12 ms profiled
            for sid, at, value in rows:
                out[sid].append(Point(at=at, value=value))
        return out
