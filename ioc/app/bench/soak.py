"""``ioc bench soak``: a compressed district day through the distributed runtime while faults are injected.

The runtime is the one of ``docker-compose.yml``, as real processes (``ioc.app.processes``): ``ingest mqtt``,
``ingest camera`` (camera_sim cameras, ground-truth detector), the ``flood``, ``alerts`` and ``writer``
workers and ``worker notify`` sending to the provider fakes of ``tests/fakes``. A supervisor restarts any
process that exits, as compose's ``restart: unless-stopped`` does. The load: every flood station of the
sample site publishes over MQTT (QoS 1) once a second, its level going through two floods that cross all three
alarm levels, with rain; two simulated cameras count a road; a clerk enters a KPI value now and then with
``ioc kpi add``.

Faults come on a fixed schedule (fractions of the run): PostgreSQL stopped for 60 s, the Kafka broker
restarted, Redis stopped for 30 s, Mosquitto restarted, every process SIGKILLed once, a camera stream dropped
for 30 s (the ``road-faults`` scene drops its stream for a fifth of its clip). Durations are for a 15-minute
run and scale down with shorter runs. Services are stopped and started with ``ioc.app.services.manager`` on their
own data directories, and every service stopped is started again (and answers) before the bench returns.

Afterwards it reconciles what was sent against what landed: readings (acknowledged by the broker vs
``sensor_readings``), crossings and alert transitions (on Kafka vs PostgreSQL), alarm-level transitions (the
pure core run over the readings sent vs PostgreSQL), messages (the outbox rows due vs the fakes' receipts) and
KPI values (``ioc kpi add`` that succeeded vs ``kpi_values``), with the longest time any item waited.
"""

from __future__ import annotations

import itertools
import logging
import math
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import redis
import yaml
from kafka import KafkaConsumer, TopicPartition
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console
from rich.table import Table

from analytics.alerts import AlertProcessor
from analytics.kpi import TZ as KPI_TZ
from ingest.flood import encode_reading, parse_reading
from ioc import i18n, topics
from ioc.app.bench.delivery import _bench_site, _fakes
from ioc.app.endpoints import Endpoints, endpoints
from ioc.app.processes import PROCESSES, spawn, stop_all
from ioc.app.runtime.kafka import KafkaAuth, client_options, drop_namespace, ensure_topics
from ioc.app.services import manager
from ioc.app.services.settings import Settings as ServicesSettings
from ioc.app.site import SiteRuntime
from ioc.config.loader import default_site_path, load_site
from ioc.errors import InvalidInput, ServiceError
from ioc.events import AlertEvent, LineCrossing, decode, utcnow
from ioc.settings import Settings
from ioc.store.migrate import migrate

logger = logging.getLogger(__name__)

i18n.register(
    {
        "bench.soak.title": (
            "Chạy bền có gây lỗi: {minutes:g} phút, {faults} lỗi",
            "Fault-injection soak: {minutes:g} minutes, {faults} faults",
        ),
        "bench.soak.kind": ("Loại", "Kind"),
        "bench.soak.sent": ("Đã gửi", "Sent"),
        "bench.soak.landed": ("Đã tới", "Landed"),
        "bench.soak.lost": ("Mất", "Lost"),
        "bench.soak.duplicated": ("Trùng", "Duplicated"),
        "bench.soak.wait": ("Chờ lâu nhất (s)", "Longest wait (s)"),
        "bench.soak.readings": ("Bản ghi đo (MQTT → CSDL)", "Readings (MQTT → database)"),
        "bench.soak.crossings": ("Lượt qua vạch (Kafka → CSDL)", "Crossings (Kafka → database)"),
        "bench.soak.alerts": (
            "Chuyển trạng thái cảnh báo (Kafka → CSDL)",
            "Alert transitions (Kafka → database)",
        ),
        "bench.soak.levels": ("Mức báo động (lõi thuần → CSDL)", "Alarm levels (pure core → database)"),
        "bench.soak.messages": (
            "Tin nhắn cán bộ (hàng đợi → nhà cung cấp)",
            "Officer messages (outbox → provider)",
        ),
        "bench.soak.kpis": ("Giá trị KPI (ioc kpi add → CSDL)", "KPI values (ioc kpi add → database)"),
        "bench.soak.faults": ("Lỗi đã gây:", "Faults injected:"),
        "bench.soak.fault": (
            "  {at:6.1f} s  {what}  (trả lời lại sau {back:.1f} s)",
            "  {at:6.1f} s  {what}  (answering again {back:.1f} s later)",
        ),
        "bench.soak.fault_plain": ("  {at:6.1f} s  {what}", "  {at:6.1f} s  {what}"),
        "bench.soak.restarts": ("Khởi động lại tiến trình: {restarts}", "Process restarts: {restarts}"),
        "bench.soak.unsent": (
            "Trạm chưa được broker xác nhận (không tính là gửi): {n}",
            "Station messages the broker never acknowledged (not counted as sent): {n}",
        ),
        "bench.soak.not_due": (
            "Tin chưa tới hạn khi kết thúc (giờ yên lặng, nhắc lại): {n}",
            "Messages not yet due at the end (quiet hours, reminders): {n}",
        ),
        "bench.soak.settled": (
            "Đối soát sau {seconds:.0f} s chờ xử lý hết; cơ sở dữ liệu: {flavor}",
            "Reconciled after {seconds:.0f} s of draining; database: {flavor}",
        ),
        "bench.soak.verdict_ok": ("Không mất, không trùng.", "Nothing lost, nothing duplicated."),
        "bench.soak.verdict_bad": (
            "CÓ MẤT HOẶC TRÙNG: xem các dòng trên và nhật ký ở {logs}",
            "LOST OR DUPLICATED ITEMS: see the lines above and the logs in {logs}",
        ),
        "bench.soak.progress": (
            "soak {at:5.0f}/{total:.0f} s: {what}",
            "soak {at:5.0f}/{total:.0f} s: {what}",
        ),
    }
)

REFERENCE_MINUTES = 15.0
ALL_FAULTS: tuple[str, ...] = ("kill", "postgres", "kafka", "redis", "mosquitto", "camera")
SOAK_PROCESSES: tuple[str, ...] = (
    "ingest-mqtt",
    "ingest-camera",
    "worker-flood",
    "worker-alerts",
    "worker-writer",
    "worker-notify",
)
REDIS_DB = 11
KPI_ID, KPI_UNIT = "dossiers_on_time_pct", "03172"
READING_PERIOD_S = 1.0
POLL_S = 1.0
DUE_GRACE_S = 20.0  # a message due less than this before the end is not yet judged

def cameras_yaml(prefix: str, label: str, *, scale: int = 1, sample_fps: int = 4, thresholds: bool = True) -> str:
    """A site's cameras.yaml with two simulated cameras: ``<prefix>-road`` (the day road scene, counting line
    ``main``, zone ``junction``; its 640x360 frame and geometry times ``scale``) and ``<prefix>-faulty`` (a scene
    that freezes and drops). The soak runs it, and the camera slice test (tests/integration) at twice the size."""

    def pt(x: int, y: int) -> str:
        return f"[{x * scale}, {y * scale}]"

    limits = "\n        thresholds: {max_count: 12, max_dwell_s: 120}" if thresholds else ""
    return f"""
cameras:
  - id: {prefix}-road
    name: Đường {label}
    area_code: "03172"
    lon: 103.0868
    lat: 21.7561
    source: sim:road-day
    sample_fps: {sample_fps}
    frame_size: {{width: {640 * scale}, height: {360 * scale}}}
    detector: {{name: groundtruth}}
    lines:
      - {{id: main, points: [{pt(51, 216)}, {pt(589, 216)}], in_side: left}}
    zones:
      - id: junction
        polygon: [{pt(192, 126)}, {pt(448, 126)}, {pt(576, 342)}, {pt(64, 342)}]{limits}
  - id: {prefix}-faulty
    name: Camera lỗi {label}
    area_code: "03172"
    lon: 103.0869
    lat: 21.7562
    source: sim:road-faults
    sample_fps: 2
    frame_size: {{width: 640, height: 360}}
    detector: {{name: groundtruth}}
    offline_after_s: 3
    frozen_after_s: 3
"""


CAMERAS_YAML = cameras_yaml("soak", "chạy bền")


@dataclass(frozen=True)
class Fault:
    """One fault: ``kind`` kill (a process), stop (a service for ``duration_s``), restart, or camera."""

    at_s: float
    kind: str
    target: str
    duration_s: float = 0.0

    def describe(self) -> str:
        """A short English description for the report."""
        if self.kind == "stop":
            return f"{self.target} stopped for {self.duration_s:.0f} s"
        if self.kind == "restart":
            return f"{self.target} restarted"
        if self.kind == "kill":
            return f"{self.target} SIGKILLed"
        return f"camera {self.target} stream dropped for {self.duration_s:.0f} s (every clip)"


def schedule(seconds: float, faults: Collection[str] = ALL_FAULTS) -> list[Fault]:
    """The faults of a run of ``seconds`` at fixed fractions of it; durations scale below 15 minutes."""
    unknown = set(faults) - set(ALL_FAULTS)
    if unknown:
        raise ValueError(f"unknown fault {', '.join(sorted(unknown))}; choose from {', '.join(ALL_FAULTS)}")
    scale = min(1.0, seconds / (REFERENCE_MINUTES * 60))
    plan: list[tuple[str, float, Fault]] = [
        ("kill", 0.06, Fault(0, "kill", "worker-flood")),
        ("postgres", 0.10, Fault(0, "stop", "postgres", max(5.0, 60 * scale))),
        ("kill", 0.26, Fault(0, "kill", "worker-writer")),
        ("kafka", 0.32, Fault(0, "restart", "kafka")),
        ("kill", 0.46, Fault(0, "kill", "worker-alerts")),
        ("redis", 0.50, Fault(0, "stop", "redis", max(3.0, 30 * scale))),
        ("kill", 0.58, Fault(0, "kill", "worker-notify")),
        ("mosquitto", 0.63, Fault(0, "restart", "mosquitto")),
        ("kill", 0.70, Fault(0, "kill", "ingest-mqtt")),
        ("kill", 0.76, Fault(0, "kill", "ingest-camera")),
    ]
    out = [
        Fault(round(frac * seconds, 1), f.kind, f.target, round(f.duration_s, 1))
        for name, frac, f in plan
        if name in faults
    ]
    if "camera" in faults:
        drop = camera_drop_s(seconds)
        out.append(Fault(round(2.5 * drop, 1), "camera", "soak-faulty", drop))
    return sorted(out, key=lambda f: f.at_s)


def camera_drop_s(seconds: float) -> float:
    """How long the faulty camera's stream stays dropped: 30 s in a 15-minute run, scaled down below."""
    return round(max(3.0, 30 * min(1.0, seconds / (REFERENCE_MINUTES * 60))), 1)


@dataclass(frozen=True)
class Line:
    """One row of the reconciliation: items sent, landed, lost, duplicated and the longest wait."""

    key: str
    sent: int
    landed: int
    lost: int
    duplicated: int
    max_wait_s: float | None


@dataclass
class SoakResult:
    """What one soak did and found."""

    minutes: float
    lines: list[Line]
    faults: list[tuple[float, Fault, float]]  # (actual start s, fault, seconds until the service answered)
    restarts: dict[str, int]
    unsent: int
    not_due: int
    drain_s: float
    flavor: str
    logs: Path
    details: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was lost or duplicated."""
        return all(line.lost == 0 and line.duplicated == 0 for line in self.lines)

    def print(self, console: Console, lang: str) -> None:
        """Print the table and the faults that were injected."""
        t = i18n.t
        table = Table(title=t("bench.soak.title", lang, minutes=self.minutes, faults=len(self.faults)))
        table.add_column(t("bench.soak.kind", lang))
        for col in ("sent", "landed", "lost", "duplicated", "wait"):
            table.add_column(t(f"bench.soak.{col}", lang), justify="right")
        for line in self.lines:
            wait = "-" if line.max_wait_s is None else f"{line.max_wait_s:.1f}"
            table.add_row(
                t(f"bench.soak.{line.key}", lang),
                str(line.sent),
                str(line.landed),
                str(line.lost),
                str(line.duplicated),
                wait,
            )
        console.print(table)
        console.print(t("bench.soak.faults", lang), highlight=False)
        for at, fault, back in self.faults:
            key = "bench.soak.fault" if fault.kind in ("stop", "restart") else "bench.soak.fault_plain"
            console.print(t(key, lang, at=at, what=fault.describe(), back=back), highlight=False)
        restarts = ", ".join(f"{name} {n}" for name, n in sorted(self.restarts.items()) if n) or "0"
        console.print(t("bench.soak.restarts", lang, restarts=restarts), highlight=False)
        console.print(t("bench.soak.unsent", lang, n=self.unsent), highlight=False)
        console.print(t("bench.soak.not_due", lang, n=self.not_due), highlight=False)
        console.print(
            t("bench.soak.settled", lang, seconds=self.drain_s, flavor=self.flavor), highlight=False
        )
        for detail in self.details:
            console.print(detail, highlight=False, markup=False)
        verdict = "bench.soak.verdict_ok" if self.ok else "bench.soak.verdict_bad"
        console.print(t(verdict, lang, logs=self.logs), highlight=False)


# --- the load -----------------------------------------------------------------------------------------------


def flood_curve(fraction: float) -> float:
    """0..1 over the compressed day: two floods, peaking at 30 % and 70 % of the run."""
    return max(math.exp(-(((fraction - p) / 0.08) ** 2)) for p in (0.30, 0.70))


@dataclass
class Published:
    """One station message as the station sent it."""

    station_id: str
    topic: str
    payload: bytes
    observed_at: datetime
    sent_at: float  # wall clock, seconds
    info: mqtt.MQTTMessageInfo

    @property
    def acknowledged(self) -> bool:
        """True once the broker acknowledged it (PUBACK)."""
        return self.info.rc == mqtt.MQTT_ERR_SUCCESS and self.info.is_published()


class Stations:
    """Every flood station of the site, publishing over MQTT (QoS 1, a persistent session) once a period."""

    def __init__(
        self,
        runtime: SiteRuntime,
        host: str,
        port: int,
        seconds: float,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.seconds = seconds
        self.published: list[Published] = []
        self._stop = threading.Event()
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"soak-stations-{uuid.uuid4().hex[:8]}",
            clean_session=False,
        )
        self._client.reconnect_delay_set(min_delay=1, max_delay=5)
        if username:
            self._client.username_pw_set(username, password)
        self._client.max_queued_messages_set(0)
        self._client.connect_async(host, port, keepalive=15)
        self._thread = threading.Thread(target=self._run, name="soak-stations", daemon=True)

    def start(self) -> None:
        """Connect and start publishing."""
        self._client.loop_start()
        self._thread.start()

    def stop(self) -> None:
        """Stop publishing new readings; keep the connection until ``close`` so queued ones still go out."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def resend(self) -> None:
        """Publish again anything still refused (called while draining)."""
        self._resend_refused()

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()

    def pending(self) -> int:
        """Messages the broker has not acknowledged yet."""
        return sum(1 for p in self.published if not p.acknowledged)

    def _run(self) -> None:
        start = time.time()
        n = 0
        while not self._stop.is_set():
            due = start + n * READING_PERIOD_S
            if self._stop.wait(max(0.0, due - time.time())):
                return
            fraction = min(1.0, (time.time() - start) / self.seconds)
            observed = utcnow().replace(microsecond=0) if READING_PERIOD_S >= 1 else utcnow()
            for sid, rules in self.runtime.rules.items():
                lo, top = rules.thresholds[0] - 1.0, rules.thresholds[-1] + 0.5
                level = round(lo + (top - lo) * flood_curve(fraction), 3)
                rain = round(4.0 * flood_curve(fraction + 0.05), 2)
                topic = self.runtime.topics.for_station(sid)
                payload = encode_reading(observed, {"water_level_m": level, "rainfall_mm": rain})
                info = self._client.publish(topic, payload, qos=1)
                self.published.append(Published(sid, topic, payload, observed, time.time(), info))
            self._resend_refused()
            n += 1

    def _resend_refused(self) -> None:
        """Publish again what the client refused while disconnected, as a station keeps unsent readings."""
        for p in self.published[-2000:]:
            if p.info.rc != mqtt.MQTT_ERR_SUCCESS:
                p.info = self._client.publish(p.topic, p.payload, qos=1)


def kpi_clerk(
    env: Mapping[str, str],
    logs: Path,
    when: list[float],
    start: float,
    stop: threading.Event,
    sent: dict[datetime, float],
) -> None:
    """Enter a monthly KPI value at each offset in ``when`` with ``ioc kpi add``, retrying like a clerk."""
    for i, offset in enumerate(when):
        if stop.wait(max(0.0, start + offset - time.time())):
            return
        month = 1 + i % 12
        period = f"{2024 - i // 12}-{month:02d}"
        for _ in range(8):
            proc = spawn(
                [
                    "kpi",
                    "add",
                    "--kpi",
                    KPI_ID,
                    "--unit",
                    KPI_UNIT,
                    "--period",
                    period,
                    "--value",
                    f"{90 + i % 10}.5",
                    "--source",
                    "soak",
                ],
                env,
                logs / "kpi-add.log",
            )
            if proc.wait(120) == 0:
                sent[datetime(2024 - i // 12, month, 1)] = time.time()
                break
            if stop.wait(3.0):
                return


# --- processes and services ---------------------------------------------------------------------------------


def soak_commands(names: Collection[str], namespace: str) -> dict[str, tuple[str, ...]]:
    """The ``ioc`` command of each soak process.

    The MQTT ingest gets a client id of this soak's own. With the default id it resumed the broker's persistent
    session of every earlier ``ioc ingest mqtt`` (tests, the demo, earlier soaks) and was handed the QoS 1 messages
    queued there for the site's stations: the flood and LoRaWAN slice tests' NS-01 and NN-01 readings set the
    flood worker's state before the day began, and the database showed alarm-level transitions the pure core,
    fed only this soak's readings, never gave. Restarts of the process keep the id, so its session (and its
    unacknowledged messages) survives them as it would in production.
    """
    commands = {name: PROCESSES[name] for name in names}
    if "ingest-mqtt" in commands:
        commands["ingest-mqtt"] = (*PROCESSES["ingest-mqtt"], "--client-id", f"{namespace}-ingest-mqtt")
    return commands


class Supervisor:
    """Run the soak's processes and start again any that exits (compose's ``restart: unless-stopped``)."""

    def __init__(self, commands: Mapping[str, Sequence[str]], env: Mapping[str, str], logs: Path) -> None:
        self.commands = dict(commands)
        self.env = env
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts: Counter[str] = Counter()
        self.kills: Counter[str] = Counter()  # SIGKILLs sent, per process
        self._names = list(commands)
        self._stopping: set[str] = set()
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="soak-supervisor", daemon=True)

    def start(self) -> None:
        """Start every process and the watcher."""
        for name in self._names:
            self._spawn(name)
        self._thread.start()

    def _spawn(self, name: str) -> None:
        self.procs[name] = spawn(self.commands[name], self.env, self.logs / f"{name}.log")

    def kill(self, name: str) -> None:
        """SIGKILL one process (no goodbye); the watcher starts it again."""
        with self._lock:
            proc = self.procs[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                self.kills[name] += 1

    def wait_restarted(self, timeout: float = 60.0) -> None:
        """Wait until every process killed so far has been started again (a fault injected late, on a busy
        machine, is otherwise followed by the end of the load before the watcher has seen it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if all(self.restarts[name] >= n for name, n in self.kills.items()):
                    return
            time.sleep(0.2)

    def stop(self, names: Collection[str] | None = None) -> None:
        """Stop (SIGTERM, then kill) the named processes, or all, and do not restart them."""
        with self._lock:
            chosen = list(names) if names is not None else list(self.procs)
            self._stopping.update(chosen)
            procs = [self.procs[n] for n in chosen if n in self.procs]
        stop_all(procs)
        if names is None:
            self._done.set()
            self._thread.join(5)

    def _watch(self) -> None:
        while not self._done.wait(0.5):
            with self._lock:
                for name, proc in list(self.procs.items()):
                    if name not in self._stopping and proc.poll() is not None:
                        logger.warning("soak: %s exited with %s; starting it again", name, proc.returncode)
                        self.restarts[name] += 1
                        self._spawn(name)


class ServiceFaults:
    """Stop and start the development services through their manager; start again whatever is still down."""

    def __init__(self, settings: ServicesSettings) -> None:
        self.down: set[str] = set()
        self.settings = settings

    def stop(self, name: str) -> None:
        """Stop one service (only those this project started can be stopped)."""
        self.down.add(name)
        (status,) = manager.down([name], settings=self.settings)
        if status.state == "running":
            raise ServiceError(f"{name} was not started by `ioc services up`; the soak cannot stop it")

    def start(self, name: str) -> float:
        """Start one service on its own data directory; return the seconds until it answered."""
        t0 = time.monotonic()
        manager.up([name], settings=self.settings)
        self.down.discard(name)
        return time.monotonic() - t0

    def restore(self) -> None:
        """Start every service this soak stopped, and wait until each answers."""
        for name in sorted(self.down):
            try:
                self.start(name)
            except ServiceError:
                logger.exception("soak: could not start %s again; run `ioc services up`", name)
                raise


# --- observation --------------------------------------------------------------------------------------------


class FirstSeen:
    """Poll the database each second; note when each reading, crossing, alert event and KPI value appears."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.readings: dict[tuple[str, datetime], float] = {}
        self.crossings: dict[tuple[Any, ...], float] = {}
        self.alerts: dict[uuid.UUID, float] = {}
        self.kpis: dict[datetime, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-first-seen", daemon=True)

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (a no-op if it never started)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            try:
                self.poll()
            except psycopg.Error as exc:  # the database is down on purpose now and then
                logger.debug("soak: poll failed: %s", exc)

    def poll(self) -> None:
        """One look at the database."""
        now = time.time()
        with psycopg.connect(self.dsn, connect_timeout=3) as conn:
            for sid, at in conn.execute(
                "SELECT station_id, time FROM sensor_readings WHERE metric = 'water_level_m' "
                "AND time >= now() - interval '10 minutes'"
            ):
                self.readings.setdefault((sid, at), now)
            for row in conn.execute(
                "SELECT camera_id, line_id, track_id, direction, crossed_at FROM line_crossings "
                "WHERE crossed_at >= now() - interval '10 minutes'"
            ):
                self.crossings.setdefault(tuple(row), now)
            for (event_id,) in conn.execute("SELECT event_id FROM alert_events"):
                self.alerts.setdefault(event_id, now)
            for (start,) in conn.execute(
                "SELECT period_start FROM kpi_values WHERE kpi_id = %s AND unit_code = %s", (KPI_ID, KPI_UNIT)
            ):
                self.kpis.setdefault(_naive_date(start), now)


def _naive_date(value: datetime) -> datetime:
    """The local calendar day of a period start (KPI periods begin at local midnight)."""
    local = value.astimezone(KPI_TZ)
    return datetime(local.year, local.month, local.day)


def read_topic(bootstrap: str, topic: str, auth: KafkaAuth | None = None) -> list[tuple[bytes, int]]:
    """Every record of a topic from its start, with its timestamp (ms)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        consumer_timeout_ms=2000,
        **client_options(auth),
    )
    try:
        parts = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or ())]
        if not parts:
            return []
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        out: list[tuple[bytes, int]] = []
        deadline = time.monotonic() + 60
        while any(consumer.position(p) < end[p] for p in parts) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                out.extend((r.value, r.timestamp) for r in records)
        return out
    finally:
        consumer.close()


# --- reconciliation -----------------------------------------------------------------------------------------


@dataclass
class Reconciler:
    """Compare what was sent with what landed."""

    dsn: str
    bootstrap: str
    runtime: SiteRuntime
    stations: Stations
    seen: FirstSeen
    kpis_sent: dict[datetime, float]
    received: Callable[[], dict[str, list[float]]]  # idempotency key -> receipt times at the fakes
    kafka_auth: KafkaAuth | None = None
    namespace: str = ""

    def lines(self, now: float) -> tuple[list[Line], int, int, list[str]]:
        """Return the table's lines, the unsent and not-yet-due counts, and details of what went wrong."""
        details: list[str] = []
        with psycopg.connect(self.dsn) as conn:
            readings = [self._readings(conn, now, details), self._crossings(conn, now, details)]
            alerts, levels = self._alerts(conn, now, details)
            messages, not_due = self._messages(conn, now, details)
            kpis = self._kpis(conn, now, details)
        unsent = self.stations.pending()
        return [*readings, alerts, levels, messages, kpis], unsent, not_due, details

    def _readings(self, conn: psycopg.Connection[Any], now: float, details: list[str]) -> Line:
        sent = {(p.station_id, p.observed_at): p.sent_at for p in self.stations.published if p.acknowledged}
        # the day's readings only: the probes that found the pipeline ready are hours older
        since = min((p.observed_at for p in self.stations.published), default=datetime.now(UTC))
        rows = conn.execute(
            "SELECT station_id, time, count(*) FROM sensor_readings WHERE metric = 'water_level_m' "
            "AND time >= %s GROUP BY 1, 2",
            (since,),
        ).fetchall()
        landed = {(sid, at) for sid, at, _ in rows}
        dup = sum(n - 1 for _, _, n in rows) + len(landed - sent.keys())
        lost = sorted(sent.keys() - landed)
        if lost:
            details.append(f"readings lost: {len(lost)}, e.g. {[(s, a.isoformat()) for s, a in lost[:5]]}")
        waits = [self.seen.readings.get(k, now) - t for k, t in sent.items() if k in landed]
        return Line(
            "readings", len(sent), len(sent.keys() & landed), len(lost), dup, max(waits, default=None)
        )

    def _crossings(self, conn: psycopg.Connection[Any], now: float, details: list[str]) -> Line:
        on_kafka: dict[tuple[Any, ...], datetime] = {}
        for raw, _ in read_topic(self.bootstrap, topics.CAMERA_CROSSINGS.kafka_name(self.namespace), self.kafka_auth):
            ev = decode(raw)
            if isinstance(ev, LineCrossing):
                key = (ev.camera_id, ev.line_id, ev.track_id, ev.direction.value, ev.crossed_at)
                on_kafka.setdefault(key, ev.crossed_at)
        rows = conn.execute(
            "SELECT camera_id, line_id, track_id, direction, crossed_at FROM line_crossings"
        ).fetchall()
        landed = {tuple(r) for r in rows}
        lost = on_kafka.keys() - landed
        if lost:
            details.append(f"crossings lost: {len(lost)}, e.g. {sorted(lost, key=str)[:3]}")
        waits = [
            self.seen.crossings.get(k, now) - at.timestamp() for k, at in on_kafka.items() if k in landed
        ]
        return Line(
            "crossings",
            len(on_kafka),
            len(on_kafka.keys() & landed),
            len(lost),
            len(landed - on_kafka.keys()),
            max(waits, default=None),
        )

    def _alerts(self, conn: psycopg.Connection[Any], now: float, details: list[str]) -> tuple[Line, Line]:
        on_kafka: dict[uuid.UUID, AlertEvent] = {}
        produced: dict[uuid.UUID, float] = {}
        for raw, ts in read_topic(self.bootstrap, topics.ALERTS.kafka_name(self.namespace), self.kafka_auth):
            ev = decode(raw)
            if isinstance(ev, AlertEvent):
                on_kafka.setdefault(ev.event_id, ev)
                produced.setdefault(ev.event_id, ts / 1000)
        rows = conn.execute(
            "SELECT event_id, alert_key, transition, at FROM alert_events ORDER BY alert_key, at, event_id"
        ).fetchall()
        landed = {r[0] for r in rows}
        lost = on_kafka.keys() - landed
        if lost:
            details.append(f"alert transitions lost: {sorted(on_kafka[e].alert_key for e in lost)[:10]}")
        # The same fact stored twice under two ids, or an occurrence opened twice without resolving between.
        dup = len(landed - on_kafka.keys())
        by_key: dict[str, list[str]] = defaultdict(list)
        for _, key, transition, _ in rows:
            by_key[key].append(transition)
        facts = Counter((key, transition, at) for _, key, transition, at in rows)
        twice = [f for f, n in facts.items() if n > 1]
        reopened = [
            key
            for key, seq in by_key.items()
            if any(a == "opened" and b == "opened" for a, b in itertools.pairwise(seq))
        ]
        dup += sum(facts[f] - 1 for f in twice) + len(reopened)
        if twice or reopened:
            details.append(f"alert transitions twice: {twice[:5]}; opened twice in a row: {reopened[:5]}")
        waits = [self.seen.alerts.get(e, now) - produced[e] for e in on_kafka if e in landed]
        alerts = Line(
            "alerts", len(on_kafka), len(on_kafka.keys() & landed), len(lost), dup, max(waits, default=None)
        )

        # Alarm levels follow from the readings alone: the pure core over what the stations sent, in order.
        processor = AlertProcessor(self.runtime.alerts)
        want: dict[str, list[str]] = defaultdict(list)
        for p in sorted(
            (p for p in self.stations.published if p.acknowledged),
            key=lambda p: (p.observed_at, p.station_id),
        ):
            try:
                reading = parse_reading(
                    p.topic,
                    p.payload,
                    self.runtime.topics,
                    self.runtime.limits,
                    p.observed_at + timedelta(seconds=1),
                )
            except InvalidInput:
                continue
            for a in processor.handle(reading):
                if a.alert_key.endswith(":level"):
                    want[a.alert_key].append(a.transition.value)
        got = {k: v for k, v in by_key.items() if k.endswith(":level")}
        sent_n = sum(len(v) for v in want.values())
        lost_n = dup_n = 0
        for key in want.keys() | got.keys():
            w, g = Counter(want.get(key, [])), Counter(got.get(key, []))
            lost_n += sum((w - g).values())
            dup_n += sum((g - w).values())
            if want.get(key, []) != got.get(key, []):
                details.append(f"{key}: pure core {want.get(key, [])} database {got.get(key, [])}")
        levels = Line("levels", sent_n, sent_n - lost_n, lost_n, dup_n, None)
        return alerts, levels

    def _messages(self, conn: psycopg.Connection[Any], now: float, details: list[str]) -> tuple[Line, int]:
        receipts = self.received()
        groups: dict[tuple[Any, ...], list[tuple[str, str, datetime, str]]] = defaultdict(list)
        # A message is an idempotency key without its channel (<alert>:<officer>:<channel>:<step>[:<more>]):
        # the rows of its fallbacks share it; two escalations of one alert to one officer are two messages.
        # A message waits from when it was due or, if later, planned (KPI alerts are due at the period start).
        for key, ref, officer, kind, status, due, reason in conn.execute(
            # the providers are given provider_ref (a UUIDv5 of the key, within their length limits)
            "SELECT idempotency_key, coalesce(provider_ref, idempotency_key), officer_id, kind, status, "
            "greatest(due_at, created_at), reason FROM notify_outbox"
        ):
            parts = key.split(":")
            groups[(officer, kind, *parts[:2], *parts[3:])].append((ref, status, due, reason))
        sent = landed = lost = dup = not_due = 0
        waits: list[float] = []
        for group, rows in groups.items():
            keys = [k for k, _, _, _ in rows]
            due = min(d for _, _, d, _ in rows).timestamp()
            got = [t for k in keys for t in receipts.get(k, [])]
            dup += max(0, len(got) - 1)
            if len(got) > 1:
                details.append(
                    f"message received {len(got)} times: {group[0]} {group[1]} {':'.join(group[3:])}: "
                    f"{[(k, s, r[:60]) for k, s, _, r in rows]}"
                )
            if all(s == "cancelled" for _, s, _, _ in rows) and not got:
                continue
            if due > now - DUE_GRACE_S and not got:
                not_due += 1
                continue
            sent += 1
            if got:
                landed += 1
                waits.append(min(got) - due)
            else:
                lost += 1
                details.append(
                    f"message lost: {group[0]} {group[1]} {':'.join(group[3:])}: "
                    f"{[(s, r[:60]) for _, s, _, r in rows]}"
                )
        return Line("messages", sent, landed, lost, dup, max(waits, default=None)), not_due

    def _kpis(self, conn: psycopg.Connection[Any], now: float, details: list[str]) -> Line:
        rows = conn.execute(
            "SELECT period_start FROM kpi_values WHERE kpi_id = %s AND unit_code = %s", (KPI_ID, KPI_UNIT)
        ).fetchall()
        landed = {_naive_date(r[0]) for r in rows}
        sent = self.kpis_sent
        lost = sent.keys() - landed
        if lost:
            details.append(f"KPI values lost: {sorted(lost)}")
        waits = [self.seen.kpis.get(k, now) - t for k, t in sent.items() if k in landed]
        return Line(
            "kpis",
            len(sent),
            len(sent.keys() & landed),
            len(lost),
            len(landed - sent.keys()),
            max(waits, default=None),
        )


# --- the run ------------------------------------------------------------------------------------------------


def _mqtt_account(ep: Endpoints) -> tuple[str | None, str | None]:
    """The MQTT user and password of the development services, when they have accounts."""
    return getattr(ep, "mqtt_username", None), getattr(ep, "mqtt_password", None)


def _kafka_login(ep: Endpoints) -> dict[str, str]:
    """IOC_KAFKA_USERNAME/PASSWORD for the processes, when the services' Kafka asks for a login."""
    auth = getattr(ep, "kafka_auth", None)
    if auth is None:
        return {}
    return {
        "IOC_KAFKA_USERNAME": auth.username,
        "IOC_KAFKA_PASSWORD": auth.password,
        "IOC_KAFKA_SASL_MECHANISM": auth.mechanism,
    }


def _owner_dsn(ep: Endpoints) -> str:
    """A DSN allowed to create databases (the owner's, when the services have separate accounts)."""
    return str(getattr(ep, "postgres_owner_dsn", None) or ep.postgres_dsn)


@contextmanager
def _database(ep: Endpoints, database_url: str | None) -> Iterator[str]:
    if database_url:
        yield database_url
        return
    name = f"ioc_soak_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_owner_dsn(ep), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = psycopg.conninfo.make_conninfo(_owner_dsn(ep), dbname=name)
    try:
        migrate(dsn)
        yield dsn
    finally:
        with psycopg.connect(_owner_dsn(ep), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _site(src: Path, work: Path, zalo: Any, esms: Any, speedsms: Any) -> Path:
    """The delivery bench's site (two officers on flood duty, channels at the fakes), the soak's cameras."""
    site = _bench_site(src, work / "site", 2, zalo.url, esms.base_url, speedsms.base_url)
    (site / "cameras.yaml").write_text(CAMERAS_YAML, encoding="utf-8")
    (site / "wall.yaml").unlink(missing_ok=True)  # its tiles name the sample cameras replaced here
    # so do the crowd rules' subjects: keep every rule that does not name a sample camera's zone
    alerts = yaml.safe_load((site / "alerts.yaml").read_text(encoding="utf-8"))
    alerts["alerts"]["rules"] = [r for r in alerts["alerts"]["rules"] if not r.get("subjects")]
    (site / "alerts.yaml").write_text(yaml.safe_dump(alerts, allow_unicode=True), encoding="utf-8")
    load_site(site)
    return site


def run_soak(
    settings: Settings,
    minutes: float = REFERENCE_MINUTES,
    *,
    faults: Collection[str] = ALL_FAULTS,
    database_url: str | None = None,
    drain_s: float = 180.0,
    report: Callable[[str], None] = lambda _m: None,
    lang: str = "vi",
    logs: Path | None = None,
) -> SoakResult:
    """Run the soak for ``minutes`` with the given kinds of fault, reconcile, and return the figures."""
    seconds = minutes * 60
    plan = schedule(seconds, faults)
    fakes, fake_site = _fakes()
    services_settings = ServicesSettings.from_env(settings.env)
    manager.up(settings=services_settings)
    namespace = f"soak{uuid.uuid4().hex[:6]}"
    ep = endpoints(replace(settings, kafka_namespace=namespace))
    logs = logs or Path(tempfile.mkdtemp(prefix="ioc-bench-soak-"))
    logs.mkdir(parents=True, exist_ok=True)
    redis_url = ep.redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis.Redis.from_url(redis_url).flushdb()
    receipts: dict[str, list[float]] = defaultdict(list)
    receipts_lock = threading.Lock()

    class Stamped:
        """Mixin: note when a fake accepted each message, by its idempotency key."""

        def _record_sent(self, entry: dict[str, Any]) -> None:
            key = entry.get("tracking_id") or entry.get("request_id") or ""
            with receipts_lock:
                receipts[str(key)].append(time.time())
            super()._record_sent(entry)  # type: ignore[misc]

    services = ServiceFaults(services_settings)
    work = Path(tempfile.mkdtemp(prefix="ioc-soak-site-"))
    t0 = time.monotonic()
    load_start = 0.0

    def say(what: str) -> None:
        at = time.monotonic() - (load_start or t0)
        report(i18n.t("bench.soak.progress", lang, at=at, total=seconds, what=what))

    try:
        with (
            _database(ep, database_url) as dsn,
            type("Z", (Stamped, fakes.ZaloFake), {})().threaded() as zalo,
            type("E", (Stamped, fakes.EsmsFake), {})().threaded() as esms,
            type("S", (Stamped, fakes.SpeedSmsFake), {})().threaded() as speedsms,
        ):
            site_dir = _site(default_site_path(settings.site), work, zalo, esms, speedsms)
            runtime = SiteRuntime.build(load_site(site_dir), site_dir)
            env = {
                **settings.env,
                **fake_site.fake_env(zalo=zalo, esms=esms, speedsms=speedsms),
                "IOC_KAFKA_NAMESPACE": namespace,
                "IOC_DATABASE_URL": dsn,
                "IOC_REDIS_URL": redis_url,
                "IOC_SITE": str(site_dir),
                "IOC_CACHE_DIR": str(work / "cache"),
                "IOC_LOG_LEVEL": "INFO",
                "IOC_SIM_SECONDS": str(5 * camera_drop_s(seconds)),
                "IOC_TICK_INTERVAL_S": "2",
                "IOC_NOTIFY_LEASE_S": "5",
                # the MQTT account of the development services, for `ioc ingest mqtt`
                **{
                    k: v
                    for k, v in zip(
                        ("IOC_MQTT_USERNAME", "IOC_MQTT_PASSWORD"), _mqtt_account(ep), strict=True
                    )
                    if v
                },
                # and its Kafka login: IOC_CACHE_DIR above hides the services' credentials file
                **_kafka_login(ep),
                "IOC_NOTIFY_SWEEP_S": "1",
            }
            ensure_topics(ep.kafka_bootstrap, auth=ep.kafka_auth, namespace=namespace)
            supervisor = Supervisor(soak_commands(SOAK_PROCESSES, namespace), env, logs)
            stations = Stations(runtime, ep.mqtt_host, ep.mqtt_port, seconds, *_mqtt_account(ep))
            seen = FirstSeen(dsn)
            kpis_sent: dict[datetime, float] = {}
            stop_kpi = threading.Event()
            try:
                supervisor.start()
                say("processes started; waiting for the pipeline")
                _wait_pipeline(dsn, runtime, ep, supervisor, logs)
                say("pipeline ready; load and faults begin")
                stations.start()
                seen.start()
                start = time.time()
                load_start = time.monotonic()
                kpi_thread = threading.Thread(
                    target=kpi_clerk,
                    args=(
                        env,
                        logs,
                        [seconds * f for f in (0.05, 0.25, 0.45, 0.65, 0.85)],
                        start,
                        stop_kpi,
                        kpis_sent,
                    ),
                    daemon=True,
                )
                kpi_thread.start()
                done: list[tuple[float, Fault, float]] = []
                for fault in plan:
                    time.sleep(max(0.0, start + fault.at_s - time.time()))
                    at = time.time() - start
                    say(fault.describe())
                    back = _inject(fault, supervisor, services)
                    done.append((at, fault, back))
                time.sleep(max(0.0, start + seconds - time.time()))
                supervisor.wait_restarted()
                say("load ends; draining")
                stations.stop()
                stop_kpi.set()
                kpi_thread.join(180)
                supervisor.stop(["ingest-camera"])  # its last interval is flushed on the way out
                drain_start = time.time()
                reconciler = Reconciler(
                    dsn,
                    ep.kafka_bootstrap,
                    runtime,
                    stations,
                    seen,
                    kpis_sent,
                    lambda: {k: list(v) for k, v in receipts.items()},
                    ep.kafka_auth,
                    namespace,
                )
                while True:
                    time.sleep(5)
                    stations.resend()
                    now = time.time()
                    lines, unsent, not_due, details = reconciler.lines(now)
                    settled = all(line.lost == 0 for line in lines) and unsent == 0
                    if settled or now - drain_start > drain_s:
                        break
                    say(
                        "still draining: "
                        + ", ".join(f"{line.key} {line.lost} missing" for line in lines if line.lost)
                    )
                time.sleep(3)  # anything still in flight shows up now as a duplicate
                seen.stop()
                lines, unsent, not_due, details = reconciler.lines(time.time())
                with psycopg.connect(dsn) as conn:
                    row = conn.execute(
                        "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"
                    ).fetchone()
                flavor = "timescale" if row and row[0] else "plain"
                return SoakResult(
                    minutes,
                    lines,
                    done,
                    dict(supervisor.restarts),
                    unsent,
                    not_due,
                    time.time() - drain_start,
                    flavor,
                    logs,
                    details,
                )
            finally:
                stop_kpi.set()
                seen.stop()
                supervisor.stop()
                stations.close()
    finally:
        services.restore()
        shutil.rmtree(work, ignore_errors=True)
        drop_namespace(ep.kafka_bootstrap, namespace, auth=ep.kafka_auth, strict=False)


def _inject(fault: Fault, supervisor: Supervisor, services: ServiceFaults) -> float:
    """Carry out one fault; return the seconds from the end of the outage until the service answered."""
    if fault.kind == "kill":
        supervisor.kill(fault.target)
        return 0.0
    if fault.kind == "stop":
        services.stop(fault.target)
        time.sleep(fault.duration_s)
        return services.start(fault.target)
    if fault.kind == "restart":
        services.stop(fault.target)
        return services.start(fault.target)
    return 0.0  # the camera's drop is part of its scene (road-faults), every clip


def _wait_pipeline(
    dsn: str,
    runtime: SiteRuntime,
    ep: Endpoints,
    supervisor: Supervisor,
    logs: Path,
    timeout: float = 180.0,
) -> None:
    """Wait until a probe reading published over MQTT lands (ingest subscribed, workers in their groups)."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"soak-probe-{uuid.uuid4().hex}"
    )
    user, password = _mqtt_account(ep)
    if user:
        client.username_pw_set(user, password)
    client.connect(ep.mqtt_host, ep.mqtt_port)
    client.loop_start()
    sid = next(iter(runtime.rules))
    deadline = time.monotonic() + timeout
    n = 0
    try:
        while time.monotonic() < deadline:
            n += 1
            at = utcnow().replace(microsecond=0) - timedelta(hours=2, minutes=n)
            client.publish(
                runtime.topics.for_station(sid), encode_reading(at, {"water_level_m": 0.5}), qos=1
            ).wait_for_publish(10)
            time.sleep(2.0)
            with psycopg.connect(dsn) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM sensor_readings WHERE time < now() - interval '1 hour'"
                ).fetchone()
                ready = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND query LIKE 'LISTEN %%'"
                ).fetchone()
            if row and row[0] and ready and ready[0]:
                # the probes are not part of the day: forget them
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute("DELETE FROM sensor_readings WHERE time < now() - interval '1 hour'")
                return
        tails = "\n".join(
            f"--- {name}\n{(logs / f'{name}.log').read_text(errors='replace')[-1500:]}"
            for name in supervisor.procs
        )
        raise ServiceError(f"the pipeline did not carry a probe reading within {timeout:.0f} s\n{tails}")
    finally:
        client.loop_stop()
        client.disconnect()
