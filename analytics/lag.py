"""When a stream worker's consumer lag becomes an alert: pure, values in and alert transitions out.

A worker (``flood``, ``alerts``, ``writer``) falls behind when the messages waiting on its partitions (the
partition's end offset minus the group's committed offset) keep growing. A burst that is worked off in seconds is
no news; a backlog that stays is. So ``LagWatch`` opens the alert ``pipeline:<worker>:lag`` only after the
worker's total lag has stayed above ``LagRule.threshold`` for ``hold_s``, and resolves it only after the lag has
stayed at or below ``clear_below`` (half the threshold by default, so a lag hovering at the threshold does not
flap) for ``clear_s``.

A process that starts or becomes its group's leader first ``resume``s from the last transition of the alert on
the alerts topic, so an occurrence outlives the process that opened it.

The measuring and exporting (Kafka offsets, Prometheus, the health answer) live in ``ioc.runtime.lag``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ioc.events import AlertEvent, AlertTransition, Severity

SOURCE_KIND = "pipeline"
MESSAGE_KEY = "alert.pipeline.lag"
RESOLVED_KEY = "alert.pipeline.lag.resolved"


@dataclass(frozen=True)
class LagRule:
    """How much lag, for how long, opens a worker's lag alert, and how little, for how long, resolves it."""

    threshold: int = 10_000  # messages waiting over all of the worker's partitions
    hold_s: float = 60.0
    clear_s: float = 60.0
    clear_below: int | None = None  # None: half the threshold

    def __post_init__(self) -> None:
        if self.threshold < 1:
            raise ValueError(f"the lag threshold must be at least 1 message, not {self.threshold}")
        if self.hold_s < 0 or self.clear_s < 0:
            raise ValueError("the lag alert's hold and clear times cannot be negative")
        if self.clear_below is not None and not 0 <= self.clear_below <= self.threshold:
            raise ValueError(f"clear_below must lie between 0 and the threshold {self.threshold}")

    @property
    def clear_level(self) -> int:
        """Return the lag at or below which the alert may resolve."""
        return self.threshold // 2 if self.clear_below is None else self.clear_below


@dataclass(frozen=True)
class PartitionLag:
    """One partition of a worker's source topics: where the group stands and where the partition ends."""

    topic: str
    partition: int
    committed: int | None  # None: the group has committed nothing here yet
    start: int  # the earliest offset still on the broker
    end: int  # the offset the next message will get

    @property
    def lag(self) -> int:
        """Return the messages not yet processed; from the earliest kept one when nothing was committed."""
        done = self.start if self.committed is None else max(self.committed, self.start)
        return max(self.end - done, 0)


class LagWatch:
    """One worker's lag alert: ``observe(lag, at)`` returns the transitions that lag at that time gives."""

    def __init__(self, worker: str, rule: LagRule) -> None:
        self.worker = worker
        self.rule = rule
        self.alert_key = f"{SOURCE_KIND}:{worker}:lag"
        self.opened_at: datetime | None = None  # set while the alert is open
        self._above_since: datetime | None = None
        self._clear_since: datetime | None = None
        self._peak = 0

    @property
    def is_open(self) -> bool:
        """Say whether the alert is open."""
        return self.opened_at is not None

    def resume(self, last: AlertEvent | None) -> None:
        """Take up the alert where the last transition sent for it left it (None: never raised).

        A process that starts, or becomes its group's leader, calls this with the last transition of
        ``alert_key`` on the alerts topic: an alert a stopped or demoted process left open is then resolved as that
        same occurrence, instead of staying open forever (the lag may be low by now) or being opened a second time.
        """
        self._above_since = self._clear_since = None
        if last is None or last.alert_key != self.alert_key or last.transition is AlertTransition.RESOLVED:
            self.opened_at, self._peak = None, 0
            return
        self.opened_at = last.opened_at
        self._peak = int(last.params.get("peak", last.value or 0))

    def forget(self) -> None:
        """Drop what this process knew: another process judges now (it resumes from the alerts topic)."""
        self.resume(None)

    def observe(self, lag: int, at: datetime) -> list[AlertEvent]:
        """Take one measurement of the worker's total lag; return an opening or a resolution when one is due."""
        rule = self.rule
        if self.opened_at is None:
            if lag <= rule.threshold:
                self._above_since = None
                return []
            self._above_since = self._above_since or at
            if at - self._above_since < timedelta(seconds=rule.hold_s):
                return []
            self.opened_at, self._clear_since, self._peak = at, None, lag
            return [self._event(AlertTransition.OPENED, lag, at)]
        self._peak = max(self._peak, lag)
        if lag > rule.clear_level:
            self._clear_since = None
            return []
        self._clear_since = self._clear_since or at
        if at - self._clear_since < timedelta(seconds=rule.clear_s):
            return []
        event = self._event(AlertTransition.RESOLVED, lag, at)
        self.opened_at = self._above_since = self._clear_since = None
        return [event]

    def _event(self, transition: AlertTransition, lag: int, at: datetime) -> AlertEvent:
        assert self.opened_at is not None
        return AlertEvent.create(
            alert_key=self.alert_key,
            transition=transition,
            at=at,
            opened_at=self.opened_at,
            severity=Severity.MAJOR,
            source_kind=SOURCE_KIND,
            source_id=self.worker,
            message_key=RESOLVED_KEY if transition is AlertTransition.RESOLVED else MESSAGE_KEY,
            params={"worker": self.worker, "lag": lag, "threshold": self.rule.threshold, "peak": self._peak,
                    "held_s": round(self.rule.hold_s)},
            value=float(lag),
        )


@dataclass(frozen=True)
class Stall:
    """A partition this process reads whose committed offset has not moved for ``for_s`` while messages wait."""

    topic: str
    partition: int
    committed: int
    for_s: float


class StallWatch:
    """Partitions a worker reads but no longer commits: ``observe`` returns those stalled for ``stall_s``.

    A stream worker commits what its agents have processed every second or so. A partition it reads whose
    committed offset stays put for ``stall_s`` while messages wait after it is stalled: seen with Faust 0.15.3
    after a restart, one partition of four stayed at the committed offset the stopped worker left for minutes,
    the process idle, while the others were processed to their ends. Reading it again
    from the committed offset is what a restart would do; processing is at-least-once and replays give the same
    alerts with the same ids, so it is safe, and a false alarm on a very slow partition costs only work done
    twice. Each stall is reported once; its clock starts again after it.
    """

    def __init__(self, stall_s: float) -> None:
        if stall_s <= 0:
            raise ValueError(f"the stall time must be positive, not {stall_s}")
        self.stall_s = stall_s
        self._since: dict[tuple[str, int], tuple[int, datetime]] = {}  # committed offset, unchanged since

    def observe(self, parts: list[PartitionLag], here: set[tuple[str, int]], at: datetime) -> list[Stall]:
        """Return the partitions stalled now, given their offsets and the (topic, partition) pairs this process
        reads (``here``; the others are forgotten)."""
        out: list[Stall] = []
        seen: set[tuple[str, int]] = set()
        for part in parts:
            tp = (part.topic, part.partition)
            if tp not in here or part.committed is None:
                continue
            seen.add(tp)
            committed, since = self._since.get(tp, (part.committed, at))
            if committed != part.committed or part.end <= part.committed:
                self._since[tp] = (part.committed, at)  # moving or caught up: no stall
                continue
            self._since[tp] = (committed, since)
            waited = (at - since).total_seconds()
            if waited >= self.stall_s:
                out.append(Stall(part.topic, part.partition, part.committed, waited))
                self._since[tp] = (committed, at)
        for tp in set(self._since) - seen:
            del self._since[tp]
        return out
