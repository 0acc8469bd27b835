"""The wall in headless Chromium: sign in, see an alert arrive, acknowledge it, switch language, screenshot.

The wall is the real app on the module's PostgreSQL; the alert is written by the real writer while the page is
open, so it reaches the screen the way a flood alert does in production (the writer's row, the 2-second
refresh). Set IOC_SAVE_SCREENSHOT=1 to also copy the screenshot to docs/img/wall.png for the README.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from ioc.config.models import SiteConfig
from ioc.events import AlertEvent, AlertTransition, utcnow
from ioc.i18n import t
from ioc.store.writer import Writer

from .conftest import WallServer

pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parents[2]
README_SCREENSHOT = REPO / "docs" / "img" / "wall.png"
MIN_MAP_HEIGHT_PX = 300
WAIT_S = 20  # the feed refreshes every 2 s; generous for a loaded 2-core machine


def wait(driver: webdriver.Chrome, seconds: float = WAIT_S) -> WebDriverWait[webdriver.Chrome]:
    return WebDriverWait(driver, seconds, poll_frequency=0.2)


def text_of(driver: webdriver.Chrome, css: str) -> str:
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0].text if found else ""


def wait_for_text(driver: webdriver.Chrome, css: str, expected: str, seconds: float = WAIT_S) -> None:
    """Wait until ``css`` shows ``expected`` (the CSS may upper-case it); else say what it shows."""
    try:
        wait(driver, seconds).until(lambda d: expected.casefold() in text_of(d, css).casefold())
    except TimeoutException:
        pytest.fail(f"{css} never showed {expected!r}; it shows {text_of(driver, css)!r}")


def map_height(driver: webdriver.Chrome) -> float:
    """Visible height in CSS pixels of the map's drawing surface, clipped by its panel (0 if none)."""
    script = """
        const canvas = document.querySelector('#map canvas'), panel = document.querySelector('.map');
        if (!canvas || !panel) { return 0; }
        const c = canvas.getBoundingClientRect(), p = panel.getBoundingClientRect();
        return Math.max(0, Math.min(c.bottom, p.bottom) - Math.max(c.top, p.top));
    """
    return float(driver.execute_script(script))


def sign_in(driver: webdriver.Chrome, wall: WallServer) -> None:
    """Fill in the login form as a person would and wait for the wall."""
    driver.get(wall.url + "/")
    wait(driver).until(ec.presence_of_element_located((By.ID, "username")))
    driver.find_element(By.ID, "username").send_keys(wall.username)
    driver.find_element(By.ID, "password").send_keys(wall.password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver).until(ec.presence_of_element_located((By.ID, "alerts")))


def write_alert(dsn: str, station_name: str, severity: str, value: float) -> AlertEvent:
    """Open a flood alert through the real writer, as the alert processor's output lands in production."""
    now = utcnow()
    event = AlertEvent.create(
        f"flood:browser-{severity}:level",
        AlertTransition.OPENED,
        now,
        opened_at=now - timedelta(seconds=5),
        severity=severity,
        source_kind="flood",
        source_id="NS-01",
        area_code="03172",
        message_key="alert.flood.level",
        params={"station": station_name, "level": "II", "value": value, "alarm_level": 2},
        value=value,
    )

    async def write() -> None:
        writer = await Writer.open(dsn)
        try:
            report = await writer.write([event])
        finally:
            await writer.close()
        assert report.alerts == 1 and not report.rejected, f"the writer did not take the alert: {report}"

    asyncio.run(write())
    return event


def test_unauthenticated_navigation_lands_on_the_login_page(
    browser: webdriver.Chrome, wall: WallServer
) -> None:
    for path in ("/", "/lang/en"):
        browser.get(wall.url + path)
        wait(browser).until(ec.presence_of_element_located((By.ID, "username")))
        assert "/login" in browser.current_url, f"{path} did not send a stranger to the login page"
        assert browser.find_elements(By.ID, "password")
        assert not browser.find_elements(By.ID, "alerts"), f"{path} showed the wall without a session"
    # The wall's own data is refused too, not only the page.
    browser.get(wall.url + "/_dash-layout")
    assert "/login" not in browser.current_url
    assert t("auth.unauthorised", "vi") in browser.find_element(By.TAG_NAME, "body").text


def test_sign_in_alert_arrives_acknowledge_switch_language_screenshot(
    browser: webdriver.Chrome, wall: WallServer, site: SiteConfig, tmp_path: Path
) -> None:
    sign_in(browser, wall)
    assert browser.current_url.rstrip("/") == wall.url
    assert browser.find_element(By.CSS_SELECTOR, ".wall").get_attribute("lang") == "vi"
    wait_for_text(browser, "#alerts", t("wall.alerts.none", "vi"))
    wait_for_text(browser, ".wall-user", t("wall.signed_in_as", "vi", user=wall.username))

    # An alert arrives while the page is open.
    station = "Suối Nậm Chà - cầu trung tâm Na Sang"
    event = write_alert(wall.dsn, station, "major", 3.2)
    vi_message = t("alert.flood.level", "vi", station=station, level="II", value=3.2)
    wait_for_text(browser, "#alerts", vi_message)
    wait_for_text(browser, "#alerts", t("severity.major", "vi"))
    assert t("wall.alerts.none", "vi") not in text_of(browser, "#alerts")

    # Acknowledge it from the feed: the row and the audit log name the signed-in operator.
    button = wait(browser).until(ec.element_to_be_clickable((By.ID, f"ack-{event.alert_id}")))
    button.click()
    wait_for_text(browser, "#alerts", t("wall.alert.acknowledged", "vi"))
    with psycopg.connect(wall.dsn) as conn:
        status, by, via = conn.execute(
            "SELECT status, acknowledged_by, acknowledged_via FROM alerts WHERE alert_id = %s",
            (event.alert_id,),
        ).fetchone() or (None, None, None)
        audited = conn.execute(
            "SELECT count(*) FROM audit_log WHERE username = %s AND target = %s",
            (wall.username, str(event.alert_id)),
        ).fetchone()
    assert (status, by, via) == ("acknowledged", wall.username, "wall")
    assert audited is not None and audited[0] >= 1

    # Switch to English: the shell, the feed and the alert's own message follow.
    browser.find_element(By.ID, "lang-switch").click()
    wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, ".wall").get_attribute("lang") == "en")
    en_message = t("alert.flood.level", "en", station=station, level="II", value=3.2)
    wait_for_text(browser, "#alerts", en_message)
    wait_for_text(browser, "#alerts", t("wall.alert.acknowledged", "en"))
    wait_for_text(browser, ".wall-subtitle", t("wall.subtitle.flood", "en"))
    assert vi_message not in text_of(browser, "#alerts")
    assert browser.find_element(By.ID, "lang-switch").text == t("wall.lang.vi", "en")

    # Every panel has drawn before the picture is taken: a map of real size, each station's level.
    try:
        wait(browser).until(lambda d: map_height(d) >= MIN_MAP_HEIGHT_PX)
    except TimeoutException:
        pytest.fail(f"the map is {map_height(browser):.0f} px high on a 1080 px screen")
    wait(browser).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, ".tile-value")) == len(site.flood_stations)
    )
    values = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".tile-value")]
    assert all(v and v != "—" for v in values), f"a station tile shows no level: {values}"
    shot = tmp_path / "wall.png"
    assert browser.save_screenshot(str(shot)), "Chromium took no screenshot"
    assert shot.stat().st_size > 20_000, "the screenshot is suspiciously small (a blank page?)"
    if os.environ.get("IOC_SAVE_SCREENSHOT") == "1":
        README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, README_SCREENSHOT)
