"""Which notifications an alert calls for, and when: the escalation ladder, reminders, quiet hours, notices.

Pure: values in (an alert's state, who has been reached, the time), planned rows out; ``outbox.py`` writes
them. Every planned row has an idempotency key made of the alert, the officer, the channel and the step (plus
a suffix for reminders and notices), so planning the same thing twice - a replayed transition, two schedulers,
a restart - adds nothing twice.

- **Ladder.** Step ``i`` of the alert's severity's ladder is due ``delay_min`` after the alert opened, while
  nobody has acknowledged it; its people are resolved at the moment it is due (``roster.DutyRoster.resolve``).
  A person already reached by an earlier step is not messaged again by a later one. A severity with no ladder
  configured gets one step: the on-duty officer at once. Step 0 is ``alert_opened``; later steps are
  ``alert_escalated`` with cause ``ladder``.
- **Reminders.** The people of the current step (the last one due) get ``alert_reminder`` every
  ``reminder_every_min`` minutes after that step, at most ``max_reminders`` per step, for alerts of
  ``reminder_min_severity`` and above. Only the latest reminder due is planned, so a scheduler that was down
  does not fire a burst when it comes back.
- **Quiet hours.** For the severities listed (default info and warning, 22:00-06:00 local) a message that
  falls in the quiet hours waits until they end; an alert opened in them starts its ladder clock at their end.
  Reminders in the quiet hours are skipped, not held. major and critical are never held.
- **Notices.** When an alert's severity rises (transition ``escalated``) the people already reached get
  ``alert_escalated`` with cause ``severity``; when it is resolved they get ``alert_resolved``. Both go to the
  officer's first channel (falling back like any message) and are not stopped by an acknowledgement.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ioc.config.models import Delivery, EscalationStep, Officer, SiteConfig
from ioc.events import Severity
from ioc.notify.roster import DutyRoster, in_window, window_end

OPENED = "alert_opened"
ESCALATED = "alert_escalated"
REMINDER = "alert_reminder"
RESOLVED = "alert_resolved"
_DEFAULT_LADDER = (EscalationStep(role="on_duty", delay_min=0),)


@dataclass(frozen=True)
class AlertState:
    """What planning needs to know of one alert."""

    alert_id: uuid.UUID
    alert_key: str
    status: str  # open | acknowledged | resolved
    severity: Severity
    source_kind: str
    area_code: str | None
    opened_at: datetime


@dataclass(frozen=True)
class Planned:
    """One message to plan: an outbox row before it is written."""

    alert_id: uuid.UUID
    alert_key: str
    officer_id: str
    channel_id: str
    step: int
    kind: str
    due_at: datetime
    severity: Severity
    cause: str = ""
    # "" | ":r<n>" (n-th reminder) | ":x<severity>" (severity notice) | ":end" (resolved notice)
    suffix: str = ""

    @property
    def key(self) -> str:
        """Return the idempotency key: alert, officer, channel, step and suffix."""
        return message_key(self.alert_id, self.officer_id, self.channel_id, self.step, self.suffix)


def message_key(
    alert_id: uuid.UUID | str, officer_id: str, channel_id: str, step: int, suffix: str = ""
) -> str:
    """Return the idempotency key of one message (officer and channel ids are slugs: no colons)."""
    return f"{alert_id}:{officer_id}:{channel_id}:{step}{suffix}"


def next_channel_key(key: str, channel_id: str) -> str:
    """Return the key of the same message on another channel (the fallback row's key)."""
    alert_id, officer_id, _old, rest = key.split(":", 3)
    return f"{alert_id}:{officer_id}:{channel_id}:{rest}"


@dataclass(frozen=True)
class _Step:
    index: int
    step: EscalationStep
    due: datetime
    role: str
    people: tuple[Officer, ...]


class Planner:
    """Plans an alert's messages from the roster, the escalation ladders and the delivery settings."""

    def __init__(
        self, roster: DutyRoster, escalation: Mapping[Severity, Sequence[EscalationStep]], delivery: Delivery
    ) -> None:
        self.roster = roster
        self.escalation = escalation
        self.delivery = delivery

    @classmethod
    def from_site(cls, site: SiteConfig) -> Planner:
        """Build the planner of a validated site config."""
        return cls(DutyRoster.from_site(site), site.roster.escalation, site.roster.delivery)

    # --- time rules -----------------------------------------------------------------------------------------

    def quiet(self, severity: Severity) -> bool:
        """Whether messages about ``severity`` wait out the quiet hours."""
        qh = self.delivery.quiet_hours
        return qh is not None and severity in qh.severities

    def hold(self, at: datetime, severity: Severity) -> datetime:
        """Return when a message due at ``at`` may go out (the quiet hours' end, for the severities held)."""
        qh = self.delivery.quiet_hours
        if qh is None or severity not in qh.severities:
            return at
        return window_end(at, qh.start, qh.end)

    def _in_quiet(self, at: datetime, severity: Severity) -> bool:
        qh = self.delivery.quiet_hours
        return qh is not None and severity in qh.severities and in_window(at, qh.start, qh.end)

    def ladder(self, alert: AlertState) -> list[tuple[int, EscalationStep, datetime]]:
        """Return each step of the alert's ladder with the time it falls due."""
        steps = self.escalation.get(alert.severity) or _DEFAULT_LADDER
        start = self.hold(alert.opened_at, alert.severity)
        return [
            (i, s, self.hold(start + timedelta(minutes=s.delay_min), alert.severity))
            for i, s in enumerate(steps)
        ]

    # --- planning -------------------------------------------------------------------------------------------

    def _steps(self, alert: AlertState, until: datetime) -> list[_Step]:
        domain = self.roster.domain_of(alert.source_kind)
        out = []
        for i, step, due in self.ladder(alert):
            if due > until:
                break
            duty = self.roster.resolve(step.role, domain, alert.area_code, due)
            out.append(_Step(i, step, due, duty.role, duty.officers))
        return out

    def due(self, alert: AlertState, now: datetime) -> list[Planned]:
        """Return the ladder messages and the latest reminder due by ``now`` for an unacknowledged alert."""
        if alert.status != "open":
            return []
        steps = self._steps(alert, now)
        out: list[Planned] = []
        reached: set[str] = set()
        for s in steps:
            kind, cause = (OPENED, "") if s.index == 0 else (ESCALATED, "ladder")
            for officer in s.people:
                if officer.id not in reached:
                    out.append(self._row(alert, officer, s.index, kind, s.due, cause=cause))
            reached.update(o.id for o in s.people)
        if steps:
            out += self._reminders(alert, steps[-1], now)
        return out

    def _reminders(self, alert: AlertState, current: _Step, now: datetime) -> list[Planned]:
        d = self.delivery
        if (
            d.reminder_every_min <= 0
            or d.max_reminders <= 0
            or alert.severity.rank < d.reminder_min_severity.rank
        ):
            return []
        every = timedelta(minutes=d.reminder_every_min)
        ladder = self.ladder(alert)
        next_due = ladder[current.index + 1][2] if current.index + 1 < len(ladder) else None
        n = min(int((now - current.due) / every), d.max_reminders)
        while n >= 1:
            at = current.due + n * every
            if (next_due is None or at < next_due) and not self._in_quiet(at, alert.severity):
                return [
                    self._row(alert, o, current.index, REMINDER, at, suffix=f":r{n}") for o in current.people
                ]
            n -= 1
        return []

    def next_time(self, alert: AlertState, after: datetime) -> datetime | None:
        """Return the next moment after ``after`` at which ``due`` may plan something new (None: never)."""
        if alert.status != "open":
            return None
        times = [due for _, _, due in self.ladder(alert) if due > after]
        steps = self._steps(alert, after)
        d = self.delivery
        if steps and d.reminder_every_min > 0 and d.max_reminders > 0:
            every = timedelta(minutes=d.reminder_every_min)
            n = int((after - steps[-1].due) / every) + 1
            if n <= d.max_reminders:
                times.append(steps[-1].due + n * every)
        return min(times) if times else None

    def opened(self, alert: AlertState, now: datetime) -> list[Planned]:
        """Return what a newly opened alert calls for: step 0 (and any later step already due, when late).

        Step 0 is planned even when the quiet hours hold it: the row waits in the outbox with its later due
        time, written in the alert's own transaction like any other.
        """
        rows = self.due(alert, now)
        if rows or alert.status != "open":
            return rows
        first = self.ladder(alert)[0][2]
        return self.due(alert, first) if first > now else rows

    def escalated(self, alert: AlertState, reached: Mapping[str, int], now: datetime) -> list[Planned]:
        """Return severity notices to the people already reached, and the new ladder's steps now due."""
        at = self.hold(now, alert.severity)
        notices = [
            self._row(
                alert,
                self.roster.officers[oid],
                step,
                ESCALATED,
                at,
                cause="severity",
                suffix=f":x{alert.severity.value}",
            )
            for oid, step in sorted(reached.items())
            if oid in self.roster.officers
        ]
        return notices + self.due(alert, now)

    def resolved(self, alert: AlertState, reached: Mapping[str, int], now: datetime) -> list[Planned]:
        """Return the "it is over" notices to the people already reached."""
        at = self.hold(now, alert.severity)
        return [
            self._row(alert, self.roster.officers[oid], step, RESOLVED, at, suffix=":end")
            for oid, step in sorted(reached.items())
            if oid in self.roster.officers
        ]

    def _row(
        self,
        alert: AlertState,
        officer: Officer,
        step: int,
        kind: str,
        due: datetime,
        *,
        cause: str = "",
        suffix: str = "",
    ) -> Planned:
        return Planned(
            alert_id=alert.alert_id,
            alert_key=alert.alert_key,
            officer_id=officer.id,
            channel_id=officer.channels[0],
            step=step,
            kind=kind,
            due_at=due,
            severity=alert.severity,
            cause=cause,
            suffix=suffix,
        )
