"""``ioc config ...``: check a site's configuration before starting anything."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from ioc.app.cli.common import begin, h, settings
from ioc.errors import ConfigError

Lang = Literal["vi", "en"]

# The user-facing strings of this command, Vietnamese and English side by side.
MESSAGES: dict[str, dict[Lang, str]] = {
    "issues": {
        "vi": "{n} lỗi cấu hình trong {path}. Sửa các dòng trên rồi chạy lại lệnh.",
        "en": "{n} config issue(s) in {path}. Fix the lines above and run the command again.",
    },
    "ok": {
        "vi": "Cấu hình hợp lệ: {path}",
        "en": "Configuration is valid: {path}",
    },
    "summary": {
        "vi": "{site}: {areas} khu vực, {stations} trạm quan trắc lũ, {cameras} camera, {kpis} chỉ tiêu, "
        "{officers} cán bộ trực, {channels} kênh thông báo",
        "en": "{site}: {areas} areas, {stations} flood stations, {cameras} cameras, {kpis} KPIs, "
        "{officers} duty officers, {channels} notification channels",
    },
    "env_ok": {
        "vi": "Đã đặt đủ {n} biến môi trường bí mật.",
        "en": "All {n} secret environment variables are set.",
    },
}


def msg(key: str, lang: Lang, **values: object) -> str:
    """Return a message of this command in the given language."""
    return MESSAGES[key][lang].format(**values)


app = typer.Typer(no_args_is_help=True, help=h("Site configuration", "Cấu hình địa bàn"))


@app.callback(
    help=h(
        "Cấu hình địa bàn: kiểm tra trước khi chạy các tiến trình.",
        "Site configuration: validate before starting the workers.",
    )
)
def _group() -> None:
    """Site configuration: validate before starting the workers (the alert sources' own sections included)."""
    begin()
    # lazy: keeps `ioc --help` fast; registers each alert source's config section (sources.<type>) with the
    # loader, which the core cannot import itself
    import analytics.sources  # noqa: F401


@app.command(
    help=h(
        "Kiểm tra cấu hình; in từng lỗi dạng tệp:dòng: khoá: thông báo, thoát mã 1 nếu có lỗi.",
        "Validate a site; print each issue as file:line: key: message and exit 1 if there is any.",
    )
)
def validate(
    path: Annotated[
        Path | None,
        typer.Argument(
            help=h(
                "thư mục hoặc tệp YAML của địa bàn (mặc định: $IOC_SITE)",
                "site directory or YAML file (default: $IOC_SITE)",
            )
        ),
    ] = None,
    lang: Annotated[str, typer.Option("--lang", help=h("vi hoặc en", "vi or en"))] = "vi",
    check_env: Annotated[
        bool,
        typer.Option(
            "--check-env",
            help=h("đòi cả mọi biến môi trường bí mật đã đặt", "also require every secret env var to be set"),
        ),
    ] = False,
) -> None:
    """Validate a site; print each issue as file:line: key: message and exit 1 if there is any."""
    if lang not in ("vi", "en"):
        raise typer.BadParameter("vi | en", param_hint="--lang")
    language: Lang = "en" if lang == "en" else "vi"
    # lazy: the loader and its models (pydantic) are not needed for --help
    from ioc.config.loader import default_site_path, env_references, load_site, missing_secrets, validate_site

    site_path = path if path is not None else default_site_path(settings().site)
    issues = validate_site(site_path)
    if not issues and check_env:
        issues = missing_secrets(site_path, settings().env)
    if issues:
        for issue in issues:
            typer.echo(str(issue))
        typer.echo(msg("issues", language, n=len(issues), path=site_path), err=True)
        raise typer.Exit(1)
    try:
        site = load_site(site_path)
    except ConfigError as exc:  # validated a moment ago; only a file changed underneath us lands here
        for issue in exc.issues:
            typer.echo(str(issue))
        raise typer.Exit(1) from exc
    typer.echo(msg("ok", language, path=site_path))
    typer.echo(
        msg(
            "summary",
            language,
            site=site.site.name,
            areas=len(site.areas),
            stations=len(site.flood_stations),
            cameras=len(site.cameras),
            kpis=len(site.kpis),
            officers=len(site.roster.officers),
            channels=len(site.channels),
        )
    )
    if check_env:
        typer.echo(msg("env_ok", language, n=len({name for _, name in env_references(site)})))
