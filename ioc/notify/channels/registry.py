"""Channels by name: every channel class in this package, found by its config ``type``.

A module of ``ioc.notify.channels`` that defines a ``ChannelType`` subclass with its own ``kind`` is a
channel; nothing else names one. The site config's ``channels`` table is the discriminated union of their
config models (``ChannelConfigs``), the ways an alert can be acknowledged through a channel are their
``via`` (``VIAS``), and ``build_channels`` turns a site's channels into adapters.

A channel whose secrets are missing is still built; its ``send`` answers NOT_APPLICABLE with
``not_configured: IOC_...`` so delivery falls back to the officer's next channel and operators see why.
"""

from __future__ import annotations

import importlib
import logging
import operator
import pkgutil
from collections.abc import Iterable, Mapping
from functools import reduce
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

import ioc.notify.channels
from ioc.notify.channels.base import ChannelConfig, ChannelContext, ChannelType
from ioc.notify.links import public_url
from ioc.notify.tokens import TokenStore

if TYPE_CHECKING:
    from ioc.config.models import SiteConfig

logger = logging.getLogger(__name__)

# Modules of the package that hold shared parts, not channels.
_NOT_CHANNELS = frozenset({"base", "http", "registry"})


def _discover() -> dict[str, type[ChannelType]]:
    """Import every channel module of the package and return its channel classes by ``kind``."""
    found: dict[str, type[ChannelType]] = {}
    for info in sorted(pkgutil.iter_modules(ioc.notify.channels.__path__), key=lambda i: i.name):
        if info.name in _NOT_CHANNELS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"ioc.notify.channels.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, ChannelType)
                and value.__module__ == module.__name__
                and "kind" in vars(value)
            ):
                if value.kind in found:
                    raise TypeError(f"channel type {value.kind!r} is declared twice: {found[value.kind]} and {value}")
                found[value.kind] = value
    return found


CHANNEL_TYPES: dict[str, type[ChannelType]] = _discover()
# How an acknowledgement through a channel is recorded in alerts.acknowledged_via.
VIAS: tuple[str, ...] = tuple(sorted({c.via for c in CHANNEL_TYPES.values()}))

if TYPE_CHECKING:
    ChannelConfigs = ChannelConfig
else:
    ChannelConfigs = Annotated[
        reduce(operator.or_, (c.config_model for c in CHANNEL_TYPES.values())), Field(discriminator="type")
    ]


def channel_class(config: ChannelConfig) -> type[ChannelType]:
    """Return the class of a configured channel."""
    return CHANNEL_TYPES[config.type]


def resend_safe_channels(configs: Iterable[ChannelConfig]) -> set[str]:
    """Return the channels whose provider refuses a repeat of our idempotency key (eSMS's RequestId)."""
    return {c.id for c in configs if channel_class(c).resends_safely(c)}


def build_channels(
    site: SiteConfig,
    env: Mapping[str, str],
    tokens: TokenStore | None,
    *,
    base_urls: Mapping[str, str] | None = None,
) -> dict[str, ChannelType]:
    """Build every channel of a site with the secrets in ``env`` (passed in, never read here);
    ``base_urls`` (channel id → URL) points channels at test servers."""
    overrides = base_urls or {}
    out: dict[str, ChannelType] = {}
    for cfg in site.channels:
        context = ChannelContext(secrets=env, tokens=tokens, public_url=public_url(env), base_url=overrides.get(cfg.id))
        channel = channel_class(cfg).from_config(cfg, context)
        if channel.missing:
            logger.warning(
                "channel %s is not configured (missing %s); its messages fall back", cfg.id, ", ".join(channel.missing)
            )
        out[cfg.id] = channel
    return out
