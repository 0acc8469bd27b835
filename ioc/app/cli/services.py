"""``ioc services up|down|status``: the development services from the command line, Vietnamese or English."""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ioc.app.cli.common import begin, h, settings
from ioc.errors import ServiceError

if TYPE_CHECKING:
    from ioc.app.services.manager import ServiceStatus
    from ioc.app.services.settings import Settings as ServicesSettings

logger = logging.getLogger(__name__)


class Lang(enum.StrEnum):
    """Language of the messages."""

    vi = "vi"
    en = "en"


# Every user-facing string, Vietnamese beside English.
TEXT: dict[str, dict[Lang, str]] = {
    "title": {Lang.vi: "Dịch vụ phát triển", Lang.en: "Development services"},
    "col_service": {Lang.vi: "Dịch vụ", Lang.en: "Service"},
    "col_state": {Lang.vi: "Trạng thái", Lang.en: "State"},
    "col_endpoint": {Lang.vi: "Địa chỉ", Lang.en: "Endpoint"},
    "col_pid": {Lang.vi: "PID", Lang.en: "PID"},
    "col_ours": {Lang.vi: "Do ioc khởi động", Lang.en: "Started by us"},
    "col_timescaledb": {Lang.vi: "TimescaleDB", Lang.en: "TimescaleDB"},
    "state_running": {Lang.vi: "đang chạy", Lang.en: "running"},
    "state_unhealthy": {Lang.vi: "không phản hồi", Lang.en: "not answering"},
    "state_stopped": {Lang.vi: "đã dừng", Lang.en: "stopped"},
    "yes": {Lang.vi: "có", Lang.en: "yes"},
    "no": {Lang.vi: "không", Lang.en: "no"},
    "error": {Lang.vi: "Lỗi", Lang.en: "Error"},
    "ev_reused": {Lang.vi: "đã chạy sẵn, dùng lại", Lang.en: "already running, reused"},
    "ev_resolving": {
        Lang.vi: "đang tải các thư viện Kafka bằng Maven (lần đầu mất khoảng 15 giây)…",
        Lang.en: "resolving the Kafka jars with Maven (about 15 s the first time)…",
    },
    "ev_initialising": {Lang.vi: "đang khởi tạo dữ liệu lần đầu…", Lang.en: "initialising its data…"},
    "ev_relocated": {
        Lang.vi: "dữ liệu đặt trong /var/tmp vì tài khoản postgres không vào được thư mục cache",
        Lang.en: "data kept under /var/tmp because the postgres account cannot enter the cache directory",
    },
    "ev_tsdb_extracting": {
        Lang.vi: "TimescaleDB: chưa có bản dựng trong cache, đang giải nén mã nguồn",
        Lang.en: "TimescaleDB: no build in the cache yet, unpacking the source",
    },
    "ev_tsdb_downloading": {
        Lang.vi: "TimescaleDB: đang tải mã nguồn",
        Lang.en: "TimescaleDB: downloading the source",
    },
    "ev_tsdb_configure": {
        Lang.vi: "TimescaleDB: cấu hình bằng CMake…",
        Lang.en: "TimescaleDB: configuring with CMake…",
    },
    "ev_tsdb_compile": {
        Lang.vi: "TimescaleDB: đang biên dịch (chỉ lần đầu, khoảng 5 phút với 2 nhân)…",
        Lang.en: "TimescaleDB: compiling (once only, about 5 minutes on 2 cores)…",
    },
    "ev_tsdb_percent": {Lang.vi: "TimescaleDB: đã biên dịch", Lang.en: "TimescaleDB: compiled"},
    "ev_tsdb_install": {
        Lang.vi: "TimescaleDB: cài vào cache…",
        Lang.en: "TimescaleDB: installing into the cache…",
    },
    "ev_tsdb_built": {Lang.vi: "TimescaleDB: đã dựng xong, giây:", Lang.en: "TimescaleDB: built, seconds:"},
    "ev_locking": {
        Lang.vi: "đang chạy mà không cần mật khẩu (khởi động bởi phiên bản cũ): khởi động lại với mật khẩu…",
        Lang.en: "running without credentials (started by an older version): restarting it with credentials…",
    },
    "acl_written": {
        Lang.vi: "Đã ghi {passwd} ({n} người dùng, chỉ có mã băm), {acl} và mật khẩu trong {env} (chế độ 0600)",
        Lang.en: "Wrote {passwd} ({n} users, hashes only), {acl} and the passwords in {env} (mode 0600)",
    },
    "ev_starting": {Lang.vi: "đang khởi động…", Lang.en: "starting…"},
    "ev_ready": {Lang.vi: "sẵn sàng", Lang.en: "ready"},
    "help_app": {
        Lang.vi: "Kafka, PostgreSQL, Redis và Mosquitto trên 127.0.0.1 cho phát triển và kiểm thử.",
        Lang.en: "Kafka, PostgreSQL, Redis and Mosquitto on 127.0.0.1 for development and tests.",
    },
}


def t(key: str, lang: Lang) -> str:
    """The message ``key`` in ``lang``."""
    return TEXT[key][lang]


app = typer.Typer(no_args_is_help=True, help=f"{t('help_app', Lang.vi)} / {t('help_app', Lang.en)}")
app.callback()(begin)
console = Console()
errors = Console(stderr=True)

NamesArg = Annotated[
    list[str] | None,
    typer.Argument(
        help=h("kafka, postgres, redis, mosquitto (mặc định: tất cả", "default: all)"), show_default=False
    ),
]
LangOpt = Annotated[Lang, typer.Option("--lang", envvar="IOC_LANG", help=h("Ngôn ngữ", "language"))]


def _table(rows: list[ServiceStatus], lang: Lang) -> Table:
    table = Table(title=t("title", lang))
    for key in ("col_service", "col_state", "col_endpoint", "col_pid", "col_ours", "col_timescaledb"):
        # Endpoints are copied into other commands: fold them on a narrow terminal rather than cut them.
        table.add_column(t(key, lang), overflow="fold" if key == "col_endpoint" else "ellipsis")
    colour = {"running": "green", "unhealthy": "yellow", "stopped": "red"}
    for row in rows:
        timescaledb = "" if row.timescaledb is None else t("yes" if row.timescaledb else "no", lang)
        table.add_row(
            row.name,
            f"[{colour[row.state]}]{t('state_' + row.state, lang)}[/]",
            row.endpoint,
            "" if row.pid is None else str(row.pid),
            t("yes" if row.started_by_us else "no", lang),
            timescaledb,
        )
    return table


def _run(action: Callable[[], list[ServiceStatus]], lang: Lang) -> None:
    try:
        rows = action()
    except ServiceError as exc:
        # Escaped: the message quotes log lines such as "[2026-01-01 10:00:00] INFO ...", not rich markup.
        errors.print(f"[bold red]{t('error', lang)}:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    console.print(_table(rows, lang))


def _services_settings() -> ServicesSettings:
    # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
    from ioc.app.services.settings import Settings as ServicesSettings

    return ServicesSettings.from_env(settings().env)


@app.command(
    help=h(
        "Khởi động các dịch vụ và chờ chúng sẵn sàng.",
        "Start the services and wait until they answer.",
    )
)
def up(names: NamesArg = None, lang: LangOpt = Lang.vi) -> None:
    """Khởi động các dịch vụ và chờ chúng sẵn sàng / start the services and wait until they answer."""

    def progress(service: str, event: str) -> None:
        key, _, detail = event.partition(" ")
        console.print(
            f"{service}: {t('ev_' + key, lang)} {detail}".rstrip(),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    from ioc.app.services import manager  # lazy: the services' clients are not needed for --help

    _run(lambda: manager.up(names, settings=_services_settings(), progress=progress), lang)


@app.command(help=h("Dừng các dịch vụ do ioc khởi động.", "Stop the services this project started."))
def down(names: NamesArg = None, lang: LangOpt = Lang.vi) -> None:
    """Dừng các dịch vụ do ioc khởi động / stop the services this project started."""
    from ioc.app.services import manager  # lazy: the services' clients are not needed for --help

    _run(lambda: manager.down(names, settings=_services_settings()), lang)


@app.command(help=h("Xem trạng thái các dịch vụ.", "Show whether each service answers."))
def status(names: NamesArg = None, lang: LangOpt = Lang.vi) -> None:
    """Xem trạng thái các dịch vụ / show whether each service answers."""
    from ioc.app.services import manager  # lazy: the services' clients are not needed for --help

    _run(lambda: manager.status(names, settings=_services_settings()), lang)


@app.command(
    "mqtt-acl",
    help=h(
        "Tạo người dùng và ACL Mosquitto từ stations.yaml.",
        "Mosquitto users and per-station ACLs from stations.yaml.",
    ),
)
def mqtt_acl_command(
    out: Annotated[
        Path, typer.Option("--out", help=h("thư mục ghi passwd, acl, mqtt-users.env", "output directory"))
    ] = Path("deploy/mosquitto"),
    site: Annotated[
        Path | None,
        typer.Option("--site", envvar="IOC_SITE", help=h("thư mục cấu hình trạm", "site directory")),
    ] = None,
    lang: LangOpt = Lang.vi,
) -> None:
    """Tạo người dùng và ACL Mosquitto từ stations.yaml / Mosquitto users and per-station ACLs from stations.yaml.

    The ingest user reads every topic, ChirpStack writes its uplinks, each station (user = its id) writes only its
    own topic. Passwords already in ``mqtt-users.env`` are kept; new users get new ones.
    """
    # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
    from ingest.flood import FloodTopics
    from ioc.app.services import mqtt_acl
    from ioc.app.services.credentials import new_password, write_private
    from ioc.config.loader import default_site_path, load_site
    from ioc.errors import ConfigError

    try:
        config = load_site(site or default_site_path(settings().site))
    except ConfigError as exc:
        errors.print(f"[bold red]{t('error', lang)}:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    stations = [st.id for st in config.flood_stations]
    out.mkdir(parents=True, exist_ok=True)
    env_path = out / "mqtt-users.env"
    known = _read_users(env_path)
    passwords = {user: known.get(user) or new_password() for user in mqtt_acl.users(stations, dev=False)}
    topics = FloodTopics(site_id=config.site.id)
    write_private(out / "passwd", mqtt_acl.passwd_text(passwords))
    (out / "acl").write_text(mqtt_acl.acl_text(topics, stations, dev=False))
    lines = [
        "# MQTT users of the broker: user=password. Give each station its own line; keep this file secret.",
        *(f"{user}={pw}" for user, pw in passwords.items()),
        "",
    ]
    write_private(env_path, "\n".join(lines))
    console.print(
        t("acl_written", lang).format(passwd=out / "passwd", n=len(passwords), acl=out / "acl", env=env_path),
        highlight=False,
    )


def _read_users(path: Path) -> dict[str, str]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    return {user.strip(): pw.strip() for user, pw in pairs}


if __name__ == "__main__":
    app()
