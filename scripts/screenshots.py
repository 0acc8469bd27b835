"""Take the README's screenshots: every page of the wall, from a running demo, in headless Chromium at 1920x1080.

    .venv/bin/python scripts/screenshots.py [--out docs/img] [--lang vi] [--port 8077]

Starts ``ioc demo`` on a loopback port with a known admin password, signs in as the admin, opens each page of the
navigation, waits until it is populated (the same readiness check as ``ioc bench dashboard``), and writes
``<out>/<page>.png``; then stops the demo. Needs Debian's chromium and chromium-driver (scripts/system-deps.sh).
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from selenium.webdriver.common.by import By

from ioc.app.bench.chromium import start_chromium
from ioc.app.bench.dashboard import _render_once as render_once  # opens a page and waits until it is drawn

REPO = Path(__file__).resolve().parents[1]
PAGES = {"wall": "/", "flood": "/flood", "cameras": "/cameras", "deliveries": "/deliveries", "leaders": "/leaders"}


def wait_for(url: str, seconds: float) -> None:
    """Wait until ``url`` answers (any status below 500)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"the demo did not answer at {url} within {seconds:.0f} s")


def main() -> None:
    """Run the demo, take one screenshot per page, stop the demo."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    parser.add_argument("--lang", default="vi")
    parser.add_argument("--port", type=int, default=8077)
    parser.add_argument("--settle", type=float, default=20.0, help="seconds of live data before the pictures")
    args = parser.parse_args()
    password = secrets.token_urlsafe(12)
    env = {**os.environ, "IOC_DEMO_PASSWORD": password}
    log = Path(tempfile.mkstemp(prefix="ioc-demo-", suffix=".log")[1])
    demo = subprocess.Popen(
        [sys.executable, "-m", "ioc", "demo", "--port", str(args.port), "--lang", args.lang],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{args.port}"
    try:
        wait_for(f"{base}/login", 240)
        time.sleep(args.settle)
        with tempfile.TemporaryDirectory() as profile:
            browser = start_chromium(Path(profile), lang=args.lang)
            try:
                browser.get(f"{base}/login")
                browser.find_element(By.NAME, "username").send_keys("admin")
                browser.find_element(By.NAME, "password").send_keys(password)
                browser.find_element(By.CSS_SELECTOR, "form button[type=submit], form input[type=submit]").click()
                time.sleep(2)
                args.out.mkdir(parents=True, exist_ok=True)
                for name, path in PAGES.items():
                    render_once(browser, base + path)
                    time.sleep(1.5)  # the map's tiles of colour and the pictures settle
                    target = args.out / f"{name}.png"
                    browser.save_screenshot(str(target))
                    print(f"{target} ({target.stat().st_size:,} bytes)")
            finally:
                browser.quit()
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(60)
        except subprocess.TimeoutExpired:
            demo.kill()
        print(f"demo log: {log}")


if __name__ == "__main__":
    main()
