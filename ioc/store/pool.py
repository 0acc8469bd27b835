"""Lending pooled connections with one meaning for "the database is not there"."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from ioc.errors import BadRecord, SinkUnavailable


@contextmanager
def pooled(pool: ConnectionPool, what: str = "PostgreSQL") -> Iterator[psycopg.Connection[Any]]:
    """Lend a pooled connection; a lost or unreachable server is ``SinkUnavailable`` naming ``what``."""
    try:
        with pool.connection() as conn:
            yield conn
    except psycopg.OperationalError as exc:  # PoolTimeout is one too
        raise SinkUnavailable(f"{what} is unreachable: {exc}") from exc


@contextmanager
def pooled_transaction(pool: ConnectionPool, what: str) -> Iterator[psycopg.Connection[Any]]:
    """Lend a pooled connection inside a transaction: a lost server is ``SinkUnavailable`` naming ``what``, a row
    the database refuses (integrity, data) is ``BadRecord``."""
    with pooled(pool, f"PostgreSQL ({what})") as conn:
        try:
            with conn.transaction():
                yield conn
        except (psycopg.errors.IntegrityError, psycopg.errors.DataError) as exc:
            raise BadRecord(f"{what} refused by the database: {exc}") from exc
