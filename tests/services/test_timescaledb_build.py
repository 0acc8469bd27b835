"""The TimescaleDB build of the development services: where its source comes from, that it is built once."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import psycopg
import pytest

from ioc.app.endpoints import Endpoints
from ioc.app.services import backends, manager, timescaledb
from ioc.app.services.settings import Settings
from ioc.errors import ServiceError

pytestmark = pytest.mark.services


def no_progress(service: str, event: str) -> None:
    raise AssertionError(f"unexpected progress {service}: {event}")


def test_the_configured_source_wins_and_is_checked(tmp_path: Path) -> None:
    copy = tmp_path / "copy.tar.gz"
    shutil.copyfile(timescaledb.VENDOR_ARCHIVE, copy)
    s = Settings.from_env({"IOC_CACHE_DIR": str(tmp_path), "IOC_TIMESCALEDB_SOURCE": str(copy)})

    assert timescaledb.source_archive(s, no_progress) == copy


def test_a_source_with_another_checksum_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "timescaledb-2.25.2.tar.gz"
    bad.write_bytes(b"not the release")
    s = Settings.from_env({"IOC_CACHE_DIR": str(tmp_path), "IOC_TIMESCALEDB_SOURCE": str(bad)})

    with pytest.raises(ServiceError, match=r"has sha256 .* not the pinned c803be9a"):
        timescaledb.source_archive(s, no_progress)


def test_without_a_source_the_download_is_tried_and_its_failure_says_what_to_do(tmp_path: Path) -> None:
    s = Settings.from_env({"IOC_CACHE_DIR": str(tmp_path)})
    events: list[str] = []

    with pytest.raises(ServiceError, match=r"could not be downloaded .*set IOC_TIMESCALEDB_SOURCE"):
        timescaledb.source_archive(
            s,
            lambda _, event: events.append(event),
            tmp_path / "absent.tar.gz",
            "http://127.0.0.1:9/ts.tar.gz",
        )
    assert events == ["tsdb_downloading http://127.0.0.1:9/ts.tar.gz"]
    assert not list((tmp_path / "timescaledb").iterdir())  # no partial download left behind


def test_a_second_build_does_nothing() -> None:
    manager.up(["postgres"], settings=Settings.from_env(os.environ))
    s = Settings.from_env(os.environ)

    root = timescaledb.ensure_built(s, no_progress)

    assert root == timescaledb.installed(s, timescaledb.pg_install(s))


def test_a_manifest_for_another_postgresql_is_not_a_build(tmp_path: Path) -> None:
    s = Settings.from_env(os.environ)
    pg = timescaledb.pg_install(s)
    other = timescaledb.PgInstall(pg.pg_config, "PostgreSQL 15.99", pg.bindir, pg.pkglibdir, pg.sharedir)

    assert timescaledb.installed(s, pg) is not None
    assert timescaledb.installed(s, other) is None


def test_the_server_preloads_timescaledb_2_25_2_from_the_cache_not_the_system(
    endpoints: Endpoints,
) -> None:
    s = Settings.from_env(os.environ)
    pg = timescaledb.pg_install(s)
    # pg_config is readable by superusers only.
    with psycopg.connect(backends.Postgres().admin_dsn(s), autocommit=True) as conn:
        preload = conn.execute("SHOW shared_preload_libraries").fetchone()
        version = conn.execute(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).fetchone()
        libdir = conn.execute("SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'").fetchone()
    assert preload == ("timescaledb",)
    assert version == (timescaledb.VERSION,)
    assert libdir is not None and Path(libdir[0]) != pg.pkglibdir
    assert (Path(libdir[0]) / f"timescaledb-{timescaledb.VERSION}.so").is_file()
