"""The lag-to-alert rule: a backlog opens the alert only once it has been held, resolves it only once it has
cleared for long enough below the lower level, and never flaps on a lag hovering at the threshold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.lag import LagRule, LagWatch, PartitionLag, StallWatch
from ioc.events import AlertTransition
from ioc.i18n import t

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
RULE = LagRule(threshold=1000, hold_s=30, clear_s=20)


def run(watch: LagWatch, samples: list[tuple[float, int]]) -> list[tuple[float, str, int]]:
    """Feed (seconds after T0, lag) samples; return (seconds, transition, lag) of every alert event."""
    out = []
    for s, lag in samples:
        for event in watch.observe(lag, T0 + timedelta(seconds=s)):
            out.append((s, event.transition.value, int(event.value or 0)))
    return out


@pytest.mark.parametrize(("name", "samples", "want"), [
    ("a short burst is no news", [(0, 5000), (10, 5000), (29, 5000), (35, 0), (70, 0)], []),
    ("held above for hold_s opens once", [(0, 5000), (10, 6000), (30, 7000), (40, 8000), (50, 9000)],
     [(30, "opened", 7000)]),
    ("a dip to the threshold restarts the hold", [(0, 5000), (20, 1000), (25, 5000), (50, 5000), (55, 5000)],
     [(55, "opened", 5000)]),
    ("resolves after clear_s at or below half the threshold",
     [(0, 5000), (30, 5000), (40, 500), (50, 400), (60, 0), (70, 0)], [(30, "opened", 5000), (60, "resolved", 0)]),
    ("a lag hovering between half and the threshold keeps it open",
     [(0, 5000), (30, 5000), (40, 900), (50, 800), (80, 999), (120, 600)], [(30, "opened", 5000)]),
    ("a rise above the clear level restarts the clear time",
     [(0, 5000), (30, 5000), (40, 100), (55, 700), (60, 100), (75, 100), (80, 100)],
     [(30, "opened", 5000), (80, "resolved", 100)]),
    ("it opens again after a resolution, as a new occurrence",
     [(0, 5000), (30, 5000), (40, 0), (60, 0), (70, 5000), (100, 5000)],
     [(30, "opened", 5000), (60, "resolved", 0), (100, "opened", 5000)]),
])
def test_lag_watch(name: str, samples: list[tuple[float, int]], want: list[tuple[float, str, int]]) -> None:
    assert run(LagWatch("flood", RULE), samples) == want, name


def test_one_occurrence_has_one_id_and_its_events_are_stable() -> None:
    """Both transitions of one occurrence carry the same alert id, so the writer closes the row it opened."""
    events = []
    watch = LagWatch("alerts", RULE)
    for s, lag in [(0, 5000), (30, 12000), (40, 0), (60, 0)]:
        events += watch.observe(lag, T0 + timedelta(seconds=s))
    opened, resolved = events
    assert (opened.transition, resolved.transition) == (AlertTransition.OPENED, AlertTransition.RESOLVED)
    assert opened.alert_key == resolved.alert_key == "pipeline:alerts:lag"
    assert opened.alert_id == resolved.alert_id
    assert opened.opened_at == T0 + timedelta(seconds=30)
    assert resolved.params["peak"] == 12000
    again = LagWatch("alerts", RULE)
    assert [e.event_id for s, lag in [(0, 5000), (30, 12000)]
            for e in again.observe(lag, T0 + timedelta(seconds=s))] == [opened.event_id]


def test_messages_in_both_languages() -> None:
    watch = LagWatch("flood", LagRule(threshold=10_000, hold_s=60, clear_s=60))
    (opened,) = watch.observe(25_000, T0) + watch.observe(25_000, T0 + timedelta(seconds=60))
    assert t(opened.message_key, "vi", **opened.params) == (
        "Tiến trình xử lý flood đang tụt lại: 25.000 bản tin chờ xử lý (ngưỡng 10.000) trong hơn 60 giây; "
        "cảnh báo có thể đến chậm")
    assert t(opened.message_key, "en", **opened.params).startswith(
        "Worker flood is falling behind: 25,000 messages waiting (threshold 10,000)")


def test_a_resumed_open_alert_resolves_as_the_same_occurrence() -> None:
    """Regression: a worker restarted after its backlog was gone never resolved the alert it had opened."""
    first = LagWatch("flood", RULE)
    (opened,) = first.observe(5000, T0) + first.observe(9000, T0 + timedelta(seconds=30))
    restarted = LagWatch("flood", RULE)
    restarted.resume(opened)
    assert restarted.is_open
    events = restarted.observe(0, T0 + timedelta(seconds=300)) + restarted.observe(0, T0 + timedelta(seconds=320))
    assert [(e.transition, e.alert_id) for e in events] == [(AlertTransition.RESOLVED, opened.alert_id)]
    assert events[0].params["peak"] == 9000
    # Still behind after the restart: nothing is opened a second time.
    again = LagWatch("flood", RULE)
    again.resume(opened)
    assert again.observe(9000, T0 + timedelta(seconds=300)) + again.observe(9000, T0 + timedelta(seconds=400)) == []


@pytest.mark.parametrize("last", ["resolved", "none", "other key"])
def test_resume_from_a_closed_or_foreign_alert_starts_closed(last: str) -> None:
    watch = LagWatch("flood", RULE)
    events = watch.observe(5000, T0) + watch.observe(5000, T0 + timedelta(seconds=30))
    events += watch.observe(0, T0 + timedelta(seconds=40)) + watch.observe(0, T0 + timedelta(seconds=60))
    other = LagWatch("writer", RULE)
    other_opened = other.observe(5000, T0) + other.observe(5000, T0 + timedelta(seconds=30))
    given = {"resolved": events[-1], "none": None, "other key": other_opened[0]}[last]
    fresh = LagWatch("flood", RULE)
    fresh.resume(given)
    assert not fresh.is_open
    assert fresh.observe(0, T0 + timedelta(seconds=100)) + fresh.observe(0, T0 + timedelta(seconds=200)) == []


@pytest.mark.parametrize(("committed", "start", "end", "lag"), [
    (None, 0, 500, 500),  # nothing committed: everything kept is waiting
    (None, 200, 500, 300),
    (450, 0, 500, 50),
    (100, 200, 500, 300),  # committed below what retention kept: only what is left waits
    (500, 0, 500, 0),
])
def test_partition_lag(committed: int | None, start: int, end: int, lag: int) -> None:
    assert PartitionLag("ioc.sensor.readings", 0, committed, start, end).lag == lag


@pytest.mark.parametrize("kwargs", [{"threshold": 0}, {"hold_s": -1}, {"threshold": 10, "clear_below": 11}])
def test_rule_refuses_nonsense(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        LagRule(**kwargs)


def test_a_partition_whose_commits_stop_with_messages_waiting_is_a_stall_once_per_wait() -> None:
    watch = StallWatch(stall_s=30)
    t0 = datetime(2026, 12, 4, 0, 28, tzinfo=UTC)

    def parts(committed1: int) -> list[PartitionLag]:
        return [PartitionLag("r", 0, 5177, 0, 5177), PartitionLag("r", 1, committed1, 0, 5177),
                PartitionLag("r", 2, 100, 0, 300)]

    here = {("r", 0), ("r", 1)}  # partition 2 is another process's
    assert watch.observe(parts(3352), here, t0) == []
    assert watch.observe(parts(3352), here, t0 + timedelta(seconds=29)) == []
    [stall] = watch.observe(parts(3352), here, t0 + timedelta(seconds=31))  # the CI stall, as its /healthz had it
    assert (stall.topic, stall.partition, stall.committed) == ("r", 1, 3352)
    assert stall.for_s == 31
    assert watch.observe(parts(3352), here, t0 + timedelta(seconds=40)) == []  # its clock started again
    assert len(watch.observe(parts(3352), here, t0 + timedelta(seconds=62))) == 1


def test_moving_caught_up_or_elsewhere_is_no_stall() -> None:
    watch = StallWatch(stall_s=10)
    t0 = datetime(2026, 12, 4, tzinfo=UTC)
    for s in range(0, 100, 5):
        at = t0 + timedelta(seconds=s)
        assert watch.observe([PartitionLag("r", 0, 1000 + s, 0, 5000)], {("r", 0)}, at) == []  # moving
        assert watch.observe([PartitionLag("r", 1, 400, 0, 400)], {("r", 1)}, at) == []  # caught up
        assert watch.observe([PartitionLag("r", 3, 400, 0, 900)], set(), at) == []  # not read here
        assert watch.observe([PartitionLag("r", 4, None, 0, 900)], {("r", 4)}, at) == []  # nothing committed
    with pytest.raises(ValueError, match="positive"):
        StallWatch(0)
