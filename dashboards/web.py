"""HTTP hardening of the wall's server: security headers on every response, the client address behind a proxy.

The Content-Security-Policy is one Dash accepts: scripts only from the server itself plus the SHA-256 of
each inline script Dash writes into its page (the renderer's start and the clientside callbacks, from
``Dash.csp_hashes()``); styles may be inline because React and Plotly set them on elements; images and
workers may be ``blob:``/``data:`` (Plotly's exports and the map's workers). Nothing may frame the wall
(``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``), types are never sniffed, and the referrer
never leaves the site.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import dash
from flask import Flask, Response
from werkzeug.middleware.proxy_fix import ProxyFix

from dashboards.settings import WallSettings

logger = logging.getLogger(__name__)

HSTS = "max-age=31536000"


def content_security_policy(script_hashes: Sequence[str]) -> str:
    """Return the wall's Content-Security-Policy with these inline-script hashes ("'sha256-...'") allowed."""
    scripts = " ".join(["'self'", *(h if h.startswith("'") else f"'{h}'" for h in script_hashes)])
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {scripts}",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def install_security_headers(app: dash.Dash, settings: WallSettings) -> None:
    """Add the security headers to every response of the app's server (refusals and errors included)."""
    server: Flask = app.server
    policy: list[str] = []  # built at the first response, once every clientside callback is registered

    @server.after_request
    def secure(response: Response) -> Response:
        if not policy:
            policy.append(content_security_policy(app.csp_hashes()))
        headers = response.headers
        headers.setdefault("Content-Security-Policy", policy[0])
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if settings.cookie_secure:
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response


def trust_proxies(server: Flask, settings: WallSettings) -> None:
    """Behind ``IOC_TRUSTED_PROXIES`` proxies, take the client's address and scheme from X-Forwarded-*."""
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=n, x_proto=n, x_host=0)  # type: ignore[method-assign]
        logger.info("client addresses from X-Forwarded-For (%d trusted proxies)", n)
