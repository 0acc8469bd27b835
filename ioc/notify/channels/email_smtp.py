"""E-mail over SMTP: each message as a plain-text and HTML e-mail to the officer's official address (thư công vụ).

Government offices read their official mailboxes; this channel writes there, from the duty roster's
``email`` of each officer (an officer without one is not reachable here, and the sender falls back at once).

- Connection: ``security: starttls`` (submission port 587, STARTTLS, RFC 3207), ``ssl`` (implicit TLS, port
  465, RFC 8314) or ``none`` (a relay on the office network that takes mail without login). The server's
  certificate is checked against the system's authorities, or ``ca_file`` for a ministry's own CA. Login
  (``username_env`` and ``password_env``, both or neither) is refused in config over ``none``: the password
  would cross the network in clear.
- Answers (RFC 5321, 4.2.1): 2yz is sent. 4yz is transient (421 service closing, 450 mailbox busy, 451, 452):
  RETRY, so the sender backs off and tries again. 5yz is permanent (550 mailbox unavailable, 553, 554): FAILED
  with the server's code and words, and the officer's next channel is tried. Connection refused, a dropped
  connection and no answer within ``timeout_s`` are RETRY; a login refused (535) or a certificate that does not
  verify is FAILED: waiting does not mend a wrong password or a wrong server.
- Body: the message's own text, made by the same templates as SMS and webhooks in the officer's language, as
  text/plain, with an HTML alternative that shows the acknowledgement link as a button. An e-mail cannot be
  answered into the system (a reply lands in a mailbox), so the text offers the link only.
- No callbacks: SMTP reports nothing back we could trust (a bounce goes to the sender's mailbox), so SENT is
  final. No SMTP server drops a repeat, so a row whose fate is unknown is not resent; the Message-ID is made
  from our idempotency key, so a mail client shows a repeat as the same message.

smtplib blocks; each send runs in a worker thread (``asyncio.to_thread``), one connection per message: alert
mail is rare, and a connection kept open would meet the server's idle timeout more often than it saves.
"""

from __future__ import annotations

import asyncio
import html
import logging
import smtplib
import socket
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, localtime
from typing import Self
from urllib.parse import urlsplit

from ioc import i18n
from ioc.config.channels import EmailSmtpChannel
from ioc.notify.channels.base import (
    ChannelContext,
    ChannelType,
    Message,
    Recipient,
    SendResult,
    SendStatus,
)
from ioc.notify.channels.http import not_configured

logger = logging.getLogger(__name__)

i18n.register(
    {
        "notify.email.subject": ("[IOC] {severity}: {title} (mã {code})", "[IOC] {severity}: {title} (code {code})"),
        "notify.email.button": ("Xác nhận đã nhận", "Acknowledge"),
        "notify.email.footer": (
            "Thư tự động từ Trung tâm điều hành thông minh (IOC). Không trả lời thư này; dùng nút hoặc "
            "đường dẫn ở trên để xác nhận.",
            "An automatic message from the Intelligent Operations Center (IOC). Do not reply to it; use the "
            "button or the link above to acknowledge.",
        ),
    }
)

DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
class EmailSmtpAdapter(ChannelType):
    """An ``email_smtp`` channel: one SMTP server, one sender address."""

    kind = "email_smtp"
    config_model = EmailSmtpChannel

    def __init__(
        self,
        config: EmailSmtpChannel,
        *,
        username: str | None,
        password: str | None,
        missing: list[str],
        server: str | None = None,
    ) -> None:
        self.id = config.id
        self.config = config
        self.username = username or ""
        self.password = password or ""
        self.missing = list(missing)
        where = urlsplit(server) if server else None
        self.host = where.hostname if where is not None and where.hostname else config.host
        self.port = (where.port if where is not None else None) or config.port or DEFAULT_PORTS[config.security]

    @classmethod
    def build(cls, config: EmailSmtpChannel, context: ChannelContext) -> Self:
        """The channel with its login; ``context.base_url`` (``smtp://host:port``) replaces the server."""
        return cls(
            config,
            username=context.secret(config.username_env),
            password=context.secret(config.password_env),
            missing=context.missing(config.username_env, config.password_env),
            server=context.base_url,
        )

    def accepts(self, recipient: Recipient) -> bool:
        """Officers with an e-mail address in the roster."""
        return bool(recipient.email)

    async def send(self, message: Message) -> SendResult:
        """Send one e-mail; the server's answer decides sent, retry (4yz, network) or failed (5yz)."""
        if self.missing:
            return not_configured(self.missing)
        if not message.recipient.email:
            return SendResult(SendStatus.NOT_APPLICABLE, reason=f"no e-mail address for {message.recipient.officer_id}")
        mail = self.compose(message)
        result = await asyncio.to_thread(self._deliver, mail, message.recipient.email)
        if result.status is not SendStatus.SENT:
            logger.warning(
                "e-mail %s %s to %s: %s", self.id, message.idempotency_key, message.recipient.officer_id, result.reason
            )
        return result

    def compose(self, message: Message) -> EmailMessage:
        """The e-mail of one message: text/plain and text/html alternatives in the message's language."""
        lang = message.lang
        params = message.params
        subject = i18n.t(
            "notify.email.subject",
            lang,
            severity=params.get("severity", ""),
            title=params.get("title", ""),
            code=message.short_code,
        )
        domain = self.config.from_address.rpartition("@")[2]
        mail = EmailMessage()
        mail["Subject"] = " ".join(subject.split())[:250]
        mail["From"] = Address(self.config.from_name, addr_spec=self.config.from_address)
        mail["To"] = Address(message.recipient.name, addr_spec=message.recipient.email or "")
        mail["Date"] = format_datetime(localtime())
        mail["Message-ID"] = f"<{message.provider_ref}@{domain}>"
        mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies back to us
        mail["X-IOC-Alert-Code"] = message.short_code
        footer = i18n.t("notify.email.footer", lang)
        mail.set_content(f"{message.text.strip()}\n\n-- \n{footer}\n")
        mail.add_alternative(self._html(message, footer), subtype="html")
        mail["Content-Language"] = lang  # after the body: setting content clears the Content-* headers
        return mail

    def _html(self, message: Message, footer: str) -> str:
        paragraphs = "".join(f"<p>{html.escape(line)}</p>" for line in message.text.strip().splitlines() if line)
        button = ""
        if message.ack_url:
            label = html.escape(i18n.t("notify.email.button", message.lang))
            button = (
                f'<p><a href="{html.escape(message.ack_url, quote=True)}" style="display:inline-block;'
                "padding:10px 18px;background:#b71c1c;color:#fff;text-decoration:none;border-radius:4px;"
                f'font-weight:bold">{label}</a></p>'
            )
        return (
            f'<!doctype html><html lang="{message.lang}"><head><meta charset="utf-8"></head>'
            '<body style="font-family:Arial,sans-serif;font-size:15px;color:#212121">'
            f'{paragraphs}{button}<hr><p style="color:#616161;font-size:12px">{html.escape(footer)}</p>'
            "</body></html>"
        )

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.config.ca_file)

    def _deliver(self, mail: EmailMessage, to: str) -> SendResult:
        """Connect, secure, log in, send one e-mail and say how it went (blocking: run in a thread)."""
        timeout = self.config.timeout_s
        local = socket.gethostname()  # not getfqdn(): a slow reverse lookup would eat the timeout
        try:
            smtp: smtplib.SMTP
            if self.config.security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    self.host, self.port, local_hostname=local, timeout=timeout, context=self._tls()
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, local_hostname=local, timeout=timeout)
            with smtp:
                if self.config.security == "starttls":
                    smtp.starttls(context=self._tls())
                if self.username:
                    smtp.login(self.username, self.password)
                refused = smtp.send_message(mail, from_addr=self.config.from_address, to_addrs=[to])
            if refused:  # only when some recipients were taken; with one, a refusal raises
                return _by_code(*next(iter(refused.values())))
        except smtplib.SMTPRecipientsRefused as exc:
            return _by_code(*next(iter(exc.recipients.values())))
        except smtplib.SMTPAuthenticationError as exc:
            result = _by_code(exc.smtp_code, exc.smtp_error)
            if result.status is SendStatus.FAILED:
                return SendResult(SendStatus.FAILED, reason=f"auth: {result.reason}")
            return result
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused, greeting 421, ...
            return _by_code(exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPNotSupportedError as exc:
            return SendResult(
                SendStatus.FAILED, reason=f"smtp: the server does not support {exc}; check security and login"
            )
        except smtplib.SMTPServerDisconnected as exc:
            if isinstance(exc.__context__, TimeoutError):  # smtplib reports a read timeout as a disconnection
                return _timeout(self.host, timeout)
            return SendResult(SendStatus.RETRY, reason=f"network: connection closed by the server: {exc}"[:300])
        except ssl.SSLCertVerificationError as exc:
            return SendResult(
                SendStatus.FAILED,
                reason=f"tls: the certificate of {self.host} does not verify ({exc.verify_message}); set ca_file",
            )
        except TimeoutError:
            return _timeout(self.host, timeout)
        except ConnectionRefusedError:
            return SendResult(SendStatus.RETRY, reason=f"network: connection refused by {self.host}:{self.port}")
        except OSError as exc:  # unreachable network, DNS, a TLS handshake cut short
            return SendResult(SendStatus.RETRY, reason=f"network: {type(exc).__name__}: {exc}"[:300])
        return SendResult(SendStatus.SENT, provider_message_id=str(mail["Message-ID"]))


def _timeout(host: str, seconds: float) -> SendResult:
    return SendResult(SendStatus.RETRY, reason=f"timeout: no answer from {host} within {seconds:g} s")


def _by_code(code: int, words: bytes | str) -> SendResult:
    """An SMTP reply as a result: 4yz transient (RETRY), anything else that is not 2yz permanent (FAILED)."""
    text = words.decode("utf-8", "replace") if isinstance(words, bytes) else str(words)
    reason = f"smtp: {code} {' '.join(text.split())}"[:300]
    if 400 <= code < 500:
        return SendResult(SendStatus.RETRY, reason=reason)
    return SendResult(SendStatus.FAILED, reason=reason)
