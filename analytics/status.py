"""How a measured value stands against its limits, as the wall shows it: ok, warning, major or alarm.

These are the wall's business rules, kept apart from the queries that fetch the values (dashboards.data):

* **flood**: the station's alarm level (``analytics.flood.level_of``, 0-3) read as ok, warning, major, alarm;
* **crowd**: a camera zone is in *alarm* above its ``max_count`` or its ``max_density_per_m2`` (the same test as
  the zone's crowd flag, ``analytics.vision.zones``), in *warning* from ``CROWD_WARNING_FRACTION`` (80 %) of its
  ``max_count`` or when its congestion is heavy or jammed, else *ok*;
* **KPI**: *ok* when the value meets its target (at least it, or at most it when lower is better), else *warning*.
"""

from __future__ import annotations

from typing import Literal

Status = Literal["ok", "warning", "major", "alarm"]
# By alarm level: 0 below level I, then I, II, III.
FLOOD_STATUSES: tuple[Status, ...] = ("ok", "warning", "major", "alarm")
# A zone filled to this share of its maximum is worth a look before it overflows.
CROWD_WARNING_FRACTION = 0.8
# The congestion words (analytics.vision.congestion.CongestionLevel values) that warn of a crowd; spelt out, not
# imported, since the vision package's zones use this module's capacity rule (a test keeps the two agreeing).
CROWD_WARNING_CONGESTION: frozenset[str] = frozenset({"heavy", "jammed"})


def flood_status(level: int | None) -> Status | None:
    """Return the status of a flood station's alarm level (0-3); None without a level."""
    return None if level is None else FLOOD_STATUSES[level]


def over_capacity(
    count: float, max_count: int | None, density: float | None = None, max_density: float | None = None
) -> bool:
    """Say whether a zone holds more than its maximum count or density; unset limits are not checked."""
    return (max_count is not None and count > max_count) or (
        max_density is not None and density is not None and density > max_density
    )


def crowd_status(
    count: float,
    max_count: int | None,
    density: float | None = None,
    max_density: float | None = None,
    congestion: str | None = None,
) -> Status:
    """Return a zone's status from its count and density against its limits, and its congestion level."""
    if over_capacity(count, max_count, density, max_density):
        return "alarm"
    if (max_count is not None and count > CROWD_WARNING_FRACTION * max_count) or (
        congestion in CROWD_WARNING_CONGESTION
    ):
        return "warning"
    return "ok"


def meets_target(value: float, target: float, higher_is_better: bool) -> bool:
    """Say whether a KPI value meets its target: at least it, or at most it when lower is better."""
    return value >= target if higher_is_better else value <= target


def kpi_status(value: float | None, target: float | None, higher_is_better: bool) -> Status | None:
    """Return ok when a KPI value meets its target, warning when it does not; None without both."""
    if value is None or target is None:
        return None
    return "ok" if meets_target(value, target, higher_is_better) else "warning"
