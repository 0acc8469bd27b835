"""The runtime step that turns a validated site config into the values the core works with.

Config stays data; this is where it becomes alarm rules, station limits, the MQTT topic scheme and the alert rules
(bound to each subject, thresholds resolved, area located on the map), once at start.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel

from analytics.alerts import AlertRule, AlertSetup
from analytics.flood import AlarmRules, WindowSettings
from ingest.flood import METRICS, FloodTopics, StationLimits
from ioc import i18n
from ioc.config.models import (
    ALERT_CATEGORIES,
    ORDERED_CATEGORIES,
    AlertRuleConfig,
    Camera,
    FloodStation,
    RuleMessage,
    SiteConfig,
    reference_value,
)
from ioc.events import Severity
from ioc.geo import AreaIndex

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
            limits={s.id: station_limits(s) for s in config.flood_stations},
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
        went out).
        """
        import analytics.kpi  # noqa: F401  (lazy on purpose: importing it registers alert.kpi.*, here only)

        self.alerts  # noqa: B018  (building the rules registers alert.rule.*)


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


def station_limits(station: FloodStation) -> StationLimits:
    """Return the valid range of every metric a station may send."""
    ranges = {}
    for metric in METRICS:
        rng = station.valid_ranges.for_metric(metric)
        if rng is not None:
            ranges[metric] = (rng.min, rng.max)
    return StationLimits(station_id=station.id, ranges=ranges)


# --- alert rules --------------------------------------------------------------------------------------------

OBSERVES = {"flood": "flood", "traffic": "zone", "crowd": "zone", "camera": "camera", "kpi": "kpi"}


def alert_setup(
    config: SiteConfig, areas: AreaIndex | None, level_rules: dict[str, AlarmRules] | None = None
) -> AlertSetup:
    """Bind every alert rule to its subjects, register its messages, and locate each subject's commune."""
    rules: list[AlertRule] = []
    for rule in config.alerts.rules:
        rules += bind_rule(config, rule, areas)
    windows = WindowSettings(
        rise_window_s=config.alerts.rise_window_s, rise_min_span_s=config.alerts.rise_min_span_s
    )
    levels = level_rules if level_rules is not None else {s.id: alarm_rules(s) for s in config.flood_stations}
    communes = config.site.levels[-1].id if config.site.levels else None
    reporting = tuple(a.code for a in config.areas if a.level == communes)
    subjects = {
        "station": tuple(s.id for s in config.flood_stations),
        "camera": tuple(c.id for c in config.cameras),
        "unit": reporting,
    }
    return AlertSetup(rules=tuple(rules), level_rules=levels, windows=windows,
                      kpis={k.id: k for k in config.kpis}, unit_names={a.code: a.name for a in config.areas},
                      reporting_units=reporting, kpi_grace_days=config.alerts.kpi_reports.grace_days,
                      kpi_reports_from=config.alerts.kpi_reports.required_from, subjects=subjects)


def bind_rule(config: SiteConfig, rule: AlertRuleConfig, areas: AreaIndex | None) -> list[AlertRule]:
    """Return one ``AlertRule`` per subject of a config rule (subjects lacking a referenced threshold are skipped)."""
    message_key = _register(rule.id, rule.message)
    resolved_key = _register(f"{rule.id}.resolved", rule.resolved_message) if rule.resolved_message else None
    known = dict(config.alert_subjects(rule.source, rule.metric))
    chosen = rule.subjects if rule.subjects is not None else list(known)
    if rule.source == "kpi" and rule.subjects is None:
        chosen = ["*"]
    bound = []
    for subject in chosen:
        model = next(iter(known.values()), None) if subject == "*" else known[subject]
        levels = _levels(rule, model)
        if levels is None:
            logger.info(
                "alert rule %s: %s has no value for its threshold reference; not watched", rule.id, subject
            )
            continue
        area, params = _subject_details(config, rule, subject, areas)
        bound.append(
            AlertRule(
                id=rule.id,
                source=rule.source,
                observes=OBSERVES[rule.source],
                subject=subject,
                metric=rule.metric,
                op=rule.condition.op,
                levels=levels,
                for_s=rule.for_s,
                clear_for_s=rule.clear_for_s,
                hysteresis=rule.condition.hysteresis,
                update_delta=rule.update_delta,
                area_code=rule.area_code or area,
                message_key=message_key,
                resolved_key=resolved_key or message_key,
                params=params,
                categories=ALERT_CATEGORIES[rule.metric] if rule.metric in ORDERED_CATEGORIES else (),
            )
        )
    return bound


def _levels(
    rule: AlertRuleConfig, model: BaseModel | None
) -> tuple[tuple[Severity, float | str], ...] | None:
    cond = rule.condition
    raw = {rule.severity: cond.value} if cond.value is not None and rule.severity else dict(cond.levels or {})
    out: list[tuple[Severity, float | str]] = []
    for sev, th in sorted(raw.items(), key=lambda kv: kv[0].rank):
        if isinstance(th, str) and rule.metric not in ALERT_CATEGORIES:
            value = reference_value(model, th) if model is not None else None
            if value is None:
                return None
            out.append((sev, value))
        else:
            out.append((sev, th))
    return tuple(out)


def _subject_details(
    config: SiteConfig, rule: AlertRuleConfig, subject: str, areas: AreaIndex | None
) -> tuple[str | None, dict[str, str | float | int]]:
    """Return the area a subject lies in and the names its messages show."""
    if rule.source == "flood":
        st = config.station(subject)
        return _locate(areas, st.lon, st.lat, st.area_code), {
            "station": st.name,
            "river": st.river,
            "name": st.name,
        }
    if rule.source == "kpi":
        kpi = next(k for k in config.kpis if k.id == rule.metric)
        area = None if subject == "*" else subject
        name = config.area(subject).name if area else ""
        return area, {"kpi": kpi.name_vi, "area": name, "name": kpi.name_vi}
    camera_id, _, zone_id = subject.partition("/")
    cam: Camera = config.camera(camera_id)
    params: dict[str, str | float | int] = {"camera": cam.name, "name": cam.name}
    if zone_id:
        zone = next(z for z in cam.zones if z.id == zone_id)
        params.update(zone=zone.name or zone.id, name=f"{cam.name} - {zone.name or zone.id}")
    return _locate(areas, cam.lon, cam.lat, cam.area_code), params


def _locate(areas: AreaIndex | None, lon: float, lat: float, declared: str) -> str:
    """Return the most specific area holding the point; the declared area when the map has none."""
    found = areas.locate(lon, lat) if areas is not None else []
    if found and found[0] != declared:
        logger.warning(
            "point %.5f, %.5f is declared in area %s but lies in %s; using %s",
            lon,
            lat,
            declared,
            found[0],
            found[0],
        )
    return found[0] if found else declared


def _register(name: str, message: RuleMessage) -> str:
    """Register a rule's templates in the i18n catalog under a key that changes when the text does."""
    digest = hashlib.sha256(f"{message.vi}\x00{message.en}".encode()).hexdigest()[:8]
    key = f"alert.rule.{name}.{digest}"
    i18n.register({key: (message.vi, message.en)})
    return key
