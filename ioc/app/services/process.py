"""Detached service processes: start them, recognise them later by pid, stop them, read their logs.

Linux only: a process is recognised through ``/proc/<pid>/stat`` (its start time) and ``/proc/<pid>/cmdline``
(its program), so a pid reused by an unrelated program is never mistaken for one of ours.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ioc.errors import ServiceError

# What a backend reports while it prepares: (service, message).
Progress = Callable[[str, str], None]


@dataclass(frozen=True)
class Launch:
    """How to run one service: command line, working directory and, when root, the OS user to become."""

    argv: list[str]
    cwd: Path
    user: str | None = None
    stop_signal: int = signal.SIGTERM
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProcessRecord:
    """A process this project started, as kept in ``state.json``."""

    pid: int
    start_ticks: int
    program: str
    stop_signal: int
    argv: list[str]
    ports: list[int]
    started_at: float

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ProcessRecord:
        """Rebuild a record written by :meth:`to_json`."""
        return cls(
            pid=int(raw["pid"]),
            start_ticks=int(raw["start_ticks"]),
            program=str(raw["program"]),
            stop_signal=int(raw["stop_signal"]),
            argv=[str(a) for a in raw["argv"]],
            ports=[int(p) for p in raw["ports"]],
            started_at=float(raw["started_at"]),
        )


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself contain spaces or parentheses.
    return raw[raw.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if there is no such live process."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _program(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    # Redis rewrites its title ("redis-server 127.0.0.1:16379"), so split on spaces as well as NULs.
    words = raw.replace(b"\0", b" ").split()
    return Path(words[0].decode(errors="replace")).name if words else None  # empty while being rewritten


def is_running(record: ProcessRecord) -> bool:
    """True while the recorded process is alive and is still the program we started (not a reused pid)."""
    _reap(record.pid)
    if start_ticks(record.pid) != record.start_ticks:
        return False
    # The start time already proves it is our process; the name check guards against a reused pid across
    # reboots. Redis and Node rewrite their command line while starting, and a read in that moment comes back
    # empty: an empty read is not a different program (a flaky "exited during start-up" came from treating it so).
    program = _program(record.pid)
    return program is None or program == record.program


def _reap(pid: int) -> None:
    # When the service was started by this very Python process, its exit leaves a zombie until we wait for it.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _drop_privileges(user: str | None) -> dict[str, Any]:
    if user is None or os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def run_step(argv: list[str], *, log_path: Path, cwd: Path, user: str | None = None, what: str) -> None:
    """Run a one-off preparation step (initdb, Maven, Kafka storage format), output appended to the log."""
    with log_path.open("ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {what}: {' '.join(argv)}\n".encode())
        log.flush()
        offset = log.tell()
        done = subprocess.run(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
            **_drop_privileges(user),
        )
    if done.returncode != 0:
        raise ServiceError(
            f"{what} failed (exit {done.returncode}); last lines of {log_path}:\n{log_tail(log_path, offset)}"
        )


def start_detached(launch: Launch, log_path: Path, ports: list[int]) -> tuple[ProcessRecord, int]:
    """Start a service in its own session, output appended to ``log_path``; return record and log offset."""
    with log_path.open("ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(launch.argv)}\n".encode())
        log.flush()
        offset = log.tell()
        proc = subprocess.Popen(
            launch.argv,
            cwd=launch.cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # The child inherits this process's environment (PATH, locale, HOME) like any child; the
            # service's own variables come from the settings (launch.env). Nothing is read from it here.
            env={**os.environ, **launch.env},
            **_drop_privileges(launch.user),
        )
    ticks = start_ticks(proc.pid)
    if ticks is None:
        raise ServiceError(
            f"{launch.argv[0]} exited at once; last lines of {log_path}:\n{log_tail(log_path, offset)}"
        )
    record = ProcessRecord(
        pid=proc.pid,
        start_ticks=ticks,
        program=Path(launch.argv[0]).name,
        stop_signal=launch.stop_signal,
        argv=launch.argv,
        ports=ports,
        started_at=time.time(),
    )
    return record, offset


def stop(record: ProcessRecord, timeout: float) -> bool:
    """Stop a recorded process gracefully, then kill its session after ``timeout``; True if it was killed."""
    if not is_running(record):
        return False
    _signal(record.pid, record.stop_signal)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(record):
            return False
        time.sleep(0.2)
    try:
        os.killpg(record.pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    while is_running(record):
        time.sleep(0.1)
    return True


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True if something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def log_tail(path: Path, offset: int = 0, lines: int = 25) -> str:
    """The last ``lines`` lines written to ``path`` after byte ``offset`` (the start of the latest run)."""
    try:
        with path.open("rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    tail = text.rstrip().splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in tail) if tail else "    (log is empty)"
