"""Numbers as leaders read them, in Vietnamese ('1.234,5', '96,6 %') or English ('1,234.5', '96.6%')."""

from __future__ import annotations

from dashboards.leaders_data import strings as _strings  # noqa: F401  (registers the unit names)
from ioc.i18n import t
from ioc.number_format import format_number, format_percent


def decimals_for(unit: str, value: float | None = None) -> int:
    """Return how many decimals a KPI's unit is shown with (counts of a single period are whole)."""
    if unit in ("count", "VND"):
        return 0 if value is None or float(value).is_integer() else 1
    return 1


def format_value(unit: str, value: float | None, lang: str) -> str:
    """Format a KPI value in its unit: '96,6 %', '1.234', '12,5 giờ'."""
    if value is None:
        return "—"
    if unit == "%":
        return format_percent(value, lang)
    text = format_number(value, lang, decimals_for(unit, value))
    return text if unit == "count" else f"{text} {t(f'leaders.unit.{unit}', lang)}"


def format_change(unit: str, change: float | None, lang: str) -> str:
    """Format a difference with its sign: '+1,2 điểm %', '-3', '+0,0 điểm %'."""
    if change is None:
        return "—"
    sign = "+" if change >= 0 else "-"
    size = abs(change)
    if unit == "%":
        return f"{sign}{format_number(size, lang, 1)} {t('leaders.unit.pp', lang)}"
    text = f"{sign}{format_number(size, lang, decimals_for(unit, size))}"
    return text if unit == "count" else f"{text} {t(f'leaders.unit.{unit}', lang)}"
