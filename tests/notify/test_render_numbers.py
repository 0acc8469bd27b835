"""Messages to officers write numbers as the wall does: a decimal comma in Vietnamese."""

from __future__ import annotations

import pytest

from ioc.errors import InvalidInput
from ioc.notify.render import strict_text


def test_an_sms_in_vietnamese_writes_the_level_with_a_decimal_comma() -> None:
    # Regression: the wall said "3,20 m" while the SMS about the same alert said "3.20 m".
    params = {"station": "Nà Sang", "value": 3.2, "level": "II"}
    assert "mực nước 3,20 m" in strict_text("alert.flood.level", "vi", params)
    assert "water level 3.20 m" in strict_text("alert.flood.level", "en", params)


def test_a_value_that_does_not_fit_its_field_is_still_refused() -> None:
    with pytest.raises(InvalidInput, match=r"template_params_invalid|alert\.flood\.level"):
        strict_text("alert.flood.level", "vi", {"station": "Nà Sang", "value": "cao", "level": "II"})
