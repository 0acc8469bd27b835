"""Citizens' reports whose deadline is near or past: an alert to the duty roster of the unit answering them.

Config table: ``reports.alerts`` (``ioc.config.models.ReportDeadlineAlerts``, in the core config beside the
categories and units that the form and the CLI read too). The report relay sends a ``ReportStatus`` after every
step of a report's trail; this source keeps the open reports of each commune (the events' key) and judges them on
ticks, in both runtimes: a report whose deadline is within ``due_soon_h`` opens ``report:<code>:deadline`` at the
due-soon severity, a report past its deadline escalates it to the overdue severity, and resolving or rejecting the
report resolves the alert. The alert's area is the unit's (``reports.units[].area_code``): a commune's People's
Committee is its commune, a provincial department the province, so the duty roster (domain ``reports``) and its
escalation reach that unit's officers and then the leader over it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from analytics.setup import AlertSetup
from analytics.sources.base import AlertSource, Outcome, Stage, State, register
from ioc import i18n
from ioc.config.models import SiteConfig
from ioc.events import AlertEvent, AlertTransition, ReportStatus, Severity
from ioc.geo import AreaIndex

TYPE = "report"
RULE = "deadline"
CLOSED = ("resolved", "rejected")
DUE_SOON_KEY = "alert.report.due_soon"
OVERDUE_KEY = "alert.report.overdue"
RESOLVED_KEY = "alert.report.resolved"

i18n.register(
    {
        "alert.source.report": ("Phản ánh của người dân", "Citizens' report"),
        DUE_SOON_KEY: (
            "Phản ánh {code} ({category}) sắp đến hạn xử lý: {deadline}",
            "Report {code} ({category}) is due soon: {deadline}",
        ),
        OVERDUE_KEY: (
            "Phản ánh {code} ({category}) đã quá hạn xử lý: {deadline}",
            "Report {code} ({category}) is overdue: {deadline}",
        ),
        RESOLVED_KEY: (
            "Phản ánh {code} ({category}) đã được xử lý",
            "Report {code} ({category}) has been dealt with",
        ),
    }
)


def alert_key(code: str) -> str:
    """Return the key of a report's deadline alert."""
    return f"{TYPE}:{code}:{RULE}"


class ReportStage(Stage[ReportStatus]):
    """The open reports (by code: deadline, category, unit, commune) and the severity of each one's open alert."""

    events = (ReportStatus,)

    def __init__(self, setup: AlertSetup, state: State) -> None:
        super().__init__(setup, state)
        self._open: dict[str, dict[str, Any]] = {k: dict(v) for k, v in state.get("reports_open", {}).items()}

    def handle(self, event: ReportStatus) -> Outcome:
        """Keep an open report's latest deadline and unit; a closed one leaves, resolving its alert."""
        known = self._open.get(event.code)
        if known is not None and known["step"] > event.step_id:
            return Outcome()  # an older step replayed after a newer one
        if event.status in CLOSED:
            if known is None:
                return Outcome()
            del self._open[event.code]
            if known.get("severity") is None:
                return Outcome()
            return Outcome(alerts=[self._alert(event.code, known, AlertTransition.RESOLVED,
                                               Severity(known["severity"]), event.at, RESOLVED_KEY)])
        entry = {
            "step": event.step_id, "deadline": event.deadline.isoformat(), "category": event.category,
            "unit": event.unit_id, "commune": event.commune_code,
        }
        if known is not None:
            entry["severity"] = known.get("severity")
            entry["opened_at"] = known.get("opened_at")
        self._open[event.code] = entry
        return Outcome()

    def tick(self, now: datetime, units: Sequence[str] | None) -> Outcome:
        """Open or escalate the deadline alert of every open report that is due soon or overdue."""
        config = self.setup.report_alerts
        if config is None:
            return Outcome()
        out: list[AlertEvent] = []
        for code in sorted(self._open):
            report = self._open[code]
            deadline = datetime.fromisoformat(report["deadline"])
            if now > deadline:
                wanted, key = config.overdue_severity, OVERDUE_KEY
            elif now >= deadline - timedelta(hours=config.due_soon_h):
                wanted, key = config.due_soon_severity, DUE_SOON_KEY
            else:
                continue
            current = report.get("severity")
            if current is None:
                report["severity"], report["opened_at"] = wanted.value, now.isoformat()
                out.append(self._alert(code, report, AlertTransition.OPENED, wanted, now, key))
            elif wanted.rank > Severity(current).rank:
                report["severity"] = wanted.value
                out.append(self._alert(code, report, AlertTransition.ESCALATED, wanted, now, key))
        return Outcome(alerts=out)

    def _alert(self, code: str, report: dict[str, Any], transition: AlertTransition, severity: Severity,
               at: datetime, message_key: str) -> AlertEvent:
        deadline = datetime.fromisoformat(report["deadline"]).astimezone(ZoneInfo(self.setup.timezone))
        return AlertEvent.create(
            alert_key=alert_key(code), transition=transition, at=at,
            opened_at=datetime.fromisoformat(report["opened_at"]), severity=severity, source_kind=TYPE,
            source_id=code, area_code=self.setup.report_unit_areas.get(report["unit"], report["commune"]),
            message_key=message_key,
            params={
                "code": code, "category": self.setup.report_categories.get(report["category"], report["category"]),
                "deadline": deadline.strftime("%H:%M %d/%m/%Y"), "unit": report["unit"],
                "commune": report["commune"],
            },
        )

    def state(self) -> dict[str, Any]:
        """Return the open reports."""
        return {"reports_open": {k: v for k, v in sorted(self._open.items())}}


@register
class ReportSource(AlertSource):
    """Deadlines of citizens' reports; the subject is a report's code, ticked by commune."""

    type = TYPE
    observes = TYPE
    stages = (ReportStage,)
    config = None  # reports.alerts (ioc.config.models.ReportDeadlineAlerts), read by configure
    section = "reports"
    subject_kind = "commune"

    @classmethod
    def subjects(cls, site: SiteConfig, metric: str) -> list[tuple[str, BaseModel]]:
        """Return nothing: reports come and go, so no rule of ``alerts.yaml`` watches one."""
        return []

    @classmethod
    def details(
        cls, site: SiteConfig, subject: str, metric: str, areas: AreaIndex | None
    ) -> tuple[str | None, dict[str, str | float | int]]:
        """Return no area: the alerts name their report's unit themselves."""
        return None, {"code": subject}

    @classmethod
    def configure(cls, setup: AlertSetup, site: SiteConfig) -> AlertSetup:
        """Fill in the deadline settings, the units' areas and the categories' names."""
        if site.reports is None:
            return setup
        return replace(
            setup,
            report_alerts=site.reports.alerts,
            report_unit_areas={u.id: u.area_code for u in site.reports.units},
            report_categories={c.id: c.name for c in site.reports.categories},
            timezone=site.site.timezone,
        )
