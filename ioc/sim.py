"""Simulated flood stations: smooth rises and falls with noise, published like real stations.

The shape is a raised cosine from baseline to peak and back over ``period_s``; the noise is seeded, so a run is
reproducible. A simulated station produces the same payload bytes as a real one (``ingest.flood.encode_reading``).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime

from ingest.flood import FloodTopics, encode_reading
from ioc.config.models import SimulatedStation


@dataclass
class StationSimulator:
    """One simulated gauge."""

    station_id: str
    spec: SimulatedStation
    epoch: datetime
    seed: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(f"{self.station_id}:{self.seed}")

    def level_at(self, t: datetime) -> float:
        """Return the noiseless water level at time ``t``."""
        s = self.spec
        phase = ((t - self.epoch).total_seconds() + s.phase_s) % s.period_s / s.period_s
        return s.baseline_m + (s.peak_m - s.baseline_m) * 0.5 * (1 - math.cos(2 * math.pi * phase))

    def values_at(self, t: datetime) -> dict[str, float]:
        """Return one reading's values at ``t``, noise included."""
        s = self.spec
        level = self.level_at(t) + self._rng.uniform(-s.noise_m, s.noise_m)
        share = (self.level_at(t) - s.baseline_m) / (s.peak_m - s.baseline_m)
        rain = s.rain_peak_mm_per_h * share * s.interval_s / 3600
        return {
            "water_level_m": round(level, 3),
            "rainfall_mm": round(max(rain, 0.0), 2),
            "battery_v": round(3.9 + self._rng.uniform(-0.05, 0.05), 2),
            "signal_dbm": float(self._rng.randint(-100, -70)),
        }

    def message_at(self, t: datetime, topics: FloodTopics) -> tuple[str, bytes]:
        """Return the MQTT topic and payload this station would publish at ``t``."""
        return topics.for_station(self.station_id), encode_reading(t, self.values_at(t))
