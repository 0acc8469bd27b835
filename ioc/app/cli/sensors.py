"""``ioc ingest-sensors``: stations posting over HTTP (``webhook``) or LoRaWAN via ChirpStack (``lorawan``).

Both produce to Kafka through ``EventProducer``, after the duplicate-reading filter. Messages are Vietnamese
by default; ``--lang en`` or ``IOC_LANG=en`` switches to English.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ingest.dedup import DedupEmit
from ingest.lorawan import UplinkHandler, device_profiles
from ingest.mqtt import MqttIngest
from ioc import i18n
from ioc.errors import ConfigError, IocError

logger = logging.getLogger(__name__)
console = Console(stderr=True)

i18n.register({
    "sensors.webhook.listening": (
        "Đang nhận số liệu trạm qua HTTP tại http://{host}:{port}/api/v1/stations/<mã trạm>/readings, "
        "gửi vào Kafka {kafka}",
        "Receiving station readings over HTTP at http://{host}:{port}/api/v1/stations/<station id>/readings "
        "into Kafka {kafka}",
    ),
    "sensors.webhook.no_secrets": (
        "Không trạm nào có khóa xác thực trong biến môi trường ({names}); đặt ít nhất một biến rồi chạy lại.",
        "No station has its authentication secret in the environment ({names}); set at least one and retry.",
    ),
    "sensors.webhook.some_missing": (
        "Các trạm sau chưa có khóa xác thực nên sẽ bị từ chối: {stations}",
        "These stations have no secret set and will be refused: {stations}",
    ),
    "sensors.lorawan.none": (
        "Cấu hình không có trạm LoRaWAN nào (flood_stations[].lorawan).",
        "The configuration has no LoRaWAN station (flood_stations[].lorawan).",
    ),
    "sensors.lorawan.listening": (
        "Đang nhận bản tin LoRaWAN của {n} thiết bị từ ChirpStack qua MQTT {host}:{port} ({topic}), "
        "gửi vào Kafka {kafka}",
        "Receiving LoRaWAN uplinks of {n} devices from ChirpStack over MQTT {host}:{port} ({topic}) "
        "into Kafka {kafka}",
    ),
    "sensors.error": ("Lỗi: {message}", "Error: {message}"),
    "sensors.config.invalid": ("Cấu hình không hợp lệ:", "The configuration is invalid:"),
})

app = typer.Typer(no_args_is_help=True, help="Trạm đo qua HTTP và LoRaWAN / stations over HTTP and LoRaWAN")



@app.callback()
def _setup_logging() -> None:
    """Configure logging for these entry points (``IOC_LOG_LEVEL``, INFO by default)."""
    from rich.logging import RichHandler

    logging.basicConfig(
        level=os.environ.get("IOC_LOG_LEVEL", "INFO").upper(), format="%(name)s: %(message)s",
        handlers=[RichHandler(console=console, show_path=False, rich_tracebacks=False)],
    )


LangOpt = Annotated[str, typer.Option("--lang", envvar="IOC_LANG", help="vi | en")]
SiteOpt = Annotated[Path | None, typer.Option("--site", envvar="IOC_SITE", help="site config directory")]


def _fail(message: str, lang: str) -> typer.Exit:
    console.print(i18n.t("sensors.error", lang, message=message), style="bold red", soft_wrap=True,
                  highlight=False, markup=False)
    return typer.Exit(code=1)


def _load(site: Path | None, lang: str):  # type: ignore[no-untyped-def]
    from ioc.app.site import SiteRuntime
    from ioc.config.loader import default_site_path, load_site

    path = site or default_site_path()
    try:
        config = load_site(path)
    except ConfigError as exc:
        console.print(f"[bold red]{i18n.t('sensors.config.invalid', lang)}[/]")
        for issue in exc.issues:
            console.print(f"  {issue}", soft_wrap=True, highlight=False, markup=False)
        raise typer.Exit(code=1) from exc
    return SiteRuntime.build(config, Path(path) if Path(path).is_dir() else Path(path).parent)


def _producer(client_id: str, lang: str):  # type: ignore[no-untyped-def]
    from ioc.app.runtime.kafka import EventProducer, ensure_topics
    from ioc.app.services.manager import endpoints

    ep = endpoints()
    try:
        ensure_topics(ep.kafka_bootstrap, auth=ep.kafka_auth)
        return ep, EventProducer(ep.kafka_bootstrap, auth=ep.kafka_auth, client_id=client_id)
    except IocError as exc:
        raise _fail(str(exc), lang) from exc


@app.command()
def webhook(
    site: SiteOpt = None,
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8091,
    threads: Annotated[int, typer.Option(help="worker threads")] = 4,
    lang: LangOpt = "vi",
) -> None:
    """Take readings that stations POST over HTTP (bearer token or HMAC-signed) and produce them to Kafka."""
    from ingest.webhook import load_secrets, make_app, make_server

    lang = i18n.normalise_lang(lang)
    runtime = _load(site, lang)
    stations = runtime.config.flood_stations
    secrets = load_secrets(stations)
    if not secrets:
        names = ", ".join(n for s in stations for n in (s.auth.token_env, s.auth.hmac_env) if n)
        raise _fail(i18n.t("sensors.webhook.no_secrets", lang, names=names), lang)
    missing = [s.id for s in stations if s.id not in secrets]
    if missing:
        console.print(i18n.t("sensors.webhook.some_missing", lang, stations=", ".join(missing)),
                      style="yellow", highlight=False)
    ep, producer = _producer("ioc-ingest-webhook", lang)
    server = make_server(make_app(runtime.limits, secrets, DedupEmit(producer.send)), host, port, threads)
    console.print(i18n.t("sensors.webhook.listening", lang, host=host, port=server.effective_port,
                         kafka=ep.kafka_bootstrap), highlight=False)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: server.close())
    try:
        server.run()
    except OSError:
        pass  # the listening socket was closed by the signal handler
    finally:
        producer.close()


@app.command()
def lorawan(
    site: SiteOpt = None,
    application: Annotated[str, typer.Option(help="ChirpStack application id (default: all)")] = "+",
    client_id: Annotated[str, typer.Option(help="MQTT client id (one per process)")] = "ioc-ingest-lorawan",
    lang: LangOpt = "vi",
) -> None:
    """Take ChirpStack v4 uplink events from MQTT, decode them per device model and produce them to Kafka."""
    lang = i18n.normalise_lang(lang)
    runtime = _load(site, lang)
    devices = device_profiles(runtime.config.flood_stations)
    if not devices:
        raise _fail(i18n.t("sensors.lorawan.none", lang), lang)
    ep, producer = _producer(client_id, lang)
    handler = UplinkHandler(devices, runtime.limits, DedupEmit(producer.send))
    topic = f"application/{application}/device/+/event/up"
    worker = MqttIngest(ep.mqtt_host, ep.mqtt_port, handler, subscription=topic, client_id=client_id,
                            username=ep.mqtt_username, password=ep.mqtt_password, tls=ep.mqtt_tls)
    console.print(i18n.t("sensors.lorawan.listening", lang, n=len(devices), host=ep.mqtt_host,
                         port=ep.mqtt_port, topic=topic, kafka=ep.kafka_bootstrap), highlight=False)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    worker.start()
    try:
        while not stop.wait(30.0):
            logger.info("ingest lorawan: %s, %d failed", handler.counts, worker.failed)
    finally:
        worker.stop()
        producer.close()
