"""``ioc kpi ...``: bring KPI figures in from a file, a JSON feed or a typed-in value.

Each command parses with ``ingest.kpi`` (pure), then hands the values and the rejected rows to Kafka through
the one ``EventProducer``, or, with ``--database-url``, straight to the one ``Writer`` (embedded mode, tests).
The operator sees how many values were accepted, how many rows were rejected, and each rejected row with its
line and reason. Exit code: 0 when the good rows went through, 2 when no row could be accepted, 1 on a system
error (file unreadable, feed or sink unreachable).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ioc import i18n
from ioc.app.cli.common import LangOpt, SiteOpt, begin, h, settings
from ioc.errors import ConfigError, InvalidInput, IocError

if TYPE_CHECKING:
    from ingest.kpi import ImportResult
    from ioc.config.models import SiteConfig
    from ioc.events import Event

logger = logging.getLogger(__name__)

i18n.register(
    {
        "kpi.cli.accepted": ("Đã nhận {n} giá trị chỉ tiêu.", "{n} KPI values accepted."),
        "kpi.cli.rejected": ("Từ chối {n} dòng:", "{n} rows rejected:"),
        "kpi.cli.row": ("  {where}: {reason} ({code}) - {detail}", "  {where}: {reason} ({code}) - {detail}"),
        "kpi.cli.none": (
            "Không có giá trị nào được nhận; sửa các dòng trên rồi nhập lại.",
            "No value was accepted; fix the rows above and import again.",
        ),
        "kpi.cli.sent_kafka": ("Đã gửi tới Kafka {kafka}.", "Sent to Kafka {kafka}."),
        "kpi.cli.written": ("Đã ghi vào cơ sở dữ liệu.", "Written to the database."),
        "kpi.cli.error": ("Lỗi: {message}", "Error: {message}"),
        "kpi.cli.unreadable": ("Không đọc được tệp {path}: {message}", "Cannot read file {path}: {message}"),
        "kpi.cli.pull_failed": (
            "Không lấy được dữ liệu từ {url} sau {attempts} lần thử: {message}",
            "Could not fetch {url} after {attempts} attempts: {message}",
        ),
        "kpi.cli.not_json": (
            "{url} không trả về JSON hợp lệ: {message}",
            "{url} did not return valid JSON: {message}",
        ),
    }
)

app = typer.Typer(no_args_is_help=True, help=h("Chỉ tiêu KPI", "KPI figures"))

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help=h(
            "ghi thẳng vào PostgreSQL này thay vì gửi vào Kafka",
            "write straight to this PostgreSQL instead of producing to Kafka",
        ),
    ),
]


@app.callback(
    help=h(
        "Chỉ tiêu KPI: nhập báo cáo, lấy nguồn dữ liệu, nhập tay.",
        "KPI figures: import a report, pull a feed, type a value.",
    )
)
def _group() -> None:
    """KPI figures: import a report, pull a feed, type a value."""
    begin()


class _Fail(Exception):
    """A system error to report to the operator with exit code 1."""


def _site(site: Path | None) -> SiteConfig:
    # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
    from ioc.config.loader import default_site_path, load_site

    try:
        return load_site(site or default_site_path(settings().site))
    except ConfigError as exc:
        raise _Fail(str(exc)) from exc


def deliver(events: Sequence[Event], database_url: str | None, lang: str) -> None:
    """Send the events to Kafka, or write them to the database when a URL is given."""
    if not events:
        return
    if database_url:
        import asyncio  # lazy: asyncio is 40 ms of every `ioc --help`

        asyncio.run(_write(events, database_url))
        typer.echo(i18n.t("kpi.cli.written", lang))
        return
    from ioc.app.endpoints import endpoints  # lazy: Kafka clients are not needed for --help
    from ioc.app.runtime.kafka import EventProducer, ensure_topics

    ep = endpoints(settings())
    bootstrap = ep.kafka_bootstrap
    ensure_topics(bootstrap, auth=ep.kafka_auth, namespace=ep.kafka_namespace)
    producer = EventProducer(bootstrap, auth=ep.kafka_auth, client_id="ioc-kpi", namespace=ep.kafka_namespace)
    try:
        for event in events:
            producer.send(event)
        producer.flush()
    finally:
        producer.close()
    typer.echo(i18n.t("kpi.cli.sent_kafka", lang, kafka=bootstrap))


async def _write(events: Sequence[Event], dsn: str) -> None:
    # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
    from ioc.store.writer import Writer

    writer = await Writer.open(dsn)
    try:
        await writer.write(events)
    finally:
        await writer.close()


def _report(result: ImportResult, lang: str) -> None:
    typer.echo(i18n.t("kpi.cli.accepted", lang, n=result.accepted))
    if result.rejected:
        typer.echo(i18n.t("kpi.cli.rejected", lang, n=len(result.rejected)))
    for dead in result.rejected:
        where = dead.source.removeprefix("kpi:")
        reason = i18n.t(f"kpi.reject.{dead.reason}", lang)
        typer.echo(
            i18n.t("kpi.cli.row", lang, where=where, reason=reason, code=dead.reason, detail=dead.detail)
        )


def _finish(result: ImportResult, database_url: str | None, lang: str) -> None:
    """Report, deliver, and choose the exit code."""
    _report(result, lang)
    try:
        deliver([*result.values, *result.rejected], database_url, lang)
    except IocError as exc:
        raise _Fail(str(exc)) from exc
    if not result.values:
        typer.echo(i18n.t("kpi.cli.none", lang), err=True)
        raise typer.Exit(2)


def _fail(exc: Exception, lang: str) -> typer.Exit:
    typer.echo(i18n.t("kpi.cli.error", lang, message=str(exc)), err=True)
    return typer.Exit(1)


@app.command(
    "import",
    help=h(
        "Nhập tệp báo cáo (CSV hoặc XLSX).",
        "Import a report file (CSV or XLSX, by extension or content).",
    ),
)
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            help=h("báo cáo CSV, văn bản phân cách tab hoặc XLSX", "CSV, tab-separated text or XLSX report")
        ),
    ],
    sheet: Annotated[
        str | None,
        typer.Option(
            "--sheet", help=h("tên trang XLSX (mặc định: trang đầu)", "XLSX sheet name (default: the first)")
        ),
    ] = None,
    site: SiteOpt = None,
    database_url: DbOpt = None,
    lang: LangOpt = "vi",
) -> None:
    """Import a report file (CSV or XLSX, by extension or content)."""
    # lazy: the KPI parsers load pydantic models and openpyxl, not needed for --help
    from ingest.kpi import KpiCatalog, parse_csv, parse_xlsx

    lang = i18n.normalise_lang(lang)
    try:
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise _Fail(i18n.t("kpi.cli.unreadable", lang, path=file, message=exc.strerror or exc)) from exc
        cat = KpiCatalog.from_site(_site(site))
        is_xlsx = file.suffix.lower() in (".xlsx", ".xlsm") or data.startswith(b"PK\x03\x04")
        result = parse_xlsx(data, file.name, cat, sheet=sheet) if is_xlsx else parse_csv(data, file.name, cat)
        _finish(result, database_url, lang)
    except _Fail as exc:
        raise _fail(exc, lang) from exc


@app.command(
    help=h(
        "Lấy nguồn JSON giá trị KPI qua HTTP rồi nhập.",
        "Fetch a JSON feed of KPI values over HTTP and import it.",
    )
)
def pull(
    url: Annotated[
        str,
        typer.Argument(
            help=h(
                "địa chỉ HTTP(S) của nguồn JSON giá trị KPI", "HTTP(S) address of a JSON feed of KPI values"
            )
        ),
    ],
    timeout: Annotated[
        float, typer.Option(help=h("số giây chờ mỗi lần thử", "seconds to wait for each attempt"))
    ] = 10.0,
    attempts: Annotated[
        int,
        typer.Option(
            help=h(
                "số lần thử trước khi bỏ (5xx, quá hạn, bị từ chối)",
                "tries before giving up (5xx, timeouts, refused)",
            )
        ),
    ] = 3,
    site: SiteOpt = None,
    database_url: DbOpt = None,
    lang: LangOpt = "vi",
) -> None:
    """Fetch a JSON feed of KPI values over HTTP and import it."""
    # lazy: the KPI parsers load pydantic models, not needed for --help
    from ingest.kpi import KpiCatalog, parse_json

    lang = i18n.normalise_lang(lang)
    try:
        cat = KpiCatalog.from_site(_site(site))
        body = fetch_json_bytes(url, timeout=timeout, attempts=attempts, lang=lang)
        try:
            obj = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _Fail(i18n.t("kpi.cli.not_json", lang, url=url, message=exc)) from exc
        _finish(parse_json(obj, url, cat), database_url, lang)
    except _Fail as exc:
        raise _fail(exc, lang) from exc


class _Retryable(Exception):
    """A failure worth another try: 5xx, 429, timeout, connection refused."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, _Retryable)


def fetch_json_bytes(
    url: str, *, timeout: float, attempts: int, lang: str = "vi", backoff: float = 0.5
) -> bytes:
    """GET ``url`` with a timeout, retrying server errors and network failures; raise ``_Fail``."""
    if not url.startswith(("http://", "https://")):
        raise _Fail(i18n.t("kpi.cli.pull_failed", lang, url=url, attempts=0, message="only http(s) URLs"))
    # lazy: tenacity, and urllib's HTTP and TLS modules (20 ms of `ioc --help`), are only needed when a feed is pulled
    import urllib.error
    import urllib.request

    from tenacity import RetryError, retry, retry_if_exception, stop_after_attempt, wait_exponential

    @retry(
        retry=retry_if_exception(_retryable),
        stop=stop_after_attempt(max(1, attempts)),
        wait=wait_exponential(multiplier=backoff, max=10),
        reraise=False,
    )
    def get() -> bytes:
        request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "ioc-kpi"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # scheme checked above
                data: bytes = response.read()
                return data
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code == 429:
                logger.warning("KPI feed %s answered %s; retrying", url, exc.code)
                raise _Retryable(f"HTTP {exc.code} {exc.reason}") from exc
            raise _Fail(
                i18n.t(
                    "kpi.cli.pull_failed", lang, url=url, attempts=1, message=f"HTTP {exc.code} {exc.reason}"
                )
            ) from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            logger.warning("KPI feed %s failed: %s; retrying", url, reason)
            raise _Retryable(str(reason)) from exc

    try:
        return get()
    except RetryError as exc:
        last = exc.last_attempt.exception()
        raise _Fail(i18n.t("kpi.cli.pull_failed", lang, url=url, attempts=attempts, message=last)) from exc


@app.command(help=h("Nhập tay một giá trị.", "Enter one value by hand."))
def add(
    kpi: Annotated[
        str,
        typer.Option(
            "--kpi",
            help=h(
                "mã hoặc tên KPI, ví dụ dossiers_on_time_pct", "KPI id or name, e.g. dossiers_on_time_pct"
            ),
        ),
    ],
    unit: Annotated[
        str,
        typer.Option(
            "--unit",
            help=h(
                "mã hoặc tên địa bàn, ví dụ 03172 hoặc Na Sang", "area code or name, e.g. 03172 or Na Sang"
            ),
        ),
    ],
    period: Annotated[
        str, typer.Option("--period", help=h("2025-07, Q3/2025, 2025 ...", "2025-07, Q3/2025, 2025 ..."))
    ],
    value: Annotated[
        str, typer.Option("--value", help=h("96.63, 96,63 hoặc 96.63%", "96.63, 96,63 or 96.63%"))
    ],
    target: Annotated[
        str | None, typer.Option("--target", help=h("chỉ tiêu của kỳ này", "target of this period"))
    ] = None,
    source: Annotated[
        str, typer.Option("--source", help=h("nguồn của số liệu", "where the figure comes from"))
    ] = "manual",
    site: SiteOpt = None,
    database_url: DbOpt = None,
    lang: LangOpt = "vi",
) -> None:
    """Enter one value by hand."""
    # lazy: the KPI parsers and events load pydantic models, not needed for --help
    from ingest.kpi import ImportResult, KpiCatalog, manual_value
    from ioc.events import DeadLetter

    lang = i18n.normalise_lang(lang)
    try:
        cat = KpiCatalog.from_site(_site(site))
        result = ImportResult(rows=1)
        try:
            result.values.append(manual_value(cat, kpi, unit, period, value, target, source=source))
        except InvalidInput as exc:
            raw = json.dumps(
                {"kpi": kpi, "unit": unit, "period": period, "value": value, "target": target},
                ensure_ascii=False,
            )
            result.rejected.append(DeadLetter.of(f"kpi:{source}", raw, exc))
        _finish(result, database_url, lang)
    except _Fail as exc:
        raise _fail(exc, lang) from exc
