"""A rain event and the water level it produces, as the demo's flood stations draw them.

Each cycle of a simulated station is one storm: rain falls for the first ``RAIN_SHARE`` of the cycle (intensity a
``sin²`` pulse, zero outside it), and the catchment answers as a Nash cascade of ``RESERVOIRS`` linear
reservoirs with storage constant ``STORAGE_SHARE`` of the cycle (unit hydrograph
``u(s) = s^(n-1) e^(-s/k) / (k^n (n-1)!)``), the textbook model of runoff routing. The level is the rain
convolved with that response, so it:

* stays at its trough while the first rain soaks in, then rises, lagging behind the rain (the crest comes after
  the rain's peak, usually after it has stopped);
* has one crest per cycle (a pulse convolved with a log-concave response is unimodal);
* recedes slowly towards the baseline (the exponential tail), and the next storm starts on what is left of it.

The response is periodic (earlier cycles' tails are added in) and scaled so its trough is 0 and its crest is 1;
``ioc.sim.StationSimulator`` maps that onto the station's ``baseline_m`` .. ``peak_m``, so a station crosses an
alarm level only when its configured peak is above it.
"""

from __future__ import annotations

import math
from functools import lru_cache

RAIN_SHARE = 0.2  # the rain falls during the first fifth of the cycle
RESERVOIRS = 3  # the cascade's n
STORAGE_SHARE = 0.06  # each reservoir's k, as a share of the cycle: the crest lags the rain by about n*k
SAMPLES = 2000  # points per cycle of the precomputed shape
_PAST_CYCLES = 3  # earlier storms whose recession still reaches this cycle (e^(-1/k) of them is negligible)


def rain_share_at(phase: float) -> float:
    """Return the rain's intensity at a phase of the cycle (0..1), as a share of its peak (0..1)."""
    phase %= 1.0
    if phase >= RAIN_SHARE:
        return 0.0
    return math.sin(math.pi * phase / RAIN_SHARE) ** 2


def level_share_at(phase: float) -> float:
    """Return the water level at a phase of the cycle (0..1) on the event's scale: 0 at the trough, 1 at the crest."""
    shape = _shape()
    x = (phase % 1.0) * SAMPLES
    i = int(x)
    frac = x - i
    return shape[i % SAMPLES] * (1 - frac) + shape[(i + 1) % SAMPLES] * frac


def crest_phase() -> float:
    """Return the phase of the cycle at which the level crests."""
    shape = _shape()
    return max(range(SAMPLES), key=shape.__getitem__) / SAMPLES


def _unit_hydrograph(s: float) -> float:
    n, k = RESERVOIRS, STORAGE_SHARE
    if s <= 0:
        return 0.0
    return s ** (n - 1) * math.exp(-s / k) / (k**n * math.factorial(n - 1))


@lru_cache(maxsize=1)
def _shape() -> tuple[float, ...]:
    dt = 1.0 / SAMPLES
    rain = [rain_share_at(i * dt) for i in range(int(RAIN_SHARE * SAMPLES) + 1)]
    # The response folded onto one cycle: this storm's and the tails of the earlier ones reaching this cycle.
    folded = [
        sum(_unit_hydrograph((m + c * SAMPLES) * dt) * dt for c in range(_PAST_CYCLES + 1)) for m in range(SAMPLES)
    ]
    raw = [sum(r * folded[(j - i) % SAMPLES] for i, r in enumerate(rain)) for j in range(SAMPLES)]
    low, high = min(raw), max(raw)
    return tuple((v - low) / (high - low) for v in raw)
