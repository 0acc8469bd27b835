"""GSM-7 / UCS-2 detection, segment counts, Vietnamese without diacritics, and fitting a segment budget."""

from __future__ import annotations

import unicodedata

import pytest

from ioc.notify import sms_text
from ioc.notify.sms_text import encoding_of, fit, length_units, segments, unaccent

ALERT_VI = (
    "Cảnh báo lũ khẩn cấp: trạm Nậm Pồ (xã Mường Chà) mực nước 3,25 m, vượt báo động III lúc 14:05. "
    "Đề nghị đồng chí trực ban kiểm tra ngay và báo cáo Ban chỉ huy. Trả lời OK 3FA2C1 để xác nhận."
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ủy ban nhân dân xã Mường Chà", "Uy ban nhan dan xa Muong Cha"),
        ("Đường Điện Biên Phủ, phường Đông Hà", "Duong Dien Bien Phu, phuong Dong Ha"),
        ("Trận lũ quét ở Nậm Nèn, huyện Mường Chà", "Tran lu quet o Nam Nen, huyen Muong Cha"),
        ("Sơn La, Lai Châu, Điện Biên: mưa lớn 120 mm", "Son La, Lai Chau, Dien Bien: mua lon 120 mm"),
        ("ắằẳẵặ ấầẩẫậ ếềểễệ ốồổỗộ ớờởỡợ ứừửữự ỳýỷỹỵ", "aaaaa aaaaa eeeee ooooo ooooo uuuuu yyyyy"),
        ("ẮẰẲẴẶ ƠỚỜỞỠỢ ƯỨỪỬỮỰ Đđ", "AAAAA OOOOOO UUUUUU Dd"),
        ("\u201cKhẩn\u201d \u2013 mực nước\u2026", '"Khan" - muc nuoc...'),
    ],
)
def test_unaccent_vietnamese(text: str, expected: str) -> None:
    assert unaccent(text) == expected
    assert encoding_of(unaccent(text)) == "gsm7"


def test_unaccent_handles_decomposed_input() -> None:
    assert unaccent(unicodedata.normalize("NFD", "Mường Chà")) == "Muong Cha"


@pytest.mark.parametrize(
    ("text", "enc"),
    [
        ("Canh bao lu tram Nam Po", "gsm7"),
        ("Giá 5€ [test] {x} ~ ^ | \\", "ucs2"),  # á is not GSM-7
        ("Gia 5€ [test] {x} ~ ^ | \\", "gsm7"),  # extension characters are GSM-7
        ("Nhiệt độ", "ucs2"),
        ("café à la Ñandu", "gsm7"),  # é à Ñ are in the GSM-7 default alphabet
        ("Ñandú", "ucs2"),  # ú is not
    ],
)
def test_encoding_detection(text: str, enc: str) -> None:
    assert encoding_of(text) == enc


@pytest.mark.parametrize(
    ("n", "expected"), [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)]
)
def test_gsm7_segment_boundaries(n: int, expected: int) -> None:
    assert segments("a" * n) == expected


@pytest.mark.parametrize(
    ("n", "expected"), [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)]
)
def test_ucs2_segment_boundaries(n: int, expected: int) -> None:
    assert segments("ệ" * n) == expected


def test_extension_characters_count_two_and_are_not_split() -> None:
    assert length_units("[]", "gsm7") == 4
    assert segments("€" * 80) == 1  # 160 septets
    assert segments("€" * 81) == 2
    # 152 plain septets then an escape pair: the pair does not fit the first 153, so it starts segment 2.
    assert segments("a" * 152 + "€" + "a" * 152) == 3
    assert segments("a" * 151 + "€" + "a" * 153) == 2


def test_empty_text_has_no_segments() -> None:
    assert segments("") == 0


def test_real_alert_costs() -> None:
    assert encoding_of(ALERT_VI) == "ucs2"
    assert len(ALERT_VI) == 189
    assert segments(ALERT_VI) == 3  # 189 UCS-2 units: 67 + 67 + 55
    plain = unaccent(ALERT_VI)
    assert encoding_of(plain) == "gsm7" and segments(plain) == 2


def test_fit_keeps_unicode_when_allowed_and_it_fits() -> None:
    out = fit(ALERT_VI, allow_unicode=True, max_segments=3)
    assert out.text == ALERT_VI and out.encoding == "ucs2" and out.segments == 3
    assert out.unicode and not out.truncated and not out.unaccented


def test_fit_sends_plain_text_as_gsm7_even_with_unicode_allowed() -> None:
    out = fit("Canh bao lu", allow_unicode=True, max_segments=1)
    assert out.encoding == "gsm7" and not out.unicode


def test_fit_unaccents_when_unicode_not_allowed() -> None:
    out = fit(ALERT_VI, allow_unicode=False, max_segments=2)
    assert out.text == unaccent(ALERT_VI) and out.encoding == "gsm7" and out.segments == 2
    assert out.unaccented and not out.truncated


def test_fit_shortens_unicode_with_ellipsis_and_keeps_the_tail() -> None:
    body, tail = ALERT_VI.rsplit(" Trả lời", 1)
    tail = " Trả lời" + tail
    out = fit(body, allow_unicode=True, max_segments=2, tail=tail)
    assert out.truncated and out.segments == 2 and out.encoding == "ucs2"
    assert out.text.endswith("…" + tail)
    assert out.text.startswith("Cảnh báo lũ khẩn cấp: trạm Nậm Pồ")
    assert len(out.text) <= 134


def test_fit_shortens_gsm7_with_three_dots() -> None:
    out = fit(ALERT_VI * 3, allow_unicode=False, max_segments=1, tail=" OK 3FA2C1")
    assert out.truncated and out.segments == 1 and out.encoding == "gsm7"
    assert out.text.endswith("... OK 3FA2C1") and len(out.text) <= 160
    assert out.text.startswith("Canh bao lu khan cap")


def test_fit_shortens_to_a_word_boundary() -> None:
    out = fit("mot hai ba bon nam sau bay tam chin muoi " * 10, allow_unicode=False, max_segments=1)
    before = out.text[: -len("...")]
    assert not before.endswith(" ") and (
        before.split(" ")[-1] in ["mot", "hai", "ba", "bon", "nam", "sau", "bay", "tam", "chin", "muoi"]
    )


def test_fit_replaces_characters_gsm7_cannot_carry() -> None:
    out = fit("Mực nước 🌊 tăng", allow_unicode=False, max_segments=1)
    assert out.text == "Muc nuoc ? tang" and out.encoding == "gsm7"


def test_fit_refuses_an_impossible_budget() -> None:
    with pytest.raises(ValueError):
        fit("x", allow_unicode=True, max_segments=0)
    with pytest.raises(ValueError):
        fit("x" * 400, allow_unicode=False, max_segments=1, tail="y" * 200)


def test_segments_refuses_gsm7_count_for_unicode_text() -> None:
    with pytest.raises(ValueError):
        sms_text.segments("Nậm", "gsm7")
