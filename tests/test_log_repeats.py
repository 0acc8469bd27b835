"""The repeat filter: a line logged every second is written once a minute with a count (issue 15, item 10)."""

from __future__ import annotations

import logging

import pytest

from ioc.log_repeats import RepeatFilter, install

TEMPLATE = "officer %s over %d messages a minute: %s waits %.0f s"


def _record(at: float, msg: str = TEMPLATE, name: str = "ioc.notify.sender", level: int = logging.INFO,
            args: tuple[object, ...] = ("nguyen-van-hung", 6, "key-1", 3.0)) -> logging.LogRecord:
    record = logging.LogRecord(name, level, __file__, 1, msg, args, None)
    record.created = at
    return record


def test_a_line_repeating_every_second_for_three_minutes_is_written_three_times_with_counts() -> None:
    """Regression: the demo's sender wrote 6,700 lines in 16 minutes, one per deferred message per second."""
    f = RepeatFilter(window_s=60)
    written = []
    for second in range(180):
        record = _record(1000.0 + second, args=("nguyen-van-hung", 6, f"key-{second}", float(second % 7)))
        if f.filter(record):
            written.append(record.getMessage())
    assert len(written) == 3
    assert written[0] == "officer nguyen-van-hung over 6 messages a minute: key-0 waits 0 s"
    assert written[1].endswith("[59 more like this in the last 60 s]")
    assert "key-60" in written[1]
    assert written[2].endswith("[59 more like this in the last 60 s]")


@pytest.mark.parametrize(
    ("other", "why"),
    [
        ({"msg": "detector %s ready (%s)"}, "another template"),
        ({"name": "ioc.notify.worker"}, "another logger"),
        ({"level": logging.WARNING}, "another level"),
    ],
)
def test_different_lines_are_not_held_back_by_each_other(other: dict[str, object], why: str) -> None:
    f = RepeatFilter(window_s=60)
    assert f.filter(_record(0.0))
    assert f.filter(_record(1.0, **other)), why  # type: ignore[arg-type]
    assert not f.filter(_record(2.0))


def test_a_line_after_a_quiet_minute_passes_without_a_count() -> None:
    f = RepeatFilter(window_s=60)
    first, later = _record(0.0), _record(61.0)
    assert f.filter(first) and f.filter(later)
    assert later.getMessage() == first.getMessage()


def test_install_puts_one_filter_on_each_handler_of_the_logger() -> None:
    logger = logging.getLogger("tests.log_repeats")
    handler = logging.NullHandler()
    logger.addHandler(handler)
    try:
        install(logger)
        install(logger)  # idempotent: a second setup does not stack filters
        assert [type(f) for f in handler.filters] == [RepeatFilter]
    finally:
        logger.removeHandler(handler)
