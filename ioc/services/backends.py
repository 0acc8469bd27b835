"""The four development services, each described by one small class and registered by name.

A backend knows its binaries, ports and endpoint, how to prepare its directory (config, first-time data) and
how to launch and health-check the process. Starting, waiting and stopping are the manager's job.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import pwd
import shutil
import signal
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import psycopg
from psycopg import sql

from ioc.errors import ServiceError
from ioc.services import probes, timescaledb
from ioc.services.process import Launch, run_step
from ioc.services.settings import Settings, find_binary

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
KAFKA_FILES = Path(__file__).parent / "kafka"

# Called with (service, event) as a long step begins: "resolving", "initialising", "relocated", and the
# TimescaleDB build's "tsdb_<step> [detail]" (see ioc.services.timescaledb.ensure_built).
Progress = Callable[[str, str], None]


class Backend(Protocol):
    """One development service."""

    name: str
    start_timeout_s: float
    stop_timeout_s: float

    def binaries(self, s: Settings) -> dict[str, str]:
        """The executables it needs: a label for the message mapped to the configured name or path."""
        ...

    def ports(self, s: Settings) -> list[int]:
        """Every loopback port it listens on; the first is the client port."""
        ...

    def endpoint(self, s: Settings) -> str:
        """Where clients connect."""
        ...

    def prepare(self, s: Settings, workdir: Path, log_path: Path, progress: Progress) -> Launch:
        """Write config, create first-time data, and say how to launch the process."""
        ...

    def probe(self, s: Settings) -> None:
        """Speak the service's protocol once; raise ``probes.NotReady`` if it does not answer."""
        ...

    def after_ready(self, s: Settings) -> None:
        """Idempotent set-up once the service answers (roles, databases)."""
        ...


def resolve(label: str, configured: str) -> Path:
    """The executable's path, or a ServiceError that says how to install it."""
    found = find_binary(configured)
    if found is None:
        raise ServiceError(f"{label} not found ({configured}); run `make system-deps` (as root) to install")
    return found


# --- Kafka --------------------------------------------------------------------------------------------------


def kafka_properties(s: Settings, data_dir: Path) -> str:
    """server.properties for one KRaft node acting as both broker and controller on loopback."""
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{HOST}:{s.kafka_controller_port}",
            f"listeners=PLAINTEXT://{HOST}:{s.kafka_port},CONTROLLER://{HOST}:{s.kafka_controller_port}",
            f"advertised.listeners=PLAINTEXT://{HOST}:{s.kafka_port}",
            "inter.broker.listener.name=PLAINTEXT",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={data_dir}",
            "num.partitions=4",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=true",
            "",
        ]
    )


def new_cluster_id() -> str:
    """A KRaft cluster id as ``kafka-storage random-uuid`` makes it, without starting a JVM for it."""
    while True:
        # Kafka's Uuid.randomUuid: url-safe base64 of 16 random bytes, never starting with '-' (an option).
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


class Kafka:
    """Apache Kafka 3.9.1 from the pinned pom, one combined broker+controller node."""

    name = "kafka"
    start_timeout_s = 90.0
    stop_timeout_s = 30.0

    def binaries(self, s: Settings) -> dict[str, str]:
        """Java to run the broker; Maven too while the jars are not resolved yet."""
        needed = {"java (openjdk-17-jre-headless)": s.java_bin}
        if not _libs_current(s):
            needed["mvn (maven)"] = s.mvn_bin
        return needed

    def ports(self, s: Settings) -> list[int]:
        """Client port, then controller port."""
        return [s.kafka_port, s.kafka_controller_port]

    def endpoint(self, s: Settings) -> str:
        """The bootstrap server."""
        return f"{HOST}:{s.kafka_port}"

    def prepare(self, s: Settings, workdir: Path, log_path: Path, progress: Progress) -> Launch:
        """Resolve the jars if needed, write server.properties, format the storage on first use."""
        java = str(resolve("java", s.java_bin))
        libs = _ensure_libs(s, log_path, progress)
        data = workdir / "data"
        props = workdir / "server.properties"
        props.write_text(kafka_properties(s, data))
        classpath = f"{libs}/*"
        if not (data / "meta.properties").exists():
            progress(self.name, "initialising")
            run_step(
                [
                    java,
                    "-cp",
                    classpath,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    new_cluster_id(),
                    "-c",
                    str(props),
                ],
                log_path=log_path,
                cwd=workdir,
                what="Kafka storage format",
            )
        return Launch(
            argv=[
                java,
                "-Xmx512m",
                "-Xms256m",
                "-Djava.awt.headless=true",
                f"-Dlog4j.configuration=file:{KAFKA_FILES / 'log4j.properties'}",
                "-cp",
                classpath,
                "kafka.Kafka",
                str(props),
            ],
            cwd=workdir,
        )

    def probe(self, s: Settings) -> None:
        """A metadata request lists the broker."""
        probes.kafka_metadata(HOST, s.kafka_port)

    def after_ready(self, s: Settings) -> None:
        """Nothing: topics are created by their owners or on first use."""


def _pom_hash() -> str:
    return hashlib.sha256((KAFKA_FILES / "pom.xml").read_bytes()).hexdigest()


def _libs_current(s: Settings) -> bool:
    stamp = s.kafka_libs_dir / ".pom-sha256"
    return stamp.is_file() and stamp.read_text().strip() == _pom_hash()


def _ensure_libs(s: Settings, log_path: Path, progress: Progress) -> Path:
    """Copy the pom's runtime jars into ``<cache>/kafka/libs`` unless a complete copy for this pom exists."""
    libs = s.kafka_libs_dir
    if _libs_current(s):
        return libs
    progress("kafka", "resolving")
    mvn = str(resolve("mvn (maven)", s.mvn_bin))
    # Resolve into a scratch directory and swap it in whole, so an interrupted download never looks complete.
    scratch = libs.with_name("libs.partial")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    run_step(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(KAFKA_FILES / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={scratch}",
            "-DincludeScope=runtime",
        ],
        log_path=log_path,
        cwd=scratch,
        what="Maven resolution of the Kafka jars",
    )
    if not any(scratch.glob("kafka_2.13-*.jar")):
        raise ServiceError(f"Maven finished but copied no Kafka jar into {scratch}; see {log_path}")
    (scratch / ".pom-sha256").write_text(_pom_hash() + "\n")
    shutil.rmtree(libs, ignore_errors=True)
    scratch.rename(libs)
    return libs


# --- PostgreSQL ---------------------------------------------------------------------------------------------

PG_SUPERUSER = "postgres"
PG_ROLE = "ioc"
PG_DATABASE = "ioc"
PG_OS_USER = "postgres"


def timescaledb_available(s: Settings) -> bool:
    """True if the server on the port preloads TimescaleDB or, when none answers, its build is cached."""
    try:
        with psycopg.connect(Postgres().admin_dsn(s), autocommit=True, connect_timeout=3) as conn:
            row = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
    except psycopg.Error:
        try:
            return timescaledb.installed(s, timescaledb.pg_install(s)) is not None
        except ServiceError:
            return False
    return row is not None and "timescaledb" in str(row[0])


def postgres_conf(s: Settings, socket_dir: Path) -> str:
    """The settings we own, kept in ``ioc.conf`` and included from postgresql.conf. Durability stays on."""
    lines = [
        f"listen_addresses = '{HOST}'",
        f"port = {s.postgres_port}",
        f"unix_socket_directories = '{socket_dir}'",
        "max_connections = 200",
        "shared_buffers = 256MB",
        "shared_preload_libraries = 'timescaledb'",
        "timescaledb.telemetry_level = off",
    ]
    return "\n".join(lines) + "\n"


# Trust, but only over the unix socket in our own directory and over IPv4 loopback.
PG_HBA = """\
# Written by `ioc services up`; development only.
local   all   all                  trust
host    all   all   127.0.0.1/32   trust
"""


class Postgres:
    """PostgreSQL 15 from the Debian server binaries with TimescaleDB preloaded, role and database ``ioc``.

    TimescaleDB is built once into the cache and the server runs from a relocated tree that finds it
    (see :mod:`ioc.services.timescaledb`). A database uses it only once ``CREATE EXTENSION`` ran there, so the
    same server holds plain and TimescaleDB databases side by side.
    """

    name = "postgres"
    start_timeout_s = 60.0
    stop_timeout_s = 30.0

    def binaries(self, s: Settings) -> dict[str, str]:
        """initdb and the server, from the configured bin directory."""
        return {
            "initdb (postgresql-15)": str(s.pg_bindir / "initdb"),
            "postgres (postgresql-15)": str(s.pg_bindir / "postgres"),
        }

    def ports(self, s: Settings) -> list[int]:
        """The client port."""
        return [s.postgres_port]

    def endpoint(self, s: Settings) -> str:
        """The DSN of the ``ioc`` database."""
        return f"postgresql://{PG_ROLE}@{HOST}:{s.postgres_port}/{PG_DATABASE}"

    def admin_dsn(self, s: Settings) -> str:
        """The DSN of the bootstrap superuser, used before role ``ioc`` exists."""
        return f"postgresql://{PG_SUPERUSER}@{HOST}:{s.postgres_port}/postgres"

    def prepare(self, s: Settings, workdir: Path, log_path: Path, progress: Progress) -> Launch:
        """Build TimescaleDB once, assemble the server tree, initdb on first use, write the config files."""
        pg = timescaledb.pg_install(s)
        ext_root = timescaledb.ensure_built(s, progress)
        os_user = PG_OS_USER if os.geteuid() == 0 else None
        base = _postgres_base(workdir, os_user, progress)
        bindir = timescaledb.server_tree(pg, ext_root, base / "server")
        data, sockets = base / "data", base / "run"
        sockets.mkdir(exist_ok=True)
        _give_to(os_user, base, sockets)
        if not (data / "PG_VERSION").exists():
            progress(self.name, "initialising")
            run_step(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    PG_SUPERUSER,
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--auth=trust",
                    "--no-instructions",
                ],
                log_path=log_path,
                cwd=base,
                user=os_user,
                what="PostgreSQL initdb",
            )
            with (data / "postgresql.conf").open("a") as conf:
                conf.write("\ninclude 'ioc.conf'\n")
        (data / "ioc.conf").write_text(postgres_conf(s, sockets))
        (data / "pg_hba.conf").write_text(PG_HBA)
        _give_to(os_user, data / "ioc.conf", data / "pg_hba.conf")
        return Launch(
            argv=[str(bindir / "postgres"), "-D", str(data)],
            cwd=base,
            user=os_user,
            # SIGINT is PostgreSQL's "fast" shutdown; SIGTERM would wait for every client to disconnect.
            stop_signal=signal.SIGINT,
        )

    def probe(self, s: Settings) -> None:
        """``SELECT 1`` as the bootstrap superuser."""
        probes.postgres_select(self.admin_dsn(s))

    def after_ready(self, s: Settings) -> None:
        """Check TimescaleDB is preloaded, create role and database ``ioc`` if missing, check the ioc DSN."""
        try:
            with psycopg.connect(self.admin_dsn(s), autocommit=True) as conn:
                preload = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
                if preload is None or "timescaledb" not in str(preload[0]):
                    raise ServiceError(
                        f"the PostgreSQL on port {s.postgres_port} does not preload TimescaleDB "
                        f"(shared_preload_libraries = {preload[0] if preload else ''!r}); if an older "
                        f"`ioc services up` started it, run `ioc services down postgres` and "
                        f"`ioc services up postgres`; otherwise stop it or choose another IOC_POSTGRES_PORT"
                    )
                if conn.execute("SELECT FROM pg_roles WHERE rolname = %s", (PG_ROLE,)).fetchone() is None:
                    conn.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER").format(sql.Identifier(PG_ROLE)))
                if (
                    conn.execute("SELECT FROM pg_database WHERE datname = %s", (PG_DATABASE,)).fetchone()
                    is None
                ):
                    conn.execute(
                        sql.SQL("CREATE DATABASE {} OWNER {}").format(
                            sql.Identifier(PG_DATABASE), sql.Identifier(PG_ROLE)
                        )
                    )
        except psycopg.Error as exc:
            raise ServiceError(
                f"cannot create role/database {PG_ROLE} on port {s.postgres_port}: {exc}"
            ) from exc
        try:
            probes.postgres_select(self.endpoint(s))
        except probes.NotReady as exc:
            raise ServiceError(f"{self.endpoint(s)} does not answer after set-up: {exc}") from exc


def _postgres_base(workdir: Path, os_user: str | None, progress: Progress) -> Path:
    """The directory holding data/ and run/: the service dir, unless the postgres OS user cannot reach it.

    PostgreSQL refuses to run as root, so as root it runs as ``postgres``, which cannot enter /root
    (mode 0700) where the default cache lives. Then the data goes to
    /var/tmp/ioc-postgres-<hash of the service dir>, and ``<service dir>/data`` links to it.
    """
    _give_to(os_user, workdir)
    if os_user is None or _reachable_by(os_user, workdir):
        return workdir
    digest = hashlib.sha256(str(workdir).encode()).hexdigest()[:12]
    base = Path("/var/tmp") / f"ioc-postgres-{digest}"
    base.mkdir(mode=0o700, exist_ok=True)
    _give_to(os_user, base)
    link = workdir / "data"
    if not link.is_symlink():
        link.symlink_to(base / "data")
    progress("postgres", "relocated")
    logger.info("PostgreSQL data for %s lives in %s (postgres cannot enter the cache)", workdir, base)
    return base


def _reachable_by(user: str, path: Path) -> bool:
    entry = pwd.getpwnam(user)
    done = subprocess.run(
        ["test", "-w", str(path)], user=entry.pw_uid, group=entry.pw_gid, extra_groups=[], check=False
    )
    return done.returncode == 0


def _give_to(user: str | None, *paths: Path) -> None:
    if user is None:
        return
    for path in paths:
        shutil.chown(path, user=user, group=user)


# --- Redis --------------------------------------------------------------------------------------------------


def redis_conf(s: Settings, data_dir: Path) -> str:
    """redis.conf for a foreground, loopback-only, non-persistent development server."""
    return "\n".join(
        [
            f"port {s.redis_port}",
            f"bind {HOST}",
            "protected-mode yes",
            "daemonize no",
            f"dir {data_dir}",
            'logfile ""',
            'save ""',
            "appendonly no",
            "",
        ]
    )


class Redis:
    """redis-server with a generated config; nothing persisted."""

    name = "redis"
    start_timeout_s = 20.0
    stop_timeout_s = 15.0

    def binaries(self, s: Settings) -> dict[str, str]:
        """The server."""
        return {"redis-server (redis-server)": s.redis_server_bin}

    def ports(self, s: Settings) -> list[int]:
        """The client port."""
        return [s.redis_port]

    def endpoint(self, s: Settings) -> str:
        """A redis:// URL for database 0."""
        return f"redis://{HOST}:{s.redis_port}/0"

    def prepare(self, s: Settings, workdir: Path, log_path: Path, progress: Progress) -> Launch:
        """Write redis.conf."""
        data = workdir / "data"
        data.mkdir(exist_ok=True)
        conf = workdir / "redis.conf"
        conf.write_text(redis_conf(s, data))
        return Launch(argv=[str(resolve("redis-server", s.redis_server_bin)), str(conf)], cwd=workdir)

    def probe(self, s: Settings) -> None:
        """PING."""
        probes.redis_ping(self.endpoint(s))

    def after_ready(self, s: Settings) -> None:
        """Nothing to set up."""


# --- Mosquitto ----------------------------------------------------------------------------------------------


def mosquitto_conf(s: Settings, log_path: Path, run_as: str | None) -> str:
    """mosquitto.conf: anonymous MQTT on loopback, sessions persisted beside the log, logging to that file."""
    lines = [
        f"listener {s.mqtt_port} {HOST}",
        "allow_anonymous true",
        # As deploy/mosquitto/mosquitto.conf: the ingest worker's persistent session (its subscription and
        # the QoS 1 messages queued for it) survives a broker restart. Without it a restart lost readings the
        # broker had already acknowledged to the stations, and those sent before the worker subscribed again
        # (found by `ioc bench soak`). Saved when the broker stops (SIGTERM) and every autosave_interval.
        "persistence true",
        f"persistence_location {log_path.parent}/",
        "autosave_interval 60",
        # Mosquitto's default keeps only 1000 queued QoS 1 messages per client and silently drops the rest: a burst
        # from many stations while the ingest worker is busy would lose readings. Queue without a count limit,
        # bounded by bytes instead.
        "max_queued_messages 0",
        "max_queued_bytes 268435456",
        # A file rather than stdout: mosquitto flushes its log file per line but buffers a redirected stdout.
        f"log_dest file {log_path}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages false",
    ]
    if run_as is not None:
        # As root, mosquitto would switch to user "mosquitto"; stay the user that owns the cache instead.
        lines.append(f"user {run_as}")
    return "\n".join(lines) + "\n"


class Mosquitto:
    """Eclipse Mosquitto with a generated config."""

    name = "mosquitto"
    start_timeout_s = 20.0
    stop_timeout_s = 15.0

    def binaries(self, s: Settings) -> dict[str, str]:
        """The broker."""
        return {"mosquitto (mosquitto)": s.mosquitto_bin}

    def ports(self, s: Settings) -> list[int]:
        """The MQTT port."""
        return [s.mqtt_port]

    def endpoint(self, s: Settings) -> str:
        """An mqtt:// address."""
        return f"mqtt://{HOST}:{s.mqtt_port}"

    def prepare(self, s: Settings, workdir: Path, log_path: Path, progress: Progress) -> Launch:
        """Write mosquitto.conf."""
        run_as = pwd.getpwuid(os.geteuid()).pw_name if os.geteuid() == 0 else None
        conf = workdir / "mosquitto.conf"
        conf.write_text(mosquitto_conf(s, log_path, run_as))
        return Launch(argv=[str(resolve("mosquitto", s.mosquitto_bin)), "-c", str(conf)], cwd=workdir)

    def probe(self, s: Settings) -> None:
        """CONNECT answered by CONNACK."""
        probes.mqtt_connack(HOST, s.mqtt_port)

    def after_ready(self, s: Settings) -> None:
        """Nothing to set up."""


BACKENDS: dict[str, Backend] = {b.name: b for b in (Kafka(), Postgres(), Redis(), Mosquitto())}
