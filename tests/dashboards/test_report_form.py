"""The public report form and status page through Flask's test client against the real PostgreSQL: no session,
a signed form token, the origin check, body, photo and rate limits, photos re-encoded without EXIF, a point outside
the site refused in both languages, every refusal kept with its reason."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dash
import psycopg
import pytest
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from PIL import Image
from psycopg_pool import ConnectionPool

from dashboards.app import create_app
from dashboards.auth import AuthStore
from dashboards.data import PostgresWallData
from dashboards.report_form import FORM_TOKEN_MAX_AGE_S, TOKEN_SALT
from dashboards.report_photos import GPS_IFD
from ioc.config.models import ReportIntake, SiteConfig
from ioc.geo import AreaIndex
from ioc.store.live import MemoryLiveStore
from ioc.store.reports import ReportStore
from tests.dashboards.wall_helpers import SECRET

pytestmark = pytest.mark.services

LIMITS = ReportIntake(
    max_photo_bytes=256 * 1024, max_body_bytes=1024 * 1024, per_address_per_hour=3, per_phone_per_day=2,
    photo_long_side_px=800,
)
_CODE = re.compile(r"/report/(PA-[0-9A-Z]{5}-[0-9A-Z]{5})")


@pytest.fixture(scope="module")
def limited_site(site: SiteConfig) -> SiteConfig:
    assert site.reports is not None
    return site.model_copy(update={"reports": site.reports.model_copy(update={"intake": LIMITS})})


@pytest.fixture(scope="module")
def app(pool: ConnectionPool, limited_site: SiteConfig, site_dir: Path) -> dash.Dash:
    auth = AuthStore(pool)
    data = PostgresWallData(pool, MemoryLiveStore(), limited_site)
    return create_app(data, limited_site, auth=auth, secret_key=SECRET, site_dir=site_dir)


@pytest.fixture(scope="module")
def index(site: SiteConfig, site_dir: Path) -> AreaIndex:
    return AreaIndex.from_site(site, site_dir)


@pytest.fixture
def client(app: dash.Dash, pg_dsn: str) -> Iterator[FlaskClient]:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE reports, report_events, report_photos, report_sms, report_rejections, audit_log")
    yield app.server.test_client()


@pytest.fixture
def store(pool: ConnectionPool) -> ReportStore:
    return ReportStore(pool)


def inside(index: AreaIndex, code: str) -> tuple[float, float]:
    point = index.geometry(code).representative_point()
    return round(point.x, 6), round(point.y, 6)


def token(client: FlaskClient, lang: str = "vi") -> str:
    page = client.get(f"/report?lang={lang}").get_data(as_text=True)
    found = re.search(r'name="token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def photo_with_exif(width: int = 1200, height: int = 900) -> bytes:
    """A JPEG with the camera's EXIF: make, GPS of the sender's home, orientation 6 (turn 90° to show)."""
    image = Image.new("RGB", (width, height), (30, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to show
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (21.0, 45.0, 30.0), "E", (103.0, 5.0, 10.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def post(client: FlaskClient, fields: dict[str, Any], photos: list[bytes] = (), remote: str = "198.51.100.7",
         headers: dict[str, str] | None = None, lang: str = "vi") -> Any:
    data: dict[str, Any] = {"token": token(client, lang), "lang": lang, **fields}
    if photos:
        data["photos"] = [(io.BytesIO(p), f"IMG_{i}.jpg") for i, p in enumerate(photos)]
    return client.post(f"/report?lang={lang}", data=data, content_type="multipart/form-data",
                       environ_base={"REMOTE_ADDR": remote}, headers=headers or {})


def point_of(exif: Image.Exif) -> tuple[float, float]:
    """The (lon, lat) of an EXIF GPS block."""
    gps = exif.get_ifd(GPS_IFD)

    def degrees(dms: tuple[float, float, float], ref: str, negative: str) -> float:
        value = float(dms[0]) + float(dms[1]) / 60 + float(dms[2]) / 3600
        return -value if ref == negative else value

    return degrees(gps[4], gps[3], "W"), degrees(gps[2], gps[1], "S")


def fields(index: AreaIndex, commune: str = "03172", **extra: str) -> dict[str, str]:
    lon, lat = inside(index, commune)
    return {"category": "traffic", "description": "Cây đổ chắn ngang đường", "lon": str(lon), "lat": str(lat),
            **extra}


def rejections(pg_dsn: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    with psycopg.connect(pg_dsn) as conn:
        return conn.execute("SELECT reason, address_hash, summary FROM report_rejections ORDER BY id").fetchall()


def test_the_form_needs_no_session_in_either_language(client: FlaskClient) -> None:
    page = client.get("/report")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert '<html lang="vi">' in text and "Phản ánh hiện trường" in text and "Ngập lụt, sạt lở" in text
    assert "Na Sang" in text and "Mường Pồn" in text and '<script src="/report/form.js">' in text
    assert "<script>" not in text  # the CSP allows no inline script
    assert page.headers["Permissions-Policy"] == "camera=(), microphone=(), geolocation=(self)"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    english = client.get("/report?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in english and "Flooding and landslide" in english and "Send the report" in english
    # the communes' map to tap, drawn by the server: one outline per commune, the projection for the script
    assert text.count('<path d="M') == 5 and 'id="report-map"' in text and 'data-kx="' in text
    script = client.get("/report/form.js")
    assert script.status_code == 200 and "navigator.geolocation" in script.get_data(as_text=True)
    # the wall itself stays closed
    assert client.get("/_dash-layout").status_code == 401


def test_a_report_with_gps_and_photos(
    client: FlaskClient, index: AreaIndex, store: ReportStore, pg_dsn: str
) -> None:
    sent = post(client, fields(index, phone="0912 345 678"), [photo_with_exif(), photo_with_exif(300, 200)])
    assert sent.status_code == 303, sent.get_data(as_text=True)
    code = _CODE.search(sent.headers["Location"]).group(1)  # type: ignore[union-attr]
    report = store.get(code)
    assert report is not None
    assert (report.category, report.commune_code, report.unit_id, report.channel, report.location_source) == (
        "traffic", "03172", "ubnd-na-sang", "web", "gps")
    assert report.phone == "84912345678"
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute("SELECT address_hash FROM reports WHERE code = %s", (code,)).fetchone()
    assert row is not None and len(row[0]) == 64  # the address as a keyed hash, never the address
    photos = store.photos(code)
    assert len(photos) == 2
    stored = store.photo(code, photos[0].id)
    assert stored is not None
    picture = Image.open(io.BytesIO(stored))
    assert picture.format == "JPEG" and "icc_profile" not in picture.info
    assert b"PhoneMaker" not in stored
    # the only EXIF left is the point the citizen sent, not the photo's own GPS
    exif = picture.getexif()
    assert set(exif) == {GPS_IFD}
    assert point_of(exif) == pytest.approx((report.lon, report.lat), abs=1e-5)
    assert picture.size == (600, 800)  # turned upright, then scaled to 800 px on the long side
    status = client.get(sent.headers["Location"])
    text = status.get_data(as_text=True)
    assert status.status_code == 200 and code in text and "Đã tiếp nhận" in text and "UBND xã Na Sang" in text
    assert "Hạn xử lý" in text and "0912" not in text and "84912345678" not in text
    assert client.get(f"/report/{code}/photos/{photos[0].id}.jpg").data == stored
    english = client.get(f"/report/{code}?lang=en").get_data(as_text=True)
    assert "Received" in english and "Na Sang Commune People&#x27;s Committee" in english


def test_a_point_tapped_on_the_map(client: FlaskClient, store: ReportStore, index: AreaIndex) -> None:
    sent = post(client, {**fields(index, "03181"), "source": "map"}, [photo_with_exif(60, 40)])
    assert sent.status_code == 303
    code = _CODE.search(sent.headers["Location"]).group(1)  # type: ignore[union-attr]
    report = store.get(code)
    assert report is not None and (report.commune_code, report.location_source) == ("03181", "map")
    # a tapped point is not the phone's position: the photo keeps no EXIF
    stored = store.photo(code, store.photos(code)[0].id)
    assert stored is not None and not Image.open(io.BytesIO(stored)).getexif()


def test_the_commune_list_when_there_is_no_gps(client: FlaskClient, store: ReportStore, index: AreaIndex) -> None:
    sent = post(client, {"category": "public_order", "description": "Tụ tập gây rối", "commune": "03194"},
                [photo_with_exif(60, 40)])
    assert sent.status_code == 303
    code = _CODE.search(sent.headers["Location"]).group(1)  # type: ignore[union-attr]
    report = store.get(code)
    assert report is not None
    assert (report.commune_code, report.unit_id, report.location_source) == ("03194", "cong-an-tinh", "commune")
    assert index.contains("03194", report.lon, report.lat)
    # no point was sent, so the photo keeps no EXIF at all
    stored = store.photo(code, store.photos(code)[0].id)
    assert stored is not None and not Image.open(io.BytesIO(stored)).getexif()


@pytest.mark.parametrize(
    ("lang", "message"),
    [
        ("vi", "Vị trí bạn gửi nằm ngoài địa bàn Mường Chà (Điện Biên)"),
        ("en", "The location you sent is outside Mường Chà (Điện Biên)"),
    ],
)
def test_a_point_outside_the_site_is_refused_clearly(
    client: FlaskClient, pg_dsn: str, lang: str, message: str
) -> None:
    sent = post(client, {"category": "traffic", "description": "Kẹt xe", "lon": "105.85", "lat": "21.03"},
                lang=lang)
    assert sent.status_code == 400
    text = sent.get_data(as_text=True)
    assert message in text and "Kẹt xe" in text  # the form comes back filled in
    [(reason, address_hash, summary)] = rejections(pg_dsn)
    assert reason == "outside_site" and address_hash and summary["lon"] == "105.85"


@pytest.mark.parametrize(
    ("change", "reason", "status"),
    [
        ({"category": "weather"}, "bad_category", 400),
        ({"description": "   "}, "bad_description", 400),
        ({"phone": "12345"}, "bad_phone", 400),
        ({"lon": "", "lat": ""}, "no_location", 400),
        ({"lon": "nan", "lat": "21.7"}, "no_location", 400),
        ({"lon": "", "lat": "", "commune": "11"}, "no_location", 400),
    ],
)
def test_bad_input_is_refused_and_kept(
    client: FlaskClient, index: AreaIndex, pg_dsn: str, change: dict[str, str], reason: str, status: int
) -> None:
    sent = post(client, {**fields(index), **change})
    assert sent.status_code == status
    assert 'role="alert"' in sent.get_data(as_text=True)
    assert [r[0] for r in rejections(pg_dsn)] == [reason]


def test_photos_are_checked(client: FlaskClient, index: AreaIndex, pg_dsn: str) -> None:
    small = photo_with_exif(40, 30)
    assert post(client, fields(index), [small] * 4).status_code == 400
    assert post(client, fields(index), [b"not a picture at all"]).status_code == 400
    assert post(client, fields(index), [small + b"\0" * (300 * 1024)]).status_code == 400
    kept = rejections(pg_dsn)
    assert [r[0] for r in kept] == ["too_many_photos", "bad_photo", "photo_too_large"]
    assert kept[1][2]["photos"] == [{"name": "IMG_0.jpg", "bytes": len(b"not a picture at all")}]


def test_the_form_token_is_required_and_expires(client: FlaskClient, index: AreaIndex, pg_dsn: str) -> None:
    data = {**fields(index), "token": "forged"}
    assert client.post("/report", data=data).status_code == 400

    class Old(TimestampSigner):
        def get_timestamp(self) -> int:
            return super().get_timestamp() - FORM_TOKEN_MAX_AGE_S - 60

    stale = URLSafeTimedSerializer(SECRET, salt=TOKEN_SALT, signer=Old).dumps("x")
    sent = client.post("/report", data={**fields(index), "token": stale})
    assert sent.status_code == 400 and "Biểu mẫu đã hết hạn" in sent.get_data(as_text=True)
    assert [r[0] for r in rejections(pg_dsn)] == ["bad_token", "bad_token"]


def test_a_post_from_another_site_is_refused(client: FlaskClient, index: AreaIndex, pg_dsn: str) -> None:
    assert post(client, fields(index), headers={"Origin": "https://evil.example"}).status_code == 403
    assert post(client, fields(index), headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    same = post(client, fields(index), headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 303
    assert [r[0] for r in rejections(pg_dsn)] == ["cross_site", "cross_site"]


def test_the_body_limit_is_the_forms_own(client: FlaskClient, index: AreaIndex, pg_dsn: str) -> None:
    # The form takes 1 MB here, less than the wall's 2 MB.
    photo = photo_with_exif(40, 30)
    padded = post(client, {**fields(index), "padding": (io.BytesIO(b"x" * (800 * 1024)), "padding.bin")}, [photo])
    assert padded.status_code == 303
    huge = post(client, {**fields(index), "padding": (io.BytesIO(b"x" * (1200 * 1024)), "padding.bin")})
    assert huge.status_code == 413 and "1 MB" in huge.get_data(as_text=True)
    # a text field too large for the form parser's memory is refused and kept too
    stuffed = post(client, {**fields(index), "description": "x" * (520 * 1024)})
    assert stuffed.status_code == 413
    assert [r[0] for r in rejections(pg_dsn)] == ["too_large", "too_large"]


def test_rate_limits_per_address_and_per_phone(client: FlaskClient, index: AreaIndex, pg_dsn: str) -> None:
    for i in range(3):
        assert post(client, fields(index, "03181", description=f"Ổ gà {i}"), remote="203.0.113.1").status_code == 303
    assert post(client, fields(index, "03181"), remote="203.0.113.1").status_code == 429
    assert post(client, fields(index, "03181"), remote="203.0.113.2").status_code == 303
    phone = {"phone": "0987654321"}
    assert post(client, fields(index, "03193", **phone), remote="203.0.113.3").status_code == 303
    assert post(client, fields(index, "03193", **phone), remote="203.0.113.4").status_code == 303
    limited = post(client, fields(index, "03193", **phone), remote="203.0.113.5")
    assert limited.status_code == 429 and "đường dây nóng" in limited.get_data(as_text=True)
    assert [r[0] for r in rejections(pg_dsn)] == ["rate_limited_address", "rate_limited_phone"]


def test_a_near_duplicate_is_linked_on_the_status_page(client: FlaskClient, index: AreaIndex) -> None:
    lon, lat = inside(index, "03202")
    first = post(client, {**fields(index), "lon": str(lon), "lat": str(lat)}, remote="192.0.2.1")
    again = post(client, {**fields(index), "lon": str(lon), "lat": str(round(lat + 0.0003, 6))}, remote="192.0.2.2")
    code = _CODE.search(first.headers["Location"]).group(1)  # type: ignore[union-attr]
    text = client.get(again.headers["Location"]).get_data(as_text=True)
    assert "đã được phản ánh trước đó" in text and f'href="/report/{code}?lang=vi"' in text


def test_codes_on_the_status_page(client: FlaskClient, index: AreaIndex) -> None:
    sent = post(client, fields(index), [photo_with_exif(40, 30)])
    code = _CODE.search(sent.headers["Location"]).group(1)  # type: ignore[union-attr]
    assert client.get("/report/PA-00000-00000").status_code == 404
    assert "Không tìm thấy" in client.get("/report/nonsense").get_data(as_text=True)
    typed = client.get(f"/report/{code.lower().replace('-', '')}")
    assert typed.status_code == 301 and typed.headers["Location"].startswith(f"/report/{code}")
    lookup = client.get(f"/report/lookup?code={code.lower()}&lang=en")
    assert lookup.status_code == 303 and lookup.headers["Location"] == f"/report/{code}?lang=en"
    assert client.get("/report/PA-00000-00000/photos/1.jpg").status_code == 404
