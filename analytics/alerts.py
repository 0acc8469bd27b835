"""Rule-driven alerts: the pure engine that turns observations into alert transitions, once per episode.

Processors (``analytics.flood.FloodWindows``, ``analytics.traffic.observations``) turn events into ``Observation``
values (a metric of one subject at one time); an ``AlertEngine`` applies the site's ``AlertRule`` values to them.

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

    source: str  # what produced it: flood, zone, camera, kpi
    subject: str
    metric: str
    value: Value
    at: datetime


@dataclass(frozen=True)
class AlertRule:
    """One rule bound to one subject (or ``*``), with concrete thresholds: built from config in ``ioc.site``."""

    id: str
    source: str  # alert source kind, first part of the key: flood, traffic, crowd, camera, kpi
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


# --- the single entry both runtimes call -------------------------------------------------------------------


@dataclass(frozen=True)
class AlertSetup:
    """Everything the processor needs from the site, built once by ``ioc.site``."""

    rules: tuple[AlertRule, ...] = ()
    level_rules: Mapping[str, Any] = field(default_factory=dict)  # station id -> analytics.flood.AlarmRules
    windows: Any = None  # analytics.flood.WindowSettings; None: the defaults
    kpis: Mapping[str, Any] = field(default_factory=dict)  # kpi id -> ioc.config.models.Kpi (built-in KPI checks)
    unit_names: Mapping[str, str] = field(default_factory=dict)  # area code -> name, for KPI messages
    # Monthly KPI reports: the units that must report, the grace after a month ends, and the first month every one
    # of them must report (None: only a unit that has reported a KPI before is watched for stopping).
    reporting_units: tuple[str, ...] = ()
    kpi_grace_days: int = 10
    kpi_reports_from: str | None = None  # YYYY-MM
    # What the runtime ticks for time-driven alerts, by partition-key kind: station, camera, unit -> ids.
    subjects: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


KPI_HISTORY = 13  # a year of monthly values and the one before, enough for period-on-period checks


class AlertProcessor:
    """One call per event and per tick: flood levels, flood windows, camera-side observations and the rule engine.

    ``handle(event)`` and ``tick(now)`` return alert events; ``state()`` is a JSON-ready dict and
    ``AlertProcessor.from_state(setup, state)`` restores it, in the Faust agent or the embedded runtime alike. Flood
    alarm levels keep their own key (``flood:<station>:level``, ``analytics.flood.evaluate``); everything else is a
    rule of ``alerts.yaml``.
    """

    def __init__(self, setup: AlertSetup, state: Mapping[str, Any] | None = None) -> None:
        # Imported here: the processors import Observation from this module.
        from analytics.flood import FloodWindows, StationState, WindowSettings

        state = state or {}
        self.setup = setup
        self._levels = {sid: StationState.from_dict(d) for sid, d in state.get("levels", {}).items()}
        self._windows = FloodWindows(setup.windows or WindowSettings(), state.get("windows"))
        self._engine = AlertEngine(setup.rules, state.get("engine"))
        # Recent values per KPI and unit: the built-in KPI checks (below target, sudden change) read them.
        self._kpi_history: dict[str, list[dict[str, Any]]] = {
            k: list(v) for k, v in state.get("kpi_history", {}).items()
        }
        # Open missing-report alerts: alert key -> when it opened and its severity.
        self._kpi_missing: dict[str, dict[str, str]] = dict(state.get("kpi_missing", {}))

    @classmethod
    def from_state(cls, setup: AlertSetup, state: Mapping[str, Any] | None) -> AlertProcessor:
        """Rebuild a processor from what ``state()`` returned (``None``: a fresh start)."""
        return cls(setup, state)

    def handle(self, event: Any) -> list[AlertEvent]:
        """Process one event from the bus; events the alerts do not read give nothing."""
        from analytics import traffic
        from analytics.flood import StationState, evaluate
        from ioc.events import KpiValue, SensorReading

        out: list[AlertEvent] = []
        observations: list[Observation]
        if isinstance(event, SensorReading):
            level_rules = self.setup.level_rules.get(event.station_id)
            if level_rules is not None:
                current = self._levels.get(event.station_id, StationState())
                self._levels[event.station_id], out = evaluate(level_rules, current, event)
            observations = self._windows.update(event)
        elif isinstance(event, KpiValue):
            out += self._kpi_checks(event)
            observations = [
                Observation("kpi", event.unit_code, event.kpi_id, event.value, event.period_start)
            ]
        else:
            observations = traffic.observations(event)
        for obs in observations:
            out += self._engine.observe(obs)
        return out

    def _kpi_checks(self, event: Any) -> list[AlertEvent]:
        """Run the built-in KPI checks of ``analytics.kpi`` with the unit's recent values of the same KPI."""
        from analytics import kpi as kpi_checks
        from ioc.events import KpiValue

        config = self.setup.kpis.get(event.kpi_id)
        if config is None:
            return []
        key = f"{event.kpi_id}|{event.unit_code}"
        history = [KpiValue.model_validate(v) for v in self._kpi_history.get(key, [])]
        out = kpi_checks.evaluate(config, history, event, unit_name=self.setup.unit_names.get(event.unit_code))
        kept = [v for v in history if v.period_start != event.period_start] + [event]
        kept.sort(key=lambda v: v.period_start)
        self._kpi_history[key] = [v.model_dump(mode="json") for v in kept[-KPI_HISTORY:]]
        return out

    def tick(self, now: datetime, units: Iterable[str] | None = None) -> list[AlertEvent]:
        """Raise what time alone decides: silent stations, held or clear long enough, missing KPI reports.

        ``units`` limits the missing-report check to some reporting units (a Faust worker ticks one unit's state
        at a time; ``[]`` for a station's or camera's); ``None`` checks every reporting unit.
        """
        out: list[AlertEvent] = []
        for obs in self._windows.tick(now):
            out += self._engine.observe(obs)
        out += self._engine.tick(now)
        wanted = self.setup.reporting_units if units is None else [u for u in units if u in self.setup.reporting_units]
        if wanted:
            out += self._missing_reports(now, wanted)
        return out

    def _missing_reports(self, now: datetime, units: Iterable[str]) -> list[AlertEvent]:
        """Open, escalate or resolve the missing-report alert of each monthly KPI of each unit, once each."""
        from analytics import kpi as kpi_checks
        from ioc.events import AlertTransition, PeriodKind

        monthly = [k for k in self.setup.kpis.values() if k.period is PeriodKind.MONTH]
        if not monthly:
            return []
        required = None
        if self.setup.kpi_reports_from:
            year, month = (int(p) for p in self.setup.kpi_reports_from.split("-"))
            required = kpi_checks.month_start(year, month - 1)  # as if the month before had been reported
        latest: dict[tuple[str, str], datetime] = {}
        watched: dict[str, str] = {}
        for unit in units:
            reported = False
            for kpi in monthly:
                history = self._kpi_history.get(f"{kpi.id}|{unit}")
                if history:
                    reported = True
                    latest[(kpi.id, unit)] = max(datetime.fromisoformat(v["period_start"]) for v in history)
                elif required is not None:
                    latest[(kpi.id, unit)] = required
            if reported or required is not None:
                watched[unit] = self.setup.unit_names.get(unit, unit)
            elif any(k.startswith(f"kpi:{kpi.id}:{unit}:") for kpi in monthly for k in self._kpi_missing):
                watched[unit] = self.setup.unit_names.get(unit, unit)
        if not watched:
            return []
        # A pair with no value and no requirement yet is not overdue: drop it from what missing_reports sees.
        for unit in watched:
            for kpi in monthly:
                latest.setdefault((kpi.id, unit), now)
        opened = {k: datetime.fromisoformat(v["opened_at"]) for k, v in self._kpi_missing.items()}
        out: list[AlertEvent] = []
        for event in kpi_checks.missing_reports(
            monthly, watched, latest, now, grace_days=self.setup.kpi_grace_days, open_alerts=opened
        ):
            known = self._kpi_missing.get(event.alert_key)
            if event.transition is AlertTransition.RESOLVED:
                self._kpi_missing.pop(event.alert_key, None)
                out.append(event)
            elif known is None:
                self._kpi_missing[event.alert_key] = {"opened_at": event.at.isoformat(),
                                                      "severity": event.severity.value}
                out.append(event)
            elif event.severity.rank > Severity(known["severity"]).rank:
                known["severity"] = event.severity.value
                out.append(AlertEvent.create(
                    alert_key=event.alert_key, transition=AlertTransition.ESCALATED, at=event.at,
                    opened_at=datetime.fromisoformat(known["opened_at"]), severity=event.severity,
                    source_kind=event.source_kind, source_id=event.source_id, area_code=event.area_code,
                    message_key=event.message_key, params=event.params,
                ))
        return out

    def state(self) -> dict[str, Any]:
        """Return the whole state as plain JSON values."""
        return {
            "v": STATE_VERSION,
            "levels": {sid: st.to_dict() for sid, st in sorted(self._levels.items())},
            "windows": self._windows.to_dict(),
            "engine": self._engine.to_dict(),
            "kpi_history": {k: v for k, v in sorted(self._kpi_history.items())},
            "kpi_missing": {k: v for k, v in sorted(self._kpi_missing.items())},
        }

    def active(self) -> dict[str, Severity]:
        """Return the open rule alerts' keys and severities (flood levels not included)."""
        return self._engine.active()
