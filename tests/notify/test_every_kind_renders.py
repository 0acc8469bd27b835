"""Regression: every reminder and severity escalation failed as ``template_variable_missing: needs link``.

ae34df2 moved the reply instructions of the message texts into ``{ack}`` and stopped passing ``link``, but
the ``notify.reminder`` and ``notify.escalated.severity`` texts still asked for ``{link}``; ``ioc bench
soak`` found the officers' reminders of a KPI alert ending 'failed'. Every kind of message renders, on
every channel, in both languages, and carries the reply code (or, where no reply can come, the link).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from ioc.config.loader import load_site
from ioc.config.models import SiteConfig
from ioc.notify.render import AlertView, Renderer
from ioc.store.alerts import short_code
from tests.conftest import SITE_DIR

KINDS = [
    ("alert_opened", ""),
    ("alert_reminder", ""),
    ("alert_escalated", "ladder"),
    ("alert_escalated", "severity"),
    ("alert_resolved", ""),
]


@pytest.fixture(scope="module")
def site() -> SiteConfig:
    return load_site(SITE_DIR)


@pytest.mark.parametrize(("kind", "cause"), KINDS)
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_kind_of_message_renders_on_every_channel(
    site: SiteConfig, kind: str, cause: str, lang: str
) -> None:
    now = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    alert = AlertView(
        alert_id=str(uuid.uuid4()),
        severity="critical",
        message_key="alert.flood.level",
        params={"station": "Nậm Pồ", "value": 3.25, "level": "III"},
        area_code="03172",
        opened_at=now,
        updated_at=now,
        resolved_at=None,
    )
    officer = site.roster.officers[0].model_copy(update={"lang": lang})
    renderer = Renderer(site, public_url="https://ioc.example.vn", ack_secret=b"k")
    for channel in site.channels:
        text = renderer.message(
            key="k",
            kind=kind,
            cause=cause,
            step_delay_min=5,
            officer=officer,
            alert=alert,
            severity="critical",
            channel_id=channel.id,
        ).text
        # A channel that cannot be answered (e-mail) gives the acknowledgement link instead of "reply OK <code>";
        # its code is then in the e-mail's subject (tests/notify/test_channels_email.py).
        assert short_code(alert.alert_id) in text or "https://ioc.example.vn/a/" in text, (channel.id, text)
