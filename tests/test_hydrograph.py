"""The demo's simulated flood levels follow a rain event (issue 15, item 5): rain, then a rise lagging behind it,
one crest, a recession; within the station's configured range; alarm levels crossed only when configured to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from ioc.app.hydrograph import RAIN_SHARE, crest_phase, level_share_at, rain_share_at
from ioc.app.sim import StationSimulator
from ioc.config.loader import load_site
from ioc.config.models import SimulatedStation

SAMPLE = Path(__file__).resolve().parents[1] / "configs" / "muong-cha"
EPOCH = datetime(2026, 7, 1, tzinfo=UTC)
STEPS = 720


def _cycle(sim: StationSimulator) -> list[tuple[float, float, float]]:
    """(phase, rain mm/h share, level) over one cycle, from the start of the storm."""
    dt = sim.spec.period_s / STEPS
    start = EPOCH + timedelta(seconds=sim.spec.period_s - sim.spec.phase_s)  # phase 0: the storm begins
    out = []
    for i in range(STEPS):
        t = start + timedelta(seconds=i * dt)
        out.append((sim.phase_at(t), rain_share_at(sim.phase_at(t)), sim.level_at(t)))
    return out


def test_the_level_rises_after_the_rain_crests_once_and_recedes() -> None:
    levels = [level_share_at(i / STEPS) for i in range(STEPS)]
    rains = [rain_share_at(i / STEPS) for i in range(STEPS)]
    crest = max(range(STEPS), key=levels.__getitem__)
    rain_peak = max(range(STEPS), key=rains.__getitem__)
    assert 0 < rain_peak < crest, "the crest lags behind the rain's peak"
    assert crest / STEPS == pytest.approx(crest_phase(), abs=2 / STEPS)
    # The last storm's recession goes on into the first minutes of the rain (the river has not answered yet):
    # the trough comes after the rain has started and before its peak.
    trough = min(range(STEPS), key=levels.__getitem__)
    assert 0 <= trough < rain_peak and levels[0] < 0.01
    # One crest: a monotonic rise to it and a monotonic recession after it, round to the trough: never a sawtooth.
    rise, fall = levels[trough : crest + 1], levels[crest:] + levels[: trough + 1]
    assert all(b >= a - 1e-9 for a, b in pairwise(rise))
    assert all(b <= a + 1e-9 for a, b in pairwise(fall))
    # The recession is slower than the rise (a hydrograph, not a symmetric wave) and nearly back by the cycle's end.
    half_up = next(i for i, v in enumerate(levels) if v >= 0.5)
    half_down = next(i for i in range(crest, STEPS) if levels[i] <= 0.5)
    assert half_down - crest > crest - half_up
    assert levels[-1] < 0.02
    # It rains only in the storm, and the river is still high after the rain has stopped.
    assert all(r == 0 for r in rains[int(RAIN_SHARE * STEPS) + 1 :])
    assert levels[int(RAIN_SHARE * STEPS) + 1] > 0.9


def test_the_cycle_joins_up_without_a_jump() -> None:
    assert abs(level_share_at(0.0) - level_share_at(0.9999)) < 0.01
    assert all(abs(level_share_at(i / STEPS) - level_share_at((i + 1) / STEPS)) < 0.02 for i in range(STEPS))


def test_a_station_stays_between_its_baseline_and_its_peak() -> None:
    spec = SimulatedStation(baseline_m=1.2, peak_m=4.6, period_s=7200, interval_s=5, noise_m=0.02)
    sim = StationSimulator("NS-01", spec, EPOCH)
    levels = [level for _, _, level in _cycle(sim)]
    assert min(levels) == pytest.approx(1.2, abs=1e-6) and max(levels) == pytest.approx(4.6, abs=1e-3)
    for i in range(200):
        value = sim.values_at(EPOCH + timedelta(seconds=37 * i))["water_level_m"]
        assert 1.2 - 0.02 - 1e-9 <= value <= 4.6 + 0.02 + 1e-9


def test_rain_is_reported_only_while_it_falls_and_at_the_configured_intensity() -> None:
    spec = SimulatedStation(baseline_m=1.0, peak_m=2.0, period_s=3600, interval_s=60, rain_peak_mm_per_h=60)
    sim = StationSimulator("X", spec, EPOCH)
    rains = [sim.values_at(EPOCH + timedelta(seconds=60 * i))["rainfall_mm"] for i in range(60)]
    assert max(rains) == pytest.approx(1.0, abs=0.01)  # 60 mm/h for a minute
    assert all(r == 0 for r in rains[int(RAIN_SHARE * 60) + 1 :])


def test_every_configured_station_is_simulated_and_crosses_only_the_levels_it_is_meant_to() -> None:
    """MP-01 had no simulation, so it said 'no data' for ever in the demo (issue 15, item 5)."""
    site = load_site(SAMPLE)
    assert set(site.simulation.stations) == {st.id for st in site.flood_stations}
    for sid, spec in site.simulation.stations.items():
        station = site.station(sid)
        sim = StationSimulator(sid, spec, EPOCH)
        levels = [level for _, _, level in _cycle(sim)]
        for name, alarm in (("I", station.alarm_levels.I), ("II", station.alarm_levels.II),
                            ("III", station.alarm_levels.III)):
            assert (max(levels) > alarm) == (spec.peak_m > alarm), (sid, name)
        assert min(levels) < station.alarm_levels.I - station.hysteresis_m, f"{sid} never falls back below level I"
