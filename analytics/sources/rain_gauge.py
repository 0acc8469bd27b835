"""Rain gauges: stations that only measure rain (no water level), alerting on the rain of the last 1 h and 24 h.

Config table: ``sources.rain_gauge`` (``RainGaugeConfig`` below, validated by the site loader with file and line
errors): the gauges, and thresholds per severity for each window, for the whole section or per gauge. A gauge sends
the same readings as a flood station (``rainfall_mm`` per interval, on the same MQTT topics), so its readings reach
ingest through ``sensor_stations`` and the flood stage's windows give its ``rainfall_1h_mm`` and
``rainfall_24h_mm`` observations; the rules are built here from the section (``rain_gauge:<gauge>:rain-1h`` and
``rain-24h``), no ``alerts.yaml`` entry needed.

The default 24 h thresholds follow the rain categories of Việt Nam's national hydro-meteorological forecasting
centre (Trung tâm Dự báo khí tượng thủy văn quốc gia): mưa vừa 16-50 mm in 24 h, mưa to 51-100 mm, mưa rất to
over 100 mm. A threshold is crossed when the total is above it (``>``): info above 15 mm, warning above 50 mm,
major above 100 mm. There is no national 1 h category: the 1 h thresholds are the site's own (unset: not watched).
"""

from __future__ import annotations

import itertools
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from analytics.flood import RAIN
from analytics.rules import AlertRule
from analytics.sources.base import AlertSource, locate, register
from ioc import i18n
from ioc.config.models import AreaCode, ConfigProblems, KeyPath, Lat, Lon, Name, SiteConfig
from ioc.events import Severity
from ioc.geo import AreaIndex

TYPE = "rain_gauge"
SECTION: KeyPath = ("sources", TYPE)
# The flood stage's rainfall totals this source watches (also the names of the thresholds in its config), and the
# id of the rule on each: the last part of the alert key rain_gauge:<gauge>:<rule>.
WINDOWS: tuple[tuple[str, str], ...] = (("rainfall_1h_mm", "rain-1h"), ("rainfall_24h_mm", "rain-24h"))

i18n.register(
    {
        "alert.source.rain_gauge": ("Trạm đo mưa", "Rain gauge"),
        "alert.rain_gauge.rain-1h": (
            "Trạm đo mưa {station}: mưa {value} mm trong 1 giờ (ngưỡng {threshold} mm)",
            "Rain gauge {station}: {value} mm of rain in 1 hour (threshold {threshold} mm)",
        ),
        "alert.rain_gauge.rain-24h": (
            "Trạm đo mưa {station}: mưa {value} mm trong 24 giờ (ngưỡng {threshold} mm)",
            "Rain gauge {station}: {value} mm of rain in 24 hours (threshold {threshold} mm)",
        ),
        "alert.rain_gauge.resolved": (
            "Trạm đo mưa {station}: lượng mưa đã xuống dưới ngưỡng ({value} mm)",
            "Rain gauge {station}: rainfall back below the threshold ({value} mm)",
        ),
    }
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RainThresholds(_Model):
    """Rain over one window that raises each severity, in millimetres (crossed when the total is above it)."""

    info: float | None = Field(default=None, gt=0, le=2000, title="info above (mm)")
    warning: float | None = Field(default=None, gt=0, le=2000, title="warning above (mm)")
    major: float | None = Field(default=None, gt=0, le=2000, title="major above (mm)")
    critical: float | None = Field(default=None, gt=0, le=2000, title="critical above (mm)")

    @model_validator(mode="after")
    def _increasing(self) -> RainThresholds:
        problems: list[tuple[KeyPath, str]] = [
            ((higher.value,), f"{higher.value} ({upper} mm) must be above {lower.value} ({low} mm); "
             "a more severe level needs more rain")
            for (lower, low), (higher, upper) in itertools.pairwise(self.levels())
            if upper <= low
        ]
        if problems:
            raise ConfigProblems(problems)
        return self

    def levels(self) -> tuple[tuple[Severity, float], ...]:
        """Return the thresholds that are set, least severe first."""
        values = (self.info, self.warning, self.major, self.critical)
        return tuple((sev, v) for sev, v in zip(Severity, values, strict=True) if v is not None)


# Mưa vừa, mưa to, mưa rất to (national forecasting centre): more than 15, 50 and 100 mm in 24 h.
NATIONAL_24H = RainThresholds(info=15, warning=50, major=100)


class RainGauge(_Model):
    """A station with only a rain gauge: where it is and, optionally, its own thresholds."""

    id: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,4}-\d{2,3}$")] = Field(
        title="station id", description="as in its MQTT topic, e.g. MC-11"
    )
    name: Name = Field(title="name")
    area_code: AreaCode = Field(title="area", description="code of the commune the gauge stands in")
    lon: Lon
    lat: Lat
    rainfall_1h_mm: RainThresholds | None = Field(
        default=None, title="1 h thresholds", description="default: the section's"
    )
    rainfall_24h_mm: RainThresholds | None = Field(
        default=None, title="24 h thresholds", description="default: the section's"
    )
    max_mm_per_reading: float = Field(
        default=300, gt=0, le=2000, title="most rain in one reading (mm)", description="more is a sensor fault"
    )


class RainGaugeConfig(_Model):
    """The rain gauges of a site and their default thresholds."""

    rainfall_1h_mm: RainThresholds = Field(
        default=RainThresholds(), title="1 h thresholds", description="no national category; unset: not watched"
    )
    rainfall_24h_mm: RainThresholds = Field(
        default=NATIONAL_24H, title="24 h thresholds", description="default: mưa vừa / to / rất to"
    )
    clear_for_s: float = Field(
        default=3600, ge=0, le=7 * 86_400, title="clear for (s)", description="below every threshold this long"
    )
    hysteresis_mm: float = Field(default=0, ge=0, le=500, title="hysteresis (mm)")
    stations: list[RainGauge] = Field(min_length=1, max_length=5000, title="gauges")

    @model_validator(mode="after")
    def _unique(self) -> RainGaugeConfig:
        seen: set[str] = set()
        problems: list[tuple[KeyPath, str]] = []
        for i, gauge in enumerate(self.stations):
            if gauge.id in seen:
                problems.append((("stations", i, "id"), f"rain gauge id {gauge.id!r} is used twice; give each its own"))
            seen.add(gauge.id)
        if problems:
            raise ConfigProblems(problems)
        return self

    def thresholds(self, gauge: RainGauge, metric: str) -> RainThresholds:
        """Return a gauge's thresholds of one window: its own, else the section's."""
        if metric == "rainfall_1h_mm":
            return gauge.rainfall_1h_mm or self.rainfall_1h_mm
        return gauge.rainfall_24h_mm or self.rainfall_24h_mm


@register
class RainGaugeSource(AlertSource):
    """Rain-only stations of ``sources.rain_gauge``."""

    type = TYPE
    observes = "flood"  # the flood stage turns every station's readings into rainfall totals
    metrics = tuple(metric for metric, _ in WINDOWS)
    config = RainGaugeConfig
    section = "sources.rain_gauge"
    subject_kind = "station"

    @classmethod
    def gauges(cls, site: SiteConfig) -> list[RainGauge]:
        """Return the site's rain gauges (none without a ``sources.rain_gauge`` section)."""
        section = site.source_config(TYPE, RainGaugeConfig)
        return list(section.stations) if section is not None else []

    @classmethod
    def subjects(cls, site: SiteConfig, metric: str) -> list[tuple[str, BaseModel]]:
        """Return every gauge."""
        return [(g.id, g) for g in cls.gauges(site)]

    @classmethod
    def details(
        cls, site: SiteConfig, subject: str, metric: str, areas: AreaIndex | None
    ) -> tuple[str | None, dict[str, str | float | int]]:
        """Return the gauge's commune, its name, and the unit of its values."""
        gauge = next(g for g in cls.gauges(site) if g.id == subject)
        area = locate(areas, gauge.lon, gauge.lat, gauge.area_code)
        return area, {"station": gauge.name, "name": gauge.name, "unit": "mm"}

    @classmethod
    def builtin_rules(cls, site: SiteConfig, areas: AreaIndex | None) -> list[AlertRule]:
        """Return one rule per gauge and window with thresholds set."""
        section = site.source_config(TYPE, RainGaugeConfig)
        if section is None:
            return []
        rules = []
        for gauge in section.stations:
            area, params = cls.details(site, gauge.id, "", areas)
            for metric, rule_id in WINDOWS:
                levels = section.thresholds(gauge, metric).levels()
                if not levels:
                    continue
                rules.append(
                    AlertRule(
                        id=rule_id,
                        source=TYPE,
                        observes=cls.observes,
                        subject=gauge.id,
                        metric=metric,
                        op=">",
                        levels=levels,
                        clear_for_s=section.clear_for_s,
                        hysteresis=section.hysteresis_mm,
                        area_code=area,
                        message_key=f"alert.rain_gauge.{rule_id}",
                        resolved_key="alert.rain_gauge.resolved",
                        params=params,
                    )
                )
        return rules

    @classmethod
    def tick_subjects(cls, site: SiteConfig) -> tuple[str, ...]:
        """Return every gauge (its readings are keyed by station, like a flood station's)."""
        return tuple(g.id for g in cls.gauges(site))

    @classmethod
    def sensor_stations(cls, site: SiteConfig) -> dict[str, dict[str, tuple[float, float]]]:
        """Return every gauge with the valid range of its rain per reading."""
        return {g.id: {RAIN: (0.0, g.max_mm_per_reading)} for g in cls.gauges(site)}

    @classmethod
    def check(cls, site: SiteConfig, config: BaseModel) -> list[tuple[KeyPath, str]]:
        """Return gauges in an undeclared area, and ids a flood station already has (they share MQTT topics)."""
        if not isinstance(config, RainGaugeConfig):
            return []
        codes = {a.code for a in site.areas}
        flood = {s.id for s in site.flood_stations}
        problems: list[tuple[KeyPath, str]] = []
        for i, gauge in enumerate(config.stations):
            path = (*SECTION, "stations", i)
            if gauge.area_code not in codes:
                problems.append(((*path, "area_code"), f"rain gauge {gauge.id}: area {gauge.area_code!r} is not "
                                 "declared in areas; add it to areas or fix the code"))
            if gauge.id in flood:
                problems.append(((*path, "id"), f"rain gauge {gauge.id}: a flood station has this id; readings of "
                                 "both would share one MQTT topic, give the gauge its own id"))
        return problems
