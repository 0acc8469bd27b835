"""Stations posting over HTTP, end to end: `ioc ingest webhook` -> Kafka -> `ioc worker writer` ->
PostgreSQL. Good readings land once (a re-sent one is dropped), a malformed body is a dead letter, and a request
with a wrong token changes nothing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import requests

from ingest.flood import encode_reading
from ioc.app.endpoints import Endpoints
from ioc.events import utcnow

pytestmark = pytest.mark.services
TOKEN = "token-of-ns-01-for-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_webhook_readings_land_and_bad_ones_are_kept_apart(endpoints: Endpoints, pg_dsn: str, site_dir: Path,
                                                           tmp_path: Path,
                                                           kafka_namespace: Callable[[str], str]) -> None:
    port = free_port()
    env = {**os.environ, "IOC_KAFKA_NAMESPACE": kafka_namespace("w"), "IOC_DATABASE_URL": pg_dsn,
           "IOC_SITE": str(site_dir), "IOC_STATION_TOKEN_NS_01": TOKEN, "IOC_LOG_LEVEL": "INFO"}
    commands = {"webhook": ["ingest", "webhook", "--port", str(port)], "writer": ["worker", "writer"]}
    procs = {name: subprocess.Popen([sys.executable, "-m", "ioc", *argv], env=env, stdin=subprocess.DEVNULL,
                                    stdout=(tmp_path / f"{name}.log").open("wb"), stderr=subprocess.STDOUT)
             for name, argv in commands.items()}
    url = f"http://127.0.0.1:{port}/api/v1/stations/NS-01/readings"
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    start = utcnow().replace(microsecond=0) - timedelta(minutes=30)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "webhook.log").read_text(errors="replace")[-2000:]
            time.sleep(0.5)

        bodies = [encode_reading(start + timedelta(minutes=i), {"water_level_m": 1.0 + i / 10}) for i in range(5)]
        codes = [requests.post(url, data=b, headers=auth, timeout=10).status_code for b in bodies]
        resent = requests.post(url, data=bodies[0], headers=auth, timeout=10).status_code
        malformed = requests.post(url, data=b"{not json", headers=auth, timeout=10).status_code
        forged = requests.post(url, data=bodies[1], headers={**auth, "Authorization": "Bearer wrong"}, timeout=10)
        assert codes == [202] * 5
        assert resent in (200, 202, 208)
        assert malformed == 400 and forged.status_code == 403

        deadline = time.monotonic() + 90
        while True:
            with psycopg.connect(pg_dsn) as conn:
                rows = conn.execute("SELECT count(*) FROM sensor_readings WHERE station_id = 'NS-01'").fetchone()
                dead = conn.execute("SELECT reason, source FROM dead_letters").fetchall()
            if rows == (5,) and dead:
                break
            assert time.monotonic() < deadline, (rows, dead, (tmp_path / "writer.log").read_text()[-2000:])
            time.sleep(0.5)
        time.sleep(2)  # a duplicate or the forged reading would show up now
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()

    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM sensor_readings WHERE station_id = 'NS-01'").fetchone() == (5,)
        assert conn.execute("SELECT reason, source FROM dead_letters").fetchall() == [
            ("malformed_json", "webhook:NS-01")]
