"""Public signals, the pure part: Vietnamese text normalised, feed items matched to topics and places, spikes found.

News sites and official pages write Vietnamese with diacritics; comments, some forums and headlines typed on a
phone often drop them. A keyword therefore has two forms, and which one applies is decided per text field:

- a field that has any Vietnamese diacritic is *accented*: keywords match by their accented form only, so ``cháy``
  (fire) never matches ``chạy`` (to run), though both are ``chay`` without marks;
- a field with none is *unaccented*: keywords match by their stripped form (``sạt lở`` -> ``sat lo``). A keyword of
  one syllable is too ambiguous stripped (``lu``, ``chay``, ``ngap``) and is used in unaccented text only when the
  topic lists it among ``unaccented`` explicitly.

Matching is on whole words and phrases (token sequences), so ``lũ`` does not match inside ``lũy``; an excluded
phrase (``lũ lượt``, "in droves"; ``cháy hàng``, "sold out") removes the keyword matches it overlaps. Text is NFC,
lower case, with the old and new tone placements of ``oa``, ``oe``, ``uy`` made one (``hoả``, ``hỏa`` -> ``hỏa``).

Vietnamese words are written syllable by syllable with spaces, so a phrase of syllables is the natural unit here. A
word segmenter was measured instead (underthesea 9.5.0 ``word_tokenize``, keywords matched as whole segmented words,
on 12 hazard headlines and 9 look-alikes): it found 11 of 12 (``lật xe`` came out as two words), still matched 3 of 9
look-alikes (``lũ trẻ``, ``cháy hàng`` twice) and took 0.54 ms a headline; these phrases with their exclusions
found 12 of 12, matched 0 of 9 (the look-alikes are the kind the exclusions list, so that figure flatters them) in
0.19 ms. It is not used.

A spike: the mentions of one place and topic within the last ``window_s`` reach ``min_mentions`` and ``factor``
times the place's usual rate (its mentions in the ``baseline_s`` before the window, scaled to one window).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

Phrase = tuple[str, ...]

# Combining marks of Vietnamese: the five tones and the vowel marks (breve, circumflex, horn).
_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
_WORD = re.compile(r"\w+", re.UNICODE)
# Old-style tone placement (on the second vowel of oa, oe, uy) -> the new style (on the first), both in use.
# Only at the end of a syllable (``hoàng`` is the same in both styles) and not after q (``quý`` is right as it is).
_TONE_PLACEMENT = {
    unicodedata.normalize("NFC", pair + tone): unicodedata.normalize("NFC", pair[0] + tone + pair[1])
    for pair in ("oa", "oe", "uy")
    for tone in sorted(_TONES)
}
_PLACEMENT_RE = re.compile(r"(?<!q)(?:" + "|".join(map(re.escape, _TONE_PLACEMENT)) + r")(?!\w)")


def normalize(text: str) -> str:
    """Return the text NFC, lower case, spaces collapsed, one tone placement for oa/oe/uy (``hoả`` -> ``hỏa``)."""
    text = unicodedata.normalize("NFC", text).lower()
    text = _PLACEMENT_RE.sub(lambda m: _TONE_PLACEMENT[m.group(0)], text)
    return " ".join(text.split())


def strip_diacritics(text: str) -> str:
    """Return the text without any diacritic: tones and vowel marks removed, ``đ`` -> ``d``."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def has_diacritics(text: str) -> bool:
    """Return whether the text has any diacritic (a tone, a vowel mark or ``đ``)."""
    return strip_diacritics(text) != text


def tokens(text: str) -> Phrase:
    """Return the words (syllables) of the normalised text."""
    return tuple(_WORD.findall(normalize(text)))


@dataclass(frozen=True)
class Terms:
    """The phrases that name one topic or one place, in both forms, and the phrases that cancel a match."""

    id: str
    accented: tuple[Phrase, ...]
    unaccented: tuple[Phrase, ...]
    exclude_accented: tuple[Phrase, ...] = ()
    exclude_unaccented: tuple[Phrase, ...] = ()

    @classmethod
    def build(
        cls,
        id: str,
        keywords: Iterable[str],
        unaccented: Iterable[str] = (),
        exclude: Iterable[str] = (),
        single_syllable_unaccented: bool = False,
    ) -> Terms:
        """Return the terms of keywords given with diacritics (place names may have none).

        Their stripped forms apply to unaccented text when they have two syllables or more (or always, with
        ``single_syllable_unaccented``, for proper names); ``unaccented`` adds stripped-only keywords.
        """
        acc = _unique(tokens(k) for k in keywords)
        plain = [tuple(strip_diacritics(w) for w in p) for p in acc if len(p) > 1 or single_syllable_unaccented]
        plain += [tuple(strip_diacritics(w) for w in tokens(k)) for k in unaccented]
        excl = _unique(tokens(k) for k in exclude)
        return cls(
            id=id,
            accented=acc,
            unaccented=_unique(plain),
            exclude_accented=excl,
            exclude_unaccented=_unique(tuple(strip_diacritics(w) for w in p) for p in excl),
        )


def _unique(phrases: Iterable[Phrase]) -> tuple[Phrase, ...]:
    out: list[Phrase] = []
    for p in phrases:
        if p and p not in out:
            out.append(p)
    return tuple(out)


def _spans(words: Phrase, phrase: Phrase) -> list[tuple[int, int]]:
    n = len(phrase)
    return [(i, i + n) for i in range(len(words) - n + 1) if words[i : i + n] == phrase]


def found(terms: Terms, text: str) -> bool:
    """Return whether the terms occur in one text field, in the form its spelling calls for, outside exclusions."""
    words = tokens(text)
    if not words:
        return False
    if has_diacritics(" ".join(words)):
        phrases, excluded = terms.accented, terms.exclude_accented
    else:
        phrases, excluded = terms.unaccented, terms.exclude_unaccented
    blocked = [span for p in excluded for span in _spans(words, p)]
    for phrase in phrases:
        for start, end in _spans(words, phrase):
            if not any(start < b_end and b_start < end for b_start, b_end in blocked):
                return True
    return False


@dataclass(frozen=True)
class Place:
    """A place news may name: a commune or a village, the unit it belongs to, its names."""

    id: str
    unit: str  # area code of the commune: what the alert and the operators' scope use
    terms: Terms


@dataclass(frozen=True)
class ItemMatch:
    """What one item is about: its topics and the places it names (place ids)."""

    topics: tuple[str, ...]
    places: tuple[str, ...]

    def pairs(self) -> list[tuple[str, str]]:
        """Return every (place, topic) pair the item counts towards."""
        return [(place, topic) for place in self.places for topic in self.topics]


class Matcher:
    """Matches feed items against the site's topics and places; built once from config."""

    def __init__(self, topics: Sequence[Terms], places: Sequence[Place]) -> None:
        self.topics = tuple(topics)
        self.places = tuple(places)

    def match(self, fields: Iterable[str], default_place: str | None = None) -> ItemMatch:
        """Return the topics and places of an item's text fields (title, summary), each field judged on its own.

        An item that has a topic but names no place counts for ``default_place`` (the unit a feed is scoped to);
        an item without a topic matches nothing, whatever places it names.
        """
        texts = [f for f in fields if f]
        topics = tuple(t.id for t in self.topics if any(found(t, f) for f in texts))
        if not topics:
            return ItemMatch((), ())
        places = tuple(p.id for p in self.places if any(found(p.terms, f) for f in texts))
        if not places and default_place is not None:
            places = (default_place,)
        return ItemMatch(topics, places)


@dataclass(frozen=True)
class SpikeRule:
    """When mentions of one place and topic are a spike (see the module docstring)."""

    window_s: float
    min_mentions: int
    baseline_s: float
    factor: float


@dataclass(frozen=True)
class Spike:
    """The mentions of one place and topic at one moment, what is needed for a spike, and their ratio."""

    count: int
    usual: float  # mentions per window over the baseline
    needed: float
    ratio: float  # count / needed: 1 or more is a spike

    @property
    def is_spike(self) -> bool:
        """Return whether the mentions reach what a spike needs."""
        return self.ratio >= 1.0


def spike(mentions: Sequence[datetime], now: datetime, rule: SpikeRule) -> Spike:
    """Return the spike figures of one place and topic at ``now`` from the times of its mentions."""
    window_start = now - timedelta(seconds=rule.window_s)
    baseline_start = window_start - timedelta(seconds=rule.baseline_s)
    count = sum(1 for t in mentions if window_start < t <= now)
    before = sum(1 for t in mentions if baseline_start < t <= window_start)
    usual = before * rule.window_s / rule.baseline_s
    needed = max(float(rule.min_mentions), rule.factor * usual)
    return Spike(count=count, usual=round(usual, 3), needed=round(needed, 3), ratio=round(count / needed, 2))


def horizon(rule: SpikeRule) -> float:
    """Return how far back mentions are kept, in seconds (the window and the baseline before it)."""
    return rule.window_s + rule.baseline_s

