"""Congestion level of a lane or zone from how full it is and how fast its vehicles move (a pure function).

Two readings are combined:

- **occupancy**: vehicles inside divided by the zone's capacity (how many vehicles fit when it is jammed). Its
  level: ``free`` below ``moderate_occupancy`` (0.30), ``moderate`` below ``heavy_occupancy`` (0.60),
  ``heavy`` below ``jammed_occupancy`` (0.85), ``jammed`` from there.
- **speed**: the mean anchor speed of the tracks inside, in image pixels per second. Its level: ``free`` from
  ``free_speed_px_s`` (40), ``moderate`` from ``slow_speed_px_s`` (15), ``heavy`` from ``stop_speed_px_s``
  (4), ``jammed`` below. The defaults are for a 720-pixel-high picture of a street 10-40 m away; use
  :meth:`CongestionThresholds.for_frame_height` for other sizes.

The level is the occupancy level, raised by slow speed to at most one level above it: a full road crawling is
jammed, a half-full road crawling is heavy, but one slow or parked vehicle on an empty road stays free (speed
is ignored below ``min_occupancy_for_speed``, 0.15). Without a capacity, the speed level alone is used once at
least ``min_vehicles`` (3) vehicles are inside, capped at ``heavy``: without knowing how full the road is,
``jammed`` cannot be told apart from a queue at a red light.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class CongestionLevel(StrEnum):
    """How congested a lane or zone is, from least to most."""

    FREE = "free"
    MODERATE = "moderate"
    HEAVY = "heavy"
    JAMMED = "jammed"

    @property
    def rank(self) -> int:
        """Return 0 for free up to 3 for jammed."""
        return _LEVELS.index(self)


_LEVELS = list(CongestionLevel)


@dataclass(frozen=True)
class CongestionThresholds:
    """Where the congestion levels start; see the module docstring for what each means."""

    moderate_occupancy: float = 0.30
    heavy_occupancy: float = 0.60
    jammed_occupancy: float = 0.85
    free_speed_px_s: float = 40.0
    slow_speed_px_s: float = 15.0
    stop_speed_px_s: float = 4.0
    min_occupancy_for_speed: float = 0.15
    min_vehicles: int = 3

    def for_frame_height(self, height_px: float) -> CongestionThresholds:
        """Return these thresholds with speeds scaled from a 720-pixel-high frame to ``height_px``."""
        k = height_px / 720.0
        return replace(
            self,
            free_speed_px_s=self.free_speed_px_s * k,
            slow_speed_px_s=self.slow_speed_px_s * k,
            stop_speed_px_s=self.stop_speed_px_s * k,
        )


DEFAULT_THRESHOLDS = CongestionThresholds()


def congestion_level(
    vehicles: int,
    mean_speed_px_s: float | None,
    capacity: int | None = None,
    thresholds: CongestionThresholds = DEFAULT_THRESHOLDS,
) -> CongestionLevel:
    """Return the congestion level of a zone holding ``vehicles`` moving at ``mean_speed_px_s`` on average."""
    if vehicles <= 0:
        return CongestionLevel.FREE
    th = thresholds
    speed_rank = _speed_rank(mean_speed_px_s, th)
    if capacity is None or capacity <= 0:
        if vehicles < th.min_vehicles or speed_rank is None:
            return CongestionLevel.FREE
        return _LEVELS[min(speed_rank, CongestionLevel.HEAVY.rank)]
    occupancy = vehicles / capacity
    occ_rank = sum(occupancy >= x for x in (th.moderate_occupancy, th.heavy_occupancy, th.jammed_occupancy))
    rank = occ_rank
    if speed_rank is not None and occupancy >= th.min_occupancy_for_speed:
        rank = max(rank, min(speed_rank, occ_rank + 1))
    return _LEVELS[rank]


def _speed_rank(speed: float | None, th: CongestionThresholds) -> int | None:
    if speed is None:
        return None
    return sum(speed < x for x in (th.free_speed_px_s, th.slow_speed_px_s, th.stop_speed_px_s))
