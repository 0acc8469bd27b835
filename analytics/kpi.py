"""KPI alerts: the pure core that turns a unit's KPI values into alert transitions.

Three rules, each with a stable alert key per KPI and unit:

* ``kpi:<kpi>:<unit>:below_target``: the value misses its target (below it, or above it for a KPI where lower
  is better). It opens with the first period that misses and resolves with the next period that meets the
  target.
* ``kpi:<kpi>:<unit>:sudden_change``: the value moved from the previous reported period by more than the
  unit's threshold (``CHANGE_THRESHOLDS``: 10 percentage points for a percentage, half for a count ...). A
  sudden change is often a wrong figure in a report, so it is raised in either direction; it resolves with the
  next period whose change is within the threshold.
* ``kpi:<kpi>:<unit>:missing_report``: a unit has not reported a monthly KPI ``grace_days`` after the month
  ended.

The alert state is not kept anywhere: it is derived from the unit's history of values, so the same history
gives the same transitions with the same ids, whichever worker runs it and however often. Times are period
starts (the alert for July's figure is at 1 July, local midnight) and, for missing reports, the reporting
deadline.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from ioc import i18n
from ioc.config.models import Kpi
from ioc.events import AlertEvent, AlertTransition, KpiValue, PeriodKind, Severity

logger = logging.getLogger(__name__)

i18n.register(
    {
        "alert.kpi.below_target": (
            "{unit}: {kpi} đạt {value:g}{unit_sign}, chưa đạt chỉ tiêu {target:g}{unit_sign} (kỳ {period})",
            "{unit}: {kpi} at {value:g}{unit_sign}, short of the target {target:g}{unit_sign} "
            "(period {period})",
        ),
        "alert.kpi.below_target.resolved": (
            "{unit}: {kpi} đạt {value:g}{unit_sign}, đã đạt chỉ tiêu {target:g}{unit_sign} (kỳ {period})",
            "{unit}: {kpi} at {value:g}{unit_sign}, meets the target {target:g}{unit_sign} again "
            "(period {period})",
        ),
        "alert.kpi.sudden_change": (
            "{unit}: {kpi} thay đổi bất thường từ {previous:g} thành {value:g}{unit_sign} (kỳ {period}); "
            "kiểm tra lại số liệu",
            "{unit}: {kpi} changed sharply from {previous:g} to {value:g}{unit_sign} (period {period}); "
            "check the report",
        ),
        "alert.kpi.sudden_change.resolved": (
            "{unit}: {kpi} đã ổn định ở mức {value:g}{unit_sign} (kỳ {period})",
            "{unit}: {kpi} steady again at {value:g}{unit_sign} (period {period})",
        ),
        "alert.kpi.missing_report": (
            "{unit}: chưa báo cáo {kpi} tháng {period} (hạn {deadline}, thiếu {months} kỳ)",
            "{unit}: {kpi} for {period} not reported (due {deadline}, {months} period(s) missing)",
        ),
        "alert.kpi.missing_report.resolved": (
            "{unit}: đã báo cáo {kpi} tháng {period}",
            "{unit}: {kpi} for {period} has been reported",
        ),
    }
)


@dataclass(frozen=True)
class ChangeThreshold:
    """How far a value may move between two periods before it is a sudden change.

    ``absolute`` is in the KPI's unit (percentage points for %); ``relative`` a fraction of the previous
    value, applied only when the move is also at least ``min_absolute`` (a count going from 2 to 4 is not
    news).
    """

    absolute: float | None = None
    relative: float | None = None
    min_absolute: float = 0.0

    def exceeded(self, previous: float, value: float) -> bool:
        """Return whether the move from ``previous`` to ``value`` is beyond this threshold."""
        delta = abs(value - previous)
        if self.absolute is not None and delta > self.absolute:
            return True
        if self.relative is None or delta < self.min_absolute or delta == 0:
            return False
        return previous == 0 or delta / abs(previous) > self.relative


CHANGE_THRESHOLDS: dict[str, ChangeThreshold] = {
    "%": ChangeThreshold(absolute=10.0),
    "count": ChangeThreshold(relative=0.5, min_absolute=5),
    "VND": ChangeThreshold(relative=0.3),
    "hours": ChangeThreshold(relative=0.5, min_absolute=1),
    "days": ChangeThreshold(relative=0.5, min_absolute=1),
    "score": ChangeThreshold(relative=0.2),
}
DEFAULT_GRACE_DAYS = 10
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def alert_key(kpi_id: str, unit_code: str, rule: str) -> str:
    """Return the stable key of one KPI alert of one unit."""
    return f"kpi:{kpi_id}:{unit_code}:{rule}"


def misses_target(kpi: Kpi, value: KpiValue) -> bool:
    """Return whether a value misses its target (its own, else the KPI's); False when there is no target."""
    target = value.target if value.target is not None else kpi.target
    if target is None:
        return False
    return value.value < target if kpi.higher_is_better else value.value > target


def period_label(value: KpiValue, tz: ZoneInfo = TZ) -> str:
    """Return a period as leaders write it: 07/2025, Q3/2025, 2025."""
    local = value.period_start.astimezone(tz)
    if value.period_kind is PeriodKind.MONTH:
        return f"{local.month:02d}/{local.year}"
    if value.period_kind is PeriodKind.QUARTER:
        return f"Q{(local.month - 1) // 3 + 1}/{local.year}"
    return str(local.year)


def evaluate(
    kpi_config: Kpi,
    history: Sequence[KpiValue],
    new: KpiValue,
    *,
    unit_name: str | None = None,
    thresholds: Mapping[str, ChangeThreshold] = CHANGE_THRESHOLDS,
    tz: ZoneInfo = TZ,
) -> list[AlertEvent]:
    """Return the alert transitions a new value causes, given the unit's earlier values of the same KPI.

    ``history`` may hold other units, other KPIs and the same period (a corrected re-import replaces it): they
    are ignored. A value older than the latest one in the history (a late report of a past period) causes
    nothing.
    """
    past = sorted(
        (
            v
            for v in history
            if v.kpi_id == new.kpi_id
            and v.unit_code == new.unit_code
            and v.period_kind is new.period_kind
            and v.period_start != new.period_start
        ),
        key=lambda v: v.period_start,
    )
    if past and past[-1].period_start > new.period_start:
        return []
    series = [*past, new]
    common = _common(kpi_config, new, unit_name, tz)
    alerts: list[AlertEvent] = []

    below = [misses_target(kpi_config, v) for v in series]
    target = new.target if new.target is not None else kpi_config.target
    transition = _transition(below)
    if transition is not None:
        opened = series[_run_start(below, transition)]
        resolved = transition is AlertTransition.RESOLVED
        alerts.append(
            AlertEvent.create(
                alert_key=alert_key(new.kpi_id, new.unit_code, "below_target"),
                transition=transition,
                at=new.period_start,
                opened_at=opened.period_start,
                severity=Severity.WARNING,
                message_key="alert.kpi.below_target.resolved" if resolved else "alert.kpi.below_target",
                params={**common, "target": target if target is not None else 0.0},
                value=new.value,
                **_where(new),
            )
        )

    threshold = thresholds.get(kpi_config.unit)
    if threshold is not None and past:
        jumps = [False] + [threshold.exceeded(a.value, b.value) for a, b in itertools.pairwise(series)]
        transition = _transition(jumps, update=True)
        if transition is not None:
            opened = series[_run_start(jumps, transition)]
            resolved = transition is AlertTransition.RESOLVED
            worse = (new.value < past[-1].value) == kpi_config.higher_is_better
            alerts.append(
                AlertEvent.create(
                    alert_key=alert_key(new.kpi_id, new.unit_code, "sudden_change"),
                    transition=transition,
                    at=new.period_start,
                    opened_at=opened.period_start,
                    severity=Severity.INFO if resolved or not worse else Severity.WARNING,
                    message_key="alert.kpi.sudden_change.resolved" if resolved else "alert.kpi.sudden_change",
                    params={**common, "previous": past[-1].value},
                    value=new.value,
                    **_where(new),
                )
            )
    return alerts


def _transition(flags: Sequence[bool], update: bool = False) -> AlertTransition | None:
    """Return what the last flag does to an alert that is open while the flag is set."""
    now, before = flags[-1], len(flags) > 1 and flags[-2]
    if now and not before:
        return AlertTransition.OPENED
    if before and not now:
        return AlertTransition.RESOLVED
    if now and before and update:
        return AlertTransition.UPDATED
    return None


def _run_start(flags: Sequence[bool], transition: AlertTransition) -> int:
    """Return the index where the open run the transition belongs to began."""
    i = len(flags) - 1 if transition is not AlertTransition.RESOLVED else len(flags) - 2
    while i > 0 and flags[i - 1]:
        i -= 1
    return i


def _common(kpi: Kpi, value: KpiValue, unit_name: str | None, tz: ZoneInfo) -> dict[str, str | float | int]:
    return {
        "kpi": kpi.name_vi,
        "kpi_en": kpi.name_en,
        "kpi_id": kpi.id,
        "unit": unit_name or value.unit_code,
        "unit_code": value.unit_code,
        "value": value.value,
        "period": period_label(value, tz),
        "unit_sign": " %" if kpi.unit == "%" else "",
    }


def _where(value: KpiValue) -> dict[str, str]:
    return {"source_kind": "kpi", "source_id": value.kpi_id, "area_code": value.unit_code}


def month_start(year: int, month: int, tz: ZoneInfo = TZ) -> datetime:
    """Return the start of a month (local midnight of the 1st) in UTC."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=tz).astimezone(UTC)


def missing_reports(
    kpis: Iterable[Kpi],
    units: Mapping[str, str] | Iterable[str],
    latest_by_key: Mapping[tuple[str, str], datetime],
    now: datetime,
    *,
    grace_days: int = DEFAULT_GRACE_DAYS,
    open_alerts: Mapping[str, datetime] | None = None,
    tz: ZoneInfo = TZ,
) -> list[AlertEvent]:
    """Return alerts for units that have not reported a monthly KPI ``grace_days`` after the month ended.

    ``units`` maps area code -> name (or lists codes); ``latest_by_key`` maps (kpi id, unit code) -> the
    period start of the unit's latest value. The alert for a month opens at that month's deadline (end of
    month + grace), so calling this again gives the same event. ``open_alerts`` (alert key -> opened_at of the
    alerts open now) lets a report that has arrived resolve its alert.
    """
    names = dict(units) if isinstance(units, Mapping) else {code: code for code in units}
    local_now = now.astimezone(tz)
    alerts: list[AlertEvent] = []
    for kpi in kpis:
        if kpi.period is not PeriodKind.MONTH:
            continue
        for code, name in names.items():
            key = alert_key(kpi.id, code, "missing_report")
            latest = latest_by_key.get((kpi.id, code))
            # The latest month whose deadline has passed.
            due_index = local_now.year * 12 + local_now.month - 1 - 1
            deadline = month_start(due_index // 12, due_index % 12 + 2, tz) + timedelta(days=grace_days)
            if deadline > now:
                due_index -= 1
                deadline = month_start(due_index // 12, due_index % 12 + 2, tz) + timedelta(days=grace_days)
            due = month_start(due_index // 12, due_index % 12 + 1, tz)
            params: dict[str, str | float | int] = {
                "kpi": kpi.name_vi,
                "kpi_en": kpi.name_en,
                "kpi_id": kpi.id,
                "unit": name,
                "unit_code": code,
                "period": f"{due_index % 12 + 1:02d}/{due_index // 12}",
                "deadline": deadline.astimezone(tz).strftime("%d/%m/%Y"),
            }
            where = {"source_kind": "kpi", "source_id": kpi.id, "area_code": code}
            if latest is None or latest < due:
                last = latest.astimezone(tz) if latest else None
                months = due_index - (last.year * 12 + last.month - 1) if last else 1
                alerts.append(
                    AlertEvent.create(
                        alert_key=key,
                        transition=AlertTransition.OPENED,
                        at=deadline,
                        opened_at=deadline,
                        severity=Severity.MAJOR if months >= 2 else Severity.WARNING,
                        message_key="alert.kpi.missing_report",
                        params={**params, "months": months},
                        **where,
                    )
                )
            elif open_alerts and key in open_alerts:
                alerts.append(
                    AlertEvent.create(
                        alert_key=key,
                        transition=AlertTransition.RESOLVED,
                        at=now,
                        opened_at=open_alerts[key],
                        severity=Severity.INFO,
                        message_key="alert.kpi.missing_report.resolved",
                        params=params,
                        **where,
                    )
                )
    return alerts
