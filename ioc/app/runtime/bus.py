"""The in-process bus of the embedded mode: the same topics and events as Kafka, inside one asyncio loop.

Each subscription is a consumer group of its own with a bounded queue, so a slow consumer slows its producers
instead of growing memory without end; events of one topic reach a subscriber in publish order (stronger than
Kafka's per-key order, so the same core sees no new interleavings). Events travel serialised, as on Kafka, so a
handler never shares a mutable object with its producer and both modes exercise the same encoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from ioc import topics
from ioc.errors import IocError, SinkUnavailable
from ioc.events import Event, decode

logger = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[None]]
BatchHandler = Callable[[Sequence[Event]], Awaitable[object]]  # what it returns (a write report) is not used


@dataclass
class _Subscription:
    name: str
    topic: str
    queue: asyncio.Queue[bytes]
    handler: Handler | None
    batch_handler: BatchHandler | None
    batch_size: int
    within: float


class InProcessBus:
    """Publish events to named topics; deliver them to every subscription of that topic."""

    def __init__(self, queue_size: int = 10_000, retry_delay: float = 1.0) -> None:
        self._subs: dict[str, list[_Subscription]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._queue_size = queue_size
        self._retry_delay = retry_delay
        self.published = 0

    def subscribe(self, topic: topics.Topic, name: str, handler: Handler) -> None:
        """Call ``handler`` for every event on ``topic``, one at a time, in order."""
        self._add(_Subscription(name, topic.name, asyncio.Queue(self._queue_size), handler, None, 1, 0.0))

    def subscribe_batch(
        self, topic: topics.Topic, name: str, handler: BatchHandler, batch_size: int = 500, within: float = 0.5
    ) -> None:
        """Call ``handler`` with up to ``batch_size`` events, or fewer after ``within`` seconds (like Faust's take)."""
        self._add(_Subscription(name, topic.name, asyncio.Queue(self._queue_size), None, handler, batch_size, within))

    def _add(self, sub: _Subscription) -> None:
        self._subs.setdefault(sub.topic, []).append(sub)

    async def publish(self, event: Event) -> None:
        """Put an event on its topic; waits when a subscriber's queue is full."""
        topic = topics.for_event(event)
        data = event.to_bytes()
        for sub in self._subs.get(topic.name, ()):
            await sub.queue.put(data)
        self.published += 1

    def start(self) -> None:
        """Start one task per subscription in the running loop."""
        for subs in self._subs.values():
            for sub in subs:
                self._tasks.append(asyncio.create_task(self._run(sub), name=f"bus:{sub.name}"))

    async def stop(self) -> None:
        """Cancel every subscription task."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every queue is empty and handled (for tests and orderly shutdown)."""
        async def _all_done() -> None:
            for subs in self._subs.values():
                for sub in subs:
                    await sub.queue.join()
        await asyncio.wait_for(_all_done(), timeout)

    async def _run(self, sub: _Subscription) -> None:
        while True:
            first = await sub.queue.get()
            batch = [first]
            if sub.batch_handler is not None:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + sub.within
                while len(batch) < sub.batch_size:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        batch.append(await asyncio.wait_for(sub.queue.get(), remaining))
                    except TimeoutError:
                        break
            try:
                await self._deliver(sub, batch)
            finally:
                for _ in batch:
                    sub.queue.task_done()

    async def _deliver(self, sub: _Subscription, raw: list[bytes]) -> None:
        events = [decode(item) for item in raw]
        while True:
            try:
                if sub.batch_handler is not None:
                    await sub.batch_handler(events)
                else:
                    assert sub.handler is not None
                    for event in events:
                        await sub.handler(event)
                return
            except SinkUnavailable as exc:
                # The data is good and stays in hand; wait for the store to come back, like a Faust agent would.
                logger.warning("%s: %s; retrying in %.1f s", sub.name, exc, self._retry_delay)
                await asyncio.sleep(self._retry_delay)
            except IocError:
                logger.exception("%s: handler failed on a batch of %d; skipped", sub.name, len(events))
                return
            except Exception:  # the process's outer edge for this subscription: log, keep the bus alive
                logger.exception("%s: unexpected error on a batch of %d; skipped", sub.name, len(events))
                return
