"""Channels by name: every channel class in this package, found by its config ``type``.

A module of ``ioc.notify.channels`` that defines a ``ChannelType`` subclass with its own ``kind`` is a
channel; nothing else names one. Their config tables are in ``ioc.config.channels`` (the site config and the
alert store read them there, below this package); the registry refuses to load when a table has no channel or
a channel's table is not listed there. ``build_channels`` turns a site's channels into adapters.

A channel whose secrets are missing is still built; its ``send`` answers NOT_APPLICABLE with
``not_configured: IOC_...`` so delivery falls back to the officer's next channel and operators see why.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import ioc.notify.channels
from ioc.config.channels import CHANNEL_CONFIGS, ChannelConfig
from ioc.notify.channels.base import ChannelContext, ChannelType
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


def _check_tables(types: Mapping[str, type[ChannelType]]) -> None:
    """Refuse channel classes and config tables that do not pair up one to one."""
    tables = {c.config_model for c in types.values()}
    if tables != set(CHANNEL_CONFIGS):
        unpaired = sorted(t.__name__ for t in tables.symmetric_difference(CHANNEL_CONFIGS))
        raise TypeError(f"channel config tables without a channel, or not in ioc.config.channels: {unpaired}")


CHANNEL_TYPES: dict[str, type[ChannelType]] = _discover()
_check_tables(CHANNEL_TYPES)
# How an acknowledgement through a channel is recorded in alerts.acknowledged_via.
VIAS: tuple[str, ...] = tuple(sorted({c.config_model.via for c in CHANNEL_TYPES.values()}))


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
