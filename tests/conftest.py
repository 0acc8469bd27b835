"""Shared fixtures: the real services started by `ioc services up`, and a fresh database per test module.

Every PostgreSQL test runs on a database of one explicit flavour: ``plain`` (no extension) or ``timescale``
(``CREATE EXTENSION timescaledb`` on the services' server, which preloads TimescaleDB 2.25.2). Modules that
override ``db_flavour`` with ``params=FLAVORS`` (ioc.store.migrate) (tests/store, the dashboards' data paths) run on
both, and their test ids say which; every other module runs on ``IOC_TIMESCALE`` (``off``, the default: plain; ``on``:
timescale). Never "auto": the flavour of a run does not depend on what the machine happens to have.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from ioc.app.endpoints import Endpoints
from ioc.app.endpoints import endpoints as app_endpoints
from ioc.app.runtime.kafka import drop_namespace
from ioc.app.services import manager
from ioc.app.services.settings import Settings as ServicesSettings
from ioc.app.services.timescaledb import VERSION as TIMESCALEDB_VERSION
from ioc.settings import Settings as IocSettings
from ioc.store.migrate import Flavor, current_flavor, migrate

REPO = Path(__file__).resolve().parents[1]
SITE_DIR = REPO / "configs" / "muong-cha"
_BY_SETTING: dict[str, Flavor] = {"off": "plain", "on": "timescale"}


def default_flavour() -> Flavor:
    """The flavour of modules that do not ask for both: IOC_TIMESCALE=off (default) is plain, on is timescale."""
    raw = os.environ.get("IOC_TIMESCALE", "off")
    if raw not in _BY_SETTING:
        raise pytest.UsageError(f"IOC_TIMESCALE={raw!r}: the tests take 'off' (plain, the default) or 'on'")
    return _BY_SETTING[raw]


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which database flavour each kind of test runs on."""
    return [
        f"databases: tests/store and tests/dashboards/test_data_paths.py on both flavours (plain, timescale: "
        f"TimescaleDB {TIMESCALEDB_VERSION} on the services' PostgreSQL), ids [plain]/[timescale]; "
        f"other tests on {default_flavour()} (IOC_TIMESCALE={os.environ.get('IOC_TIMESCALE', 'off')})"
    ]


@pytest.fixture(scope="session")
def endpoints() -> Endpoints:
    """Start (or reuse) Kafka, PostgreSQL, Redis and Mosquitto; fail, never skip, when they cannot run."""
    manager.up(settings=ServicesSettings.from_env(os.environ))
    return app_endpoints(IocSettings.from_env(os.environ))


def _dsn_for(base: str, dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(base, dbname=dbname)


@pytest.fixture(scope="module")
def db_flavour() -> Flavor:
    """The flavour of this module's database; modules that check both override it with ``params=FLAVORS``."""
    return default_flavour()


@pytest.fixture(scope="module")
def pg_dsn(endpoints: Endpoints, db_flavour: Flavor) -> Iterator[str]:
    """A new database for this test module, migrated as ``db_flavour`` (the extension required or left off).

    Created and migrated by the schema owner (``endpoints.postgres_owner_dsn``), as ``ioc db migrate`` does; the
    DSN given to the tests is the owner's too, since tests also reset and inspect what the application role may not.
    """
    name = f"ioc_test_{db_flavour}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(endpoints.postgres_owner_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = _dsn_for(endpoints.postgres_owner_dsn, name)
    migrate(dsn, timescale="on" if db_flavour == "timescale" else "off")
    assert current_flavor(dsn) == db_flavour
    yield dsn
    drop_database(name)


def drop_database(name: str) -> None:
    """Drop a test database as the services' superuser.

    WITH (FORCE) must end every session in it, TimescaleDB's background workers included, and the schema owner
    may not signal those: teardowns failed now and then with "must be a member of the role whose process is
    being terminated" when a job of the timescale flavour was running at the end of a module.
    """
    from ioc.app.services import backends
    from ioc.app.services.settings import Settings

    with psycopg.connect(backends.Postgres().admin_dsn(Settings.from_env(os.environ)), autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psycopg.sql.Identifier(name)))


@pytest.fixture(scope="session")
def site_dir() -> Path:
    """The sample site shipped in configs/."""
    return SITE_DIR


@pytest.fixture
def kafka_namespace(endpoints: Endpoints) -> Iterator[Callable[[str], str]]:
    """Give fresh Kafka namespaces (``prefix`` + 8 hex digits); delete their topics and groups after the test.

    Left behind, every run of the suite added ~400 partitions to the services' broker, and after some days a
    restarted broker spent minutes loading them.
    """
    made: list[str] = []

    def new(prefix: str) -> str:
        made.append(f"{prefix}{uuid.uuid4().hex[:8]}")
        return made[-1]

    yield new
    for namespace in made:
        drop_namespace(endpoints.kafka_bootstrap, namespace, auth=endpoints.kafka_auth)
