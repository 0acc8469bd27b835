"""A citizen's report put together in a chat (the Zalo Official Account), without I/O.

A follower sends text, photos and a location in any order; the draft (``ioc.store.report_zalo.ZaloDraft``) fills up
until it has a category, a description and a place, and the follower sends "GỬI" to file it. The category comes
from the numbered menu (a message that is only a number picks it, and may change it) or from the category's name
in the text ("sạt lở", "landslide", with or without diacritics). Any other text is the description, added line by
line. "HỦY" drops the draft; "EN" / "VI" switch the language of the answers.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

from ioc.config.models import ReportsConfig
from ioc.notify.sms_text import unaccent


class Command(StrEnum):
    """What a follower's text asks for besides filling the draft."""

    SEND = "send"
    CANCEL = "cancel"
    HELP = "help"
    ENGLISH = "en"
    VIETNAMESE = "vi"


_COMMANDS: dict[str, Command] = {
    "gui": Command.SEND, "gui di": Command.SEND, "xong": Command.SEND, "send": Command.SEND, "done": Command.SEND,
    "huy": Command.CANCEL, "cancel": Command.CANCEL,
    "menu": Command.HELP, "help": Command.HELP, "huong dan": Command.HELP, "?": Command.HELP,
    "en": Command.ENGLISH, "english": Command.ENGLISH,
    "vi": Command.VIETNAMESE, "tieng viet": Command.VIETNAMESE,
}
MISSING_ORDER = ("category", "description", "location")


def fold(text: str) -> str:
    """Lower case, without diacritics, spaces collapsed: how keywords and commands are compared."""
    return " ".join(unaccent(unicodedata.normalize("NFC", text)).casefold().split())


def command(text: str) -> Command | None:
    """Return the command a whole message is (``GỬI``, ``hủy``, ``EN`` ...), or None for ordinary text."""
    return _COMMANDS.get(fold(text).strip(" .!"))


def menu_choice(text: str, reports: ReportsConfig) -> str | None:
    """Return the category a message that is only a menu number picks (1 = the first category), or None."""
    found = re.fullmatch(r"\s*(\d{1,2})\s*[.)]?\s*", text)
    if found is None:
        return None
    n = int(found.group(1))
    return reports.categories[n - 1].id if 1 <= n <= len(reports.categories) else None


def keyword_category(text: str, reports: ReportsConfig) -> str | None:
    """Return the category whose name (or one part of it between commas) appears in the text, or None.

    Names are compared without diacritics and case, in both languages; the longest match wins, so "sạt lở" is
    flooding and landslide even if another name is a shorter word of the text. The catch-all ``other`` is never
    guessed.
    """
    folded = f" {fold(text)} "
    best: tuple[int, str] | None = None
    for category in reports.categories:
        if category.id == "other":
            continue
        names = [category.name, category.name_en or "", category.id.replace("_", " ")]
        for name in names:
            for part in re.split(r"[,;/]| and | va ", fold(name)):
                phrase = part.strip()
                if len(phrase) >= 3 and f" {phrase} " in folded and (best is None or len(phrase) > best[0]):
                    best = (len(phrase), category.id)
    return best[1] if best else None


def menu(reports: ReportsConfig, lang: str) -> str:
    """Return the numbered list of categories, one a line, in the language of the answer."""
    return "\n".join(
        f"{i}. {(c.name_en or c.name) if lang == 'en' else c.name}" for i, c in enumerate(reports.categories, 1)
    )


def add_description(current: str | None, text: str) -> str:
    """Return the description with one more message added on its own line."""
    return f"{current}\n{text}" if current else text


def missing(category: str | None, description: str | None, located: bool) -> list[str]:
    """Return what a draft still lacks, in the order it is asked for: category, description, location."""
    have = {"category": bool(category), "description": bool(description), "location": located}
    return [part for part in MISSING_ORDER if not have[part]]
