"""The public report form in headless Chromium: the phone's GPS through navigator.geolocation (overridden by the
DevTools protocol), a camera-sized photo shrunk by the page's script below the server's limits, the post, and the
status page it lands on. Without the script's work the photo (several MB) would be refused."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import dash
import numpy as np
import psycopg
import pytest
from PIL import Image
from psycopg_pool import ConnectionPool
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from werkzeug.serving import BaseWSGIServer, make_server

from analytics.reports import distance_m
from dashboards.app import create_app
from dashboards.auth import AuthStore
from dashboards.data import PostgresWallData
from ioc.config.models import SiteConfig
from ioc.geo import AreaIndex
from ioc.store.live import MemoryLiveStore

from .conftest import SECRET
from .test_wall_browser import wait

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def form_url(pg_dsn: str, site: SiteConfig, site_dir: Path) -> Iterator[str]:
    with ConnectionPool(pg_dsn, min_size=1, max_size=4, timeout=10, open=True) as pool:
        app: dash.Dash = create_app(PostgresWallData(pool, MemoryLiveStore(), site), site, auth=AuthStore(pool),
                                    secret_key=SECRET, site_dir=site_dir)
        server: BaseWSGIServer = make_server("127.0.0.1", 0, app.server, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="report-server", daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            thread.join(10)


def camera_photo(path: Path) -> Path:
    """A 4000x3000 photo of noise: several MB as JPEG, like a phone's."""
    rng = np.random.default_rng(17)
    Image.fromarray(rng.integers(0, 255, (3000, 4000, 3), dtype=np.uint8)).save(path, "JPEG", quality=95)
    return path


def test_gps_and_a_large_photo_from_the_phone(
    browser: webdriver.Chrome, form_url: str, pg_dsn: str, site: SiteConfig, site_dir: Path, tmp_path: Path
) -> None:
    inner = AreaIndex.from_site(site, site_dir).geometry("03193").representative_point()
    browser.execute_cdp_cmd("Browser.grantPermissions", {"origin": form_url, "permissions": ["geolocation"]})
    browser.execute_cdp_cmd(
        "Emulation.setGeolocationOverride", {"latitude": inner.y, "longitude": inner.x, "accuracy": 12}
    )
    photo = camera_photo(tmp_path / "IMG_2041.jpg")
    assert photo.stat().st_size > 2 * 1024 * 1024  # more than the whole post may carry
    browser.get(f"{form_url}/report")
    Select(browser.find_element(By.ID, "category")).select_by_value("environment_sanitation")
    browser.find_element(By.ID, "description").send_keys("Rác thải đổ bừa bãi cạnh suối")
    browser.find_element(By.ID, "gps").click()
    wait(browser).until(lambda d: "12 m" in d.find_element(By.ID, "gps-status").text)
    assert browser.find_element(By.ID, "gps-status").text == "Đã lấy vị trí (sai số khoảng 12 m)"
    browser.find_element(By.ID, "photos").send_keys(str(photo))
    browser.find_element(By.ID, "report-submit").click()
    wait(browser, 60).until(lambda d: re.search(r"/report/PA-[0-9A-Z]{5}-[0-9A-Z]{5}", d.current_url))
    code = re.search(r"PA-[0-9A-Z]{5}-[0-9A-Z]{5}", browser.current_url).group(0)  # type: ignore[union-attr]
    assert "Đã nhận phản ánh của bạn" in browser.find_element(By.TAG_NAME, "body").text
    with psycopg.connect(pg_dsn) as conn:
        report = conn.execute(
            "SELECT commune_code, location_source, lon, lat FROM reports WHERE code = %s", (code,)
        ).fetchone()
        stored = conn.execute(
            "SELECT p.data FROM report_photos p JOIN reports r ON r.id = p.report_id WHERE r.code = %s", (code,)
        ).fetchall()
    assert report is not None and report[:2] == ("03193", "gps")
    assert report[2] == pytest.approx(inner.x, abs=1e-6) and report[3] == pytest.approx(inner.y, abs=1e-6)
    assert len(stored) == 1
    with Image.open(io.BytesIO(bytes(stored[0][0]))) as picture:
        assert picture.size == (1600, 1200)


def test_a_place_tapped_on_the_communes_map(
    browser: webdriver.Chrome, form_url: str, pg_dsn: str, site: SiteConfig, site_dir: Path
) -> None:
    inner = AreaIndex.from_site(site, site_dir).geometry("03202").representative_point()
    # A phone's screen (the window size is fixed by the flags; the device metrics are not).
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 412, "height": 900, "deviceScaleFactor": 2, "mobile": True}
    )
    browser.get(f"{form_url}/report?lang=en")
    assert browser.execute_script("return window.innerWidth") == 412
    Select(browser.find_element(By.ID, "category")).select_by_value("infrastructure_lighting")
    browser.find_element(By.ID, "description").send_keys("Street light out for a week")
    svg = browser.find_element(By.ID, "report-map")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", svg)
    # Where Mường Pồn's inner point is on the screen, through the map's own projection, from the centre of the map.
    dx, dy = browser.execute_script(
        """
        const svg = arguments[0], d = svg.dataset;
        const p = svg.createSVGPoint();
        p.x = (arguments[1] - parseFloat(d.lon0)) * parseFloat(d.kx);
        p.y = (parseFloat(d.lat0) - arguments[2]) * parseFloat(d.ky);
        const s = p.matrixTransform(svg.getScreenCTM());
        const r = svg.getBoundingClientRect();
        return [s.x - (r.left + r.width / 2), s.y - (r.top + r.height / 2)];
        """,
        svg, inner.x, inner.y,
    )
    ActionChains(browser).move_to_element_with_offset(svg, int(dx), int(dy)).click().perform()
    assert browser.find_element(By.ID, "gps-status").text == "Place chosen on the map"
    assert browser.find_element(By.ID, "map-pin").get_attribute("visibility") == "visible"
    browser.find_element(By.ID, "report-submit").click()
    wait(browser, 30).until(lambda d: re.search(r"/report/PA-[0-9A-Z]{5}-[0-9A-Z]{5}", d.current_url))
    code = re.search(r"PA-[0-9A-Z]{5}-[0-9A-Z]{5}", browser.current_url).group(0)  # type: ignore[union-attr]
    assert "Your report has been received" in browser.find_element(By.TAG_NAME, "body").text
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute(
            "SELECT commune_code, location_source, unit_id, lon, lat FROM reports WHERE code = %s", (code,)
        ).fetchone()
    assert row is not None and row[:3] == ("03202", "map", "ubnd-muong-pon")
    # within a pixel or two of the tapped place
    assert distance_m(row[3], row[4], inner.x, inner.y) < 500
