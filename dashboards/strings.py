"""Every string the wall display and the login page show, in Vietnamese (default) and English."""

from __future__ import annotations

from ioc.i18n import register

STRINGS: dict[str, tuple[str, str]] = {
    "wall.title": ("Trung tâm Điều hành thông minh", "Intelligent Operations Center"),
    "wall.subtitle.flood": ("Giám sát lũ lụt", "Flood monitoring"),
    "wall.page.overview": ("Tổng quan", "Overview"),
    "wall.page.not_found": (
        "Không có trang này, hoặc tài khoản của bạn không được xem trang này.",
        "There is no such page, or your account may not see it.",
    ),
    "wall.panel.map": ("Bản đồ trạm đo mực nước", "Map of water-level stations"),
    "wall.panel.stations": ("Trạm đo mực nước", "Water-level stations"),
    "wall.panel.alerts": ("Cảnh báo đang mở", "Open alerts"),
    "wall.alerts.none": ("Không có cảnh báo nào đang mở", "No open alerts"),
    "wall.alerts.more": ("và {n} cảnh báo khác", "and {n} more alerts"),
    "wall.alerts.count": ("{n} đang mở", "{n} open"),
    "wall.alert.opened_at": ("mở lúc {time}", "opened {time}"),
    "wall.alert.acknowledged": ("đã tiếp nhận", "acknowledged"),
    "wall.alarm.inline.1": ("báo động I", "alarm level I"),
    "wall.alarm.inline.2": ("báo động II", "alarm level II"),
    "wall.alarm.inline.3": ("báo động III", "alarm level III"),
    "wall.station.no_data": ("chưa có số liệu", "no data yet"),
    "wall.station.thresholds": ("BĐ I {i} · II {ii} · III {iii}", "Alarm I {i} · II {ii} · III {iii}"),
    "wall.station.trend": ("{hours} giờ qua", "last {hours} h"),
    "wall.station.stale": ("mất tín hiệu", "no signal"),
    "wall.station.water_level": ("Mực nước", "Water level"),
    "wall.legend.stale": ("Mất tín hiệu", "No signal"),
    "wall.age.never": ("chưa có dữ liệu", "no data yet"),
    "wall.age.seconds": ("cập nhật {n} giây trước", "updated {n} s ago"),
    "wall.age.minutes": ("cập nhật {n} phút trước", "updated {n} min ago"),
    "wall.age.hours": ("cập nhật {n} giờ trước", "updated {n} h ago"),
    "wall.age.days": ("cập nhật {n} ngày trước", "updated {n} d ago"),
    "wall.banner.database": (
        "Không kết nối được cơ sở dữ liệu — cảnh báo và biểu đồ có thể đã cũ. Kiểm tra PostgreSQL.",
        "Database unreachable — alerts and charts may be out of date. Check PostgreSQL.",
    ),
    "wall.banner.live": (
        "Không đọc được số liệu trực tiếp (Redis) — đang hiển thị số liệu từ cơ sở dữ liệu.",
        "Live values (Redis) unreachable — showing values from the database.",
    ),
    "wall.lang.vi": ("Tiếng Việt", "Tiếng Việt"),
    "wall.lang.en": ("English", "English"),
    "wall.logout": ("Đăng xuất", "Sign out"),
    "wall.signed_in_as": ("Người dùng: {user}", "User: {user}"),
    "login.title": ("Đăng nhập", "Sign in"),
    "login.username": ("Tên đăng nhập", "Username"),
    "login.password": ("Mật khẩu", "Password"),
    "login.submit": ("Đăng nhập", "Sign in"),
    "login.failed": ("Sai tên đăng nhập hoặc mật khẩu.", "Wrong username or password."),
    "login.expired": ("Phiên làm việc đã hết hạn, vui lòng thử lại.", "The form expired; please try again."),
    "login.unavailable": (
        "Không kết nối được cơ sở dữ liệu người dùng. Thử lại sau ít phút.",
        "The user database is unreachable. Try again in a few minutes.",
    ),
    "auth.unauthorised": ("Cần đăng nhập.", "Sign-in required."),
}

register(STRINGS)
