"""``ioc lag status``: each stream worker's consumer lag, asked of the brokers now, as ``ioc db status`` shows jobs.

It measures like a worker does (``ioc.runtime.lag``) without running one, so it answers while a worker is stopped
(its whole backlog shows). ``--json`` prints each worker's health answer, as ``/healthz`` serves it. It never
judges the lag alert: that is the workers' leaders' job.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ioc import i18n
from ioc.app.cli.common import LangOpt, settings
from ioc.errors import IocError

i18n.register({
    "lag.help": ("Độ trễ của các tiến trình xử lý / stream workers' consumer lag", "Stream workers' consumer lag"),
    "lag.title": ("Bản tin chờ xử lý theo tiến trình và phân vùng (ngưỡng cảnh báo {threshold:,d})",
                  "Messages waiting per worker and partition (alert threshold {threshold:,d})"),
    "lag.col.worker": ("Tiến trình", "Worker"),
    "lag.col.topic": ("Chủ đề", "Topic"),
    "lag.col.partition": ("Phân vùng", "Partition"),
    "lag.col.committed": ("Đã xác nhận", "Committed"),
    "lag.col.end": ("Cuối", "End"),
    "lag.col.lag": ("Chờ", "Waiting"),
    "lag.none": ("chưa có", "none"),
    "lag.ok": ("{worker}: {lag:,d} bản tin chờ, dưới ngưỡng.",
               "{worker}: {lag:,d} messages waiting, below the threshold."),
    "lag.behind": ("{worker}: {lag:,d} bản tin chờ, vượt ngưỡng {threshold:,d}.",
                   "{worker}: {lag:,d} messages waiting, above the threshold {threshold:,d}."),
    "lag.unknown": ("Không có tiến trình xử lý '{name}'. Chọn một trong: {names}",
                    "No worker named '{name}'. Choose one of: {names}"),
    "lag.error": ("Lỗi: {message}", "Error: {message}"),
})

app = typer.Typer(no_args_is_help=True, help=i18n.t("lag.help"))
console = Console(stderr=True)


@app.command("status")
def status(
    worker: Annotated[list[str] | None, typer.Option(help="flood | alerts | writer (repeat; default: all)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="each worker's health answer, as /healthz serves it")] = False,
    lang: LangOpt = "vi",
) -> None:
    """Show each worker's committed and end offset and the messages waiting, per partition."""
    # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
    from ioc.app.endpoints import endpoints
    from ioc.app.runtime.faust_app import SOURCES, WORKERS, app_id
    from ioc.app.runtime.lag import KafkaOffsets, LagMonitor, LagSettings
    from ioc.events import utcnow

    lang = i18n.normalise_lang(lang)
    names = list(worker or WORKERS)
    for name in names:
        if name not in WORKERS:
            console.print(i18n.t("lag.error", lang, message=i18n.t("lag.unknown", lang, name=name,
                                                                    names=", ".join(WORKERS))), style="bold red")
            raise typer.Exit(1)
    try:
        lag_settings = LagSettings.from_env(settings().env, lang=lang)
    except ValueError as exc:
        console.print(i18n.t("lag.error", lang, message=str(exc)), style="bold red", markup=False)
        raise typer.Exit(1) from exc
    ep = endpoints(settings())
    offsets = KafkaOffsets(ep.kafka_bootstrap, ep.kafka_auth, client_id="ioc-lag-status")
    answers = []
    try:
        for name in names:
            monitor = LagMonitor(name, app_id(name, ep.kafka_namespace), SOURCES[name], lag_settings, offsets,
                                 namespace=ep.kafka_namespace)
            monitor.measure(utcnow(), judge=False)
            lag = monitor.health()["lag"]
            assert isinstance(lag, dict)
            if "error" in lag:
                raise IocError(str(lag["error"]))
            answers.append(lag)
    except IocError as exc:
        console.print(i18n.t("lag.error", lang, message=str(exc)), style="bold red", markup=False)
        raise typer.Exit(1) from exc
    finally:
        offsets.close()
    out = Console(width=max(Console().width, 120))
    if as_json:
        out.print_json(json.dumps(answers))
        return
    table = Table(title=i18n.t("lag.title", lang, threshold=lag_settings.rule.threshold))
    for key in ("worker", "topic", "partition", "committed", "end", "lag"):
        table.add_column(i18n.t(f"lag.col.{key}", lang), justify="left" if key in ("worker", "topic") else "right")
    for lag in answers:
        for p in lag["partitions"]:
            committed = i18n.t("lag.none", lang) if p["committed"] is None else f"{p['committed']}"
            table.add_row(str(lag["worker"]), p["topic"], str(p["partition"]), committed, str(p["end"]),
                          str(p["lag"]))
    out.print(table)
    for lag in answers:
        key = "lag.ok" if lag["lag"] <= lag_settings.rule.threshold else "lag.behind"
        out.print(i18n.t(key, lang, worker=lag["worker"], lag=lag["lag"], threshold=lag_settings.rule.threshold),
                  style=None if key == "lag.ok" else "bold yellow", highlight=False)
