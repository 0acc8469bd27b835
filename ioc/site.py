"""The runtime step that turns a validated site config into the values the core works with.

Config stays data; this is where it becomes alarm rules, station limits and the MQTT topic scheme, once at start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from analytics.flood import AlarmRules
from ingest.flood import METRICS, FloodTopics, StationLimits
from ioc.config.models import FloodStation, SiteConfig


@dataclass(frozen=True)
class SiteRuntime:
    """What the workers of one site need, built from its config."""

    config: SiteConfig
    directory: Path
    rules: dict[str, AlarmRules]
    limits: dict[str, StationLimits]
    topics: FloodTopics

    @classmethod
    def build(cls, config: SiteConfig, directory: Path) -> SiteRuntime:
        """Build the runtime values of a site."""
        return cls(
            config=config,
            directory=directory,
            rules={s.id: alarm_rules(s) for s in config.flood_stations},
            limits={s.id: station_limits(s) for s in config.flood_stations},
            topics=FloodTopics(site_id=config.site.id),
        )


def alarm_rules(station: FloodStation) -> AlarmRules:
    """Return a station's alarm thresholds as the flood core wants them."""
    lv = station.alarm_levels
    return AlarmRules(
        station_id=station.id, station_name=station.name, thresholds=(lv.I, lv.II, lv.III),
        hysteresis_m=station.hysteresis_m, area_code=station.area_code,
    )


def station_limits(station: FloodStation) -> StationLimits:
    """Return the valid range of every metric a station may send."""
    ranges = {}
    for metric in METRICS:
        rng = station.valid_ranges.for_metric(metric)
        if rng is not None:
            ranges[metric] = (rng.min, rng.max)
    return StationLimits(station_id=station.id, ranges=ranges)
