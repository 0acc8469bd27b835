"""The notify worker renews the Zalo refresh token on a schedule (issue 13, point 4): over the real PostgreSQL
against the Zalo fake. A token older than ``token_refresh_every_h`` is renewed even when nothing is sent; a
younger one is left alone; a refresh token Zalo refuses is recorded on the stored pair
(``zalo_tokens.refresh_error``, ``refresh_failed_at``) and logged at error level, and the worker goes on.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from ioc.config.loader import load_site
from ioc.config.models import SiteConfig
from ioc.notify.channels.base import Channel
from ioc.notify.channels.registry import build_channels
from ioc.notify.ratelimit import MemoryRateLimiter
from ioc.notify.tokens import TokenStore
from ioc.notify.worker import NotifyWorker, renderer_from_env
from tests.fakes import ZaloFake
from tests.fakes.site import ZNS, fake_base_urls, fake_env

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def site(site_dir) -> SiteConfig:  # type: ignore[no-untyped-def]
    return load_site(site_dir)


@pytest.fixture
def clean(pg_dsn: str) -> str:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE notify_outbox, alerts, zalo_tokens")
    return pg_dsn


def store_pair(dsn: str, refresh_token: str, *, age_h: float) -> None:
    """A stored pair refreshed ``age_h`` hours ago whose access token is still valid for a day."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO zalo_tokens (channel_id, access_token, refresh_token, expires_at, refreshed_at) "
            "VALUES (%s, 'at-old', %s, now() + interval '1 day', now() - make_interval(hours => %s))",
            (ZNS, refresh_token, age_h),
        )


def stored(dsn: str) -> dict[str, Any]:
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        row = conn.execute("SELECT * FROM zalo_tokens WHERE channel_id = %s", (ZNS,)).fetchone()
    assert row is not None
    return row


async def started(site: SiteConfig, dsn: str, env: Mapping[str, str], zalo: ZaloFake) -> NotifyWorker:
    channels: dict[str, Channel] = build_channels(
        site, dict(env), TokenStore(dsn), base_urls=fake_base_urls(zalo=zalo)
    )
    worker = NotifyWorker(dsn, site, channels, MemoryRateLimiter(), renderer_from_env(site, env))
    await worker.open()
    return worker


async def stopped(worker: NotifyWorker) -> None:
    await worker.close()
    for channel in worker.channels.values():
        await channel.close()


@pytest.fixture
async def zalo() -> AsyncIterator[ZaloFake]:
    async with ZaloFake(refresh_token="rt-current") as fake:
        yield fake


async def test_a_day_old_refresh_token_is_renewed_by_the_worker_with_nothing_to_send(
    site: SiteConfig, clean: str, zalo: ZaloFake
) -> None:
    assert site.channel(ZNS).token_refresh_every_h == 24  # type: ignore[union-attr]
    store_pair(clean, "rt-current", age_h=25)
    worker = await started(site, clean, fake_env(zalo=zalo), zalo)
    try:
        await worker.turn()  # the first turn checks at once
        assert zalo.refresh_calls == 1 and zalo.sent == []
        row = stored(clean)
        assert row["refresh_token"] == zalo.refresh_token != "rt-current"  # rotated and kept
        assert row["access_token"] == zalo.access_token
        assert row["refreshed_at"] > datetime.now(UTC) - timedelta(minutes=1)
        assert (row["refresh_error"], row["refresh_failed_at"]) == (None, None)
        await worker.turn()  # within the check interval: not asked again
        assert await worker.refresh_tokens() == 0  # asked: just renewed, not due for 24 h
        assert zalo.refresh_calls == 1
    finally:
        await stopped(worker)


async def test_a_fresh_refresh_token_is_left_alone(site: SiteConfig, clean: str, zalo: ZaloFake) -> None:
    store_pair(clean, "rt-current", age_h=23)
    worker = await started(site, clean, fake_env(zalo=zalo), zalo)
    try:
        await worker.turn()
        assert zalo.refresh_calls == 0 and stored(clean)["refresh_token"] == "rt-current"
    finally:
        await stopped(worker)


async def test_a_refused_refresh_token_is_recorded_and_logged_for_admins_until_re_authorised(
    site: SiteConfig, clean: str, zalo: ZaloFake, caplog: pytest.LogCaptureFixture
) -> None:
    # The stored token lapsed in a quiet season; the environment still holds the same dead one.
    store_pair(clean, "rt-lapsed", age_h=25)
    env = fake_env(zalo=zalo) | {"IOC_ZALO_REFRESH_TOKEN": "rt-lapsed"}
    worker = await started(site, clean, env, zalo)
    try:
        with caplog.at_level(logging.WARNING, logger="ioc.notify.worker"):
            await worker.turn()  # not raised: the worker goes on
        row = stored(clean)
        assert row["refresh_error"].startswith("zalo oauth refused the refresh token (-14014")
        assert row["refresh_failed_at"] > datetime.now(UTC) - timedelta(minutes=1)
        assert row["refresh_token"] == "rt-lapsed"
        [record] = [r for r in caplog.records if r.name == "ioc.notify.worker"]
        assert record.levelno == logging.ERROR
        assert ZNS in record.getMessage() and "re-authorises" in record.getMessage()
        assert "rt-lapsed" not in caplog.text  # tokens never appear in logs
    finally:
        await stopped(worker)
    # An admin re-authorised the OA and set the new refresh token: the next renewal clears the record.
    worker = await started(site, clean, fake_env(zalo=zalo), zalo)
    try:
        assert await worker.refresh_tokens() == 1
        row = stored(clean)
        assert (row["refresh_error"], row["refresh_failed_at"]) == (None, None)
        assert row["refresh_token"] == zalo.refresh_token
    finally:
        await stopped(worker)
