"""Shared fixtures: the real services started by `ioc services up`, and a fresh database per test module."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ioc.services import manager
from ioc.store.migrate import migrate

REPO = Path(__file__).resolve().parents[1]
SITE_DIR = REPO / "configs" / "muong-cha"


@pytest.fixture(scope="session")
def endpoints() -> manager.Endpoints:
    """Start (or reuse) Kafka, PostgreSQL, Redis and Mosquitto; fail, never skip, when they cannot run."""
    manager.up()
    return manager.endpoints()


def _dsn_for(base: str, dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(base, dbname=dbname)


@pytest.fixture(scope="module")
def pg_dsn(endpoints: manager.Endpoints) -> Iterator[str]:
    """A new, migrated database for this test module (plain PostgreSQL unless IOC_TIMESCALE says otherwise)."""
    name = f"ioc_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(endpoints.postgres_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = _dsn_for(endpoints.postgres_dsn, name)
    migrate(dsn, timescale=os.environ.get("IOC_TIMESCALE", "auto"))  # type: ignore[arg-type]
    yield dsn
    with psycopg.connect(endpoints.postgres_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def site_dir() -> Path:
    """The sample site shipped in configs/."""
    return SITE_DIR
