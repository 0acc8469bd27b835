"""The chat rules of a Zalo report: commands, the numbered menu, categories from keywords, what is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics.report_chat import Command, add_description, command, keyword_category, menu, menu_choice, missing
from ioc.config.loader import load_site
from ioc.config.models import ReportsConfig

SITE_DIR = Path(__file__).resolve().parents[2] / "configs" / "muong-cha"


@pytest.fixture(scope="module")
def reports() -> ReportsConfig:
    site = load_site(SITE_DIR)
    assert site.reports is not None
    return site.reports


@pytest.mark.parametrize(
    ("text", "expected"),
    [("GỬI", Command.SEND), ("gửi", Command.SEND), (" Gui. ", Command.SEND), ("send", Command.SEND),
     ("Hủy", Command.CANCEL), ("HUY", Command.CANCEL), ("EN", Command.ENGLISH), ("Tiếng Việt", Command.VIETNAMESE),
     ("menu", Command.HELP), ("gửi ảnh sau", None), ("Cây đổ", None)],
)
def test_commands(text: str, expected: Command | None) -> None:
    assert command(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", "traffic"), (" 2. ", "flooding_landslide"), ("7)", "other"), ("8", None), ("0", None), ("1 xe", None)],
)
def test_menu_numbers(reports: ReportsConfig, text: str, expected: str | None) -> None:
    assert menu_choice(text, reports) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Sạt lở taluy ở bản Huổi Lếch", "flooding_landslide"), ("sat lo dat", "flooding_landslide"),
     ("Landslide on the road", "flooding_landslide"), ("Mất an ninh trật tự ở chợ", "public_order"),
     ("Đèn chiếu sáng hỏng", "infrastructure_lighting"), ("giao thông ùn tắc", "traffic"),
     ("Khác", None), ("xin chào", None)],
)
def test_categories_from_keywords(reports: ReportsConfig, text: str, expected: str | None) -> None:
    assert keyword_category(text, reports) == expected


def test_menu_and_missing(reports: ReportsConfig) -> None:
    assert menu(reports, "vi").splitlines()[1] == "2. Ngập lụt, sạt lở"
    assert menu(reports, "en").splitlines()[0] == "1. Traffic"
    assert missing(None, None, False) == ["category", "description", "location"]
    assert missing("traffic", "x", False) == ["location"]
    assert missing("traffic", "x", True) == []
    assert add_description(None, "a") == "a" and add_description("a", "b") == "a\nb"
