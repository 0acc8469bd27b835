"""``ioc dashboard`` wiring of the Zalo report intake: the channel reports.zalo names, or none (logged) when its
secrets are not set, so the wall still starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from ioc.app.cli.main import _zalo_channel
from ioc.config.loader import load_site
from ioc.notify.channels.zalo import ZaloZnsAdapter
from tests.fakes.site import ZNS, fake_env
from tests.fakes.zalo import ZaloFake

SITE_DIR = Path(__file__).resolve().parents[2] / "configs" / "muong-cha"
DSN = "host=127.0.0.1 dbname=unused"  # the token store connects only when a token is needed


def test_the_named_channel_with_its_secrets() -> None:
    site = load_site(SITE_DIR)
    channel = _zalo_channel(site, fake_env(zalo=ZaloFake()), DSN, "vi")
    assert isinstance(channel, ZaloZnsAdapter) and channel.id == ZNS and not channel.missing


def test_without_secrets_the_intake_is_off_and_said_so(caplog: pytest.LogCaptureFixture) -> None:
    site = load_site(SITE_DIR)
    assert _zalo_channel(site, {}, DSN, "vi") is None
    assert "reports through Zalo are off: channel zns-ubnd lacks IOC_ZALO_APP_ID" in caplog.text


def test_a_site_without_reports_zalo() -> None:
    site = load_site(SITE_DIR)
    assert site.reports is not None
    bare = site.model_copy(update={"reports": site.reports.model_copy(update={"zalo": None})})
    assert _zalo_channel(bare, fake_env(zalo=ZaloFake()), DSN, "vi") is None
