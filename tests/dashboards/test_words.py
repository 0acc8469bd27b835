"""Reason codes, channel ids, officer ids and login names said in words (issue 15, item 7)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dashboards.words import STRINGS, Words
from ioc.config.loader import load_site


@pytest.fixture(scope="module")
def words(site_dir: Path) -> Words:
    return Words(load_site(site_dir))


# Every shape of reason ioc/notify writes (sender, outbox, channels), with the sentence the wall shows.
REASONS = [
    (
        "not_configured: IOC_SPEEDSMS_ACCESS_TOKEN",
        "Kênh gửi chưa được cài đặt trên máy chủ (thiếu biến môi trường IOC_SPEEDSMS_ACCESS_TOKEN); "
        "quản trị viên cần khai báo.",
        "The channel is not set up on the server (IOC_SPEEDSMS_ACCESS_TOKEN missing); an administrator must set it.",
    ),
    (
        "rate_limited: officer",
        "Cán bộ đã nhận đủ số tin cho phép trong một phút; tin này được gửi chậm lại, không bị bỏ.",
        "The officer had the most messages allowed in a minute; this one was held back, not dropped.",
    ),
    (
        "rate_limited: sms-speedsms",
        "Kênh tin nhắn SMS qua SpeedSMS đang gửi nhanh nhất cho phép; tin này được gửi sau ít giây.",
        "The SMS via SpeedSMS channel is sending as fast as allowed; this message goes a few seconds later.",
    ),
    ("alert_resolved", "Cảnh báo đã kết thúc nên không cần gửi tin này nữa.", None),
    ("alert_acknowledged", "Cảnh báo đã có người tiếp nhận nên không cần gửi tin này nữa.", None),
    ("resent_after_interruption", "Bộ gửi bị dừng giữa chừng; tin được gửi lại.", None),
    (
        "gave up after 8 attempt(s): speedsms: HTTP 503: busy",
        "Đã thử 8 lần mà không gửi được. Nhà cung cấp SpeedSMS trả lỗi (HTTP 503).",
        "Tried 8 times without success. The provider SpeedSMS answered with an error (HTTP 503).",
    ),
    ("timeout: no answer within 10 s", "Nhà cung cấp không trả lời kịp.", None),
    ("network: ClientConnectorError: refused", "Không kết nối được tới nhà cung cấp (lỗi mạng).", None),
    (
        "auth: speedsms 7: token invalid",
        "Nhà cung cấp SpeedSMS không chấp nhận khóa truy cập (sai hoặc hết hạn); quản trị viên cần kiểm tra.",
        None,
    ),
    ("auth: zalo -124: access token expired", None, "The provider Zalo refused the access key (wrong or expired); "
     "an administrator must check it."),
    ("esms: 429 rate limited", "Nhà cung cấp eSMS báo gửi quá nhanh; tin được gửi lại sau.", None),
    ("webhook: unexpected HTTP 500", "Nhà cung cấp webhook trả lỗi (HTTP 500).", None),
    ("esms: answer is not JSON", "Nhà cung cấp eSMS trả lời không đúng định dạng.", None),
    ("zalo: error field 'x'", "Nhà cung cấp Zalo trả lời không đúng định dạng.", None),
    ("speedsms status 64", "Nhà cung cấp SpeedSMS báo tin không đến được máy của cán bộ (trạng thái 64).", None),
    ("esms 99: unknown error", "Nhà cung cấp eSMS từ chối tin (mã lỗi 99).", "The provider eSMS refused the message "
     "(error code 99)."),
    ("zalo -108: phone not on Zalo", "Nhà cung cấp Zalo từ chối tin (mã lỗi -108).", None),
    ("bad phone '0912': need 84xxxxxxxxx", "Số điện thoại của cán bộ không đúng dạng 84xxxxxxxxx; cần sửa "
     "trong lịch trực.", None),
    ("bad_phone: officer x: phone '0912' is not 84xxxxxxxxx", "Số điện thoại của cán bộ không đúng dạng "
     "84xxxxxxxxx; cần sửa trong lịch trực.", None),
    ("text does not fit: 3 segments", "Nội dung dài hơn số tin nhắn cho phép của kênh.", None),
    ("no ZNS template for alert_reminder", "Kênh Zalo chưa có mẫu tin cho loại thông báo này.", None),
    ("not_applicable", None, "This channel cannot reach the officer (no Zalo, or the channel is not set up); "
     "the next one is tried."),
    ("template_variable_missing: alert.flood.level needs value", "Mẫu tin cần một giá trị mà cảnh báo không có.",
     None),
    ("unknown_officer: x", "Cán bộ không còn trong lịch trực.", None),
    ("outcome_unknown: y", "Bộ gửi dừng giữa lúc gửi; không gửi lại để cán bộ không nhận hai lần.", None),
    ("something nobody wrote yet", "Nhà cung cấp không nhận tin.", "The provider did not take the message."),
]


@pytest.mark.parametrize(("reason", "vi", "en"), REASONS, ids=[r[0][:40] for r in REASONS])
def test_every_reason_is_a_sentence_in_both_languages(
    words: Words, reason: str, vi: str | None, en: str | None
) -> None:
    said_vi, said_en = words.reason(reason, "vi"), words.reason(reason, "en")
    if vi is not None:
        assert said_vi == vi
    if en is not None:
        assert said_en == en
    for said in (said_vi, said_en):
        assert said.endswith(".") and said[0].isupper()
        # No machine words left: the snake_case code and the channel id are gone.
        assert not re.search(r"\b[a-z]+_[a-z_]+\b", said), said
        assert "sms-speedsms" not in said


def test_no_reason_says_nothing(words: Words) -> None:
    assert words.reason("", "vi") == ""


def test_channels_are_named_by_what_they_are(words: Words) -> None:
    assert words.channel("sms-speedsms", "vi") == "tin nhắn SMS qua SpeedSMS"
    assert words.channel("sms-esms", "en") == "SMS via eSMS"
    assert words.channel("zns-ubnd", "vi") == "Zalo (tin ZNS)"
    assert words.channel("ioc-tinh", "vi") == "chuyển tới hệ thống ioc-tinh.example.vn"
    email = next(c.id for c in words.site.channels if c.type == "email_smtp")
    assert words.channel(email, "vi") == "thư điện tử" and words.channel(email, "en") == "e-mail"
    assert words.channel("gone-channel", "vi") == "gone-channel"
    assert words.channel(None, "vi") == "—"


def test_people_by_name_position_and_unit(words: Words) -> None:
    assert words.officer("nguyen-van-hung", "vi") == "Nguyễn Văn Hùng (cán bộ trực, Mường Chà (huyện cũ))"
    assert words.officer("lo-thi-mai", "en") == "Lò Thị Mai (duty officer, Na Sang)"
    assert words.officer("tran-thu-ha", "vi") == "Trần Thu Hà (lãnh đạo, toàn địa bàn)"
    # An SMS reply is recorded with the officer's id, a wall action with the login name.
    assert words.person("quang-van-son", "vi") == "Quàng Văn Sơn (cấp phó, Mường Chà (huyện cũ))"
    assert words.person("truc.ban", "vi") == "tài khoản truc.ban"
    assert words.person(None, "en") == "system"
    assert words.via("sms", "vi") == "bằng tin nhắn SMS" and words.via("wall", "en") == "on the wall"


def test_the_catalogue_has_both_languages_with_the_same_fields() -> None:
    fields = re.compile(r"{(\w+)}")
    for key, (vi, en) in STRINGS.items():
        assert sorted(fields.findall(vi)) == sorted(fields.findall(en)), key
