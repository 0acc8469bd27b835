"""``ioc kpi``: import, pull and add against the real PostgreSQL (``--database-url``) and a local feed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from ioc.app.cli.kpi import app

DATA = Path(__file__).resolve().parents[1] / "data" / "kpi"
runner = CliRunner()


def kpi_rows(dsn: str, source_like: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT kpi_id, unit_code, period_kind, value, target, event_id, updated_at FROM kpi_values"
            " WHERE source LIKE %s ORDER BY kpi_id, unit_code",
            (source_like,),
        ).fetchall()


def dead_rows(dsn: str, source_like: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT source, reason FROM dead_letters WHERE source LIKE %s ORDER BY source", (source_like,)
        ).fetchall()


def test_import_csv_with_good_and_bad_rows(pg_dsn: str, site_dir: Path) -> None:
    path = DATA / "bao_cao_thang_07_2025.csv"
    args = ["import", str(path), "--site", str(site_dir), "--database-url", pg_dsn]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Đã nhận 7 giá trị chỉ tiêu." in result.output
    assert "Từ chối 5 dòng:" in result.output
    assert "bao_cao_thang_07_2025.csv:line 9: Chỉ tiêu không có trong cấu hình (unknown_kpi)" in result.output
    assert "bao_cao_thang_07_2025.csv:line 13: Giá trị ngoài khoảng hợp lệ (out_of_range)" in result.output

    # This test runs first on the module's fresh database: every row there comes from this file.
    rows = kpi_rows(pg_dsn, "%")
    assert len(rows) == 7
    by = {(r[0], r[1]): r for r in rows}
    assert by["dossiers_on_time_pct", "03172"][2:5] == ("month", 96.63, 98.0)
    assert by["online_dossiers_l34_pct", "03194"][3:5] == (18.5, 50.0)
    assert by["households_online_pct", "03202"][2:5] == ("year", 36.0, 60.0)
    dead = dead_rows(pg_dsn, "kpi:bao_cao_thang_07_2025.csv:%")
    assert [(s.rsplit(":", 1)[1], r) for s, r in dead] == [
        ("line 10", "unknown_unit"),
        ("line 11", "bad_period"),
        ("line 12", "bad_value"),
        ("line 13", "out_of_range"),
        ("line 9", "unknown_kpi"),
    ]

    # Importing the same file again changes no value (same event ids, the upsert skips them).
    again = runner.invoke(app, [*args, "--lang", "en"])
    assert again.exit_code == 0, again.output
    assert "7 KPI values accepted." in again.output and "5 rows rejected:" in again.output
    assert "line 10: Unit not among the site's areas (unknown_unit)" in again.output
    assert kpi_rows(pg_dsn, "%") == rows


def test_import_xlsx_and_a_file_with_no_good_row(pg_dsn: str, site_dir: Path, tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["Chỉ tiêu", "Đơn vị", "Kỳ", "Giá trị"])
    ws.append(["online_procedures_l3_count", "Mường Pồn", "Q3/2025", 16])
    ws.append(["online_procedures_l3_count", "Hà Nội", "Q3/2025", 16])
    xlsx = tmp_path / "thu_tuc_q3.xlsx"
    wb.save(xlsx)
    result = runner.invoke(app, ["import", str(xlsx), "--site", str(site_dir), "--database-url", pg_dsn])
    assert result.exit_code == 0, result.output
    assert "thu_tuc_q3.xlsx:row 3" in result.output
    assert [r[:4] for r in kpi_rows(pg_dsn, "kpi:thu_tuc_q3.xlsx")] == [
        ("online_procedures_l3_count", "03202", "quarter", 16.0)
    ]

    bad = tmp_path / "sai.csv"
    bad.write_text("chi_tieu,don_vi,ky,gia_tri\nxyz,03172,2025-07,1\n", encoding="utf-8")
    result = runner.invoke(app, ["import", str(bad), "--site", str(site_dir), "--database-url", pg_dsn])
    assert result.exit_code == 2, result.output
    assert "Không có giá trị nào được nhận" in result.output
    assert dead_rows(pg_dsn, "kpi:sai.csv:%") == [("kpi:sai.csv:line 2", "unknown_kpi")]


def test_import_of_a_missing_file_is_a_system_error(site_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", str(tmp_path / "khong_co.csv"), "--site", str(site_dir)])
    assert result.exit_code == 1
    assert "Không đọc được tệp" in result.output


def test_add_a_value_by_hand(pg_dsn: str, site_dir: Path) -> None:
    base = ["add", "--site", str(site_dir), "--database-url", pg_dsn, "--kpi", "documents_signed_pct"]
    ok = runner.invoke(
        app, [*base, "--unit", "Nậm Nèn", "--period", "11/2025", "--value", "95,5", "--source", "manual:test"]
    )
    assert ok.exit_code == 0, ok.output
    assert kpi_rows(pg_dsn, "manual:test")[0][:5] == ("documents_signed_pct", "03194", "month", 95.5, 98.0)
    bad = runner.invoke(
        app, [*base, "--unit", "03194", "--period", "11/2025", "--value", "105", "--lang", "en"]
    )
    assert bad.exit_code == 2
    assert "Value outside the valid range (out_of_range)" in bad.output


# --- pull from a local HTTP feed ----------------------------------------------------------------------------


class Feed:
    """A local JSON feed answering with a scripted list of statuses, then 200 with the body."""

    def __init__(self, body: bytes, statuses: list[int]) -> None:
        self.body, self.statuses, self.requests = body, list(statuses), 0


@pytest.fixture
def feed() -> Iterator[tuple[Feed, str]]:
    state = Feed(b"", [])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests += 1
            status = state.statuses.pop(0) if state.statuses else 200
            body = state.body if status == 200 else b'{"error": "busy"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/kpi"
    finally:
        server.shutdown()
        server.server_close()


def test_pull_a_json_feed(pg_dsn: str, site_dir: Path, feed: tuple[Feed, str]) -> None:
    state, url = feed
    state.body = (DATA / "feed_thang_10_2025.json").read_bytes()
    result = runner.invoke(app, ["pull", url, "--site", str(site_dir), "--database-url", pg_dsn])
    assert result.exit_code == 0, result.output
    assert "Đã nhận 3 giá trị chỉ tiêu." in result.output and f"{url}:item 4" in result.output
    rows = kpi_rows(pg_dsn, f"kpi:{url}") + kpi_rows(pg_dsn, "Cổng Dịch vụ công tỉnh Điện Biên")
    assert {(r[0], r[1], r[3]) for r in rows} >= {
        ("online_dossiers_l34_pct", "03181", 25.0),
        ("households_online_pct", "03194", 36.0),
    }
    assert dead_rows(pg_dsn, f"kpi:{url}:%") == [(f"kpi:{url}:item 4", "unknown_unit")]


def test_pull_retries_a_server_error(pg_dsn: str, site_dir: Path, feed: tuple[Feed, str]) -> None:
    state, url = feed
    state.body = json.dumps(
        [{"chi_tieu": "dossiers_on_time_pct", "don_vi": "03193", "ky": "2025-12", "gia_tri": "97,1"}]
    ).encode()
    state.statuses = [500]
    result = runner.invoke(app, ["pull", url, "--site", str(site_dir), "--database-url", pg_dsn])
    assert result.exit_code == 0, result.output
    assert state.requests == 2
    assert [r[3] for r in kpi_rows(pg_dsn, f"kpi:{url}") if r[1] == "03193"] == [97.1]


@pytest.mark.parametrize(
    ("statuses", "body", "requests", "message"),
    [
        ([503, 503, 503], b"[]", 3, "sau 3 lần thử: HTTP 503"),
        ([404], b"[]", 1, "HTTP 404"),
        ([], b"<html>not json</html>", 1, "không trả về JSON hợp lệ"),
    ],
)
def test_pull_failures_are_reported(
    site_dir: Path, feed: tuple[Feed, str], statuses: list[int], body: bytes, requests: int, message: str
) -> None:
    state, url = feed
    state.statuses, state.body = statuses, body
    result = runner.invoke(app, ["pull", url, "--site", str(site_dir), "--attempts", "3"])
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert state.requests == requests


def test_pull_from_nowhere(site_dir: Path) -> None:
    result = runner.invoke(
        app,
        [
            "pull",
            "http://127.0.0.1:9/kpi",
            "--site",
            str(site_dir),
            "--attempts",
            "2",
            "--timeout",
            "1",
            "--lang",
            "en",
        ],
    )
    assert result.exit_code == 1
    assert "Could not fetch http://127.0.0.1:9/kpi after 2 attempts" in result.output
