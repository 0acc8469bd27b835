"""The common part of the provider fakes: an aiohttp server on 127.0.0.1, scripted failures, a record of
requests.

A fake runs either in the test's own event loop (``async with ZaloFake() as z``) or in a background thread
with its own loop (``with ZaloFake().threaded() as z``) for sync tests and for processes started by a test.
Everything a test reads or scripts (``sent``, ``requests``, ``fail_next``) is guarded by a lock, so both ways
are safe.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

import aiohttp
from aiohttp import web
from yarl import URL

T = TypeVar("T")


@dataclass
class Failure:
    """One scripted answer; ``mode`` is generic (http_401/403, rate_limit, server_error, slow) or own."""

    mode: str
    retry_after: float | None = None
    delay: float = 0.0
    status: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class FakeServer:
    """Base of the provider fakes; subclasses add their routes in ``routes()``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: deque[Failure] = deque()
        self._requests: list[dict[str, Any]] = []
        self._sent: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- lifecycle --------------------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        """Add the provider's routes."""
        raise NotImplementedError

    @property
    def url(self) -> str:
        """The server's root URL, e.g. http://127.0.0.1:40123."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> Self:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]
        self._loop = asyncio.get_running_loop()
        return self

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @contextmanager
    def threaded(self) -> Iterator[Self]:
        """Run the fake in a background thread with its own event loop (for sync tests and subprocesses)."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"{type(self).__name__}", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"{type(self).__name__} did not start")
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(10)
            self._thread = None

    def run(self, coro: Awaitable[T]) -> T:
        """Run a coroutine (e.g. a callback post) on the fake's loop from another thread and wait for it."""
        if self._thread is None or self._loop is None:
            raise RuntimeError("run() is for a threaded fake; await the coroutine in async tests")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)  # type: ignore[arg-type]

    # --- scripting and records ----------------------------------------------------------------------------
    def fail_next(
        self,
        mode: str,
        times: int = 1,
        *,
        retry_after: float | None = None,
        delay: float = 0.0,
        status: int | None = None,
        **extra: Any,
    ) -> None:
        """Answer the next ``times`` send requests with this failure instead of accepting them."""
        with self._lock:
            for _ in range(times):
                self._failures.append(Failure(mode, retry_after, delay, status, dict(extra)))

    def _next_failure(self) -> Failure | None:
        with self._lock:
            return self._failures.popleft() if self._failures else None

    def _record_request(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._requests.append(entry)

    def _record_sent(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._sent.append(entry)

    @property
    def sent(self) -> list[dict[str, Any]]:
        """Every message the fake accepted, in order (a copy)."""
        with self._lock:
            return list(self._sent)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every send request received, accepted or not (a copy)."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forget records and scripted failures."""
        with self._lock:
            self._failures.clear()
            self._requests.clear()
            self._sent.clear()

    async def generic_failure(self, failure: Failure) -> web.StreamResponse | None:
        """Answer a generic scripted failure; None for a provider-specific mode (or slow, after sleeping)."""
        if failure.mode == "slow":
            await asyncio.sleep(failure.delay or 5.0)
            return None
        if failure.mode == "rate_limit":
            headers = {"Retry-After": str(int(failure.retry_after if failure.retry_after is not None else 1))}
            return web.json_response({"error": "too many requests"}, status=429, headers=headers)
        if failure.mode == "server_error":
            return web.json_response({"error": "internal error"}, status=failure.status or 503)
        if failure.mode == "http_401":
            return web.json_response({"error": "unauthorized"}, status=401)
        if failure.mode == "http_403":
            return web.json_response({"error": "forbidden"}, status=403)
        return None

    # --- outgoing callbacks ---------------------------------------------------------------------------------
    @staticmethod
    async def post(
        url: str | URL,
        *,
        body: bytes | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        method: str = "POST",
        params: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        """Call a callback URL the way the provider does; return (status, body text)."""
        data = (
            body if body is not None else (json.dumps(json_body).encode() if json_body is not None else None)
        )
        hdrs = dict(headers or {})
        if json_body is not None:
            hdrs.setdefault("Content-Type", "application/json")
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method, url, data=data, headers=hdrs, params=params, timeout=aiohttp.ClientTimeout(total=15)
            ) as resp,
        ):
            return resp.status, await resp.text()


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
