"""The leaders' door to PostgreSQL: pooled connections (failures as ``SinkUnavailable``) and the SQL they share."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import date, datetime, time
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from dashboards.leaders_data.catalog import Catalog
from dashboards.leaders_data.periods import GRANULARITIES
from ioc.store.pool import pooled

KINDS = list(GRANULARITIES)
# The effective granularity of a row: the view's, or the row's own when it is coarser (a yearly KPI by month).
EFF_KIND = (
    "(CASE WHEN array_position(%(kinds)s::text[], period_kind) > array_position(%(kinds)s::text[], "
    "%(g)s::text) THEN period_kind ELSE %(g)s::text END)"
)


class KpiDatabase:
    """A connection pool and the site's catalogue, shared by the leaders' readers."""

    def __init__(self, pool: ConnectionPool, catalog: Catalog) -> None:
        self.pool = pool
        self.catalog = catalog

    def connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        """Lend a pooled connection; an unreachable server comes out as ``SinkUnavailable``."""
        return pooled(self.pool, "PostgreSQL (KPIs)")

    def utc(self, day: date) -> datetime:
        """Return the instant a local day starts in the site's time zone."""
        return datetime.combine(day, time(0), self.catalog.tz)
