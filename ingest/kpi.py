"""KPI figures from outside (CSV and XLSX reports, a JSON feed, a typed-in value) to ``KpiValue`` events.

Communes and agencies send their monthly, quarterly and yearly indicators as spreadsheets made by hand. This
module turns such a file into values and a precise rejection for every row that cannot be taken, without
letting one bad row stop the good ones. It is pure: it reads the bytes or objects it is given and does no
other I/O.

Columns, matched on their name without case, diacritics or punctuation (``Đơn vị`` = ``don_vi`` = ``DON VI``):

======================  ====================================================  =========
meaning                 accepted header names                                 required
======================  ====================================================  =========
KPI                     chi_tieu, ma_chi_tieu, ten_chi_tieu, kpi, kpi_id       yes
unit (area)             don_vi, ma_don_vi, dia_ban, xa, unit, unit_code, area  yes
period                  ky, ky_bao_cao, thoi_gian, period                      yes
value                   gia_tri, ket_qua, so_lieu, thuc_hien, value            yes
target                  chi_tieu_ke_hoach, ke_hoach, muc_tieu, target          no
source                  nguon, nguon_du_lieu, source                           no
======================  ====================================================  =========

* KPI: its id (``dossiers_on_time_pct``) or its Vietnamese or English name from the site's ``kpis.yaml``.
* Unit: an area code (``03172``) or an area's name, with or without ``Xã``/``UBND xã`` (``Xã Na Sang``).
* Period: ``2025-07``, ``2025/07``, ``07/2025``, ``T7/2025``, ``Tháng 7/2025`` (month); ``Q3/2025``,
  ``2025-Q3``, ``Quý III/2025`` (quarter); ``2025``, ``Năm 2025`` (year). It must be of the KPI's reporting
  period. An Excel date cell stands for the KPI's period that contains it (Excel turns a typed ``07/2025``
  into 1 July 2025).
* Value and target: ``96.63``, ``96,63`` (decimal comma), ``96.63%``; ``133.370`` and ``133,370`` are
  thousands for a count KPI (three digits after a single separator), decimals otherwise. An XLSX cell
  formatted as a percentage (stored as 0.9663) is read as 96.63. A percentage must lie within 0-100, other
  units must not be negative.

Encodings: UTF-8 with or without BOM, UTF-16 with BOM (Excel's "Unicode text", tab separated), else
Windows-1258 (Vietnamese) then Windows-1252; a file none of them decodes into text is rejected as
``bad_encoding``. Separators: comma, semicolon or tab, whichever makes a header. Leading title lines above the
header are skipped.

XLSX: the first sheet, or a named one. Merged cells in the header row are rejected (``merged_header``, naming
the cells): a header spread over merged cells has no single meaning per column. Merged cells *below* the
header (a commune's name merged down over its KPI rows, common in hand-made reports) are un-merged by
repeating the value.

Reason codes of rejected rows: ``unknown_kpi``, ``unknown_unit``, ``bad_period``, ``bad_value``,
``out_of_range``, ``missing_column``, ``bad_encoding``, ``merged_header``, ``unknown_sheet``.

Each value's ``event_id`` is fixed by KPI, unit, period, value, target and source, so importing the same file
twice gives the same events and the writer's upsert changes nothing the second time.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from ioc import i18n
from ioc.config.models import Kpi, SiteConfig
from ioc.errors import InvalidInput
from ioc.events import DeadLetter, KpiValue, PeriodKind, stable_id, utcnow

logger = logging.getLogger(__name__)

REASONS: tuple[str, ...] = (
    "unknown_kpi",
    "unknown_unit",
    "bad_period",
    "bad_value",
    "out_of_range",
    "missing_column",
    "bad_encoding",
    "merged_header",
    "unknown_sheet",
)

i18n.register(
    {
        "kpi.reject.unknown_kpi": ("Chỉ tiêu không có trong cấu hình", "KPI not in the configuration"),
        "kpi.reject.unknown_unit": (
            "Đơn vị không có trong danh mục địa bàn",
            "Unit not among the site's areas",
        ),
        "kpi.reject.bad_period": ("Kỳ báo cáo không đúng", "Invalid reporting period"),
        "kpi.reject.bad_value": ("Giá trị không phải là số", "Value is not a number"),
        "kpi.reject.out_of_range": ("Giá trị ngoài khoảng hợp lệ", "Value outside the valid range"),
        "kpi.reject.missing_column": ("Thiếu cột bắt buộc", "Required column missing"),
        "kpi.reject.bad_encoding": ("Không đọc được bảng mã của tệp", "File encoding cannot be read"),
        "kpi.reject.merged_header": ("Dòng tiêu đề có ô gộp", "Header row has merged cells"),
        "kpi.reject.unknown_sheet": ("Không có trang tính này", "No such worksheet"),
    }
)

# Canonical column -> accepted header names (already normalised by ``norm``).
COLUMNS: dict[str, tuple[str, ...]] = {
    "kpi": ("chi_tieu", "ma_chi_tieu", "ten_chi_tieu", "kpi", "kpi_id", "indicator"),
    "unit": ("don_vi", "ma_don_vi", "ten_don_vi", "dia_ban", "xa", "unit", "unit_code", "area", "area_code"),
    "period": ("ky", "ky_bao_cao", "thoi_gian", "period"),
    "value": ("gia_tri", "ket_qua", "so_lieu", "thuc_hien", "value"),
    "target": ("chi_tieu_ke_hoach", "ke_hoach", "muc_tieu", "target"),
    "source": ("nguon", "nguon_du_lieu", "source"),
}
REQUIRED: tuple[str, ...] = ("kpi", "unit", "period", "value")
_HEADER_NAMES: dict[str, str] = {name: col for col, names in COLUMNS.items() for name in names}
_UNIT_PREFIXES: tuple[str, ...] = (
    "ubnd_",
    "uy_ban_nhan_dan_",
    "xa_",
    "phuong_",
    "thi_tran_",
    "huyen_",
    "tinh_",
)
_HEADER_SCAN_ROWS = 20
_YEARS = (2000, 2100)
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}


@dataclass
class ImportResult:
    """What one file or feed gave: the values to store and the rows rejected, with their reasons."""

    values: list[KpiValue] = field(default_factory=list)
    rejected: list[DeadLetter] = field(default_factory=list)
    rows: int = 0

    @property
    def accepted(self) -> int:
        """Return how many values were accepted."""
        return len(self.values)

    def reasons(self) -> dict[str, int]:
        """Return how many rows were rejected for each reason."""
        counts: dict[str, int] = {}
        for d in self.rejected:
            counts[d.reason] = counts.get(d.reason, 0) + 1
        return counts


@dataclass(frozen=True)
class KpiCatalog:
    """The KPIs and areas of a site, indexed the ways a hand-made report names them."""

    kpis: Mapping[str, Kpi]
    kpi_names: Mapping[str, str]
    areas: Mapping[str, str]
    area_names: Mapping[str, str]
    tz: ZoneInfo

    @classmethod
    def from_site(cls, site: SiteConfig) -> KpiCatalog:
        """Index a validated site config."""
        kpi_names: dict[str, str] = {}
        for k in site.kpis:
            for name in (k.id, k.name_vi, k.name_en):
                kpi_names.setdefault(norm(name), k.id)
        area_names: dict[str, str] = {}
        for a in site.areas:
            for name in (a.code, a.name, a.name_en or ""):
                if name:
                    area_names.setdefault(norm(name), a.code)
        return cls(
            kpis={k.id: k for k in site.kpis},
            kpi_names=kpi_names,
            areas={a.code: a.name for a in site.areas},
            area_names=area_names,
            tz=ZoneInfo(site.site.timezone),
        )

    def kpi(self, raw: object) -> Kpi:
        """Return the KPI a cell names; raise ``unknown_kpi``."""
        text = _text(raw)
        kpi_id = self.kpi_names.get(norm(text)) if text else None
        if kpi_id is None:
            raise InvalidInput("unknown_kpi", f"KPI {text!r} is neither an id nor a name in kpis.yaml")
        return self.kpis[kpi_id]

    def unit(self, raw: object) -> str:
        """Return the area code a cell names (code or name, with or without 'Xã'); raise ``unknown_unit``."""
        text = _text(raw)
        if text in self.areas:
            return text
        # isdigit() accepts "²", which int() refuses; int() also refuses 5000 digits (found by fuzzing).
        if text.isascii() and text.isdigit() and len(text) <= 10 and f"{int(text):05d}" in self.areas:
            return f"{int(text):05d}"  # Excel turned the code 03172 into the number 3172
        key = norm(text)
        code = self.area_names.get(key)
        for prefix in _UNIT_PREFIXES:
            while code is None and key.startswith(prefix):
                key = key[len(prefix) :]
                code = self.area_names.get(key)
        if code is None or not text:
            raise InvalidInput(
                "unknown_unit", f"unit {text!r} is neither an area code nor an area name in areas.yaml"
            )
        return code


def catalog_of(site: SiteConfig | KpiCatalog) -> KpiCatalog:
    """Return the catalog of a site (built once by callers that parse many files)."""
    return site if isinstance(site, KpiCatalog) else KpiCatalog.from_site(site)


def norm(text: str) -> str:
    """Return a name without case, diacritics or punctuation: 'Đơn vị (xã)' -> 'don_vi_xa'."""
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return "_".join(re.findall(r"[a-z0-9]+", text))


# --- one row ------------------------------------------------------------------------------------------------


def build_value(
    cat: KpiCatalog,
    row: Mapping[str, object],
    source: str,
    *,
    percent_cells: frozenset[str] = frozenset(),
) -> KpiValue:
    """Turn one row (canonical column -> cell) into a value; raise ``InvalidInput`` on the first problem.

    ``percent_cells`` names the columns whose cells Excel formats as a percentage (0.9663 means 96.63 %).
    """
    kpi = cat.kpi(row.get("kpi"))
    unit = cat.unit(row.get("unit"))
    kind, start = parse_period(row.get("period"), kpi, cat.tz)
    value = _number(row.get("value"), kpi, "value", "value" in percent_cells)
    raw_target = row.get("target")
    target = (
        _number(raw_target, kpi, "target", "target" in percent_cells)
        if not _blank(raw_target)
        else kpi.target
    )
    value_source = _text(row.get("source")) or source
    return KpiValue(
        event_id=stable_id("kpi", kpi.id, unit, kind.value, start, value, target, value_source),
        kpi_id=kpi.id,
        unit_code=unit,
        period_kind=kind,
        period_start=start,
        value=value,
        target=target,
        source=value_source[:200],
    )


def manual_value(
    site: SiteConfig | KpiCatalog,
    kpi: str,
    unit: str,
    period: str,
    value: str | float,
    target: str | float | None = None,
    source: str = "manual",
) -> KpiValue:
    """Build a value typed in by an operator; raise ``InvalidInput`` if it cannot be accepted."""
    row: dict[str, object] = {"kpi": kpi, "unit": unit, "period": period, "value": value, "target": target}
    return build_value(catalog_of(site), row, source)


def parse_period(raw: object, kpi: Kpi, tz: ZoneInfo) -> tuple[PeriodKind, datetime]:
    """Return the kind and start (UTC of local midnight) of a period cell; raise ``bad_period``."""
    if isinstance(raw, datetime | date):
        d = raw.date() if isinstance(raw, datetime) else raw
        first_month = {
            PeriodKind.MONTH: d.month,
            PeriodKind.QUARTER: (d.month - 1) // 3 * 3 + 1,
            PeriodKind.YEAR: 1,
        }
        return kpi.period, _start(d.year, first_month[kpi.period], tz)
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = _text(raw)
    kind, year, month = _period_parts(text)
    if not _YEARS[0] <= year <= _YEARS[1]:
        raise InvalidInput("bad_period", f"period {text!r}: year {year} is outside {_YEARS[0]}-{_YEARS[1]}")
    if kind is not kpi.period:
        raise InvalidInput(
            "bad_period",
            f"period {text!r} is a {kind.value}, but {kpi.id} is reported per {kpi.period.value}",
        )
    return kind, _start(year, month, tz)


def _period_parts(text: str) -> tuple[PeriodKind, int, int]:
    t = norm(text)
    t = re.sub(r"^(thang|month|t)_?(?=\d)", "m", t)
    t = re.sub(r"^(quy|quarter|q)_?(?=\d|i|v)", "q", t)
    t = re.sub(r"^nam_", "", t)
    patterns: list[tuple[str, PeriodKind]] = [
        (r"(?P<y>\d{4})_?(?P<m>\d{1,2})", PeriodKind.MONTH),
        (r"m?(?P<m>\d{1,2})_(?P<y>\d{4})", PeriodKind.MONTH),
        (r"q(?P<q>[1-4]|i{1,3}|iv)_?(?P<y>\d{4})", PeriodKind.QUARTER),
        (r"(?P<y>\d{4})_?q(?P<q>[1-4])", PeriodKind.QUARTER),
        (r"(?P<y>\d{4})", PeriodKind.YEAR),
    ]
    for pattern, kind in patterns:
        m = re.fullmatch(pattern, t)
        if m is None:
            continue
        year = int(m["y"])
        if kind is PeriodKind.MONTH:
            month = int(m["m"])
            if not 1 <= month <= 12:
                raise InvalidInput("bad_period", f"period {text!r}: month {month} is not 1-12")
            return kind, year, month
        if kind is PeriodKind.QUARTER:
            q = m["q"]
            quarter = int(q) if q.isdecimal() else _ROMAN[q]
            return kind, year, (quarter - 1) * 3 + 1
        return kind, year, 1
    raise InvalidInput(
        "bad_period",
        f"period {text!r} is not a month (2025-07, 07/2025), quarter (Q3/2025, 2025-Q3) or year (2025)",
    )


def _start(year: int, month: int, tz: ZoneInfo) -> datetime:
    return datetime(year, month, 1, tzinfo=tz).astimezone(UTC)


def _number(raw: object, kpi: Kpi, what: str, percent_cell: bool = False) -> float:
    """Parse a value or target cell and check it against the KPI's unit."""
    if _blank(raw):
        raise InvalidInput("bad_value", f"{what} is empty")
    if isinstance(raw, bool):
        raise InvalidInput("bad_value", f"{what} {raw!r} is not a number")
    if isinstance(raw, int | float):
        number = float(raw) * (100 if percent_cell and kpi.unit == "%" else 1)
    else:
        number = _parse_number(_text(raw), kpi, what)
    if not math.isfinite(number):
        raise InvalidInput("bad_value", f"{what} {raw!r} is not a finite number")
    number = round(number, 6)  # 0.9663 * 100 is 96.63000000000001 in binary floating point
    if kpi.unit == "%" and not 0 <= number <= 100:
        raise InvalidInput("out_of_range", f"{what} {number:g} % of {kpi.id} is not within 0-100")
    if kpi.unit != "%" and number < 0:
        raise InvalidInput("out_of_range", f"{what} {number:g} of {kpi.id} ({kpi.unit}) is negative")
    return number


def _parse_number(text: str, kpi: Kpi, what: str) -> float:
    s = re.sub(r"[\s\u00a0\u202f]", "", text)
    if s.endswith("%"):
        if kpi.unit != "%":
            raise InvalidInput("bad_value", f"{what} {text!r} is a percentage, but {kpi.id} is in {kpi.unit}")
        s = s[:-1]
    if not re.fullmatch(r"[+-]?[\d.,]*\d[\d.,]*", s):
        raise InvalidInput("bad_value", f"{what} {text!r} is not a number")
    dots, commas = s.count("."), s.count(",")
    if dots and commas:  # the last separator is the decimal one: 1.234,5 or 1,234.5
        decimal = "," if s.rfind(",") > s.rfind(".") else "."
        thousands = "." if decimal == "," else ","
        s = s.replace(thousands, "").replace(decimal, ".")
    elif dots + commas > 1:  # 1.234.567 or 1,234,567
        if not re.fullmatch(r"[+-]?\d{1,3}([.,]\d{3})+", s):
            raise InvalidInput("bad_value", f"{what} {text!r} has more than one decimal separator")
        s = s.replace(".", "").replace(",", "")
    elif dots + commas == 1:
        sep = "." if dots else ","
        whole, frac = s.split(sep)
        # 133.370 hồ sơ is a count written the Vietnamese way; 96,63 % is a decimal comma.
        s = (
            whole + frac
            if kpi.unit == "count" and len(frac) == 3 and whole.strip("+-")
            else f"{whole}.{frac}"
        )
    try:
        return float(s)
    except ValueError as exc:
        raise InvalidInput("bad_value", f"{what} {text!r} is not a number") from exc


def _text(raw: object) -> str:
    if raw is None:
        return ""
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return unicodedata.normalize("NFC", str(raw)).strip()


def _blank(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


# --- tables (CSV, XLSX) -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Header:
    index: int
    columns: dict[str, int]  # canonical column -> position
    missing: tuple[str, ...]


def _find_header(rows: Sequence[Sequence[object]]) -> _Header | None:
    """Return the row, among the first ones, that names the most known columns."""
    best: _Header | None = None
    for i, row in enumerate(rows[:_HEADER_SCAN_ROWS]):
        columns: dict[str, int] = {}
        for j, cell in enumerate(row):
            col = _HEADER_NAMES.get(norm(_text(cell)))
            if col is not None and col not in columns:
                columns[col] = j
        missing = tuple(c for c in REQUIRED if c not in columns)
        if columns and (best is None or len(columns) > len(best.columns)):
            best = _Header(i, columns, missing)
    return best


def _missing_column(
    header: _Header | None, source: str, where: str, raw: str, received: datetime
) -> DeadLetter:
    accepted = "; ".join(f"{c}: {' | '.join(COLUMNS[c])}" for c in REQUIRED)
    if header is None:
        detail = f"no header row found in the first {_HEADER_SCAN_ROWS} rows; expected columns {accepted}"
        return DeadLetter.of(f"kpi:{source}", raw, InvalidInput("missing_column", detail), received)
    detail = f"header lacks {', '.join(header.missing)}; accepted names are {accepted}"
    return DeadLetter.of(
        f"kpi:{source}:{where} {header.index + 1}", raw, InvalidInput("missing_column", detail), received
    )


def _table(
    rows: Sequence[Sequence[object]],
    cat: KpiCatalog,
    source: str,
    where: str,
    *,
    numbers: Sequence[int] | None = None,
    percent: Sequence[frozenset[int]] | None = None,
    header: _Header | None = None,
    received: datetime | None = None,
    raw_of: Mapping[int, str] | None = None,
) -> ImportResult:
    """Turn the rows of a table (first rows may be titles) into values and rejections."""
    received = received or utcnow()
    result = ImportResult()
    header = header or _find_header(rows)
    if header is None or header.missing:
        raw = "\n".join("\t".join(_text(c) for c in r) for r in rows[: (header.index + 1 if header else 5)])
        result.rejected.append(_missing_column(header, source, where, raw, received))
        return result
    for i in range(header.index + 1, len(rows)):
        row = rows[i]
        if all(_blank(c) for c in row):
            continue
        result.rows += 1
        line = numbers[i] if numbers else i + 1
        cells = {col: row[j] if j < len(row) else None for col, j in header.columns.items()}
        pct = frozenset(col for col, j in header.columns.items() if percent and j in percent[i])
        try:
            result.values.append(build_value(cat, cells, f"kpi:{source}", percent_cells=pct))
        except InvalidInput as exc:
            raw = raw_of[i] if raw_of else "\t".join(_text(c) for c in row)
            result.rejected.append(DeadLetter.of(f"kpi:{source}:{where} {line}", raw, exc, received))
    return result


def decode_text(data: bytes) -> str:
    """Decode text as UTF-8, UTF-16 (BOM or NUL pattern) or Windows-1258/1252; raise ``bad_encoding``."""
    if data.startswith(b"\xef\xbb\xbf"):
        candidates: tuple[str, ...] = ("utf-8-sig",)
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ("utf-16",)
    elif len(data) >= 4 and data[1:8:2].count(0) >= 2 and data.count(0) * 3 > len(data):
        candidates = ("utf-16-le",)
    elif len(data) >= 4 and data[0:8:2].count(0) >= 2 and data.count(0) * 3 > len(data):
        candidates = ("utf-16-be",)
    else:
        candidates = ("utf-8", "cp1258", "cp1252")
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        # Windows-1258 writes tone marks as combining characters; NFC puts them back on their letters.
        text = unicodedata.normalize("NFC", text)
        bad = [c for c in text if unicodedata.category(c) == "Cc" and c not in "\t\r\n"]
        if bad:
            raise InvalidInput(
                "bad_encoding",
                f"decoded as {encoding}, the file still holds control characters ({bad[0]!r}); "
                "save it as CSV UTF-8 from Excel",
            )
        if encoding in ("cp1258", "cp1252"):
            logger.info("KPI file is not UTF-8; decoded as %s", encoding)
        return text
    raise InvalidInput(
        "bad_encoding",
        f"the file is not UTF-8, UTF-16 or Windows-1258/1252 text (tried {', '.join(candidates)}); "
        "save it as CSV UTF-8 from Excel",
    )


def parse_csv(
    data: bytes, source: str, site: SiteConfig | KpiCatalog, *, received_at: datetime | None = None
) -> ImportResult:
    """Parse a CSV or tab-separated text file; rows are named ``kpi:<source>:line N`` (physical lines)."""
    cat = catalog_of(site)
    received = received_at or utcnow()
    try:
        text = decode_text(data)
    except InvalidInput as exc:
        return ImportResult(rejected=[DeadLetter.of(f"kpi:{source}", data[:65536], exc, received)])
    delimiter = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[list[str]] = []
    numbers: list[int] = []
    raws: dict[int, str] = {}
    lines = text.splitlines()
    try:
        while True:
            first = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            raws[len(rows)] = "\n".join(lines[first - 1 : reader.line_num])
            rows.append(row)
            numbers.append(first)
    except csv.Error as exc:
        # An unterminated quote swallows the rest of the file: say where it starts, keep the rows before it.
        where = reader.line_num
        result = _table(rows, cat, source, "line", numbers=numbers, received=received, raw_of=raws)
        result.rejected.append(
            DeadLetter.of(
                f"kpi:{source}:line {where}",
                "\n".join(lines[where - 1 : where + 1]),
                InvalidInput("bad_value", f"CSV syntax error ({exc}); check the quotes on this line"),
                received,
            )
        )
        return result
    return _table(rows, cat, source, "line", numbers=numbers, received=received, raw_of=raws)


def _delimiter(text: str) -> str:
    """Return the separator (tab, semicolon, comma) that splits the header into the most known names."""
    head = text.splitlines()[:_HEADER_SCAN_ROWS]
    best, score = ",", (-1, -1)
    for delimiter in ("\t", ";", ","):
        rows = list(csv.reader(head, delimiter=delimiter))
        header = _find_header(rows)
        known = len(header.columns) if header else 0
        width = max((len(r) for r in rows), default=0)
        if (known, width) > score:
            best, score = delimiter, (known, width)
    return best


def parse_xlsx(
    data: bytes,
    source: str,
    site: SiteConfig | KpiCatalog,
    *,
    sheet: str | None = None,
    received_at: datetime | None = None,
) -> ImportResult:
    """Parse an Excel workbook (first sheet, or ``sheet``); rows are named ``kpi:<source>:row N``."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    cat = catalog_of(site)
    received = received_at or utcnow()
    try:
        wb = load_workbook(io.BytesIO(data), data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        error = InvalidInput("bad_encoding", f"not a readable XLSX workbook ({type(exc).__name__}: {exc})")
        return ImportResult(rejected=[DeadLetter.of(f"kpi:{source}", data[:4096], error, received)])
    try:
        if sheet is None:
            ws = wb.worksheets[0]
        elif sheet in wb.sheetnames:
            ws = wb[sheet]
        else:
            error = InvalidInput(
                "unknown_sheet", f"no sheet {sheet!r}; the workbook has {', '.join(wb.sheetnames)}"
            )
            return ImportResult(
                rejected=[DeadLetter.of(f"kpi:{source}", ", ".join(wb.sheetnames), error, received)]
            )
        rows: list[list[object]] = []
        percent: list[frozenset[int]] = []
        for row in ws.iter_rows(min_row=1, min_col=1):
            rows.append([c.value for c in row])
            percent.append(frozenset(j for j, c in enumerate(row) if "%" in str(c.number_format or "")))
        header = _find_header(rows)
        if header is not None:
            merged = [r for r in ws.merged_cells.ranges if r.min_row <= header.index + 1 <= r.max_row]
            if merged:
                names = ", ".join(
                    f"{r.coord} ({_text(ws.cell(r.min_row, r.min_col).value)!r})" for r in merged
                )
                error = InvalidInput(
                    "merged_header",
                    f"header row {header.index + 1} of sheet {ws.title!r} has merged cells {names}; "
                    "unmerge them and give each column one header (chi_tieu, don_vi, ky, gia_tri ...)",
                )
                raw = "\t".join(_text(c) for c in rows[header.index])
                return ImportResult(
                    rejected=[DeadLetter.of(f"kpi:{source}:row {header.index + 1}", raw, error, received)]
                )
            _fill_merged(rows, ws.merged_cells.ranges, below=header.index + 1)
        return _table(rows, cat, source, "row", percent=percent, header=header, received=received)
    finally:
        wb.close()


def _fill_merged(rows: list[list[object]], ranges: Iterable[object], below: int) -> None:
    """Repeat a merged data cell's value over the cells it covers (a commune merged over its KPI rows)."""
    for r in ranges:
        min_row, max_row = r.min_row, r.max_row  # type: ignore[attr-defined]
        min_col, max_col = r.min_col, r.max_col  # type: ignore[attr-defined]
        if min_row <= below:
            continue
        value = rows[min_row - 1][min_col - 1]
        for i in range(min_row - 1, min(max_row, len(rows))):
            for j in range(min_col - 1, min(max_col, len(rows[i]))):
                rows[i][j] = value


# --- JSON feed --------------------------------------------------------------------------------------------


def parse_json(
    obj: object, source: str, site: SiteConfig | KpiCatalog, *, received_at: datetime | None = None
) -> ImportResult:
    """Parse a JSON feed: a list of objects, or an object with one under data, items, values or results.

    Keys are matched like CSV headers; items are named ``kpi:<source>:item N`` (1-based).
    """
    import orjson

    cat = catalog_of(site)
    received = received_at or utcnow()
    items = obj
    if isinstance(obj, dict):
        items = next(
            (obj[k] for k in ("data", "items", "values", "results") if isinstance(obj.get(k), list)), None
        )
    if not isinstance(items, list):
        error = InvalidInput(
            "missing_column", "expected a JSON list of KPI objects, or one under data/items/values"
        )
        raw = orjson.dumps(obj, default=str).decode()
        return ImportResult(rejected=[DeadLetter.of(f"kpi:{source}", raw, error, received)])
    result = ImportResult()
    for n, item in enumerate(items, start=1):
        result.rows += 1
        where = f"kpi:{source}:item {n}"
        raw = orjson.dumps(item, default=str).decode()
        if not isinstance(item, dict):
            error = InvalidInput("bad_value", f"item {n} is a {type(item).__name__}, not an object")
            result.rejected.append(DeadLetter.of(where, raw, error, received))
            continue
        cells: dict[str, object] = {}
        for key, cell in item.items():
            col = _HEADER_NAMES.get(norm(str(key)))
            if col is not None and col not in cells:
                cells[col] = cell
        missing = [c for c in REQUIRED if c not in cells]
        try:
            if missing:
                raise InvalidInput("missing_column", f"item {n} lacks {', '.join(missing)}")
            result.values.append(build_value(cat, cells, f"kpi:{source}"))
        except InvalidInput as exc:
            result.rejected.append(DeadLetter.of(where, raw, exc, received))
    return result
