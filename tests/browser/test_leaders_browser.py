"""The leaders' page in headless Chromium at 1920x1080 (issue 15, item 9): the ranking chart's axis clear of its
bars and of the table, the trend above the fold with whole y labels, the choropleth of the index by commune, and
the year in progress compared like for like ("đến nay", the same months of last year, yearly reports not due).

The app is the real one on this module's PostgreSQL, with KPI figures written here so the expected numbers are
known: every commune reports the same share of each target in both years, so a fair comparison changes nothing
(the unfair one, the unfinished year against the whole of last year without its yearly reports, showed about
-35). Set IOC_SAVE_SCREENSHOT=1 to copy the page's screenshot to docs/img/leaders.png for the README.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dash
import psycopg
import pytest
from psycopg_pool import ConnectionPool
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from werkzeug.serving import BaseWSGIServer, make_server

from dashboards.app import create_app
from dashboards.auth import AuthStore
from dashboards.data import PostgresWallData
from dashboards.leaders_data import Period
from dashboards.leaders_data.periods import so_far
from ioc.config.models import SiteConfig
from ioc.store.live import MemoryLiveStore

from .conftest import SECRET, WallServer, map_colours
from .test_wall_browser import click, text_of, wait, wait_for_text

pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parents[2]
README_SCREENSHOT = REPO / "docs" / "img" / "leaders.png"
VIEWPORT_HEIGHT = 1080
YEARLY_KPI = "households_online_pct"


def share_of(commune: int) -> float:
    """Each commune's share of its targets, the same every period: 0.95, 0.87, 0.79, ..."""
    return 0.95 - 0.08 * commune


def kpi_rows(site: SiteConfig, today: date) -> list[tuple[Any, ...]]:
    """Figures for last year and this year up to ``today``'s month: monthly ones every month (this month's too,
    so that in January the month in progress has a figure), quarterly and yearly ones for the periods ended."""
    tz = ZoneInfo(site.site.timezone)
    communes = [a.code for a in site.areas if a.level == site.site.levels[-1].id]
    rows: list[tuple[Any, ...]] = []
    first, now = (today.year - 1) * 12, today.year * 12 + today.month - 1
    step = {"month": 1, "quarter": 3, "year": 12}
    for kpi in site.kpis:
        months = step[kpi.period.value]
        for i, code in enumerate(communes):
            value = (kpi.target or 100.0) * share_of(i)
            for index in range(first, now + 1, months):
                year, month0 = divmod(index, 12)
                if months > 1 and Period.containing(kpi.period.value, date(year, month0 + 1, 1)).end > today:
                    continue  # a quarter or year not ended yet has no report
                start = datetime(year, month0 + 1, 1, tzinfo=tz)
                rows.append((kpi.id, code, kpi.period.value, start, value, None, "browser-test", uuid.uuid4()))
    return rows


@pytest.fixture(scope="module")
def leaders_server(pg_dsn: str, site: SiteConfig, site_dir: Path) -> Iterator[WallServer]:
    """The real app in a thread, a leader who sees every commune, and the KPI figures of ``kpi_rows``."""
    today = datetime.now(ZoneInfo(site.site.timezone)).date()
    with psycopg.connect(pg_dsn) as conn:
        conn.cursor().executemany(
            "INSERT INTO kpi_values (kpi_id, unit_code, period_kind, period_start, value, target, source, "
            "event_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            kpi_rows(site, today),
        )
    with ConnectionPool(pg_dsn, min_size=1, max_size=8, timeout=10, open=True) as pool:
        auth = AuthStore(pool)
        username, password = "chu.tich", "mat-khau-lanh-dao-1"
        auth.ensure_user(username, password, "leader")
        app: dash.Dash = create_app(
            PostgresWallData(pool, MemoryLiveStore(), site), site, auth=auth, secret_key=SECRET, site_dir=site_dir
        )
        server: BaseWSGIServer = make_server("127.0.0.1", 0, app.server, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="leaders-server", daemon=True)
        thread.start()
        try:
            yield WallServer(f"http://127.0.0.1:{server.server_port}", pg_dsn, username, password)
        finally:
            server.shutdown()
            thread.join(10)


def rect(driver: webdriver.Chrome, css: str) -> dict[str, float]:
    """The union of the bounding boxes of every element under ``css`` (zeros when none)."""
    script = """
        const es = Array.from(document.querySelectorAll(arguments[0])).map(e => e.getBoundingClientRect())
            .filter(r => r.width > 0 && r.height > 0);
        if (es.length === 0) { return {left: 0, top: 0, right: 0, bottom: 0}; }
        return {left: Math.min(...es.map(r => r.left)), top: Math.min(...es.map(r => r.top)),
                right: Math.max(...es.map(r => r.right)), bottom: Math.max(...es.map(r => r.bottom))};
    """
    box: dict[str, float] = driver.execute_script(script, css)
    return box


def full_data(driver: webdriver.Chrome, graph_id: str) -> list[dict[str, Any]]:
    """The traces plotly drew in a dcc.Graph (type, locations, text), read from the page."""
    script = """
        const g = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
        if (!g || !g._fullData) { return []; }
        return g._fullData.map(d => ({type: d.type, locations: d.locations || [], text: d.text || [],
                                      visible: d.visible}));
    """
    data: list[dict[str, Any]] = driver.execute_script(script, graph_id)
    return data


def test_the_leaders_page_fits_the_screen_maps_the_index_and_compares_the_year_so_far_fairly(
    browser: webdriver.Chrome, leaders_server: WallServer, site: SiteConfig
) -> None:
    sign_in_leader(browser, leaders_server)
    communes = [a for a in site.areas if a.level == site.site.levels[-1].id]
    best = communes[0]  # share_of(0): the top of the ranking and the unit selected by default
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#leaders-ranking-chart .xtick text"))
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#leaders-trend .ytick text"))

    # Ranking: the axis title sits under the bars, and the axis (ticks and title) stays inside the chart, above
    # the table's header (with a fixed 16rem graph they fell under it and the title overlapped the bars).
    chart = rect(browser, "#leaders-ranking-chart")
    bars = rect(browser, "#leaders-ranking-chart .barlayer")
    ticks = rect(browser, "#leaders-ranking-chart .xtick text")
    title = rect(browser, "#leaders-ranking-chart .xtitle")
    table = rect(browser, "#leaders-ranking table")
    assert bars["bottom"] <= ticks["top"] + 1 and ticks["bottom"] <= title["top"] + 1, (bars, ticks, title)
    assert title["bottom"] <= chart["bottom"] <= table["top"] + 1, (title, chart, table)

    # Trend: above the fold at 1080p, and its y labels whole ('95 %', not '%' cut at the panel's edge).
    trend = rect(browser, "#leaders-trend")
    assert 0 < trend["bottom"] <= VIEWPORT_HEIGHT, trend
    labels = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#leaders-trend .ytick text")]
    assert labels and all(any(c.isdigit() for c in label) for label in labels), labels
    assert rect(browser, "#leaders-trend .ytick text")["left"] >= trend["left"], "the y labels are cut"

    # The choropleth of the index: one shape per commune from the wall's boundary file, hover in Vietnamese,
    # the selected commune outlined by a trace of its own.
    wait(browser).until(lambda d: len(full_data(d, "leaders-map")) == 2)
    shapes, selected = full_data(browser, "leaders-map")
    assert shapes["type"] == "choroplethmap" and sorted(shapes["locations"]) == sorted(a.code for a in communes)
    assert all("Chỉ số" in text and "Hạng" in text for text in shapes["text"]), shapes["text"]
    assert selected["locations"] == [best.code]
    # Drawn, not only described (as a URL the communes' file was fetched and the map stayed empty):
    wait(browser).until(lambda d: map_colours(d, "#leaders-map") >= 50)
    assert rect(browser, "#leaders-map canvas")["bottom"] <= VIEWPORT_HEIGHT

    # The year in progress, like for like: labelled "đến nay", compared with the same months of last year, the
    # yearly reports not due; every commune reported the same share both years, so no index changed.
    click_year(browser)
    today = datetime.now(ZoneInfo(site.site.timezone)).date()
    window = so_far(Period(today.year, "year", 1), today)
    wait_for_text(browser, "#leaders-ranking-title", window.label_as_of("vi", today))
    assert "đến nay" in text_of(browser, "#leaders-ranking-title")
    for commune in communes:
        change = text_of(browser, f"#leaders-rank-{commune.code} td:nth-child(5)")
        assert change.startswith("+0,0"), f"{commune.code}: {change!r} (the year so far against all of last year?)"
    wait_for_text(browser, f"#leaders-kpi-{YEARLY_KPI}", "Chưa đến kỳ báo cáo")
    wait_for_text(browser, "#leaders-period", f"Năm {today.year} (đến nay)")  # the period list says it too
    if window.partial:  # from February on; in January the window is the month in progress itself
        wait_for_text(browser, "#leaders-compared-with", window.previous().label("vi"))

    shot = Path(os.environ.get("TMPDIR", "/tmp")) / "ioc-leaders.png"
    browser.save_screenshot(str(shot))
    if os.environ.get("IOC_SAVE_SCREENSHOT") == "1":
        shutil.copyfile(shot, README_SCREENSHOT)


def sign_in_leader(driver: webdriver.Chrome, server: WallServer) -> None:
    """Sign in and open the leaders' page by its link."""
    driver.get(server.url + "/")
    wait(driver).until(ec.presence_of_element_located((By.ID, "username")))
    driver.find_element(By.ID, "username").send_keys(server.username)
    driver.find_element(By.ID, "password").send_keys(server.password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    click(driver, "nav-leaders")
    wait(driver).until(lambda d: d.current_url.endswith("/leaders"))
    wait(driver).until(ec.presence_of_element_located((By.ID, "leaders-ranking")))


def click_year(driver: webdriver.Chrome) -> None:
    """Choose the year view as a person would: the radio button labelled 'Năm'."""

    def clicked(d: webdriver.Chrome) -> bool:
        for radio in d.find_elements(By.CSS_SELECTOR, "#leaders-granularity input[type=radio]"):
            if radio.get_attribute("value") == "year":
                radio.click()
                return True
        return False

    wait(driver).until(clicked)

