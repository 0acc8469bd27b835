"""Public signals, the pure part: Vietnamese normalisation, topic and place matching on real-looking headlines (with
and without diacritics, and the everyday phrases that look like a hazard but are not), and spikes over a window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics import signals
from analytics.signals import Matcher, Place, SpikeRule, Terms
from analytics.sources.public_signal import DEFAULT_TOPICS

T0 = datetime(2026, 9, 14, 6, 0, tzinfo=UTC)

MATCHER = Matcher(
    [t.terms() for t in DEFAULT_TOPICS],
    [
        Place("03172", "03172", Terms.build("03172", ["Na Sang"], single_syllable_unaccented=True)),
        Place("03181", "03181", Terms.build("03181", ["Mường Tùng"], single_syllable_unaccented=True)),
        Place("03193", "03193", Terms.build("03193", ["Pa Ham"], single_syllable_unaccented=True)),
        Place("huoi-leng", "03172", Terms.build("huoi-leng", ["Huổi Lèng"], single_syllable_unaccented=True)),
    ],
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hoả hoạn", "hỏa hoạn"),  # old and new tone placement are one
        ("HỎA HOẠN", "hỏa hoạn"),
        ("Thuý  Quý", "thúy quý"),  # after q the tone stays where it is
        ("Hoàng", "hoàng"),  # a syllable going on: same in both styles
        ("Sa\u0323t lơ\u0309", "sạt lở"),  # decomposed (NFD) input is composed
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert signals.normalize(text) == expected


def test_strip_and_detect_diacritics() -> None:
    assert signals.strip_diacritics("Sạt lở đất ở Điện Biên") == "Sat lo dat o Dien Bien"
    assert signals.has_diacritics("đ") and not signals.has_diacritics("Na Sang 2026")


@pytest.mark.parametrize(
    ("headline", "topics", "places"),
    [
        # with diacritics, as the news sites write them
        ("Sạt lở đất vùi lấp nhà dân ở xã Na Sang", {"landslide"}, {"03172"}),
        ("Mưa lớn gây lũ quét tại bản Huổi Lèng, 2 hộ phải di dời", {"flooding"}, {"huoi-leng"}),
        ("Mường Tùng: nhiều tuyến đường ngập sâu sau mưa", {"flooding"}, {"03181"}),
        ("Tai nạn giao thông trên Quốc lộ 12 qua xã Pa Ham", {"accident"}, {"03193"}),
        ("Cháy rừng ở Na Sang, huy động 200 người dập lửa", {"fire"}, {"03172"}),
        ("Hoả hoạn thiêu rụi 3 căn nhà ở Mường Tùng", {"fire"}, {"03181"}),  # old tone placement
        ("Sạt lở và ngập úng ở Pa Ham sau bão", {"landslide", "flooding"}, {"03193"}),
        # without diacritics, as typed on a phone
        ("Sat lo dat o Na Sang, giao thong bi chia cat", {"landslide"}, {"03172"}),
        ("Lu quet tai ban Huoi Leng", {"flooding"}, {"huoi-leng"}),
        ("Muong Tung ngap sau, nuoc dang cao", {"flooding"}, {"03181"}),
        ("Tai nan giao thong o Pa Ham", {"accident"}, {"03193"}),
        ("Chay rung o Na Sang", {"fire"}, {"03172"}),
    ],
)
def test_headlines_match(headline: str, topics: set[str], places: set[str]) -> None:
    found = MATCHER.match([headline])
    assert set(found.topics) == topics
    assert set(found.places) == places


@pytest.mark.parametrize(
    "headline",
    [
        "Học sinh Na Sang chạy việt dã mừng năm học mới",  # chạy (run) is chay without marks, not cháy
        "Lũ lượt người dân Mường Tùng về dự lễ hội",  # lũ lượt: in droves
        "Lũ trẻ bản Huổi Lèng đến trường",  # lũ trẻ: the kids
        "Xây lũy tre quanh bản ở Pa Ham",  # lũy is not lũ
        "Chợ phiên Na Sang ngập tràn sắc màu",  # ngập tràn: full of
        "Vé xem bóng đá cháy hàng ở Mường Tùng",  # cháy hàng: sold out
        "Chay tinh ở Na Sang",  # unaccented single syllable: too ambiguous (chạy? cháy? chay?)
        "Lu bu cong viec cuoi nam o Na Sang",  # lu: not lũ
        "Đường lên Na Sang mùa hoa ban",  # a place and no hazard
        "Thanh long xuất khẩu cháy hàng",  # no place, and not a fire anyway
    ],
)
def test_false_positive_traps(headline: str) -> None:
    assert MATCHER.match([headline]).topics == ()


def test_trap_and_real_mention_in_one_text() -> None:
    # An excluded phrase removes only the keyword it overlaps.
    found = MATCHER.match(["Lũ lượt người dân đi xem lũ quét ở Na Sang"])
    assert found.topics == ("flooding",) and found.places == ("03172",)


def test_each_field_judged_on_its_own_spelling() -> None:
    # An accented title does not make the unaccented summary's "chay" a fire, and the other way round.
    found = MATCHER.match(["Na Sang tổ chức giải chạy", "chay rung o Pa Ham"])
    assert found.topics == ("fire",) and set(found.places) == {"03172", "03193"}


def test_no_place_counts_for_the_feed_scope() -> None:
    assert MATCHER.match(["Cháy nhà dân lúc rạng sáng"], default_place="03172").places == ("03172",)
    assert MATCHER.match(["Cháy nhà dân lúc rạng sáng"]).places == ()
    assert MATCHER.match(["Hội chợ xuân"], default_place="03172").pairs() == []


def test_pairs() -> None:
    assert set(MATCHER.match(["Sạt lở và lũ quét ở Na Sang"]).pairs()) == {
        ("03172", "landslide"), ("03172", "flooding")
    }


RULE = SpikeRule(window_s=6 * 3600, min_mentions=3, baseline_s=7 * 86_400, factor=3)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.mark.parametrize(
    ("mentions", "now", "count", "spike"),
    [
        ([], 0, 0, False),
        ([at(-1), at(-2)], 0, 2, False),  # below min_mentions
        ([at(-1), at(-2), at(-3)], 0, 3, True),  # three in six hours, nothing usual
        ([at(-1), at(-2), at(-7)], 0, 2, False),  # one has left the window
        ([at(-1), at(-2), at(-3)], 6.5, 0, False),  # all have left it by now
        ([at(-1), at(-2), at(1)], 0, 2, False),  # a future one is not counted yet
    ],
)
def test_spike_window(mentions: list[datetime], now: float, count: int, spike: bool) -> None:
    found = signals.spike(mentions, at(now), RULE)
    assert (found.count, found.is_spike) == (count, spike)


def test_spike_needs_more_where_mentions_are_usual() -> None:
    # A place in the news every day: 56 mentions over the week before the window, two per 6 h window on average.
    usual = [at(-6 - 3 * i - 1) for i in range(56)]
    three = [at(-1), at(-2), at(-3)]
    found = signals.spike(usual + three, T0, RULE)
    assert (found.usual, found.needed) == (2.0, 6.0)
    assert not found.is_spike  # 3 would be a spike in a quiet place
    found = signals.spike(usual + three + [at(-0.5), at(-1.5), at(-2.5)], T0, RULE)
    assert found.is_spike and found.ratio == 1.0
