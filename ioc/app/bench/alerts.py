"""``ioc bench alerts``: latency from a reading that crosses an alarm level to its alert event on Kafka.

The real ``ioc worker flood`` process runs in a Kafka namespace of its own. A background producer sends readings
below every alarm level for the other stations at a fixed rate (the stated load); the probe station alternates
between a reading above level I (the alert opens) and one far below it (the alert resolves). Each probe's latency
is the time from handing the reading to the producer until the alert event is read back from ``ioc.alerts``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from kafka import KafkaConsumer
from rich.console import Console
from rich.table import Table

from ioc import i18n, topics
from ioc.app.endpoints import endpoints
from ioc.app.runtime.kafka import EventProducer, client_options, ensure_topics
from ioc.app.services import manager
from ioc.app.services.settings import Settings as ServicesSettings
from ioc.app.site import SiteRuntime
from ioc.config.loader import default_site_path, load_site
from ioc.errors import ServiceError
from ioc.events import AlertEvent, SensorReading, decode, utcnow
from ioc.settings import Settings

i18n.register({
    "bench.alerts.title": ("Độ trễ cảnh báo: {n} lần vượt/về mức, tải nền {rate} bản ghi đo/giây",
                           "Alert latency: {n} crossings, background load {rate} readings/s"),
    "bench.alerts.metric": ("Chỉ số", "Metric"),
    "bench.alerts.ms": ("mili giây", "milliseconds"),
    "bench.alerts.target": ("p99 {p99:.0f} ms (mục tiêu < 500 ms): {verdict}",
                            "p99 {p99:.0f} ms (target < 500 ms): {verdict}"),
    "bench.alerts.met": ("đạt", "met"),
    "bench.alerts.missed": ("chưa đạt", "not met"),
})


@dataclass(frozen=True)
class AlertBenchResult:
    """Latencies of one run, in milliseconds."""

    latencies_ms: list[float]
    background_rate: float
    background_sent: int

    def percentile(self, q: float) -> float:
        """Return the q-quantile (0..1) of the latencies."""
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]

    def print(self, console: Console, lang: str) -> None:
        """Print p50, p90, p99 and max."""
        t = i18n.t
        table = Table(title=t("bench.alerts.title", lang, n=len(self.latencies_ms), rate=round(self.background_rate)))
        table.add_column(t("bench.alerts.metric", lang))
        table.add_column(t("bench.alerts.ms", lang), justify="right")
        for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)):
            table.add_row(name, f"{self.percentile(q):.1f}")
        table.add_row("mean", f"{statistics.fmean(self.latencies_ms):.1f}")
        Console().print(table)
        p99 = self.percentile(0.99)
        verdict = t("bench.alerts.met" if p99 < 500 else "bench.alerts.missed", lang)
        Console().print(t("bench.alerts.target", lang, p99=p99, verdict=verdict))


def run_alert_bench(settings: Settings, probes: int = 100, background_rate: float = 500.0) -> AlertBenchResult:
    """Run the flood worker, load it, and time ``probes`` alert transitions (in a Kafka namespace of its own)."""
    manager.up(["kafka"], settings=ServicesSettings.from_env(settings.env))
    namespace = f"balert{uuid.uuid4().hex[:6]}"
    ep = endpoints(replace(settings, kafka_namespace=namespace))
    site_path = default_site_path(settings.site)
    runtime = SiteRuntime.build(load_site(site_path), Path(site_path))
    probe_id, *others = list(runtime.rules)
    if not others:
        raise ServiceError("the site needs at least two flood stations for this benchmark")
    rules = runtime.rules[probe_id]
    logs = Path(tempfile.mkdtemp(prefix="ioc-bench-alerts-"))
    env = {**settings.env, "IOC_KAFKA_NAMESPACE": namespace, "IOC_SITE": str(site_path), "IOC_LOG_LEVEL": "WARNING",
           "IOC_DATABASE_URL": ep.postgres_dsn}
    worker = subprocess.Popen([sys.executable, "-m", "ioc", "worker", "flood"], env=env,
                              stdout=(logs / "flood.log").open("wb"), stderr=subprocess.STDOUT)
    stop = threading.Event()
    sent_background = [0]
    try:
        ensure_topics(ep.kafka_bootstrap, auth=ep.kafka_auth, namespace=namespace)
        producer = EventProducer(ep.kafka_bootstrap, auth=ep.kafka_auth, linger_ms=1, namespace=namespace)
        consumer = KafkaConsumer(topics.ALERTS.kafka_name(namespace), bootstrap_servers=ep.kafka_bootstrap,
                                 auto_offset_reset="latest", group_id=None, consumer_timeout_ms=200,
                                 **client_options(ep.kafka_auth))
        consumer.poll(timeout_ms=1000)  # join the topic before anything is sent
        start = utcnow() - timedelta(hours=1)

        def background() -> None:
            bg = EventProducer(ep.kafka_bootstrap, auth=ep.kafka_auth, namespace=namespace)
            i = 0
            period = 1.0 / background_rate
            next_at = time.perf_counter()
            while not stop.is_set():
                sid = others[i % len(others)]
                low = runtime.rules[sid].thresholds[0] - 1.0
                bg.send(SensorReading.create(sid, start + timedelta(milliseconds=i), {"water_level_m": low},
                                             source="bench"))
                i += 1
                next_at += period
                delay = next_at - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            bg.flush()
            bg.close()
            sent_background[0] = i

        load = threading.Thread(target=background, daemon=True)
        load.start()
        # Warm up: the worker has joined its group when the first alert comes back.
        latencies: list[float] = []
        level_up, level_down = rules.thresholds[0] + 0.3, rules.thresholds[0] - rules.hysteresis_m - 0.5
        deadline = time.monotonic() + 120
        n = 0
        warm = False
        while len(latencies) < probes:
            n += 1
            value = level_up if n % 2 else level_down
            reading = SensorReading.create(probe_id, start + timedelta(seconds=n), {"water_level_m": value},
                                           source="bench")
            t0 = time.perf_counter()
            producer.send(reading)
            producer.flush()
            got = _wait_alert(consumer, probe_id, timeout=60 if not warm else 10)
            if got is None:
                if time.monotonic() > deadline:
                    raise ServiceError(f"no alert came back from the flood worker; see {logs}/flood.log")
                continue
            if warm:
                latencies.append((time.perf_counter() - t0) * 1000)
            warm = True
        consumer.close()
        producer.close()
    finally:
        stop.set()
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
    load.join(10)
    return AlertBenchResult(latencies, background_rate, sent_background[0])


def _wait_alert(consumer: KafkaConsumer, station_id: str, timeout: float) -> AlertEvent | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=50).values():
            for record in records:
                event = decode(record.value)
                if isinstance(event, AlertEvent) and event.source_id == station_id:
                    return event
    return None
