"""KPI report parsing: each reason code, number and period spellings, encodings, XLSX quirks, stable ids."""

from __future__ import annotations

import io
import json
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook

from ingest.kpi import REASONS, KpiCatalog, manual_value, norm, parse_csv, parse_json, parse_xlsx
from ioc import i18n
from ioc.config.loader import load_site
from ioc.errors import InvalidInput
from ioc.events import PeriodKind

DATA = Path(__file__).resolve().parents[1] / "data" / "kpi"
RECEIVED = datetime(2025, 8, 5, 2, 0, tzinfo=UTC)
HEADER = "chi_tieu,don_vi,ky,gia_tri\n"


@pytest.fixture(scope="module")
def cat(site_dir: Path) -> KpiCatalog:
    return KpiCatalog.from_site(load_site(site_dir))


def local_month(year: int, month: int) -> datetime:
    """Start of a month in Asia/Ho_Chi_Minh (UTC+7, no daylight saving), as UTC."""
    return datetime(year, month, 1, tzinfo=UTC) - timedelta(hours=7)


def one(cat: KpiCatalog, line: str, header: str = HEADER):  # type: ignore[no-untyped-def]
    result = parse_csv((header + line + "\n").encode(), "t.csv", cat, received_at=RECEIVED)
    assert result.rows == 1
    return result


# --- one row: each reason code ----------------------------------------------------------------------------

REJECTED = [
    ("unknown_kpi", "so_ho_ngheo_pct,03172,2025-07,12"),
    ("unknown_kpi", ",03172,2025-07,12"),
    ("unknown_unit", "dossiers_on_time_pct,Nậm Pồ,2025-07,96"),
    ("unknown_unit", "dossiers_on_time_pct,99999,2025-07,96"),
    ("bad_period", "dossiers_on_time_pct,03172,13/2025,96"),
    ("bad_period", "dossiers_on_time_pct,03172,tháng bảy,96"),
    ("bad_period", "dossiers_on_time_pct,03172,Q3/2025,96"),  # a monthly KPI given a quarter
    ("bad_period", "households_online_pct,03172,2025-07,36"),  # a yearly KPI given a month
    ("bad_period", "dossiers_on_time_pct,03172,1890-07,96"),
    ("bad_value", "dossiers_on_time_pct,03172,2025-07,chưa có"),
    ("bad_value", "dossiers_on_time_pct,03172,2025-07,"),
    ("bad_value", "dossiers_on_time_pct,03172,2025-07,96.6.3"),
    ("bad_value", "online_meetings_count,03172,2025,18%"),  # a percentage for a count
    ("bad_value", "dossiers_on_time_pct,03172,2025-07,nan"),
    ("out_of_range", "dossiers_on_time_pct,03172,2025-07,100.5"),
    ("out_of_range", "dossiers_on_time_pct,03172,2025-07,-1"),
    ("out_of_range", "online_meetings_count,03172,2025,-3"),
]


@pytest.mark.parametrize(("reason", "line"), REJECTED)
def test_a_bad_row_is_rejected_with_its_reason_and_line(cat: KpiCatalog, reason: str, line: str) -> None:
    result = one(cat, line)
    assert result.values == []
    [dead] = result.rejected
    assert (dead.reason, dead.source) == (reason, "kpi:t.csv:line 2")
    assert dead.payload == line  # the line as it stands in the file
    assert dead.received_at == RECEIVED


ACCEPTED = [
    # (kpi, unit, period, value) cells -> (kpi id, unit code, kind, (year, month), value)
    (
        "dossiers_on_time_pct,03172,2025-07,96.63",
        ("dossiers_on_time_pct", "03172", "month", (2025, 7), 96.63),
    ),
    (
        'dossiers_on_time_pct,03172,2025-07,"96,63"',
        ("dossiers_on_time_pct", "03172", "month", (2025, 7), 96.63),
    ),
    (
        "dossiers_on_time_pct,03172,2025-07,96.63%",
        ("dossiers_on_time_pct", "03172", "month", (2025, 7), 96.63),
    ),
    (
        'dossiers_on_time_pct,03172,07/2025,"96,63 %"',
        ("dossiers_on_time_pct", "03172", "month", (2025, 7), 96.63),
    ),
    (
        "dossiers_on_time_pct,Xã Na Sang,T7/2025,100",
        ("dossiers_on_time_pct", "03172", "month", (2025, 7), 100),
    ),
    (
        "dossiers_on_time_pct,UBND xã Nậm Nèn,Tháng 12/2025,0",
        ("dossiers_on_time_pct", "03194", "month", (2025, 12), 0),
    ),
    ("dossiers_on_time_pct,muong tung,2025/01,50", ("dossiers_on_time_pct", "03181", "month", (2025, 1), 50)),
    ("dossiers_on_time_pct,3172,2025-07,96", ("dossiers_on_time_pct", "03172", "month", (2025, 7), 96)),
    (
        "Hồ sơ giải quyết trực tuyến mức độ 3 4,Pa Ham,2025-07,25",
        ("online_dossiers_l34_pct", "03193", "month", (2025, 7), 25),
    ),
    (
        "Households connected to the Internet,Muong Pon,2025,36",
        ("households_online_pct", "03202", "year", (2025, 1), 36),
    ),
    ("households_online_pct,11,Năm 2025,36", ("households_online_pct", "11", "year", (2025, 1), 36)),
    (
        "online_procedures_l4_count,03172,Q3/2025,69",
        ("online_procedures_l4_count", "03172", "quarter", (2025, 7), 69),
    ),
    (
        "online_procedures_l4_count,03172,2025-Q3,69",
        ("online_procedures_l4_count", "03172", "quarter", (2025, 7), 69),
    ),
    (
        "online_procedures_l4_count,03172,Quý IV/2025,69",
        ("online_procedures_l4_count", "03172", "quarter", (2025, 10), 69),
    ),
    # A count written the Vietnamese way: 133.370 hồ sơ is a hundred and thirty-three thousand.
    (
        "online_meetings_count,former-muong-cha,2025,133.370",
        ("online_meetings_count", "former-muong-cha", "year", (2025, 1), 133370),
    ),
    (
        'online_meetings_count,03172,2025,"1.234,5"',
        ("online_meetings_count", "03172", "year", (2025, 1), 1234.5),
    ),
    ("online_meetings_count,03172,2025,180", ("online_meetings_count", "03172", "year", (2025, 1), 180)),
]


@pytest.mark.parametrize(("line", "expected"), ACCEPTED)
def test_accepted_spellings(cat: KpiCatalog, line: str, expected: tuple[object, ...]) -> None:
    result = one(cat, line)
    assert result.rejected == []
    [v] = result.values
    kpi, unit, kind, (year, month), value = expected  # type: ignore[misc]
    assert (v.kpi_id, v.unit_code, v.period_kind.value, v.value) == (kpi, unit, kind, value)
    # Periods start at local midnight in Asia/Ho_Chi_Minh: 1 July 00:00 +07 is 30 June 17:00 UTC.
    assert v.period_start == local_month(year, month)


def test_period_start_is_local_midnight() -> None:
    assert local_month(2025, 7) == datetime(2025, 6, 30, 17, tzinfo=UTC)


def test_target_comes_from_the_row_else_from_the_config(cat: KpiCatalog) -> None:
    header = "chi_tieu,don_vi,ky,gia_tri,chi_tieu_ke_hoach,nguon\n"
    rows = (
        "dossiers_on_time_pct,03172,2025-07,96.63,97,Cổng Dịch vụ công tỉnh Điện Biên\n"
        "dossiers_on_time_pct,03181,2025-07,96.63,,\n"
        "online_procedures_l3_count,03181,Q3/2025,16,,\n"
        "dossiers_on_time_pct,03193,2025-07,96.63,120,\n"
    )
    result = parse_csv((header + rows).encode(), "t.csv", cat)
    a, b, c = result.values
    assert (a.target, a.source) == (97, "Cổng Dịch vụ công tỉnh Điện Biên")
    assert (b.target, b.source) == (98, "kpi:t.csv")  # kpis.yaml: target 98
    assert c.target is None  # no target in kpis.yaml
    [dead] = result.rejected
    assert (dead.reason, dead.source) == ("out_of_range", "kpi:t.csv:line 5")


def test_english_headers_any_case_and_order(cat: KpiCatalog) -> None:
    data = b"Value;PERIOD;Unit;KPI\n96,63;2025-07;03172;dossiers_on_time_pct\n"
    [v] = parse_csv(data, "en.csv", cat).values
    assert (v.kpi_id, v.value) == ("dossiers_on_time_pct", 96.63)


@pytest.mark.parametrize(
    ("header", "missing"),
    [("chi_tieu,don_vi,gia_tri\n", "period"), ("kpi,unit,period\n", "value"), ("a,b,c,d\n", None)],
)
def test_missing_column_rejects_the_file_once(cat: KpiCatalog, header: str, missing: str | None) -> None:
    result = parse_csv((header + "dossiers_on_time_pct,03172,2025-07\n").encode(), "m.csv", cat)
    assert result.values == []
    [dead] = result.rejected
    assert dead.reason == "missing_column"
    if missing:
        assert dead.source == "kpi:m.csv:line 1" and missing in dead.detail
    else:
        assert dead.source == "kpi:m.csv" and "no header row" in dead.detail


def test_blank_lines_and_a_title_above_the_header_are_skipped(cat: KpiCatalog) -> None:
    data = "BÁO CÁO THÁNG 7\n\n" + HEADER + "\ndossiers_on_time_pct,03172,2025-07,96\n,,,\n"
    result = parse_csv(data.encode(), "t.csv", cat)
    assert (result.accepted, result.rejected, result.rows) == (1, [], 1)


def test_an_unterminated_quote_swallows_what_follows_but_keeps_the_rows_before_it(cat: KpiCatalog) -> None:
    data = HEADER + (
        "dossiers_on_time_pct,03172,2025-07,96\n"
        'dossiers_on_time_pct,03181,2025-07,"96\n'
        "dossiers_on_time_pct,03193,2025-07,97\n"
    )
    result = parse_csv(data.encode(), "q.csv", cat)
    assert [v.unit_code for v in result.values] == ["03172"]
    [dead] = result.rejected
    assert (dead.reason, dead.source) == ("bad_value", "kpi:q.csv:line 3")
    assert "03193" in dead.payload  # the swallowed line is kept with the broken one


# --- sample files: encodings --------------------------------------------------------------------------------


def test_sample_report_utf8_bom_semicolons_decimal_comma(cat: KpiCatalog) -> None:
    result = parse_csv((DATA / "bao_cao_thang_07_2025.csv").read_bytes(), "bao_cao.csv", cat)
    assert result.accepted == 7 and result.rows == 12
    assert {(d.source.rsplit(":", 1)[1], d.reason) for d in result.rejected} == {
        ("line 9", "unknown_kpi"),
        ("line 10", "unknown_unit"),
        ("line 11", "bad_period"),
        ("line 12", "bad_value"),
        ("line 13", "out_of_range"),
    }
    by = {(v.kpi_id, v.unit_code): v for v in result.values}
    assert by["dossiers_on_time_pct", "03172"].value == 96.63
    assert (
        by["dossiers_on_time_pct", "03181"].value == 97.8
    )  # named by its Vietnamese name and 'Xã Mường Tùng'
    assert by["online_dossiers_l34_pct", "03193"].value == 25
    assert by["households_online_pct", "03202"].period_kind is PeriodKind.YEAR
    assert result.reasons() == {
        r: 1 for r in ("unknown_kpi", "unknown_unit", "bad_period", "bad_value", "out_of_range")
    }


def test_sample_utf16_unicode_text(cat: KpiCatalog) -> None:
    data = (DATA / "unicode_text_thang_08_2025.txt").read_bytes()
    assert data.startswith(b"\xff\xfe")
    result = parse_csv(data, "u.txt", cat)
    assert [(v.unit_code, v.value) for v in result.values] == [("03172", 96.63), ("03181", 25), ("03193", 36)]
    [dead] = result.rejected
    assert (dead.reason, dead.source) == ("bad_value", "kpi:u.txt:line 5")


def test_utf16_without_bom_is_recognised(cat: KpiCatalog) -> None:
    data = (HEADER + "dossiers_on_time_pct,Mường Tùng,2025-07,96\n").encode("utf-16-le")
    assert parse_csv(data, "u.txt", cat).values[0].unit_code == "03181"


def test_sample_windows_1258(cat: KpiCatalog) -> None:
    data = (DATA / "windows_1258_thang_09_2025.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    result = parse_csv(data, "w.csv", cat)
    assert result.rejected == []
    assert [(v.unit_code, v.value) for v in result.values] == [("03194", 96.63), ("03202", 25), ("03181", 95)]


def test_windows_1252_header_is_read(cat: KpiCatalog) -> None:
    data = "KPI;Unit;Période;Value\ndossiers_on_time_pct;03172;2025-07;96\n".encode("cp1252")
    result = parse_csv(data, "w.csv", cat)
    assert result.rejected[0].reason == "missing_column"  # 'Période' is no known column, but it decoded
    ok = "KPI;Unit;Period;Value;Note\ndossiers_on_time_pct;03172;2025-07;96;é\n".encode("cp1252")
    assert parse_csv(ok, "w.csv", cat).accepted == 1


def test_text_that_is_not_text_is_rejected_as_bad_encoding(cat: KpiCatalog) -> None:
    data = bytes(range(0, 256)) * 4
    result = parse_csv(data, "bin.csv", cat)
    [dead] = result.rejected
    assert (dead.reason, dead.source) == ("bad_encoding", "kpi:bin.csv")
    assert "UTF-8" in dead.detail


def test_nfd_text_from_a_mac_matches_nfc_names(cat: KpiCatalog) -> None:
    data = unicodedata.normalize("NFD", HEADER + "dossiers_on_time_pct,Nậm Nèn,2025-07,96\n").encode()
    assert parse_csv(data, "mac.csv", cat).values[0].unit_code == "03194"


# --- XLSX ---------------------------------------------------------------------------------------------------


def xlsx(build) -> bytes:  # type: ignore[no-untyped-def]
    wb = Workbook()
    build(wb.active)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_xlsx_title_merged_above_header_data_merged_down_and_a_broken_row(cat: KpiCatalog) -> None:
    def build(ws) -> None:  # type: ignore[no-untyped-def]
        ws["A1"] = "BÁO CÁO CHỈ TIÊU CHÍNH QUYỀN SỐ QUÝ III/2025"
        ws.merge_cells("A1:E1")  # a merged title above the header is fine
        ws.append([])
        ws.append(["Đơn vị", "Chỉ tiêu", "Kỳ", "Giá trị", "Kế hoạch"])
        ws.append(["Xã Na Sang", "dossiers_on_time_pct", "2025-07", 0.9663, 0.98])
        ws["D4"].number_format = "0.00%"  # Excel keeps 96.63 % as 0.9663
        ws["E4"].number_format = "0%"
        ws.append([None, "online_dossiers_l34_pct", datetime(2025, 7, 1), 25, None])
        ws.append([None, "online_procedures_l4_count", "Q3/2025", 69, None])
        ws.merge_cells("A4:A6")  # the commune merged down over its three KPI rows
        ws.append([3181, "dossiers_on_time_pct", "07/2025", "không rõ", None])  # broken row
        ws.append(["Mường Tùng", "online_dossiers_l34_pct", "07/2025", "30,5", None])

    result = parse_xlsx(xlsx(build), "q3.xlsx", cat)
    got = [(v.kpi_id, v.unit_code, v.period_kind.value, v.value, v.target) for v in result.values]
    assert got == [
        ("dossiers_on_time_pct", "03172", "month", 96.63, 98),
        ("online_dossiers_l34_pct", "03172", "month", 25, 50),
        ("online_procedures_l4_count", "03172", "quarter", 69, None),
        ("online_dossiers_l34_pct", "03181", "month", 30.5, 50),
    ]
    assert result.values[1].period_start == local_month(2025, 7)
    [dead] = result.rejected
    assert (dead.reason, dead.source) == ("bad_value", "kpi:q3.xlsx:row 7")


def test_xlsx_merged_header_cells_are_rejected_naming_the_cells(cat: KpiCatalog) -> None:
    def build(ws) -> None:  # type: ignore[no-untyped-def]
        ws.append(["Chỉ tiêu", "Đơn vị", "Kỳ", "Giá trị", None])
        ws.merge_cells("D1:E1")
        ws.append(["dossiers_on_time_pct", "03172", "2025-07", 96.63, 98])

    result = parse_xlsx(xlsx(build), "m.xlsx", cat)
    assert result.values == []
    [dead] = result.rejected
    assert (dead.reason, dead.source) == ("merged_header", "kpi:m.xlsx:row 1")
    assert "D1:E1" in dead.detail and "Giá trị" in dead.detail


def test_xlsx_named_sheet_and_unknown_sheet(cat: KpiCatalog) -> None:
    def build(ws) -> None:  # type: ignore[no-untyped-def]
        ws.title = "Ghi chú"
        other = ws.parent.create_sheet("Số liệu")
        other.append(["kpi", "unit", "period", "value"])
        other.append(["dossiers_on_time_pct", "03172", "2025-07", "96,63"])

    data = xlsx(build)
    assert parse_xlsx(data, "s.xlsx", cat, sheet="Số liệu").values[0].value == 96.63
    assert parse_xlsx(data, "s.xlsx", cat).rejected[0].reason == "missing_column"
    [dead] = parse_xlsx(data, "s.xlsx", cat, sheet="Sheet9").rejected
    assert dead.reason == "unknown_sheet" and "Số liệu" in dead.detail


def test_a_file_that_is_not_a_workbook(cat: KpiCatalog) -> None:
    [dead] = parse_xlsx(b"PK\x03\x04 not really", "x.xlsx", cat).rejected
    assert dead.reason == "bad_encoding"


# --- JSON, manual, idempotence, i18n -----------------------------------------------------------------------


def test_json_feed(cat: KpiCatalog) -> None:
    obj = json.loads((DATA / "feed_thang_10_2025.json").read_text(encoding="utf-8"))
    result = parse_json(obj, "http://feed", cat)
    assert [(v.kpi_id, v.unit_code, v.value) for v in result.values] == [
        ("dossiers_on_time_pct", "03172", 96.63),
        ("online_dossiers_l34_pct", "03181", 25),
        ("households_online_pct", "03194", 36),
    ]
    [dead] = result.rejected
    assert (dead.reason, dead.source) == ("unknown_unit", "kpi:http://feed:item 4")
    assert json.loads(dead.payload)["unit"] == "03999"


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ({"nothing": 1}, "missing_column"),
        ([1], "bad_value"),
        ([{"kpi": "dossiers_on_time_pct"}], "missing_column"),
    ],
)
def test_json_feed_shapes(cat: KpiCatalog, obj: object, reason: str) -> None:
    result = parse_json(obj, "f", cat)
    assert result.values == [] and result.rejected[0].reason == reason


def test_manual_value(cat: KpiCatalog) -> None:
    v = manual_value(cat, "dossiers_on_time_pct", "Pa Ham", "T7/2025", "96,63%", target="98")
    assert (v.unit_code, v.value, v.target, v.source) == ("03193", 96.63, 98, "manual")
    with pytest.raises(InvalidInput) as err:
        manual_value(cat, "dossiers_on_time_pct", "Pa Ham", "2025-07", "101")
    assert err.value.reason == "out_of_range"


def test_reimporting_the_same_file_gives_the_same_event_ids(cat: KpiCatalog) -> None:
    data = (DATA / "bao_cao_thang_07_2025.csv").read_bytes()
    first = parse_csv(data, "bao_cao.csv", cat)
    again = parse_csv(data, "bao_cao.csv", cat)
    assert [v.event_id for v in first.values] == [v.event_id for v in again.values]
    changed = parse_csv(data.replace(b"96,63", b"96,7"), "bao_cao.csv", cat)
    assert first.values[0].event_id != changed.values[0].event_id
    assert first.values[1:] == changed.values[1:]


def test_norm_ignores_case_diacritics_and_punctuation() -> None:
    assert norm("Đơn vị (xã)") == "don_vi_xa" == norm("DON-VI  XA")
    assert norm("Chỉ tiêu kế hoạch") == "chi_tieu_ke_hoach"


def test_every_reason_has_a_message_in_both_languages() -> None:
    for reason in REASONS:
        vi, en = i18n.catalog()[f"kpi.reject.{reason}"]
        assert vi and en and vi != en
