"""``ioc ingest mqtt|camera|webhook|lorawan|feeds``: take data in from outside, validate it, produce events to
Kafka.

Each source is its own command with only its own options; bad input goes to the dead letters, a reading sent
twice is dropped by the duplicate filter. Heavy modules (OpenCV, Kafka clients) are imported inside the
commands, so ``ioc --help`` stays fast.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import TYPE_CHECKING, Annotated

import typer

from ioc import i18n
from ioc.app.cli.common import LangOpt, SiteOpt, begin, console, fail, h, load_site, settings, setup_logging
from ioc.errors import IocError

if TYPE_CHECKING:
    from ioc.app.endpoints import Endpoints
    from ioc.app.runtime.kafka import EventProducer

logger = logging.getLogger(__name__)

i18n.register(
    {
        "sensors.webhook.listening": (
            "Đang nhận số liệu trạm qua HTTP tại "
            "http://{host}:{port}/api/v1/stations/<mã trạm>/readings, gửi vào Kafka {kafka}",
            "Receiving station readings over HTTP at "
            "http://{host}:{port}/api/v1/stations/<station id>/readings into Kafka {kafka}",
        ),
        "sensors.webhook.no_secrets": (
            "Không trạm nào có khóa xác thực trong biến môi trường ({names}); "
            "đặt ít nhất một biến rồi chạy lại.",
            "No station has its authentication secret in the environment ({names}); "
            "set at least one and retry.",
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
        "cli.ingest.listening": (
            "Đang nhận dữ liệu trạm đo từ MQTT {host}:{port} ({topic}) gửi vào Kafka {kafka}",
            "Receiving station data from MQTT {host}:{port} ({topic}) into Kafka {kafka}",
        ),
        "cli.feeds.none": (
            "Cấu hình không có nguồn tin nào (sources.public_signal.feeds).",
            "The configuration has no feed (sources.public_signal.feeds).",
        ),
        "cli.feeds.polling": (
            "Đang theo dõi {n} nguồn tin RSS/Atom, gửi tin mới vào Kafka {kafka}",
            "Polling {n} RSS/Atom feeds, new items into Kafka {kafka}",
        ),
        "cli.feeds.report": (
            "{feed}: {items} tin mới, {matched} tin khớp chủ đề và địa danh",
            "{feed}: {items} new items, {matched} matching a topic and a place",
        ),
        "cli.feeds.not_modified": ("{feed}: không có gì mới (304)", "{feed}: nothing new (304)"),
        "cli.feeds.failed": (
            "{feed}: lỗi {reason}, đã ghi vào hàng thư lỗi (dead letters)",
            "{feed}: failed with {reason}, written to the dead letters",
        ),
        "cli.camera.unknown": ("Không có camera: {names}", "No such camera: {names}"),
        "cli.camera.running": ("Đang đọc {n} camera", "Reading {n} cameras"),
    }
)

app = typer.Typer(
    no_args_is_help=True,
    help=h("Nạp dữ liệu vào Kafka: trạm đo, camera", "Take data into Kafka: stations, cameras"),
)
app.callback()(begin)


def _producer(client_id: str, lang: str) -> tuple[Endpoints, EventProducer]:
    from ioc.app.endpoints import endpoints  # lazy: Kafka clients are not needed for --help
    from ioc.app.runtime.kafka import EventProducer, ensure_topics

    ep = endpoints(settings())
    try:
        ensure_topics(ep.kafka_bootstrap, auth=ep.kafka_auth, namespace=ep.kafka_namespace)
        return ep, EventProducer(
            ep.kafka_bootstrap, auth=ep.kafka_auth, client_id=client_id, namespace=ep.kafka_namespace
        )
    except IocError as exc:
        raise fail(str(exc), lang) from exc


def _until_signalled() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


@app.command(help=h("Trạm đo qua MQTT.", "Stations over MQTT."))
def mqtt(
    site: SiteOpt = None,
    client_id: Annotated[
        str,
        typer.Option(
            help=h("mã khách MQTT (mỗi tiến trình một mã)", "MQTT client id (one per running process)")
        ),
    ] = "ioc-ingest-mqtt",
    lang: LangOpt = "vi",
) -> None:
    """Trạm đo qua MQTT / stations over MQTT."""
    from ingest.dedup import DedupEmit  # lazy: see the module docstring
    from ingest.mqtt import FloodMessageHandler, MqttIngest

    setup_logging()
    lang = i18n.normalise_lang(lang)
    runtime = load_site(site, lang)
    ep, producer = _producer(client_id, lang)
    stop = _until_signalled()
    # A station that re-sends a reading (QoS 1 redelivery, a retry) is dropped here rather than on the bus.
    handler = FloodMessageHandler(runtime.topics, runtime.limits, DedupEmit(producer.send))
    worker = MqttIngest(
        ep.mqtt_host,
        ep.mqtt_port,
        handler,
        subscription=runtime.topics.subscription,
        client_id=client_id,
        username=ep.mqtt_username,
        password=ep.mqtt_password,
        tls=ep.mqtt_tls,
        confirm=producer.flush,
    )
    console.print(
        i18n.t(
            "cli.ingest.listening",
            lang,
            host=ep.mqtt_host,
            port=ep.mqtt_port,
            topic=runtime.topics.subscription,
            kafka=ep.kafka_bootstrap,
        ),
        highlight=False,
    )
    worker.start()
    try:
        while not stop.wait(5.0):
            logger.info("ingest mqtt: %s, %d failed", handler.counts, worker.failed)
    finally:
        worker.stop()
        producer.close()


@app.command(help=h("Camera: phân tích hình ảnh, gửi sự kiện.", "Cameras: analyse frames, send events."))
def camera(
    site: SiteOpt = None,
    camera: Annotated[
        list[str] | None,
        typer.Option(
            help=h(
                "mã camera cần chạy (lặp lại; mặc định: tất cả)", "camera id to run (repeat; default: all)"
            )
        ),
    ] = None,
    lang: LangOpt = "vi",
) -> None:
    """Camera: phân tích hình ảnh, gửi sự kiện / cameras: analyse frames, send events."""
    from ioc.app.runtime.cameras import build_cameras  # lazy: OpenCV and the detectors

    setup_logging()
    lang = i18n.normalise_lang(lang)
    runtime = load_site(site, lang)
    only = set(camera) if camera else None
    unknown = (only or set()) - {c.id for c in runtime.config.cameras}
    if unknown:
        raise fail(i18n.t("cli.camera.unknown", lang, names=", ".join(sorted(unknown))), lang)
    _, producer = _producer("ioc-ingest-camera", lang)
    stop = _until_signalled()
    s = settings()
    try:
        cams = build_cameras(
            runtime, producer.send, s.cache_dir, only=only, sim_seconds=s.sim_seconds, sim_loop=s.sim_loop
        )
    except IocError as exc:
        raise fail(str(exc), lang) from exc
    console.print(i18n.t("cli.camera.running", lang, n=len(cams.fleet.workers)), highlight=False)
    cams.start()
    try:
        while not stop.wait(10.0):
            for w in cams.fleet.workers:
                logger.info("camera %s: %s %s", w.settings.camera_id, w.health.status.value, w.counters)
    finally:
        cams.stop()
        producer.close()


@app.command(
    help=h(
        "Trạm đo gửi qua HTTP (token hoặc chữ ký HMAC).",
        "Stations posting over HTTP (bearer token or HMAC).",
    )
)
def webhook(
    site: SiteOpt = None,
    host: Annotated[str, typer.Option(help=h("địa chỉ lắng nghe", "bind address"))] = "127.0.0.1",
    port: Annotated[int, typer.Option(help=h("cổng", "port"))] = 8091,
    threads: Annotated[int, typer.Option(help=h("số luồng xử lý", "worker threads"))] = 4,
    lang: LangOpt = "vi",
) -> None:
    """Trạm đo gửi qua HTTP (token hoặc chữ ký HMAC) / stations posting over HTTP (bearer token or HMAC)."""
    from ingest.dedup import DedupEmit  # lazy: see the module docstring
    from ingest.webhook import load_secrets, make_app, make_server

    setup_logging()
    lang = i18n.normalise_lang(lang)
    runtime = load_site(site, lang)
    stations = runtime.config.flood_stations
    secrets = load_secrets(stations, settings().env)
    if not secrets:
        names = ", ".join(n for s in stations for n in (s.auth.token_env, s.auth.hmac_env) if n)
        raise fail(i18n.t("sensors.webhook.no_secrets", lang, names=names), lang)
    missing = [s.id for s in stations if s.id not in secrets]
    if missing:
        console.print(
            i18n.t("sensors.webhook.some_missing", lang, stations=", ".join(missing)),
            style="yellow",
            highlight=False,
        )
    ep, producer = _producer("ioc-ingest-webhook", lang)
    server = make_server(make_app(runtime.limits, secrets, DedupEmit(producer.send)), host, port, threads)
    console.print(
        i18n.t(
            "sensors.webhook.listening", lang, host=host, port=server.effective_port, kafka=ep.kafka_bootstrap
        ),
        highlight=False,
    )
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: server.close())
    try:
        server.run()
    except OSError:
        pass  # the listening socket was closed by the signal handler
    finally:
        producer.close()


@app.command(help=h("LoRaWAN qua ChirpStack v4 (MQTT).", "LoRaWAN uplinks from ChirpStack v4 over MQTT."))
def lorawan(
    site: SiteOpt = None,
    application: Annotated[
        str,
        typer.Option(
            help=h("mã ứng dụng ChirpStack (mặc định: tất cả)", "ChirpStack application id (default: all)")
        ),
    ] = "+",
    client_id: Annotated[
        str, typer.Option(help=h("mã khách MQTT (mỗi tiến trình một mã)", "MQTT client id (one per process)"))
    ] = "ioc-ingest-lorawan",
    lang: LangOpt = "vi",
) -> None:
    """LoRaWAN qua ChirpStack v4 (MQTT) / LoRaWAN uplinks from ChirpStack v4 over MQTT."""
    from ingest.dedup import DedupEmit  # lazy: see the module docstring
    from ingest.lorawan import UplinkHandler, device_profiles
    from ingest.mqtt import MqttIngest

    setup_logging()
    lang = i18n.normalise_lang(lang)
    runtime = load_site(site, lang)
    devices = device_profiles(runtime.config.flood_stations)
    if not devices:
        raise fail(i18n.t("sensors.lorawan.none", lang), lang)
    ep, producer = _producer(client_id, lang)
    handler = UplinkHandler(devices, runtime.limits, DedupEmit(producer.send))
    topic = f"application/{application}/device/+/event/up"
    worker = MqttIngest(
        ep.mqtt_host,
        ep.mqtt_port,
        handler,
        subscription=topic,
        client_id=client_id,
        username=ep.mqtt_username,
        password=ep.mqtt_password,
        tls=ep.mqtt_tls,
    )
    console.print(
        i18n.t(
            "sensors.lorawan.listening",
            lang,
            n=len(devices),
            host=ep.mqtt_host,
            port=ep.mqtt_port,
            topic=topic,
            kafka=ep.kafka_bootstrap,
        ),
        highlight=False,
    )
    stop = _until_signalled()
    worker.start()
    try:
        while not stop.wait(30.0):
            logger.info("ingest lorawan: %s, %d failed", handler.counts, worker.failed)
    finally:
        worker.stop()
        producer.close()


@app.command(help=h("Tin RSS/Atom: báo địa phương, trang chính thức.", "RSS/Atom feeds: local news, official pages."))
def feeds(
    site: SiteOpt = None,
    once: Annotated[
        bool, typer.Option(help=h("đọc mỗi nguồn một lần rồi thoát", "poll each feed once, then exit"))
    ] = False,
    client_id: Annotated[
        str, typer.Option(help=h("mã khách Kafka (mỗi tiến trình một mã)", "Kafka client id (one per process)"))
    ] = "ioc-ingest-feeds",
    lang: LangOpt = "vi",
) -> None:
    """Tin RSS/Atom / RSS and Atom feeds."""
    from analytics.sources.public_signal import PublicSignalSource, matcher  # lazy: see the module docstring
    from ingest.feeds import FeedPoller

    setup_logging()
    lang = i18n.normalise_lang(lang)
    runtime = load_site(site, lang)
    section = PublicSignalSource.section_of(runtime.config)
    if section is None:
        raise fail(i18n.t("cli.feeds.none", lang), lang)
    ep, producer = _producer(client_id, lang)
    poller = FeedPoller(runtime.config.site.id, section.feeds, matcher(runtime.config, section), producer.send,
                        confirm=producer.flush)
    console.print(i18n.t("cli.feeds.polling", lang, n=len(section.feeds), kafka=ep.kafka_bootstrap), highlight=False)
    try:
        if once:
            for feed in section.feeds:
                report = poller.poll(feed)
                if report.error:
                    line = i18n.t("cli.feeds.failed", lang, feed=feed.id, reason=report.error)
                elif report.not_modified:
                    line = i18n.t("cli.feeds.not_modified", lang, feed=feed.id)
                else:
                    line = i18n.t("cli.feeds.report", lang, feed=feed.id, items=report.items, matched=report.matched)
                console.print(line, highlight=False)
            producer.flush()
        else:
            poller.run(_until_signalled())
    except IocError as exc:
        raise fail(str(exc), lang) from exc
    finally:
        producer.close()
