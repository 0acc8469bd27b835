"""What the alert processor needs from the site, as plain values: built once at start by ``analytics.binding``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from analytics.flood import AlarmRules, WindowSettings
from analytics.rules import AlertRule
from analytics.signals import SpikeRule
from ioc.config.models import Kpi, ReportDeadlineAlerts


@dataclass(frozen=True)
class AlertSetup:
    """Everything ``analytics.alerts.AlertProcessor`` needs from the site: bound rules and each source's settings."""

    rules: tuple[AlertRule, ...] = ()
    level_rules: Mapping[str, AlarmRules] = field(default_factory=dict)  # station id -> alarm levels I-III
    windows: WindowSettings | None = None  # None: the defaults
    kpis: Mapping[str, Kpi] = field(default_factory=dict)  # kpi id -> its config (built-in KPI checks)
    unit_names: Mapping[str, str] = field(default_factory=dict)  # area code -> name, for KPI messages
    # Monthly KPI reports: the units that must report, the grace after a month ends, and the first month every one
    # of them must report (None: only a unit that has reported a KPI before is watched for stopping).
    reporting_units: tuple[str, ...] = ()
    kpi_grace_days: int = 10
    kpi_reports_from: str | None = None  # YYYY-MM
    signal_spike: SpikeRule | None = None  # public signals: None when the site has no feeds
    # Citizens' reports' deadlines (None: the site takes no reports): when they alert, the units that answer
    # them (unit id -> its area, where the duty roster looks), the categories' names, the site's time zone.
    report_alerts: ReportDeadlineAlerts | None = None
    report_unit_areas: Mapping[str, str] = field(default_factory=dict)
    report_categories: Mapping[str, str] = field(default_factory=dict)
    timezone: str = "Asia/Ho_Chi_Minh"
    # What the runtime ticks for time-driven alerts, by partition-key kind: station, camera, unit -> ids.
    subjects: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
