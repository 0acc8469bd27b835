"""The one interface every delivery channel (Zalo ZNS, SMS gateways, signed webhook) implements.

The sender only sees these types: a ``Message`` goes in, a ``SendResult`` comes out, and provider callbacks
come back as ``CallbackEvent`` values. Provider JSON never travels past the adapter that received it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable


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
    """A duty officer as a channel sees them; ``phone`` is 84xxxxxxxxx."""

    officer_id: str
    name: str
    phone: str
    zalo_user_id: str | None = None


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
    kind: str  # "zalo_zns" | "sms_http" | "webhook"

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
