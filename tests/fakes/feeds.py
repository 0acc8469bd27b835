"""A news site's feeds: a tiny threaded ``http.server`` on 127.0.0.1 serving RSS or Atom documents per path.

It follows HTTP's conditional GET (RFC 9110, 13.1.2 If-None-Match and 15.4.5 304 Not Modified): a request whose
``If-None-Match`` equals a route's ETag gets 304 with no body; it records the validators each request sent. A route
can answer any status, any bytes (garbage, HTML, an entity bomb), redirect, or wait before answering (a timeout).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    """What one path answers."""

    status: int = 200
    body: str | bytes = ""
    etag: str | None = None
    delay_s: float = 0.0
    content_type: str = "application/rss+xml; charset=utf-8"
    location: str | None = None  # a redirect's target


@dataclass
class FeedServer:
    """The routes served (change them at any time) and the (path, If-None-Match, If-Modified-Since) of each request."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    port: int = 0

    def url(self, path: str) -> str:
        """Return the address of a path."""
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def serve() -> Iterator[FeedServer]:
    """Run a feed server in a thread for the block."""
    state = FeedServer()
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append((self.path, self.headers.get("If-None-Match"),
                                   self.headers.get("If-Modified-Since")))
            route = state.routes.get(self.path, Route(404, "not found"))
            if route.delay_s:
                release.wait(route.delay_s)
            if route.etag and self.headers.get("If-None-Match") == route.etag:
                self.send_response(304)
                self.end_headers()
                return
            body = route.body.encode() if isinstance(route.body, str) else route.body
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Content-Length", str(len(body)))
            if route.location:
                self.send_header("Location", route.location)
            if route.etag:
                self.send_header("ETag", route.etag)
                self.send_header("Last-Modified", "Mon, 14 Sep 2026 05:00:00 GMT")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, name="feed-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        release.set()
        httpd.shutdown()
        httpd.server_close()
