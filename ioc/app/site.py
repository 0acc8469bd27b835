"""The runtime step that turns a validated site config into the values the core works with.

Config stays data; this is where it becomes alarm rules, station limits, the MQTT topic scheme and the alert rules
(bound to each subject, thresholds resolved, area located on the map), once at start.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from analytics.binding import alert_setup, bind_rule
from analytics.flood import AlarmRules
from analytics.setup import AlertSetup
from analytics.sources import SOURCES
from analytics.sources.flood import alarm_rules
from ingest.flood import METRICS, FloodTopics, StationLimits
from ioc.config.models import FloodStation, SiteConfig
from ioc.geo import AreaIndex

# Re-exported: the alert binding moved to analytics.binding, the flood alarm levels to analytics.sources.flood.
__all__ = ["SiteRuntime", "alarm_rules", "alert_setup", "bind_rule", "station_limits"]

logger = logging.getLogger(__name__)


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
            limits={s.id: station_limits(s) for s in config.flood_stations} | sensor_limits(config),
            topics=FloodTopics(site_id=config.site.id),
        )

    @cached_property
    def alerts(self) -> AlertSetup:
        """Return what ``analytics.alerts.AlertProcessor`` needs; built on first use (it reads the area geometry)."""
        return alert_setup(self.config, AreaIndex.from_site(self.config, self.directory), self.rules)

    def register_alert_templates(self) -> None:
        """Register every alert's message template in this process: the KPI alerts' and the site's rule messages.

        The sender renders an alert's ``message_key`` from the catalog of its own process. The alert workers
        register these templates as they build their rules; a ``worker notify`` process builds none, so without
        this every rule and KPI alert message failed there as ``unknown_template`` (only the built-in flood levels
        went out). The alert sources' own strings (``alert.kpi.*``) come with ``analytics.sources``, imported above.
        """
        self.alerts  # noqa: B018  (building the rules registers alert.rule.*)


def station_limits(station: FloodStation) -> StationLimits:
    """Return the valid range of every metric a station may send."""
    ranges = {}
    for metric in METRICS:
        rng = station.valid_ranges.for_metric(metric)
        if rng is not None:
            ranges[metric] = (rng.min, rng.max)
    return StationLimits(station_id=station.id, ranges=ranges)


def sensor_limits(config: SiteConfig) -> dict[str, StationLimits]:
    """Return the stations alert sources add to ingest from their own sections (e.g. rain gauges)."""
    return {
        sid: StationLimits(station_id=sid, ranges=ranges)
        for source in SOURCES.values()
        for sid, ranges in source.sensor_stations(config).items()
    }
