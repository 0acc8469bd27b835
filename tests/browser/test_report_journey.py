"""One citizen's report from a phone to its answer (issue 17's 'done when'), over the real pieces: the public form
in headless Chromium at a phone's width with the phone's GPS, the routing and the deadline on the working calendar,
the wall's reports page, the deadline alert through the embedded runtime and the duty roster once it is overdue,
and the SMS telling the citizen it is resolved, through the eSMS fake."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import dash
import psycopg
import pytest
from flask.testing import FlaskClient
from psycopg_pool import AsyncConnectionPool, ConnectionPool
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from werkzeug.serving import BaseWSGIServer, make_server

from analytics.reports import Action, Status, next_status
from analytics.working_days import WorkingCalendar, add_working_days
from dashboards.app import create_app
from dashboards.auth import AuthStore
from dashboards.data import PostgresWallData
from ioc.app.runtime.embedded import EmbeddedPlatform
from ioc.app.site import SiteRuntime
from ioc.config.models import SiteConfig
from ioc.geo import AreaIndex
from ioc.notify.channels.registry import build_channels
from ioc.notify.citizens import CitizenSms
from ioc.store.live import MemoryLiveStore
from ioc.store.reports import ReportStore
from tests.dashboards.wall_helpers import call, login
from tests.fakes import EsmsFake, SpeedSmsFake
from tests.fakes.site import fake_base_urls, fake_env

from .conftest import SECRET
from .test_wall_browser import wait

pytestmark = pytest.mark.services
OPERATOR, PASSWORD = "truc.ban.hanh.trinh", "mat-khau-du-dai-5"
CODE = re.compile(r"PA-[0-9A-Z]{5}-[0-9A-Z]{5}")


@pytest.fixture(scope="module")
def wall(pg_dsn: str, site: SiteConfig, site_dir: Path) -> Iterator[tuple[dash.Dash, str]]:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE reports, report_events, report_photos, report_rejections, alerts, alert_events, "
                     "notify_outbox, processor_state CASCADE")
    with ConnectionPool(pg_dsn, min_size=1, max_size=4, timeout=10, open=True) as pool:
        auth = AuthStore(pool)
        auth.ensure_user(OPERATOR, PASSWORD, "operator", ["03172"])
        app: dash.Dash = create_app(PostgresWallData(pool, MemoryLiveStore(), site), site, auth=auth,
                                    secret_key=SECRET, site_dir=site_dir)
        server: BaseWSGIServer = make_server("127.0.0.1", 0, app.server, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="journey-server", daemon=True)
        thread.start()
        try:
            yield app, f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            thread.join(10)


def on_the_wall(app: dash.Dash, code: str) -> bool:
    client: FlaskClient = app.server.test_client()
    assert login(client, OPERATOR, PASSWORD).status_code == 302
    out = call(client, "reports-map.figure",
               {"reports-tick.n_intervals": 1, "reports-read-at.data": None, "lang.data": "vi"})
    rows = out["reports-list"]["children"]
    return any(row["props"]["id"] == f"report-{code}" for row in rows)


def tell_the_citizen(site: SiteConfig, pg_dsn: str, url: str) -> list[dict[str, object]]:
    """Send the citizens' SMS that are due through the eSMS fake; return what the fake received."""

    async def run() -> list[dict[str, object]]:
        async with EsmsFake() as esms, SpeedSmsFake() as speedsms:
            channels = build_channels(site, fake_env(esms=esms, speedsms=speedsms), None,
                                      base_urls=fake_base_urls(esms=esms, speedsms=speedsms))
            assert site.reports is not None and site.reports.citizen_sms is not None
            try:
                async with AsyncConnectionPool(pg_dsn, min_size=1, max_size=2,
                                               kwargs={"autocommit": True}) as apool:
                    await CitizenSms(apool, site.reports.citizen_sms, channels, url + "/").drain()
            finally:
                for ch in channels.values():
                    await ch.close()
            return list(esms.sent)

    return asyncio.run(run())


def test_from_a_phone_to_the_answer(browser: webdriver.Chrome, wall: tuple[dash.Dash, str], pg_dsn: str,
                                    site: SiteConfig, site_dir: Path) -> None:
    app, url = wall
    # 1. The citizen, on a phone, near the river in Na Sang: GPS, category, words, phone number, send.
    inner = AreaIndex.from_site(site, site_dir).geometry("03172").representative_point()
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": True}
    )
    browser.execute_cdp_cmd("Browser.grantPermissions", {"origin": url, "permissions": ["geolocation"]})
    browser.execute_cdp_cmd(
        "Emulation.setGeolocationOverride", {"latitude": inner.y, "longitude": inner.x, "accuracy": 8}
    )
    browser.get(f"{url}/report")
    assert browser.execute_script("return window.innerWidth") == 390
    Select(browser.find_element(By.ID, "category")).select_by_value("flooding_landslide")
    browser.find_element(By.ID, "description").send_keys("Nước suối tràn qua đường, xe máy không qua được")
    browser.find_element(By.ID, "phone").send_keys("0912 345 678")
    browser.find_element(By.ID, "gps").click()
    wait(browser).until(lambda d: "8 m" in d.find_element(By.ID, "gps-status").text)
    browser.find_element(By.ID, "report-submit").click()
    wait(browser, 30).until(lambda d: CODE.search(d.current_url))
    code = CODE.search(browser.current_url).group(0)  # type: ignore[union-attr]
    assert "Đã nhận phản ánh của bạn" in browser.find_element(By.TAG_NAME, "body").text

    # 2. It reached the commune's People's Committee, due in two working days on the province's calendar.
    with ConnectionPool(pg_dsn, min_size=1, max_size=2, open=True) as pool:
        store = ReportStore(pool)
        report = store.get(code)
        assert report is not None and report.phone == "84912345678"
        assert (report.commune_code, report.unit_id) == ("03172", "ubnd-na-sang")
        assert site.working_calendar is not None
        zone = ZoneInfo(site.site.timezone)
        assert report.deadline == add_working_days(report.created_at, 2, zone,
                                                   WorkingCalendar.from_config(site.working_calendar))

        # 3. The operator of Na Sang sees it on the wall's reports page; the citizen has an SMS with the code.
        assert on_the_wall(app, code)
        sent = tell_the_citizen(site, pg_dsn, url)

        # 4. Two working days pass with nobody taking it up (the deadline moved back, as time would have): the
        #    deadline alert opens at the commune, as overdue, and the duty roster's first message is planned.
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute("UPDATE reports SET deadline = now() - interval '1 hour' WHERE code = %s", (code,))
        runtime = SiteRuntime.build(site, site_dir)

        async def tick_once() -> None:
            platform = EmbeddedPlatform(runtime, pg_dsn, tick_interval_s=3600)
            await platform.start()
            try:
                await platform.tick()
                await platform.bus.drain()
            finally:
                await platform.stop()

        asyncio.run(tick_once())
        key = f"report:{code}:deadline"
        with psycopg.connect(pg_dsn) as conn:
            alert = conn.execute("SELECT status, severity, area_code FROM alerts WHERE alert_key = %s",
                                 (key,)).fetchone()
            planned = conn.execute("SELECT count(*) FROM notify_outbox WHERE alert_key = %s", (key,)).fetchone()
        assert alert == ("open", "major", "03172")
        assert planned is not None and planned[0] >= 1

        # 5. The unit takes it in hand and resolves it; the citizen is told by SMS, through the eSMS fake.
        for action, note in ((Action.ASSIGN, None), (Action.PROGRESS, None), (Action.RESOLVE, "Đã khơi thông")):
            store.step(code, action.value, actor="lo-thi-mai", note=note,
                       decide=lambda s, a=action: next_status(Status(s), a).value)

    sent += tell_the_citizen(site, pg_dsn, url)
    told = [s for s in sent if s["phone"] == "84912345678"]
    assert [str(s["content"]).split("\n")[0].split(": ")[1] for s in told] == [
        "Da tiep nhan. Received.", "Da chuyen don vi xu ly. Assigned to a unit.", "Dang xu ly. In progress.",
        "Da xu ly xong. Resolved.",
    ]
    assert all(code in str(s["content"]) and f"{url}/report/{code}" in str(s["content"]) for s in told)
