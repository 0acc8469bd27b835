"""Start, stop and inspect the development services: Kafka, PostgreSQL, Redis and Mosquitto on loopback.

``up`` is idempotent: a service already answering its protocol with the generated credentials on its port is reused,
whoever started it; one of ours found open to anonymous clients (started by an older ``up``) is restarted with
credentials. Passwords are generated once into ``<cache>/services/credentials.json`` (mode 0600).
``down`` only stops processes recorded in ``<cache>/services/state.json`` whose pid still belongs to the
program we started.
"""

from __future__ import annotations

import fcntl
import json
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ioc.app.runtime.kafka import KafkaAuth
from ioc.app.services import credentials, mqtt_acl, process
from ioc.app.services.backends import (
    BACKENDS,
    Backend,
    postgres_dsn,
    redis_url,
    resolve,
    site_mqtt,
    timescaledb_available,
)
from ioc.app.services.credentials import KAFKA_USER, PG_APP, PG_OWNER
from ioc.app.services.probes import NotReady
from ioc.app.services.process import ProcessRecord, Progress
from ioc.app.services.settings import Settings
from ioc.errors import ServiceError

logger = logging.getLogger(__name__)

SERVICE_NAMES: tuple[str, ...] = tuple(BACKENDS)
State = Literal["running", "unhealthy", "stopped"]


@dataclass(frozen=True)
class LocalEndpoints:
    """The development services' addresses and generated credentials (the fallback of ``ioc.app.endpoints``)."""

    kafka_bootstrap: str
    postgres_dsn: str = field(repr=False)
    postgres_owner_dsn: str = field(repr=False)
    redis_url: str = field(repr=False)
    mqtt_host: str
    mqtt_port: int
    mqtt_username: str | None = None
    mqtt_password: str | None = field(default=None, repr=False)
    kafka_auth: KafkaAuth | None = field(default=None, repr=False)


def local_endpoints(env: Mapping[str, str]) -> LocalEndpoints:
    """The local services' endpoints with their generated credentials (ports from ``IOC_*_PORT`` in ``env``)."""
    s = Settings.from_env(env)
    creds = credentials.load(s.services_dir)
    if creds is None:
        db = owner_db = BACKENDS["postgres"].endpoint(s)
        redis = BACKENDS["redis"].endpoint(s)
        mqtt_user: str | None = None
        mqtt_password: str | None = None
        kafka: KafkaAuth | None = None
    else:
        db, owner_db = postgres_dsn(s, creds, PG_APP), postgres_dsn(s, creds, PG_OWNER)
        redis = redis_url(s, creds)
        mqtt_user, mqtt_password = mqtt_acl.DEV_USER, creds.mqtt.get(mqtt_acl.DEV_USER)
        kafka = KafkaAuth(KAFKA_USER, creds.kafka) if creds.kafka else None
    return LocalEndpoints(
        kafka_bootstrap=BACKENDS["kafka"].endpoint(s), postgres_dsn=db, postgres_owner_dsn=owner_db,
        redis_url=redis, mqtt_host="127.0.0.1", mqtt_port=s.mqtt_port, mqtt_username=mqtt_user,
        mqtt_password=mqtt_password, kafka_auth=kafka,
    )


@dataclass(frozen=True)
class ServiceStatus:
    """One service as seen now.

    ``state`` is "running" when it answers its protocol, "unhealthy" when our process is alive but does not
    answer, "stopped" otherwise. ``pid`` is known only for processes we started. ``timescaledb`` (whether the
    server has the TimescaleDB library) is set for postgres only.
    """

    name: str
    state: State
    endpoint: str
    pid: int | None
    started_by_us: bool
    timescaledb: bool | None = None


def _ignore_progress(service: str, event: str) -> None:
    pass


def up(
    names: Iterable[str] | None = None,
    *,
    settings: Settings,
    progress: Progress = _ignore_progress,
) -> list[ServiceStatus]:
    """Start the named services (default: all) unless already answering; wait until each answers its protocol.

    ``progress`` is called with (service, event) for "reused", "locking" (an open service of ours restarted with
    credentials), "resolving", "initialising", "relocated", "starting" and "ready". Raises ServiceError naming
    every service that could not be started, with the tail of its log.
    """
    s = settings
    backends = _select(names)
    with _locked(s):
        state = _read_state(s)
        _, stations = site_mqtt(s)
        credentials.ensure(s.services_dir, mqtt_acl.users(stations, dev=True))
        with ThreadPoolExecutor(max_workers=len(backends)) as pool:
            futures = {b.name: pool.submit(_up_one, b, s, state.get(b.name), progress) for b in backends}
        errors = {b.name: futures[b.name].exception() for b in backends}
        results: list[ServiceStatus] = []
        for b in backends:
            if errors[b.name] is not None:
                continue
            status, record = futures[b.name].result()
            if record is None:
                state.pop(b.name, None)
            else:
                state[b.name] = record
            results.append(status)
        # Record what did start before reporting any failure, so `down` can still stop it.
        _write_state(s, state)
    for exc in errors.values():
        if exc is not None and not isinstance(exc, ServiceError | OSError):
            raise exc
    failures = [f"{name}: {exc}" for name, exc in errors.items() if exc is not None]
    if failures:
        raise ServiceError("\n\n".join(failures))
    return results


def _up_one(
    b: Backend, s: Settings, record: ProcessRecord | None, progress: Progress
) -> tuple[ServiceStatus, ProcessRecord | None]:
    ours = record if record is not None and process.is_running(record) else None
    if b.answers_anonymously(s):
        if ours is None:
            raise ServiceError(
                f"the {b.name} on port {b.ports(s)[0]} lets clients in without credentials and was not started "
                f"from {s.cache_dir}; stop it (or choose another port, see the IOC_*_PORT variables) and run "
                f"`ioc services up` again"
            )
        # Started by an older `up` without credentials (issue 12, hole 6): restart it with them.
        progress(b.name, "locking")
        logger.warning(
            "%s (pid %d) accepts anonymous clients; restarting it with credentials", b.name, ours.pid
        )
        b.before_restart(s)
        process.stop(ours, b.stop_timeout_s)
        ours = None
    try:
        b.probe(s)
    except NotReady:
        pass
    else:
        b.after_ready(s)
        progress(b.name, "reused")
        return _status(b, s, "running", ours), ours
    if ours is not None and ours.ports != b.ports(s):
        raise ServiceError(
            f"the {b.name} started from {s.cache_dir} (pid {ours.pid}) listens on port "
            f"{', '.join(map(str, ours.ports))}, not on the configured {', '.join(map(str, b.ports(s)))}; "
            f"run `ioc services down {b.name}` with the old settings first"
        )
    if ours is not None:
        # Ours but not answering yet, e.g. started a moment ago by another `up`: give it its start-up time.
        _wait_ready(b, s, ours, _log_path(s, b), 0)
        b.after_ready(s)
    else:
        ours = _start(b, s, progress)
        try:
            b.after_ready(s)
        except ServiceError:
            # Not recorded in state.json on failure: stop it rather than leave a process `down` cannot find.
            process.stop(ours, b.stop_timeout_s)
            raise
    progress(b.name, "ready")
    return _status(b, s, "running", ours), ours


def _start(b: Backend, s: Settings, progress: Progress) -> ProcessRecord:
    busy = [port for port in b.ports(s) if process.port_open(port)]
    if busy:
        raise ServiceError(
            f"port {busy[0]} on 127.0.0.1 is taken by a program that does not answer as {b.name} with the "
            f"credentials in {credentials.path_of(s.services_dir)}; stop it or choose another port (see the "
            f"IOC_*_PORT variables)"
        )
    for label, configured in b.binaries(s).items():
        resolve(label, configured)
    workdir = s.services_dir / b.name
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = _log_path(s, b)
    launch = b.prepare(s, workdir, log_path, progress)
    progress(b.name, "starting")
    record, offset = process.start_detached(launch, log_path, b.ports(s))
    (workdir / f"{b.name}.pid").write_text(f"{record.pid}\n")
    logger.info("started %s (pid %d), log %s", b.name, record.pid, log_path)
    try:
        _wait_ready(b, s, record, log_path, offset)
    except ServiceError:
        process.stop(record, b.stop_timeout_s)
        raise
    return record


def _wait_ready(b: Backend, s: Settings, record: ProcessRecord, log_path: Path, offset: int) -> None:
    deadline = time.monotonic() + b.start_timeout_s
    reason = "no answer yet"
    while time.monotonic() < deadline:
        if not process.is_running(record):
            tail = process.log_tail(log_path, offset)
            raise ServiceError(f"{b.name} exited during start-up; last lines of {log_path}:\n{tail}")
        try:
            b.probe(s)
        except NotReady as exc:
            reason = str(exc)
            time.sleep(0.3)
        else:
            return
    raise ServiceError(
        f"{b.name} (pid {record.pid}) did not answer within {b.start_timeout_s:.0f} s ({reason}); "
        f"last lines of {log_path}:\n{process.log_tail(log_path, offset)}"
    )


def down(names: Iterable[str] | None = None, *, settings: Settings) -> list[ServiceStatus]:
    """Stop the named services (default: all) that this project started; others are left running."""
    s = settings
    backends = _select(names)
    with _locked(s):
        state = _read_state(s)
        for b in backends:
            record = state.pop(b.name, None)
            if record is None:
                continue
            if process.stop(record, b.stop_timeout_s):
                logger.warning("%s (pid %d) ignored its stop signal and was killed", b.name, record.pid)
            (s.services_dir / b.name / f"{b.name}.pid").unlink(missing_ok=True)
        _write_state(s, state)
    return status(names, settings=s)


def status(names: Iterable[str] | None = None, *, settings: Settings) -> list[ServiceStatus]:
    """Report whether each named service (default: all) answers, and whether we started it."""
    s = settings
    state = _read_state(s)
    results = []
    for b in _select(names):
        record = state.get(b.name)
        ours = record if record is not None and process.is_running(record) else None
        try:
            b.probe(s)
            current: State = "running"
        except NotReady:
            current = "unhealthy" if ours is not None else "stopped"
        results.append(_status(b, s, current, ours))
    return results


def _status(b: Backend, s: Settings, state: State, ours: ProcessRecord | None) -> ServiceStatus:
    return ServiceStatus(
        name=b.name,
        state=state,
        endpoint=b.endpoint(s),
        pid=ours.pid if ours is not None else None,
        started_by_us=ours is not None,
        timescaledb=timescaledb_available(s) if b.name == "postgres" else None,
    )


def _select(names: Iterable[str] | None) -> list[Backend]:
    chosen = list(dict.fromkeys(names or ()))
    unknown = [n for n in chosen if n not in BACKENDS]
    if unknown:
        raise ServiceError(f"unknown service {', '.join(unknown)}; choose from {', '.join(SERVICE_NAMES)}")
    return [BACKENDS[n] for n in chosen or SERVICE_NAMES]


def _log_path(s: Settings, b: Backend) -> Path:
    return s.services_dir / b.name / f"{b.name}.log"


@contextmanager
def _locked(s: Settings) -> Iterator[None]:
    """Serialise `up` and `down` across processes (parallel test workers, two terminals)."""
    s.services_dir.mkdir(parents=True, exist_ok=True)
    with (s.services_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _state_path(s: Settings) -> Path:
    return s.services_dir / "state.json"


def _read_state(s: Settings) -> dict[str, ProcessRecord]:
    path = _state_path(s)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ServiceError(f"cannot read {path}: {exc}; delete it if no service is running") from exc
    try:
        return {name: ProcessRecord.from_json(entry) for name, entry in raw.get("processes", {}).items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise ServiceError(f"{path} is not a state file this version understands ({exc}); delete it") from exc


def _write_state(s: Settings, state: Mapping[str, ProcessRecord]) -> None:
    path = _state_path(s)
    scratch = path.with_suffix(".tmp")
    body = {"version": 1, "processes": {name: record.to_json() for name, record in state.items()}}
    scratch.write_text(json.dumps(body, indent=2) + "\n")
    scratch.replace(path)
