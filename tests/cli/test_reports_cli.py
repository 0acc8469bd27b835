"""``ioc reports``: the hotline operator's entry and the lifecycle against the real PostgreSQL, every step in the
trail and the audit log, refused steps and refused entries explained in both languages."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import psycopg
import pytest
from PIL import Image
from typer.testing import CliRunner

from ioc.app.cli.main import app
from ioc.config.loader import load_site
from ioc.geo import AreaIndex

pytestmark = pytest.mark.services
runner = CliRunner()
CODE = re.compile(r"PA-[0-9A-Z]{5}-[0-9A-Z]{5}")


@pytest.fixture
def db(pg_dsn: str) -> str:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE reports, report_events, report_photos, report_sms, report_rejections, audit_log")
    return pg_dsn


@pytest.fixture(scope="module")
def point(site_dir: Path) -> tuple[str, str]:
    site = load_site(site_dir)
    inner = AreaIndex.from_site(site, site_dir).geometry("03194").representative_point()
    return f"{inner.x:.6f}", f"{inner.y:.6f}"


def ioc(db: str, site_dir: Path, *argv: str, lang: str = "vi") -> tuple[int, str]:
    result = runner.invoke(app, [*argv, "--database-url", db, "--site", str(site_dir), "--lang", lang],
                           terminal_width=200)
    return result.exit_code, result.output


def add(db: str, site_dir: Path, *extra: str, lang: str = "vi") -> tuple[int, str]:
    return ioc(db, site_dir, "reports", "add", "--category", "flooding_landslide", "--description",
               "Sạt lở taluy dương trên đường vào bản", "--phone", "0912 345 678", "--by", "lo-thi-mai", *extra,
               lang=lang)


def test_the_hotline_entry(db: str, site_dir: Path, point: tuple[str, str]) -> None:
    code_, output = add(db, site_dir, "--lon", point[0], "--lat", point[1])
    assert code_ == 0, output
    assert "Đã tiếp nhận phản ánh" in output and "Nậm Nèn" in output and "UBND xã Nậm Nèn" in output
    code = CODE.findall(output)[-1]
    with psycopg.connect(db) as conn:
        row = conn.execute(
            "SELECT channel, phone, created_by, location_source, unit_id, status FROM reports WHERE code = %s",
            (code,),
        ).fetchone()
        audit = conn.execute("SELECT username, action FROM audit_log WHERE target = %s", (code,)).fetchall()
    assert row == ("operator", "84912345678", "lo-thi-mai", "operator", "ubnd-nam-nen", "received")
    assert audit == [("lo-thi-mai", "report.add")]
    # the same landslide phoned in again an hour later is linked, not counted twice
    again, output = add(db, site_dir, "--lon", point[0], "--lat", point[1])
    assert again == 0 and f"Trùng với phản ánh {code}" in output


def test_the_commune_when_the_caller_has_no_point(db: str, site_dir: Path) -> None:
    code_, output = add(db, site_dir, "--commune", "03181", lang="en")
    assert code_ == 0, output
    assert "Report PA-" in output and "Muong Tung" in output


@pytest.mark.parametrize(
    ("extra", "reason", "message"),
    [
        (("--lon", "105.85", "--lat", "21.03"), "outside_site", "nằm ngoài các xã của địa bàn"),
        (("--commune", "03181", "--phone", "112"), "bad_phone", "Dữ liệu không hợp lệ"),
        ((), "no_location", "Cần --lon và --lat, hoặc --commune"),
        (("--commune", "03181", "--category", "weather"), "bad_category", "Không có lĩnh vực weather"),
    ],
)
def test_refused_entries_are_kept(
    db: str, site_dir: Path, extra: tuple[str, ...], reason: str, message: str
) -> None:
    code_, output = add(db, site_dir, *extra)
    assert code_ == 1 and message in output
    with psycopg.connect(db) as conn:
        rows = conn.execute("SELECT channel, reason, summary->>'by' FROM report_rejections").fetchall()
        reports = conn.execute("SELECT count(*) FROM reports").fetchone()
    assert rows == [("operator", reason, "lo-thi-mai")] and reports == (0,)


def jpeg(path: Path) -> Path:
    out = io.BytesIO()
    Image.new("RGB", (2000, 1000), (20, 160, 60)).save(out, "JPEG")
    path.write_bytes(out.getvalue())
    return path


def test_the_lifecycle_and_its_trail(db: str, site_dir: Path, point: tuple[str, str], tmp_path: Path) -> None:
    code = CODE.findall(add(db, site_dir, "--lon", point[0], "--lat", point[1])[1])[-1]
    steps = [
        ("assign", code, "--by", "lo-thi-mai", "--unit", "so-xay-dung", "--assignee", "tong-van-duc"),
        ("progress", code, "--by", "tong-van-duc", "--note", "Đã cử máy xúc"),
        ("note", code, "--by", "tong-van-duc", "--text", "Cần thêm 1 ngày"),
        ("resolve", code, "--by", "tong-van-duc", "--note", "Đã dọn đất đá, thông đường",
         "--photo", str(jpeg(tmp_path / "fix.jpg"))),
    ]
    for argv in steps:
        exit_code, output = ioc(db, site_dir, "reports", *argv)
        assert exit_code == 0, output
    assert "Đã xử lý xong" in output
    refused, output = ioc(db, site_dir, "reports", "reject", code, "--by", "lo-thi-mai", "--note", "x")
    assert refused == 1 and "đang ở trạng thái \u201cĐã xử lý xong\u201d" in output
    with psycopg.connect(db) as conn:
        trail = conn.execute(
            "SELECT e.action, e.actor, e.to_status FROM report_events e JOIN reports r ON r.id = e.report_id "
            "WHERE r.code = %s ORDER BY e.id", (code,)
        ).fetchall()
        fix = conn.execute(
            "SELECT width, height FROM report_photos p JOIN reports r ON r.id = p.report_id "
            "WHERE r.code = %s AND kind = 'fix'", (code,)
        ).fetchall()
        audit = conn.execute("SELECT action FROM audit_log WHERE target = %s ORDER BY id", (code,)).fetchall()
    assert trail == [
        ("received", "lo-thi-mai", "received"),
        ("assign", "lo-thi-mai", "assigned"),
        ("progress", "tong-van-duc", "in_progress"),
        ("note", "tong-van-duc", "in_progress"),
        ("resolve", "tong-van-duc", "resolved"),
    ]
    assert fix == [(1600, 800)]
    assert [a for (a,) in audit] == ["report.add", "report.assign", "report.progress", "report.note", "report.resolve"]
    shown, output = ioc(db, site_dir, "reports", "show", code.lower(), lang="en")
    assert shown == 0 and "Work started — Đã cử máy xúc" in output and "Dien Bien Department of Construction" in output


def test_a_rejected_report_cannot_be_resolved(db: str, site_dir: Path) -> None:
    code = CODE.findall(add(db, site_dir, "--commune", "03202")[1])[-1]
    rejected = ioc(db, site_dir, "reports", "reject", code, "--by", "lo-thi-mai", "--note", "Không thuộc thẩm quyền")
    assert rejected[0] == 0
    refused, output = ioc(db, site_dir, "reports", "resolve", code, "--by", "x", "--note", "y", lang="en")
    assert refused == 1 and "Cannot take the step \u201cResolved\u201d" in output and "it is Rejected" in output
    refused, output = ioc(db, site_dir, "reports", "progress", code, "--by", "x")
    assert refused == 1


def test_unknown_codes_and_units(db: str, site_dir: Path) -> None:
    code = CODE.findall(add(db, site_dir, "--commune", "03202")[1])[-1]
    assert "Không có phản ánh mã PA-00000-00000" in ioc(db, site_dir, "reports", "progress", "PA-00000-00000",
                                                          "--by", "x")[1]
    assert "không phải mã phản ánh" in ioc(db, site_dir, "reports", "progress", "hello", "--by", "x")[1]
    exit_code, output = ioc(db, site_dir, "reports", "assign", code, "--by", "x", "--unit", "so-y-te")
    assert exit_code == 1 and "Không có đơn vị so-y-te" in output


def test_list(db: str, site_dir: Path, point: tuple[str, str]) -> None:
    assert ioc(db, site_dir, "reports", "list")[1].strip() == "Không có phản ánh nào"
    first = CODE.findall(add(db, site_dir, "--commune", "03202")[1])[-1]
    second = CODE.findall(add(db, site_dir, "--lon", point[0], "--lat", point[1])[1])[-1]
    ioc(db, site_dir, "reports", "assign", first, "--by", "x")
    exit_code, output = ioc(db, site_dir, "reports", "list")
    assert exit_code == 0 and output.index(second) < output.index(first) and "Đường dây nóng" in output
    _, output = ioc(db, site_dir, "reports", "list", "--status", "assigned", "--json")
    rows = json.loads(output)
    assert [r["code"] for r in rows] == [first] and rows[0]["channel"] == "operator"
    _, output = ioc(db, site_dir, "reports", "list", "--unit", "ubnd-nam-nen", "--json")
    assert [r["code"] for r in json.loads(output)] == [second]


def test_every_verb_is_there() -> None:
    result = runner.invoke(app, ["reports", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for verb in ("add", "assign", "progress", "resolve", "reject", "note", "list", "show"):
        assert verb in result.output
        assert runner.invoke(app, ["reports", verb, "--help"]).exit_code == 0
