"""Exports of the leaders' panels: the ranking and every unit's KPIs of one period, as XLSX and as PDF.

``/leaders/export.xlsx`` and ``/leaders/export.pdf`` (``?period=2025-07&lang=vi``) sit behind the dashboards'
login guard like every route; they answer 403 to roles outside ``EXPORT_ROLES`` (operators), hold only the
units of the user's scope (the same query as the page), and each export is one line in ``audit_log`` (action
``export``, target the period, detail: format, language, scope and the units and indicators exported).

The XLSX keeps numbers as numbers (the reader's Excel shows its own separators); the PDF writes them the
Vietnamese way (96,6 %; 1.234) in Vietnamese. The PDF embeds DejaVu Sans (Debian's ``fonts-dejavu-core``,
installed by scripts/system-deps.sh) for the diacritics; without that font the PDF route answers 503 saying
what to install.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Flask, Response, request
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from dashboards.auth import AuthStore
from dashboards.leaders_data import (
    GRANULARITIES,
    LeadersData,
    LeadersReport,
    Period,
    UnitScore,
    format_change,
    format_value,
)
from dashboards.pages import EXPORT_ROLES, session_user
from ioc.errors import IocError, SinkUnavailable
from ioc.events import utcnow
from ioc.i18n import normalise_lang, register, t
from ioc.number_format import format_number, format_percent

logger = logging.getLogger(__name__)

FORMATS = ("xlsx", "pdf")
ROUTE = "/leaders/export.<fmt>"
FONT_ENV = "IOC_PDF_FONT"  # named in the error that says how to choose another font (WallSettings.pdf_font)
FONT_NAME = "IocDejaVuSans"
_MIME = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}

STRINGS: dict[str, tuple[str, str]] = {
    "export.title": (
        "Báo cáo chỉ tiêu và xếp hạng chuyển đổi số",
        "KPI and digital-transformation ranking report",
    ),
    "export.subtitle": ("{site} · Kỳ: {period}", "{site} · Period: {period}"),
    "export.generated": (
        "Xuất lúc {time} bởi {user} · Phạm vi: {scope}",
        "Exported {time} by {user} · Scope: {scope}",
    ),
    "export.scope.all": ("toàn địa bàn", "whole site"),
    "export.sheet.ranking": ("Xếp hạng", "Ranking"),
    "export.sheet.kpis": ("Chỉ tiêu", "Indicators"),
    "export.sheet.method": ("Cách tính", "Method"),
    "export.section.ranking": ("Xếp hạng các xã", "Communes ranked"),
    "export.section.kpis": ("Chỉ tiêu theo đơn vị", "Indicators by unit"),
    "export.col.code": ("Mã đơn vị", "Unit code"),
    "export.col.max_points": ("Điểm tối đa", "Maximum points"),
    "export.col.previous_index": ("Chỉ số kỳ trước", "Previous index"),
    "export.col.previous_rank": ("Hạng kỳ trước", "Previous rank"),
    "export.col.previous_value": ("Kỳ trước", "Previous period"),
    "export.col.last_year_value": ("Cùng kỳ năm trước", "Same period last year"),
    "export.col.kpi_id": ("Mã chỉ tiêu", "Indicator id"),
    "export.col.unit_of": ("Đơn vị tính", "Unit of measure"),
    "export.col.higher": ("Càng cao càng tốt", "Higher is better"),
    "export.col.points": ("Điểm", "Points"),
    "export.col.baseline": ("Mốc (số liệu đã công bố)", "Baseline (reported figure)"),
    "export.col.baseline_as_of": ("Năm của mốc", "Baseline year"),
    "export.col.expected": ("Số chỉ tiêu tính điểm", "Scored indicators"),
    "export.yes": ("Có", "Yes"),
    "export.no": ("Không", "No"),
    "export.bad_format": ("Định dạng xuất không hỗ trợ: {fmt}", "Unsupported export format: {fmt}"),
    "export.bad_period": (
        "Kỳ không hợp lệ: {period} (dạng 2025-07, 2025-Q3 hoặc 2025)",
        "Invalid period: {period} (use 2025-07, 2025-Q3 or 2025)",
    ),
    "export.forbidden": (
        "Tài khoản của bạn không được xuất báo cáo.",
        "Your account may not export reports.",
    ),
    "export.unavailable": (
        "Không đọc được số liệu chỉ tiêu; thử lại sau ít phút.",
        "KPI figures cannot be read; try again in a few minutes.",
    ),
    "export.no_source": ("Chưa cấu hình nguồn số liệu chỉ tiêu.", "No KPI data source is configured."),
    "export.no_font": (
        "Không tìm thấy phông chữ tiếng Việt cho PDF ({path}). Cài gói fonts-dejavu-core "
        "(apt-get install fonts-dejavu-core) hoặc đặt IOC_PDF_FONT.",
        "No Vietnamese font for the PDF ({path}). Install fonts-dejavu-core "
        "(apt-get install fonts-dejavu-core) or set IOC_PDF_FONT.",
    ),
}
register(STRINGS)


class FontMissing(IocError):
    """The TTF font with Vietnamese glyphs the PDF needs is not installed."""


# --- what the page links to ------------------------------------------------------------------------------


def export_href(fmt: str, period_key: str | None, lang: str) -> str:
    """Return the export link of a period (the page's current one)."""
    query = {"lang": lang}
    if period_key:
        query["period"] = period_key
    return f"/leaders/export.{fmt}?{urlencode(query)}"


def filename(report: LeadersReport, fmt: str) -> str:
    """Return an ASCII file name: chi-tieu_2025-Q3.xlsx."""
    return f"chi-tieu_{report.period.key()}.{fmt}"


# --- the routes ------------------------------------------------------------------------------------------


def install_routes(server: Flask, source_of: Callable[[Flask], LeadersData | None], font: Path) -> None:
    """Add the two export routes (once per server); the login guard in front of them is install_login's.

    ``font``: the TTF the PDF embeds (``WallSettings.pdf_font``)."""
    if "leaders_export" in server.view_functions:
        return

    def leaders_export(fmt: str) -> Response:
        lang = normalise_lang(request.args.get("lang"))
        user = session_user()
        if user is None:  # the guard answers first; this keeps the route safe on its own too
            return _text(t("auth.unauthorised", lang), 401)
        if user.role not in EXPORT_ROLES:
            logger.info("export refused to %s (role %s)", user.username, user.role)
            return _text(t("export.forbidden", lang), 403)
        if fmt not in FORMATS:
            return _text(t("export.bad_format", lang, fmt=fmt), 404)
        source = source_of(server)
        if source is None:
            return _text(t("export.no_source", lang), 503)
        raw = request.args.get("period", "")
        try:
            period = Period.parse(raw) if raw else _newest(source, user.unit_scopes)
        except ValueError:
            return _text(t("export.bad_period", lang, period=raw[:20]), 400)
        except SinkUnavailable as exc:
            logger.warning("export for %s failed: %s", user.username, exc)
            return _text(t("export.unavailable", lang), 503)
        if period is None:
            return _text(t("export.bad_period", lang, period="—"), 404)
        try:
            report = source.report(period, user.unit_scopes)
            site_name = _site_name(server)
            exported_at = utcnow()
            if fmt == "xlsx":
                body = build_xlsx(report, lang, site_name, user.username, exported_at)
            else:
                body = build_pdf(report, lang, site_name, user.username, exported_at, font)
            _audit(source, user.username, fmt, lang, report)
        except FontMissing as exc:
            logger.error("PDF export impossible: %s", exc)
            return _text(t("export.no_font", lang, path=str(font)), 503)
        except SinkUnavailable as exc:
            logger.warning("export for %s failed: %s", user.username, exc)
            return _text(t("export.unavailable", lang), 503)
        logger.info(
            "%s exported %s of %s (%d units)", user.username, fmt, period.key(), len(report.unit_codes)
        )
        response = Response(body, 200, mimetype=_MIME[fmt])
        response.headers["Content-Disposition"] = f'attachment; filename="{filename(report, fmt)}"'
        response.headers["Cache-Control"] = "no-store"
        return response

    server.add_url_rule(ROUTE, "leaders_export", leaders_export, methods=["GET"])


def _newest(source: LeadersData, scopes: tuple[str, ...]) -> Period | None:
    """The newest month with figures, else the newest quarter, else year (what the page opens on)."""
    for granularity in GRANULARITIES:
        found = source.periods(granularity, scopes)
        if found:
            return found[0]
    return None


def _site_name(server: Flask) -> str:
    context = server.extensions.get("ioc_wall")
    site = getattr(context, "site", None)
    return str(site.site.name) if site is not None else ""


def _text(message: str, status: int) -> Response:
    return Response(message + "\n", status, mimetype="text/plain")


def _audit(source: LeadersData, username: str, fmt: str, lang: str, report: LeadersReport) -> None:
    pool = getattr(source, "pool", None)
    if pool is None:
        raise SinkUnavailable("the KPI source has no database to write the audit line to")
    AuthStore(pool).record(
        username,
        "export",
        target=f"leaders:{report.period.key()}",
        detail={
            "format": fmt,
            "lang": lang,
            "period": report.period.key(),
            "scopes": list(report.scopes),
            "units": list(report.unit_codes),
            "kpis": [k.id for k in report.catalog.kpis],
            "ranked": len(report.scores),
        },
    )


# --- XLSX ------------------------------------------------------------------------------------------------


_HEAD_FONT = Font(bold=True, color="FFFFFF")
_HEAD_FILL = PatternFill("solid", fgColor="1F3A5F")


def _scope_text(report: LeadersReport, lang: str) -> str:
    if not report.scopes:
        return t("export.scope.all", lang)
    names = []
    for code in report.scopes:
        try:
            names.append(report.catalog.unit(code).name(lang))
        except KeyError:
            names.append(code)
    return ", ".join(names)


def _local(at: datetime, report: LeadersReport) -> str:
    zone: ZoneInfo = report.catalog.tz
    return at.astimezone(zone).strftime("%d/%m/%Y %H:%M")


def _sheet(
    wb: Workbook, title: str, header: list[str], rows: list[list[Any]], formats: dict[int, str]
) -> None:
    ws = wb.create_sheet(title)
    ws.append(header)
    for cell in ws[1]:
        cell.font, cell.fill = _HEAD_FONT, _HEAD_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in rows:
        ws.append(row)
    for col, fmt in formats.items():
        for (cell,) in ws.iter_rows(min_row=2, min_col=col, max_col=col):
            cell.number_format = fmt
    for i, text in enumerate(header, start=1):
        width = max([len(str(text))] + [len(str(r[i - 1])) for r in rows if r[i - 1] is not None])
        ws.column_dimensions[get_column_letter(i)].width = min(60, max(10, width + 2))
    ws.freeze_panes = "A2"


def build_xlsx(
    report: LeadersReport, lang: str, site_name: str, username: str, exported_at: datetime
) -> bytes:
    """Return the workbook: ranking, every unit's KPI lines, and the method (weights and targets)."""
    wb = Workbook()
    wb.remove(wb.active)
    ranking_rows = [
        [
            s.rank,
            s.unit.code,
            s.unit.name(lang),
            round(s.points, 4),
            s.max_points,
            None if s.index is None else round(s.index, 4),
            s.reported,
            s.expected,
            None if s.previous_index is None or not s.previous_reported else round(s.previous_index, 4),
            s.previous_rank,
        ]
        for s in report.scores
    ]
    _sheet(
        wb,
        t("export.sheet.ranking", lang),
        [
            t("leaders.col.rank", lang),
            t("export.col.code", lang),
            t("leaders.col.unit", lang),
            t("leaders.col.points", lang),
            t("export.col.max_points", lang),
            t("leaders.col.index", lang),
            t("leaders.col.reported", lang),
            t("export.col.expected", lang),
            t("export.col.previous_index", lang),
            t("export.col.previous_rank", lang),
        ],
        ranking_rows,
        {4: "0.0", 5: "0", 6: "0.0", 9: "0.0"},
    )
    kpi_rows: list[list[Any]] = []
    for s in (*report.scores, *report.others):
        for ln in s.lines:
            kpi_rows.append(
                [
                    s.unit.code,
                    s.unit.name(lang),
                    ln.kpi.id,
                    ln.kpi.name(lang),
                    ln.period.label(lang),
                    ln.kpi.unit,
                    ln.value,
                    ln.target,
                    None if ln.attainment is None else ln.attainment,
                    ln.kpi.weight or None,
                    None if ln.points is None else round(ln.points, 4),
                    ln.previous,
                    ln.last_year,
                ]
            )
    _sheet(
        wb,
        t("export.sheet.kpis", lang),
        [
            t("export.col.code", lang),
            t("leaders.col.unit", lang),
            t("export.col.kpi_id", lang),
            t("leaders.col.kpi", lang),
            t("leaders.col.period", lang),
            t("export.col.unit_of", lang),
            t("leaders.col.value", lang),
            t("leaders.col.target", lang),
            t("leaders.col.attainment", lang),
            t("leaders.col.weight", lang),
            t("export.col.points", lang),
            t("export.col.previous_value", lang),
            t("export.col.last_year_value", lang),
        ],
        kpi_rows,
        {7: "#,##0.0#", 8: "#,##0.0#", 9: "0.0%", 11: "0.00", 12: "#,##0.0#", 13: "#,##0.0#"},
    )
    cat = report.catalog
    method_rows = [
        [
            k.id,
            k.name(lang),
            k.unit,
            k.target,
            k.weight or None,
            t("export.yes" if k.higher_is_better else "export.no", lang),
            t(f"leaders.granularity.{k.period}", lang),
            k.baseline,
            k.baseline_as_of,
        ]
        for k in cat.kpis
    ]
    _sheet(
        wb,
        t("export.sheet.method", lang),
        [
            t("export.col.kpi_id", lang),
            t("leaders.col.kpi", lang),
            t("export.col.unit_of", lang),
            t("leaders.col.target", lang),
            t("leaders.col.weight", lang),
            t("export.col.higher", lang),
            t("leaders.granularity", lang),
            t("export.col.baseline", lang),
            t("export.col.baseline_as_of", lang),
        ],
        method_rows,
        {},
    )
    ws = wb[t("export.sheet.method", lang)]
    ws.append([])
    ws.append([t("leaders.method", lang, max=format_number(report.max_points, lang, 0))])
    ws.append([t("export.title", lang)])
    ws.append([t("export.subtitle", lang, site=site_name, period=report.label(lang))])
    ws.append(
        [
            t(
                "export.generated",
                lang,
                time=_local(exported_at, report),
                user=username,
                scope=_scope_text(report, lang),
            )
        ]
    )
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- PDF -------------------------------------------------------------------------------------------------


def _register_font(path: Path) -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    name = f"{FONT_NAME}-{re.sub(r'[^A-Za-z0-9]', '', path.stem)}"
    if name in pdfmetrics.getRegisteredFontNames():
        return name
    if not path.is_file():
        raise FontMissing(f"{path} does not exist; install fonts-dejavu-core or set {FONT_ENV}")
    try:
        pdfmetrics.registerFont(TTFont(name, str(path)))
    except TTFError as exc:
        raise FontMissing(f"{path} is not a usable TrueType font: {exc}") from exc
    return name


def _pdf_ranking(report: LeadersReport, lang: str) -> list[list[str]]:
    rows = [
        [
            t("leaders.col.rank", lang),
            t("leaders.col.unit", lang),
            t("leaders.col.points", lang),
            t("leaders.col.index", lang),
            t("leaders.col.index_change", lang),
            t("leaders.col.reported", lang),
        ]
    ]
    for s in report.scores:
        rows.append(
            [
                str(s.rank),
                s.unit.name(lang),
                t(
                    "leaders.points_of",
                    lang,
                    points=format_number(s.points, lang, 1),
                    max=format_number(s.max_points, lang, 0),
                ),
                format_number(s.index, lang, 1),
                signed(s.index_change, lang),
                t("leaders.reported_of", lang, n=s.reported, m=s.expected),
            ]
        )
    return rows


def _pdf_kpis(score: UnitScore, lang: str) -> list[list[str]]:
    rows = [
        [
            t("leaders.col.kpi", lang),
            t("leaders.col.period", lang),
            t("leaders.col.value", lang),
            t("leaders.col.target", lang),
            t("leaders.col.attainment", lang),
            t("export.col.points", lang),
            t("leaders.col.previous", lang),
            t("leaders.col.last_year", lang),
        ]
    ]
    for ln in score.lines:
        rows.append(
            [
                ln.kpi.name(lang),
                ln.period.label(lang),
                format_value(ln.kpi.unit, ln.value, lang),
                format_value(ln.kpi.unit, ln.target, lang),
                format_percent(None if ln.attainment is None else 100 * ln.attainment, lang),
                "—"
                if ln.points is None
                else f"{format_number(ln.points, lang, 1)}/{format_number(ln.kpi.weight, lang, 0)}",
                format_change(ln.kpi.unit, ln.change_previous, lang),
                format_change(ln.kpi.unit, ln.change_last_year, lang),
            ]
        )
    return rows


def build_pdf(
    report: LeadersReport, lang: str, site_name: str, username: str, exported_at: datetime, font: Path
) -> bytes:
    """Return an A4 landscape PDF: the ranking, each unit's KPI table and the method, in DejaVu Sans."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    name = _register_font(font)
    body = ParagraphStyle("body", fontName=name, fontSize=9, leading=12)
    cell = ParagraphStyle("cell", fontName=name, fontSize=8, leading=10)
    head_cell = ParagraphStyle("head", parent=cell, textColor=colors.white)
    h1 = ParagraphStyle("h1", fontName=name, fontSize=16, leading=20, spaceAfter=4)
    unit_head = ParagraphStyle("unit", fontName=name, fontSize=11, leading=14, spaceBefore=4, keepWithNext=1)
    h2 = ParagraphStyle(
        "h2", fontName=name, fontSize=12, leading=16, spaceBefore=8, spaceAfter=4, keepWithNext=1
    )

    def table(rows: list[list[str]], widths: list[float], text_cols: int = 1) -> Table:
        # Paragraphs (which wrap) only for the header and the names; plain cells are much cheaper to lay out.
        head = [Paragraph(_escape(c), head_cell) for c in rows[0]]
        body_rows = [
            [*(Paragraph(_escape(c), cell) for c in r[:text_cols]), *r[text_cols:]] for r in rows[1:]
        ]
        tbl = Table([head, *body_rows], colWidths=[w * mm for w in widths], repeatRows=1, hAlign="LEFT")
        tbl.setStyle(
            TableStyle(
                [
                    ("FONTNAME", (0, 0), (-1, -1), name),
                    ("FONTSIZE", (0, 0), (-1, -1), 8),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#1F3A5F")),
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#9AA5B1")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("ALIGN", (text_cols, 1), (-1, -1), "RIGHT"),
                ]
            )
        )
        return tbl

    story: list[Any] = [
        Paragraph(_escape(t("export.title", lang)), h1),
        Paragraph(
            _escape(t("export.subtitle", lang, site=site_name, period=report.label(lang))), body
        ),
        Paragraph(
            _escape(
                t(
                    "export.generated",
                    lang,
                    time=_local(exported_at, report),
                    user=username,
                    scope=_scope_text(report, lang),
                )
            ),
            body,
        ),
        Spacer(1, 4 * mm),
    ]
    if report.scores:
        story.append(Paragraph(_escape(t("export.section.ranking", lang)), h2))
        story.append(table(_pdf_ranking(report, lang), [16, 70, 35, 25, 35, 25], text_cols=2))
    story.append(Paragraph(_escape(t("export.section.kpis", lang)), h2))
    for s in (*report.scores, *report.others):
        story.append(Paragraph(_escape(s.unit.name(lang)), unit_head))
        story.append(table(_pdf_kpis(s, lang), [80, 24, 26, 26, 20, 17, 36, 36]))
        story.append(Spacer(1, 3 * mm))
    cat = report.catalog
    story.append(
        Paragraph(_escape(t("leaders.method", lang, max=format_number(report.max_points, lang, 0))), body)
    )
    unscored = [k.name(lang) for k in cat.kpis if k.weight > 0 and not k.scored]
    if unscored:
        story.append(Paragraph(_escape(t("leaders.not_scored", lang, names="; ".join(unscored))), body))
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=t("export.title", lang),
        author=username,
    )
    doc.build(story)
    return buf.getvalue()


def signed(change: float | None, lang: str) -> str:
    """Format an index change with its sign and one decimal: '+2,5', '-1,0', a dash without one."""
    if change is None:
        return "—"
    return ("+" if change >= 0 else "-") + format_number(abs(change), lang, 1)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
