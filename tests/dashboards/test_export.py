"""Leaders' exports: XLSX read back with openpyxl, PDF with pypdf; audited, scoped, refused to others.

The figures are those of test_leaders (hand-computed in its docstring): Q4/2025 ranks Na Sang 1 (75.5 of 85
points, index 88.8235), Mường Tùng 2 (67.5, 79.4118), Pa Ham 3 (19.6, 23.0588), Mường Pồn and Nậm Nèn 4 (0).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dash
import psycopg
import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook
from psycopg_pool import ConnectionPool
from pypdf import PdfReader

from dashboards import leaders
from dashboards.app import create_app
from dashboards.auth import AuthStore
from dashboards.data import PostgresWallData
from dashboards.leaders_data import PostgresLeadersData
from dashboards.settings import DEFAULT_PDF_FONT, WallSettings
from ioc.config.models import SiteConfig
from ioc.i18n import t
from ioc.store.live import MemoryLiveStore
from tests.dashboards.test_leaders import MUONG_TUNG, PASSWORD, USERS, kpi_rows
from tests.dashboards.wall_helpers import SECRET, call, login

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def app(pool: ConnectionPool, site: SiteConfig, site_dir: Path) -> dash.Dash:
    with pool.connection() as conn:
        conn.cursor().executemany(
            "INSERT INTO kpi_values (kpi_id, unit_code, period_kind, period_start, value, target, source, "
            "event_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            kpi_rows(),
        )
    auth = AuthStore(pool)
    for name, (role, scopes) in USERS.items():
        auth.ensure_user(name, PASSWORD, role, scopes)  # type: ignore[arg-type]
    return create_app(
        PostgresWallData(pool, MemoryLiveStore(), site), site, auth=auth, secret_key=SECRET, site_dir=site_dir
    )


@pytest.fixture
def as_user(app: dash.Dash) -> Iterator[Any]:
    def sign_in(name: str) -> FlaskClient:
        client = app.server.test_client()
        assert login(client, name, PASSWORD).status_code == 302
        return client

    yield sign_in


def audit_lines(pg_dsn: str, username: str) -> list[tuple[str, str, dict[str, Any]]]:
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(
            "SELECT action, target, detail FROM audit_log WHERE username = %s AND action = 'export' "
            "ORDER BY id",
            (username,),
        ).fetchall()
    return [(action, target, detail) for action, target, detail in rows]


def sheet_rows(book: Any, title: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in book[title].iter_rows(values_only=True)]


def pdf_text(body: bytes) -> str:
    """The PDF's text with runs of white space as one space (names wrap inside table cells)."""
    reader = PdfReader(io.BytesIO(body))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


# --- XLSX ---------------------------------------------------------------------------------------------------


def test_xlsx_holds_the_ranking_and_the_kpis(as_user: Any, pg_dsn: str) -> None:
    response = as_user("chu.tich").get("/leaders/export.xlsx?period=2025-Q4&lang=vi")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype.endswith("spreadsheetml.sheet")
    assert 'filename="chi-tieu_2025-Q4.xlsx"' in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["Xếp hạng", "Chỉ tiêu", "Cách tính"]
    ranking = sheet_rows(book, "Xếp hạng")
    assert ranking[0][:6] == ("Hạng", "Mã đơn vị", "Đơn vị", "Điểm", "Điểm tối đa", "Chỉ số")
    got = [(r[0], r[1], r[3], round(r[5], 4), r[6], r[7]) for r in ranking[1:]]
    assert got == [
        (1, "03172", 75.5, 88.8235, 9, 9),
        (2, "03181", 67.5, 79.4118, 9, 9),
        (3, "03193", 19.6, 23.0588, 1, 9),
        (4, "03202", 0, 0, 0, 9),
        (4, "03194", 0, 0, 0, 9),
    ]
    assert ranking[1][8] == pytest.approx(53.3733, abs=1e-4) and ranking[1][9] == 2  # previous index and rank
    kpis = sheet_rows(book, "Chỉ tiêu")
    by = {(r[0], r[2]): r for r in kpis[1:]}
    dossiers = by[("03172", "dossiers_on_time_pct")]
    assert dossiers[3] == "Hồ sơ thủ tục hành chính giải quyết đúng hạn, trước hạn"
    assert dossiers[4] == "Quý 4/2025" and dossiers[6:9] == (98, 98, 1)
    assert dossiers[11:13] == (90, 95)  # previous quarter, same quarter last year
    households = by[("03172", "households_online_pct")]
    assert households[4] == "Năm 2025" and households[6:11] == (30, 60, 0.5, 10, 5)
    # The province and the former district are exported too (their lines are empty here).
    assert {r[0] for r in kpis[1:]} == {"03172", "03181", "03193", "03194", "03202", "11", "former-muong-cha"}
    method = sheet_rows(book, "Cách tính")
    assert (
        "dossiers_on_time_pct",
        "Hồ sơ thủ tục hành chính giải quyết đúng hạn, trước hạn",
        "%",
        98,
        20,
        "Có",
        "Tháng",
        96.63,
        "2022",
    ) in method
    assert any(r[0] and "/ 85 \u00d7 100" in str(r[0]) for r in method)
    assert any(r[0] and "chu.tich" in str(r[0]) and "toàn địa bàn" in str(r[0]) for r in method)

    (action, target, detail), *_ = audit_lines(pg_dsn, "chu.tich")
    assert (action, target) == ("export", "leaders:2025-Q4")
    assert detail["format"] == "xlsx" and detail["period"] == "2025-Q4" and detail["scopes"] == []
    assert set(detail["units"]) == {"03172", "03181", "03193", "03194", "03202", "11", "former-muong-cha"}
    assert "dossiers_on_time_pct" in detail["kpis"] and detail["ranked"] == 5


def test_xlsx_in_english(as_user: Any) -> None:
    response = as_user("quan.tri").get("/leaders/export.xlsx?period=2025-12&lang=en")
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["Ranking", "Indicators", "Method"]
    kpis = sheet_rows(book, "Indicators")
    row = next(r for r in kpis if r[0] == "03172" and r[2] == "dossiers_on_time_pct")
    assert (
        row[3] == "Public-service dossiers handled on time or early" and row[4] == "12/2025" and row[6] == 99
    )


def test_a_scoped_leader_exports_only_their_commune(as_user: Any, pg_dsn: str) -> None:
    client = as_user("xa.muong.tung")
    book = load_workbook(io.BytesIO(client.get("/leaders/export.xlsx?period=2025-Q4").data))
    ranking = sheet_rows(book, "Xếp hạng")
    assert [(r[0], r[1], round(r[5], 4)) for r in ranking[1:]] == [(1, MUONG_TUNG, 79.4118)]
    assert {r[0] for r in sheet_rows(book, "Chỉ tiêu")[1:]} == {MUONG_TUNG}
    text = json.dumps([sheet_rows(book, s) for s in book.sheetnames], ensure_ascii=False, default=str)
    assert "Na Sang" not in text and "Pa Ham" not in text
    pdf = pdf_text(client.get("/leaders/export.pdf?period=2025-Q4").data)
    assert "Mường Tùng" in pdf and "Na Sang" not in pdf and "Pa Ham" not in pdf
    lines = audit_lines(pg_dsn, "xa.muong.tung")
    assert [(d["format"], d["units"], d["scopes"]) for _, _, d in lines] == [
        ("xlsx", [MUONG_TUNG], [MUONG_TUNG]),
        ("pdf", [MUONG_TUNG], [MUONG_TUNG]),
    ]


# --- PDF ----------------------------------------------------------------------------------------------------


def test_pdf_has_the_ranking_in_vietnamese_with_the_font_embedded(as_user: Any, pg_dsn: str) -> None:
    response = as_user("chu.tich").get("/leaders/export.pdf?period=2025-Q4&lang=vi")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/pdf" and response.data.startswith(b"%PDF")
    assert 'filename="chi-tieu_2025-Q4.pdf"' in response.headers["Content-Disposition"]
    reader = PdfReader(io.BytesIO(response.data))
    embedded = set()
    for pdf_page in reader.pages:
        for ref in pdf_page["/Resources"]["/Font"].values():  # type: ignore[index, union-attr]
            font = ref.get_object()
            for descendant in font.get("/DescendantFonts", [font]):
                descriptor = descendant.get_object().get("/FontDescriptor")
                if descriptor is not None and "/FontFile2" in descriptor.get_object():
                    embedded.add(str(font["/BaseFont"]))
    assert any("DejaVuSans" in name for name in embedded), embedded  # the TrueType subset is in the file
    text = pdf_text(response.data)
    assert "Báo cáo chỉ tiêu và xếp hạng chuyển đổi số" in text
    assert "Mường Chà (Điện Biên) · Kỳ: Quý 4/2025" in text
    assert "Hồ sơ thủ tục hành chính giải quyết đúng hạn, trước hạn" in text
    # Vietnamese numbers: index 88,8; points 75,5/85; change +8,0 điểm % on dossiers against Q3.
    for expected in (
        "88,8",
        "75,5/85",
        "20,0/20",
        "13,5/15",
        "79,4",
        "23,1",
        "+8,0 điểm %",
        "98,0 %",
        "Nậm Nèn",
        "Mường Pồn",
    ):
        assert expected in text, expected
    assert text.index("Na Sang") < text.index("Mường Tùng") < text.index("Pa Ham")
    assert audit_lines(pg_dsn, "chu.tich")[-1][2]["format"] == "pdf"


def test_pdf_in_english(as_user: Any) -> None:
    text = pdf_text(as_user("quan.tri").get("/leaders/export.pdf?period=2025-Q4&lang=en").data)
    assert "KPI and digital-transformation ranking report" in text and "Period: Q4 2025" in text
    assert "88.8" in text and "+8.0 pp" in text and "Muong Tung" in text


def test_a_missing_font_is_a_clear_error(
    pool: ConnectionPool, site: SiteConfig, site_dir: Path, app: dash.Dash, pg_dsn: str
) -> None:
    assert DEFAULT_PDF_FONT.is_file(), "fonts-dejavu-core is installed by scripts/system-deps.sh"
    wall = WallSettings.from_env({"IOC_PDF_FONT": "/nonexistent/NoSuchFont.ttf"})
    no_font = create_app(
        PostgresWallData(pool, MemoryLiveStore(), site), site, auth=AuthStore(pool), secret_key=SECRET,
        site_dir=site_dir, settings=wall,
    )
    client = no_font.server.test_client()
    assert login(client, "huyen.cu", PASSWORD).status_code == 302
    before = len(audit_lines(pg_dsn, "huyen.cu"))
    response = client.get("/leaders/export.pdf?period=2025-Q4")
    assert response.status_code == 503
    body = response.get_data(as_text=True)
    assert "fonts-dejavu-core" in body and "/nonexistent/NoSuchFont.ttf" in body
    assert len(audit_lines(pg_dsn, "huyen.cu")) == before  # nothing exported, nothing recorded


# --- refusals -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xlsx", "pdf"])
def test_no_export_without_a_session(app: dash.Dash, fmt: str) -> None:
    response = app.server.test_client().get(f"/leaders/export.{fmt}?period=2025-Q4")
    assert response.status_code == 401
    assert not response.data.startswith((b"%PDF", b"PK"))


@pytest.mark.parametrize("fmt", ["xlsx", "pdf"])
def test_operators_may_not_export(as_user: Any, pg_dsn: str, fmt: str) -> None:
    response = as_user("truc.ban.ld").get(f"/leaders/export.{fmt}?period=2025-Q4")
    assert response.status_code == 403
    assert "không được xuất" in response.get_data(as_text=True)
    assert audit_lines(pg_dsn, "truc.ban.ld") == []


@pytest.mark.parametrize(
    ("url", "status", "says"),
    [
        ("/leaders/export.csv?period=2025-Q4", 404, "csv"),
        ("/leaders/export.xlsx?period=2025-13", 400, "2025-13"),
        ("/leaders/export.pdf?period=Q3/2025&lang=en", 400, "use 2025-07"),
    ],
)
def test_bad_requests_say_what_is_wrong(as_user: Any, url: str, status: int, says: str) -> None:
    response = as_user("quan.tri").get(url)
    assert response.status_code == status and says in response.get_data(as_text=True)


def test_without_a_period_the_newest_month_is_exported(as_user: Any) -> None:
    response = as_user("quan.tri").get("/leaders/export.xlsx")
    assert response.status_code == 200
    assert 'filename="chi-tieu_2025-12.xlsx"' in response.headers["Content-Disposition"]
    # A scope with yearly figures only gets its newest year.
    response = as_user("xa.muong.pon").get("/leaders/export.xlsx")
    assert 'filename="chi-tieu_2023.xlsx"' in response.headers["Content-Disposition"]


# --- the database unreachable -------------------------------------------------------------------------------


def test_an_unreachable_database_is_a_clear_503_and_a_banner(
    app: dash.Dash,
    pool: ConnectionPool,
    dead_pool: ConnectionPool,
    site: SiteConfig,
    site_dir: Path,
    pg_dsn: str,
) -> None:
    """Sign-in works (the users' pool is up, `app` made them); the KPI source points at a dead server."""
    broken = create_app(
        PostgresWallData(pool, MemoryLiveStore(), site),
        site,
        auth=AuthStore(pool),
        secret_key=SECRET,
        site_dir=site_dir,
    )
    leaders.install(broken, PostgresLeadersData(dead_pool, site))
    client = broken.server.test_client()
    assert login(client, "quan.tri", PASSWORD).status_code == 302
    before = len(audit_lines(pg_dsn, "quan.tri"))
    response = client.get("/leaders/export.xlsx?period=2025-Q4")
    assert response.status_code == 503 and "thử lại" in response.get_data(as_text=True)
    response = client.get("/leaders/export.pdf")  # no period: looking for the newest fails the same way
    assert response.status_code == 503 and "thử lại" in response.get_data(as_text=True)
    assert len(audit_lines(pg_dsn, "quan.tri")) == before
    page = call(client, "page-content.children", {"url.pathname": "/leaders", "lang.data": "vi"})
    assert "Không đọc được số liệu chỉ tiêu" in json.dumps(page, ensure_ascii=False)
    out = call(
        client,
        "leaders-ranking-title.children",
        {"leaders-period.value": "2025-Q4", "leaders-unit.value": "03172", "leaders-lang.data": "vi"},
    )
    assert out["leaders-status"] == {"children": t("leaders.unavailable", "vi"), "className": "banner"}
    values = {
        "leaders-granularity.value": "year",
        "leaders-period.value": "2025-Q4",
        "leaders-lang.data": "vi",
    }
    assert call(client, "leaders-period.options", values, 204) is None  # no update, not a server error
