"""Simulated flood stations: one rain event per cycle and the river's answer to it, published like real stations.

Each ``period_s`` is a storm: rain, then the level rises behind it, crests at ``peak_m`` and recedes towards
``baseline_m`` (the shape is ``ioc.app.hydrograph``); the noise is seeded, so a run is reproducible. A
simulated station produces the same payload bytes as a real one (``ingest.flood.encode_reading``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from analytics.kpi import TZ, month_start
from ingest.flood import FloodTopics, encode_reading
from ioc.app.hydrograph import level_share_at, rain_share_at
from ioc.config.models import SimulatedStation, SiteConfig
from ioc.events import KpiValue, PeriodKind, stable_id


@dataclass
class StationSimulator:
    """One simulated gauge."""

    station_id: str
    spec: SimulatedStation
    epoch: datetime
    seed: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(f"{self.station_id}:{self.seed}")

    def phase_at(self, t: datetime) -> float:
        """Return where ``t`` falls in the station's rain-event cycle (0..1)."""
        s = self.spec
        return ((t - self.epoch).total_seconds() + s.phase_s) % s.period_s / s.period_s

    def level_at(self, t: datetime) -> float:
        """Return the noiseless water level at time ``t``."""
        s = self.spec
        return s.baseline_m + (s.peak_m - s.baseline_m) * level_share_at(self.phase_at(t))

    def values_at(self, t: datetime) -> dict[str, float]:
        """Return one reading's values at ``t``, noise included."""
        s = self.spec
        level = self.level_at(t) + self._rng.uniform(-s.noise_m, s.noise_m)
        rain = s.rain_peak_mm_per_h * rain_share_at(self.phase_at(t)) * s.interval_s / 3600
        return {
            "water_level_m": round(level, 3),
            "rainfall_mm": round(max(rain, 0.0), 2),
            "battery_v": round(3.9 + self._rng.uniform(-0.05, 0.05), 2),
            "signal_dbm": float(self._rng.randint(-100, -70)),
        }

    def message_at(self, t: datetime, topics: FloodTopics) -> tuple[str, bytes]:
        """Return the MQTT topic and payload this station would publish at ``t``."""
        return topics.for_station(self.station_id), encode_reading(t, self.values_at(t))


# --- KPI history for the demo -------------------------------------------------------------------------------

KPI_SIM_SOURCE = "mô phỏng / simulated"


def simulated_kpi_history(config: SiteConfig, now: datetime, *, months: int = 24, seed: int = 0) -> list[KpiValue]:
    """Return a reproducible KPI history for every commune: each indicator moves from its baseline toward its target.

    For the demo only (source ``mô phỏng / simulated``, so nobody takes it for a report): every KPI of the catalogue
    for the communes (the site's most specific level), monthly KPIs up to the last finished month, quarterly and
    yearly ones up to the last finished quarter or year, over ``months``. Each commune has its own pace and level,
    so the leaders' ranking has something to rank; a percentage stays within 0-100.
    """

    level = config.site.levels[-1].id
    communes = [a.code for a in config.areas if a.level == level]
    local = now.astimezone(TZ)
    last = local.year * 12 + local.month - 2  # the last finished month, as a month index
    first = last - months + 1
    step = {PeriodKind.MONTH: 1, PeriodKind.QUARTER: 3, PeriodKind.YEAR: 12}
    out: list[KpiValue] = []
    for kpi in config.kpis:
        base = kpi.baseline.value if kpi.baseline is not None else (kpi.target or 100.0) * 0.7
        goal = kpi.target if kpi.target is not None else base * 1.3
        for code in communes:
            rng = random.Random(f"{kpi.id}:{code}:{seed}")
            offset = rng.uniform(-0.15, 0.05) * abs(goal - base or base * 0.2)
            pace = rng.uniform(0.4, 1.1)
            for index in range(first, last + 1):
                year, month0 = divmod(index, 12)
                if month0 % step[kpi.period] != 0 or index + step[kpi.period] - 1 > last:
                    continue  # not a period start, or the period has not finished yet
                progress = min(1.0, pace * (index - first + 1) / months)
                value = base + (goal - base) * progress + offset + rng.gauss(0, abs(goal - base) * 0.04 + 0.2)
                if kpi.unit == "%":
                    value = min(100.0, max(0.0, value))
                elif kpi.unit == "count":
                    value = max(0.0, round(value))
                start = month_start(year, month0 + 1)
                out.append(KpiValue(
                    event_id=stable_id("kpi-sim", kpi.id, code, start), kpi_id=kpi.id, unit_code=code,
                    period_kind=kpi.period, period_start=start, value=round(value, 2),
                    target=None, source=KPI_SIM_SOURCE,
                ))
    out.sort(key=lambda v: (v.period_start, v.kpi_id, v.unit_code))
    return out
