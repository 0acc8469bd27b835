"""The e-mail channel against a real SMTP server of ours (tests/fakes/smtp.py, aiosmtpd on 127.0.0.1).

What the server answers decides what the sender does: 250 sent; 421 and 450 (transient) retry with backoff;
550 (mailbox unavailable) failed with the server's words, so the officer's next channel is tried; a refused
connection or no answer in time retries. STARTTLS and implicit TLS with login, the bilingual bodies made by the
message templates, and the config checks with file and line are covered too.
"""

from __future__ import annotations

import random
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ioc.config.loader import load_site, validate_site
from ioc.config.models import SiteConfig
from ioc.notify.channels.base import ChannelContext, Message, SendStatus
from ioc.notify.channels.email_smtp import EmailSmtpAdapter
from ioc.notify.channels.registry import CHANNEL_TYPES, VIAS, build_channels, resend_safe_channels
from ioc.notify.render import AlertView, Renderer
from ioc.notify.sender import SenderSettings, backoff
from ioc.store.alerts import short_code
from tests.conftest import SITE_DIR
from tests.fakes.smtp import SmtpFake, self_signed

EMAIL = "thu-cong-vu"  # configs/muong-cha/channels.yaml
SON = "quang-van-son"  # deputy, Vietnamese, quangvanson@muongcha.gov.vn in the sample roster
LOGIN = {"IOC_SMTP_USERNAME": "ioc@muongcha.gov.vn", "IOC_SMTP_PASSWORD": "mat-khau-thu-cong-vu"}


@pytest.fixture(scope="module")
def site() -> SiteConfig:
    return load_site(SITE_DIR)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
def plain() -> Iterator[SmtpFake]:
    """An office relay: no encryption, no login."""
    with SmtpFake() as fake:
        yield fake


def email_channel(
    site: SiteConfig, fake: SmtpFake, env: dict[str, str] | None = None, **section: Any
) -> EmailSmtpAdapter:
    """The sample's e-mail channel pointed at ``fake``, its section changed by ``section`` (validated again)."""
    raw = site.channel(EMAIL).model_dump() | section
    return EmailSmtpAdapter.from_config(raw, ChannelContext(secrets=env or {}, base_url=fake.url))


def relay(site: SiteConfig, fake: SmtpFake, **section: Any) -> EmailSmtpAdapter:
    """The channel as a plain relay without login (the fake's ``security="none"``)."""
    return email_channel(site, fake, security="none", username_env=None, password_env=None, **section)


def rendered(site: SiteConfig, officer_id: str, lang: str, kind: str = "alert_opened") -> Message:
    """The message the sender would give the e-mail channel, made by the real templates."""
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
    officer = next(o for o in site.roster.officers if o.id == officer_id).model_copy(update={"lang": lang})
    renderer = Renderer(site, public_url="https://ioc.muongcha.gov.vn", ack_secret=b"ack-secret")
    return renderer.message(
        key=f"{alert.alert_id}:{officer.id}:{EMAIL}:0",
        kind=kind,
        cause="",
        step_delay_min=0,
        officer=officer,
        alert=alert,
        severity="critical",
        channel_id=EMAIL,
    )


# --- what the server answers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "subject_words", "button"),
    [("vi", ("[IOC] Khẩn cấp", "mã"), "Xác nhận đã nhận"), ("en", ("[IOC] Critical", "code"), "Acknowledge")],
)
async def test_250_sends_text_and_html_in_the_officers_language(
    site: SiteConfig, plain: SmtpFake, lang: str, subject_words: tuple[str, str], button: str
) -> None:
    msg = rendered(site, SON, lang)
    result = await relay(site, plain).send(msg)
    assert result.status is SendStatus.SENT, result.reason
    [got] = plain.received
    assert got.mail_from == "ioc@muongcha.gov.vn" and got.rcpt_tos == ["quangvanson@muongcha.gov.vn"]
    mail = got.message
    assert result.provider_message_id == mail["Message-ID"] == f"<{msg.provider_ref}@muongcha.gov.vn>"
    assert mail["Content-Language"] == lang and mail["Auto-Submitted"] == "auto-generated"
    assert all(w in mail["Subject"] for w in subject_words) and msg.short_code in mail["Subject"]
    assert "Quàng Văn Sơn" in str(mail["To"]) and "IOC Mường Chà" in str(mail["From"])
    text = mail.get_body(preferencelist=("plain",))
    page = mail.get_body(preferencelist=("html",))
    assert text is not None and page is not None
    assert msg.text.strip() in text.get_content()  # the template's own words, accents intact
    assert msg.ack_url and msg.ack_url in text.get_content()
    html = page.get_content()
    assert f'href="{msg.ack_url}"' in html and button in html and f'lang="{lang}"' in html


@pytest.mark.parametrize(
    ("answer", "status", "words"),
    [
        ("421", SendStatus.RETRY, "smtp: 421 4.3.2"),
        ("450", SendStatus.RETRY, "smtp: 450 4.2.1"),
        ("550", SendStatus.FAILED, "smtp: 550 5.1.1 Requested action not taken: mailbox unavailable"),
    ],
)
async def test_4yz_retries_and_5yz_fails_with_the_servers_words(
    site: SiteConfig, plain: SmtpFake, answer: Any, status: SendStatus, words: str
) -> None:
    channel = relay(site, plain)
    plain.fail_next(answer)
    result = await channel.send(rendered(site, SON, "vi"))
    assert result.status is status and result.reason.startswith(words), result.reason
    assert plain.received == []
    # the next message goes through: a refusal is about one message, not the channel
    assert (await channel.send(rendered(site, SON, "vi"))).status is SendStatus.SENT
    assert len(plain.received) == 1


async def test_a_retry_waits_longer_each_time(site: SiteConfig, plain: SmtpFake) -> None:
    """The sender's backoff applies to a 450 like to any RETRY: at least base * 2^(n-1) / 2 on the n-th try."""
    plain.fail_next("450", times=3)
    channel = relay(site, plain)
    settings, rng = SenderSettings(backoff_base_s=2.0), random.Random(1)
    waits = []
    for attempt in (1, 2, 3):
        result = await channel.send(rendered(site, SON, "vi"))
        assert result.status is SendStatus.RETRY
        waits.append(backoff(attempt, settings, rng, result.retry_after_s))
    assert 1.0 <= waits[0] <= 2.0 and 2.0 <= waits[1] <= 4.0 and 4.0 <= waits[2] <= 8.0


async def test_connection_refused_retries(site: SiteConfig) -> None:
    fake = SmtpFake()  # never started: nothing listens on its port
    result = await relay(site, fake).send(rendered(site, SON, "vi"))
    assert result.status is SendStatus.RETRY and result.reason.startswith("network: connection refused")


async def test_no_answer_in_time_retries(site: SiteConfig) -> None:
    with SmtpFake(delay=3.0) as slow:
        slow.fail_next("timeout")
        result = await relay(site, slow, timeout_s=0.5).send(rendered(site, SON, "vi"))
    assert result.status is SendStatus.RETRY and result.reason.startswith("timeout: no answer"), result.reason


# --- encryption and login ---------------------------------------------------------------------------------------


async def test_starttls_and_login(site: SiteConfig, tls_files: tuple[Path, Path]) -> None:
    with SmtpFake(security="starttls", tls_files=tls_files, username=LOGIN["IOC_SMTP_USERNAME"],
                  password=LOGIN["IOC_SMTP_PASSWORD"]) as fake:
        channel = email_channel(site, fake, LOGIN, ca_file=str(tls_files[0]))
        result = await channel.send(rendered(site, SON, "vi"))
        assert result.status is SendStatus.SENT, result.reason
        assert fake.logins == ["ioc@muongcha.gov.vn"] and len(fake.received) == 1
        wrong = email_channel(site, fake, LOGIN | {"IOC_SMTP_PASSWORD": "sai"}, ca_file=str(tls_files[0]))
        refused = await wrong.send(rendered(site, SON, "vi"))
    assert refused.status is SendStatus.FAILED and refused.reason.startswith("auth: smtp: 535"), refused.reason


async def test_implicit_tls_and_login(site: SiteConfig, tls_files: tuple[Path, Path]) -> None:
    with SmtpFake(security="ssl", tls_files=tls_files, username="ioc@muongcha.gov.vn",
                  password=LOGIN["IOC_SMTP_PASSWORD"]) as fake:
        channel = email_channel(site, fake, LOGIN, security="ssl", ca_file=str(tls_files[0]))
        result = await channel.send(rendered(site, SON, "en"))
    assert result.status is SendStatus.SENT, result.reason
    assert fake.logins == ["ioc@muongcha.gov.vn"] and len(fake.received) == 1


async def test_a_certificate_that_does_not_verify_fails(site: SiteConfig, tls_files: tuple[Path, Path]) -> None:
    with SmtpFake(security="starttls", tls_files=tls_files, username="ioc@muongcha.gov.vn",
                  password=LOGIN["IOC_SMTP_PASSWORD"]) as fake:
        result = await email_channel(site, fake, LOGIN).send(rendered(site, SON, "vi"))  # system CAs only
    assert result.status is SendStatus.FAILED and result.reason.startswith("tls: the certificate"), result.reason
    assert fake.received == []


async def test_missing_login_is_not_configured_and_nothing_is_sent(site: SiteConfig, plain: SmtpFake) -> None:
    channel = build_channels(site, {}, None, base_urls={EMAIL: plain.url})[EMAIL]
    result = await channel.send(rendered(site, SON, "vi"))
    assert result.status is SendStatus.NOT_APPLICABLE
    assert result.reason == "not_configured: IOC_SMTP_USERNAME, IOC_SMTP_PASSWORD" and plain.received == []


# --- who it reaches, and what the rest of the system asks of it -------------------------------------------------


def test_reaches_only_officers_with_an_address(site: SiteConfig, plain: SmtpFake) -> None:
    channel = relay(site, plain)
    assert channel.accepts(rendered(site, SON, "vi").recipient)
    assert not channel.accepts(rendered(site, "nguyen-van-hung", "vi").recipient)  # no email in the roster


def test_registered_by_its_module_alone(site: SiteConfig) -> None:
    assert CHANNEL_TYPES["email_smtp"] is EmailSmtpAdapter and "email" in VIAS
    assert EMAIL not in resend_safe_channels(site.channels)  # no SMTP server drops a repeat
    assert EmailSmtpAdapter.reply_hint(site.channel(EMAIL), "3FA2C1", "vi") is None  # a mail is not answered here
    # the text offers the link instead of "reply OK"; the code is in the subject
    msg = rendered(site, SON, "vi")
    assert "Trả lời OK" not in msg.text and msg.ack_url and msg.ack_url in msg.text
    assert short_code(msg.alert_id) == msg.short_code


# --- config -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "key", "says"),
    [
        ("    security: starttls\n", "    security: none\n", "channels[4].security",
         "thu-cong-vu: a login over an unencrypted connection sends the password in clear"),
        ("    password_env: IOC_SMTP_PASSWORD\n", "", "channels[4].password_env",
         "thu-cong-vu: a login needs both username_env and password_env"),
        ("    from_address: ioc@muongcha.gov.vn\n", "    from_address: ioc-at-muongcha\n",
         "channels[4].from_address", "String should match pattern"),
        ("    port: 587\n", "    port: 70000\n", "channels[4].port", "less than or equal to 65535"),
        ("    security: starttls\n", "    security: tls\n", "channels[4].security", "'starttls', 'ssl' or 'none'"),
    ],
)
def test_a_bad_email_section_names_file_line_and_key(
    tmp_path: Path, old: str, new: str, key: str, says: str
) -> None:
    copy = tmp_path / "muong-cha"
    shutil.copytree(SITE_DIR, copy)
    path = copy / "channels.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text, "the sample's e-mail channel changed; update the test"
    path.write_text(text.replace(old, new), encoding="utf-8")
    [issue] = validate_site(copy)
    assert Path(issue.file) == path and issue.key == key
    needle = (new or "    username_env:").strip() if key != "channels[4].password_env" else "type: email_smtp"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert issue.line is not None and needle in lines[issue.line - 1], (issue.line, needle)
    assert says in issue.message, issue.message
    assert f"{path}:{issue.line}" in str(issue)
