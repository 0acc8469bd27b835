"""The wall in headless Chromium: sign in, see an alert arrive, acknowledge it, switch language, screenshot.

The wall is the real app on the module's PostgreSQL; the alert is written by the real writer while the page is
open, so it reaches the screen the way a flood alert does in production (the writer's row, the 2-second
refresh). Set IOC_SAVE_SCREENSHOT=1 to also copy the screenshot to docs/img/wall.png for the README.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from PIL import Image
from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from shapely.geometry import Point, shape

from dashboards.data import boundary_features, station_specs
from dashboards.figures import SELECTED_COLOUR, SELECTED_TRACE
from dashboards.wall_pages import REFRESH_MS
from ioc.app.bench.chromium import VIEWPORT
from ioc.config.models import SiteConfig
from ioc.events import AlertEvent, AlertTransition, utcnow
from ioc.i18n import t
from ioc.store.writer import Writer

from .conftest import WallServer, map_colours

pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parents[2]
README_SCREENSHOT = REPO / "docs" / "img" / "wall.png"
MIN_MAP_HEIGHT_PX = 300
MIN_MAP_COLOURS = 50  # boundaries, stations and their edges, antialiased; an empty map has one or two
WAIT_S = 20  # the feed refreshes every 2 s; generous for a loaded 2-core machine


def wait(driver: webdriver.Chrome, seconds: float = WAIT_S) -> WebDriverWait[webdriver.Chrome]:
    # The wall re-renders its feed and panels every 2 s: an element just found may be gone; look again.
    return WebDriverWait(
        driver,
        seconds,
        poll_frequency=0.2,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    )


def text_of(driver: webdriver.Chrome, css: str) -> str:
    """The rendered text of the first element under ``css`` ('' if none), read in one step in the page."""
    script = "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';"
    return str(driver.execute_script(script, css))


def click(driver: webdriver.Chrome, element_id: str) -> None:
    """Click the element with this id once it is clickable, finding it again if a refresh replaced it."""

    def clicked(d: webdriver.Chrome) -> bool:
        element = d.find_element(By.ID, element_id)
        if not (element.is_displayed() and element.is_enabled()):
            return False
        element.click()
        return True

    wait(driver).until(clicked)


def empty_ages(driver: webdriver.Chrome) -> list[str]:
    """Ids (or classes) of the visible age labels still empty; ['none'] when no age is visible."""
    script = (
        "const ages = Array.from(document.querySelectorAll('.age')).filter(e => e.offsetParent !== null);"
        "if (ages.length === 0) { return ['none']; }"
        "return ages.filter(e => e.textContent.trim() === '').map(e => e.id || e.className);"
    )
    return list(driver.execute_script(script))


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
        f"flood:NS-01:browser-{severity}",
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


def acknowledgement(dsn: str, alert_id: object) -> tuple[object, ...]:
    """The alert's status, who acknowledged it and how, and how many audit lines name it for that person."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT status, acknowledged_by, acknowledged_via FROM alerts WHERE alert_id = %s", (alert_id,)
        ).fetchone()
        audited = conn.execute(
            "SELECT count(*) FROM audit_log a JOIN alerts l ON a.target = l.alert_id::text "
            "WHERE l.alert_id = %s AND a.username = l.acknowledged_by",
            (alert_id,),
        ).fetchone()
    assert row is not None and audited is not None
    return (*row, audited[0])


def takeover_shown(driver: webdriver.Chrome) -> bool:
    classes = (driver.find_element(By.ID, "takeover").get_attribute("class") or "").split()
    return "takeover" in classes and "hidden" not in classes


def test_sign_in_alert_arrives_acknowledge_takeover_switch_language_screenshot(
    browser: webdriver.Chrome, wall: WallServer, tmp_path: Path
) -> None:
    sign_in(browser, wall)
    assert browser.current_url.rstrip("/") == wall.url
    assert browser.find_element(By.CSS_SELECTOR, ".wall").get_attribute("lang") == "vi"
    wait_for_text(browser, "#alerts", t("wall.feed.none_live", "vi"))
    wait_for_text(browser, "#signed-in-as", t("wall.signed_in_as", "vi", user=wall.username))
    assert not takeover_shown(browser)

    # A major alert arrives while the page is open.
    station = "Suối Nậm Chà - cầu trung tâm Na Sang"
    major = write_alert(wall.dsn, station, "major", 3.2)
    vi_message = t("alert.flood.level", "vi", station=station, level="II", value=3.2)
    wait_for_text(browser, "#alerts", vi_message)
    wait_for_text(browser, f"#alert-{major.alert_id}", t("severity.major", "vi"))
    assert t("wall.feed.none_live", "vi") not in text_of(browser, "#alerts")
    assert not takeover_shown(browser), "a major alert must not take the screen over"

    # Acknowledge it from the feed: the row and the audit log name the signed-in operator.
    click(browser, f"ack-{major.alert_id}")
    wait(browser).until(
        lambda d: (
            "status-acknowledged"
            in (d.find_element(By.ID, f"alert-{major.alert_id}").get_attribute("class") or "")
        )
    )
    wait_for_text(browser, f"#alert-{major.alert_id}", t("wall.alert.acknowledged", "vi"))
    assert acknowledgement(wall.dsn, major.alert_id) == ("acknowledged", wall.username, "wall", 1)
    assert not browser.find_elements(By.ID, f"ack-{major.alert_id}"), "an acknowledged alert keeps its button"

    # A critical alert takes the whole screen over, with a tone, until someone acknowledges it.
    critical = write_alert(wall.dsn, station, "critical", 4.3)
    critical_vi = t("alert.flood.level", "vi", station=station, level="II", value=4.3)
    try:
        wait(browser).until(takeover_shown)
    except TimeoutException:
        pytest.fail("no takeover for a new critical alert")
    wait_for_text(browser, "#takeover-message", critical_vi)
    assert browser.execute_script("return window.iocToneCount || 0") >= 1, "the takeover played no tone"
    click(browser, "takeover-ack")
    wait(browser).until(lambda d: not takeover_shown(d))
    assert acknowledgement(wall.dsn, critical.alert_id) == ("acknowledged", wall.username, "wall", 1)

    # Switch to English: the shell, the feed and the alerts' own messages follow.
    click(browser, "lang-switch")
    wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, ".wall").get_attribute("lang") == "en")
    en_message = t("alert.flood.level", "en", station=station, level="II", value=3.2)
    wait_for_text(browser, "#alerts", en_message)
    wait_for_text(browser, f"#alert-{major.alert_id}", t("wall.alert.acknowledged", "en"))
    wait_for_text(browser, "#signed-in-as", t("wall.signed_in_as", "en", user=wall.username))
    wait_for_text(browser, "#logout", t("wall.logout", "en"))
    assert vi_message not in text_of(browser, "#alerts")
    assert browser.find_element(By.ID, "lang-switch").text == t("wall.lang.vi", "en")

    # And back to Vietnamese, the default, for the picture.
    click(browser, "lang-switch")
    wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, ".wall").get_attribute("lang") == "vi")
    wait_for_text(browser, "#alerts", vi_message)

    # Every panel has drawn before the picture is taken: a map of real size, every panel's age.
    try:
        wait(browser).until(lambda d: map_height(d) >= MIN_MAP_HEIGHT_PX)
        # Regression: with its boundaries as URLs MapLibre drew nothing, not even the stations, and said nothing.
        wait(browser).until(lambda d: map_colours(d) >= MIN_MAP_COLOURS)
    except TimeoutException:
        pytest.fail(f"the map is {map_height(browser):.0f} px high, {map_colours(browser)} colours, at 1080p")
    try:
        wait(browser).until(lambda d: not empty_ages(d))
    except TimeoutException:
        pytest.fail(f"panels without their age: {empty_ages(browser)}")
    assert not takeover_shown(browser)
    shot = tmp_path / "wall.png"
    assert browser.save_screenshot(str(shot)), "Chromium took no screenshot"
    assert shot.stat().st_size > 20_000, "the screenshot is suspiciously small (a blank page?)"
    if os.environ.get("IOC_SAVE_SCREENSHOT") == "1":
        README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, README_SCREENSHOT)


# The share of the page under the header that the cards matching a selector cover (0 when there are none yet).
PAGE_COVERED = """
const page = document.querySelector('#page-content').getBoundingClientRect();
const cards = Array.from(document.querySelectorAll(arguments[0])).map(c => c.getBoundingClientRect());
const covered = cards.reduce((sum, r) => sum + r.width * r.height, 0);
return cards.length ? covered / (page.width * page.height) : 0;
"""
# Elements whose text is cut: more text than room, or an ellipsis.
CUT_TEXT = """
return Array.from(document.querySelectorAll(arguments[0]))
  .filter(e => e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1
               || getComputedStyle(e).textOverflow === 'ellipsis')
  .map(e => e.textContent);
"""


# Where a (lon, lat) point is on the screen (CSS pixels of the viewport), through the map's own projection.
_MAP_POINT = """
const gd = document.querySelector('#map .js-plotly-plot');
const map = gd && gd._fullLayout.map && gd._fullLayout.map._subplot && gd._fullLayout.map._subplot.map;
if (!map) { return null; }
const p = map.project([arguments[0], arguments[1]]), r = map.getCanvas().getBoundingClientRect();
return [r.left + p.x, r.top + p.y];
"""
_OUTLINE_POINTS = """
const gd = document.querySelector('#map .js-plotly-plot');
return gd ? gd.data[arguments[0]].lon.length : -1;
"""

_HOVER_TEXT = "const h = document.querySelector('#map .hoverlayer'); return h ? h.textContent : '';"


def quiet_point(site: SiteConfig, site_dir: Path, code: str) -> tuple[float, float]:
    """A point well inside a commune and far from every station and camera, where a click hits only the commune."""
    feature = next(f for f in boundary_features(site, site_dir) if f["properties"].get("code") == code)
    polygon = shape(feature["geometry"])
    markers = [Point(s.lon, s.lat) for s in station_specs(site)] + [Point(c.lon, c.lat) for c in site.cameras]
    x0, y0, x1, y1 = polygon.bounds
    candidates = [Point(x0 + (x1 - x0) * i / 40, y0 + (y1 - y0) * j / 40) for i in range(41) for j in range(41)]
    best = max(
        (c for c in candidates if polygon.contains(c)),
        key=lambda c: min(polygon.exterior.distance(c), *(m.distance(c) for m in markers)),
    )
    return best.x, best.y


def click_at(driver: webdriver.Chrome, x: float, y: float) -> None:
    """Move the mouse to a point of the viewport, as a person would, and click there."""
    builder = ActionBuilder(driver)
    # The pause lets the map's hover find the commune under the pointer before the click.
    builder.pointer_action.move_to_location(round(x), round(y)).pause(0.3).click()
    builder.perform()


def selected_pixels(driver: webdriver.Chrome) -> int:
    """How many pixels of the map are (about) the selected commune's cyan."""
    target = tuple(int(SELECTED_COLOUR[i : i + 2], 16) for i in (1, 3, 5))
    png = driver.find_element(By.CSS_SELECTOR, ".map").screenshot_as_png
    with Image.open(io.BytesIO(png)) as picture:
        colours = picture.convert("RGB").getcolors(maxcolors=1 << 20) or []
    return sum(n for n, rgb in colours if sum(abs(a - b) for a, b in zip(rgb, target, strict=True)) < 40)


def test_a_click_on_a_commune_outlines_and_names_it_until_cleared(
    browser: webdriver.Chrome, wall: WallServer, site: SiteConfig, site_dir: Path
) -> None:
    """Issue 15: the operator selects a commune on the overview map; it stays selected across refreshes."""
    sign_in(browser, wall)
    try:
        wait(browser).until(lambda d: map_colours(d) >= MIN_MAP_COLOURS)
    except TimeoutException:
        pytest.fail(f"the map never drew: {map_colours(browser)} colours")
    assert selected_pixels(browser) == 0, "the selection's cyan is on the map before any selection"
    lon, lat = quiet_point(site, site_dir, "03181")
    where = wait(browser).until(lambda d: d.execute_script(_MAP_POINT, lon, lat))
    name = t("wall.map.selected", "vi", name=next(a.name for a in site.areas if a.code == "03181"))

    # A station keeps its hover label over the communes' clickable layer, and a click on it selects nothing.
    station = max(  # the one farthest from the cameras, whose circles would win the pointer near them
        site.flood_stations, key=lambda s: min(Point(s.lon, s.lat).distance(Point(c.lon, c.lat)) for c in site.cameras)
    )
    click_at(browser, *browser.execute_script(_MAP_POINT, station.lon, station.lat))
    wait(browser).until(lambda d: station.name in d.execute_script(_HOVER_TEXT))
    time.sleep(1.0)  # the selection's callback answers within milliseconds on loopback
    assert not browser.find_element(By.ID, "map-selection").is_displayed(), "a click on a station selected"

    click_at(browser, *where)
    wait_for_text(browser, "#map-selection-name", name)
    wait(browser).until(lambda d: d.execute_script(_OUTLINE_POINTS, SELECTED_TRACE) > 3)
    wait(browser).until(lambda d: selected_pixels(d) >= 100)
    # Two refreshes later it is still there.
    time.sleep(2.5 * REFRESH_MS / 1000)
    assert name in text_of(browser, "#map-selection-name")
    assert browser.execute_script(_OUTLINE_POINTS, SELECTED_TRACE) > 3

    # The same commune again clears it; once more selects it; the clear button clears it.
    click_at(browser, *where)
    wait(browser).until(lambda d: not d.find_element(By.ID, "map-selection").is_displayed())
    wait(browser).until(lambda d: d.execute_script(_OUTLINE_POINTS, SELECTED_TRACE) == 0)
    click_at(browser, *where)
    wait_for_text(browser, "#map-selection-name", name)
    click(browser, "map-selection-clear")
    wait(browser).until(lambda d: not d.find_element(By.ID, "map-selection").is_displayed())
    wait(browser).until(lambda d: d.execute_script(_OUTLINE_POINTS, SELECTED_TRACE) == 0)
    wait(browser).until(lambda d: selected_pixels(d) == 0)


def test_pages_follow_the_navigation_and_the_role(
    browser: webdriver.Chrome, wall: WallServer, site: SiteConfig
) -> None:
    """An operator moves between the wall's pages by its links; the leaders' page is not theirs."""
    sign_in(browser, wall)
    for link in ("nav-wall", "nav-flood", "nav-cameras"):
        assert browser.find_elements(By.ID, link), f"the operator has no {link} link"
    assert not browser.find_elements(By.ID, "nav-leaders"), "an operator was offered the leaders' page"

    click(browser, "nav-flood")
    wait(browser).until(lambda d: d.current_url.endswith("/flood"))
    for st in site.flood_stations:
        wait_for_text(browser, f"#gauge-{st.id}", st.name)
        wait(browser).until(lambda d, sid=st.id: d.find_element(By.ID, f"gauge-age-{sid}").text)
        trend = browser.find_element(By.CSS_SELECTOR, f"#gauge-{st.id} img.gauge-trend")
        assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", trend), st.id
    # The gauges fill the page at 1080p and at 4K (regression: four of them used 40 % of the screen), and no
    # station name is cut.
    for width, height in ((1920, 1080), (3840, 2160)):
        browser.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        covered = wait(browser).until(lambda d: d.execute_script(PAGE_COVERED, ".card-grid > .gauge-card") or None)
        assert covered > 0.6, f"the gauges cover {covered:.0%} of the page at {width}x{height}"
        assert browser.execute_script(CUT_TEXT, ".gauge-card .tile-name, .gauge-card .tile-river") == []
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", VIEWPORT)

    click(browser, "nav-wall")
    wait(browser).until(ec.presence_of_element_located((By.ID, "alerts")))
    browser.get(wall.url + "/leaders")
    wait(browser).until(ec.presence_of_element_located((By.ID, "page-not-found")))
    assert not browser.find_elements(By.ID, "alerts")


_RECORD_CSP = """
window.iocCsp = [];
document.addEventListener('securitypolicyviolation',
    e => window.iocCsp.push(e.effectiveDirective + ' ' + (e.blockedURI || 'inline') + ' ' + e.sourceFile));
"""


def test_the_content_security_policy_lets_the_wall_work_and_blocks_nothing_of_it(
    browser: webdriver.Chrome, wall: WallServer
) -> None:
    """Issue 12, hole 11: the wall runs under its CSP (map, trends, clientside callbacks), no violation."""
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _RECORD_CSP})
    sign_in(browser, wall)
    try:
        wait(browser).until(lambda d: map_height(d) >= MIN_MAP_HEIGHT_PX and not empty_ages(d))
    except TimeoutException:
        violations = browser.execute_script("return window.iocCsp")
        pytest.fail(
            f"under the CSP the wall did not draw: map {map_height(browser):.0f} px, "
            f"empty ages {empty_ages(browser)}, violations {violations}"
        )
    # The clock is a clientside callback: an inline script the policy lets run by its hash.
    wait(browser).until(lambda d: d.find_element(By.ID, "clock").text.count(":") == 2)
    for link in ("nav-flood", "nav-cameras", "nav-wall"):
        click(browser, link)
        wait(browser).until(lambda d: not d.find_elements(By.ID, "page-not-found"))
    assert browser.execute_script("return window.iocCsp") == []
    # And it is really enforced: an injected inline script is refused.
    browser.execute_script(
        "const s = document.createElement('script'); s.textContent = 'window.iocInjected = 1';"
        "document.body.appendChild(s);"
    )
    assert browser.execute_script("return window.iocInjected || 0") == 0
    assert any("script-src" in v for v in browser.execute_script("return window.iocCsp"))
