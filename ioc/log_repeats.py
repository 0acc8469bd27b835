"""A logging filter that lets a repeating log line through once a minute, with how many were held back.

A line "repeats" when the same logger logs the same message template at the same level, whatever its
arguments: ``officer %s over %d messages a minute: %s waits %.0f s`` logged every second for another
message is one line repeating, not thousands of different ones. The first passes at once; the next ones
within the window are counted and dropped; the first one after the window passes with the count appended.
A repetition that stops inside a window is not reported again (its first line already said it).
"""

from __future__ import annotations

import logging

WINDOW_S = 60.0
MAX_KEYS = 1_000  # templates are few; a message built with an f-string would make keys without end

_Key = tuple[str, int, str]


class RepeatFilter(logging.Filter):
    """Pass a repeating line at most once per ``window_s`` (by the records' own times), counting the rest."""

    def __init__(self, window_s: float = WINDOW_S) -> None:
        super().__init__()
        self.window_s = window_s
        self._last: dict[_Key, float] = {}
        self._held: dict[_Key, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Return whether the record is written; a record after held-back ones says how many were held."""
        key = (record.name, record.levelno, str(record.msg))
        last = self._last.get(key)
        if last is not None and record.created - last < self.window_s:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        held = self._held.pop(key, 0)
        if held:
            record.msg = f"{record.msg} [{held} more like this in the last {self.window_s:.0f} s]"
        if len(self._last) >= MAX_KEYS:
            self._forget(record.created)
        self._last[key] = record.created
        return True

    def _forget(self, now: float) -> None:
        for key in [k for k, at in self._last.items() if now - at >= self.window_s]:
            del self._last[key]
            self._held.pop(key, None)


def install(logger: logging.Logger | None = None, window_s: float = WINDOW_S) -> None:
    """Put one ``RepeatFilter`` on each handler of ``logger`` (the root logger by default)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RepeatFilter) for f in handler.filters):
            handler.addFilter(RepeatFilter(window_s))
