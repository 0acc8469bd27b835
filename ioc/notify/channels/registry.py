"""Channels by name: the site's ``channels`` config turned into adapters, secrets taken from the environment.

A channel whose secrets are missing is still built; its ``send`` answers NOT_APPLICABLE with
``not_configured: IOC_...`` so delivery falls back to the officer's next channel and operators see why.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from ioc.config.models import EsmsShortCode, SiteConfig, SmsHttpChannel, WebhookChannel, ZaloZnsChannel
from ioc.notify.channels.base import Channel
from ioc.notify.channels.sms import EsmsAdapter, SpeedSmsAdapter
from ioc.notify.channels.webhook import WebhookAdapter
from ioc.notify.channels.zalo import ZaloZnsAdapter
from ioc.notify.links import public_url
from ioc.notify.tokens import TokenStore

logger = logging.getLogger(__name__)


def build_channels(
    site: SiteConfig,
    env: Mapping[str, str],
    tokens: TokenStore | None,
    *,
    base_urls: Mapping[str, str] | None = None,
) -> dict[str, Channel]:
    """Build every configured channel; ``base_urls`` (channel id → URL) points channels at test servers."""
    overrides = base_urls or {}
    out: dict[str, Channel] = {}
    for cfg in site.channels:
        override = overrides.get(cfg.id)
        if isinstance(cfg, ZaloZnsChannel):
            names = [cfg.app_id_env, cfg.secret_key_env, cfg.refresh_token_env]
            out[cfg.id] = ZaloZnsAdapter(
                cfg,
                app_id=env.get(cfg.app_id_env),
                secret_key=env.get(cfg.secret_key_env),
                seed_refresh_token=env.get(cfg.refresh_token_env),
                tokens=tokens,
                missing=[n for n in names if not env.get(n)],
                api_base_url=override,
                oauth_base_url=override,
                oa_secret_key=env.get(cfg.oa_secret_key_env) if cfg.oa_secret_key_env else None,
            )
        elif isinstance(cfg, SmsHttpChannel):
            names = [cfg.api_key_env] + ([cfg.secret_key_env] if cfg.secret_key_env else [])
            adapter = EsmsAdapter if cfg.provider == "esms" else SpeedSmsAdapter
            reply_env = (
                {
                    "cpid": env.get(cfg.reply.cpid_env, ""),
                    "private_key": env.get(cfg.reply.private_key_env, ""),
                }
                if isinstance(cfg.reply, EsmsShortCode)
                else {}
            )
            out[cfg.id] = adapter(
                cfg,
                api_key=env.get(cfg.api_key_env),
                secret_key=env.get(cfg.secret_key_env) if cfg.secret_key_env else None,
                callback_secret=env.get(cfg.callback_secret_env) if cfg.callback_secret_env else None,
                reply_env=reply_env,
                missing=[n for n in names if not env.get(n)],
                base_url=override,
                public_url=public_url(env),
            )
        elif isinstance(cfg, WebhookChannel):
            out[cfg.id] = WebhookAdapter(
                cfg,
                secret=env.get(cfg.signing_secret_env),
                missing=[] if env.get(cfg.signing_secret_env) else [cfg.signing_secret_env],
                url=override,
            )
        missing = getattr(out[cfg.id], "missing", [])
        if missing:
            logger.warning(
                "channel %s is not configured (missing %s); its messages fall back",
                cfg.id,
                ", ".join(missing),
            )
    return out
