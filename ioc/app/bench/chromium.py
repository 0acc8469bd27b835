"""Headless Chromium from Debian (``chromium`` + ``chromium-driver``) driven by Selenium, offline.

The machines' network is closed, so every background service of Chromium that would try to reach the internet
(updates, sync, QUIC probes, component updates) is switched off and each browser gets a fresh profile. The
driver path is given explicitly, so Selenium Manager never looks for (or downloads) a driver of its own.
Used by the browser tests and ``ioc bench dashboard``; selenium comes with the ``test`` extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ioc.errors import ServiceError

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1920,1080",
    # As a wall kiosk is started: the critical-alert tone may play without a click on the page first.
    "--autoplay-policy=no-user-gesture-required",
)
# The wall is built for a 1920x1080 screen: that is the page's viewport, not the window's outer size.
VIEWPORT = {"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False}


def start_chromium(profile: Path, *, lang: str = "vi") -> Any:
    """Start headless Chromium with a fresh ``profile`` directory; return the Selenium driver."""
    for program, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not program.exists():
            raise ServiceError(
                f"{program} is missing; install the Debian package {package} (scripts/system-deps.sh does)"
            )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        raise ServiceError("selenium is not installed; run .venv/bin/pip install -e '.[test]'") from exc
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--lang={lang}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", VIEWPORT)
    return driver
