"""``ioc bench alerts``: latency from a reading that crosses an alarm level to its alert event on Kafka, the highest
load the flood worker carries, and how fast it catches up a backlog.

The real ``ioc worker flood`` process runs in a Kafka namespace of its own. A background producer sends readings
below every alarm level for the other stations at a fixed rate (the stated load); the probe station alternates
between a reading above level I (the alert opens) and one far below it (the alert resolves). Each probe's latency
is the time from handing the reading to the producer until the alert event is read back from ``ioc.alerts``.

Then the load is raised by half at a time until p99 passes 500 ms (or the producer of this process cannot offer
more): the highest load met is the worker's sustainable load. With ``backlog``, a second worker process is started
on a topic already holding that many readings (a crossing of the probe station every ``BACKLOG_PROBE_EVERY``):
the time until its last transition is out, and every transition is checked present exactly once and in order.
"""

from __future__ import annotations

import copy
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer
from rich.console import Console
from rich.table import Table

from ioc import i18n, topics
from ioc.app.endpoints import endpoints
from ioc.app.runtime.kafka import EventProducer, client_options, drop_namespace, ensure_topics
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
    "bench.alerts.steps": ("Tải nền tăng dần (mỗi mức {n} lần đo)", "Rising background load ({n} probes a step)"),
    "bench.alerts.offered": ("tải đặt (bản ghi/giây)", "load asked (readings/s)"),
    "bench.alerts.achieved": ("tải đạt (bản ghi/giây)", "load sent (readings/s)"),
    "bench.alerts.verdict": ("p99 ≤ 500 ms", "p99 ≤ 500 ms"),
    "bench.alerts.max": ("Tải lớn nhất tiến trình flood giữ p99 ≤ 500 ms: {rate} bản ghi đo/giây{bound}",
                         "Highest load the flood worker carries with p99 ≤ 500 ms: {rate} readings/s{bound}"),
    "bench.alerts.max_bound": (" (giới hạn bởi bộ phát của phép đo, không phải tiến trình)",
                               " (bounded by this benchmark's producer, not by the worker)"),
    "bench.alerts.none": ("Không mức tải nào giữ được p99 ≤ 500 ms.", "No load kept p99 ≤ 500 ms."),
    "bench.alerts.backlog": (
        "Tồn đọng {n} bản ghi đo: xử lý xong sau {seconds:.1f} giây từ lúc khởi động ({rate} bản ghi/giây khi "
        "đã chạy); {got}/{want} lần chuyển trạng thái, trùng {dup}, sai thứ tự {order}: {verdict}",
        "Backlog of {n} readings: done {seconds:.1f} s after the start ({rate} readings/s once running); "
        "{got}/{want} transitions, {dup} duplicated, {order} out of order: {verdict}"),
    "bench.alerts.backlog_ok": ("không mất, không trùng", "none lost, none duplicated"),
    "bench.alerts.backlog_bad": ("SAI", "WRONG"),
})

P99_LIMIT_MS = 500.0
BACKLOG_PROBE_EVERY = 1000  # one crossing of the probe station per this many readings of the backlog



@dataclass(frozen=True)
class LoadStep:
    """One background load: what was asked, what the producer sent, and the probes' latencies in ms."""

    asked: float
    sent: float
    latencies_ms: list[float]

    def percentile(self, q: float) -> float:
        """Return the q-quantile (0..1) of the latencies."""
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]

    @property
    def met(self) -> bool:
        """True when p99 is within the limit."""
        return self.percentile(0.99) <= P99_LIMIT_MS


@dataclass(frozen=True)
class BacklogResult:
    """A backlog caught up: its size, the times, and the probe station's transitions as they came out."""

    readings: int
    seconds_from_start: float
    rate_running: float  # readings per second from the first transition out to the last
    expected: list[str]
    received: list[tuple[str, str]]  # (event id, transition)

    @property
    def duplicated(self) -> int:
        """Transitions received more than once."""
        return len(self.received) - len({eid for eid, _ in self.received})

    @property
    def out_of_order(self) -> int:
        """Positions where the transitions differ from the expected sequence."""
        got = [t for _, t in self.received]
        return sum(1 for a, b in zip(got, self.expected, strict=False) if a != b)

    @property
    def ok(self) -> bool:
        """True when every transition came out once, in order."""
        return [t for _, t in self.received] == self.expected and not self.duplicated


@dataclass(frozen=True)
class AlertBenchResult:
    """Latencies at the stated load, the rising steps, and the backlog (when asked)."""

    main: LoadStep
    steps: list[LoadStep] = field(default_factory=list)
    step_probes: int = 0
    backlog: BacklogResult | None = None

    @property
    def latencies_ms(self) -> list[float]:
        """The probes' latencies at the stated load."""
        return self.main.latencies_ms

    @property
    def background_rate(self) -> float:
        """The stated load, readings per second."""
        return self.main.asked

    def percentile(self, q: float) -> float:
        """Return the q-quantile (0..1) of the latencies at the stated load."""
        return self.main.percentile(q)

    @property
    def sustained(self) -> LoadStep | None:
        """The highest step whose p99 met the limit (None: none did)."""
        met = [s for s in self.steps if s.met]
        return max(met, key=lambda s: s.sent) if met else None

    def print(self, console: Console, lang: str) -> None:
        """Print p50, p90, p99 and max, then the steps and the backlog."""
        t = i18n.t
        table = Table(title=t("bench.alerts.title", lang, n=len(self.latencies_ms), rate=round(self.background_rate)))
        table.add_column(t("bench.alerts.metric", lang))
        table.add_column(t("bench.alerts.ms", lang), justify="right")
        for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)):
            table.add_row(name, f"{self.percentile(q):.1f}")
        table.add_row("mean", f"{statistics.fmean(self.latencies_ms):.1f}")
        console.print(table)
        p99 = self.percentile(0.99)
        verdict = t("bench.alerts.met" if p99 <= P99_LIMIT_MS else "bench.alerts.missed", lang)
        console.print(t("bench.alerts.target", lang, p99=p99, verdict=verdict))
        if self.steps:
            steps = Table(title=t("bench.alerts.steps", lang, n=self.step_probes))
            for col in ("bench.alerts.offered", "bench.alerts.achieved"):
                steps.add_column(t(col, lang), justify="right")
            for name in ("p50", "p99"):
                steps.add_column(f"{name} ms", justify="right")
            steps.add_column(t("bench.alerts.verdict", lang))
            for s in self.steps:
                met = t("bench.alerts.met" if s.met else "bench.alerts.missed", lang)
                steps.add_row(f"{s.asked:,.0f}", f"{s.sent:,.0f}", f"{s.percentile(0.5):.1f}",
                              f"{s.percentile(0.99):.1f}", met)
            console.print(steps)
            best = self.sustained
            if best is None:
                console.print(t("bench.alerts.none", lang))
            else:
                # The last step met, but its producer fell short of what was asked: the ceiling is ours.
                last = self.steps[-1]
                bounded = last.met and last.sent < 0.95 * last.asked
                console.print(t("bench.alerts.max", lang, rate=f"{best.sent:,.0f}",
                                bound=t("bench.alerts.max_bound", lang) if bounded else ""))
        if self.backlog is not None:
            b = self.backlog
            console.print(t("bench.alerts.backlog", lang, n=f"{b.readings:,}", seconds=b.seconds_from_start,
                            rate=f"{b.rate_running:,.0f}" if b.rate_running > 0 else "-",
                            got=len(b.received), want=len(b.expected), dup=b.duplicated, order=b.out_of_order,
                            verdict=t("bench.alerts.backlog_ok" if b.ok else "bench.alerts.backlog_bad", lang)))


class _Bench:
    """The flood worker's surroundings for one run: namespace, site, probe station, producer and alert consumer."""

    def __init__(self, settings: Settings) -> None:
        manager.up(["kafka"], settings=ServicesSettings.from_env(settings.env))
        self.namespace = f"balert{uuid.uuid4().hex[:6]}"
        self.ep = endpoints(replace(settings, kafka_namespace=self.namespace))
        site_path = default_site_path(settings.site)
        self.runtime = SiteRuntime.build(load_site(site_path), Path(site_path))
        self.probe_id, *self.others = list(self.runtime.rules)
        if not self.others:
            raise ServiceError("the site needs at least two flood stations for this benchmark")
        rules = self.runtime.rules[self.probe_id]
        self.level_up, self.level_down = rules.thresholds[0] + 0.3, rules.thresholds[0] - rules.hysteresis_m - 0.5
        self.logs = Path(tempfile.mkdtemp(prefix="ioc-bench-alerts-"))
        self.env = {**settings.env, "IOC_KAFKA_NAMESPACE": self.namespace, "IOC_SITE": str(site_path),
                    "IOC_LOG_LEVEL": "WARNING", "IOC_DATABASE_URL": self.ep.postgres_dsn}
        self.start = utcnow() - timedelta(days=2)
        ensure_topics(self.ep.kafka_bootstrap, auth=self.ep.kafka_auth, namespace=self.namespace)

    def renamed(self, suffix: str) -> _Bench:
        """The same bench in a namespace of its own (its topics created)."""
        other = copy.copy(self)
        other.namespace = f"{self.namespace}{suffix}"
        other.env = {**self.env, "IOC_KAFKA_NAMESPACE": other.namespace}
        ensure_topics(other.ep.kafka_bootstrap, auth=other.ep.kafka_auth, namespace=other.namespace)
        return other

    def worker(self, name: str) -> subprocess.Popen[bytes]:
        """Start an ``ioc worker flood`` process, its output in the logs directory."""
        return subprocess.Popen([sys.executable, "-m", "ioc", "worker", "flood"], env=self.env,
                                stdout=(self.logs / f"{name}.log").open("wb"), stderr=subprocess.STDOUT)

    def consumer(self) -> KafkaConsumer:
        """A consumer of the alerts topic from its end, joined before anything is sent."""
        consumer = KafkaConsumer(topics.ALERTS.kafka_name(self.namespace), bootstrap_servers=self.ep.kafka_bootstrap,
                                 auto_offset_reset="latest", group_id=None, consumer_timeout_ms=200,
                                 **client_options(self.ep.kafka_auth))
        consumer.poll(timeout_ms=1000)
        return consumer

    def background(self, rate: float, stop: threading.Event, sent: list[float], first: int) -> None:
        """Send readings below every level for the other stations at ``rate``; put the rate achieved in ``sent``."""
        bg = EventProducer(self.ep.kafka_bootstrap, auth=self.ep.kafka_auth, namespace=self.namespace)
        i, period = 0, 1.0 / rate
        t0 = next_at = time.perf_counter()
        while not stop.is_set():
            sid = self.others[i % len(self.others)]
            low = self.runtime.rules[sid].thresholds[0] - 1.0
            bg.send(SensorReading.create(sid, self.start + timedelta(milliseconds=first + i), {"water_level_m": low},
                                         source="bench"))
            i += 1
            next_at += period
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        elapsed = time.perf_counter() - t0
        bg.flush()
        bg.close()
        sent.append(i / elapsed if elapsed > 0 else 0.0)
        sent.append(float(i))

    def probe(self, producer: EventProducer, consumer: KafkaConsumer, n: int, timeout: float) -> float | None:
        """Send the ``n``-th probe reading; return the ms until its alert came back (None: it did not)."""
        value = self.level_up if n % 2 else self.level_down
        reading = SensorReading.create(self.probe_id, self.start + timedelta(seconds=n), {"water_level_m": value},
                                       source="bench")
        t0 = time.perf_counter()
        producer.send(reading)
        producer.flush()
        got = _wait_alert(consumer, self.probe_id, timeout=timeout)
        return None if got is None else (time.perf_counter() - t0) * 1000


def run_alert_bench(settings: Settings, probes: int = 100, background_rate: float = 2000.0,
                    step_probes: int = 40, max_load: float = 0.0, backlog: int = 0) -> AlertBenchResult:
    """Run the flood worker, load it, and time ``probes`` alert transitions (in a Kafka namespace of its own).

    ``step_probes`` > 0: then raise the load by half a step at a time (up to ``max_load``, 0: until p99 or the
    producer gives out). ``backlog`` > 0: then catch up that many readings with a fresh worker.
    """
    bench = _Bench(settings)
    worker = bench.worker("flood")
    steps: list[LoadStep] = []
    probe_n = [0]
    first_reading = [0]
    try:
        producer = EventProducer(bench.ep.kafka_bootstrap, auth=bench.ep.kafka_auth, linger_ms=1,
                                 namespace=bench.namespace)
        consumer = bench.consumer()
        deadline = time.monotonic() + 120
        while bench.probe(producer, consumer, probe_n[0] + 1, timeout=60) is None:  # the worker has joined
            probe_n[0] += 1
            if time.monotonic() > deadline or worker.poll() is not None:
                raise ServiceError(f"no alert came back from the flood worker; see {bench.logs}/flood.log")
        probe_n[0] += 1

        def at_load(rate: float, count: int) -> LoadStep:
            stop, sent = threading.Event(), list[float]()
            load = threading.Thread(target=bench.background, args=(rate, stop, sent, first_reading[0]), daemon=True)
            load.start()
            time.sleep(1.0)  # the load reaches the worker before the first probe
            latencies: list[float] = []
            misses = 0
            while len(latencies) < count and misses < 3:
                probe_n[0] += 1
                got = bench.probe(producer, consumer, probe_n[0], timeout=10)
                if got is None:  # not back in 10 s: far past the limit; its alert may still come, later
                    misses += 1
                    latencies.append(10_000.0)
                    _drain(consumer)
                else:
                    latencies.append(got)
            stop.set()
            load.join(30)
            first_reading[0] += int(sent[1]) if len(sent) > 1 else 0
            time.sleep(0.5)
            _drain(consumer)
            return LoadStep(rate, sent[0] if sent else 0.0, latencies)

        main = at_load(background_rate, probes)
        if step_probes > 0:
            rate = background_rate
            while max_load <= 0 or rate <= max_load:
                step = main if rate == background_rate else at_load(rate, step_probes)
                steps.append(step)
                if not step.met or step.sent < 0.95 * step.asked:
                    break
                rate *= 1.5
        consumer.close()
        producer.close()
    finally:
        _stop(worker)
        drop_namespace(bench.ep.kafka_bootstrap, bench.namespace, auth=bench.ep.kafka_auth, strict=False)
    result = AlertBenchResult(main, steps, step_probes)
    if backlog > 0:
        later = bench.renamed("b")
        try:
            result = replace(result, backlog=_catch_up(later, backlog))
        finally:
            drop_namespace(later.ep.kafka_bootstrap, later.namespace, auth=later.ep.kafka_auth, strict=False)
    return result


def _stop(worker: subprocess.Popen[bytes]) -> None:
    worker.terminate()
    try:
        worker.wait(20)
    except subprocess.TimeoutExpired:
        worker.kill()


def _drain(consumer: KafkaConsumer) -> None:
    while any(consumer.poll(timeout_ms=100).values()):
        pass


def _catch_up(bench: _Bench, n: int) -> BacklogResult:
    """Put ``n`` readings on a fresh namespace's topic, start a worker, and time it through them."""
    fresh = bench
    producer = KafkaProducer(bootstrap_servers=fresh.ep.kafka_bootstrap, acks="all", linger_ms=20,
                             batch_size=512 * 1024, max_in_flight_requests_per_connection=1,
                             **client_options(fresh.ep.kafka_auth))
    topic = topics.SENSOR_READINGS.kafka_name(fresh.namespace)
    expected: list[str] = []
    # A few distinct background readings, encoded once; each message differs only in its time.
    for i in range(n):
        at = fresh.start + timedelta(milliseconds=i)
        if i % BACKLOG_PROBE_EVERY == 0:
            up = len(expected) % 2 == 0
            level = fresh.level_up if up else fresh.level_down
            reading = SensorReading.create(fresh.probe_id, at, {"water_level_m": level}, source="bench")
            expected.append("opened" if up else "resolved")
        else:
            sid = fresh.others[i % len(fresh.others)]
            reading = SensorReading.create(sid, at, {"water_level_m": fresh.runtime.rules[sid].thresholds[0] - 1.0},
                                           source="bench")
        producer.send(topic, key=reading.key().encode(), value=reading.to_bytes())
    producer.flush()
    producer.close()
    consumer = fresh.consumer()
    key = f"flood:{fresh.probe_id}:level"
    received: list[tuple[str, str]] = []
    t0 = time.perf_counter()
    worker = fresh.worker("flood-backlog")
    first_at: float | None = None
    last_at = last_change = time.perf_counter()
    try:
        while len(received) < len(expected) and time.perf_counter() - last_change < 120:
            for records in consumer.poll(timeout_ms=200).values():
                for record in records:
                    event = decode(record.value)
                    if isinstance(event, AlertEvent) and event.alert_key == key:
                        received.append((str(event.event_id), event.transition.value))
                        last_at = last_change = time.perf_counter()
                        first_at = first_at or last_at
        time.sleep(2.0)  # anything sent twice after the last one would show now
        for records in consumer.poll(timeout_ms=1000).values():
            for record in records:
                event = decode(record.value)
                if isinstance(event, AlertEvent) and event.alert_key == key:
                    received.append((str(event.event_id), event.transition.value))
    finally:
        _stop(worker)
        consumer.close()
    running = last_at - (first_at or last_at)
    last_probe = (n - 1) // BACKLOG_PROBE_EVERY * BACKLOG_PROBE_EVERY  # the readings between first and last
    return BacklogResult(n, last_at - t0, last_probe / running if running > 0 else 0.0, expected, received)


def _wait_alert(consumer: KafkaConsumer, station_id: str, timeout: float) -> AlertEvent | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=50).values():
            for record in records:
                event = decode(record.value)
                if isinstance(event, AlertEvent) and event.source_id == station_id:
                    return event
    return None
