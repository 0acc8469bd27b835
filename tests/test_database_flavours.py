"""The flavour of a test database is chosen explicitly, never by what the server happens to have."""

from __future__ import annotations

import os

import psycopg
import pytest

from ioc.store.migrate import current_flavor

pytestmark = pytest.mark.services


def test_pg_dsn_is_plain_unless_ioc_timescale_says_on_although_the_server_has_timescaledb(pg_dsn: str) -> None:
    # Regression (issue 11, defect 6): conftest said "plain unless IOC_TIMESCALE says otherwise" but migrated with
    # "auto", so on a server with TimescaleDB every module silently became the timescale flavour.
    with psycopg.connect(pg_dsn) as conn:
        preload = conn.execute("SHOW shared_preload_libraries").fetchone()
    assert preload == ("timescaledb",)
    assert current_flavor(pg_dsn) == ("timescale" if os.environ.get("IOC_TIMESCALE") == "on" else "plain")
