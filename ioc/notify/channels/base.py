"""The one interface every delivery channel (Zalo ZNS, SMS gateways, signed webhook, e-mail) implements.

The sender only sees these types: a ``Message`` goes in, a ``SendResult`` comes out, and provider callbacks
come back as ``CallbackEvent`` values. Provider JSON never travels past the adapter that received it.

A channel is one class (``ChannelType``) in its own module of this package: it declares its config ``type``
(``kind``), the config table it validates (``config_model``, kept in ``ioc.config.channels`` with the ``via`` that
records an acknowledgement through it), whether its provider drops a repeat of our idempotency key
(``resends_safely``), what an officer types to acknowledge through it (``reply_hint``) and how its provider's
callbacks are answered. The registry (``ioc.notify.channels.registry``) finds the classes and checks that they
match the config tables; nothing else names a channel type.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, runtime_checkable

from ioc.config.channels import ChannelConfig
from ioc.errors import InvalidInput

if TYPE_CHECKING:
    from ioc.notify.tokens import TokenStore


class SendStatus(StrEnum):
    """What became of one send attempt."""

    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    # This channel cannot reach this person (no Zalo user / phone not on Zalo, channel not configured):
    # the sender falls back to the officer's next channel at once.
    NOT_APPLICABLE = "not_applicable"


# Our idempotency keys are 61-66 characters; eSMS's RequestId takes at most 50 (issue 13, point 1). What a
# provider sees is derived from the key, the same every time, and stored beside it (provider_ref).
_REF_NAMESPACE = uuid.UUID("5b0e3c1e-6f4a-5d2b-9c1e-10c0a1e47013")


def provider_ref(idempotency_key: str) -> str:
    """The provider-facing id of a message: UUIDv5 of our idempotency key, 32 hex digits."""
    return uuid.uuid5(_REF_NAMESPACE, idempotency_key).hex


@dataclass(frozen=True)
class Recipient:
    """A duty officer as a channel sees them; ``phone`` is 84xxxxxxxxx, ``email`` the roster's optional address."""

    officer_id: str
    name: str
    phone: str
    zalo_user_id: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Message:
    """One message to one recipient over one channel, identified by its idempotency key."""

    idempotency_key: str  # f"{alert_id}:{officer_id}:{channel_id}:{step}" (+":r<n>" for the n-th reminder)
    kind: str  # alert_opened | alert_escalated | alert_reminder | alert_resolved (MessageKind)
    recipient: Recipient
    alert_id: str
    short_code: str  # ioc.store.alerts.short_code(alert_id)
    lang: str  # "vi" | "en"
    text: str  # the whole message in lang, with diacritics; SMS adapters unaccent/fit it
    params: Mapping[str, str]  # template values for ZNS: code, title, area, severity, time, link
    ack_url: str | None = None

    @property
    def provider_ref(self) -> str:
        """The id a provider is given for this message (eSMS RequestId, ZNS tracking_id)."""
        return provider_ref(self.idempotency_key)


@dataclass(frozen=True)
class SendResult:
    """A channel's answer for one send attempt."""

    status: SendStatus
    provider_message_id: str | None = None
    reason: str = ""  # the provider's own code/message on failure, for operators
    retry_after_s: float | None = None  # from a 429 Retry-After, if any
    segments: int | None = None


@dataclass(frozen=True)
class CallbackEvent:
    """A delivery status or an inbound reply, parsed from a provider's callback."""

    kind: str  # "delivery" | "reply"
    channel_id: str
    provider_message_id: str | None = None
    status: str | None = None  # delivery: "delivered" | "failed"
    reason: str = ""
    phone: str | None = None  # reply: sender's number (84...)
    zalo_user_id: str | None = None
    text: str | None = None  # reply text, e.g. "OK 3FA2C1"
    at: datetime | None = None
    provider_ref: str | None = (
        None  # delivery: our provider-facing id, when the report carries it (RequestId)
    )
    # A signed event's identity for the replay window: the same event seen twice is applied once.
    dedupe_key: str | None = None
    # An answer body the provider expects (eSMS MO: <ClientResponse> XML), built from the outcome's words.
    answer: str | None = None


@runtime_checkable
class Channel(Protocol):
    """A delivery channel; ``send`` never raises for provider or network trouble."""

    id: str

    @property
    def kind(self) -> str:
        """The channel's config ``type`` (``ChannelType.kind``)."""
        ...

    def accepts(self, recipient: Recipient) -> bool:
        """Whether this channel can reach the recipient at all."""
        ...

    async def send(self, message: Message) -> SendResult:
        """Send one message; provider or network trouble comes back as RETRY/FAILED, never as an exception."""
        ...

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str], *, path_token: str = ""
    ) -> list[CallbackEvent]:
        """Parse a provider callback; raise InvalidInput (bad_signature, stale_callback, malformed_callback).

        ``path_token``: the last segment of ``/callbacks/<channel>/<token>``, for providers that do not sign.
        """
        ...

    async def close(self) -> None:
        """Release the HTTP session."""
        ...


@dataclass(frozen=True)
class ChannelContext:
    """What a channel is built with besides its config table; nothing here is read from the environment."""

    # Secret values by the variable names the config gives (``*_env``), passed in by the composition root.
    secrets: Mapping[str, str] = field(default_factory=dict)
    tokens: TokenStore | None = None  # rotating provider tokens (Zalo), kept in PostgreSQL
    public_url: str | None = None  # where providers reach our callback server
    base_url: str | None = None  # the provider's address instead of the configured one (tests: a fake)

    def secret(self, name: str | None) -> str | None:
        """Return the value of the secret variable ``name`` (None when unnamed or unset)."""
        return (self.secrets.get(name) or None) if name else None

    def missing(self, *names: str | None) -> list[str]:
        """Return the named secret variables that are unset, in order."""
        return [n for n in names if n and not self.secrets.get(n)]


class ChannelType(ABC):
    """One notification channel: what it is called, what it needs, and how it sends and hears back.

    Subclasses set the class attributes and implement ``build``, ``accepts`` and ``send``; a channel whose
    provider calls back overrides ``parse_callback`` (and ``answer_reply`` when the provider wants an answer).
    """

    kind: ClassVar[str]  # the config's ``type``: the registry key
    config_model: ClassVar[type[ChannelConfig]]
    # Zalo wants HTTP 200 for every correctly signed event, or it warns the OA's admin.
    callbacks_always_ok: ClassVar[bool] = False

    id: str
    missing: list[str]  # secret variables (or stores) this channel lacks; it answers NOT_APPLICABLE then

    @classmethod
    def from_config(cls, section: ChannelConfig | Mapping[str, Any], context: ChannelContext) -> Self:
        """Validate this channel's config section (if it is still raw) and build the channel."""
        config = section if isinstance(section, cls.config_model) else cls.config_model.model_validate(section)
        return cls.build(config, context)

    @classmethod
    @abstractmethod
    def build(cls, config: Any, context: ChannelContext) -> Self:
        """Build the channel from its validated config table."""

    @classmethod
    def resends_safely(cls, config: Any) -> bool:
        """Whether the provider drops a repeat of our idempotency key, so a row of unknown fate may be resent.

        The de-duplication rule of ``outbox.recover_stuck``: elsewhere such a row is failed as
        ``outcome_unknown`` rather than risk a second copy.
        """
        return False

    @classmethod
    def reply_hint(cls, config: Any, code: str, lang: str) -> str | None:
        """What an officer answers through this channel to acknowledge (None: the link only)."""
        return None

    @abstractmethod
    def accepts(self, recipient: Recipient) -> bool:
        """Whether this channel can reach the recipient at all."""

    @abstractmethod
    async def send(self, message: Message) -> SendResult:
        """Send one message; provider or network trouble comes back as RETRY/FAILED, never as an exception."""

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str], *, path_token: str = ""
    ) -> list[CallbackEvent]:
        """Parse a provider callback; a channel without callbacks refuses every one."""
        raise InvalidInput("malformed_callback", f"channel {self.id} ({self.kind}) takes no callbacks")

    def answer_reply(self, event: CallbackEvent, text: str) -> tuple[str, str] | None:
        """The body the provider expects in answer to an inbound message (content type, body), if any."""
        return None

    async def close(self) -> None:
        """Release connections (default: none held)."""
        return None
