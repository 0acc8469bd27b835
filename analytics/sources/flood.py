"""Flood stations: water level, rain and battery of a river gauge, its alarm levels I-III, rate of rise, silence.

Config table: ``flood_stations`` (``ioc.config.models.FloodStation``, in the core config: ingest, the simulator and
the wall read it too). A reading gives the station's official alarm level (``flood:<station>:level``, decided here
by ``analytics.flood.evaluate``, not by a rule) and observations ``flood`` for the rules of ``alerts.yaml``: every
measured metric, the rate of rise, rainfall over 1 h, 3 h and 24 h, and the silence since the last reading (ticked).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from analytics.flood import AlarmRules, FloodWindows, StationState, WindowSettings, evaluate
from analytics.setup import AlertSetup
from analytics.sources.base import AlertSource, Outcome, Stage, State, locate, register
from ioc.config.models import ALERT_METRICS, FloodStation, SiteConfig
from ioc.events import AlertEvent, SensorReading
from ioc.geo import AreaIndex


def alarm_rules(station: FloodStation) -> AlarmRules:
    """Return a station's alarm thresholds as the flood core wants them."""
    lv = station.alarm_levels
    return AlarmRules(
        station_id=station.id,
        station_name=station.name,
        thresholds=(lv.I, lv.II, lv.III),
        hysteresis_m=station.hysteresis_m,
        area_code=station.area_code,
    )


class FloodStage(Stage[SensorReading]):
    """Alarm levels per station, and the windows (rise, rainfall, silence) that give the rules' observations."""

    events = (SensorReading,)

    def __init__(self, setup: AlertSetup, state: State) -> None:
        super().__init__(setup, state)
        self._levels = {sid: StationState.from_dict(d) for sid, d in state.get("levels", {}).items()}
        self._windows = FloodWindows(setup.windows or WindowSettings(), state.get("windows"))

    def handle(self, event: SensorReading) -> Outcome:
        """Return a reading's alarm-level transition, if any, and its observations."""
        alerts: list[AlertEvent] = []
        level_rules = self.setup.level_rules.get(event.station_id)
        if level_rules is not None:
            current = self._levels.get(event.station_id, StationState())
            self._levels[event.station_id], alerts = evaluate(level_rules, current, event)
        return Outcome(alerts, self._windows.update(event))

    def tick(self, now: datetime, units: Sequence[str] | None) -> Outcome:
        """Return each known station's silence at ``now``."""
        return Outcome(observations=self._windows.tick(now))

    def state(self) -> dict[str, Any]:
        """Return the stations' alarm levels and windows."""
        return {
            "levels": {sid: st.to_dict() for sid, st in sorted(self._levels.items())},
            "windows": self._windows.to_dict(),
        }


@register
class FloodSource(AlertSource):
    """River and stream gauges of ``flood_stations``."""

    type = "flood"
    observes = "flood"
    metrics = ALERT_METRICS["flood"]
    stages = (FloodStage,)
    config = FloodStation
    section = "flood_stations"
    subject_kind = "station"

    @classmethod
    def subjects(cls, site: SiteConfig, metric: str) -> list[tuple[str, BaseModel]]:
        """Return every flood station."""
        return [(s.id, s) for s in site.flood_stations]

    @classmethod
    def details(
        cls, site: SiteConfig, subject: str, metric: str, areas: AreaIndex | None
    ) -> tuple[str | None, dict[str, str | float | int]]:
        """Return the station's commune and its name and river."""
        st = site.station(subject)
        return locate(areas, st.lon, st.lat, st.area_code), {"station": st.name, "river": st.river, "name": st.name}

    @classmethod
    def tick_subjects(cls, site: SiteConfig) -> tuple[str, ...]:
        """Return every station: a silent one has no event to be noticed by."""
        return tuple(s.id for s in site.flood_stations)

    @classmethod
    def configure(cls, setup: AlertSetup, site: SiteConfig) -> AlertSetup:
        """Fill in the alarm levels of every station and the rate-of-rise window."""
        windows = WindowSettings(rise_window_s=site.alerts.rise_window_s, rise_min_span_s=site.alerts.rise_min_span_s)
        levels = setup.level_rules or {s.id: alarm_rules(s) for s in site.flood_stations}
        return replace(setup, level_rules=levels, windows=windows)
