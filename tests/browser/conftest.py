"""Headless Chromium (Debian's, started by ioc.app.bench.chromium) and the real wall served on loopback."""

from __future__ import annotations

import asyncio
import io
import math
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import dash
import pytest
from PIL import Image
from psycopg_pool import ConnectionPool
from selenium import webdriver
from selenium.webdriver.common.by import By
from werkzeug.serving import BaseWSGIServer, make_server

from dashboards.app import create_app, use_fast_json
from dashboards.auth import AuthStore
from dashboards.data import PostgresWallData
from ioc.app.bench.chromium import start_chromium
from ioc.app.bench.dashboard_data import load_crossings, load_kpis
from ioc.config.loader import load_site
from ioc.config.models import SiteConfig
from ioc.errors import ServiceError
from ioc.events import SensorReading, utcnow
from ioc.store.live import MemoryLiveStore
from ioc.store.writer import Writer

SECRET = "browser-test-secret-0123456789abcdef"
HISTORY_HOURS = 6


@pytest.fixture(scope="session", autouse=True)
def fast_json() -> None:
    """Plotly's JSON engine for the whole test process, as the wall's process start sets it (``ioc dashboard``)."""
    use_fast_json()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """A fresh headless Chromium per test (no cookies carried over)."""
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    try:
        driver = start_chromium(profile)
    except ServiceError as exc:
        pytest.fail(str(exc))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@dataclass(frozen=True)
class WallServer:
    """The wall served on a loopback port, and the user who may sign in."""

    url: str
    dsn: str
    username: str
    password: str


@pytest.fixture(scope="module")
def site(site_dir: Path) -> SiteConfig:
    """The sample site."""
    return load_site(site_dir)


def station_history(site: SiteConfig, hours: float) -> list[SensorReading]:
    """Readings every 5 minutes for each station over the last ``hours``: a slow rise below level I."""
    now = utcnow()
    steps = int(hours * 12)
    readings = []
    for k, st in enumerate(site.flood_stations):
        base = st.alarm_levels.I * 0.55
        for i in range(steps + 1):
            at = now - timedelta(minutes=5 * (steps - i))
            level = base + 0.25 * st.alarm_levels.I * i / steps + 0.05 * math.sin(i / 6 + k)
            rain = max(0.0, 3.0 * math.sin(i / 10 + k))
            readings.append(
                SensorReading.create(st.id, at, {"water_level_m": level, "rainfall_mm": rain}, "browser-test")
            )
    return readings


def load_history(dsn: str, live: MemoryLiveStore, readings: list[SensorReading]) -> None:
    """Write readings with the real writer (rows and rollups) and put the newest into the live store."""

    async def write() -> None:
        writer = await Writer.open(dsn)
        try:
            report = await writer.write(readings)
        finally:
            await writer.close()
        assert report.readings == len(readings) and not report.rejected, report
        await live.put_readings(readings)

    asyncio.run(write())


@pytest.fixture(scope="module")
def wall(pg_dsn: str, site: SiteConfig, site_dir: Path) -> Iterator[WallServer]:
    """The real wall (create_app + PostgresWallData on the module's database) in a thread on a free port.

    The stations have reported every 5 minutes for the last hours, so the tiles, trends and map have data.
    """
    live = MemoryLiveStore()
    load_history(pg_dsn, live, station_history(site, HISTORY_HOURS))
    # Traffic on the counting lines today and a year of KPI reports, so the traffic and KPI tiles have values.
    load_crossings(pg_dsn, site, days=1)
    asyncio.run(load_kpis(pg_dsn, site, years=1))
    with ConnectionPool(pg_dsn, min_size=1, max_size=8, timeout=10, open=True) as pool:
        auth = AuthStore(pool)
        username, password = "truc.ban", "mat-khau-dung-1"
        auth.ensure_user(username, password, "operator")
        app: dash.Dash = create_app(
            PostgresWallData(pool, live, site),
            site,
            auth=auth,
            secret_key=SECRET,
            site_dir=site_dir,
        )
        server: BaseWSGIServer = make_server("127.0.0.1", 0, app.server, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="wall-server", daemon=True)
        thread.start()
        try:
            yield WallServer(f"http://127.0.0.1:{server.server_port}", pg_dsn, username, password)
        finally:
            server.shutdown()
            thread.join(10)


def map_colours(driver: Any, selector: str = ".map") -> int:
    """How many distinct colours the map under ``selector`` shows on screen (a map drawn empty shows one or two).

    WebGL maps cannot be read back from the page, so this looks at a screenshot of the element.
    """
    png = driver.find_element(By.CSS_SELECTOR, selector).screenshot_as_png
    with Image.open(io.BytesIO(png)) as picture:
        return len(picture.convert("RGB").getcolors(maxcolors=1 << 20) or ())
