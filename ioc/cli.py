"""The ``ioc`` command line: one subcommand for every process of the platform.

Only this module (the entry point) configures logging. Messages are Vietnamese by default; ``IOC_LANG=en`` or
``--lang en`` switches to English.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler

from ioc import i18n, log_repeats
from ioc.errors import ConfigError, IocError

if TYPE_CHECKING:
    from ioc.site import SiteRuntime

logger = logging.getLogger(__name__)
console = Console(stderr=True)

i18n.register({
    "cli.demo.ready": ("Màn hình tường đã sẵn sàng: {url}", "Wall display ready: {url}"),
    "cli.demo.login": ("Đăng nhập: tài khoản {user}, mật khẩu {password}", "Login: user {user}, password {password}"),
    "cli.demo.stop": ("Nhấn Ctrl+C để dừng.", "Press Ctrl+C to stop."),
    "cli.demo.cameras": ("Đang phân tích {n} camera", "Analysing {n} cameras"),
    "cli.demo.camera_skipped": ("Bỏ qua camera {camera}: {reason}", "Camera {camera} skipped: {reason}"),
    "cli.demo.starting_db": ("Đang khởi động PostgreSQL nhúng tại {path} ...", "Starting embedded PostgreSQL at {path} ..."),
    "cli.demo.no_sim": ("Cấu hình không có trạm mô phỏng nào (simulation.stations).",
                        "The configuration has no simulated stations (simulation.stations)."),
    "cli.migrate.done": ("Cơ sở dữ liệu ({flavor}): áp dụng {n} bản di chuyển, {already} đã có.",
                         "Database ({flavor}): {n} migrations applied, {already} already there."),
    "cli.worker.unknown": ("Không có tiến trình xử lý '{name}'. Chọn một trong: {names}",
                           "No worker named '{name}'. Choose one of: {names}"),
    "cli.worker.tick": ("IOC_TICK_INTERVAL_S='{value}' không hợp lệ: cần số giây từ 0,1 đến 3600",
                        "IOC_TICK_INTERVAL_S='{value}' is not valid: give seconds between 0.1 and 3600"),
    "cli.worker.maintenance": (
        "IOC_MAINTENANCE_INTERVAL_S='{value}' không hợp lệ: cần số giây từ 0,1 đến 3600",
        "IOC_MAINTENANCE_INTERVAL_S='{value}' is not valid: give seconds between 0.1 and 3600"),
    "cli.db.plain": ("PostgreSQL thuần (không có TimescaleDB): không có tác vụ nền; bảng tổng hợp được "
                     "cập nhật ngay khi ghi.",
                     "plain PostgreSQL (no TimescaleDB): no background jobs; the rollup tables are "
                     "updated in each write."),
    "cli.db.title": ("Tác vụ nền TimescaleDB", "TimescaleDB background jobs"),
    "cli.db.col.job": ("Tác vụ", "Job"),
    "cli.db.col.target": ("Đối tượng", "Target"),
    "cli.db.col.every": ("Chu kỳ", "Every"),
    "cli.db.col.last_run": ("Lần chạy cuối", "Last run"),
    "cli.db.col.last_success": ("Thành công cuối", "Last success"),
    "cli.db.col.status": ("Kết quả", "Status"),
    "cli.db.col.failures": ("Lỗi/lần chạy", "Failures/runs"),
    "cli.db.col.next": ("Lần chạy tới", "Next start"),
    "cli.db.never": ("chưa bao giờ", "never"),
    "cli.db.ok": ("Mọi chính sách đều chạy đúng hạn.", "Every policy runs on time."),
    "cli.db.failing": ("{n} chính sách đang lỗi hoặc trễ: {ids}. Bộ ghi chạy chúng ở tiền cảnh "
                       "(CALL run_job); lỗi gần nhất: {error}",
                       "{n} policies failing or overdue: {ids}. The writer runs them in the foreground "
                       "(CALL run_job); last error: {error}"),
    "cli.ingest.unknown": ("Không có nguồn nạp '{name}'. Chọn một trong: {names}",
                           "No ingest source named '{name}'. Choose one of: {names}"),
    "cli.ingest.listening": ("Đang nhận dữ liệu trạm đo từ MQTT {host}:{port} ({topic}) gửi vào Kafka {kafka}",
                             "Receiving station data from MQTT {host}:{port} ({topic}) into Kafka {kafka}"),
    "cli.bench.fuzz_needs_hypothesis": ("ioc bench fuzz cần Hypothesis: .venv/bin/pip install -e '.[test]'",
                                        "ioc bench fuzz needs Hypothesis: .venv/bin/pip install -e '.[test]'"),
    "cli.bench.unknown": ("Không có phép đo '{name}'. Chọn một trong: {names}",
                          "No benchmark named '{name}'. Choose one of: {names}"),
    "cli.bench.flavour": ("Cơ sở dữ liệu '{flavour}' không có: chọn plain hoặc timescale",
                          "No database flavour '{flavour}': choose plain or timescale"),
    "cli.error": ("Lỗi: {message}", "Error: {message}"),
    "cli.camera.unknown": ("Không có camera: {names}", "No such camera: {names}"),
    "cli.camera.running": ("Đang đọc {n} camera", "Reading {n} cameras"),
    "cli.config.invalid": ("Cấu hình không hợp lệ:", "The configuration is invalid:"),
    "cli.user.saved": ("Đã lưu tài khoản {user} (vai trò {role}).", "Saved user {user} (role {role})."),
    "cli.user.kiosk": ("{user} là tài khoản màn hình (phiên dài, thu hồi bằng: ioc users revoke {user}).",
                       "{user} is the wall display account (long session; revoke: ioc users revoke {user})."),
    "cli.user.unknown": ("Không có tài khoản {user}.", "No user named {user}."),
    "cli.user.disabled": ("Đã khoá {user}; mọi phiên của tài khoản đã kết thúc.",
                          "Disabled {user}; every session of theirs has ended."),
    "cli.user.enabled": ("Đã mở khoá {user}.", "Enabled {user}."),
    "cli.user.deleted": ("Đã xoá {user} và mọi phiên của tài khoản.",
                         "Deleted {user} and every session of theirs."),
    "cli.user.revoked": ("Đã thu hồi {n} phiên của {user}.", "Revoked {n} session(s) of {user}."),
    "cli.sim.publishing": ("Đang phát dữ liệu mô phỏng của {n} trạm tới MQTT {host}:{port}",
                           "Publishing simulated readings of {n} stations to MQTT {host}:{port}"),
    "cli.topics.created": ("Đã tạo chủ đề Kafka: {names}", "Kafka topics created: {names}"),
})

app = typer.Typer(no_args_is_help=True, help="ioc: Trung tâm điều hành thông minh / Intelligent Operations Center")
db_app = typer.Typer(no_args_is_help=True, help="Cơ sở dữ liệu / database")
sim_app = typer.Typer(no_args_is_help=True, help="Mô phỏng / simulators")
users_app = typer.Typer(no_args_is_help=True, help="Tài khoản màn hình / dashboard accounts")
topics_app = typer.Typer(no_args_is_help=True, help="Chủ đề Kafka / Kafka topics")
app.add_typer(db_app, name="db")
app.add_typer(sim_app, name="sim")
app.add_typer(users_app, name="users")
app.add_typer(topics_app, name="topics")


def _register_sources() -> None:
    """Site configuration: validate before starting the workers (the alert sources' own sections included)."""
    # Lazy, so `ioc --help` stays fast: registers each alert source's config section (sources.<type>) with the
    # loader; the core config cannot import analytics itself.
    import analytics.sources  # noqa: F401


def _mount_optional() -> None:
    from ioc.config.cli import app as config_app
    from ioc.models_cli import app as models_app
    from ioc.services.cli import app as services_app

    app.add_typer(config_app, name="config", help="Cấu hình / configuration", callback=_register_sources)
    app.add_typer(services_app, name="services", help="Dịch vụ phát triển / development services")
    app.add_typer(models_app, name="models", help="Mô hình nhận dạng / detection models")
    from ioc.vision_cli import app as vision_app

    app.add_typer(vision_app, name="vision", help="Phân tích hình ảnh camera / camera video analysis")
    from ingest.flood_cli import app as sensors_app
    from ingest.kpi_cli import app as kpi_app

    app.add_typer(kpi_app, name="kpi", help="Chỉ tiêu KT-XH, chuyển đổi số / socio-economic and digital KPIs")

    app.add_typer(sensors_app, name="ingest-sensors", help="Trạm đo qua webhook, LoRaWAN / stations over webhook, LoRaWAN")
    from ioc.notify.cli import app as notify_app
    from ioc.runtime.lag_cli import app as lag_app

    app.add_typer(lag_app, name="lag", help="Độ trễ của các tiến trình xử lý / stream workers' consumer lag")

    app.add_typer(notify_app, name="notify", help="Thông báo cán bộ trực / duty-officer notifications")


_mount_optional()

LangOpt = Annotated[str, typer.Option("--lang", envvar="IOC_LANG", help="vi | en")]
SiteOpt = Annotated[Path | None, typer.Option("--site", envvar="IOC_SITE", help="site config directory")]


def _setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=os.environ.get("IOC_LOG_LEVEL", level).upper(), format="%(name)s: %(message)s",
        handlers=[RichHandler(console=console, show_path=False, rich_tracebacks=False)],
    )
    log_repeats.install()  # a line repeating every second is written once a minute, with a count


def _fail(message: str, lang: str) -> typer.Exit:
    console.print(i18n.t("cli.error", lang, message=message), style="bold red", soft_wrap=True, highlight=False,
                  markup=False)
    return typer.Exit(code=1)


def _load_site(site: Path | None, lang: str):  # type: ignore[no-untyped-def]
    from ioc.config.loader import default_site_path, load_site
    from ioc.site import SiteRuntime

    path = site or default_site_path()
    try:
        config = load_site(path)
    except ConfigError as exc:
        console.print(f"[bold red]{i18n.t('cli.config.invalid', lang)}[/]")
        for issue in exc.issues:
            console.print(f"  {issue}", soft_wrap=True, highlight=False, markup=False)
        raise typer.Exit(code=1) from exc
    return SiteRuntime.build(config, Path(path) if Path(path).is_dir() else Path(path).parent)


@app.command()
def demo(
    site: SiteOpt = None,
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="wall display port")] = 8050,
    lang: LangOpt = "vi",
    backfill_minutes: Annotated[int, typer.Option(help="simulated history to load at start")] = 120,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds (default: run until Ctrl+C)")] = None,
) -> None:
    """Run the embedded platform: embedded PostgreSQL, in-process bus, simulated district, wall display."""
    _setup_logging()
    from ioc.runtime.demo import run_demo

    lang = i18n.normalise_lang(lang)
    runtime = _load_site(site, lang)
    if not runtime.config.simulation.stations:
        raise _fail(i18n.t("cli.demo.no_sim", lang), lang)
    try:
        run_demo(runtime, host=host, port=port, lang=lang, backfill_minutes=backfill_minutes, duration=duration,
                 say=lambda key, **kw: console.print(i18n.t(key, lang, **kw), highlight=False))
    except IocError as exc:
        raise _fail(str(exc), lang) from exc


def register_alert_templates(runtime: SiteRuntime) -> None:
    """Register every alert's message template in this process: the KPI alerts' and the site's rule messages.

    The sender renders an alert's ``message_key`` from the catalog of its own process. The alert workers register
    these templates as they build their rules; a ``worker notify`` process builds none, so without this every
    rule and KPI alert message failed there as ``unknown_template`` (only the built-in flood levels went out).
    """
    import analytics.kpi  # noqa: F401  (registers alert.kpi.*)

    runtime.alerts  # noqa: B018  (building the rules registers alert.rule.*)


@app.command()
def worker(
    name: Annotated[str, typer.Argument(help="flood | alerts | writer | notify")],
    site: SiteOpt = None,
    lang: LangOpt = "vi",
    metrics_port: Annotated[int | None, typer.Option(
        envvar="IOC_METRICS_PORT", help="serve /metrics and /healthz (consumer lag) on this loopback port")] = None,
) -> None:
    """Run one Faust stream worker (scale by running more of the same name), or the notify delivery worker."""
    from ioc.notify.outbox import OutboxPlanner
    from ioc.notify.planner import Planner
    from ioc.runtime.faust_app import WORKERS, FaustSettings, build_app, changelog_topics, run_worker
    from ioc.runtime.kafka import ensure_topics
    from ioc.runtime.lag import LagSettings
    from ioc.services.manager import endpoints

    if name == "notify":
        from ioc.notify.worker import run_notify

        _setup_logging()
        runtime = _load_site(site, lang)
        register_alert_templates(runtime)
        ep = endpoints()
        try:
            asyncio.run(run_notify(runtime.config, ep.postgres_dsn, ep.redis_url))
        except ValueError as exc:  # an IOC_NOTIFY_* setting out of range
            raise _fail(str(exc), lang) from exc
        return
    if name not in WORKERS:
        names = ", ".join((*WORKERS, "notify"))
        raise _fail(i18n.t("cli.worker.unknown", lang, name=name, names=names), lang)
    runtime = _load_site(site, lang)
    ep = endpoints()
    try:
        tick_s = float(os.environ.get("IOC_TICK_INTERVAL_S", "5"))
        if not 0.1 <= tick_s <= 3600:
            raise ValueError(tick_s)
    except ValueError:
        raise _fail(i18n.t("cli.worker.tick", lang, value=os.environ.get("IOC_TICK_INTERVAL_S", "")), lang) from None
    try:
        maintenance_s = float(os.environ.get("IOC_MAINTENANCE_INTERVAL_S", "30"))
        if not 0.1 <= maintenance_s <= 3600:
            raise ValueError(maintenance_s)
    except ValueError:
        raw = os.environ.get("IOC_MAINTENANCE_INTERVAL_S", "")
        raise _fail(i18n.t("cli.worker.maintenance", lang, value=raw), lang) from None
    try:
        lag = LagSettings.from_env(os.environ, port=metrics_port, lang=lang)
    except ValueError as exc:
        raise _fail(str(exc), lang) from exc
    settings = FaustSettings(kafka_bootstrap=ep.kafka_bootstrap, kafka_auth=ep.kafka_auth, lag=lag,
                             database_url=ep.postgres_dsn,
                             redis_url=ep.redis_url, alerts=runtime.alerts, tick_interval_s=tick_s,
                             maintenance_interval_s=maintenance_s,
                             notify=OutboxPlanner(Planner.from_site(runtime.config)) if name == "writer" else None)
    faust_app = build_app(name, settings)
    try:
        ensure_topics(ep.kafka_bootstrap, auth=ep.kafka_auth, compacted=changelog_topics(faust_app))
    except IocError as exc:
        raise _fail(str(exc), lang) from exc
    sys.argv = [sys.argv[0], "worker"]
    run_worker(faust_app, loglevel=os.environ.get("IOC_LOG_LEVEL", "info").lower())


@app.command()
def ingest(
    source: Annotated[str, typer.Argument(help="mqtt | camera")],
    site: SiteOpt = None,
    lang: LangOpt = "vi",
    client_id: Annotated[str, typer.Option(help="MQTT client id (one per running ingest process)")] = "ioc-ingest-mqtt",
    camera: Annotated[list[str] | None, typer.Option(help="camera id to run (repeat; default: all)")] = None,
) -> None:
    """Take in data from outside, validate it and produce events to Kafka (bad input goes to the dead letters)."""
    _setup_logging()
    if source not in ("mqtt", "camera"):
        raise _fail(i18n.t("cli.ingest.unknown", lang, name=source, names="mqtt, camera"), lang)
    from ioc.runtime.kafka import EventProducer, ensure_topics
    from ioc.services.manager import endpoints

    runtime = _load_site(site, lang)
    ep = endpoints()
    try:
        ensure_topics(ep.kafka_bootstrap, auth=ep.kafka_auth)
        producer = EventProducer(ep.kafka_bootstrap, auth=ep.kafka_auth,
                                 client_id=client_id if source == "mqtt" else "ioc-ingest-camera")
    except IocError as exc:
        raise _fail(str(exc), lang) from exc
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if source == "camera":
        _ingest_cameras(runtime, producer, set(camera) if camera else None, stop, lang)
        return
    from ingest.dedup import DedupEmit
    from ingest.mqtt import FloodMessageHandler, MqttIngest

    # A station that re-sends a reading (QoS 1 redelivery, a retry) is dropped here rather than on the bus.
    handler = FloodMessageHandler(runtime.topics, runtime.limits, DedupEmit(producer.send))
    mqtt_ingest = MqttIngest(ep.mqtt_host, ep.mqtt_port, handler, subscription=runtime.topics.subscription,
                             client_id=client_id,
                             username=ep.mqtt_username, password=ep.mqtt_password, tls=ep.mqtt_tls,
                             confirm=producer.flush)
    console.print(i18n.t("cli.ingest.listening", lang, host=ep.mqtt_host, port=ep.mqtt_port,
                         topic=runtime.topics.subscription, kafka=ep.kafka_bootstrap), highlight=False)
    mqtt_ingest.start()
    try:
        while not stop.wait(5.0):
            logger.info("ingest mqtt: %s, %d failed", handler.counts, mqtt_ingest.failed)
    finally:
        mqtt_ingest.stop()
        producer.close()


def _ingest_cameras(runtime, producer, only: set[str] | None, stop: threading.Event, lang: str) -> None:  # type: ignore[no-untyped-def]
    from ingest.camera_runtime import build_cameras
    from ioc.runtime.demo import cache_dir

    unknown = (only or set()) - {c.id for c in runtime.config.cameras}
    if unknown:
        raise _fail(i18n.t("cli.camera.unknown", lang, names=", ".join(sorted(unknown))), lang)
    try:
        cams = build_cameras(runtime, producer.send, cache_dir(), only=only)
    except IocError as exc:
        raise _fail(str(exc), lang) from exc
    console.print(i18n.t("cli.camera.running", lang, n=len(cams.fleet.workers)), highlight=False)
    cams.start()
    try:
        while not stop.wait(10.0):
            for w in cams.fleet.workers:
                logger.info("camera %s: %s %s", w.settings.camera_id, w.health.status.value, w.counters)
    finally:
        cams.stop()
        producer.close()


@app.command()
def dashboard(
    site: SiteOpt = None,
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8050,
    lang: LangOpt = "vi",
) -> None:
    """Serve the wall display from PostgreSQL and Redis (distributed mode)."""
    _setup_logging()
    from psycopg_pool import ConnectionPool

    from dashboards.app import create_app
    from dashboards.auth import AuthStore
    from dashboards.data import PostgresWallData
    from dashboards.server import serve
    from dashboards.settings import WallSettings
    from dashboards.throttle import LoginThrottle
    from ioc.notify.ratelimit import RedisRateLimiter
    from ioc.services.manager import endpoints
    from ioc.store.live import RedisLiveStore

    runtime = _load_site(site, lang)
    ep = endpoints()
    secret_key = os.environ.get("IOC_SECRET_KEY")
    if not secret_key:
        raise _fail("IOC_SECRET_KEY is not set / chưa đặt IOC_SECRET_KEY", lang)
    try:
        settings = WallSettings.from_env()
    except IocError as exc:
        raise _fail(str(exc), lang) from exc
    pool = ConnectionPool(ep.postgres_dsn, min_size=1, max_size=8, open=True)
    data = PostgresWallData(pool, RedisLiveStore(ep.redis_url), runtime.config)
    # Sign-in failures are counted in Redis, so every dashboard process shares one count.
    throttle = LoginThrottle(RedisRateLimiter.from_url(ep.redis_url, prefix="ioc:wall:rl:"))
    dash_app = create_app(data, runtime.config, auth=AuthStore(pool), secret_key=secret_key,
                          lang=i18n.normalise_lang(lang), site_dir=runtime.directory, settings=settings,
                          throttle=throttle)
    serve(dash_app, host, port, settings)


@db_app.command("migrate")
def db_migrate(
    database_url: Annotated[str | None, typer.Option(envvar="IOC_DATABASE_URL", help="PostgreSQL URL")] = None,
    timescale: Annotated[str, typer.Option(envvar="IOC_TIMESCALE", help="auto | on | off")] = "auto",
    lang: LangOpt = "vi",
) -> None:
    """Apply the numbered SQL migrations (TimescaleDB features when the extension is present)."""
    _setup_logging("WARNING")
    from ioc.services.manager import endpoints
    from ioc.store.migrate import migrate

    if timescale not in ("auto", "on", "off"):
        raise _fail(f"--timescale must be auto, on or off, not {timescale!r}", lang)
    try:
        report = migrate(database_url or endpoints().postgres_owner_dsn, timescale=timescale)  # type: ignore[arg-type]
    except IocError as exc:
        raise _fail(str(exc), lang) from exc
    console.print(i18n.t("cli.migrate.done", lang, flavor=report.flavor, n=len(report.applied),
                         already=report.already), highlight=False)


@db_app.command("status")
def db_status(
    database_url: Annotated[str | None, typer.Option(envvar="IOC_DATABASE_URL", help="PostgreSQL URL")] = None,
    lang: LangOpt = "vi",
) -> None:
    """Show each policy's last run, last success, failures and next start, or 'plain PostgreSQL'."""
    _setup_logging("WARNING")
    from rich.table import Table

    from ioc.events import utcnow
    from ioc.services.manager import endpoints
    from ioc.store.jobs import status_of

    try:
        status = status_of(database_url or endpoints().postgres_dsn)
    except IocError as exc:
        raise _fail(str(exc), lang) from exc
    out = Console(width=max(Console().width, 150))
    if status.flavor == "plain":
        out.print(i18n.t("cli.db.plain", lang), highlight=False)
        return
    now = utcnow()

    def when(value: object) -> str:
        never = i18n.t("cli.db.never", lang)
        return value.strftime("%m-%d %H:%M:%S") if hasattr(value, "strftime") else never

    table = Table(title=i18n.t("cli.db.title", lang))
    for key in ("job", "target", "every", "last_run", "last_success", "status", "failures", "next"):
        table.add_column(i18n.t(f"cli.db.col.{key}", lang))
    for j in status.jobs:
        table.add_row(f"{j.job_id} {j.proc_name.removeprefix('policy_')}", j.target or "-",
                      str(j.schedule_interval),
                      when(j.last_run_started_at), when(j.last_successful_finish), j.last_run_status or "-",
                      f"{j.total_failures}/{j.total_runs}", when(j.next_start))
    out.print(table)
    failing = status.failing(now)
    if failing:
        error = next((j.last_error for j in failing if j.last_error), "-")
        ids = ", ".join(str(j.job_id) for j in failing)
        out.print(i18n.t("cli.db.failing", lang, n=len(failing), ids=ids, error=error), style="bold yellow",
                  highlight=False)
    else:
        out.print(i18n.t("cli.db.ok", lang), highlight=False)


@topics_app.command("create")
def topics_create(lang: LangOpt = "vi") -> None:
    """Create every Kafka topic with its declared partition count (workers also do this at start)."""
    from ioc.runtime.kafka import ensure_topics
    from ioc.services.manager import endpoints

    try:
        ep = endpoints()
        created = ensure_topics(ep.kafka_bootstrap, auth=ep.kafka_auth)
    except IocError as exc:
        raise _fail(str(exc), lang) from exc
    console.print(i18n.t("cli.topics.created", lang, names=", ".join(created) or "-"), highlight=False)


@users_app.command("add")
def users_add(
    username: str,
    role: Annotated[str, typer.Option(help="operator | leader | admin")] = "operator",
    password: Annotated[str | None, typer.Option(envvar="IOC_NEW_USER_PASSWORD", help="default: generated")] = None,
    kiosk: Annotated[bool, typer.Option(help="the wall display account: long session, no idle timeout")] = False,
    database_url: Annotated[str | None, typer.Option(envvar="IOC_DATABASE_URL", help="PostgreSQL URL")] = None,
    lang: LangOpt = "vi",
) -> None:
    """Create a dashboard account or reset its password (ending its sessions)."""
    password = password or secrets.token_urlsafe(12)
    try:
        with _auth_store(database_url) as auth:
            auth.ensure_user(username, password, role, kiosk=kiosk)  # type: ignore[arg-type]
    except ValueError as exc:
        raise _fail(str(exc), lang) from exc
    console.print(i18n.t("cli.user.saved", lang, user=username, role=role), highlight=False)
    if kiosk:
        console.print(i18n.t("cli.user.kiosk", lang, user=username), highlight=False)
    console.print(i18n.t("cli.demo.login", lang, user=username, password=password), highlight=False)


@users_app.command("disable")
def users_disable(
    username: str,
    database_url: Annotated[str | None, typer.Option(envvar="IOC_DATABASE_URL", help="PostgreSQL URL")] = None,
    lang: LangOpt = "vi",
) -> None:
    """Lock an account out and end every session of it (the kiosk's too)."""
    with _auth_store(database_url) as auth:
        if not auth.set_disabled(username, True):
            raise _fail(i18n.t("cli.user.unknown", lang, user=username), lang)
    console.print(i18n.t("cli.user.disabled", lang, user=username), highlight=False)


@users_app.command("enable")
def users_enable(
    username: str,
    database_url: Annotated[str | None, typer.Option(envvar="IOC_DATABASE_URL", help="PostgreSQL URL")] = None,
    lang: LangOpt = "vi",
) -> None:
    """Let a disabled account sign in again."""
    with _auth_store(database_url) as auth:
        if not auth.set_disabled(username, False):
            raise _fail(i18n.t("cli.user.unknown", lang, user=username), lang)
    console.print(i18n.t("cli.user.enabled", lang, user=username), highlight=False)


@users_app.command("delete")
def users_delete(
    username: str,
    database_url: Annotated[str | None, typer.Option(envvar="IOC_DATABASE_URL", help="PostgreSQL URL")] = None,
    lang: LangOpt = "vi",
) -> None:
    """Delete an account; its sessions go with it (the audit log keeps its name)."""
    with _auth_store(database_url) as auth:
        if not auth.delete_user(username):
            raise _fail(i18n.t("cli.user.unknown", lang, user=username), lang)
    console.print(i18n.t("cli.user.deleted", lang, user=username), highlight=False)


@users_app.command("revoke")
def users_revoke(
    username: str,
    kiosk_only: Annotated[bool, typer.Option(help="end only the wall display's long session")] = False,
    database_url: Annotated[str | None, typer.Option(envvar="IOC_DATABASE_URL", help="PostgreSQL URL")] = None,
    lang: LangOpt = "vi",
) -> None:
    """End a user's sessions now (every wall process notices within 5 s); the account stays."""
    with _auth_store(database_url) as auth:
        n = auth.revoke_sessions(username, ("kiosk",) if kiosk_only else ("interactive", "kiosk"))
    console.print(i18n.t("cli.user.revoked", lang, user=username, n=n), highlight=False)


@contextlib.contextmanager
def _auth_store(database_url: str | None) -> Iterator[Any]:
    """An AuthStore on its own one-connection pool."""
    from psycopg_pool import ConnectionPool

    from dashboards.auth import AuthStore
    from ioc.services.manager import endpoints

    with ConnectionPool(database_url or endpoints().postgres_dsn, min_size=1, max_size=1) as pool:
        yield AuthStore(pool)


@sim_app.command("flood")
def sim_flood(
    site: SiteOpt = None,
    lang: LangOpt = "vi",
    duration: Annotated[float | None, typer.Option(help="seconds to run (default: forever)")] = None,
) -> None:
    """Publish the site's simulated flood stations to MQTT, like real stations would."""
    _setup_logging()
    from ioc.runtime.demo import publish_simulation_mqtt
    from ioc.services.manager import endpoints

    runtime = _load_site(site, lang)
    ep = endpoints()
    console.print(i18n.t("cli.sim.publishing", lang, n=len(runtime.config.simulation.stations), host=ep.mqtt_host,
                         port=ep.mqtt_port), highlight=False)
    publish_simulation_mqtt(runtime, ep.mqtt_host, ep.mqtt_port, duration=duration,
                            username=ep.mqtt_username, password=ep.mqtt_password)


@app.command()
def bench(
    what: Annotated[str, typer.Argument(help="ingest | vision | alerts | dashboard | delivery | soak | fuzz")],
    readings: Annotated[int, typer.Option(help="ingest: readings to push through")] = 20_000,
    stations: Annotated[int, typer.Option(help="ingest, dashboard: simulated stations")] = 50,
    seconds: Annotated[float | None, typer.Option(help="vision: seconds per camera trial [20]")] = None,
    cameras: Annotated[int, typer.Option(help="vision: cameras at once (0: search around the estimate)")] = 0,
    source_fps: Annotated[float | None, typer.Option(help="vision: frames/s the cameras send [25]")] = None,
    quick: Annotated[bool, typer.Option(help="vision: tiny clips and one short trial (smoke test)")] = False,
    probes: Annotated[int, typer.Option(help="alerts: alert transitions to time")] = 100,
    load: Annotated[float, typer.Option(help="alerts: background readings per second")] = 500.0,
    days: Annotated[int, typer.Option(help="dashboard: days of history (4 metrics per station)")] = 90,
    calls: Annotated[int, typer.Option(help="dashboard: timed calls of each data callback")] = 200,
    renders: Annotated[int, typer.Option(help="dashboard: timed page loads in Chromium")] = 10,
    flavour: Annotated[str, typer.Option(help="dashboard: fresh database as plain | timescale")] = "plain",
    database: Annotated[str | None, typer.Option(help="dashboard: time a kept database again, no load")] = None,
    keep: Annotated[bool, typer.Option(help="dashboard: keep the loaded database and print its name")] = False,
    alerts: Annotated[int, typer.Option(help="delivery: alerts to open")] = 200,
    officers: Annotated[int, typer.Option(help="delivery: officers on duty for each alert (1-5)")] = 3,
    rate: Annotated[float, typer.Option(help="delivery: alerts per second")] = 50.0,
    senders: Annotated[int, typer.Option(help="delivery: 'ioc worker notify' processes")] = 1,
    minutes: Annotated[float, typer.Option(help="soak: minutes of district day under faults")] = 15.0,
    cases: Annotated[int, typer.Option(help="fuzz: generated inputs per parser")] = 10_000,
    seed: Annotated[int, typer.Option(help="fuzz: Hypothesis seed (the same seed, the same inputs)")] = 12,
    lang: LangOpt = "vi",
) -> None:
    """Measure a pipeline against the raw limit in the same run and print both."""
    _setup_logging("WARNING")
    names = ("ingest", "vision", "alerts", "dashboard", "delivery", "soak", "fuzz")
    if what not in names:
        raise _fail(i18n.t("cli.bench.unknown", lang, name=what, names=", ".join(names)), lang)
    try:
        if what == "dashboard":
            from ioc.bench.dashboard import run_dashboard_bench

            if flavour not in ("plain", "timescale"):
                raise _fail(i18n.t("cli.bench.flavour", lang, flavour=flavour), lang)
            run_dashboard_bench(days=days, stations=stations, calls=calls, renders=renders, lang=lang,
                                flavour="timescale" if flavour == "timescale" else "plain", database=database,
                                keep=keep, report=lambda m: console.print(m, highlight=False)).print(console, lang)
            return
        if what == "delivery":
            from ioc.bench.delivery import run_delivery_bench

            asyncio.run(run_delivery_bench(alerts=alerts, officers=officers, rate=rate,
                                           senders=senders)).print(console, lang)
            return
        if what == "soak":
            from ioc.bench.soak import run_soak

            soak = run_soak(minutes, lang=lang, report=lambda m: console.print(m, highlight=False))
            soak.print(Console(), lang)
            if not soak.ok:
                raise typer.Exit(1)
            return
        if what == "fuzz":
            try:
                from ioc.bench.fuzz import run_fuzz
            except ModuleNotFoundError as exc:  # Hypothesis comes with the test extra only
                raise _fail(i18n.t("cli.bench.fuzz_needs_hypothesis", lang), lang) from exc
            fuzz = run_fuzz(cases, seed, report=lambda m: console.print(m, highlight=False))
            fuzz.print(console, lang)
            if fuzz.failed:
                raise typer.Exit(1)
            return
        if what == "alerts":
            from ioc.bench.alerts import run_alert_bench

            run_alert_bench(probes=probes, background_rate=load).print(console, lang)
            return
        if what == "vision":
            from ioc.bench.vision import VisionBenchSettings, run_vision_bench

            settings = VisionBenchSettings.choose(quick=quick, seconds=seconds, cameras=cameras,
                                                  source_fps=source_fps)
            vision = run_vision_bench(settings, report=lambda m: console.print(m, highlight=False), lang=lang)
            vision.print(console, lang)
            return
        from ioc.bench.ingest import run_ingest_bench

        result = asyncio.run(run_ingest_bench(readings=readings, stations=stations))
    except IocError as exc:
        raise _fail(str(exc), lang) from exc
    result.print(console, lang)


def main() -> None:
    """Run the ``ioc`` command line."""
    app()
