"""Every long-running process of the distributed mode, as the ``ioc`` command that starts it.

``docker-compose.yml`` runs each as its own service; a test checks that none is missing there.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from ioc.app.runtime.faust_app import WORKERS

ONE_SHOT: dict[str, tuple[str, ...]] = {
    "migrate": ("db", "migrate"),
}
PROCESSES: dict[str, tuple[str, ...]] = {
    "ingest-mqtt": ("ingest", "mqtt"),
    "ingest-camera": ("ingest", "camera"),
    "ingest-webhook": ("ingest", "webhook"),  # stations posting over HTTP
    "ingest-lorawan": ("ingest", "lorawan"),  # ChirpStack uplinks on MQTT
    "ingest-feeds": ("ingest", "feeds"),  # news and official RSS/Atom feeds (public signals)
    **{f"worker-{name}": ("worker", name) for name in WORKERS},
    "worker-notify": ("worker", "notify"),  # duty-officer delivery: escalation scheduler + sender (not Faust)
    "notify-callbacks": ("notify", "callbacks"),  # provider callbacks, SMS/Zalo replies, acknowledgement links
    "dashboard": ("dashboard",),
}


def spawn(argv: Sequence[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``ioc <argv>`` in a process of its own with the given environment, its output appended to ``log``."""
    return subprocess.Popen([sys.executable, "-m", "ioc", *argv], env=dict(env), stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def stop_all(procs: Iterable[subprocess.Popen[bytes]], timeout: float = 20.0) -> None:
    """Ask every process to stop (SIGTERM), wait for them together, and kill any that outlives ``timeout``."""
    procs = list(procs)
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@contextmanager
def running(commands: Mapping[str, Sequence[str]], env: Mapping[str, str], log_dir: Path) -> Iterator[list[Path]]:
    """Run ``ioc`` processes (name -> argv) for the body of a ``with``; yield their log paths; stop them after."""
    logs = {name: log_dir / f"{name}.log" for name in commands}
    procs = [spawn(argv, env, logs[name]) for name, argv in commands.items()]
    try:
        yield list(logs.values())
    finally:
        stop_all(procs)
