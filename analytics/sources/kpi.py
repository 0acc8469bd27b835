"""KPIs: a unit's reported value of an indicator, its target, sudden changes, and monthly reports that are missing.

Config table: ``kpis`` (``ioc.config.models.Kpi``, in the core config: the KPI import and the wall read it) and
``alerts.kpi_reports``. A ``KpiValue`` gives the built-in checks of ``analytics.kpi`` (below target, sudden change:
decided here from the unit's recent values) and one observation ``kpi`` (metric: the KPI id, subject: the unit) for
the rules of ``alerts.yaml``; a tick raises the missing monthly reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from analytics import kpi as kpi_checks
from analytics.rules import Observation
from analytics.setup import AlertSetup
from analytics.sources.base import AlertSource, Outcome, Stage, State, register
from ioc.config.models import SiteConfig
from ioc.events import AlertEvent, AlertTransition, KpiValue, PeriodKind, Severity
from ioc.geo import AreaIndex

KPI = "kpi"
KPI_HISTORY = 13  # a year of monthly values and the one before, enough for period-on-period checks


class KpiStage(Stage[KpiValue]):
    """Recent values per KPI and unit (the built-in checks read them) and the open missing-report alerts."""

    events = (KpiValue,)

    def __init__(self, setup: AlertSetup, state: State) -> None:
        super().__init__(setup, state)
        self._history: dict[str, list[dict[str, Any]]] = {k: list(v) for k, v in state.get("kpi_history", {}).items()}
        # Open missing-report alerts: alert key -> when it opened and its severity.
        self._missing: dict[str, dict[str, str]] = dict(state.get("kpi_missing", {}))

    def handle(self, event: KpiValue) -> Outcome:
        """Return the built-in checks' alerts and the value as an observation."""
        observation = Observation(KPI, event.unit_code, event.kpi_id, event.value, event.period_start)
        return Outcome(self._checks(event), [observation])

    def _checks(self, event: KpiValue) -> list[AlertEvent]:
        """Run the built-in KPI checks of ``analytics.kpi`` with the unit's recent values of the same KPI."""
        config = self.setup.kpis.get(event.kpi_id)
        if config is None:
            return []
        key = f"{event.kpi_id}|{event.unit_code}"
        history = [KpiValue.model_validate(v) for v in self._history.get(key, [])]
        out = kpi_checks.evaluate(config, history, event, unit_name=self.setup.unit_names.get(event.unit_code))
        kept = [v for v in history if v.period_start != event.period_start] + [event]
        kept.sort(key=lambda v: v.period_start)
        self._history[key] = [v.model_dump(mode="json") for v in kept[-KPI_HISTORY:]]
        return out

    def tick(self, now: datetime, units: Sequence[str] | None) -> Outcome:
        """Return the missing-report transitions of the ticked reporting units (None: every one)."""
        reporting = self.setup.reporting_units
        wanted = reporting if units is None else [u for u in units if u in reporting]
        return Outcome(alerts=self._missing_reports(now, wanted) if wanted else [])

    def _missing_reports(self, now: datetime, units: Iterable[str]) -> list[AlertEvent]:
        """Open, escalate or resolve the missing-report alert of each monthly KPI of each unit, once each."""
        # A KPI computed from events (when_missing: skip, e.g. the citizens' reports') is owed by nobody.
        monthly = [k for k in self.setup.kpis.values() if k.period is PeriodKind.MONTH and k.when_missing == "zero"]
        if not monthly:
            return []
        required = None
        if self.setup.kpi_reports_from:
            year, month = (int(p) for p in self.setup.kpi_reports_from.split("-"))
            required = kpi_checks.month_start(year, month - 1)  # as if the month before had been reported
        latest: dict[tuple[str, str], datetime] = {}
        watched: dict[str, str] = {}
        for unit in units:
            reported = False
            for kpi in monthly:
                history = self._history.get(f"{kpi.id}|{unit}")
                if history:
                    reported = True
                    latest[(kpi.id, unit)] = max(datetime.fromisoformat(v["period_start"]) for v in history)
                elif required is not None:
                    latest[(kpi.id, unit)] = required
            # A unit with an open missing-report alert stays watched until the alert resolves.
            is_open = any(k.startswith(f"kpi:{kpi.id}:{unit}:") for kpi in monthly for k in self._missing)
            if reported or required is not None or is_open:
                watched[unit] = self.setup.unit_names.get(unit, unit)
        if not watched:
            return []
        # A pair with no value and no requirement yet is not overdue: drop it from what missing_reports sees.
        for unit in watched:
            for kpi in monthly:
                latest.setdefault((kpi.id, unit), now)
        opened = {k: datetime.fromisoformat(v["opened_at"]) for k, v in self._missing.items()}
        out: list[AlertEvent] = []
        for event in kpi_checks.missing_reports(
            monthly, watched, latest, now, grace_days=self.setup.kpi_grace_days, open_alerts=opened
        ):
            known = self._missing.get(event.alert_key)
            if event.transition is AlertTransition.RESOLVED:
                self._missing.pop(event.alert_key, None)
                out.append(event)
            elif known is None:
                self._missing[event.alert_key] = {"opened_at": event.at.isoformat(), "severity": event.severity.value}
                out.append(event)
            elif event.severity.rank > Severity(known["severity"]).rank:
                known["severity"] = event.severity.value
                out.append(AlertEvent.create(
                    alert_key=event.alert_key, transition=AlertTransition.ESCALATED, at=event.at,
                    opened_at=datetime.fromisoformat(known["opened_at"]), severity=event.severity,
                    source_kind=event.source_kind, source_id=event.source_id, area_code=event.area_code,
                    message_key=event.message_key, params=event.params,
                ))
        return out

    def state(self) -> dict[str, Any]:
        """Return the recent values and the open missing-report alerts."""
        return {
            "kpi_history": {k: v for k, v in sorted(self._history.items())},
            "kpi_missing": {k: v for k, v in sorted(self._missing.items())},
        }


def reporting_units(site: SiteConfig) -> tuple[str, ...]:
    """Return the units that report KPIs: the areas of the site's lowest level (communes)."""
    communes = site.site.levels[-1].id if site.site.levels else None
    return tuple(a.code for a in site.areas if a.level == communes)


@register
class KpiSource(AlertSource):
    """KPI values of units; a rule's metric is a KPI id, its subject a unit."""

    type = KPI
    observes = KPI
    stages = (KpiStage,)
    config = None  # the KPIs themselves: ``kpis`` (ioc.config.models.Kpi), read through ``subjects``
    section = "kpis"
    subject_kind = "unit"
    wildcard_rules = True  # one rule for every unit, bound to "*"

    @classmethod
    def subjects(cls, site: SiteConfig, metric: str) -> list[tuple[str, BaseModel]]:
        """Return every area with the KPI whose id is the metric (its target is what references read)."""
        kpi = next((k for k in site.kpis if k.id == metric), None)
        return [(a.code, kpi) for a in site.areas] if kpi is not None else []

    @classmethod
    def details(
        cls, site: SiteConfig, subject: str, metric: str, areas: AreaIndex | None
    ) -> tuple[str | None, dict[str, str | float | int]]:
        """Return the unit (None for the rule of every unit) and the KPI's and unit's names."""
        kpi = next(k for k in site.kpis if k.id == metric)
        area = None if subject == "*" else subject
        name = site.area(subject).name if area else ""
        return area, {"kpi": kpi.name_vi, "area": name, "name": kpi.name_vi}

    @classmethod
    def tick_subjects(cls, site: SiteConfig) -> tuple[str, ...]:
        """Return the reporting units: a unit that stops reporting sends nothing to be noticed by."""
        return reporting_units(site)

    @classmethod
    def configure(cls, setup: AlertSetup, site: SiteConfig) -> AlertSetup:
        """Fill in the KPIs, unit names and the missing-report settings."""
        return replace(
            setup,
            kpis={k.id: k for k in site.kpis},
            unit_names={a.code: a.name for a in site.areas},
            reporting_units=reporting_units(site),
            kpi_grace_days=site.alerts.kpi_reports.grace_days,
            kpi_reports_from=site.alerts.kpi_reports.required_from,
        )
