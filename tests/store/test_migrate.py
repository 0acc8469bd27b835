"""Migrations on the real PostgreSQL: idempotent, recorded, flavour kept."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ioc.app.services import timescaledb
from ioc.app.services.probes import NotReady, postgres_select
from ioc.app.services.process import Launch, run_step, start_detached, stop
from ioc.app.services.settings import Settings
from ioc.errors import MigrationError
from ioc.store.migrate import TimescaleMode, available, current_flavor, migrate


def test_migrate_twice_changes_nothing(pg_dsn: str) -> None:
    again = migrate(pg_dsn)
    assert again.applied == []
    assert again.already == len(available(again.flavor))


def test_schema_has_tables_and_rollups(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        names = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "UNION SELECT matviewname FROM pg_matviews"
        )}
    assert {"sensor_readings", "alerts", "alert_events", "dead_letters", "sensor_readings_1m", "sensor_readings_1h",
            "sensor_readings_1d", "schema_migrations"} <= names


def test_flavour_is_recorded(pg_dsn: str) -> None:
    flavor = current_flavor(pg_dsn)
    assert flavor in ("plain", "timescale")
    assert {m.flavor for m in available(flavor)} <= {None, flavor}


def test_both_flavours_define_the_same_migration_numbers() -> None:
    plain = [(m.version, m.name) for m in available("plain")]
    timescale = [(m.version, m.name) for m in available("timescale")]
    assert plain == timescale


@pytest.fixture(scope="module")
def unpreloaded_dsn() -> Iterator[str]:
    """A throw-away server of the services' build with TimescaleDB installed but not in shared_preload_libraries."""
    s = Settings.from_env(os.environ)
    pg = timescaledb.pg_install(s)
    ext = timescaledb.installed(s, pg)
    assert ext is not None, "run `ioc services up` first: it builds TimescaleDB"
    user = "postgres" if os.geteuid() == 0 else None  # PostgreSQL refuses to run as root
    base = Path(tempfile.mkdtemp(prefix="ioc-no-preload-", dir="/var/tmp"))
    if user is not None:
        shutil.chown(base, user, user)
    bindir = timescaledb.server_tree(pg, ext, base / "server")
    log = base / "server.log"
    run_step([str(bindir / "initdb"), "-D", str(base / "data"), "-U", "postgres", "--auth=trust",
              "--no-instructions"], log_path=log, cwd=base, user=user, what="initdb")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    record, _ = start_detached(Launch(
        argv=[str(bindir / "postgres"), "-D", str(base / "data"), "-p", str(port), "-c",
              "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={base}"],
        cwd=base, user=user, stop_signal=signal.SIGINT), log, [port])
    dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                postgres_select(dsn)
                break
            except NotReady:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        yield dsn
    finally:
        stop(record, 30)
        shutil.rmtree(base)


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_migrate_with_timescaledb_installed_but_not_preloaded_says_so_not_connection_is_closed(
        unpreloaded_dsn: str, mode: TimescaleMode) -> None:
    # Regression (issue 11, defect 1): CREATE EXTENSION ended the session with FATAL "must be preloaded", and the
    # unlock in `finally` then failed with "the connection is closed", on every rerun, hiding MigrationError.
    name = f"ioc_no_preload_{mode}"
    with psycopg.connect(unpreloaded_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = psycopg.conninfo.make_conninfo(unpreloaded_dsn, dbname=name)
    for _ in range(2):  # a rerun behaves the same
        if mode == "on":
            with pytest.raises(MigrationError, match=r"installed but not preloaded.*shared_preload_libraries"):
                migrate(dsn, timescale=mode)
        else:
            assert migrate(dsn, timescale=mode).flavor == "plain"
    assert current_flavor(dsn) == ("plain" if mode == "auto" else None)
