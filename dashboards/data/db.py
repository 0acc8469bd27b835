"""The wall's one door to PostgreSQL: pooled connections whose failures come out as ``SinkUnavailable``."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from dashboards.wall_scope import Scope
from ioc.store.pool import pooled

# %(codes)s is the user's scope: NULL for the whole site, else the area codes an alert must be in.
SCOPED = "(%(codes)s::text[] IS NULL OR area_code = ANY(%(codes)s::text[]))"


class Database:
    """A connection pool shared by the wall's readers."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        """Lend a pooled connection; an unreachable server comes out as ``SinkUnavailable``."""
        return pooled(self.pool, "PostgreSQL")


def scope_codes(scope: Scope | None) -> list[str] | None:
    """Return the area codes of a scope for ``SCOPED`` (None: the whole site)."""
    return None if scope is None else scope.sql()
