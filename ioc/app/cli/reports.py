"""``ioc reports ...``: citizens' reports from the command line: the hotline operator's entry and the lifecycle.

``add`` takes a report phoned in to the hotline (channel ``operator``, with the caller's number), routed and given
its deadline by the same rules as the public form; ``assign``, ``progress``, ``resolve``, ``reject`` and ``note``
take one step each, refused when the lifecycle does not allow it (a rejected report cannot be resolved), each
with its line in the report's trail and in the audit log; ``list`` and ``show`` read them back; ``kpis`` computes
the monthly KPIs by commune (``analytics.report_kpis``) and sends them like any KPI figures.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from ioc import i18n
from ioc.app.cli.common import DatabaseUrlOpt, LangOpt, SiteOpt, fail, h, load_site, settings, setup_logging

if TYPE_CHECKING:
    from ioc.app.site import SiteRuntime
    from ioc.store.reports import LocationSource, Photo, Report, ReportStore

logger = logging.getLogger(__name__)
out = Console()

i18n.register(
    {
        "reports.cli.added": (
            "Đã tiếp nhận phản ánh {code}: {category}, {commune}; đơn vị xử lý {unit}; hạn {deadline}",
            "Report {code} received: {category}, {commune}; handled by {unit}; due {deadline}",
        ),
        "reports.cli.duplicate": (
            "Trùng với phản ánh {code} (cùng lĩnh vực, gần vị trí, trong 24 giờ): đã gộp",
            "Repeats report {code} (same category, nearby, within 24 h): linked to it",
        ),
        "reports.cli.stepped": ("Phản ánh {code}: {step} — {status}", "Report {code}: {step} — {status}"),
        "reports.cli.refused_step": (
            "Không thể thực hiện \u201c{step}\u201d với phản ánh {code}: "
            "phản ánh đang ở trạng thái \u201c{status}\u201d",
            "Cannot take the step \u201c{step}\u201d on report {code}: it is {status}",
        ),
        "reports.cli.unknown": ("Không có phản ánh mã {code}", "No report has the code {code}"),
        "reports.cli.bad_code": (
            "{code} không phải mã phản ánh (dạng PA-XXXXX-XXXXX)", "{code} is not a tracking code (PA-XXXXX-XXXXX)"
        ),
        "reports.cli.unknown_unit": (
            "Không có đơn vị {unit}; các đơn vị: {units}", "No unit {unit}; the units are: {units}"
        ),
        "reports.cli.unknown_category": (
            "Không có lĩnh vực {category}; các lĩnh vực: {categories}",
            "No category {category}; the categories are: {categories}",
        ),
        "reports.cli.no_reports": (
            "Địa bàn chưa cấu hình phản ánh (reports.yaml, calendar.yaml)",
            "The site has no citizens' reports configured (reports.yaml, calendar.yaml)",
        ),
        "reports.cli.outside": (
            "Vị trí ({lon}, {lat}) nằm ngoài các xã của địa bàn; dùng --commune nếu người gọi chỉ nói tên xã",
            "({lon}, {lat}) is outside the site's communes; use --commune when the caller only names the commune",
        ),
        "reports.cli.location": ("Cần --lon và --lat, hoặc --commune", "Give --lon and --lat, or --commune"),
        "reports.cli.bad_input": ("Dữ liệu không hợp lệ: {detail}", "Invalid input: {detail}"),
        "reports.cli.photo": ("Ảnh {file} không dùng được: {detail}", "Photo {file} cannot be used: {detail}"),
        "reports.cli.none": ("Không có phản ánh nào", "No reports"),
        "reports.cli.overdue": ("quá hạn", "overdue"),
        "reports.cli.kpis": (
            "Tháng {month}: {n} giá trị chỉ tiêu phản ánh (đúng hạn, thời gian xử lý) của {communes} xã",
            "{month}: {n} report KPI values (on time, time to resolve) for {communes} communes",
        ),
        "reports.cli.bad_month": ("{month} không phải tháng dạng YYYY-MM", "{month} is not a month as YYYY-MM"),
        "reports.cli.header": (
            "Mã | Trạng thái | Lĩnh vực | Xã | Đơn vị | Hạn | Kênh",
            "Code | Status | Category | Commune | Unit | Due | Channel",
        ),
    }
)

app = typer.Typer(
    no_args_is_help=True,
    help=h("Phản ánh hiện trường của người dân", "Citizens' reports (phản ánh hiện trường)"),
)

ByOpt = Annotated[str, typer.Option("--by", help=h("tài khoản người thực hiện", "who takes the step (username)"))]
NoteOpt = Annotated[str | None, typer.Option(help=h("ghi chú", "note"))]
PhotoOpt = Annotated[
    list[Path] | None, typer.Option("--photo", help=h("ảnh (lặp lại, tối đa 3)", "photo file (repeat, up to 3)"))
]


@app.command(
    "add",
    help=h(
        "Nhập phản ánh nhận qua đường dây nóng, với số điện thoại người gọi.",
        "Enter a report taken on the hotline, with the caller's number.",
    ),
)
def add(
    category: Annotated[str, typer.Option(help=h("mã lĩnh vực, ví dụ traffic", "category id, e.g. traffic"))],
    description: Annotated[str, typer.Option(help=h("nội dung phản ánh", "what the caller reports"))],
    phone: Annotated[str, typer.Option(help=h("số điện thoại người gọi", "the caller's number"))],
    by: ByOpt,
    lon: Annotated[float | None, typer.Option(help=h("kinh độ", "longitude"))] = None,
    lat: Annotated[float | None, typer.Option(help=h("vĩ độ", "latitude"))] = None,
    commune: Annotated[
        str | None, typer.Option(help=h("mã xã khi không có toạ độ", "commune code when there is no point"))
    ] = None,
    photo: PhotoOpt = None,
    site: SiteOpt = None,
    database_url: DatabaseUrlOpt = None,
    lang: LangOpt = "vi",
) -> None:
    """Enter a report taken on the hotline, with the caller's number."""
    # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
    from analytics.reports import OutsideSite, clean_text, duplicate_search, normalise_phone, plan, plan_in_commune
    from analytics.working_days import WorkingCalendar
    from ioc.errors import CalendarError
    from ioc.events import utcnow
    from ioc.geo import AreaIndex
    from ioc.store.reports import NewReport, Rejection, keyed_hash

    setup_logging("WARNING")
    runtime = _runtime(site, lang)
    config = runtime.config
    assert config.reports is not None and config.working_calendar is not None  # checked by _runtime
    intake = config.reports.intake
    now = utcnow()
    summary: dict[str, Any] = {"category": category, "description": description[:300], "lon": lon, "lat": lat,
                               "commune": commune, "photos": [str(p) for p in photo or []], "by": by}
    with _store(database_url) as store:

        def refuse(reason: str, message: str, phone_value: str | None = None) -> typer.Exit:
            hashed = keyed_hash(_hash_key(), phone_value) if phone_value else None
            store.reject(Rejection("operator", reason, message, None, hashed, summary), at=now)
            return fail(message, lang)

        known = [c.id for c in config.reports.categories]
        if category not in known:
            raise refuse("bad_category", i18n.t("reports.cli.unknown_category", lang, category=category,
                                                categories=", ".join(known)))
        try:
            caller = normalise_phone(phone)
        except ValueError as exc:
            raise refuse("bad_phone", i18n.t("reports.cli.bad_input", lang, detail=exc)) from exc
        try:
            text = clean_text(description, intake.max_description_chars)
        except ValueError as exc:
            raise refuse("bad_description", i18n.t("reports.cli.bad_input", lang, detail=exc), caller) from exc
        photos = _photos(photo or [], intake, lang, lambda reason, message: refuse(reason, message, caller))
        calendar = WorkingCalendar.from_config(config.working_calendar)
        zone = _zone(config.site.timezone)
        index = AreaIndex.from_site(config, runtime.directory)
        source: LocationSource
        try:
            if lon is not None and lat is not None:
                where = plan(config, index, calendar, zone, category, lon, lat, now)
                point, source = (lon, lat), "operator"
            elif commune is not None:
                where = plan_in_commune(config, calendar, zone, category, commune, now)
                inner = index.geometry(where.commune_code).representative_point()
                point, source = (float(inner.x), float(inner.y)), "commune"
            else:
                raise refuse("no_location", i18n.t("reports.cli.location", lang), caller)
        except OutsideSite as exc:
            raise refuse("outside_site", i18n.t("reports.cli.outside", lang, lon=lon, lat=lat)
                         if lon is not None else str(exc), caller) from exc
        except CalendarError as exc:
            raise fail(str(exc), lang) from exc
        new = NewReport(
            category=category, description=text, lon=point[0], lat=point[1], location_source=source,
            commune_code=where.commune_code, unit_id=where.unit_id, deadline=where.deadline, channel="operator",
            created_by=by, phone=caller, received_at=now,
        )
        report = store.submit(new, photos, duplicate_search(category, point[0], point[1], now, intake))
    out.print(i18n.t("reports.cli.added", lang, **_describe(report, runtime, lang)), highlight=False)
    if report.duplicate_of_code:
        out.print(i18n.t("reports.cli.duplicate", lang, code=report.duplicate_of_code), highlight=False)
    out.print(report.code, highlight=False)


@app.command("assign", help=h("Chuyển phản ánh cho đơn vị xử lý.", "Assign a report to the unit handling it."))
def assign(
    code: str,
    by: ByOpt,
    unit: Annotated[
        str | None, typer.Option(help=h("đơn vị khác đơn vị được định tuyến", "another unit than the routed one"))
    ] = None,
    assignee: Annotated[str | None, typer.Option(help=h("người xử lý", "who handles it"))] = None,
    note: NoteOpt = None,
    site: SiteOpt = None,
    database_url: DatabaseUrlOpt = None,
    lang: LangOpt = "vi",
) -> None:
    """Assign a report to the unit handling it."""
    runtime = _runtime(site, lang)
    assert runtime.config.reports is not None
    units = [u.id for u in runtime.config.reports.units]
    if unit is not None and unit not in units:
        raise fail(i18n.t("reports.cli.unknown_unit", lang, unit=unit, units=", ".join(units)), lang)
    _step(runtime, code, "assign", by, note, database_url, lang, unit_id=unit, assignee=assignee)


@app.command("progress", help=h("Đánh dấu đơn vị bắt đầu xử lý.", "Mark that the unit has started work."))
def progress(
    code: str, by: ByOpt, note: NoteOpt = None, site: SiteOpt = None, database_url: DatabaseUrlOpt = None,
    lang: LangOpt = "vi",
) -> None:
    """Mark that the unit has started work."""
    _step(_runtime(site, lang), code, "progress", by, note, database_url, lang)


@app.command(
    "resolve",
    help=h(
        "Hoàn thành xử lý, với câu trả lời và ảnh kết quả.",
        "Close a report as resolved, with the answer and photos of the fix.",
    ),
)
def resolve(
    code: str,
    by: ByOpt,
    note: Annotated[str, typer.Option(help=h("kết quả trả lời người dân", "the answer shown to the citizen"))],
    photo: PhotoOpt = None,
    site: SiteOpt = None,
    database_url: DatabaseUrlOpt = None,
    lang: LangOpt = "vi",
) -> None:
    """Close a report as resolved, with the answer and photos of the fix."""
    runtime = _runtime(site, lang)
    assert runtime.config.reports is not None
    photos = _photos(photo or [], runtime.config.reports.intake, lang, lambda _reason, message: fail(message, lang))
    _step(runtime, code, "resolve", by, note, database_url, lang, photos=photos)


@app.command("reject", help=h("Từ chối xử lý, với lý do.", "Reject a report, with the reason."))
def reject(
    code: str,
    by: ByOpt,
    note: Annotated[str, typer.Option(help=h("lý do trả lời người dân", "the reason shown to the citizen"))],
    site: SiteOpt = None,
    database_url: DatabaseUrlOpt = None,
    lang: LangOpt = "vi",
) -> None:
    """Reject a report, with the reason."""
    _step(_runtime(site, lang), code, "reject", by, note, database_url, lang)


@app.command("note", help=h("Thêm ghi chú nội bộ.", "Add an internal note."))
def note_(
    code: str,
    by: ByOpt,
    text: Annotated[str, typer.Option("--text", help=h("nội dung ghi chú", "the note"))],
    site: SiteOpt = None,
    database_url: DatabaseUrlOpt = None,
    lang: LangOpt = "vi",
) -> None:
    """Add an internal note."""
    _step(_runtime(site, lang), code, "note", by, text, database_url, lang)


@app.command("list", help=h("Liệt kê phản ánh, mới nhất trước.", "List reports, newest first."))
def list_(
    status: Annotated[
        list[str] | None, typer.Option(help=h("trạng thái (lặp lại)", "status (repeat)"))
    ] = None,
    unit: Annotated[str | None, typer.Option(help=h("đơn vị", "unit"))] = None,
    commune: Annotated[str | None, typer.Option(help=h("mã xã", "commune code"))] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help=h("số dòng tối đa", "most rows"))] = 50,
    as_json: Annotated[bool, typer.Option("--json", help=h("in JSON", "print JSON"))] = False,
    site: SiteOpt = None,
    database_url: DatabaseUrlOpt = None,
    lang: LangOpt = "vi",
) -> None:
    """List reports, newest first."""
    from ioc.events import utcnow

    runtime = _runtime(site, lang)
    with _store(database_url) as store:
        found = store.search(status=status or [], unit_id=unit, commune_code=commune, limit=limit)
    if as_json:
        out.print_json(json.dumps([_as_dict(r) for r in found], ensure_ascii=False, default=str))
        return
    if not found:
        out.print(i18n.t("reports.cli.none", lang), highlight=False)
        return
    out.print(i18n.t("reports.cli.header", lang), highlight=False)
    now = utcnow()
    for r in found:
        d = _describe(r, runtime, lang)
        late = f" ({i18n.t('reports.cli.overdue', lang)})" if r.deadline < now and r.closed_at is None else ""
        sim = f" | {i18n.t('report.simulated', lang)}" if r.simulated else ""
        out.print(
            f"{r.code} | {i18n.t(f'report.status.{r.status}', lang)} | {d['category']} | {d['commune']} | "
            f"{d['unit']} | {d['deadline']}{late} | {i18n.t(f'report.channel.{r.channel}', lang)}{sim}",
            highlight=False, markup=False, soft_wrap=True,
        )


@app.command("show", help=h("Xem một phản ánh và quá trình xử lý.", "Show one report and its trail."))
def show(
    code: str, site: SiteOpt = None, database_url: DatabaseUrlOpt = None, lang: LangOpt = "vi",
) -> None:
    """Show one report and its trail."""
    runtime = _runtime(site, lang)
    parsed = _code(code, lang)
    with _store(database_url) as store:
        report = store.get(parsed)
        if report is None:
            raise fail(i18n.t("reports.cli.unknown", lang, code=parsed), lang)
        events = store.events(parsed)
    d = _describe(report, runtime, lang)
    out.print(i18n.t("reports.cli.added", lang, **d), highlight=False, markup=False, soft_wrap=True)
    out.print(report.description, highlight=False, markup=False, soft_wrap=True)
    zone = _zone(runtime.config.site.timezone)
    for ev in events:
        line = f"{ev.at.astimezone(zone):%H:%M %d/%m/%Y} {ev.actor}: {i18n.t(f'report.step.{ev.action}', lang)}"
        if ev.note:
            line += f" — {ev.note}"
        out.print(line, highlight=False, markup=False, soft_wrap=True)


@app.command("kpis", help=h(
    "Tính chỉ tiêu phản ánh theo tháng và xã (tỷ lệ xử lý đúng hạn, trung vị thời gian xử lý) cho bảng lãnh đạo.",
    "Compute the reports' monthly KPIs by commune (resolved on time, median time to resolve) for the leaders.",
))
def kpis(
    month: Annotated[str, typer.Option(help=h("tháng YYYY-MM", "month, YYYY-MM"))],
    until: Annotated[str | None, typer.Option(help=h("đến tháng YYYY-MM", "through month YYYY-MM"))] = None,
    site: SiteOpt = None, database_url: DatabaseUrlOpt = None, lang: LangOpt = "vi",
) -> None:
    """Compute the reports' KPIs of each month and send them like any KPI figures (Kafka, or the database)."""
    import re

    from analytics.kpi import month_start
    from analytics.report_kpis import KPI_IDS, ReportOutcome, monthly_kpis, months
    from ioc.app.cli.kpi import deliver

    runtime = _runtime(site, lang)
    for typed in (month, until):
        if typed is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", typed):
            raise fail(i18n.t("reports.cli.bad_month", lang, month=typed), lang)
    zone = _zone(runtime.config.site.timezone)
    targets = {k.id: k.target for k in runtime.config.kpis if k.id in KPI_IDS}
    events = []
    with _store(database_url) as store:
        for year, m in months(month, until):
            start, end = month_start(year, m, zone), month_start(year, m + 1, zone)
            rows = [ReportOutcome(*row) for row in store.outcomes(start, end)]
            values = monthly_kpis(rows, start, end, targets)
            out.print(i18n.t("reports.cli.kpis", lang, month=f"{year}-{m:02d}", n=len(values),
                             communes=len({v.unit_code for v in values})), highlight=False)
            events += values
    deliver(events, database_url, lang)


# --- shared ----------------------------------------------------------------------------------------------


def _runtime(site: Path | None, lang: str) -> SiteRuntime:
    runtime = load_site(site, lang)
    if runtime.config.reports is None or runtime.config.working_calendar is None:
        raise fail(i18n.t("reports.cli.no_reports", lang), lang)
    return runtime


@contextmanager
def _store(database_url: str | None) -> Iterator[ReportStore]:
    # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
    from psycopg_pool import ConnectionPool

    from ioc.app.endpoints import endpoints
    from ioc.store.reports import ReportStore

    with ConnectionPool(database_url or endpoints(settings()).postgres_dsn, min_size=1, max_size=1) as pool:
        yield ReportStore(pool)


def _hash_key() -> str:
    # The same key as the wall's, so one phone number hashes alike in both channels' rejections.
    return settings().secret_key or "ioc-reports"


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _code(typed: str, lang: str) -> str:
    from ioc.store.reports import parse_code

    parsed = parse_code(typed)
    if parsed is None:
        raise fail(i18n.t("reports.cli.bad_code", lang, code=typed), lang)
    return parsed


def _photos(files: Sequence[Path], intake: Any, lang: str, refuse: Any) -> list[Photo]:
    from dashboards.report_photos import PhotoRefused, reencode

    if len(files) > intake.max_photos:
        detail = f"{len(files)} > {intake.max_photos}"
        raise refuse("too_many_photos", i18n.t("reports.cli.bad_input", lang, detail=detail))
    photos = []
    for f in files:
        try:
            photos.append(reencode(f.read_bytes()[: intake.max_photo_bytes + 1], intake))
        except OSError as exc:
            raise refuse("bad_photo", i18n.t("reports.cli.photo", lang, file=f, detail=exc)) from exc
        except PhotoRefused as exc:
            raise refuse(exc.reason, i18n.t("reports.cli.photo", lang, file=f, detail=exc.detail)) from exc
    return photos


def _step(
    runtime: SiteRuntime, typed: str, action: str, by: str, note: str | None, database_url: str | None, lang: str,
    *, unit_id: str | None = None, assignee: str | None = None, photos: Sequence[Photo] = (),
) -> None:
    from analytics.reports import Action, Status, StepRefused, next_status
    from ioc.store.reports import ReportNotFound

    code = _code(typed, lang)
    step = Action(action)

    def decide(status: str) -> str:
        return next_status(Status(status), step).value

    try:
        with _store(database_url) as store:
            report = store.step(code, action, actor=by, decide=decide, note=(note or "").strip() or None,
                                unit_id=unit_id, assignee=assignee, photos=photos)
    except ReportNotFound as exc:
        raise fail(i18n.t("reports.cli.unknown", lang, code=code), lang) from exc
    except StepRefused as exc:
        raise fail(i18n.t("reports.cli.refused_step", lang, code=code, step=i18n.t(f"report.step.{action}", lang),
                          status=i18n.t(f"report.status.{exc.status.value}", lang)), lang) from exc
    out.print(i18n.t("reports.cli.stepped", lang, code=code, step=i18n.t(f"report.step.{action}", lang),
                     status=i18n.t(f"report.status.{report.status}", lang)), highlight=False)


def _describe(report: Report, runtime: SiteRuntime, lang: str) -> dict[str, str]:
    config = runtime.config
    assert config.reports is not None
    en = lang == "en"
    category = next((c for c in config.reports.categories if c.id == report.category), None)
    unit = next((u for u in config.reports.units if u.id == report.unit_id), None)
    try:
        area = config.area(report.commune_code)
        commune = (area.name_en or area.name) if en else area.name
    except KeyError:
        commune = report.commune_code
    deadline: datetime = report.deadline.astimezone(_zone(config.site.timezone))
    return {
        "code": report.code,
        "category": (category.name_en if en else category.name) if category else report.category,
        "commune": commune,
        "unit": (unit.name_en if en else unit.name) if unit else report.unit_id,
        "deadline": f"{deadline:%d/%m/%Y}",
    }


def _as_dict(report: Report) -> dict[str, Any]:
    return {
        "code": report.code, "status": report.status, "category": report.category, "commune": report.commune_code,
        "unit": report.unit_id, "channel": report.channel, "deadline": report.deadline.isoformat(),
        "created_at": report.created_at.isoformat(), "duplicate_of": report.duplicate_of_code,
        "assignee": report.assignee, "lon": report.lon, "lat": report.lat, "simulated": report.simulated,
    }
