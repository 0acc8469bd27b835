"""`ioc demo` as a person starts it: embedded PostgreSQL, simulated stations, a wall page behind a login."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def embedded_dsn(pgdata: Path) -> str:
    """Connection string of the demo's embedded server, read from its postmaster.pid."""
    lines = (pgdata / "postmaster.pid").read_text().splitlines()
    port, socket_dir = lines[3].strip(), lines[4].strip()
    return f"host={socket_dir} port={port} user=postgres dbname=ioc"


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    port = free_port()
    log = tmp_path / "demo.log"
    env = {**os.environ, "IOC_CACHE_DIR": str(tmp_path / "cache"), "IOC_DEMO_PASSWORD": "mat-khau-demo-1",
           "IOC_LOG_LEVEL": "INFO", "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ioc", "demo", "--port", str(port), "--backfill-minutes", "30"],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}", log, tmp_path / "cache" / "embedded" / "pgdata"
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_demo_serves_the_wall_with_live_readings(demo: tuple[str, Path, Path]) -> None:
    url, log, pgdata = demo
    deadline = time.monotonic() + 120
    while True:
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            pytest.fail("the demo did not come up:\n" + log.read_text(errors="replace")[-3000:])
        time.sleep(0.5)

    text = log.read_text(errors="replace")
    assert f"{url}/" in text
    assert re.search(r"│ Đăng nhập: tài khoản admin, mật khẩu mat-khau-demo-1 +│", text)
    # The login comes last, in its box, once the wall answers (issue 15: it was buried in the start-up log).
    login_at = text.index("mật khẩu mat-khau-demo-1")
    assert text.rfind("┌", 0, login_at) > text.index("PostgreSQL") and "└" in text[login_at:]

    session = requests.Session()
    assert session.get(f"{url}/_dash-layout", timeout=5).status_code == 401
    login = session.get(f"{url}/login", timeout=5)
    token = re.search(r'name="csrf" value="([^"]+)"', login.text)
    assert token, login.text[:500]
    form = {"username": "admin", "password": "mat-khau-demo-1", "csrf": token.group(1), "next": "/"}
    session.post(f"{url}/login", data=form, timeout=5)
    assert session.get(f"{url}/_dash-layout", timeout=5).status_code == 200

    # The simulated stations fill the database: 30 minutes of backfill, then live readings every few seconds.
    dsn = embedded_dsn(pgdata)
    with psycopg.connect(dsn) as conn:
        first = conn.execute("SELECT count(*), max(time) FROM sensor_readings").fetchone()
    time.sleep(6)
    with psycopg.connect(dsn) as conn:
        second = conn.execute("SELECT count(*), max(time) FROM sensor_readings").fetchone()
        stations = {r[0] for r in conn.execute("SELECT DISTINCT station_id FROM sensor_readings")}
    assert first is not None and second is not None
    assert first[0] > 100 and second[0] > first[0] and second[1] > first[1]
    assert {"NS-01", "MT-01", "MP-01", "NN-01"} <= stations  # every configured gauge (MP-01 had none: issue 15)

    # Simulated news, marked so: two days of it, and a burst of landslide news about Na Sang raising a spike.
    with psycopg.connect(dsn) as conn:
        news = conn.execute("SELECT count(*), bool_and(simulated) FROM feed_items").fetchone()
        spike = conn.execute("SELECT status FROM alerts WHERE alert_key = 'public_signal:03172:landslide'").fetchone()
    assert news is not None and news[0] > 50 and news[1] is True
    assert spike == ("open",)

    # Simulated citizens' reports, marked so: a week of them in every state a unit's work leaves them in.
    deadline = time.monotonic() + 60  # submitted by a task of their own, beside the stations
    while True:
        with psycopg.connect(dsn) as conn:
            reports = conn.execute(
                "SELECT count(*), bool_and(simulated), count(DISTINCT status) FROM reports").fetchone()
        assert reports is not None
        if (reports[0] > 20 and reports[2] >= 3) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert reports[0] > 20 and reports[1] is True and reports[2] >= 3


def test_the_login_box_frames_every_line() -> None:
    from ioc.app.runtime.demo import boxed

    box = boxed(["Màn hình tường đã sẵn sàng: http://127.0.0.1:8050/", "Nhấn Ctrl+C để dừng."]).splitlines()
    assert len(box) == 4 and len({len(line) for line in box}) == 1
    assert box[0].startswith("┌") and box[-1].startswith("└") and all(b.startswith("│ ") for b in box[1:3])
