"""`ioc demo` leaves no PostgreSQL behind, however it ends, and never takes over another live demo's server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Demo:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    pgdata: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 120
        while True:
            assert self.proc.poll() is None, f"the demo exited ({self.proc.returncode}):\n{self.text()[-3000:]}"
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, f"the demo did not come up:\n{self.text()[-3000:]}"
            time.sleep(0.5)

    def postmaster_pid(self) -> int:
        return int((self.pgdata / "postmaster.pid").read_text().split()[0])


def start_demo(cache: Path, port: int | None = None) -> Demo:
    port = free_port() if port is None else port
    log = cache.parent / f"demo-{port}.log"
    env = {**os.environ, "IOC_CACHE_DIR": str(cache), "IOC_DEMO_PASSWORD": "mat-khau-demo-1",
           "IOC_DEMO_CAMERAS": "0", "IOC_LOG_LEVEL": "INFO", "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ioc", "demo", "--port", str(port), "--backfill-minutes", "5", "--lang", "en"],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    return Demo(proc, f"http://127.0.0.1:{port}", log, cache / "embedded" / "pgdata")


def postgres_of(pgdata: Path) -> list[int]:
    """Every live postgres process whose command line or working directory names ``pgdata``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and "postgres" in cmdline and (str(pgdata) in cmdline or cwd == str(pgdata)):
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "cache"
    yield path
    # Whatever a failed test left running is stopped here, so it cannot disturb the next one.
    for pid in postgres_of(path / "embedded" / "pgdata"):
        os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_demo_stops_its_postgres_when_signalled(cache: Path, sig: signal.Signals) -> None:
    # Regression (issue 11, defect 8): the embedded PostgreSQL kept running after Ctrl-C or `kill` of `ioc demo`.
    demo = start_demo(cache)
    demo.wait_ready()
    postmaster = demo.postmaster_pid()
    assert alive(postmaster)

    demo.proc.send_signal(sig)
    assert demo.proc.wait(60) == 0, demo.text()[-3000:]

    assert not alive(postmaster), demo.text()[-3000:]
    assert postgres_of(demo.pgdata) == []


def test_the_demo_stops_its_postgres_when_it_fails(cache: Path) -> None:
    with socket.socket() as taken:  # the wall's port is busy: serving fails after the database started
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        demo = start_demo(cache, taken.getsockname()[1])
        assert demo.proc.wait(120) != 0, demo.text()[-3000:]
    assert (demo.pgdata / "PG_VERSION").is_file(), "the demo failed before it started its database"
    assert postgres_of(demo.pgdata) == [], demo.text()[-3000:]


def test_a_second_demo_never_takes_over_the_server_of_a_live_one(cache: Path) -> None:
    first = start_demo(cache)
    first.wait_ready()
    postmaster = first.postmaster_pid()

    second = start_demo(cache)
    assert second.proc.wait(60) != 0
    assert f"another `ioc demo` (pid {first.proc.pid})" in " ".join(second.text().split()), second.text()[-3000:]

    assert first.proc.poll() is None and first.postmaster_pid() == postmaster and alive(postmaster)
    assert requests.get(f"{first.url}/healthz", timeout=5).status_code == 200
    first.proc.send_signal(signal.SIGTERM)
    assert first.proc.wait(60) == 0, first.text()[-3000:]
    assert postgres_of(first.pgdata) == [], first.text()[-3000:]
