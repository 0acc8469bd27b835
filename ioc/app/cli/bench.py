"""``ioc bench ingest|vision|alerts|dashboard|delivery|soak|fuzz``: one command per benchmark, each with its
options.

Each measures a pipeline against the raw limit in the same run and prints both. The benchmark modules pull
Kafka, PostgreSQL, OpenCV or Chromium, so each is imported inside its command (``ioc --help`` stays fast).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console

from ioc import i18n
from ioc.app.cli.common import LangOpt, begin, console, fail, h, settings, setup_logging
from ioc.errors import IocError

i18n.register(
    {
        "cli.bench.fuzz_needs_hypothesis": (
            "ioc bench fuzz cần Hypothesis: .venv/bin/pip install -e '.[test]'",
            "ioc bench fuzz needs Hypothesis: .venv/bin/pip install -e '.[test]'",
        ),
    }
)

class Flavour(enum.StrEnum):
    """The dashboard bench's fresh database."""

    plain = "plain"
    timescale = "timescale"


app = typer.Typer(
    no_args_is_help=True,
    help=h(
        "Đo hiệu năng, so với giới hạn thô trong cùng lần chạy",
        "Benchmarks, each against the raw limit in the same run",
    ),
)
app.callback()(begin)


def _say(message: str) -> None:
    console.print(message, highlight=False)


@contextmanager
def _bench(lang: str) -> Iterator[str]:
    setup_logging("WARNING")
    try:
        yield i18n.normalise_lang(lang)
    except IocError as exc:
        raise fail(str(exc), lang) from exc


@app.command(help=h("MQTT -> Kafka -> PostgreSQL, so với COPY thẳng.", "Against a raw COPY."))
def ingest(
    readings: Annotated[int, typer.Option(help=h("số bản tin đưa qua", "readings to push through"))] = 20_000,
    stations: Annotated[
        int, typer.Option(help=h("số trạm mô phỏng (0: mọi trạm)", "simulated stations (0: every station)"))
    ] = 50,
    per_message: Annotated[
        int, typer.Option(help=h("số bản ghi đo mỗi tin MQTT (1: mỗi tin một bản; >1: mảng của bộ ghi dữ liệu)",
                                 "readings per MQTT message (1: one each; >1: a data logger's array)"))
    ] = 1,
    lang: LangOpt = "vi",
) -> None:
    """MQTT -> Kafka -> PostgreSQL, so với COPY thẳng / against a raw COPY."""
    with _bench(lang) as lang:
        # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
        import asyncio

        from ioc.app.bench.ingest import run_ingest_bench

        asyncio.run(run_ingest_bench(settings(), readings=readings, stations=stations,
                                     per_message=per_message)).print(console, lang)


@app.command(help=h("Số camera một máy phân tích được.", "How many cameras one machine analyses."))
def vision(
    seconds: Annotated[
        float | None, typer.Option(help=h("giây cho mỗi lần thử [20]", "seconds per camera trial [20]"))
    ] = None,
    cameras: Annotated[
        int,
        typer.Option(
            help=h(
                "số camera cùng lúc (0: tìm quanh ước tính)",
                "cameras at once (0: search around the estimate)",
            )
        ),
    ] = 0,
    source_fps: Annotated[
        float | None,
        typer.Option(help=h("khung hình/giây camera gửi [25]", "frames/s the cameras send [25]")),
    ] = None,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help=h(
                "clip nhỏ, một lần thử ngắn (kiểm tra nhanh)", "tiny clips and one short trial (smoke test)"
            ),
        ),
    ] = False,
    lang: LangOpt = "vi",
) -> None:
    """Số camera một máy phân tích được / how many cameras one machine analyses."""
    with _bench(lang) as lang:
        # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
        from ioc.app.bench.vision import VisionBenchSettings, run_vision_bench
        from ioc.models import ModelStore

        chosen = VisionBenchSettings.choose(
            quick=quick, seconds=seconds, cameras=cameras, source_fps=source_fps
        )
        run_vision_bench(ModelStore.of(settings()), chosen, report=_say, lang=lang).print(console, lang)


@app.command(help=h("Độ trễ từ bản tin tới cảnh báo.", "Latency from reading to alert."))
def alerts(
    probes: Annotated[
        int, typer.Option(help=h("số lần chuyển trạng thái cảnh báo cần đo", "alert transitions to time"))
    ] = 100,
    load: Annotated[
        float, typer.Option(help=h("bản tin nền mỗi giây", "background readings per second"))
    ] = 2000.0,
    step_probes: Annotated[
        int, typer.Option(help=h("số lần đo mỗi mức tải khi tăng dần (0: không tăng)",
                                 "probes per step of the rising load (0: no steps)"))
    ] = 40,
    max_load: Annotated[
        float, typer.Option(help=h("mức tải cao nhất thử (0: đến khi không đạt)",
                                   "highest load tried (0: until it fails)"))
    ] = 0.0,
    backlog: Annotated[
        int, typer.Option(help=h("số bản ghi tồn đọng cần xử lý bù (0: bỏ qua)",
                                 "readings of backlog to catch up (0: skip)"))
    ] = 0,
    lang: LangOpt = "vi",
) -> None:
    """Độ trễ từ bản tin tới cảnh báo / latency from reading to alert."""
    with _bench(lang) as lang:
        # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
        from ioc.app.bench.alerts import run_alert_bench

        run_alert_bench(settings(), probes=probes, background_rate=load, step_probes=step_probes,
                        max_load=max_load, backlog=backlog).print(console, lang)


@app.command(help=h("Màn hình tường trên lịch sử dài.", "The wall over a long history."))
def dashboard(
    days: Annotated[
        int,
        typer.Option(
            help=h("số ngày lịch sử (4 chỉ số mỗi trạm)", "days of history (4 metrics per station)")
        ),
    ] = 90,
    stations: Annotated[int, typer.Option(help=h("số trạm mô phỏng", "simulated stations"))] = 50,
    calls: Annotated[
        int, typer.Option(help=h("số lần gọi mỗi hàm dữ liệu", "timed calls of each data callback"))
    ] = 200,
    renders: Annotated[
        int, typer.Option(help=h("số lần tải trang trong Chromium", "timed page loads in Chromium"))
    ] = 10,
    flavour: Annotated[
        Flavour,
        typer.Option(
            case_sensitive=False,
            help=h("cơ sở dữ liệu mới: plain hoặc timescale", "fresh database as plain | timescale"),
        ),
    ] = Flavour.plain,
    database: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help=h("đo lại một cơ sở dữ liệu đã giữ, không nạp", "time a kept database again, no load"),
        ),
    ] = None,
    keep: Annotated[
        bool,
        typer.Option(
            "--keep",
            help=h("giữ cơ sở dữ liệu đã nạp và in tên", "keep the loaded database and print its name"),
        ),
    ] = False,
    lang: LangOpt = "vi",
) -> None:
    """Màn hình tường trên lịch sử dài / the wall over a long history."""
    with _bench(lang) as lang:
        # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
        from ioc.app.bench.dashboard import run_dashboard_bench

        run_dashboard_bench(
            settings(),
            days=days,
            stations=stations,
            calls=calls,
            renders=renders,
            lang=lang,
            report=_say,
            flavour=flavour.value,
            database=database,
            keep=keep,
        ).print(console, lang)


@app.command(help=h("Gửi thông báo tới cán bộ trực.", "Delivering duty-officer messages."))
def delivery(
    alerts: Annotated[int, typer.Option(help=h("số cảnh báo mở", "alerts to open"))] = 200,
    officers: Annotated[
        int, typer.Option(help=h("cán bộ trực mỗi cảnh báo (1-5)", "officers on duty for each alert (1-5)"))
    ] = 3,
    rate: Annotated[float, typer.Option(help=h("cảnh báo mỗi giây", "alerts per second"))] = 50.0,
    senders: Annotated[
        int, typer.Option(help=h("số tiến trình 'ioc worker notify'", "'ioc worker notify' processes"))
    ] = 1,
    lang: LangOpt = "vi",
) -> None:
    """Gửi thông báo tới cán bộ trực / delivering duty-officer messages."""
    with _bench(lang) as lang:
        # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
        import asyncio

        from ioc.app.bench.delivery import run_delivery_bench

        result = asyncio.run(
            run_delivery_bench(settings(), alerts=alerts, officers=officers, rate=rate, senders=senders)
        )
        result.print(console, lang)


@app.command(help=h("Chạy dài có gây lỗi, rồi đối soát.", "A long run under faults, then reconcile."))
def soak(
    minutes: Annotated[
        float,
        typer.Option(help=h("số phút một ngày của huyện dưới sự cố", "minutes of district day under faults")),
    ] = 15.0,
    lang: LangOpt = "vi",
) -> None:
    """Chạy dài có gây lỗi, rồi đối soát / a long run under faults, then reconcile."""
    with _bench(lang) as lang:
        # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
        from ioc.app.bench.soak import run_soak

        result = run_soak(settings(), minutes, lang=lang, report=_say)
        result.print(Console(), lang)
    if not result.ok:
        raise typer.Exit(1)


@app.command(help=h("Thử các bộ phân tích đầu vào bằng dữ liệu sinh ngẫu nhiên.", "Fuzz the input parsers."))
def fuzz(
    cases: Annotated[
        int, typer.Option(help=h("số đầu vào sinh cho mỗi bộ phân tích", "generated inputs per parser"))
    ] = 10_000,
    seed: Annotated[
        int,
        typer.Option(
            help=h(
                "hạt giống Hypothesis (cùng hạt, cùng đầu vào)",
                "Hypothesis seed (the same seed, the same inputs)",
            )
        ),
    ] = 12,
    lang: LangOpt = "vi",
) -> None:
    """Thử các bộ phân tích đầu vào bằng dữ liệu sinh ngẫu nhiên / fuzz the input parsers."""
    with _bench(lang) as lang:
        try:
            # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
            from ioc.app.bench.fuzz import run_fuzz
        except ModuleNotFoundError as exc:  # Hypothesis comes with the test extra only
            raise fail(i18n.t("cli.bench.fuzz_needs_hypothesis", lang), lang) from exc
        result = run_fuzz(cases, seed, report=_say)
        result.print(console, lang)
    if result.failed:
        raise typer.Exit(1)
