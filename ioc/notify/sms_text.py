"""SMS text: GSM-7 or UCS-2, how many segments a text costs, Vietnamese without diacritics, and fitting a
budget.

A text that uses only the GSM 03.38 default alphabet (the extension characters ``^{}\\[~]|€`` and form feed
count two septets each) travels as GSM-7: 160 characters in one segment, 153 per segment once it is split.
Anything else, which includes every Vietnamese letter with a diacritic, travels as UCS-2: 70 code units alone,
67 per segment split. A character is never split across two segments (an escape and its character, a surrogate
pair stay together), so the counts here follow how a handset actually concatenates.

Many Vietnamese brandname routes are priced per segment and some refuse Unicode, so ``fit`` removes the
diacritics when the channel does not allow Unicode (``unaccent``: đ→d, Đ→D, every tone and vowel mark) and
shortens the text with an ellipsis to stay within the channel's segment budget, keeping a required tail (the
reply instruction).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

Encoding = Literal["gsm7", "ucs2"]

# GSM 03.38 default alphabet (one septet each) and its extension table (escape + char: two septets each).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67

_SPECIAL = str.maketrans({"đ": "d", "Đ": "D", "ð": "d", "Ð": "D"})
# Typographic characters that often slip into rendered text, mapped to GSM-7 look-alikes.
_TYPOGRAPHIC = str.maketrans(
    {
        "…": "...",
        "\u2013": "-",
        "—": "-",
        "\u2018": "'",
        "\u2019": "'",
        "“": '"',
        "”": '"',
        "\u00a0": " ",
        "•": "-",
        "°": "o",
    }
)


@dataclass(frozen=True)
class SmsText:
    """A text ready for a gateway: its encoding, its segment count, and whether it was changed to fit."""

    text: str
    encoding: Encoding
    segments: int
    unaccented: bool = False
    truncated: bool = False

    @property
    def unicode(self) -> bool:
        """Whether the gateway must be told to send Unicode (UCS-2)."""
        return self.encoding == "ucs2"


def is_gsm7(text: str) -> bool:
    """Whether every character is in the GSM 03.38 default alphabet or its extension table."""
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def encoding_of(text: str) -> Encoding:
    """Return the encoding a handset needs for this text."""
    return "gsm7" if is_gsm7(text) else "ucs2"


def _units(text: str, encoding: Encoding) -> list[int]:
    if encoding == "gsm7":
        return [2 if c in GSM7_EXTENSION else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def length_units(text: str, encoding: Encoding | None = None) -> int:
    """Return the septets (GSM-7) or UTF-16 code units (UCS-2) the text takes."""
    return sum(_units(text, encoding or encoding_of(text)))


def segments(text: str, encoding: Encoding | None = None) -> int:
    """Return how many SMS segments the text costs (0 for an empty text)."""
    enc = encoding or encoding_of(text)
    if enc == "gsm7" and not is_gsm7(text):
        raise ValueError("text has characters outside GSM-7; count it as ucs2")
    units = _units(text, enc)
    total = sum(units)
    if total == 0:
        return 0
    single, multi = (GSM7_SINGLE, GSM7_MULTI) if enc == "gsm7" else (UCS2_SINGLE, UCS2_MULTI)
    if total <= single:
        return 1
    count, used = 1, 0
    for u in units:  # pack without splitting an escape sequence or a surrogate pair
        if used + u > multi:
            count, used = count + 1, 0
        used += u
    return count


def unaccent(text: str) -> str:
    """Vietnamese without diacritics: "Đồng Hới" → "Dong Hoi"; other marks dropped, quotes made plain."""
    text = text.translate(_SPECIAL).translate(_TYPOGRAPHIC)
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", stripped)


def _to_gsm7(text: str) -> str:
    out = unaccent(text)
    return "".join(c if c in GSM7_BASIC or c in GSM7_EXTENSION else "?" for c in out)


def fit(text: str, allow_unicode: bool, max_segments: int, *, tail: str = "") -> SmsText:
    """Fit ``text`` and a ``tail`` (always kept) into ``max_segments``, unaccented unless Unicode is allowed.

    With Unicode allowed, a text that needs no Unicode still goes as GSM-7; a text with diacritics goes as
    UCS-2 as long as it fits, and is shortened (ending with "…") otherwise. Without Unicode it is unaccented
    first and shortened with "..." if still too long.
    """
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")
    # Precomposed letters: a decomposed "ậ" would cost three UCS-2 units instead of one.
    body, end = unicodedata.normalize("NFC", text), unicodedata.normalize("NFC", tail)
    unaccented = False
    if not allow_unicode:
        converted, end2 = _to_gsm7(body), _to_gsm7(end)
        unaccented = converted != body or end2 != end
        body, end = converted, end2
    enc = encoding_of(body + end)
    whole = body + end
    if segments(whole, enc) <= max_segments:
        return SmsText(whole, enc, segments(whole, enc), unaccented=unaccented)
    ellipsis = "…" if enc == "ucs2" else "..."
    if segments(ellipsis + end, enc) > max_segments:
        raise ValueError("the tail alone does not fit the segment budget")
    # Longest prefix (at a word boundary when one is near) whose ellipsis and tail still fit.
    lo, hi = 0, len(body)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if segments(body[:mid].rstrip() + ellipsis + end, enc) <= max_segments:
            lo = mid
        else:
            hi = mid - 1
    cut = body[:lo]
    space = cut.rfind(" ")
    if space >= max(1, lo - 12):
        cut = cut[:space]
    short = cut.rstrip() + ellipsis + end
    return SmsText(short, enc, segments(short, enc), unaccented=unaccented, truncated=True)
