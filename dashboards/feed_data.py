"""What the wall's alert feed counts: the open alerts of a scope by kind (``alerts.source_kind``).

The feed puts real-time alerts (flood, traffic, crowd, cameras) first, grouped by severity, and the reports
(KPIs below target, missing reports) in their own collapsible section; its header counts each kind. The
list itself comes from ``WallData.open_alerts``; the counts are read here, over every open alert of the scope,
so they stay true when the list is cut.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from analytics import kpi as _kpi_messages  # noqa: F401  (registers the KPI alerts' messages the feed shows)
from dashboards.wall_scope import Scope
from ioc.store.pool import pooled

REALTIME_KINDS: tuple[str, ...] = ("flood", "traffic", "crowd", "camera")
REPORTS = "reports"  # every other kind (kpi): reports that need a person this month, not this minute

_COUNT_BY_KIND_SQL = """
SELECT source_kind, count(*) FROM alerts
 WHERE status <> 'resolved' AND (%(codes)s::text[] IS NULL OR area_code = ANY(%(codes)s::text[]))
 GROUP BY source_kind
"""


def feed_group(source_kind: str) -> str:
    """Return the feed group of an alert's kind: the kind itself if real-time, else ``REPORTS``."""
    return source_kind if source_kind in REALTIME_KINDS else REPORTS


class FeedCounts:
    """Counts the open alerts of a scope by feed group, on the wall's pool (``SinkUnavailable`` when down)."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def open_by_group(self, scope: Scope) -> dict[str, int]:
        """Return how many alerts in the scope are not resolved, per real-time kind and for the reports."""
        out = dict.fromkeys((*REALTIME_KINDS, REPORTS), 0)
        with self._connection() as conn:
            for kind, n in conn.execute(_COUNT_BY_KIND_SQL, {"codes": scope.sql()}):
                out[feed_group(str(kind))] += int(n)
        return out

    def _connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        return pooled(self._pool, "PostgreSQL")
