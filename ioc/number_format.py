"""Numbers as people read them, one way per language: Vietnamese ``4,16 m``, ``97,2 %``, ``1.234``; English
``4.16 m``, ``97.2%``, ``1,234``.

Every place that shows a number to a person formats it here: the wall's tiles, gauges and map, the leaders'
tables and charts, the exports, and the catalogue's own strings (``ioc.i18n.t`` formats a ``{value:.2f}``
field through ``format_spec``). Plotly draws its own axis ticks; ``plotly_separators`` gives the layout's
``separators`` for the language.
"""

from __future__ import annotations

import math

DASH = "—"  # a missing value


def _swap(text: str) -> str:
    """Swap the decimal point and the thousands comma of a number formatted the C way."""
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def format_spec(value: float, spec: str, lang: str) -> str:
    """Format a number with a Python format spec (``.2f``, ``,.0f``, ``.1%``) in ``lang``'s separators."""
    text = format(value, spec)
    if lang == "en":
        return text
    text = _swap(text)
    return f"{text[:-1]} %" if spec.endswith("%") else text


def format_number(value: float | None, lang: str, decimals: int = 0) -> str:
    """Format a number with thousands grouping: '1.234,5' in Vietnamese, '1,234.5' in English; a dash without one."""
    if value is None or math.isnan(value):
        return DASH
    return format_spec(value, f",.{decimals}f", lang)


def format_percent(value: float | None, lang: str, decimals: int = 1) -> str:
    """Format a percentage (97.24 is 97.24 %): '97,2 %' in Vietnamese, '97.2%' in English."""
    if value is None or math.isnan(value):
        return DASH
    number = format_number(value, lang, decimals)
    return f"{number}%" if lang == "en" else f"{number} %"


def format_measure(value: float | None, unit: str, lang: str, decimals: int) -> str:
    """Format a value with its unit symbol after a space: '4,16 m' / '4.16 m'; a dash without a value."""
    if value is None or math.isnan(value):
        return DASH
    return f"{format_number(value, lang, decimals)} {unit}"


def format_metres(value: float | None, lang: str) -> str:
    """Format a water level in metres with two decimals: '4,16 m' / '4.16 m'."""
    return format_measure(value, "m", lang, 2)


def plotly_separators(lang: str) -> str:
    """Return a plotly layout's ``separators`` (decimal mark, then thousands mark) for ``lang``."""
    return ".," if lang == "en" else ",."
