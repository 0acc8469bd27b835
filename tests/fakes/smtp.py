"""An SMTP server of our own (aiosmtpd) for the e-mail channel: plain, STARTTLS or implicit TLS, with login.

It follows RFC 5321 rather than our code: replies are the standard ones (4.2.2, 4.2.3 for enhanced codes per
RFC 3463), a 421 ends the session, AUTH is offered only once the connection is encrypted (RFC 4954, 4:
aiosmtpd's ``auth_require_tls``), and a message is recorded only once the server has answered 250 to DATA.

Scripted answers, one per message in order (``fail_next``): ``421`` (service closing), ``450`` (mailbox busy),
``550`` (mailbox unavailable) at RCPT TO, and ``timeout``: DATA is answered only after ``delay`` seconds.
Addresses in ``unavailable`` are always answered 550.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

REPLIES = {
    "421": "421 4.3.2 Service not available, closing transmission channel",
    "450": "450 4.2.1 Requested mail action not taken: mailbox busy, try again later",
    "550": "550 5.1.1 Requested action not taken: mailbox unavailable",
}
Mode = Literal["421", "450", "550", "timeout"]


@dataclass(frozen=True)
class Received:
    """One message the server took: the envelope and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


def self_signed(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """Write a self-signed certificate for ``host`` and its key with the openssl command; return their paths."""
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={host}",
            "-addext", f"subjectAltName=IP:{host}",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class SmtpFake:
    """A local SMTP server on a free port of 127.0.0.1; ``url`` is what the channel is pointed at."""

    def __init__(
        self,
        *,
        security: Literal["none", "starttls", "ssl"] = "none",
        tls_files: tuple[Path, Path] | None = None,
        username: str | None = None,
        password: str | None = None,
        delay: float = 3.0,
    ) -> None:
        if security != "none" and tls_files is None:
            raise ValueError("a TLS server needs tls_files=self_signed(tmp_path)")
        self.security = security
        self.username = username
        self.password = password
        self.delay = delay
        self.received: list[Received] = []
        self.unavailable: set[str] = set()
        self.logins: list[str] = []
        self._failures: list[Mode] = []
        self._tls: ssl.SSLContext | None = None
        if tls_files is not None:
            self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._tls.load_cert_chain(*tls_files)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port: int = s.getsockname()[1]
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        """The channel's server override (``smtp://host:port``)."""
        return f"smtp://127.0.0.1:{self.port}"

    def fail_next(self, mode: Mode, times: int = 1) -> None:
        """Answer the next ``times`` messages with ``mode`` instead of taking them."""
        self._failures.extend([mode] * times)

    # --- aiosmtpd handler hooks ------------------------------------------------------------------------------
    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        mode = self._failures.pop(0) if self._failures else None
        if address in self.unavailable:
            return REPLIES["550"]
        if mode in REPLIES:
            return REPLIES[str(mode)]
        if mode == "timeout":
            envelope.rcpt_options.append("X-FAKE-SLOW")  # DATA below waits past the client's timeout
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(
        self, server: SMTPServer, session: Session, envelope: Envelope
    ) -> str:
        if "X-FAKE-SLOW" in envelope.rcpt_options:
            await asyncio.sleep(self.delay)
            return "451 4.4.2 Timeout: the client is gone"
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), parsed))
        return "250 2.0.0 OK: queued"

    def _authenticate(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        ok = login == self.username and password == self.password
        if ok:
            self.logins.append(login)
        return AuthResult(success=ok, handled=False)

    # --- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> SmtpFake:
        """Start the server in its own thread (aiosmtpd's Controller)."""
        kwargs: dict[str, Any] = {}
        if self.username is not None:
            # AUTH only after STARTTLS; under implicit TLS the whole session is encrypted, but aiosmtpd 1.4 only
            # counts STARTTLS as TLS, so its check is left off there.
            kwargs |= {"authenticator": self._authenticate, "auth_require_tls": self.security == "starttls"}
        if self.security == "starttls":
            kwargs |= {"tls_context": self._tls, "require_starttls": True}
        if self.security == "ssl":
            kwargs |= {"ssl_context": self._tls}
        self._controller = Controller(
            self, hostname="127.0.0.1", port=self.port, server_hostname="127.0.0.1", ready_timeout=10, **kwargs
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop the server."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpFake:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
