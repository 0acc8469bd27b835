"""The ``ioc`` command line: one subcommand for every process of the platform.

Only this module (the entry point) configures logging. Messages are Vietnamese by default; ``IOC_LANG=en`` or
``--lang en`` switches to English.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from ioc import i18n
from ioc.app.cli import bench, config, ingest, kpi, lag, models, notify, reports, services, vision
from ioc.app.cli.common import (
    DatabaseUrlOpt,
    LangOpt,
    SiteOpt,
    console,
    fail,
    h,
    load_site,
    settings,
    setup_logging,
    start,
)
from ioc.errors import IocError

if TYPE_CHECKING:
    from ioc.config.models import SiteConfig
    from ioc.notify.channels.zalo import ZaloZnsAdapter

logger = logging.getLogger(__name__)

i18n.register(
    {
        "cli.demo.ready": ("Màn hình tường đã sẵn sàng: {url}", "Wall display ready: {url}"),
        "cli.demo.login": (
            "Đăng nhập: tài khoản {user}, mật khẩu {password}",
            "Login: user {user}, password {password}",
        ),
        "cli.demo.stop": ("Nhấn Ctrl+C để dừng.", "Press Ctrl+C to stop."),
        "cli.demo.box": ("{text}", "{text}"),  # the three lines above, framed, printed once the wall answers
        "cli.demo.cameras": ("Đang phân tích {n} camera", "Analysing {n} cameras"),
        "cli.demo.camera_skipped": ("Bỏ qua camera {camera}: {reason}", "Camera {camera} skipped: {reason}"),
        "cli.demo.starting_db": (
            "Đang khởi động PostgreSQL nhúng tại {path} ...",
            "Starting embedded PostgreSQL at {path} ...",
        ),
        "cli.demo.no_sim": (
            "Cấu hình không có trạm mô phỏng nào (simulation.stations).",
            "The configuration has no simulated stations (simulation.stations).",
        ),
        "cli.migrate.done": (
            "Cơ sở dữ liệu ({flavor}): áp dụng {n} bản di chuyển, {already} đã có.",
            "Database ({flavor}): {n} migrations applied, {already} already there.",
        ),
        "cli.worker.unknown": (
            "Không có tiến trình xử lý '{name}'. Chọn một trong: {names}",
            "No worker named '{name}'. Choose one of: {names}",
        ),
        "cli.db.plain": (
            "PostgreSQL thuần (không có TimescaleDB): không có tác vụ nền; bảng tổng hợp được "
            "cập nhật ngay khi ghi.",
            "plain PostgreSQL (no TimescaleDB): no background jobs; the rollup tables are "
            "updated in each write.",
        ),
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
        "cli.db.failing": (
            "{n} chính sách đang lỗi hoặc trễ: {ids}. Bộ ghi chạy chúng ở tiền cảnh "
            "(CALL run_job); lỗi gần nhất: {error}",
            "{n} policies failing or overdue: {ids}. The writer runs them in the foreground "
            "(CALL run_job); last error: {error}",
        ),
        "cli.user.saved": ("Đã lưu tài khoản {user} (vai trò {role}).", "Saved user {user} (role {role})."),
        "cli.user.kiosk": (
            "{user} là tài khoản màn hình (phiên dài, thu hồi bằng: ioc users revoke {user}).",
            "{user} is the wall display account (long session; revoke: ioc users revoke {user}).",
        ),
        "cli.user.unknown": ("Không có tài khoản {user}.", "No user named {user}."),
        "cli.user.disabled": (
            "Đã khoá {user}; mọi phiên của tài khoản đã kết thúc.",
            "Disabled {user}; every session of theirs has ended.",
        ),
        "cli.user.enabled": ("Đã mở khoá {user}.", "Enabled {user}."),
        "cli.user.deleted": (
            "Đã xoá {user} và mọi phiên của tài khoản.",
            "Deleted {user} and every session of theirs.",
        ),
        "cli.user.revoked": ("Đã thu hồi {n} phiên của {user}.", "Revoked {n} session(s) of {user}."),
        "cli.sim.publishing": (
            "Đang phát dữ liệu mô phỏng của {n} trạm tới MQTT {host}:{port}",
            "Publishing simulated readings of {n} stations to MQTT {host}:{port}",
        ),
        "cli.topics.created": ("Đã tạo chủ đề Kafka: {names}", "Kafka topics created: {names}"),
    }
)

app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
    help=h("ioc: Trung tâm điều hành thông minh", "ioc: Intelligent Operations Center"),
)
db_app = typer.Typer(no_args_is_help=True, help=h("Cơ sở dữ liệu", "Database"))
sim_app = typer.Typer(no_args_is_help=True, help=h("Mô phỏng", "Simulators"))
users_app = typer.Typer(no_args_is_help=True, help=h("Tài khoản màn hình", "Dashboard accounts"))
topics_app = typer.Typer(no_args_is_help=True, help=h("Chủ đề Kafka", "Kafka topics"))
app.add_typer(db_app, name="db")
app.add_typer(sim_app, name="sim")
app.add_typer(users_app, name="users")
app.add_typer(topics_app, name="topics")


@app.callback(
    help=h(
        "Trung tâm điều hành thông minh. Chọn ngôn ngữ bằng --lang hoặc IOC_LANG.",
        "Intelligent Operations Center. Choose the language with --lang or IOC_LANG.",
    )
)
def _root(
    lang: Annotated[
        str,
        typer.Option(
            "--lang",
            envvar="IOC_LANG",
            metavar="vi|en",
            help=h("ngôn ngữ của trợ giúp và thông báo", "language of help and messages"),
        ),
    ] = "vi",
) -> None:
    """Chọn ngôn ngữ một lần cho mọi lệnh con (hoặc IOC_LANG)."""
    start(os.environ)  # the start of this command: the one place the environment is read


def _mount() -> None:
    """Mount the sub-apps; each imports only typer and light modules at the top (fast ``ioc --help``)."""
    app.add_typer(ingest.app, name="ingest")
    app.add_typer(bench.app, name="bench")
    app.add_typer(config.app, name="config", help=h("Cấu hình", "Configuration"))
    app.add_typer(services.app, name="services", help=h("Dịch vụ phát triển", "Development services"))
    app.add_typer(models.app, name="models", help=h("Mô hình nhận dạng", "Detection models"))
    app.add_typer(vision.app, name="vision", help=h("Phân tích hình ảnh camera", "Camera video analysis"))
    app.add_typer(
        kpi.app, name="kpi", help=h("Chỉ tiêu KT-XH, chuyển đổi số", "Socio-economic and digital KPIs")
    )
    app.add_typer(notify.app, name="notify", help=h("Thông báo cán bộ trực", "Duty-officer notifications"))
    app.add_typer(lag.app, name="lag", help=h("Độ trễ của các tiến trình xử lý", "Stream workers' consumer lag"))
    app.add_typer(
        reports.app, name="reports", help=h("Phản ánh hiện trường của người dân", "Citizens' reports")
    )


_mount()


@app.command(
    help=h(
        "Chạy nền tảng nhúng: PostgreSQL nhúng, bus trong tiến trình, huyện mô phỏng, màn hình tường.",
        "Run the embedded platform: embedded PostgreSQL, in-process bus, simulated district, wall display.",
    )
)
def demo(
    site: SiteOpt = None,
    host: Annotated[str, typer.Option(help=h("địa chỉ lắng nghe", "bind address"))] = "127.0.0.1",
    port: Annotated[int, typer.Option(help=h("cổng màn hình tường", "wall display port"))] = 8050,
    lang: LangOpt = "vi",
    backfill_minutes: Annotated[
        int,
        typer.Option(
            help=h("số phút lịch sử mô phỏng nạp khi khởi động", "simulated history to load at start")
        ),
    ] = 120,
    duration: Annotated[
        float | None,
        typer.Option(
            help=h(
                "dừng sau số giây này (mặc định: chạy tới khi Ctrl+C)",
                "stop after this many seconds (default: run until Ctrl+C)",
            )
        ),
    ] = None,
) -> None:
    """Run the embedded platform: embedded PostgreSQL, in-process bus, simulated district, wall display."""
    setup_logging()
    # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
    from ioc.app.runtime.demo import run_demo

    lang = i18n.normalise_lang(lang)
    runtime = load_site(site, lang)
    if not runtime.config.simulation.stations:
        raise fail(i18n.t("cli.demo.no_sim", lang), lang)
    try:
        run_demo(
            runtime,
            settings(),
            host=host,
            port=port,
            lang=lang,
            backfill_minutes=backfill_minutes,
            duration=duration,
            say=lambda key, **kw: console.print(i18n.t(key, lang, **kw), highlight=False),
        )
    except IocError as exc:
        raise fail(str(exc), lang) from exc


@app.command(
    help=h(
        "Chạy một tiến trình xử lý Faust (chạy thêm cùng tên để mở rộng) hoặc tiến trình gửi thông báo.",
        "Run one Faust stream worker (scale by running more of the same name), or the notify "
        "delivery worker.",
    )
)
def worker(
    name: Annotated[
        str, typer.Argument(help=h("flood | alerts | writer | notify", "flood | alerts | writer | notify"))
    ],
    site: SiteOpt = None,
    lang: LangOpt = "vi",
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help=h(
                "phục vụ /metrics và /healthz (độ trễ xử lý) trên cổng loopback này (hoặc IOC_METRICS_PORT)",
                "serve /metrics and /healthz (consumer lag) on this loopback port (or IOC_METRICS_PORT)",
            )
        ),
    ] = None,
) -> None:
    """Run one Faust stream worker (scale by running more of the same name), or the notify delivery worker."""
    # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
    from ioc.app.endpoints import endpoints
    from ioc.app.runtime.faust_app import WORKERS, FaustSettings, build_app, changelog_topics, run_worker
    from ioc.app.runtime.kafka import ensure_topics
    from ioc.app.runtime.lag import LagSettings
    from ioc.notify.outbox import OutboxPlanner
    from ioc.notify.planner import Planner

    if name == "notify":
        import asyncio  # lazy: asyncio is 40 ms of every `ioc --help`

        from ioc.notify.worker import run_notify

        setup_logging()
        runtime = load_site(site, lang)
        runtime.register_alert_templates()
        ep = endpoints(settings())
        try:
            asyncio.run(
                run_notify(
                    runtime.config,
                    ep.postgres_dsn,
                    ep.redis_url,
                    env=settings().env,
                    namespace=ep.kafka_namespace,
                )
            )
        except ValueError as exc:  # an IOC_NOTIFY_* setting out of range
            raise fail(str(exc), lang) from exc
        return
    if name not in WORKERS:
        names = ", ".join((*WORKERS, "notify"))
        raise fail(i18n.t("cli.worker.unknown", lang, name=name, names=names), lang)
    runtime = load_site(site, lang)
    s = settings()
    ep = endpoints(s)
    try:
        lag = LagSettings.from_env(s.env, port=metrics_port, lang=lang)
    except ValueError as exc:
        raise fail(str(exc), lang) from exc
    faust_settings = FaustSettings(
        kafka_bootstrap=ep.kafka_bootstrap,
        kafka_auth=ep.kafka_auth,
        lag=lag,
        kafka_namespace=ep.kafka_namespace,
        database_url=ep.postgres_dsn,
        redis_url=ep.redis_url,
        alerts=runtime.alerts,
        tick_interval_s=s.tick_interval_s,
        maintenance_interval_s=s.maintenance_interval_s,
        notify=OutboxPlanner(Planner.from_site(runtime.config)) if name == "writer" else None,
        site=runtime.config,
    )
    if name == "writer":  # no tables, so no Faust: a plain consumer of the same group (issue 16)
        from ioc.app.runtime.writer import run_writer

        try:
            ensure_topics(ep.kafka_bootstrap, auth=ep.kafka_auth, namespace=ep.kafka_namespace)
        except IocError as exc:
            raise fail(str(exc), lang) from exc
        setup_logging()
        run_writer(faust_settings)
        return
    faust_app = build_app(name, faust_settings)
    try:
        ensure_topics(
            ep.kafka_bootstrap,
            auth=ep.kafka_auth,
            compacted=changelog_topics(faust_app),
            namespace=ep.kafka_namespace,
        )
    except IocError as exc:
        raise fail(str(exc), lang) from exc
    sys.argv = [sys.argv[0], "worker"]
    run_worker(faust_app, loglevel=(s.log_level or "info").lower())


@app.command(
    help=h(
        "Phục vụ màn hình tường từ PostgreSQL và Redis (chế độ phân tán).",
        "Serve the wall display from PostgreSQL and Redis (distributed mode).",
    )
)
def dashboard(
    site: SiteOpt = None,
    host: Annotated[str, typer.Option(help=h("địa chỉ lắng nghe", "bind address"))] = "127.0.0.1",
    port: Annotated[int, typer.Option(help=h("cổng", "port"))] = 8050,
    lang: LangOpt = "vi",
) -> None:
    """Serve the wall display from PostgreSQL and Redis (distributed mode)."""
    setup_logging()
    # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
    from psycopg_pool import ConnectionPool

    from dashboards.app import create_app, use_fast_json
    from dashboards.auth import AuthStore
    from dashboards.data import PostgresWallData
    from dashboards.report_zalo import ZALO_WORKER
    from dashboards.server import serve
    from dashboards.settings import WallSettings
    from dashboards.throttle import LoginThrottle
    from ioc.app.endpoints import endpoints
    from ioc.notify.links import public_url
    from ioc.notify.ratelimit import RedisRateLimiter
    from ioc.store.live import RedisLiveStore

    runtime = load_site(site, lang)
    s = settings()
    ep = endpoints(s)
    secret_key = s.secret_key
    if not secret_key:
        raise fail("IOC_SECRET_KEY is not set / chưa đặt IOC_SECRET_KEY", lang)
    try:
        wall = WallSettings.from_env(s.env)
    except IocError as exc:
        raise fail(str(exc), lang) from exc
    pool = ConnectionPool(ep.postgres_dsn, min_size=1, max_size=8, open=True)
    data = PostgresWallData(pool, RedisLiveStore(ep.redis_url), runtime.config)
    # Sign-in failures are counted in Redis, so every dashboard process shares one count.
    throttle = LoginThrottle(RedisRateLimiter.from_url(ep.redis_url, prefix="ioc:wall:rl:"))
    use_fast_json()  # plotly's process-wide JSON engine: set once as the wall's process starts
    zalo_channel = _zalo_channel(runtime.config, dict(s.env), ep.postgres_dsn, lang)
    dash_app = create_app(
        data,
        runtime.config,
        auth=AuthStore(pool),
        secret_key=secret_key,
        lang=i18n.normalise_lang(lang),
        site_dir=runtime.directory,
        settings=wall,
        throttle=throttle,
        snapshot_root=s.snapshot_dir,
        zalo_channel=zalo_channel,
        public_url=public_url(dict(s.env)),
    )
    zalo_worker = dash_app.server.extensions.get(ZALO_WORKER)
    if zalo_worker is not None:
        zalo_worker.start()  # the OA's events and answers (dashboards.report_zalo), one thread per wall process
    serve(dash_app, host, port, wall)


def _zalo_channel(config: SiteConfig, env: dict[str, str], dsn: str, lang: str) -> ZaloZnsAdapter | None:
    """The zalo_zns channel that reports.zalo names, built with its secrets and the token store; None when the
    site takes no reports through Zalo or the channel's secrets are not set (logged)."""
    # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
    from ioc.notify.channels.registry import build_channels
    from ioc.notify.channels.zalo import ZaloZnsAdapter
    from ioc.notify.tokens import TokenStore

    if config.reports is None or config.reports.zalo is None:
        return None
    wanted = config.reports.zalo.channel
    channel = build_channels(config, env, TokenStore(dsn)).get(wanted)
    if not isinstance(channel, ZaloZnsAdapter):
        raise fail(f"reports.zalo.channel: {wanted!r} is not a zalo_zns channel of channels.yaml", lang)
    if channel.missing:
        # The wall still serves everything else; the OA's webhook is simply not there until the secrets are set.
        logger.warning("reports through Zalo are off: channel %s lacks %s", wanted, ", ".join(channel.missing))
        return None
    return channel


@db_app.command(
    "migrate",
    help=h(
        "Áp dụng các bản di chuyển SQL (tính năng TimescaleDB khi có).",
        "Apply the numbered SQL migrations (TimescaleDB features when the extension is present).",
    ),
)
def db_migrate(
    database_url: Annotated[
        str | None, typer.Option(envvar="IOC_DATABASE_URL", help=h("địa chỉ PostgreSQL", "PostgreSQL URL"))
    ] = None,
    timescale: Annotated[
        str, typer.Option(envvar="IOC_TIMESCALE", help=h("auto | on | off", "auto | on | off"))
    ] = "auto",
    lang: LangOpt = "vi",
) -> None:
    """Apply the numbered SQL migrations (TimescaleDB features when the extension is present)."""
    setup_logging("WARNING")
    # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
    from ioc.app.endpoints import endpoints
    from ioc.store.migrate import migrate

    if timescale not in ("auto", "on", "off"):
        raise fail(f"--timescale must be auto, on or off, not {timescale!r}", lang)
    try:
        report = migrate(database_url or endpoints(settings()).postgres_owner_dsn, timescale=timescale)  # type: ignore[arg-type]
    except IocError as exc:
        raise fail(str(exc), lang) from exc
    console.print(
        i18n.t("cli.migrate.done", lang, flavor=report.flavor, n=len(report.applied), already=report.already),
        highlight=False,
    )


@db_app.command(
    "status",
    help=h(
        "Xem lần chạy, lần thành công, lỗi và lần chạy tới của từng chính sách.",
        "Show each policy's last run, last success, failures and next start, or 'plain PostgreSQL'.",
    ),
)
def db_status(
    database_url: Annotated[
        str | None, typer.Option(envvar="IOC_DATABASE_URL", help=h("địa chỉ PostgreSQL", "PostgreSQL URL"))
    ] = None,
    lang: LangOpt = "vi",
) -> None:
    """Show each policy's last run, last success, failures and next start, or 'plain PostgreSQL'."""
    setup_logging("WARNING")
    # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
    from rich.table import Table

    from ioc.app.endpoints import endpoints
    from ioc.events import utcnow
    from ioc.store.jobs import status_of

    try:
        status = status_of(database_url or endpoints(settings()).postgres_dsn)
    except IocError as exc:
        raise fail(str(exc), lang) from exc
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
        table.add_row(
            f"{j.job_id} {j.proc_name.removeprefix('policy_')}",
            j.target or "-",
            str(j.schedule_interval),
            when(j.last_run_started_at),
            when(j.last_successful_finish),
            j.last_run_status or "-",
            f"{j.total_failures}/{j.total_runs}",
            when(j.next_start),
        )
    out.print(table)
    failing = status.failing(now)
    if failing:
        error = next((j.last_error for j in failing if j.last_error), "-")
        ids = ", ".join(str(j.job_id) for j in failing)
        out.print(
            i18n.t("cli.db.failing", lang, n=len(failing), ids=ids, error=error),
            style="bold yellow",
            highlight=False,
        )
    else:
        out.print(i18n.t("cli.db.ok", lang), highlight=False)


@topics_app.command(
    "create",
    help=h(
        "Tạo mọi chủ đề Kafka với số phân vùng đã khai báo.",
        "Create every Kafka topic with its declared partition count (workers also do this at start).",
    ),
)
def topics_create(lang: LangOpt = "vi") -> None:
    """Create every Kafka topic with its declared partition count (workers also do this at start)."""
    # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
    from ioc.app.endpoints import endpoints
    from ioc.app.runtime.kafka import ensure_topics

    try:
        ep = endpoints(settings())
        created = ensure_topics(ep.kafka_bootstrap, auth=ep.kafka_auth, namespace=ep.kafka_namespace)
    except IocError as exc:
        raise fail(str(exc), lang) from exc
    console.print(i18n.t("cli.topics.created", lang, names=", ".join(created) or "-"), highlight=False)


@users_app.command(
    "add",
    help=h(
        "Tạo tài khoản màn hình hoặc đặt lại mật khẩu (kết thúc các phiên).",
        "Create a dashboard account or reset its password (ending its sessions).",
    ),
)
def users_add(
    username: str,
    role: Annotated[
        str, typer.Option(help=h("operator | leader | admin", "operator | leader | admin"))
    ] = "operator",
    password: Annotated[
        str | None,
        typer.Option(
            envvar="IOC_NEW_USER_PASSWORD", help=h("mặc định: sinh ngẫu nhiên", "default: generated")
        ),
    ] = None,
    kiosk: Annotated[
        bool,
        typer.Option(
            help=h(
                "tài khoản màn hình tường: phiên dài, không hết hạn khi rảnh",
                "the wall display account: long session, no idle timeout",
            )
        ),
    ] = False,
    database_url: DatabaseUrlOpt = None,
    lang: LangOpt = "vi",
) -> None:
    """Create a dashboard account or reset its password (ending its sessions)."""
    password = password or secrets.token_urlsafe(12)
    try:
        with _auth_store(database_url) as auth:
            auth.ensure_user(username, password, role, kiosk=kiosk)
    except ValueError as exc:
        raise fail(str(exc), lang) from exc
    console.print(i18n.t("cli.user.saved", lang, user=username, role=role), highlight=False)
    if kiosk:
        console.print(i18n.t("cli.user.kiosk", lang, user=username), highlight=False)
    console.print(i18n.t("cli.demo.login", lang, user=username, password=password), highlight=False)


@users_app.command(
    "disable",
    help=h(
        "Khoá tài khoản và kết thúc mọi phiên của nó.",
        "Lock an account out and end every session of it (the kiosk's too).",
    ),
)
def users_disable(
    username: str,
    database_url: DatabaseUrlOpt = None,
    lang: LangOpt = "vi",
) -> None:
    """Lock an account out and end every session of it (the kiosk's too)."""
    with _auth_store(database_url) as auth:
        if not auth.set_disabled(username, True):
            raise fail(i18n.t("cli.user.unknown", lang, user=username), lang)
    console.print(i18n.t("cli.user.disabled", lang, user=username), highlight=False)


@users_app.command("enable", help=h("Mở khoá tài khoản.", "Let a disabled account sign in again."))
def users_enable(
    username: str,
    database_url: DatabaseUrlOpt = None,
    lang: LangOpt = "vi",
) -> None:
    """Let a disabled account sign in again."""
    with _auth_store(database_url) as auth:
        if not auth.set_disabled(username, False):
            raise fail(i18n.t("cli.user.unknown", lang, user=username), lang)
    console.print(i18n.t("cli.user.enabled", lang, user=username), highlight=False)


@users_app.command(
    "delete",
    help=h(
        "Xoá tài khoản cùng các phiên (nhật ký kiểm toán giữ tên).",
        "Delete an account; its sessions go with it (the audit log keeps its name).",
    ),
)
def users_delete(
    username: str,
    database_url: DatabaseUrlOpt = None,
    lang: LangOpt = "vi",
) -> None:
    """Delete an account; its sessions go with it (the audit log keeps its name)."""
    with _auth_store(database_url) as auth:
        if not auth.delete_user(username):
            raise fail(i18n.t("cli.user.unknown", lang, user=username), lang)
    console.print(i18n.t("cli.user.deleted", lang, user=username), highlight=False)


@users_app.command(
    "revoke",
    help=h(
        "Kết thúc ngay các phiên của người dùng; tài khoản vẫn giữ.",
        "End a user's sessions now (every wall process notices within 5 s); the account stays.",
    ),
)
def users_revoke(
    username: str,
    kiosk_only: Annotated[
        bool,
        typer.Option(
            help=h("chỉ kết thúc phiên dài của màn hình tường", "end only the wall display's long session")
        ),
    ] = False,
    database_url: DatabaseUrlOpt = None,
    lang: LangOpt = "vi",
) -> None:
    """End a user's sessions now (every wall process notices within 5 s); the account stays."""
    with _auth_store(database_url) as auth:
        n = auth.revoke_sessions(username, ("kiosk",) if kiosk_only else ("interactive", "kiosk"))
    console.print(i18n.t("cli.user.revoked", lang, user=username, n=n), highlight=False)


@contextlib.contextmanager
def _auth_store(database_url: str | None) -> Iterator[Any]:
    """An AuthStore on its own one-connection pool."""
    # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
    from psycopg_pool import ConnectionPool

    from dashboards.auth import AuthStore
    from ioc.app.endpoints import endpoints

    with ConnectionPool(database_url or endpoints(settings()).postgres_dsn, min_size=1, max_size=1) as pool:
        yield AuthStore(pool)


@sim_app.command(
    "flood",
    help=h(
        "Phát dữ liệu các trạm mô phỏng lên MQTT như trạm thật.",
        "Publish the site's simulated flood stations to MQTT, like real stations would.",
    ),
)
def sim_flood(
    site: SiteOpt = None,
    lang: LangOpt = "vi",
    duration: Annotated[
        float | None,
        typer.Option(help=h("số giây chạy (mặc định: mãi mãi)", "seconds to run (default: forever)")),
    ] = None,
) -> None:
    """Publish the site's simulated flood stations to MQTT, like real stations would."""
    setup_logging()
    # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
    from ioc.app.endpoints import endpoints
    from ioc.app.runtime.demo import publish_simulation_mqtt

    runtime = load_site(site, lang)
    ep = endpoints(settings())
    console.print(
        i18n.t(
            "cli.sim.publishing",
            lang,
            n=len(runtime.config.simulation.stations),
            host=ep.mqtt_host,
            port=ep.mqtt_port,
        ),
        highlight=False,
    )
    publish_simulation_mqtt(
        runtime,
        ep.mqtt_host,
        ep.mqtt_port,
        duration=duration,
        username=ep.mqtt_username,
        password=ep.mqtt_password,
    )


def main() -> None:
    """Run the ``ioc`` command line."""
    app()
