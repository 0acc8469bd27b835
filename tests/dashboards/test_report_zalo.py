"""Citizens' reports through the Zalo OA: the webhook on the wall (no session) against signed events from the fake
Zalo, the conversation to a report with the real PostgreSQL, the answers sent through the fake's OA message API,
refusals kept, and a status change told to the follower."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dash
import psycopg
import pytest
from flask.testing import FlaskClient
from PIL import Image
from psycopg_pool import ConnectionPool

from analytics.reports import Action, Status, next_status
from dashboards.app import create_app
from dashboards.auth import AuthStore
from dashboards.data import PostgresWallData
from dashboards.report_zalo import ZALO_WORKER, ZaloWorker
from ioc.config.models import ReportIntake, SiteConfig
from ioc.geo import AreaIndex
from ioc.notify.channels.registry import build_channels
from ioc.notify.channels.zalo import ZaloZnsAdapter
from ioc.notify.tokens import TokenStore
from ioc.store.live import MemoryLiveStore
from ioc.store.report_zalo import ZaloIntakeStore
from ioc.store.reports import ReportStore
from tests.dashboards.wall_helpers import SECRET
from tests.fakes import ZaloFake
from tests.fakes.site import ZNS, fake_base_urls, fake_env

pytestmark = pytest.mark.services

PUBLIC = "https://ioc.muongcha.example.vn"
LIMITS = ReportIntake(max_photo_bytes=256 * 1024, max_body_bytes=1024 * 1024, photo_long_side_px=800)
USER = "8309393969855402319"


@pytest.fixture(scope="module")
def zalo() -> Iterator[ZaloFake]:
    with ZaloFake().threaded() as fake:
        yield fake


@pytest.fixture(scope="module")
def zalo_site(site: SiteConfig) -> SiteConfig:
    assert site.reports is not None and site.reports.zalo is not None
    zalo_cfg = site.reports.zalo.model_copy(
        update={"image_hosts": ["127.0.0.1"], "per_user_per_day": 2, "events_per_user_per_hour": 30}
    )
    return site.model_copy(update={"reports": site.reports.model_copy(update={"intake": LIMITS, "zalo": zalo_cfg})})


@pytest.fixture(scope="module")
def app(pool: ConnectionPool, zalo_site: SiteConfig, site_dir: Path, zalo: ZaloFake, pg_dsn: str) -> dash.Dash:
    channels = build_channels(zalo_site, fake_env(zalo=zalo), TokenStore(pg_dsn), base_urls=fake_base_urls(zalo=zalo))
    channel = channels[ZNS]
    assert isinstance(channel, ZaloZnsAdapter)
    data = PostgresWallData(pool, MemoryLiveStore(), zalo_site)
    return create_app(data, zalo_site, auth=AuthStore(pool), secret_key=SECRET, site_dir=site_dir,
                      zalo_channel=channel, public_url=PUBLIC)


@pytest.fixture
def client(app: dash.Dash, pg_dsn: str, zalo: ZaloFake) -> Iterator[FlaskClient]:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE reports, report_events, report_photos, report_rejections, audit_log, "
                     "report_zalo_inbox, report_zalo_drafts, report_zalo_draft_photos, report_zalo_outbox CASCADE")
    zalo.clear()
    with zalo._lock:
        zalo.oa_sent.clear()
    yield app.server.test_client()


@pytest.fixture
def worker(app: dash.Dash) -> ZaloWorker:
    found = app.server.extensions[ZALO_WORKER]
    assert isinstance(found, ZaloWorker)
    return found


@pytest.fixture(scope="module")
def index(site: SiteConfig, site_dir: Path) -> AreaIndex:
    return AreaIndex.from_site(site, site_dir)


def inside(index: AreaIndex, code: str = "03172") -> tuple[float, float]:
    point = index.geometry(code).representative_point()
    return round(point.x, 6), round(point.y, 6)


def send(client: FlaskClient, signed: tuple[bytes, dict[str, str]]) -> Any:
    body, headers = signed
    return client.post("/report/zalo", data=body, headers=headers)


def photo_with_exif() -> bytes:
    image = Image.new("RGB", (1200, 900), (30, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (21.0, 45.0, 30.0), "E", (103.0, 5.0, 10.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def rejections(pg_dsn: str) -> list[tuple[str, str, str | None, dict[str, Any]]]:
    with psycopg.connect(pg_dsn) as conn:
        return conn.execute(
            "SELECT channel, reason, address_hash, summary FROM report_rejections ORDER BY id"
        ).fetchall()


def inbox(pg_dsn: str) -> list[tuple[str, str | None]]:
    with psycopg.connect(pg_dsn) as conn:
        return conn.execute("SELECT event_name, outcome FROM report_zalo_inbox ORDER BY id").fetchall()


def test_a_signed_event_is_taken_at_once_and_a_copy_is_not_applied_twice(
    client: FlaskClient, zalo: ZaloFake, pg_dsn: str, worker: ZaloWorker
) -> None:
    signed = zalo.text_event(USER, "Cây đổ chắn ngang đường")
    started = time.monotonic()
    first = send(client, signed)
    assert first.status_code == 200 and first.get_json() == {"ok": True, "result": "queued"}
    assert time.monotonic() - started < 2  # Zalo wants its 200 within 2 s: nothing slow happens in the request
    again = send(client, signed)  # Zalo's retry, or a replay within the window
    assert again.status_code == 200 and again.get_json()["result"] == "duplicate"
    assert inbox(pg_dsn) == [("user_send_text", None)]
    other = send(client, zalo.signed_event({"event_name": "follow", "follower": {"id": USER}}))
    assert other.status_code == 200 and other.get_json()["result"] == "ignored"  # signed but not ours to act on
    worker.run_once()
    assert inbox(pg_dsn) == [("user_send_text", "draft")]
    assert len(zalo.oa_texts(USER)) == 1 and "GỬI" in zalo.oa_texts(USER)[0]  # the welcome with the menu


@pytest.mark.parametrize(
    ("case", "reason"),
    [("bad_signature", "bad_signature"), ("replay", "stale_callback"), ("future", "stale_callback"),
     ("other_secret", "bad_signature")],
)
def test_bad_signatures_and_replays_are_refused_and_kept(
    client: FlaskClient, zalo: ZaloFake, pg_dsn: str, case: str, reason: str
) -> None:
    if case == "bad_signature":
        body, headers = zalo.text_event(USER, "xin chào")
        body = body.replace("xin chào".encode(), "tạm biệt".encode())  # changed after Zalo signed it
    elif case == "replay":
        body, headers = zalo.text_event(USER, "xin chào", at=time.time() - 3600)  # signed an hour ago
    elif case == "future":
        body, headers = zalo.text_event(USER, "xin chào", at=time.time() + 3600)
    else:
        forger = ZaloFake(oa_secret_key="not-the-oa-secret")
        body, headers = forger.text_event(USER, "xin chào")
    answer = client.post("/report/zalo", data=body, headers=headers)
    assert answer.status_code == 403 and answer.get_json() == {"ok": False, "reason": reason}
    assert inbox(pg_dsn) == []
    kept = rejections(pg_dsn)
    assert [(c, r) for c, r, _, _ in kept] == [("zalo", reason)]


def test_no_signature_at_all_is_refused(client: FlaskClient, pg_dsn: str) -> None:
    answer = client.post("/report/zalo", data=b'{"event_name": "user_send_text"}',
                         headers={"Content-Type": "application/json"})
    assert answer.status_code == 403
    assert [r for _, r, _, _ in rejections(pg_dsn)] == ["bad_signature"]


def test_text_location_and_photo_become_a_report_and_the_code_goes_back(
    client: FlaskClient, zalo: ZaloFake, pg_dsn: str, worker: ZaloWorker, index: AreaIndex, pool: ConnectionPool
) -> None:
    zalo.images["tree.jpg"] = photo_with_exif()
    lon, lat = inside(index, "03172")
    for signed in (
        zalo.text_event(USER, "Sạt lở taluy chắn ngang đường vào bản"),  # keywords: flooding and landslide
        zalo.location_event(USER, lon, lat),
        zalo.image_event(USER, "tree.jpg"),
    ):
        assert send(client, signed).status_code == 200
    worker.run_once()
    drafts = ZaloIntakeStore(pool).draft(USER)
    assert drafts is not None and drafts.category == "flooding_landslide" and drafts.photos == 1
    assert "GỬI" in zalo.oa_texts(USER)[-1]  # everything is there: send GỬI
    assert send(client, zalo.text_event(USER, "gửi")).status_code == 200
    worker.run_once()
    store = ReportStore(pool)
    [report] = store.search()
    assert (report.channel, report.zalo_user_id, report.category) == ("zalo", USER, "flooding_landslide")
    assert report.commune_code == "03172" and report.description == "Sạt lở taluy chắn ngang đường vào bản"
    assert (report.lon, report.lat) == (lon, lat) and report.phone is None
    [photo] = store.photos(report.code)
    stored = Image.open(io.BytesIO(store.photo(report.code, photo.id) or b""))
    assert max(stored.size) == 800 and not stored.getexif()  # re-encoded, no EXIF (not the phone's GPS either)
    receipt = zalo.oa_texts(USER)[-1]
    assert report.code in receipt and f"{PUBLIC}/report/{report.code}?lang=vi" in receipt
    assert ZaloIntakeStore(pool).draft(USER) is None  # the conversation starts afresh
    assert [m["status"] for m in ZaloIntakeStore(pool).messages(USER)] == ["sent"] * len(zalo.oa_texts(USER))
    assert [o for _, o in inbox(pg_dsn)] == ["draft", "draft", "draft", "accepted"]


def test_menu_number_and_english_answers(
    client: FlaskClient, zalo: ZaloFake, worker: ZaloWorker, index: AreaIndex, pool: ConnectionPool
) -> None:
    lon, lat = inside(index, "03194")
    for signed in (zalo.text_event(USER, "EN"), zalo.text_event(USER, "1"), zalo.text_event(USER, "Xe tải đỗ"),
                   zalo.text_event(USER, "send")):
        send(client, signed)
    worker.run_once()
    texts = zalo.oa_texts(USER)
    assert "1. Traffic" in texts[0] and "Send the location" in texts[-1]  # SEND without a place: what is missing
    send(client, zalo.location_event(USER, lon, lat))
    send(client, zalo.text_event(USER, "SEND"))
    worker.run_once()
    [report] = ReportStore(pool).search()
    assert report.category == "traffic" and report.commune_code == "03194"
    assert "Your report has been received" in zalo.oa_texts(USER)[-1]
    assert "?lang=en" in zalo.oa_texts(USER)[-1]


def test_a_location_outside_the_site_is_refused_with_a_message_and_kept(
    client: FlaskClient, zalo: ZaloFake, pg_dsn: str, worker: ZaloWorker, pool: ConnectionPool
) -> None:
    send(client, zalo.text_event(USER, "Ngập nước"))
    send(client, zalo.location_event(USER, 105.8342, 21.0278))  # Hà Nội
    worker.run_once()
    assert "nằm ngoài địa bàn Mường Chà" in zalo.oa_texts(USER)[-1]
    [(channel, reason, sender, summary)] = rejections(pg_dsn)
    assert (channel, reason) == ("zalo", "outside_site") and sender and USER not in str(sender)
    assert summary["kind"] == "location" and summary["lat"] == pytest.approx(21.0278)
    draft = ZaloIntakeStore(pool).draft(USER)
    assert draft is not None and draft.lon is None and draft.description == "Ngập nước"


def test_an_oversized_photo_and_a_fourth_photo_are_refused_and_kept(
    client: FlaskClient, zalo: ZaloFake, pg_dsn: str, worker: ZaloWorker, pool: ConnectionPool
) -> None:
    zalo.images["big.jpg"] = os.urandom(LIMITS.max_photo_bytes + 10)
    zalo.images["ok.jpg"] = photo_with_exif()
    send(client, zalo.image_event(USER, "big.jpg"))
    send(client, zalo.image_event(USER, "ok.jpg", "ok.jpg", "ok.jpg"))
    send(client, zalo.image_event(USER, "ok.jpg"))
    worker.run_once()
    assert [r for _, r, _, _ in rejections(pg_dsn)] == ["photo_too_large", "too_many_photos"]
    texts = zalo.oa_texts(USER)
    assert any("Ảnh quá lớn (tối đa 0.2 MB)" in x for x in texts)
    assert any("tối đa 3 ảnh" in x for x in texts)
    draft = ZaloIntakeStore(pool).draft(USER)
    assert draft is not None and draft.photos == 3


def test_a_photo_from_another_host_is_not_fetched(
    client: FlaskClient, zalo: ZaloFake, pg_dsn: str, worker: ZaloWorker
) -> None:
    body, headers = zalo.user_event("user_send_image", USER, {"attachments": [
        {"type": "image", "payload": {"url": "http://169.254.169.254/latest/meta-data"}}]})
    send(client, (body, headers))
    worker.run_once()
    [(_, reason, _, _)] = rejections(pg_dsn)
    assert reason == "bad_photo"


def file_report(client: FlaskClient, zalo: ZaloFake, worker: ZaloWorker, index: AreaIndex, user: str = USER) -> None:
    lon, lat = inside(index, "03181")
    for signed in (zalo.text_event(user, "2"), zalo.text_event(user, "Sạt lở đất"),
                   zalo.location_event(user, lon, lat), zalo.text_event(user, "GUI")):
        send(client, signed)
    worker.run_once()


def test_status_changes_go_back_to_the_follower(
    client: FlaskClient, zalo: ZaloFake, worker: ZaloWorker, index: AreaIndex, pool: ConnectionPool
) -> None:
    file_report(client, zalo, worker, index)
    store = ReportStore(pool)
    [report] = store.search()
    before = len(zalo.oa_texts(USER))

    def step(action: Action, **kw: Any) -> None:
        store.step(report.code, action.value, actor="lo-thi-mai",
                   decide=lambda status: next_status(Status(status), action), **kw)

    step(Action.NOTE, note="internal: call the commune")  # changes nothing: nothing is sent
    step(Action.ASSIGN)
    step(Action.RESOLVE, note="Đã dọn đất đá")
    worker.run_once()
    told = zalo.oa_texts(USER)[before:]
    assert len(told) == 2
    assert f"Phản ánh {report.code}: Đã chuyển đơn vị xử lý." in told[0]
    assert "Đã xử lý xong" in told[1] and "Đã dọn đất đá" in told[1] and f"{PUBLIC}/report/{report.code}" in told[1]


def test_a_failed_send_is_retried_then_recorded_never_dropped(
    client: FlaskClient, zalo: ZaloFake, worker: ZaloWorker, index: AreaIndex, pool: ConnectionPool, pg_dsn: str
) -> None:
    zalo.fail_next("server_error", times=1)
    send(client, zalo.text_event(USER, "xin chào"))
    worker.run_once()
    [message] = ZaloIntakeStore(pool).messages(USER)
    assert message["status"] == "pending" and message["attempts"] == 1 and "503" in message["last_error"]
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("UPDATE report_zalo_outbox SET next_at = now()")
    worker.run_once()
    [message] = ZaloIntakeStore(pool).messages(USER)
    assert message["status"] == "sent" and message["msg_id"]
    zalo.fail_next("not_follower", times=1)  # a refusal that waiting does not mend: failed, with Zalo's reason
    send(client, zalo.text_event(USER, "1"))
    worker.run_once()
    last = ZaloIntakeStore(pool).messages(USER)[-1]
    assert last["status"] == "failed" and "-213" in last["last_error"]


def test_reports_per_follower_per_day_are_limited(
    client: FlaskClient, zalo: ZaloFake, worker: ZaloWorker, index: AreaIndex, pool: ConnectionPool, pg_dsn: str
) -> None:
    for _ in range(3):
        file_report(client, zalo, worker, index)
    assert len(ReportStore(pool).search()) == 2  # per_user_per_day: 2 in this test's site
    assert [r for _, r, _, _ in rejections(pg_dsn)] == ["rate_limited_zalo"]
    assert "nhiều phản ánh trong ngày" in zalo.oa_texts(USER)[-1]
    file_report(client, zalo, worker, index, user="1234567890")  # another follower is not limited by it
    assert len(ReportStore(pool).search()) == 3


def test_the_config_names_a_zalo_zns_channel(site: SiteConfig) -> None:
    from pydantic import ValidationError

    assert site.reports is not None and site.reports.zalo is not None
    wrong = site.reports.model_copy(update={"zalo": site.reports.zalo.model_copy(update={"channel": "sms-esms"})})
    with pytest.raises(ValidationError, match=r"reports\.zalo\.channel 'sms-esms' is not a zalo_zns channel"):
        SiteConfig.model_validate({**site.model_dump(), "reports": wrong.model_dump()})


def test_a_draft_expires(client: FlaskClient, zalo: ZaloFake, worker: ZaloWorker, pool: ConnectionPool,
                         pg_dsn: str) -> None:
    send(client, zalo.text_event(USER, "Cống bị tắc"))
    worker.run_once()
    store = ZaloIntakeStore(pool)
    assert store.draft(USER) is not None
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("UPDATE report_zalo_drafts SET expires_at = now() - interval '1 second'")
    assert store.draft(USER) is None
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM report_zalo_drafts").fetchone() == (0,)


def test_a_follower_flooding_the_oa_is_throttled(
    client: FlaskClient, zalo: ZaloFake, pg_dsn: str, zalo_site: SiteConfig
) -> None:
    assert zalo_site.reports is not None and zalo_site.reports.zalo is not None
    limit = zalo_site.reports.zalo.events_per_user_per_hour
    answers = [send(client, zalo.text_event(USER, f"tin {i}")).get_json()["result"] for i in range(limit + 3)]
    assert answers == ["queued"] * limit + ["throttled"] * 3
    assert [r for _, r, _, _ in rejections(pg_dsn)] == ["rate_limited_events"]  # kept once, not per message
    assert send(client, zalo.text_event("1234567890", "xin chào")).get_json()["result"] == "queued"


def test_the_worker_thread_answers_when_the_webhook_wakes_it(
    client: FlaskClient, zalo: ZaloFake, worker: ZaloWorker
) -> None:
    worker.interval_s = 60.0  # only the webhook's wake can make it answer within the test's wait
    worker.start()
    try:
        time.sleep(0.5)  # its first round (nothing to do) is over; it now waits
        send(client, zalo.text_event(USER, "xin chào"))
        deadline = time.monotonic() + 15
        while not zalo.oa_texts(USER) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert zalo.oa_texts(USER) and "GỬI" in zalo.oa_texts(USER)[0]
    finally:
        worker.stop()
