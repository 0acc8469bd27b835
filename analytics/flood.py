"""Flood alarm levels: the pure core that turns a station's readings into alert transitions.

A station has three official alarm levels (báo động I, II, III), set per station. A level is entered when the water
reaches its threshold and left only when the water falls ``hysteresis_m`` below it, so a level that hovers around a
threshold does not open and close an alert with every reading. The state is a small value; the same function runs in
the Faust agent and in the embedded bus.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from analytics.rules import Observation
from ioc.events import AlertEvent, AlertTransition, SensorReading, Severity

WATER_LEVEL = "water_level_m"
LEVEL_SEVERITY: dict[int, Severity] = {1: Severity.WARNING, 2: Severity.MAJOR, 3: Severity.CRITICAL}
LEVEL_NAMES: dict[int, str] = {0: "—", 1: "I", 2: "II", 3: "III"}


@dataclass(frozen=True)
class AlarmRules:
    """One station's alarm thresholds (metres, strictly increasing) and hysteresis."""

    station_id: str
    station_name: str
    thresholds: tuple[float, float, float]
    hysteresis_m: float
    area_code: str | None = None


@dataclass(frozen=True)
class StationState:
    """What the processor remembers about one station between readings."""

    level: int = 0
    opened_at: datetime | None = None
    last_observed_at: datetime | None = None
    last_value: float | None = None

    def to_dict(self) -> dict[str, object]:
        """Serialise for a Faust table or a snapshot."""
        return {
            "level": self.level,
            "opened_at": self.opened_at.isoformat() if self.opened_at else None,
            "last_observed_at": self.last_observed_at.isoformat() if self.last_observed_at else None,
            "last_value": self.last_value,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object] | None) -> StationState:
        """Parse what ``to_dict`` wrote; ``None`` is a station never seen."""
        if not data:
            return cls()

        def ts(v: object) -> datetime | None:
            return datetime.fromisoformat(v) if isinstance(v, str) else None

        value = data.get("last_value")
        level = data.get("level", 0)
        return cls(
            level=level if isinstance(level, int) else 0,
            opened_at=ts(data.get("opened_at")),
            last_observed_at=ts(data.get("last_observed_at")),
            last_value=float(value) if isinstance(value, int | float) else None,
        )


def level_of(
    value: float, thresholds: tuple[float, float, float], current: int = 0, hysteresis_m: float = 0.0
) -> int:
    """Return the alarm level (0-3) for ``value``, leaving the current level only below its threshold - hysteresis."""
    raw = sum(1 for th in thresholds if value >= th)
    if raw >= current:
        return raw
    # Falling: step down only past each level's release point (threshold - hysteresis).
    level = current
    while level > 0 and value < thresholds[level - 1] - hysteresis_m:
        level -= 1
    return level


def evaluate(
    rules: AlarmRules, state: StationState, reading: SensorReading
) -> tuple[StationState, list[AlertEvent]]:
    """Apply one reading to a station's state; return the new state and the alert transitions it causes.

    Readings older than the last one seen (replays, late delivery) change nothing, so re-processing a stream after a
    restart gives the same alerts with the same ids.
    """
    value = reading.values.get(WATER_LEVEL)
    if value is None:
        return state, []
    if state.last_observed_at is not None and reading.observed_at <= state.last_observed_at:
        return state, []

    at = reading.observed_at
    new_level = level_of(value, rules.thresholds, state.level, rules.hysteresis_m)
    seen = replace(state, last_observed_at=at, last_value=value)
    if new_level == state.level:
        return seen, []

    if state.level == 0:
        transition, opened_at = AlertTransition.OPENED, at
    elif new_level == 0:
        transition, opened_at = AlertTransition.RESOLVED, state.opened_at or at
    elif new_level > state.level:
        transition, opened_at = AlertTransition.ESCALATED, state.opened_at or at
    else:
        transition, opened_at = AlertTransition.UPDATED, state.opened_at or at

    shown_level = new_level if new_level else state.level
    alert = AlertEvent.create(
        alert_key=f"flood:{rules.station_id}:level",
        transition=transition,
        at=at,
        opened_at=opened_at,
        severity=LEVEL_SEVERITY[shown_level],
        source_kind="flood",
        source_id=rules.station_id,
        area_code=rules.area_code,
        message_key="alert.flood.level.resolved" if new_level == 0 else "alert.flood.level",
        params={
            "station": rules.station_name,
            "level": LEVEL_NAMES[shown_level],
            "value": round(value, 3),
            "alarm_level": new_level,
        },
        value=value,
    )
    new_state = replace(seen, level=new_level, opened_at=None if new_level == 0 else opened_at)
    return new_state, [alert]


def step(
    rules_by_station: dict[str, AlarmRules], stored: dict[str, object] | None, reading: SensorReading
) -> tuple[dict[str, object] | None, list[AlertEvent]]:
    """Run one reading through its station's rules, with the state as stored by either runtime.

    Returns the state to store (``None``: nothing to store, the station is not configured) and the alerts to send.
    """
    rules = rules_by_station.get(reading.station_id)
    if rules is None:
        return None, []
    state, alerts = evaluate(rules, StationState.from_dict(stored), reading)
    return state.to_dict(), alerts


# --- windows: rate of rise, rainfall, silence --------------------------------------------------------------

SOURCE = "flood"
RAIN = "rainfall_mm"
RISE = "rise_m_per_h"
SILENCE = "silence_s"
RAIN_WINDOWS: tuple[tuple[str, int], ...] = (
    ("rainfall_1h_mm", 3600),
    ("rainfall_3h_mm", 3 * 3600),
    ("rainfall_24h_mm", 24 * 3600),
)
DERIVED_METRICS: tuple[str, ...] = (RISE, SILENCE, *(name for name, _ in RAIN_WINDOWS))


@dataclass(frozen=True)
class WindowSettings:
    """How far back the rate of rise looks, and how much history it needs before it says anything."""

    rise_window_s: float = 3600.0
    rise_min_span_s: float = 900.0


# The windows keep one-minute buckets, not every reading: a station that reports every second (a bench, a
# backlog being caught up) keeps at most 61 level buckets and 1,440 rain buckets, so a reading costs the same
# whatever the cadence, and the stored state stays small. At one reading a minute or slower (every real gauge)
# a bucket holds one reading and the figures are exactly those of the readings; faster, the window's edge
# moves by whole minutes.
BUCKET_S = 60
_MICRO = 1_000_000  # rain is summed in micro-millimetres: integers, so long running sums do not drift


def _epoch_s(at: datetime) -> float:
    return at.timestamp()


@dataclass
class _LevelBucket:
    """The levels of one minute as least-squares sums; ``u`` is seconds since the minute began."""

    minute: int
    n: int = 0
    su: float = 0.0
    sv: float = 0.0
    suu: float = 0.0
    suv: float = 0.0
    first_u: float = 0.0
    last_u: float = 0.0

    def add(self, u: float, v: float) -> None:
        if self.n == 0:
            self.first_u = u
        self.n += 1
        self.su += u
        self.sv += v
        self.suu += u * u
        self.suv += u * v
        self.last_u = u

    def to_list(self) -> list[float]:
        return [self.minute, self.n, self.su, self.sv, self.suu, self.suv, self.first_u, self.last_u]

    @classmethod
    def from_list(cls, row: list[float]) -> _LevelBucket:
        m, n, su, sv, suu, suv, first_u, last_u = row
        return cls(int(m), int(n), su, sv, suu, suv, first_u, last_u)


def _slope(buckets: list[_LevelBucket], min_span_s: float) -> float | None:
    """Return the least-squares slope in m/h of the levels summed in ``buckets``, or ``None`` (too short)."""
    n = sum(b.n for b in buckets)
    if n < 2:
        return None
    origin = buckets[0].minute
    sx = sy = sxx = sxy = 0.0
    for b in buckets:
        off = float((b.minute - origin) * BUCKET_S)
        sx += b.n * off + b.su
        sy += b.sv
        sxx += b.n * off * off + 2 * off * b.su + b.suu
        sxy += off * b.sv + b.suv
    span = (buckets[-1].minute - origin) * BUCKET_S + buckets[-1].last_u - buckets[0].first_u
    if span < min_span_s:
        return None
    var = sxx - sx * sx / n
    if var <= 1e-9 * max(1.0, sxx):
        return None
    return (sxy - sx * sy / n) / var * 3600


class _Rain:
    """Rain per minute over the longest window, with a running total per window."""

    def __init__(self, buckets: list[list[int]] | None = None) -> None:
        self.buckets: list[list[int]] = buckets or []  # [minute, micro-mm], oldest first
        self._first = [0] * len(RAIN_WINDOWS)  # per window: index of its first bucket
        self._sums = [sum(b[1] for b in self.buckets)] * len(RAIN_WINDOWS)

    def update(self, minute: int, rain: float) -> list[float]:
        """Add a reading's rain at ``minute`` (0 too: it moves the windows); return each window's total in mm."""
        micro = round(rain * _MICRO)
        if micro > 0:
            if self.buckets and self.buckets[-1][0] == minute:
                self.buckets[-1][1] += micro
            else:
                self.buckets.append([minute, micro])
            self._sums = [s + micro for s in self._sums]
        for k, (_, seconds) in enumerate(RAIN_WINDOWS):
            first, total, width = self._first[k], self._sums[k], seconds // BUCKET_S
            while first < len(self.buckets) and minute - self.buckets[first][0] >= width:
                total -= self.buckets[first][1]
                first += 1
            self._first[k], self._sums[k] = first, total
        # What has left the longest window is dropped, now and then (not every reading: a list's front is dear).
        gone = min(self._first)
        if gone > 64 or (gone and gone * 2 >= len(self.buckets)):
            del self.buckets[:gone]
            self._first = [f - gone for f in self._first]
        return [s / _MICRO for s in self._sums]

    def to_list(self) -> list[list[int]]:
        return [list(b) for b in self.buckets[min(self._first):]]


@dataclass
class _StationWindow:
    last_at: datetime | None = None
    levels: list[_LevelBucket] = field(default_factory=list)
    rain: _Rain = field(default_factory=_Rain)

    def to_dict(self) -> dict[str, Any]:
        return {
            "last_at": self.last_at.isoformat() if self.last_at else None,
            "levels_1m": [b.to_list() for b in self.levels],
            "rain_1m": self.rain.to_list(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> _StationWindow:
        last = data.get("last_at")
        win = cls(last_at=datetime.fromisoformat(last) if last else None)
        if "levels_1m" in data or "rain_1m" in data:
            win.levels = [_LevelBucket.from_list(row) for row in data.get("levels_1m", [])]
            win.rain = _Rain([[int(m), int(v)] for m, v in data.get("rain_1m", [])])
            return win
        # State written before the buckets (a Faust changelog, an embedded snapshot): every reading a point.
        for t, v in data.get("levels", []):
            win.add_level(datetime.fromisoformat(t), float(v))
        rain: dict[int, int] = {}
        for t, v in data.get("rain", []):
            m = int(_epoch_s(datetime.fromisoformat(t)) // BUCKET_S)
            rain[m] = rain.get(m, 0) + round(float(v) * _MICRO)
        win.rain = _Rain([[m, v] for m, v in sorted(rain.items()) if v > 0])
        return win

    def add_level(self, at: datetime, value: float) -> None:
        s = _epoch_s(at)
        minute = int(s // BUCKET_S)
        if not self.levels or self.levels[-1].minute != minute:
            self.levels.append(_LevelBucket(minute))
        self.levels[-1].add(s - minute * BUCKET_S, value)

    def expire_levels(self, at: datetime, window_s: float) -> None:
        """Drop the buckets whose every reading is older than ``window_s`` before ``at``."""
        now = _epoch_s(at)
        keep = 0
        for b in self.levels:
            if now - (b.minute * BUCKET_S + b.last_u) <= window_s:
                break
            keep += 1
        if keep:
            del self.levels[:keep]


class FloodWindows:
    """Turns each station's readings into observations: raw metrics, rate of rise, rainfall totals, silence."""

    def __init__(
        self, settings: WindowSettings = WindowSettings(), state: Mapping[str, Any] | None = None
    ) -> None:
        self.settings = settings
        self._stations = {sid: _StationWindow.from_dict(d) for sid, d in (state or {}).items()}

    def update(self, reading: SensorReading) -> list[Observation]:
        """Fold one reading into its station's windows; return the observations it gives (none for a replay)."""
        sid, at = reading.station_id, reading.observed_at
        win = self._stations.get(sid)
        if win is None:
            win = self._stations[sid] = _StationWindow()
        if win.last_at is not None and at <= win.last_at:
            return []
        win.last_at = at
        out = [
            Observation(SOURCE, sid, metric, value, at) for metric, value in sorted(reading.values.items())
        ]
        # The station is back: reported at reception time, never before the tick that found it silent.
        out.append(Observation(SOURCE, sid, SILENCE, 0.0, max(at, reading.received_at)))
        level = reading.values.get(WATER_LEVEL)
        if level is not None:
            win.expire_levels(at, self.settings.rise_window_s)
            win.add_level(at, level)
            rise = _slope(win.levels, self.settings.rise_min_span_s)
            if rise is not None:
                out.append(Observation(SOURCE, sid, RISE, round(rise, 4), at))
        rain = reading.values.get(RAIN)
        if rain is not None:
            totals = win.rain.update(int(_epoch_s(at) // BUCKET_S), max(rain, 0.0))
            for (metric, _), total in zip(RAIN_WINDOWS, totals, strict=True):
                out.append(Observation(SOURCE, sid, metric, round(total, 2), at))
        return out

    def tick(self, now: datetime) -> list[Observation]:
        """Return each known station's silence (seconds since its last reading) at ``now``."""
        return [
            Observation(SOURCE, sid, SILENCE, (now - win.last_at).total_seconds(), now)
            for sid, win in sorted(self._stations.items())
            if win.last_at is not None and now > win.last_at
        ]

    def to_dict(self) -> dict[str, Any]:
        """Serialise every station's windows."""
        return {sid: win.to_dict() for sid, win in sorted(self._stations.items())}


def rate_of_rise(levels: list[tuple[datetime, float]], min_span_s: float) -> float | None:
    """Return the least-squares slope of the levels in m/h, or ``None`` when they span less than ``min_span_s``."""
    win = _StationWindow()
    for at, value in levels:
        win.add_level(at, value)
    return _slope(win.levels, min_span_s)
