"""Serve a dashboard app: with waitress when it is installed, else with Flask's threaded server."""

from __future__ import annotations

import importlib.util
import logging

import dash

logger = logging.getLogger(__name__)

WSGI_THREADS = 8


def wsgi_server_name() -> str:
    """Return which server ``serve`` will use: 'waitress' or 'flask'."""
    return "waitress" if importlib.util.find_spec("waitress") is not None else "flask"


def serve(app: dash.Dash, host: str = "127.0.0.1", port: int = 8050) -> None:
    """Serve the app until interrupted."""
    if wsgi_server_name() == "waitress":
        import waitress

        logger.info("dashboard on http://%s:%d (waitress, %d threads)", host, port, WSGI_THREADS)
        waitress.serve(app.server, host=host, port=port, threads=WSGI_THREADS, ident="ioc")
        return
    logger.warning(
        "waitress is not installed; serving with Flask's development server on http://%s:%d "
        "(install waitress for production)",
        host,
        port,
    )
    app.server.run(host=host, port=port, threaded=True, debug=False, use_reloader=False)
