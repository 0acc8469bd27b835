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
from pathlib import Path
from typing import Protocol

import psycopg
import redis
from psycopg import sql

from ingest.flood import FloodTopics
from ioc.app.runtime.kafka import KafkaAuth
from ioc.app.services import credentials, mqtt_acl, probes, timescaledb
from ioc.app.services.credentials import KAFKA_USER, PG_APP, PG_OWNER, PG_SUPERUSER, Credentials
from ioc.app.services.process import Launch, Progress, run_step
from ioc.app.services.settings import Settings, find_binary
from ioc.config.loader import default_site_path, load_site
from ioc.errors import ServiceError

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
KAFKA_FILES = Path(__file__).parent / "kafka"

# Called with (service, event) as a long step begins: "resolving", "initialising", "relocated", and the
# TimescaleDB build's "tsdb_<step> [detail]" (see ioc.app.services.timescaledb.ensure_built).


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

    def answers_anonymously(self, s: Settings) -> bool:
        """True if the service on the port lets a client in without credentials (started by an older ``up``)."""
        ...

    def before_restart(self, s: Settings) -> None:
        """Prepare a service found open to anonymous clients for its restart with credentials."""
        ...


def resolve(label: str, configured: str) -> Path:
    """The executable's path, or a ServiceError that says how to install it."""
    found = find_binary(configured)
    if found is None:
        raise ServiceError(f"{label} not found ({configured}); run `make system-deps` (as root) to install")
    return found


# --- Kafka --------------------------------------------------------------------------------------------------


def _plain_jaas(password: str) -> str:
    # The node logs in to itself (inter-broker and broker-to-controller) as the one user it also accepts.
    return (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{KAFKA_USER}" password="{password}" user_{KAFKA_USER}="{password}";'
    )


def kafka_properties(s: Settings, data_dir: Path, password: str) -> str:
    """server.properties for one KRaft node (broker and controller) on loopback, both listeners SASL/PLAIN.

    Clients use CLIENT (advertised); CONTROLLER, the quorum's own listener, is never advertised and asks
    for the same login, so neither port lets an anonymous client in. The file holds the password: mode 0600.
    """
    jaas = _plain_jaas(password)
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{HOST}:{s.kafka_controller_port}",
            f"listeners=CLIENT://{HOST}:{s.kafka_port},CONTROLLER://{HOST}:{s.kafka_controller_port}",
            f"advertised.listeners=CLIENT://{HOST}:{s.kafka_port}",
            "inter.broker.listener.name=CLIENT",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
            "sasl.enabled.mechanisms=PLAIN",
            "sasl.mechanism.inter.broker.protocol=PLAIN",
            "sasl.mechanism.controller.protocol=PLAIN",
            "listener.name.client.sasl.enabled.mechanisms=PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
            f"listener.name.client.plain.sasl.jaas.config={jaas}",
            f"listener.name.controller.plain.sasl.jaas.config={jaas}",
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
    start_timeout_s = 300.0  # a broker loads every partition's log before it answers: ~80 s for 10,000
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
        credentials.write_private(props, kafka_properties(s, data, stored_credentials(s).kafka))
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
        """A metadata request, logged in with SASL/PLAIN, lists the broker."""
        probes.kafka_metadata(HOST, s.kafka_port, KafkaAuth(KAFKA_USER, _probe_credentials(s).kafka))

    def after_ready(self, s: Settings) -> None:
        """Nothing: topics are created by their owners or on first use."""

    def answers_anonymously(self, s: Settings) -> bool:
        """True if a metadata request without SASL is answered (a PLAINTEXT broker of an older ``up``)."""
        try:
            probes.kafka_metadata(HOST, s.kafka_port)
        except probes.NotReady:
            return False
        return True

    def before_restart(self, s: Settings) -> None:
        """Nothing to prepare: the new server.properties carries the listeners and the password."""


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


# --- credentials --------------------------------------------------------------------------------------------


def stored_credentials(s: Settings) -> Credentials:
    """The generated credentials of the services under ``s``; a ServiceError before the first ``up``."""
    creds = credentials.load(s.services_dir)
    if creds is None:
        raise ServiceError(
            f"no credentials in {credentials.path_of(s.services_dir)} yet; run `ioc services up` first"
        )
    return creds


def site_mqtt(s: Settings) -> tuple[FloodTopics, list[str]]:
    """The MQTT topic scheme and station ids of the site the development broker serves (IOC_SITE or the sample)."""

    site = load_site(s.site or default_site_path())
    return FloodTopics(site_id=site.site.id), [st.id for st in site.flood_stations]


def _probe_credentials(s: Settings) -> Credentials:
    """The stored credentials for a health check: without any, no service of ours can be answering."""
    creds = credentials.load(s.services_dir)
    if creds is None:
        raise probes.NotReady(f"no credentials in {credentials.path_of(s.services_dir)} yet")
    return creds


def postgres_dsn(s: Settings, creds: Credentials, role: str = PG_APP, dbname: str = "ioc") -> str:
    """A DSN for ``role`` on ``dbname`` of the development server, with its password."""
    return psycopg.conninfo.make_conninfo(
        host=HOST, port=s.postgres_port, user=role, password=creds.postgres[role], dbname=dbname
    )


def redis_url(s: Settings, creds: Credentials) -> str:
    """A redis:// URL for database 0 with the server's password."""
    return f"redis://:{creds.redis}@{HOST}:{s.redis_port}/0"


# --- PostgreSQL ---------------------------------------------------------------------------------------------

PG_ROLE = PG_APP
PG_DATABASE = "ioc"
PG_OS_USER = "postgres"
# What the application role may do on the owner's objects; DDL, TRUNCATE, ownership and superuser stay with others.
_APP_GRANTS = (
    "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
    "GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {app}",
    "GRANT EXECUTE ON FUNCTIONS TO {app}",
)


def timescaledb_available(s: Settings) -> bool:
    """True if the server on the port preloads TimescaleDB or, when none answers, its build is cached."""
    try:
        dsn = postgres_dsn(s, stored_credentials(s), PG_SUPERUSER, "postgres")
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
            row = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
    except (psycopg.Error, ServiceError, KeyError):
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
        "unix_socket_permissions = 0700",
        "password_encryption = 'scram-sha-256'",
        "max_connections = 200",
        "shared_buffers = 256MB",
        "shared_preload_libraries = 'timescaledb'",
        "timescaledb.telemetry_level = off",
    ]
    return "\n".join(lines) + "\n"


# Every connection, over the socket or loopback, proves a password (issue 12, hole 6: `trust` let any local OS user
# in as the superuser).
PG_HBA = """\
# Written by `ioc services up`; passwords in <cache>/services/credentials.json (mode 0600).
local   all   all                  scram-sha-256
host    all   all   127.0.0.1/32   scram-sha-256
"""


class Postgres:
    """PostgreSQL 15 from the Debian server binaries with TimescaleDB preloaded, scram passwords for every role.

    Roles: ``postgres`` (bootstrap superuser, used only by ``ioc services``), ``ioc_owner`` (owns database ``ioc``
    and the schema; migrations run as it; may create databases, e.g. the tests'), ``ioc`` (the workers and the wall:
    no superuser, only SELECT/INSERT/UPDATE/DELETE on the owner's tables, sequences and functions, by default
    privileges that new databases inherit from template1). TimescaleDB is built once into the cache and the server
    runs from a relocated tree that finds it (see :mod:`ioc.app.services.timescaledb`).
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
        """The DSN of the ``ioc`` database for the application role, without its password."""
        return f"postgresql://{PG_ROLE}@{HOST}:{s.postgres_port}/{PG_DATABASE}"

    def admin_dsn(self, s: Settings) -> str:
        """The DSN of the bootstrap superuser, with its password."""
        return postgres_dsn(s, stored_credentials(s), PG_SUPERUSER, "postgres")

    def prepare(self, s: Settings, workdir: Path, log_path: Path, progress: Progress) -> Launch:
        """Build TimescaleDB once, assemble the server tree, initdb on first use, write the config files."""
        pg = timescaledb.pg_install(s)
        ext_root = timescaledb.ensure_built(s, progress)
        os_user = PG_OS_USER if os.geteuid() == 0 else None
        base = _postgres_base(workdir, os_user, progress)
        bindir = timescaledb.server_tree(pg, ext_root, base / "server")
        data, sockets = base / "data", base / "run"
        sockets.mkdir(mode=0o700, exist_ok=True)
        _give_to(os_user, base, sockets)
        if not (data / "PG_VERSION").exists():
            progress(self.name, "initialising")
            pwfile = base / "superuser.pw"
            credentials.write_private(pwfile, stored_credentials(s).postgres[PG_SUPERUSER] + "\n")
            _give_to(os_user, pwfile)
            try:
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
                        "--auth=scram-sha-256",
                        f"--pwfile={pwfile}",
                        "--no-instructions",
                    ],
                    log_path=log_path,
                    cwd=base,
                    user=os_user,
                    what="PostgreSQL initdb",
                )
            finally:
                pwfile.unlink(missing_ok=True)
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
        """``SELECT 1`` as the bootstrap superuser, with its password."""
        probes.postgres_select(postgres_dsn(s, _probe_credentials(s), PG_SUPERUSER, "postgres"))

    def answers_anonymously(self, s: Settings) -> bool:
        """True if the superuser gets in without a password (an older ``up`` configured ``trust``)."""
        return probes.postgres_open(HOST, s.postgres_port, PG_SUPERUSER)

    def before_restart(self, s: Settings) -> None:
        """Through the still-open door, give the superuser its password so scram lets ``up`` back in."""
        dsn = psycopg.conninfo.make_conninfo(
            host=HOST, port=s.postgres_port, user=PG_SUPERUSER, dbname="postgres"
        )
        password = stored_credentials(s).postgres[PG_SUPERUSER]
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                conn.execute(
                    sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                        sql.Identifier(PG_SUPERUSER), sql.Literal(password)
                    )
                )
        except psycopg.Error as exc:
            raise ServiceError(
                f"cannot set the superuser's password on port {s.postgres_port}: {exc}"
            ) from exc

    def after_ready(self, s: Settings) -> None:
        """Check TimescaleDB is preloaded; set up roles, database ``ioc`` and the app role's grants unless done."""
        creds = stored_credentials(s)
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
                if not _roles_in_place(conn):
                    _set_up_roles(conn, creds)
                    for dbname in ("template1", PG_DATABASE):
                        with psycopg.connect(
                            postgres_dsn(s, creds, PG_SUPERUSER, dbname), autocommit=True
                        ) as db:
                            _grant_app_role(db, existing=dbname == PG_DATABASE)
                    _hand_database_to_owner(conn)
                    logger.info("PostgreSQL roles %s (owner) and %s (application) set up", PG_OWNER, PG_APP)
        except psycopg.Error as exc:
            raise ServiceError(f"cannot set up roles/database on port {s.postgres_port}: {exc}") from exc
        for role in (PG_OWNER, PG_APP):
            try:
                probes.postgres_select(postgres_dsn(s, creds, role, PG_DATABASE))
            except probes.NotReady as exc:
                raise ServiceError(
                    f"role {role} cannot use database {PG_DATABASE} after set-up: {exc}"
                ) from exc


def _roles_in_place(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    row = conn.execute(
        "SELECT (SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = %s),"
        " (SELECT NOT rolsuper AND pg_has_role(oid, 'pg_read_all_settings', 'MEMBER') FROM pg_roles"
        "  WHERE rolname = %s),"
        " (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s)",
        (PG_APP, PG_OWNER, PG_DATABASE),
    ).fetchone()
    return row == (False, True, PG_OWNER)


def _set_up_roles(conn: psycopg.Connection[tuple[object, ...]], creds: Credentials) -> None:
    """Create or correct the owner and application roles (an older ``up`` made ``ioc`` a superuser)."""
    attributes = {
        PG_OWNER: "LOGIN NOSUPERUSER CREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS",
        PG_APP: "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS",
    }
    for role, attrs in attributes.items():
        if conn.execute("SELECT FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("ALTER ROLE {} WITH " + attrs + " PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(creds.postgres[role])
            )
        )
    # Migrations ask whether TimescaleDB is preloaded before CREATE EXTENSION.
    conn.execute(sql.SQL("GRANT pg_read_all_settings TO {}").format(sql.Identifier(PG_OWNER)))
    if conn.execute("SELECT FROM pg_database WHERE datname = %s", (PG_DATABASE,)).fetchone() is None:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(PG_DATABASE)))


def _hand_database_to_owner(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """The last step of the set-up (what `_roles_in_place` looks for), so an interrupted one is done again."""
    conn.execute(
        sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(PG_DATABASE), sql.Identifier(PG_OWNER))
    )


def _grant_app_role(db: psycopg.Connection[tuple[object, ...]], *, existing: bool) -> None:
    """In one database: what the owner creates from now on is usable by the app role; so is what exists."""
    owner, app = sql.Identifier(PG_OWNER), sql.Identifier(PG_APP)
    if existing:
        # Tables an older `up` let the then-superuser `ioc` create move to the owner; the app role keeps DML only.
        # TimescaleDB's event triggers (made when the superuser `ioc` created the extension) must stay with a
        # superuser: the owner is one only for the REASSIGN, and the triggers go to the bootstrap superuser.
        db.execute(sql.SQL("ALTER ROLE {} SUPERUSER").format(owner))
        try:
            db.execute(sql.SQL("REASSIGN OWNED BY {} TO {}").format(app, owner))
            triggers = db.execute(
                "SELECT evtname FROM pg_event_trigger WHERE evtowner = %s::regrole", (PG_OWNER,)
            ).fetchall()
            for (trigger,) in triggers:
                db.execute(
                    sql.SQL("ALTER EVENT TRIGGER {} OWNER TO {}").format(
                        sql.Identifier(str(trigger)), sql.Identifier(PG_SUPERUSER)
                    )
                )
        finally:
            db.execute(sql.SQL("ALTER ROLE {} NOSUPERUSER").format(owner))
        db.execute(
            sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(app)
        )
        db.execute(sql.SQL("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {}").format(app))
    for grant in _APP_GRANTS:
        db.execute(sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} " + grant).format(owner, app=app))


def _postgres_base(workdir: Path, os_user: str | None, progress: Progress) -> Path:
    """The directory holding data/ and run/: the service dir, unless the postgres OS user cannot reach it.

    PostgreSQL refuses to run as root, so as root it runs as ``postgres``, which cannot enter /root
    (mode 0700) where the default cache lives. Then the data goes to
    /var/tmp/ioc-postgres-<hash of the service dir>, and ``<service dir>/data`` links to it.
    """
    return _reachable_base(workdir, os_user, "postgres", "data", progress)


def _reachable_base(
    workdir: Path, os_user: str | None, service: str, link_name: str, progress: Progress
) -> Path:
    """``workdir`` if ``os_user`` can write there, else a 0700 directory of that user under /var/tmp."""
    _give_to(os_user, workdir)
    if os_user is None or _reachable_by(os_user, workdir):
        return workdir
    digest = hashlib.sha256(str(workdir).encode()).hexdigest()[:12]
    base = Path("/var/tmp") / f"ioc-{service}-{digest}"
    base.mkdir(mode=0o700, exist_ok=True)
    _give_to(os_user, base)
    link = workdir / link_name
    if not link.is_symlink():
        link.symlink_to(base / link_name if service == "postgres" else base)
    progress(service, "relocated")
    logger.info("%s files for %s live in %s (%s cannot enter the cache)", service, workdir, base, os_user)
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


def redis_conf(s: Settings, data_dir: Path, password: str) -> str:
    """redis.conf for a foreground, loopback-only, non-persistent development server that requires a password."""
    return "\n".join(
        [
            f"port {s.redis_port}",
            f"bind {HOST}",
            "protected-mode yes",
            f"requirepass {password}",
            "daemonize no",
            f"dir {data_dir}",
            'logfile ""',
            'save ""',
            "appendonly no",
            "",
        ]
    )


class Redis:
    """redis-server with a generated config (``requirepass``, 0600); nothing persisted."""

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
        """A redis:// URL for database 0, without the password."""
        return f"redis://{HOST}:{s.redis_port}/0"

    def prepare(self, s: Settings, workdir: Path, log_path: Path, progress: Progress) -> Launch:
        """Write redis.conf, readable by its owner only since it holds the password."""
        data = workdir / "data"
        data.mkdir(exist_ok=True)
        conf = workdir / "redis.conf"
        credentials.write_private(conf, redis_conf(s, data, stored_credentials(s).redis))
        return Launch(argv=[str(resolve("redis-server", s.redis_server_bin)), str(conf)], cwd=workdir)

    def probe(self, s: Settings) -> None:
        """AUTH and PING."""
        probes.redis_ping(redis_url(s, _probe_credentials(s)))

    def after_ready(self, s: Settings) -> None:
        """Nothing to set up."""

    def answers_anonymously(self, s: Settings) -> bool:
        """True if PING without AUTH is answered."""
        client = redis.Redis(host=HOST, port=s.redis_port, socket_timeout=3, socket_connect_timeout=3)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def before_restart(self, s: Settings) -> None:
        """Nothing to prepare: the new config carries the password."""


# --- Mosquitto ----------------------------------------------------------------------------------------------

MQTT_OS_USER = "mosquitto"


def mosquitto_conf(s: Settings, base: Path, run_as: str | None) -> str:
    """mosquitto.conf: passwords and per-user ACLs on loopback, sessions persisted, logging to a file in ``base``."""
    lines = [
        f"listener {s.mqtt_port} {HOST}",
        # Issue 12, hole 6: an anonymous client published a forged level that opened a critical alert.
        "allow_anonymous false",
        f"password_file {base / 'passwd'}",
        f"acl_file {base / 'acl'}",
        # As deploy/mosquitto/mosquitto.conf: the ingest worker's persistent session (its subscription and
        # the QoS 1 messages queued for it) survives a broker restart. Without it a restart lost readings the
        # broker had already acknowledged to the stations, and those sent before the worker subscribed again
        # (found by `ioc bench soak`). Saved when the broker stops (SIGTERM) and every autosave_interval.
        "persistence true",
        f"persistence_location {base}/",
        "autosave_interval 60",
        # Mosquitto's default keeps only 1000 queued QoS 1 messages per client and silently drops the rest: a burst
        # from many stations while the ingest worker is busy would lose readings. Queue without a count limit,
        # bounded by bytes instead.
        "max_queued_messages 0",
        "max_queued_bytes 268435456",
        # QoS 1 messages in flight to one client at once (default 20). The ingest worker acknowledges a message
        # once Kafka has its event, so this many arrive per Kafka round trip: 20 bounded a worker to ~20 per
        # flush (issue 16); 1000 lets one flush cover what came during the previous one.
        "max_inflight_messages 1000",
        # A file rather than stdout: mosquitto flushes its log file per line but buffers a redirected stdout.
        f"log_dest file {base / 'mosquitto.log'}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages false",
    ]
    if run_as is not None:
        # Started as root it would drop to this user anyway; we start it as that user directly.
        lines.append(f"user {run_as}")
    return "\n".join(lines) + "\n"


class Mosquitto:
    """Eclipse Mosquitto with a generated config, password file and ACLs from the site's stations; never root."""

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
        """Write mosquitto.conf, passwd and acl (0600, owned by the broker's user) and start as that user."""
        os_user = _mosquitto_user() if os.geteuid() == 0 else None
        # As root the broker runs as `mosquitto`, which cannot enter /root: keep its files where it can.
        base = _reachable_base(workdir, os_user, "mosquitto", "broker", progress)
        topics, stations = site_mqtt(s)
        creds = stored_credentials(s)
        known = set(mqtt_acl.users(stations, dev=True))
        credentials.write_private(
            base / "passwd", mqtt_acl.passwd_text({u: pw for u, pw in creds.mqtt.items() if u in known})
        )
        credentials.write_private(base / "acl", mqtt_acl.acl_text(topics, stations, dev=True))
        conf = base / "mosquitto.conf"
        conf.write_text(mosquitto_conf(s, base, os_user))
        broker_log = base / "mosquitto.log"
        broker_log.touch()
        _give_to(os_user, base, base / "passwd", base / "acl", conf, broker_log)
        for saved in base.glob("mosquitto.db*"):
            _give_to(os_user, saved)
        if broker_log != log_path:
            # The manager reads start-up errors from log_path; let it name the broker's own log.
            log_path.unlink(missing_ok=True)
            log_path.symlink_to(broker_log)
        return Launch(
            argv=[str(resolve("mosquitto", s.mosquitto_bin)), "-c", str(conf)], cwd=base, user=os_user
        )

    def probe(self, s: Settings) -> None:
        """CONNECT as the development user, answered by CONNACK."""
        probes.mqtt_connack(
            HOST, s.mqtt_port, mqtt_acl.DEV_USER, _probe_credentials(s).mqtt[mqtt_acl.DEV_USER]
        )

    def after_ready(self, s: Settings) -> None:
        """Nothing to set up."""

    def answers_anonymously(self, s: Settings) -> bool:
        """True if an anonymous CONNECT is accepted."""
        try:
            probes.mqtt_connack(HOST, s.mqtt_port)
        except probes.NotReady:
            return False
        return True

    def before_restart(self, s: Settings) -> None:
        """Nothing to prepare."""


def _mosquitto_user() -> str:
    try:
        pwd.getpwnam(MQTT_OS_USER)
    except KeyError:
        return "nobody"
    return MQTT_OS_USER


BACKENDS: dict[str, Backend] = {b.name: b for b in (Kafka(), Postgres(), Redis(), Mosquitto())}
