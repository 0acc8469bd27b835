"""``ioc bench ingest``: sensor readings per second through MQTT -> Kafka -> Faust -> PostgreSQL, beside a raw
``COPY`` of the same rows into the same table, in the same run on the same machine.

The pipeline runs as the real processes (``ioc ingest mqtt``, ``ioc worker flood``, ``ioc worker writer``) against
the services of ``ioc services up``, in a Kafka namespace and a database of its own, so the figures include every
hop: MQTT QoS 1, validation, Kafka with ``acks=all``, the flood processor, batched idempotent inserts and the rollup
refresh. The raw figure is the ceiling: PostgreSQL's bulk load of the finished rows and nothing else.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console
from rich.table import Table

from ingest.flood import FloodTopics, encode_reading, encode_records
from ioc import i18n
from ioc.app.endpoints import Endpoints, endpoints
from ioc.app.processes import spawn, stop_all
from ioc.app.runtime.kafka import EventProducer, drop_namespace, ensure_topics
from ioc.app.services import manager
from ioc.app.services.settings import Settings as ServicesSettings
from ioc.config.loader import default_site_path, load_site
from ioc.errors import ServiceError
from ioc.events import SensorReading, utcnow
from ioc.settings import Settings
from ioc.store.migrate import migrate
from ioc.store.writer import reading_rows

i18n.register({
    "bench.ingest.title": ("Nạp dữ liệu cảm biến: {n} bản ghi đo, {stations} trạm, {per} bản ghi mỗi tin MQTT",
                           "Sensor ingest: {n} readings, {stations} stations, {per} per MQTT message"),
    "bench.ingest.path": ("Đường đi", "Path"),
    "bench.ingest.rate": ("bản ghi đo/giây", "readings/s"),
    "bench.ingest.seconds": ("giây", "seconds"),
    "bench.ingest.raw": ("COPY thô vào sensor_readings", "raw COPY into sensor_readings"),
    "bench.ingest.pipeline": ("MQTT → Kafka → Faust → PostgreSQL", "MQTT → Kafka → Faust → PostgreSQL"),
    "bench.ingest.publish": ("chỉ phát MQTT (QoS 1)", "MQTT publish only (QoS 1)"),
    "bench.ingest.catchup": ("MQTT → … → PostgreSQL, tồn đọng ở MQTT (tiến trình nạp khởi động lại)",
                             "MQTT → … → PostgreSQL, backlog queued at MQTT (ingest restarted)"),
    "bench.ingest.writer": ("tồn đọng Kafka → tiến trình ghi → PostgreSQL", "Kafka backlog → writer → PostgreSQL"),
    "bench.ingest.produce": ("chỉ ghi vào Kafka (librdkafka, acks=all)", "Kafka produce only (librdkafka, acks=all)"),
    "bench.ingest.ratio": ("Tỉ lệ đường ống / COPY thô: {ratio:.1%} (mục tiêu ≥ 50%)",
                           "Pipeline / raw COPY: {ratio:.1%} (target ≥ 50%)"),
})


@dataclass(frozen=True)
class IngestBenchResult:
    """Figures of one run."""

    readings: int
    stations: int
    per_message: int
    raw_seconds: float
    pipeline_seconds: float
    publish_seconds: float
    writer_seconds: float  # the writer alone through the readings already on Kafka
    produce_seconds: float
    catchup_seconds: float  # MQTT -> ... -> PostgreSQL through readings queued at the broker, first row to last

    @property
    def raw_rate(self) -> float:
        """Readings per second of the raw COPY."""
        return self.readings / self.raw_seconds

    @property
    def pipeline_rate(self) -> float:
        """Readings per second end to end."""
        return self.readings / self.pipeline_seconds

    @property
    def ratio(self) -> float:
        """Pipeline rate over raw rate."""
        return self.pipeline_rate / self.raw_rate

    def print(self, console: Console, lang: str) -> None:
        """Print the figures as a table."""
        t = i18n.t
        table = Table(title=t("bench.ingest.title", lang, n=self.readings, stations=self.stations,
                              per=self.per_message))
        table.add_column(t("bench.ingest.path", lang))
        table.add_column(t("bench.ingest.rate", lang), justify="right")
        table.add_column(t("bench.ingest.seconds", lang), justify="right")
        table.add_row(t("bench.ingest.raw", lang), f"{self.raw_rate:,.0f}", f"{self.raw_seconds:.2f}")
        table.add_row(t("bench.ingest.pipeline", lang), f"{self.pipeline_rate:,.0f}", f"{self.pipeline_seconds:.2f}")
        for key, seconds in (("bench.ingest.catchup", self.catchup_seconds),
                             ("bench.ingest.publish", self.publish_seconds),
                             ("bench.ingest.produce", self.produce_seconds),
                             ("bench.ingest.writer", self.writer_seconds)):
            table.add_row(t(key, lang), f"{self.readings / seconds:,.0f}", f"{seconds:.2f}")
        Console().print(table)
        Console().print(t("bench.ingest.ratio", lang, ratio=self.ratio))


def _messages(scheme: FloodTopics, station_ids: list[str], n: int,
              days_back: int = 5) -> list[tuple[str, bytes, SensorReading]]:
    """Build ``n`` readings spread over the stations, one second apart per station, below every alarm level."""
    start = utcnow().replace(microsecond=0) - timedelta(days=days_back)
    out = []
    for i in range(n):
        sid = station_ids[i % len(station_ids)]
        at = start + timedelta(seconds=i // len(station_ids))
        values = {"water_level_m": 0.5 + (i % 37) / 100, "rainfall_mm": (i % 5) / 10}
        out.append((scheme.for_station(sid), encode_reading(at, values),
                    SensorReading.create(sid, at, values, source="bench", received_at=at)))
    return out


def _count(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM sensor_readings").fetchone()
        return int(row[0]) if row else 0


def _raw_copy(dsn: str, readings: list[SensorReading]) -> float:
    cols = reading_rows(readings)
    rows = list(zip(*cols, strict=True))
    with psycopg.connect(dsn) as conn:
        t0 = time.perf_counter()
        with conn.cursor() as cur, cur.copy(
            "COPY sensor_readings (time, station_id, metric, value, event_id, received_at, source) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - t0
        conn.execute("TRUNCATE sensor_readings")
        if conn.execute("SELECT flavor FROM ioc_meta").fetchone() == ("plain",):
            conn.execute("TRUNCATE sensor_readings_1m, sensor_readings_1h, sensor_readings_1d")
        conn.commit()
    return elapsed


def _publish(ep: Endpoints, items: list[tuple[str, bytes]]) -> float:
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:6]}")
    client.max_inflight_messages_set(1000)
    client.username_pw_set(ep.mqtt_username, ep.mqtt_password)
    client.connect(ep.mqtt_host, ep.mqtt_port)
    client.loop_start()
    t0 = time.perf_counter()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in items]
    for info in infos:
        info.wait_for_publish(60)
    elapsed = time.perf_counter() - t0
    client.loop_stop()
    client.disconnect()
    return elapsed


def _payloads(msgs: list[tuple[str, bytes, SensorReading]], per_message: int) -> list[tuple[str, bytes]]:
    """The MQTT messages: one reading each, or a logger's array of ``per_message`` readings of one station."""
    if per_message <= 1:
        return [(topic, payload) for topic, payload, _ in msgs]
    by_topic: dict[str, list[SensorReading]] = {}
    for topic, _, reading in msgs:
        by_topic.setdefault(topic, []).append(reading)
    out = []
    for topic, readings in by_topic.items():
        for i in range(0, len(readings), per_message):
            out.append((topic, encode_records([(r.observed_at, r.values) for r in readings[i:i + per_message]])))
    return out


async def run_ingest_bench(settings: Settings, readings: int = 20_000, stations: int = 0,
                           per_message: int = 1) -> IngestBenchResult:
    """Run the measurements and return the figures (``stations`` 0: every station of the site; ``per_message``:
    readings in one MQTT message, as a data logger sends what it stored)."""
    manager.up(settings=ServicesSettings.from_env(settings.env))
    ep = endpoints(settings)
    site_path = default_site_path(settings.site)
    site = load_site(site_path)
    station_ids = [s.id for s in site.flood_stations][: stations or None]
    scheme = FloodTopics(site.site.id)
    msgs = _messages(scheme, station_ids, readings)
    expected_rows = sum(len(r.values) for _, _, r in msgs)

    dbname = f"ioc_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ep.postgres_owner_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    dsn = psycopg.conninfo.make_conninfo(ep.postgres_owner_dsn, dbname=dbname)
    procs: list[subprocess.Popen[bytes]] = []
    logs = Path(tempfile.mkdtemp(prefix="ioc-bench-"))
    env: dict[str, str] = {}
    try:
        migrate(dsn)
        raw_seconds = _raw_copy(dsn, [r for _, _, r in msgs])

        env = {**settings.env, "IOC_DATABASE_URL": dsn, "IOC_SITE": str(site_path), "IOC_LOG_LEVEL": "WARNING"}
        produce_seconds, writer_seconds = _writer_backlog(ep, env, logs, dsn, [r for _, _, r in msgs], expected_rows)

        env["IOC_KAFKA_NAMESPACE"] = f"bench{uuid.uuid4().hex[:6]}"
        ingest_argv = ["ingest", "mqtt", "--client-id", f"bench-{uuid.uuid4().hex[:6]}"]
        for name, argv in {"flood": ["worker", "flood"], "writer": ["worker", "writer"], "ingest": ingest_argv}.items():
            procs.append(spawn(argv, env, logs / f"{name}.log"))
        # Warm up: wait until a probe reading has gone all the way through.
        probe_at = utcnow().replace(microsecond=0) - timedelta(days=6)
        deadline = time.monotonic() + 120
        while _count(dsn) == 0:
            if time.monotonic() > deadline:
                raise ServiceError(f"the pipeline did not start within 120 s; see the logs in {logs}")
            probe_at += timedelta(seconds=1)
            _publish(ep, [(scheme.for_station(station_ids[0]), encode_reading(probe_at, {"water_level_m": 0.4}))])
            time.sleep(1.0)
        base = _count(dsn)

        t0 = time.perf_counter()
        publish_seconds = _publish(ep, _payloads(msgs, per_message))
        _wait_rows(dsn, base, expected_rows, logs)
        pipeline_seconds = time.perf_counter() - t0

        # Catch-up after a link outage: the ingest worker stops (its persistent session keeps what the stations
        # send), the next day's readings queue at the broker, the worker starts again and works through them.
        stop_all([procs.pop()])
        later = _messages(scheme, station_ids, readings, days_back=4)
        _publish(ep, _payloads(later, per_message))
        base = _count(dsn)
        procs.append(spawn(ingest_argv, env, logs / "ingest-restarted.log"))
        catchup_seconds = _timed_rows(dsn, base, expected_rows, logs)
    finally:
        stop_all(procs)
        if "IOC_KAFKA_NAMESPACE" in env:
            drop_namespace(ep.kafka_bootstrap, env["IOC_KAFKA_NAMESPACE"], auth=ep.kafka_auth, strict=False)
        with psycopg.connect(ep.postgres_owner_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    return IngestBenchResult(readings, len(station_ids), per_message, raw_seconds, pipeline_seconds, publish_seconds,
                             writer_seconds, produce_seconds, catchup_seconds)


def _timed_rows(dsn: str, base: int, expected: int, logs: Path) -> float:
    """Wait for ``expected`` new rows; return the seconds from the first to the last, scaled to all of them
    (the start-up of the process that brings them is not counted)."""
    deadline = time.monotonic() + 120
    while (first := _count(dsn) - base) == 0:
        if time.monotonic() > deadline:
            raise ServiceError(f"no row arrived within 120 s; see the logs in {logs}")
        time.sleep(0.02)
    t0 = time.perf_counter()
    _wait_rows(dsn, base + first, expected - first, logs)
    return (time.perf_counter() - t0) * expected / max(1, expected - first)


def _wait_rows(dsn: str, base: int, expected: int, logs: Path) -> None:
    last, last_change = 0, time.monotonic()
    while (arrived := _count(dsn) - base) < expected:
        if arrived != last:
            last, last_change = arrived, time.monotonic()
        elif time.monotonic() - last_change > 30:
            raise ServiceError(f"rows stopped arriving at {arrived} of {expected} (lost on the way?); logs in {logs}")
        time.sleep(0.05)


def _writer_backlog(ep: Endpoints, env: dict[str, str], logs: Path, dsn: str, readings: list[SensorReading],
                    expected_rows: int) -> tuple[float, float]:
    """Put the readings on Kafka first, then time a writer through them (its start-up excluded); empty the table.

    Returns the seconds of the produce and of the writer, from its first row to its last.
    """
    namespace = f"benchw{uuid.uuid4().hex[:6]}"
    ensure_topics(ep.kafka_bootstrap, auth=ep.kafka_auth, namespace=namespace)
    producer = EventProducer(ep.kafka_bootstrap, auth=ep.kafka_auth, namespace=namespace, linger_ms=20)
    t0 = time.perf_counter()
    for reading in readings:
        producer.send(reading)
    producer.flush(120)
    produce_seconds = time.perf_counter() - t0
    producer.close()
    writer = spawn(["worker", "writer"], {**env, "IOC_KAFKA_NAMESPACE": namespace}, logs / "writer-backlog.log")
    try:
        writer_seconds = _timed_rows(dsn, _count(dsn), expected_rows, logs)
    finally:
        stop_all([writer])
        drop_namespace(ep.kafka_bootstrap, namespace, auth=ep.kafka_auth, strict=False)
    with psycopg.connect(dsn) as conn:
        conn.execute("TRUNCATE sensor_readings")
        if conn.execute("SELECT flavor FROM ioc_meta").fetchone() == ("plain",):
            conn.execute("TRUNCATE sensor_readings_1m, sensor_readings_1h, sensor_readings_1d")
    return produce_seconds, writer_seconds
