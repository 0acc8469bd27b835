"""``ioc bench delivery``: latency from an alert transition to the provider receiving the officer's message.

The load: ``alerts`` flood alerts (major: no quiet hours), written one by one by the real writer at ``rate``
alerts a second, each in the transaction that also writes its outbox rows; ``officers`` duty officers on shift
for every one of them (two on Zalo ZNS, the others on eSMS SMS), so each alert is ``officers`` messages.
``senders`` real ``ioc worker notify`` processes (LISTEN/NOTIFY, rate limits in Redis) send them to the
provider fakes of ``tests/fakes`` on loopback, which stamp the moment each request is accepted. Latency is
that moment minus the alert event's time. The site is the sample one with a roster made for the bench and the
providers' request-rate limits and the per-officer limit raised out of the way (the fakes have none; the bench
measures our pipeline, not a gateway's quota). It needs a source checkout (the fakes live under tests/).
"""

from __future__ import annotations

import asyncio
import importlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table

from ioc import i18n
from ioc.app.endpoints import endpoints
from ioc.app.processes import stop_all
from ioc.app.services import manager
from ioc.app.services.settings import Settings as ServicesSettings
from ioc.config.loader import default_site_path, load_site
from ioc.errors import ServiceError
from ioc.events import AlertEvent, AlertTransition, Severity, utcnow
from ioc.notify.outbox import OutboxPlanner
from ioc.notify.planner import Planner
from ioc.settings import Settings
from ioc.store.migrate import migrate
from ioc.store.writer import Writer

i18n.register(
    {
        "bench.delivery.title": (
            "Độ trễ cảnh báo → nhà cung cấp: {alerts} cảnh báo, mỗi cảnh báo {officers} cán bộ, "
            "{rate} cảnh báo/giây, {senders} bộ gửi",
            "Alert-to-provider latency: {alerts} alerts, {officers} officers each, {rate} alerts/s, "
            "{senders} sender(s)",
        ),
        "bench.delivery.metric": ("Chỉ số", "Metric"),
        "bench.delivery.ms": ("mili giây", "milliseconds"),
        "bench.delivery.summary": (
            "{n} tin tới nhà cung cấp trong {seconds:.1f} s ({per_s:.0f} tin/giây); Zalo {zalo}, SMS {sms}",
            "{n} messages reached the providers in {seconds:.1f} s ({per_s:.0f} messages/s); "
            "Zalo {zalo}, SMS {sms}",
        ),
        "bench.delivery.no_fakes": (
            "Không tìm thấy tests/fakes (giả lập nhà cung cấp): chạy từ thư mục mã nguồn",
            "tests/fakes (the provider fakes) not found: run from a source checkout",
        ),
        "bench.delivery.timeout": (
            "Hết giờ: {got}/{want} tin tới nhà cung cấp",
            "Timed out: {got}/{want} messages arrived",
        ),
    }
)

REPO = Path(__file__).resolve().parents[3]
_OFFICERS = ("nguyen-van-hung", "lo-thi-mai", "vang-a-chua", "quang-van-son", "tran-thu-ha")


@dataclass(frozen=True)
class DeliveryBenchResult:
    """Latencies of one run, in milliseconds, with the load that produced them."""

    latencies_ms: list[float]
    alerts: int
    officers: int
    rate: float
    senders: int
    seconds: float
    zalo: int
    sms: int

    def percentile(self, q: float) -> float:
        """Return the q-quantile (0..1) of the latencies."""
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]

    def print(self, console: Console, lang: str) -> None:
        """Print p50, p90, p99, max and the throughput."""
        t = i18n.t
        table = Table(
            title=t(
                "bench.delivery.title",
                lang,
                alerts=self.alerts,
                officers=self.officers,
                rate=round(self.rate),
                senders=self.senders,
            )
        )
        table.add_column(t("bench.delivery.metric", lang))
        table.add_column(t("bench.delivery.ms", lang), justify="right")
        for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)):
            table.add_row(name, f"{self.percentile(q):.1f}")
        table.add_row("mean", f"{statistics.fmean(self.latencies_ms):.1f}")
        console.print(table)
        n = len(self.latencies_ms)
        console.print(
            t(
                "bench.delivery.summary",
                lang,
                n=n,
                seconds=self.seconds,
                per_s=n / max(self.seconds, 1e-9),
                zalo=self.zalo,
                sms=self.sms,
            ),
            highlight=False,
        )


def _fakes() -> tuple[Any, Any]:
    """Return the modules ``tests.fakes`` and ``tests.fakes.site`` of the source checkout."""
    if not (REPO / "tests" / "fakes").is_dir():
        raise ServiceError(i18n.t("bench.delivery.no_fakes"))
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    return importlib.import_module("tests.fakes"), importlib.import_module("tests.fakes.site")


def _bench_site(
    src: Path, target: Path, officers: int, zalo_url: str, esms_url: str, speedsms_url: str
) -> Path:
    """Copy the site at ``src`` (the sample site by default) with every chosen officer on flood duty all day and
    the channels at the fakes."""
    target.mkdir()
    for f in Path(src).iterdir():
        if f.is_file():
            shutil.copyfile(f, target / f.name)
    (target / "geo").symlink_to(Path(src) / "geo")
    text = (target / "channels.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "    refresh_token_env: IOC_ZALO_REFRESH_TOKEN\n",
        "    refresh_token_env: IOC_ZALO_REFRESH_TOKEN\n"
        f"    api_base_url: {zalo_url}\n    oauth_base_url: {zalo_url}\n",
    )
    text = text.replace("https://rest.esms.vn/MainService.svc/json", esms_url)
    text = text.replace("https://api.speedsms.vn/index.php", speedsms_url)
    text = text.replace("rate_limit_per_s: 5", "rate_limit_per_s: 1000")
    text = text.replace("    oa_id:", "    rate_limit_per_s: 1000\n    oa_id:")
    (target / "channels.yaml").write_text(text, encoding="utf-8")
    roster = (target / "roster.yaml").read_text(encoding="utf-8")
    head, rest = roster.split("  shifts:\n", 1)
    tail = rest[rest.index("  # Since 2025") :]
    shifts = "".join(
        f'    - {{officer: {o}, area_code: former-muong-cha, domain: flood, start: "00:00", end: "12:00"}}\n'
        f'    - {{officer: {o}, area_code: former-muong-cha, domain: flood, start: "12:00", end: "00:00"}}\n'
        for o in _OFFICERS[:officers]
    )
    tail = tail.replace("per_officer_per_min: 6", "per_officer_per_min: 600")
    # one step: the on-duty officers; the ladder's later steps would add deputy and leader messages
    tail = (
        tail[: tail.index("  escalation:")]
        + "  escalation:\n    major:\n      - {role: on_duty, delay_min: 0}\n"
    )
    (target / "roster.yaml").write_text(head + "  shifts:\n" + shifts + tail, encoding="utf-8")
    load_site(target)  # fail here, clearly, if the edits broke the config
    return target


async def _wait_listening(
    dsn: str, senders: int, procs: list[subprocess.Popen[bytes]], timeout: float = 60
) -> None:
    """Wait until every sender process listens for new outbox rows (the first alerts must not wait)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if any(p.poll() is not None for p in procs):
            raise ServiceError("an 'ioc worker notify' process exited at start; see its log")
        with psycopg.connect(dsn) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND query LIKE 'LISTEN %%'"
            ).fetchone()
        if row and row[0] >= senders:
            return
        await asyncio.sleep(0.2)
    raise ServiceError("the 'ioc worker notify' processes did not start listening within a minute")


async def run_delivery_bench(
    settings: Settings,
    alerts: int = 200,
    officers: int = 3,
    rate: float = 50.0,
    senders: int = 1,
    timeout_s: float = 120.0,
) -> DeliveryBenchResult:
    """Run the bench and return its figures."""
    if not 1 <= officers <= len(_OFFICERS):
        raise ValueError(f"officers must be 1 to {len(_OFFICERS)}")
    fakes, fake_site = _fakes()

    class Stamped:
        """Mixin: stamp each accepted message with the wall-clock time the fake accepted it."""

        def _record_sent(self, entry: dict[str, Any]) -> None:
            entry["received_at"] = time.time()
            super()._record_sent(entry)  # type: ignore[misc]

    zalo_cls = type("StampedZalo", (Stamped, fakes.ZaloFake), {})
    esms_cls = type("StampedEsms", (Stamped, fakes.EsmsFake), {})
    manager.up(settings=ServicesSettings.from_env(settings.env))
    ep = endpoints(settings)
    dbname = f"ioc_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ep.postgres_owner_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    dsn = psycopg.conninfo.make_conninfo(ep.postgres_owner_dsn, dbname=dbname)
    work = Path(tempfile.mkdtemp(prefix="ioc-bench-delivery-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        migrate(dsn)
        with (
            zalo_cls().threaded() as zalo,
            esms_cls().threaded() as esms,
            fakes.SpeedSmsFake().threaded() as sp,
        ):
            site_dir = _bench_site(
                default_site_path(settings.site), work / "site", officers, zalo.url, esms.base_url, sp.base_url
            )
            site = load_site(site_dir)
            env = {
                **settings.env,
                **fake_site.fake_env(zalo=zalo, esms=esms, speedsms=sp),
                "IOC_SITE": str(site_dir),
                "IOC_DATABASE_URL": dsn,
                "IOC_REDIS_URL": ep.redis_url,
                "IOC_KAFKA_NAMESPACE": f"bench{uuid.uuid4().hex[:6]}",
                "IOC_LOG_LEVEL": "WARNING",
            }
            for i in range(senders):
                log = (work / f"sender-{i}.log").open("ab")
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "ioc", "worker", "notify"],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                    )
                )
            await _wait_listening(dsn, senders, procs)
            writer = await Writer.open(dsn, notify=OutboxPlanner(Planner.from_site(site)))
            times: dict[str, float] = {}
            start = time.time()
            try:
                for i in range(alerts):
                    due = start + i / rate
                    await asyncio.sleep(max(0.0, due - time.time()))
                    now = utcnow()
                    ev = AlertEvent.create(
                        f"flood:BENCH{i}:level",
                        AlertTransition.OPENED,
                        now,
                        opened_at=now,
                        severity=Severity.MAJOR,
                        source_kind="flood",
                        source_id="NS-01",
                        area_code="03172",
                        message_key="alert.flood.level",
                        params={"station": f"B{i}", "value": 2.0, "level": "II"},
                        value=2.0,
                    )
                    times[str(ev.alert_id)] = ev.at.timestamp()
                    await writer.write([ev])
            finally:
                await writer.close()
            want = alerts * officers
            deadline = time.time() + timeout_s
            while len(zalo.sent) + len(esms.sent) < want and time.time() < deadline:
                await asyncio.sleep(0.2)
            got = zalo.sent + esms.sent
            if len(got) < want:
                raise ServiceError(i18n.t("bench.delivery.timeout", got=len(got), want=want))
            # Providers get our provider reference (ZNS tracking_id, eSMS RequestId), not the idempotency key:
            # the outbox row that stored it names the alert.
            with psycopg.connect(dsn) as conn:
                alert_of = {
                    ref: str(alert_id)
                    for ref, alert_id in conn.execute(
                        "SELECT provider_ref, alert_id FROM notify_outbox WHERE provider_ref IS NOT NULL"
                    ).fetchall()
                }
            lat = []
            for m in got:
                ref = m.get("tracking_id") or m.get("request_id")
                lat.append((m["received_at"] - times[alert_of[ref]]) * 1000)
            seconds = max(m["received_at"] for m in got) - start
            return DeliveryBenchResult(
                lat, alerts, officers, rate, senders, seconds, len(zalo.sent), len(esms.sent)
            )
    finally:
        stop_all(procs)
        shutil.rmtree(work, ignore_errors=True)
        with psycopg.connect(ep.postgres_owner_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
