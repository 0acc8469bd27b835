"""``ioc notify ...``: duty-officer notification commands (the callbacks server; delivery adds its own)."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.console import Console

from ioc import i18n
from ioc.app.cli.common import LangOpt, SiteOpt, h, load_site, settings, setup_logging

logger = logging.getLogger(__name__)
console = Console(stderr=True)

i18n.register(
    {
        "notify.cli.callbacks.listening": (
            "Đang nhận phản hồi của nhà cung cấp và đường dẫn xác nhận tại http://{host}:{port} "
            "(địa chỉ công khai {url})",
            "Receiving provider callbacks and acknowledgement links on http://{host}:{port} "
            "(public address {url})",
        ),
        "notify.cli.callbacks.channel": (
            "Kênh {channel}: đặt địa chỉ phản hồi {url}",
            "Channel {channel}: set the callback URL to {url}",
        ),
        "notify.cli.callbacks.not_configured": (
            "Kênh {channel} chưa cấu hình: thiếu {missing}",
            "Channel {channel} is not configured: missing {missing}",
        ),
        "notify.cli.callbacks.no_secret": (
            "Chưa đặt IOC_ACK_LINK_SECRET: đường dẫn xác nhận trong tin nhắn sẽ bị từ chối",
            "IOC_ACK_LINK_SECRET is not set: acknowledgement links in messages will be refused",
        ),
        "notify.cli.stop": ("Nhấn Ctrl+C để dừng.", "Press Ctrl+C to stop."),
    }
)

app = typer.Typer(no_args_is_help=True, help=h("Thông báo cho cán bộ trực", "duty-officer notifications"))


@app.command(
    help=h(
        "Phục vụ phản hồi của nhà cung cấp (báo nhận, trả lời SMS/Zalo) và liên kết xác nhận.",
        "Serve provider callbacks (delivery reports, SMS/Zalo replies) and acknowledgement links.",
    )
)
def callbacks(
    site: SiteOpt = None,
    host: Annotated[str, typer.Option(help=h("địa chỉ lắng nghe", "bind address"))] = "127.0.0.1",
    port: Annotated[int, typer.Option(help=h("cổng", "port"))] = 8090,
    database_url: Annotated[
        str | None, typer.Option(envvar="IOC_DATABASE_URL", help=h("địa chỉ PostgreSQL", "PostgreSQL DSN"))
    ] = None,
    lang: LangOpt = "vi",
) -> None:
    """Serve provider callbacks (delivery reports, SMS/Zalo replies) and acknowledgement links."""
    # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py); asyncio alone is 40 ms
    import asyncio

    from aiohttp import web
    from psycopg_pool import ConnectionPool

    from ioc.app.endpoints import endpoints
    from ioc.notify.callbacks import CallbackServer
    from ioc.notify.channels.registry import build_channels
    from ioc.notify.links import link_secret, public_url
    from ioc.notify.tokens import TokenStore

    setup_logging()
    runtime = load_site(site, lang)
    dsn = database_url or endpoints(settings()).postgres_dsn
    env = dict(settings().env)
    channels = build_channels(runtime.config, env, TokenStore(dsn))
    base = public_url(env)
    for cid, ch in channels.items():
        missing = getattr(ch, "missing", [])
        if missing:
            console.print(
                i18n.t("notify.cli.callbacks.not_configured", lang, channel=cid, missing=", ".join(missing)),
                style="yellow",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
        url = getattr(ch, "callback_url", None) or f"{base}/callbacks/{cid}"
        console.print(
            i18n.t("notify.cli.callbacks.channel", lang, channel=cid, url=url),
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    secret = link_secret(env)
    if not secret:
        console.print(i18n.t("notify.cli.callbacks.no_secret", lang), style="yellow")
    with ConnectionPool(dsn, min_size=1, max_size=4, open=True) as pool:
        server = CallbackServer(runtime.config, channels, pool, secret)
        console.print(i18n.t("notify.cli.callbacks.listening", lang, host=host, port=port, url=base))
        console.print(i18n.t("notify.cli.stop", lang))

        async def close_channels(_: web.Application) -> None:
            await asyncio.gather(*(ch.close() for ch in channels.values()))

        application = server.app()
        application.on_cleanup.append(close_channels)
        web.run_app(application, host=host, port=port, print=None, access_log=None)
