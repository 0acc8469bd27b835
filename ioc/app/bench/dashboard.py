"""``ioc bench dashboard``: the wall's data callbacks and its first full render in Chromium, over months.

A fresh database on the services' PostgreSQL gets ``days`` of readings (default 90) for ``stations`` stations
x 4 metrics (default 50 x 4 = 200 series) every 5 minutes, with their rollups (ioc.app.bench.dashboard_data), the
same days of crossings on the sample cameras' counting lines with their minute counts, three years of every
KPI for every unit (the leaders' panels) through the real writer, a history of alerts
through the real writer (most resolved, a few open) and each station's newest reading in Redis (a database
index of its own). Then:

1. **Data functions**, called the way the wall's callbacks call them (``PostgresWallData`` on a pool): each
   alone, then the whole data work of the 2-second refresh and of the trends callback, ``calls`` times.
2. **Dash callbacks**: the same callbacks end to end in the Flask app (``/_dash-update-component``: data,
   components, JSON), signed in, with the CSRF header the browser sends.
3. **Full render**: the wall served by waitress on a loopback port, headless Chromium signed in as an
   admin, then ``renders`` fresh navigations to each page of the navigation (overview, flood gauges,
   cameras, leaders), each timed from navigation start until the page is populated (the feed and the map's
   canvas where the page has them, every panel's age, the leaders' ranking, every plotly graph and picture drawn, no
   callback pending).

Aims: p95 of every data callback < 150 ms; full render < 2 s.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import redis
import waitress.server
from psycopg_pool import ConnectionPool
from rich.console import Console
from rich.table import Table

from dashboards.app import create_app, use_fast_json
from dashboards.auth import CSRF_COOKIE, CSRF_HEADER, AuthStore
from dashboards.data import PostgresWallData
from dashboards.leaders import TREND_PERIODS
from dashboards.leaders_data import GRANULARITIES, PostgresLeadersData
from dashboards.server import WSGI_THREADS
from dashboards.wall_pages import GAUGE_STEP_S
from ioc import i18n
from ioc.app.bench.dashboard_data import LoadReport, bench_site, load_crossings, load_history, load_kpis
from ioc.app.endpoints import endpoints
from ioc.app.services import manager
from ioc.app.services.settings import Settings as ServicesSettings
from ioc.config.loader import default_site_path, load_site
from ioc.config.models import SiteConfig
from ioc.errors import ServiceError
from ioc.events import AlertEvent, AlertTransition, SensorReading, utcnow
from ioc.settings import Settings
from ioc.store.live import RedisLiveStore
from ioc.store.migrate import Flavor, current_flavor, migrate
from ioc.store.writer import Writer

logger = logging.getLogger(__name__)

i18n.register(
    {
        "bench.dashboard.loading": (
            "Nạp {days} ngày x {series} chuỗi số liệu vào cơ sở dữ liệu mới…",
            "Loading {days} days x {series} series into a fresh database…",
        ),
        "bench.dashboard.loaded": (
            "Đã nạp {rows} bản ghi đo trong {seconds:.0f} giây (COPY {copy:.0f} s, tổng hợp {rollup:.0f} s)",
            "Loaded {rows} readings in {seconds:.0f} s (COPY {copy:.0f} s, rollups {rollup:.0f} s)",
        ),
        "bench.dashboard.day": ("ngày {done}/{days}", "day {done}/{days}"),
        "bench.dashboard.kpis": (
            "Đã nạp {n} số liệu chỉ tiêu của {years} năm qua bộ ghi",
            "Loaded {n} KPI figures over {years} years through the writer",
        ),
        "bench.dashboard.crossings": (
            "Đã nạp {rows} lượt qua vạch của {lines} vạch đếm camera",
            "Loaded {rows} line crossings on {lines} camera counting lines",
        ),
        "bench.dashboard.title": (
            "Bảng điều hành: {days} ngày x {series} chuỗi, {calls} lần gọi mỗi hàm, cơ sở dữ liệu {flavour}",
            "Wall display: {days} days x {series} series, {calls} calls each, {flavour} database",
        ),
        "bench.dashboard.what": ("Phép đo", "Measure"),
        "bench.dashboard.aim": ("Mục tiêu", "Aim"),
        "bench.dashboard.verdict": ("Kết quả", "Verdict"),
        "bench.dashboard.render": (
            "Hiển thị đầy đủ {page} trong Chromium ({n} lần)",
            "Full render of {page} in Chromium ({n} runs)",
        ),
        "bench.dashboard.cold": (
            "Hiển thị / lần đầu, trình duyệt chưa lưu đệm gói JavaScript: {ms:.0f} ms",
            "First render of /, the browser's cache of the JavaScript bundles still empty: {ms:.0f} ms",
        ),
        "bench.dashboard.load": (
            "Tải trung bình 1 phút của máy: {start:.2f} lúc bắt đầu đo, {end:.2f} lúc kết thúc ({cores} lõi)",
            "1-minute load average: {start:.2f} when timing began, {end:.2f} at the end ({cores} cores)",
        ),
        "bench.dashboard.met": ("đạt", "met"),
        "bench.dashboard.missed": ("chưa đạt", "not met"),
    }
)

CALLBACK_AIM_MS = 150.0
RENDER_AIM_MS = 2_000.0
BENCH_USER, BENCH_PASSWORD = "bench.wall", "bench-wall-password"
SECRET = "bench-dashboard-secret-0123456789"
# A Redis database of its own, so the bench's live values never mix with a running demo's.
REDIS_DB = 14
TREND_HOURS = 6
KPI_YEARS = 3
ALERT_LIMIT = 12  # as many alerts as the wall's feed shows
RENDER_TIMEOUT_S = 30
# What the browser sends the wall's callbacks (path, language, screen scale); every timer has ticked once.
CALLBACK_VALUES: dict[str, Any] = {"url.pathname": "/", "lang.data": "vi", "scale.data": 1.0}

# Runs in the page right after navigation: polls until the routed page is populated (its feed and map when it
# has them, every panel's age, every plotly graph and picture drawn, no callback pending) and returns the time since
# navigation start (performance.now()), or -1 after the timeout.
_READY_JS = """
const done = arguments[arguments.length - 1];
const limit = arguments[0];
function ready() {
    const all = (s) => Array.from(document.querySelectorAll(s));
    const filled = (e) => e.textContent.trim() !== '';
    const page = document.querySelector('#page-content');
    const alerts = document.querySelector('#alerts');
    const map = document.querySelector('#map');
    const ages = all('#page-content .age');
    const leaders = document.querySelector('#leaders-ranking');
    return page !== null && filled(page)
        && (alerts === null || filled(alerts))
        && (map === null || map.querySelector('canvas') !== null)
        && (leaders === null || filled(leaders))
        && (ages.length > 0 || leaders !== null) && ages.every(filled)
        && all('#page-content .js-plotly-plot').every(g => g.querySelector('.main-svg') !== null)
        && all('#page-content img').every(i => i.complete && i.naturalWidth > 0)
        && all('[data-dash-is-loading="true"]').length === 0;
}
function poll() {
    if (ready()) { done(performance.now()); return; }
    if (performance.now() > limit) { done(-1); return; }
    setTimeout(poll, 5);
}
poll();
"""


@dataclass
class Timings:
    """Milliseconds of repeated calls of one thing."""

    name: str
    ms: list[float] = field(default_factory=list)

    def q(self, p: float) -> float:
        """Return the p-quantile (0..1), nearest rank."""
        ordered = sorted(self.ms)
        return ordered[min(len(ordered) - 1, max(0, round(p * (len(ordered) - 1))))]


@dataclass(frozen=True)
class DashboardBenchResult:
    """Figures of one run."""

    load: LoadReport
    load_seconds: float
    calls: int
    functions: list[Timings]
    callbacks: list[Timings]
    renders: list[Timings]
    render_cold_ms: float
    load_average: tuple[float, float]  # 1-minute load average when the timing started and ended
    flavour: Flavor = "plain"

    def print(self, console: Console, lang: str) -> None:
        """Print p50/p95/max of each data function and callback and the render times next to the aims."""
        t = i18n.t
        table = Table(
            title=t(
                "bench.dashboard.title",
                lang,
                days=self.load.days,
                series=self.load.series,
                calls=self.calls,
                flavour=self.flavour,
            )
        )
        table.add_column(t("bench.dashboard.what", lang))
        for column in ("p50 ms", "p95 ms", "max ms"):
            table.add_column(column, justify="right")
        table.add_column(t("bench.dashboard.aim", lang))
        table.add_column(t("bench.dashboard.verdict", lang))
        for timing in self.functions + self.callbacks:
            verdict = "met" if timing.q(0.95) < CALLBACK_AIM_MS else "missed"
            table.add_row(
                timing.name,
                f"{timing.q(0.5):.1f}",
                f"{timing.q(0.95):.1f}",
                f"{max(timing.ms):.1f}",
                f"p95 < {CALLBACK_AIM_MS:.0f} ms",
                t(f"bench.dashboard.{verdict}", lang),
            )
        for render in self.renders:
            verdict = "met" if render.q(0.95) < RENDER_AIM_MS else "missed"
            table.add_row(
                t("bench.dashboard.render", lang, page=render.name, n=len(render.ms)),
                f"{render.q(0.5):.0f}",
                f"{render.q(0.95):.0f}",
                f"{max(render.ms):.0f}",
                f"< {RENDER_AIM_MS:.0f} ms",
                t(f"bench.dashboard.{verdict}", lang),
            )
        console.print(table)
        console.print(t("bench.dashboard.cold", lang, ms=self.render_cold_ms), highlight=False)
        console.print(
            t(
                "bench.dashboard.load",
                lang,
                start=self.load_average[0],
                end=self.load_average[1],
                cores=os.cpu_count(),
            ),
            highlight=False,
        )


def run_dashboard_bench(
    settings: Settings,
    *,
    days: int = 90,
    stations: int = 50,
    interval_s: int = 300,
    calls: int = 200,
    renders: int = 20,
    report: Callable[[str], None] = print,
    lang: str = "vi",
    keep: bool = False,
    database: str | None = None,
    flavour: Flavor = "plain",
) -> DashboardBenchResult:
    """Load the history into a fresh database, then time the data callbacks and the wall's pages in Chromium.

    ``flavour`` chooses the fresh database: plain PostgreSQL, or TimescaleDB (hypertables, continuous aggregates).
    With ``keep`` the database is left in place and its name reported; ``database`` names such a database to
    time again without loading (its alerts stay, the live values are put back; its flavour is its own).
    """
    manager.up(["postgres", "redis"], settings=ServicesSettings.from_env(settings.env))
    ep = endpoints(settings)
    site_dir = default_site_path(settings.site)
    site = bench_site(load_site(site_dir), stations)
    dbname = database or f"ioc_bench_dash_{uuid.uuid4().hex[:8]}"
    if database is None:
        with psycopg.connect(ep.postgres_owner_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
    dsn = psycopg.conninfo.make_conninfo(ep.postgres_owner_dsn, dbname=dbname)
    redis_url = _redis_db_url(ep.redis_url, REDIS_DB)
    live = RedisLiveStore(redis_url)
    try:
        t0 = time.perf_counter()
        if database is None:
            migrate(dsn, timescale="on" if flavour == "timescale" else "off")
            report(i18n.t("bench.dashboard.loading", lang, days=days, series=len(site.flood_stations) * 4))
            loaded = load_history(
                dsn,
                site,
                days=days,
                interval_s=interval_s,
                progress=lambda d, n: (
                    report(i18n.t("bench.dashboard.day", lang, done=d, days=n)) if d % 10 == 0 else None
                ),
            )
            crossings = load_crossings(dsn, site, days=days)
            report(
                i18n.t("bench.dashboard.crossings", lang, rows=f"{crossings.rows:,}", lines=crossings.lines)
            )
            asyncio.run(_write_alerts(dsn, site, days))
            figures = asyncio.run(load_kpis(dsn, site, years=KPI_YEARS))
            report(i18n.t("bench.dashboard.kpis", lang, n=f"{figures:,}", years=KPI_YEARS))
        else:
            loaded = _loaded_already(dsn, interval_s)
            with psycopg.connect(dsn) as conn:
                has_kpis = conn.execute("SELECT EXISTS (SELECT 1 FROM kpi_values)").fetchone()
            if not (has_kpis and has_kpis[0]):
                asyncio.run(load_kpis(dsn, site, years=KPI_YEARS))
        asyncio.run(_put_live(dsn, live))
        load_seconds = time.perf_counter() - t0
        report(
            i18n.t(
                "bench.dashboard.loaded",
                lang,
                rows=f"{loaded.rows:,}",
                seconds=load_seconds,
                copy=loaded.copy_seconds,
                rollup=loaded.rollup_seconds,
            )
        )
        used_flavour = current_flavor(dsn) or "plain"
        load_start = os.getloadavg()[0]
        with ConnectionPool(dsn, min_size=2, max_size=8, timeout=10, open=True) as pool:
            functions = _time_functions(pool, live, site, calls)
            app = _build_app(pool, live, site, Path(site_dir))
            callbacks = _time_callbacks(app, calls)
            renders_by_page, render_cold_ms = _time_render(app, renders)
        load_end = os.getloadavg()[0]
    finally:
        _clear_live(redis_url)
        if keep or database is not None:
            report(f"database kept: {dbname}")
        else:
            with psycopg.connect(ep.postgres_owner_dsn, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    return DashboardBenchResult(
        loaded,
        load_seconds,
        calls,
        functions,
        callbacks,
        renders_by_page,
        render_cold_ms,
        (load_start, load_end),
        used_flavour,
    )


def _loaded_already(dsn: str, interval_s: int) -> LoadReport:
    """Describe a database an earlier run kept."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(DISTINCT (station_id, metric)), max(bucket), min(bucket) FROM sensor_readings_1d"
        ).fetchone()
        estimate = conn.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE relname = 'sensor_readings'"
        ).fetchone()
    if row is None or row[1] is None or estimate is None:
        raise ServiceError("that database has no bench history; run without --database first")
    series, newest, oldest = row
    days = max(1, round((newest - oldest).total_seconds() / 86_400))
    return LoadReport(series, int(estimate[0]), days, interval_s, 0.0, 0.0, newest)


# --- data ------------------------------------------------------------------------------------------------


async def _write_alerts(dsn: str, site: SiteConfig, days: int) -> None:
    """Alerts through the real writer: each station's open and close every 4 days, a few still open."""
    now = utcnow()
    events: list[AlertEvent] = []
    for i, st in enumerate(site.flood_stations):
        for k in range(max(1, days // 4)):
            opened = now - timedelta(days=days) + timedelta(days=4 * k, hours=i % 24)
            still_open = k == days // 4 - 1 and i % 6 == 0
            fields = dict(
                opened_at=opened,
                severity=("warning", "major", "critical")[(i + k) % 3],
                source_kind="flood",
                source_id=st.id,
                area_code=st.area_code,
                message_key="alert.flood.level",
                params={"station": st.name, "level": "I", "value": st.alarm_levels.I + 0.1, "alarm_level": 1},
                value=st.alarm_levels.I + 0.1,
            )
            key = f"flood:{st.id}:level"
            events.append(AlertEvent.create(key, AlertTransition.OPENED, opened, **fields))
            if not still_open:
                closed = opened + timedelta(hours=6)
                events.append(AlertEvent.create(key, AlertTransition.RESOLVED, closed, **fields))
    writer = await Writer.open(dsn)
    try:
        for start in range(0, len(events), 500):
            await writer.write(events[start : start + 500])
    finally:
        await writer.close()


async def _put_live(dsn: str, live: RedisLiveStore) -> None:
    """Each station's newest reading into the live store, as the writer leaves it in production."""
    newest = []
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT DISTINCT ON (station_id) station_id, time FROM sensor_readings "
            "WHERE metric = 'water_level_m' ORDER BY station_id, time DESC"
        ).fetchall()
        for sid, at in rows:
            values: dict[str, float] = dict(
                conn.execute(
                    "SELECT metric, value FROM sensor_readings WHERE station_id = %s AND time = %s", (sid, at)
                ).fetchall()
            )
            newest.append(SensorReading.create(sid, at, values, "bench"))
    await live.put_readings(newest)
    await live.aclose()


def _redis_db_url(url: str, db: int) -> str:
    return re.sub(r"(/\d+)?$", f"/{db}", url.rstrip("/"), count=1)


def _clear_live(url: str) -> None:

    client = redis.Redis.from_url(url)
    try:
        client.delete(RedisLiveStore.VALUES_KEY, RedisLiveStore.STAMPS_KEY)
    except redis.RedisError as exc:
        logger.warning("bench live values not removed from %s: %s", url, exc)
    finally:
        client.close()


# --- 1. data functions -----------------------------------------------------------------------------------


def _time(timing: Timings, fn: Callable[[], object], calls: int) -> Timings:
    fn()  # warm: the pool's connections, the plans, the caches
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        timing.ms.append((time.perf_counter() - t0) * 1000)
    return timing


def _time_functions(
    pool: ConnectionPool, live: RedisLiveStore, site: SiteConfig, calls: int
) -> list[Timings]:

    data = PostgresWallData(pool, live, site)
    ids = [s.id for s in site.flood_stations]
    turn = iter(range(10**9))

    def history(hours: float) -> Callable[[], object]:
        return lambda: data.level_history(ids[next(turn) % len(ids)], hours)

    def refresh() -> None:  # what the wall's 2-second refresh reads (dashboards.wall_pages.refresh_overview)
        data.stations()
        data.open_alerts(ALERT_LIMIT, "vi")
        data.count_open_alerts()
        data.cameras()
        data.tiles("vi")
        data.freshness()

    def trends() -> None:  # what the gauges' trends read: every station's last hours, in one read
        data.stations()
        data.level_histories(ids, TREND_HOURS, step_s=GAUGE_STEP_S)

    timings = [
        _time(Timings("stations()"), data.stations, calls),
        _time(Timings(f"open_alerts({ALERT_LIMIT})"), lambda: data.open_alerts(ALERT_LIMIT, "vi"), calls),
        _time(Timings("count_open_alerts()"), data.count_open_alerts, calls),
        _time(Timings("new_critical_alerts()"), lambda: data.new_critical_alerts("vi"), calls),
        _time(Timings("cameras()"), data.cameras, calls),
        _time(Timings("tiles()"), lambda: data.tiles("vi"), calls),
        _time(Timings("freshness()"), data.freshness, calls),
        _time(Timings(f"level_history({TREND_HOURS} h)"), history(TREND_HOURS), calls),
        _time(Timings("level_history(7 d)"), history(24 * 7), calls),
        _time(Timings("level_history(90 d)"), history(24 * 90), calls),
        _time(Timings("refresh: data"), refresh, calls),
        _time(Timings(f"trends: data ({len(ids)} stations)"), trends, max(20, calls // 5)),
    ]
    timings.extend(_time_leaders(pool, site, calls))
    return timings


def _time_leaders(pool: ConnectionPool, site: SiteConfig, calls: int) -> list[Timings]:
    """The leaders' panels' data as their callbacks call it: periods, the report (ranking, KPIs), a trend."""

    data = PostgresLeadersData(pool, site)
    unit = next(a.code for a in site.areas if a.level == site.site.levels[-1].id)
    kpi = site.kpis[0].id
    timings = []
    for granularity in GRANULARITIES:
        periods = data.periods(granularity, ())
        if not periods:
            raise ServiceError(f"no {granularity} of KPI figures to show; the KPI load did not run")
        view, count = periods[0], TREND_PERIODS[granularity]
        timings.append(
            _time(Timings(f"leaders periods({granularity})"), partial(data.periods, granularity, ()), calls)
        )
        timings.append(_time(Timings(f"leaders report({view.key()})"), partial(data.report, view, ()), calls))
        timings.append(
            _time(
                Timings(f"leaders trend({view.key()}, {count})"),
                partial(data.trend, kpi, unit, view, count, ()),
                calls,
            )
        )
    return timings


# --- 2. Dash callbacks -----------------------------------------------------------------------------------


def _build_app(pool: ConnectionPool, live: RedisLiveStore, site: SiteConfig, site_dir: Path) -> Any:

    auth = AuthStore(pool)
    auth.ensure_user(BENCH_USER, BENCH_PASSWORD, "admin")  # sees every page, the leaders' too
    use_fast_json()  # as `ioc dashboard` starts: the bench measures the wall as it runs
    return create_app(
        PostgresWallData(pool, live, site), site, auth=auth, secret_key=SECRET, site_dir=site_dir
    )


def signed_in_client(app: Any, username: str, password: str) -> tuple[Any, dict[str, str]]:
    """Sign in through /login with Flask's test client; return it and the CSRF header Dash sends."""

    client = app.server.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    if token is None:
        raise ServiceError("the login page has no CSRF field; the bench cannot sign in")
    client.post(
        "/login",
        data={"username": username, "password": password, "csrf": token.group(1), "next": "/"},
    )
    cookie = client.get_cookie(CSRF_COOKIE)
    if cookie is None:
        raise ServiceError(f"signing in did not work for {username}")
    return client, {CSRF_HEADER: cookie.value}


def callback_request(dep: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The request Dash's renderer sends for callback ``dep``: timers at 1, other inputs from ``values``."""
    outputs = []
    for part in dep["output"].strip(".").split("..."):
        cid, prop = part.rsplit(".", 1)
        outputs.append({"id": cid, "property": prop})

    def fill(items: list[dict[str, str]]) -> list[dict[str, Any]]:
        return [
            {**i, "value": 1 if i["property"] == "n_intervals" else values.get(f"{i['id']}.{i['property']}")}
            for i in items
        ]

    return {
        "output": dep["output"],
        "outputs": outputs if dep["output"].startswith("..") else outputs[0],
        "inputs": fill(dep["inputs"]),
        "state": fill(dep["state"]),
        "changedPropIds": [f"{i['id']}.{i['property']}" for i in dep["inputs"]],
    }


def wall_callbacks(deps: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The wall's server-side data callbacks, by name: the page router and every one a timer drives.

    Read from ``/_dash-dependencies``, so callbacks the wall gains are timed (and checked) without a change
    here; callbacks that run in the browser, or whose ids are patterns, are left out.
    """
    found: dict[str, dict[str, Any]] = {}
    for dep in deps:
        if dep.get("clientside_function") or any(str(i["id"]).startswith("{") for i in dep["inputs"]):
            continue
        inputs = {f"{i['id']}.{i['property']}" for i in dep["inputs"]}
        timed = any(i.endswith(".n_intervals") for i in inputs)
        if (
            not (timed or "url.pathname" in inputs)
            or dep["output"].startswith("..url.")
            or dep["output"].startswith("url.")
        ):
            continue
        first = dep["output"].strip(".").split("...")[0]
        found[f"callback: {first}"] = dep
    if not any("page-content" in name for name in found):
        raise ServiceError("the wall has no page-content callback; update ioc/app/bench/dashboard.py")
    return found


def _time_callbacks(app: Any, calls: int) -> list[Timings]:
    client, headers = signed_in_client(app, BENCH_USER, BENCH_PASSWORD)
    deps = client.get("/_dash-dependencies").get_json()
    timings = []
    for name, dep in wall_callbacks(deps).items():
        body = callback_request(dep, CALLBACK_VALUES)

        def call(body: dict[str, Any] = body, name: str = name) -> None:
            response = client.post("/_dash-update-component", json=body, headers=headers)
            if response.status_code not in (200, 204):
                raise ServiceError(
                    f"{name} answered {response.status_code}: {response.get_data(as_text=True)[:300]}"
                )

        timings.append(_time(Timings(name), call, calls))
    return timings


# --- 3. first full render --------------------------------------------------------------------------------


@contextmanager
def _served(app: Any) -> Iterator[str]:
    """Serve the app with waitress (the production server) on a free loopback port."""


    server = waitress.server.create_server(app.server, host="127.0.0.1", port=0, threads=WSGI_THREADS)
    thread = threading.Thread(target=server.run, name="bench-wall", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
        thread.join(10)


def _time_render(app: Any, renders: int) -> tuple[list[Timings], float]:
    """Time ``renders`` navigations to each page of the navigation, after one cold load of /.

    The first load fills the browser's cache of the JavaScript bundles (as on a wall that has run before) and
    is returned apart; each timed load starts from about:blank, so the page, its layout and every callback
    run again.
    """
    # Lazy on purpose: selenium comes with the test extra only; the rest of the bench runs without it.
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from ioc.app.bench.chromium import start_chromium

    profile = Path(tempfile.mkdtemp(prefix="ioc-bench-chromium-"))
    pages: dict[str, Timings] = {}
    with _served(app) as url:
        driver = start_chromium(profile)
        try:
            driver.set_script_timeout(RENDER_TIMEOUT_S + 5)
            driver.get(url + "/login")
            driver.find_element(By.ID, "username").send_keys(BENCH_USER)
            driver.find_element(By.ID, "password").send_keys(BENCH_PASSWORD)
            driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            WebDriverWait(driver, RENDER_TIMEOUT_S).until(lambda d: d.find_elements(By.ID, "page-content"))
            cold = _render_once(driver, url + "/")
            links = driver.find_elements(By.CSS_SELECTOR, "#nav a[href]")
            paths = [urlsplit(a.get_attribute("href") or "/").path or "/" for a in links] or ["/"]
            for path in dict.fromkeys(paths):
                pages[path] = Timings(path)
                for _ in range(renders):
                    pages[path].ms.append(_render_once(driver, url + path))
        finally:
            driver.quit()
            shutil.rmtree(profile, ignore_errors=True)
    if not pages or not all(p.ms for p in pages.values()):
        raise ServiceError("no render was timed; use --renders 1 or more")
    logger.info("render ms: %s, cold %.0f", {p: statistics.median(t.ms) for p, t in pages.items()}, cold)
    return list(pages.values()), cold


def _render_once(driver: Any, url: str) -> float:
    driver.get("about:blank")
    driver.get(url)
    took = driver.execute_async_script(_READY_JS, RENDER_TIMEOUT_S * 1000)
    if took is None or took < 0:
        raise ServiceError(f"{url} did not finish drawing within {RENDER_TIMEOUT_S} s")
    return float(took)
