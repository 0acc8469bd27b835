"""Every user-facing string in Vietnamese (default) and English.

Each module that shows text keeps its own catalog of ``key -> (vi, en)`` next to its code and registers it here;
``t(key, lang, **params)`` formats the string. A test checks that every registered key has both languages.
A number field with a format spec (``{value:.2f}``) is written in the language's separators
(``ioc.number_format``): ``3,20`` in Vietnamese, ``3.20`` in English.
"""

from __future__ import annotations

import logging
import math
import string
from collections.abc import Mapping
from typing import Any, Literal

from ioc.number_format import format_spec

logger = logging.getLogger(__name__)

Lang = Literal["vi", "en"]
LANGS: tuple[Lang, ...] = ("vi", "en")
DEFAULT_LANG: Lang = "vi"

_CATALOG: dict[str, tuple[str, str]] = {}


def register(catalog: Mapping[str, tuple[str, str]]) -> None:
    """Add strings to the catalog; a key registered twice with other text is a programming error."""
    for key, pair in catalog.items():
        old = _CATALOG.get(key)
        if old is not None and old != pair:
            raise ValueError(f"i18n key {key!r} registered twice with different text")
        if len(pair) != 2 or not all(isinstance(s, str) and s for s in pair):
            raise ValueError(f"i18n key {key!r} needs a non-empty Vietnamese and English string")
        _CATALOG[key] = pair


def t(key: str, lang: str = DEFAULT_LANG, /, **params: object) -> str:
    """Return the string for ``key`` in ``lang`` with ``params`` filled in; unknown keys come back as the key."""
    pair = _CATALOG.get(key)
    if pair is None:
        logger.warning("missing i18n key %s", key)
        return key
    text = pair[1] if lang == "en" else pair[0]
    try:
        return _NumberFormatter(lang).vformat(text, (), params) if params else text
    except (KeyError, IndexError, ValueError):
        logger.warning("i18n key %s: parameters %s do not fit %r", key, sorted(params), text)
        return text


def format_text(text: str, lang: str, params: Mapping[str, object]) -> str:
    """Fill ``text``'s fields like ``str.format``, numbers with a numeric spec in ``lang``'s separators.

    Raises what ``str.format`` raises for fields that do not fit (``t`` swallows those; callers that must refuse,
    such as the notifier's templates, call this).
    """
    return _NumberFormatter(lang).vformat(text, (), params)


class _NumberFormatter(string.Formatter):
    """``str.format`` that writes numbers with a format spec in the reader's separators."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def format_field(self, value: Any, format_spec_: str) -> Any:
        """Format one field; numbers with a numeric spec go through ``ioc.number_format``."""
        if (
            format_spec_
            and (format_spec_[-1] in "eEfFgG%" or "," in format_spec_)
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            return format_spec(value, format_spec_, self.lang)
        if not format_spec_ and isinstance(value, float) and math.isfinite(value):
            # A bare float field ({value} in a site's alert message): '49' not '49.0', '2,35' in Vietnamese.
            if value.is_integer():
                return str(int(value))
            text = repr(value)
            return text if self.lang == "en" or "e" in text else text.replace(".", ",")
        return super().format_field(value, format_spec_)


def normalise_lang(value: str | None) -> Lang:
    """Map a user's language choice to a supported one, Vietnamese by default."""
    return "en" if (value or "").lower().startswith("en") else "vi"


def catalog() -> dict[str, tuple[str, str]]:
    """Return a copy of every registered string."""
    return dict(_CATALOG)


register({
    "severity.info": ("Thông tin", "Information"),
    "severity.warning": ("Cảnh báo", "Warning"),
    "severity.major": ("Nghiêm trọng", "Major"),
    "severity.critical": ("Khẩn cấp", "Critical"),
    "flood.level.0": ("Bình thường", "Normal"),
    "flood.level.1": ("Báo động I", "Alarm level I"),
    "flood.level.2": ("Báo động II", "Alarm level II"),
    "flood.level.3": ("Báo động III", "Alarm level III"),
    "alert.flood.level": (
        "Trạm {station}: mực nước {value:.2f} m, vượt báo động {level}",
        "Station {station}: water level {value:.2f} m, above alarm level {level}",
    ),
    "alert.flood.level.resolved": (
        "Trạm {station}: mực nước {value:.2f} m, đã xuống dưới mức báo động",
        "Station {station}: water level {value:.2f} m, back below the alarm levels",
    ),
    "alert.pipeline.lag": (
        "Tiến trình xử lý {worker} đang tụt lại: {lag:,d} bản tin chờ xử lý (ngưỡng {threshold:,d}) "
        "trong hơn {held_s} giây; cảnh báo có thể đến chậm",
        "Worker {worker} is falling behind: {lag:,d} messages waiting (threshold {threshold:,d}) "
        "for over {held_s} s; alerts may come late",
    ),
    "alert.pipeline.lag.resolved": (
        "Tiến trình xử lý {worker} đã theo kịp: còn {lag:,d} bản tin chờ (cao nhất {peak:,d})",
        "Worker {worker} has caught up: {lag:,d} messages waiting (peak {peak:,d})",
    ),
    "deadletter.malformed_json": ("Dữ liệu không phải JSON hợp lệ", "Not valid JSON"),
    "deadletter.unknown_station": ("Trạm không có trong cấu hình", "Station not in the configuration"),
    "deadletter.bad_topic": ("Chủ đề MQTT không đúng mẫu", "MQTT topic does not match the scheme"),
    "deadletter.invalid_field": ("Trường dữ liệu không hợp lệ", "Invalid field"),
    "deadletter.out_of_range": ("Giá trị ngoài khoảng hợp lệ", "Value outside the valid range"),
    "deadletter.clock_skew": ("Thời điểm đo lệch quá xa", "Measurement time too far off"),
    "deadletter.rejected_by_database": ("Cơ sở dữ liệu từ chối bản ghi", "Rejected by the database"),
    "deadletter.unknown_device": (
        "Thiết bị LoRaWAN không có trong cấu hình", "LoRaWAN device not in the configuration"
    ),
    "deadletter.device_mismatch": ("DevEUI trong gói khác DevEUI của chủ đề",
                                   "The payload's DevEUI is not the topic's"),
    "deadletter.unknown_model": ("Không có bộ giải mã cho loại thiết bị này", "No decoder for this device model"),
    "deadletter.bad_payload": ("Gói dữ liệu thiết bị không đọc được", "Device payload cannot be decoded"),
    "deadletter.sensor_fault": ("Cảm biến báo lỗi hoặc ngoài vùng đo", "Sensor fault or outside its measuring range"),
})
