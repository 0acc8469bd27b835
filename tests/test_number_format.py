"""One number format per language (issue 15, item 8): vi '4,16 m', '97,2 %'; en '4.16 m', '97.2%'."""

from __future__ import annotations

import pytest

from dashboards import strings as _strings  # noqa: F401  (registers the wall catalogue)
from ioc import i18n
from ioc.number_format import (
    format_measure,
    format_metres,
    format_number,
    format_percent,
    format_spec,
    plotly_separators,
)


@pytest.mark.parametrize(
    ("call", "vi", "en"),
    [
        (lambda lang: format_metres(4.16, lang), "4,16 m", "4.16 m"),
        (lambda lang: format_metres(None, lang), "—", "—"),
        (lambda lang: format_percent(97.24, lang), "97,2 %", "97.2%"),
        (lambda lang: format_percent(float("nan"), lang), "—", "—"),
        (lambda lang: format_number(1234.5, lang, 1), "1.234,5", "1,234.5"),
        (lambda lang: format_number(-1234567, lang), "-1.234.567", "-1,234,567"),
        (lambda lang: format_measure(0.85, "người/m²", lang, 2), "0,85 người/m²", "0.85 người/m²"),
        (lambda lang: format_spec(0.5, ".1%", lang), "50,0 %", "50.0%"),
        (lambda lang: format_spec(3.0, "g", lang), "3", "3"),
    ],
)
def test_numbers_in_each_language(call: object, vi: str, en: str) -> None:
    assert call("vi") == vi  # type: ignore[operator]
    assert call("en") == en  # type: ignore[operator]


def test_catalogue_strings_write_their_numbers_in_the_readers_separators() -> None:
    """Regression: the wall's alert feed said 'mực nước 4.16 m' in Vietnamese."""
    params = {"station": "Na Sang", "value": 4.16, "level": "III"}
    assert "mực nước 4,16 m" in i18n.t("alert.flood.level", "vi", **params)
    assert "water level 4.16 m" in i18n.t("alert.flood.level", "en", **params)
    # Numbers without a numeric spec (counts, codes) and booleans are left as they are.
    assert i18n.t("wall.alerts.count", "vi", n=1234) == "1234 đang mở"


def test_plotly_separators_put_the_decimal_mark_first() -> None:
    assert plotly_separators("vi") == ",."
    assert plotly_separators("en") == ".,"
