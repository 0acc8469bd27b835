"""The rule engine: the pure core that turns observations into alert transitions, once per episode.

The alert sources (``analytics.sources``) turn events into ``Observation`` values (a metric of one subject at one
time); an ``AlertEngine`` applies the site's ``AlertRule`` values to them. It knows no source: a rule names the
observations it reads (``observes``), and that is all the engine matches on.

Each rule and subject has one stable alert key, ``<source>:<subject>:<rule id>``. Its life:

- the condition must hold for ``for_s`` before the alert opens (``pending``); a value that stops matching before
  then drops the pending state without any event;
- while open, a higher severity escalates, a lower one is an update, and a value that moved at least
  ``update_delta`` is an update (without ``update_delta`` value changes alone send nothing);
- leaving a severity needs the value to pass its threshold by ``hysteresis``; the alert resolves only after the
  condition has stayed clear for ``clear_for_s``; a value that matches again in that time keeps the same alert open
  (no re-open in a flap).

Time-based transitions (``for_s`` held, ``clear_for_s`` elapsed) fire at ``since + for_s`` whether an observation or
``tick`` notices them first, so a replay gives the same alert ids whatever the tick cadence. The state is a dict of
plain values (``to_dict``/``from_dict``) for a Faust table or the embedded runtime's snapshot.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ioc.events import AlertEvent, AlertTransition, Severity

logger = logging.getLogger(__name__)

Value = float | str
Params = Mapping[str, str | float | int]
STATE_VERSION = 1
RESOLVED_KEY = "alert.rule.resolved"

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
# Which way a threshold moves to release a level with hysteresis: down for "above" conditions, up for "below".
_RELEASE: dict[str, int] = {">": -1, ">=": -1, "<": 1, "<=": 1, "==": 0, "!=": 0}


@dataclass(frozen=True)
class Observation:
    """One measured or derived value of one subject (station, camera, camera/zone, unit) at one time."""

    source: str  # what produced it (a rule's ``observes``): flood, zone, camera, kpi
    subject: str
    metric: str
    value: Value
    at: datetime


@dataclass(frozen=True)
class AlertRule:
    """One rule bound to one subject (or ``*``) with concrete thresholds, bound from config by ``analytics.binding``."""

    id: str
    source: str  # alert source type (``analytics.sources``), first part of the key: flood, traffic, rain_gauge...
    observes: str  # Observation.source it reads (traffic and crowd rules read zone observations)
    subject: str  # a subject id, or "*" for every subject of the source
    metric: str
    op: str
    levels: tuple[tuple[Severity, Value], ...]  # severity -> threshold, least severe first
    for_s: float = 0.0
    clear_for_s: float = 0.0
    hysteresis: float = 0.0
    update_delta: float | None = None
    area_code: str | None = None
    message_key: str = ""
    resolved_key: str = RESOLVED_KEY
    params: Params = field(default_factory=dict)  # static template values: station, camera, zone, name
    categories: tuple[
        str, ...
    ] = ()  # ordered categories of a categorical metric (congestion), compared by rank

    def key(self, subject: str) -> str:
        """Return the stable alert key of this rule for one subject."""
        return f"{self.source}:{subject}:{self.id}"

    def threshold(self, severity: Severity) -> Value:
        """Return the threshold of one of the rule's severities."""
        return dict(self.levels)[severity]

    def severity_of(self, value: Value, current: Severity | None = None) -> Severity | None:
        """Return the severity the value matches (``None``: no match), leaving ``current`` only past hysteresis."""
        raw = None
        for sev, th in self.levels:
            if self._passes(value, th, 0.0):
                raw = sev
        if current is None or (raw is not None and raw.rank >= current.rank):
            return raw
        kept: Severity | None = None
        for sev, th in self.levels:
            if sev.rank <= current.rank and self._passes(value, th, self.hysteresis):
                kept = sev
        if raw is None:
            return kept
        return kept if kept is not None and kept.rank > raw.rank else raw

    def _passes(self, value: Value, threshold: Value, slack: float) -> bool:
        if self.categories:
            value, threshold = self._rank(value), self._rank(threshold)
            slack = 0.0
        if isinstance(value, str) or isinstance(threshold, str):
            return _OPS[self.op](str(value), str(threshold))
        return _OPS[self.op](value, threshold + _RELEASE[self.op] * slack)

    def _rank(self, value: Value) -> float:
        return float(self.categories.index(value)) if value in self.categories else -1.0


@dataclass
class _Alert:
    """What the engine remembers about one key: pending (held, not yet open) or active (open)."""

    phase: str  # "pending" or "active"
    since: datetime  # pending: since when the condition holds; active: when it opened
    severity: Severity
    value: Value
    last_at: datetime
    reported: Value | None = None  # value of the last event sent
    clear_since: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "since": self.since.isoformat(),
            "severity": self.severity.value,
            "value": self.value,
            "last_at": self.last_at.isoformat(),
            "reported": self.reported,
            "clear_since": self.clear_since.isoformat() if self.clear_since else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> _Alert:
        clear = data.get("clear_since")
        return cls(
            phase=str(data["phase"]),
            since=datetime.fromisoformat(data["since"]),
            severity=Severity(data["severity"]),
            value=data["value"],
            last_at=datetime.fromisoformat(data["last_at"]),
            reported=data.get("reported"),
            clear_since=datetime.fromisoformat(clear) if clear else None,
        )


class AlertEngine:
    """Applies rules to observations; one alert per rule and subject, opened once, resolved once."""

    def __init__(self, rules: Iterable[AlertRule], state: Mapping[str, Any] | None = None) -> None:
        self._index: dict[tuple[str, str, str], list[AlertRule]] = {}
        self._by_id: dict[tuple[str, str], AlertRule] = {}
        for rule in rules:
            self._index.setdefault((rule.observes, rule.metric, rule.subject), []).append(rule)
            self._by_id[(rule.source, rule.id)] = rule
        self._alerts: dict[str, _Alert] = {}
        self._subjects: dict[str, tuple[AlertRule, str]] = {}
        if state:
            self._load(state)

    def observe(self, obs: Observation) -> list[AlertEvent]:
        """Apply one observation to every rule that reads it; return the alert transitions it causes."""
        out: list[AlertEvent] = []
        rules = self._index.get((obs.source, obs.metric, obs.subject), []) + self._index.get(
            (obs.source, obs.metric, "*"), []
        )
        for rule in rules:
            out += self._apply(rule, obs)
        return out

    def tick(self, now: datetime) -> list[AlertEvent]:
        """Fire what time alone decides: a condition held ``for_s``, a clear condition kept ``clear_for_s``."""
        out: list[AlertEvent] = []
        for key in sorted(self._alerts):
            st = self._alerts[key]
            rule, subject = self._subjects[key]
            if st.phase == "pending" and now >= st.since + _s(rule.for_s):
                out.append(self._open(rule, subject, key, st, st.since + _s(rule.for_s)))
            elif (
                st.phase == "active"
                and st.clear_since is not None
                and now >= st.clear_since + _s(rule.clear_for_s)
            ):
                out.append(self._resolve(rule, subject, key, st, st.clear_since + _s(rule.clear_for_s)))
        return out

    def active(self) -> dict[str, Severity]:
        """Return the open alerts' keys and severities."""
        return {k: a.severity for k, a in self._alerts.items() if a.phase == "active"}

    def to_dict(self) -> dict[str, Any]:
        """Serialise the state (plain JSON values) for a Faust table or a snapshot."""
        return {
            "v": STATE_VERSION,
            "alerts": {
                k: {
                    **a.to_dict(),
                    "rule": self._subjects[k][0].id,
                    "source": self._subjects[k][0].source,
                    "subject": self._subjects[k][1],
                }
                for k, a in sorted(self._alerts.items())
            },
        }

    @classmethod
    def from_dict(cls, rules: Iterable[AlertRule], data: Mapping[str, Any] | None) -> AlertEngine:
        """Rebuild an engine from ``to_dict`` output; alerts of rules no longer configured are dropped."""
        return cls(rules, data)

    # --- internals

    def _load(self, data: Mapping[str, Any]) -> None:
        if data.get("v") != STATE_VERSION:
            logger.warning(
                "alert engine state version %s is not %s; starting empty", data.get("v"), STATE_VERSION
            )
            return
        for key, item in data.get("alerts", {}).items():
            rule = self._by_id.get((item.get("source"), item.get("rule")))
            if rule is None:
                logger.info("alert %s: rule no longer configured, state dropped", key)
                continue
            self._alerts[key] = _Alert.from_dict(item)
            self._subjects[key] = (rule, str(item["subject"]))

    def _apply(self, rule: AlertRule, obs: Observation) -> list[AlertEvent]:
        key = rule.key(obs.subject)
        st = self._alerts.get(key)
        if st is not None and obs.at <= st.last_at:
            return []  # a replay or a late observation changes nothing
        at, value = obs.at, obs.value
        sev = rule.severity_of(value, st.severity if st is not None and st.phase == "active" else None)
        if st is None:
            if sev is None:
                return []
            st = _Alert(phase="pending", since=at, severity=sev, value=value, last_at=at)
            self._alerts[key], self._subjects[key] = st, (rule, obs.subject)
            return [self._open(rule, obs.subject, key, st, at)] if rule.for_s <= 0 else []
        st.last_at, st.value = at, value
        if st.phase == "pending":
            if sev is None:
                self._forget(key)
                return []
            st.severity = sev
            due = st.since + _s(rule.for_s)
            return [self._open(rule, obs.subject, key, st, due)] if at >= due else []
        if sev is None:
            if st.clear_since is None:
                st.clear_since = at
            due = st.clear_since + _s(rule.clear_for_s)
            return [self._resolve(rule, obs.subject, key, st, due)] if at >= due else []
        st.clear_since = None
        if sev.rank > st.severity.rank:
            st.severity = sev
            return [self._event(rule, obs.subject, key, st, AlertTransition.ESCALATED, at)]
        if sev.rank < st.severity.rank:
            st.severity = sev
            return [self._event(rule, obs.subject, key, st, AlertTransition.UPDATED, at)]
        if (
            rule.update_delta is not None
            and isinstance(value, int | float)
            and isinstance(st.reported, int | float)
            and abs(value - st.reported) >= rule.update_delta
        ):
            return [self._event(rule, obs.subject, key, st, AlertTransition.UPDATED, at)]
        return []

    def _open(self, rule: AlertRule, subject: str, key: str, st: _Alert, at: datetime) -> AlertEvent:
        st.phase, st.since, st.clear_since = "active", at, None
        return self._event(rule, subject, key, st, AlertTransition.OPENED, at)

    def _resolve(self, rule: AlertRule, subject: str, key: str, st: _Alert, at: datetime) -> AlertEvent:
        event = self._event(rule, subject, key, st, AlertTransition.RESOLVED, at)
        self._forget(key)
        return event

    def _forget(self, key: str) -> None:
        del self._alerts[key]
        del self._subjects[key]

    def _event(
        self, rule: AlertRule, subject: str, key: str, st: _Alert, transition: AlertTransition, at: datetime
    ) -> AlertEvent:
        st.reported = st.value
        value = st.value
        params: dict[str, str | float | int] = {"subject": subject, **rule.params}
        params.update(
            value=_rounded(value), threshold=_rounded(rule.threshold(st.severity)), severity=st.severity.value
        )
        resolved = transition is AlertTransition.RESOLVED
        return AlertEvent.create(
            alert_key=key,
            transition=transition,
            at=at,
            opened_at=st.since,
            severity=st.severity,
            source_kind=rule.source,
            source_id=subject,
            area_code=rule.area_code,
            message_key=rule.resolved_key if resolved else rule.message_key,
            params=params,
            value=float(value) if isinstance(value, int | float) else None,
        )


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def _rounded(value: Value) -> str | float:
    return round(float(value), 3) if isinstance(value, int | float) else value
