"""What every ``ioc`` subcommand shares: the console, logging, the error exit and the site loader.

Each command module imports from here, never from another command module, so the command modules form no loop.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from ioc import i18n, log_repeats
from ioc.errors import ConfigError
from ioc.settings import Settings

if TYPE_CHECKING:
    from ioc.app.site import SiteRuntime

console = Console(stderr=True)

i18n.register(
    {
        "cli.error": ("Lỗi: {message}", "Error: {message}"),
        "cli.config.invalid": ("Cấu hình không hợp lệ:", "The configuration is invalid:"),
    }
)

_settings: Settings | None = None


def start(env: Mapping[str, str]) -> Settings:
    """Build the process's settings from its environment, once, at start (the entry point calls this)."""
    global _settings
    _settings = Settings.from_env(env)
    return _settings


def begin() -> None:
    """Group callback: build the settings as the command starts (the one place the environment is read)."""
    start(os.environ)


def settings() -> Settings:
    """Return the settings built at start (built now from the environment if nothing built them yet)."""
    return _settings if _settings is not None else start(os.environ)


def help_lang(argv: list[str] | None = None) -> str:
    """The language of the help text: ``--lang`` on the command line, else ``IOC_LANG``, else Vietnamese.

    Help is written before typer parses anything, so ``--lang`` is looked up in ``sys.argv`` directly.
    """
    args = sys.argv[1:] if argv is None else argv
    for i, arg in enumerate(args):
        value = (
            arg.split("=", 1)[1]
            if arg.startswith("--lang=")
            else args[i + 1]
            if arg == "--lang" and i + 1 < len(args)
            else None
        )
        if value is not None:
            return i18n.normalise_lang(value)
    return settings().lang


def h(vi: str, en: str) -> str:
    """Return a help text in the one language chosen for this process (``help_lang``)."""
    return en if help_lang() == "en" else vi


LangOpt = Annotated[
    str,
    typer.Option(
        "--lang", envvar="IOC_LANG", metavar="vi|en", help=h("ngôn ngữ: vi hoặc en", "language: vi or en")
    ),
]
# No envvar: IOC_DATABASE_URL reaches a command through the start-up Settings (``endpoints(settings())``), the
# one place the environment is read; the option only overrides it for one run.
DatabaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        metavar="URL",
        help=h(
            "địa chỉ PostgreSQL (mặc định: IOC_DATABASE_URL, nếu không thì dịch vụ phát triển)",
            "PostgreSQL URL (default: IOC_DATABASE_URL, else the development service)",
        ),
    ),
]
SiteOpt = Annotated[
    Path | None,
    typer.Option(
        "--site",
        envvar="IOC_SITE",
        metavar="DIR",
        help=h("thư mục cấu hình địa bàn", "site config directory"),
    ),
]


def setup_logging(level: str = "INFO") -> None:
    """Configure logging once for this process (only entry points do this); ``IOC_LOG_LEVEL`` overrides."""
    from rich.logging import RichHandler  # lazy: rich's logging handler is not needed for --help

    root = logging.getLogger()
    if root.handlers:  # configured already (a host such as pytest, or an earlier command): leave it as it is
        return
    handler = RichHandler(console=console, show_path=False, rich_tracebacks=False)
    logging.basicConfig(level=settings().log_level or level.upper(), format="%(name)s: %(message)s",
                        handlers=[handler])
    log_repeats.install()  # a line repeating every second is written once a minute, with a count


def fail(message: str, lang: str) -> typer.Exit:
    """Print an error in the user's language and return the exit to raise."""
    console.print(
        i18n.t("cli.error", lang, message=message),
        style="bold red",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
    return typer.Exit(code=1)


def load_site(site: Path | None, lang: str) -> SiteRuntime:
    """Load and bind the site config, or exit with every problem listed at its file and line."""
    from ioc.app.site import SiteRuntime  # lazy: binding pulls analytics, not needed for --help
    from ioc.config.loader import default_site_path
    from ioc.config.loader import load_site as load_config

    path = site or default_site_path(settings().site)
    try:
        config = load_config(path)
    except ConfigError as exc:
        console.print(f"[bold red]{i18n.t('cli.config.invalid', lang)}[/]")
        for issue in exc.issues:
            console.print(f"  {issue}", soft_wrap=True, highlight=False, markup=False)
        raise typer.Exit(code=1) from exc
    return SiteRuntime.build(config, Path(path) if Path(path).is_dir() else Path(path).parent)
