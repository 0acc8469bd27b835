"""Serve a dashboard app: with waitress when it is installed, else with Flask's threaded server."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from typing import Any

import dash

from dashboards.settings import WallSettings

logger = logging.getLogger(__name__)

WSGI_THREADS = 8


def wsgi_server_name() -> str:
    """Return which server ``serve`` will use: 'waitress' or 'flask'."""
    return "waitress" if importlib.util.find_spec("waitress") is not None else "flask"


def make_waitress(app: dash.Dash, host: str, port: int, settings: WallSettings | None = None) -> Any:
    """Build the waitress server (not yet running) with the wall's request body limit.

    waitress reads a whole body before it calls the app, so the limit must be its own: a request that
    announces more than ``max_body_bytes`` (or sends more in chunks) is answered 413 and closed before it
    is read, signed in or not (issue 12, hole 10). ``port`` 0 picks a free port (``server.effective_port``).
    """
    import waitress.server

    limit = (settings or WallSettings()).max_body_bytes
    return waitress.server.create_server(
        app.server, host=host, port=port, threads=WSGI_THREADS, ident="ioc", max_request_body_size=limit
    )


def serve(
    app: dash.Dash,
    host: str = "127.0.0.1",
    port: int = 8050,
    settings: WallSettings | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve the app until interrupted; ``on_ready`` is called once the port is open (the demo's login box)."""
    if wsgi_server_name() == "waitress":
        server = make_waitress(app, host, port, settings)  # waitress binds its socket here
        logger.info("dashboard on http://%s:%d (waitress, %d threads)", host, port, WSGI_THREADS)
        if on_ready is not None:
            on_ready()
        server.run()
        return
    logger.warning(
        "waitress is not installed; serving with Flask's development server on http://%s:%d "
        "(install waitress for production)",
        host,
        port,
    )
    if on_ready is not None:
        on_ready()
    app.server.run(host=host, port=port, threaded=True, debug=False, use_reloader=False)
