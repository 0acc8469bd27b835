"""Every user-facing string exists in Vietnamese and English, with the same placeholders in both."""

from __future__ import annotations

import importlib
import string

import pytest

from ioc import i18n

# Modules that register strings when imported.
MODULES = ["ioc.app.cli.main", "ioc.app.bench.ingest", "dashboards.strings", "ioc.app.cli.models",
           "ioc.app.cli.ingest", "ioc.app.cli.bench", "ioc.app.cli.kpi",
           "analytics.kpi", "ioc.app.bench.alerts", "ioc.app.bench.vision", "ioc.notify.callbacks",
           "ioc.app.cli.notify",
           "ioc.notify.render", "ioc.app.bench.delivery",
           "ioc.app.bench.dashboard", "dashboards.leaders_data", "dashboards.leaders", "dashboards.export"]


@pytest.fixture(scope="module")
def catalog() -> dict[str, tuple[str, str]]:
    for name in MODULES:
        importlib.import_module(name)
    return i18n.catalog()


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_catalog_is_not_empty(catalog: dict[str, tuple[str, str]]) -> None:
    assert len(catalog) > 50


def test_both_languages_with_the_same_placeholders(catalog: dict[str, tuple[str, str]]) -> None:
    bad = [key for key, (vi, en) in catalog.items() if not vi or not en or fields(vi) != fields(en)]
    assert bad == []


def test_vietnamese_is_the_default_and_english_switches() -> None:
    assert i18n.t("flood.level.2") == "Báo động II"
    assert i18n.t("flood.level.2", "en") == "Alarm level II"
    assert i18n.normalise_lang("EN-us") == "en" and i18n.normalise_lang(None) == "vi"


def test_alert_message_renders_in_both_languages() -> None:
    params = {"station": "Nậm Chà", "value": 3.2, "level": "II"}
    assert i18n.t("alert.flood.level", "vi", **params) == "Trạm Nậm Chà: mực nước 3,20 m, vượt báo động II"
    assert i18n.t("alert.flood.level", "en", **params) == "Station Nậm Chà: water level 3.20 m, above alarm level II"


def test_registering_a_key_twice_with_other_text_is_refused() -> None:
    with pytest.raises(ValueError):
        i18n.register({"flood.level.2": ("khác", "other")})


def test_a_bare_float_field_reads_as_people_write_numbers() -> None:
    text, params = "{camera}: {value} người, ngưỡng {threshold}", {"camera": "C1", "value": 49.0, "threshold": 2.35}
    assert i18n.format_text(text, "vi", params) == "C1: 49 người, ngưỡng 2,35"
    assert i18n.format_text(text, "en", params) == "C1: 49 người, ngưỡng 2.35"
    assert i18n.format_text("{n} {x:.1f}", "vi", {"n": 3, "x": 2.0}) == "3 2,0"  # ints and explicit specs unchanged
