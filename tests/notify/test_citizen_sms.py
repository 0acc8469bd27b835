"""The citizen's SMS of each status change of a report: bilingual text with the code and the status page link
that fits the channel's budget, queued in the step's transaction, sent through the eSMS and SpeedSMS fakes (which
enforce the providers' length and encoding rules), falling over to the next channel, retried later, given up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from analytics.reports import Action, Status, next_status
from ioc.config.loader import load_site
from ioc.config.models import CitizenSms as CitizenSmsConfig
from ioc.config.models import SiteConfig
from ioc.events import utcnow
from ioc.notify.channels.base import Channel
from ioc.notify.channels.registry import build_channels
from ioc.notify.citizens import CitizenSms, status_text
from ioc.notify.ratelimit import MemoryRateLimiter
from ioc.notify.sms_text import encoding_of, is_gsm7, segments
from ioc.notify.worker import NotifyWorker, renderer_from_env
from ioc.store.reports import NewReport, ReportStore
from tests.fakes import EsmsFake, SpeedSmsFake
from tests.fakes.site import fake_base_urls, fake_env

CODE = "PA-7XVPY-YFYFH"
LINK = f"https://ioc.muongcha.gov.vn/report/{CODE}"
STATUSES = ("received", "assigned", "in_progress", "resolved", "rejected")


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize(("unicode", "budget"), [(True, 2), (False, 2), (True, 1), (False, 1)])
def test_the_text_fits_and_keeps_code_and_link(status: str, unicode: bool, budget: int) -> None:
    text = status_text(CODE, status, LINK, unicode, budget)
    assert segments(text) <= budget
    assert text.endswith("\n" + LINK) and CODE in text.split("\n")[0]
    assert unicode or is_gsm7(text)


def test_diacritics_when_they_fit_unaccented_before_shortened() -> None:
    assert status_text(CODE, "received", LINK, True, 2) == (
        f"Phản ánh {CODE}: Đã tiếp nhận. Received.\n{LINK}")
    assert status_text(CODE, "received", LINK, False, 2) == f"Phan anh {CODE}: Da tiep nhan. Received.\n{LINK}"
    # one UCS-2 segment (70) cannot hold it; one GSM-7 segment (160) can, whole
    tight = status_text(CODE, "assigned", LINK, True, 1)
    assert encoding_of(tight) == "gsm7" and tight.startswith(f"Phan anh {CODE}: Da chuyen don vi xu ly. Assigned")




@pytest.fixture(scope="module")
def site(site_dir) -> SiteConfig:  # type: ignore[no-untyped-def]
    return load_site(site_dir)


@pytest.fixture(scope="module")
def pool(pg_dsn: str) -> Iterator[ConnectionPool]:
    with ConnectionPool(pg_dsn, min_size=1, max_size=2, open=True) as p:
        yield p


@pytest.fixture
def store(pool: ConnectionPool, pg_dsn: str) -> ReportStore:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE reports, report_events, report_photos, report_sms")
    return ReportStore(pool)


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[EsmsFake, SpeedSmsFake]]:
    async with EsmsFake() as esms, SpeedSmsFake() as speedsms:
        yield esms, speedsms


@pytest.fixture
async def citizens(
    site: SiteConfig, pg_dsn: str, fakes: tuple[EsmsFake, SpeedSmsFake]
) -> AsyncIterator[CitizenSms]:
    esms, speedsms = fakes
    chans: dict[str, Channel] = build_channels(site, fake_env(esms=esms, speedsms=speedsms), None,
                                               base_urls=fake_base_urls(esms=esms, speedsms=speedsms))
    assert site.reports is not None and site.reports.citizen_sms is not None
    async with AsyncConnectionPool(pg_dsn, min_size=1, max_size=2, kwargs={"autocommit": True}) as apool:
        yield CitizenSms(apool, site.reports.citizen_sms, chans, "https://ioc.muongcha.gov.vn/")
    for ch in chans.values():
        await ch.close()


def report(store: ReportStore, phone: str | None = "84912345678") -> str:
    new = NewReport(category="traffic", description="Cây đổ chắn đường", lon=103.08, lat=21.75,
                    location_source="gps", commune_code="03172", unit_id="ubnd-na-sang",
                    deadline=utcnow() + timedelta(days=7), channel="web", created_by="public", phone=phone)
    return store.submit(new).code


def step(store: ReportStore, code: str, action: Action, note: str | None = None) -> None:
    store.step(code, action.value, actor="lo-thi-mai", note=note,
               decide=lambda s: next_status(Status(s), action).value)


def rows(dsn: str) -> list[tuple[str, str | None, int]]:
    with psycopg.connect(dsn) as conn:
        return [(s, c, a) for s, c, a in conn.execute(
            "SELECT status, channel_id, attempts FROM report_sms ORDER BY id")]


@pytest.mark.services
async def test_each_status_change_is_one_sms(store: ReportStore, citizens: CitizenSms, pg_dsn: str,
                                             fakes: tuple[EsmsFake, SpeedSmsFake]) -> None:
    esms, _ = fakes
    code = report(store)
    report(store, phone=None)  # no phone: nothing queued
    step(store, code, Action.ASSIGN)
    step(store, code, Action.NOTE, "nội bộ")  # no status change: no SMS
    step(store, code, Action.PROGRESS)
    step(store, code, Action.RESOLVE, "Đã dọn")
    assert await citizens.drain() == 4
    assert await citizens.drain() == 0
    sent = [s["content"] for s in esms.sent]
    link = f"https://ioc.muongcha.gov.vn/report/{code}"
    assert sent == [
        f"Phan anh {code}: Da tiep nhan. Received.\n{link}",
        f"Phan anh {code}: Da chuyen don vi xu ly. Assigned to a unit.\n{link}",
        f"Phan anh {code}: Dang xu ly. In progress.\n{link}",
        f"Phan anh {code}: Da xu ly xong. Resolved.\n{link}",
    ]
    assert all(s["phone"] == "84912345678" and not s["unicode"] for s in esms.sent)
    assert rows(pg_dsn) == [("sent", "sms-esms", 1)] * 4


@pytest.mark.services
async def test_a_refusing_channel_hands_over_and_a_busy_one_is_retried(
    store: ReportStore, citizens: CitizenSms, pg_dsn: str, fakes: tuple[EsmsFake, SpeedSmsFake]
) -> None:
    esms, speedsms = fakes
    esms.fail_next("auth")  # eSMS refuses: SpeedSMS takes it at once
    code = report(store)
    assert await citizens.drain() == 1
    assert rows(pg_dsn) == [("sent", "sms-speedsms", 1)]
    [by_speedsms] = speedsms.sent
    assert code in str(by_speedsms)

    esms.fail_next("server_error")  # eSMS asks to wait: not handed over, tried again later
    step(store, code, Action.REJECT, "Không thuộc thẩm quyền")
    assert await citizens.drain() == 1
    assert rows(pg_dsn)[1] == ("pending", None, 1)
    assert await citizens.drain() == 0  # not due yet
    later = utcnow() + timedelta(minutes=5)
    citizens.clock = lambda: later
    assert await citizens.drain() == 1
    assert rows(pg_dsn)[1] == ("sent", "sms-esms", 2)
    assert esms.sent[-1]["content"].startswith(f"Phan anh {code}: Khong tiep nhan xu ly. Rejected.")


@pytest.mark.services
async def test_old_news_and_exhausted_attempts_fail(store: ReportStore, citizens: CitizenSms, pg_dsn: str,
                                                    fakes: tuple[EsmsFake, SpeedSmsFake]) -> None:
    esms, _ = fakes
    report(store)
    much_later = utcnow() + timedelta(hours=25)
    citizens.clock = lambda: much_later
    assert await citizens.drain() == 1
    assert rows(pg_dsn)[0][0] == "failed" and esms.sent == []
    citizens.clock = utcnow
    citizens.config = CitizenSmsConfig(channels=["sms-esms"], max_attempts=1)
    esms.fail_next("server_error")
    report(store)
    assert await citizens.drain() == 1
    with psycopg.connect(pg_dsn) as conn:
        status, reason = conn.execute("SELECT status, reason FROM report_sms ORDER BY id DESC LIMIT 1").fetchone()
    assert status == "failed" and "sms-esms" in reason


@pytest.mark.services
async def test_the_notify_worker_sends_them(store: ReportStore, site: SiteConfig, pg_dsn: str,
                                            fakes: tuple[EsmsFake, SpeedSmsFake]) -> None:
    esms, speedsms = fakes
    env = fake_env(esms=esms, speedsms=speedsms, public_url="https://ioc.example.vn")
    chans = build_channels(site, env, None, base_urls=fake_base_urls(esms=esms, speedsms=speedsms))
    worker = NotifyWorker(pg_dsn, site, chans, MemoryRateLimiter(), renderer_from_env(site, env))
    code = report(store)
    await worker.open()
    try:
        await worker.turn()
    finally:
        await worker.close()
        for ch in chans.values():
            await ch.close()
    assert [s["content"] for s in esms.sent] == [
        f"Phan anh {code}: Da tiep nhan. Received.\nhttps://ioc.example.vn/report/{code}"]
