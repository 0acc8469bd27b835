"""Numbered SQL migrations, run by ``ioc db migrate``.

Files are ``NNNN_name.sql`` (any database), or ``NNNN_name.plain.sql`` / ``NNNN_name.timescale.sql`` when the two
flavours differ. The flavour is chosen once, at the first migration of a database: TimescaleDB when the extension can
be loaded (and ``timescale`` is not ``off``), plain PostgreSQL otherwise; it is recorded and never silently changed.
An advisory lock keeps two processes from migrating at once.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

import psycopg
from psycopg import sql

from ioc.errors import MigrationError, SinkUnavailable

logger = logging.getLogger(__name__)

Flavor = Literal["plain", "timescale"]
FLAVORS: tuple[Flavor, ...] = ("plain", "timescale")
TimescaleMode = Literal["auto", "on", "off"]
_LOCK_ID = 0x10C_0001
_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+?)(?:\.(?P<flavor>plain|timescale))?\.sql$")


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    flavor: Flavor | None
    text: str

    @property
    def checksum(self) -> str:
        """Return a digest of the file, to notice an applied migration that was edited afterwards."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]


@dataclass
class MigrationReport:
    """What a run of the migrations did."""

    flavor: Flavor
    applied: list[str] = field(default_factory=list)
    already: int = 0


def available(flavor: Flavor) -> list[Migration]:
    """Return the migrations for a flavour, in order."""
    found: dict[int, Migration] = {}
    for entry in sorted(resources.files("ioc.store.migrations").iterdir(), key=lambda e: e.name):
        m = _NAME.match(entry.name)
        if not m:
            continue
        mflavor = m.group("flavor")
        if mflavor is not None and mflavor != flavor:
            continue
        version = int(m.group("version"))
        if version in found:
            raise MigrationError(f"two migrations numbered {version:04d} for flavour {flavor}")
        found[version] = Migration(version, m.group("name"), flavor if mflavor else None, entry.read_text("utf-8"))
    return [found[v] for v in sorted(found)]


def _detect_flavor(conn: psycopg.Connection[tuple[object, ...]], mode: TimescaleMode) -> Flavor:
    row = conn.execute("SELECT flavor FROM ioc_meta LIMIT 1").fetchone()
    if row is not None:
        recorded: Flavor = "timescale" if row[0] == "timescale" else "plain"
        if mode == "on" and recorded == "plain":
            raise MigrationError("this database was set up without TimescaleDB; migrate into a new database")
        return recorded
    if mode == "off":
        return "plain"
    has = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    if has is None:
        if mode == "on":
            raise MigrationError("TimescaleDB was required (IOC_TIMESCALE=on) but the extension is not installed")
        return "plain"
    preload = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
    if preload is None or "timescaledb" not in str(preload[0]):
        # CREATE EXTENSION would end the session with FATAL "must be preloaded": ask first.
        hint = (
            "TimescaleDB is installed but not preloaded: add shared_preload_libraries = 'timescaledb' to the "
            "server's postgresql.conf and restart it"
        )
        if mode == "on":
            raise MigrationError(f"{hint}, or migrate with --timescale off")
        logger.warning("%s; using plain PostgreSQL", hint)
        return "plain"
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error as exc:
        if mode == "on" or conn.closed:
            raise MigrationError(f"TimescaleDB could not be loaded: {exc}") from exc
        logger.warning("TimescaleDB is installed but could not be loaded (%s); using plain PostgreSQL", exc)
        return "plain"
    return "timescale"


def migrate(dsn: str, timescale: TimescaleMode = "auto") -> MigrationReport:
    """Bring the database at ``dsn`` to the newest schema; safe to run any number of times."""
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise SinkUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
    with conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS ioc_meta "
                "(flavor text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
                "checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            flavor = _detect_flavor(conn, timescale)
            if conn.execute("SELECT 1 FROM ioc_meta").fetchone() is None:
                conn.execute("INSERT INTO ioc_meta (flavor) VALUES (%s)", (flavor,))
            done = {int(v): str(c) for v, c in conn.execute("SELECT version, checksum FROM schema_migrations")}
            report = MigrationReport(flavor=flavor)
            for mig in available(flavor):
                if mig.version in done:
                    if done[mig.version] != mig.checksum:
                        logger.warning("migration %04d_%s was edited after it was applied", mig.version, mig.name)
                    report.already += 1
                    continue
                logger.info("applying migration %04d_%s (%s)", mig.version, mig.name, flavor)
                try:
                    with conn.transaction():
                        conn.execute(sql.SQL(mig.text))  # trusted file from the package
                        conn.execute(
                            "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                            (mig.version, mig.name, mig.checksum),
                        )
                except psycopg.Error as exc:
                    raise MigrationError(f"migration {mig.version:04d}_{mig.name} failed: {exc}") from exc
                report.applied.append(f"{mig.version:04d}_{mig.name}")
            return report
        finally:
            # A FATAL error ends the session and its lock with it; unlocking then would hide the error.
            if not conn.closed:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))


def current_flavor(dsn: str) -> Flavor | None:
    """Return the flavour a migrated database was set up with, or None before the first migration."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('ioc_meta')").fetchone()
        if not exists or exists[0] is None:
            return None
        row = conn.execute("SELECT flavor FROM ioc_meta LIMIT 1").fetchone()
        return "timescale" if row and row[0] == "timescale" else ("plain" if row else None)
