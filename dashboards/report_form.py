"""The public citizens' report form (``/report``) and status page (``/report/<code>``), served without a session.

Plain Flask routes with server-rendered HTML, mobile-first, Vietnamese by default (``?lang=en`` for English), and
one small script of our own (``/report/form.js``: the phone's GPS through ``navigator.geolocation``), so the wall's
Content-Security-Policy holds unchanged; only these pages allow the geolocation permission. Without GPS the citizen
taps the place on an SVG map of the communes' outlines drawn by the server (no tiles), or picks the commune from a
list.

A form with no login still needs protecting from being posted by another site: every form carries a token signed
with the wall's secret key and valid for ``FORM_TOKEN_MAX_AGE_S``, which another site cannot read or make, and a
post whose ``Origin`` or ``Sec-Fetch-Site`` says it came from elsewhere is refused. Abuse is bounded by the site's
intake limits (``reports.intake``): accepted reports per address an hour and per phone number a day (counted in
PostgreSQL, so every server process shares them), the size of the post and of each photo, at most three photos, each
re-encoded without its metadata but the GPS point the citizen sent (``dashboards.report_photos``). A point outside
the site's communes is refused with a message saying what to do. Every refusal is kept in ``report_rejections`` with
its reason, a summary of what was sent and the sender's address and phone only as keyed hashes.
"""

from __future__ import annotations

import html
import io
import logging
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Flask, Response, redirect, request
from flask.typing import ResponseReturnValue
from itsdangerous import BadSignature, URLSafeTimedSerializer
from shapely.geometry import MultiPolygon, Polygon
from werkzeug.exceptions import RequestEntityTooLarge

from analytics.reports import OutsideSite, Plan, clean_text, duplicate_search, normalise_phone, plan, plan_in_commune
from analytics.working_days import WorkingCalendar
from dashboards.report_photos import PhotoRefused, reencode
from ioc import i18n
from ioc.config.models import ReportIntake, ReportsConfig, SiteConfig
from ioc.errors import BadRecord, CalendarError, SinkUnavailable
from ioc.events import utcnow
from ioc.geo import AreaIndex
from ioc.i18n import normalise_lang, t
from ioc.store.reports import (
    LocationSource,
    NewReport,
    Photo,
    Rejection,
    Report,
    ReportStore,
    keyed_hash,
    parse_code,
)

logger = logging.getLogger(__name__)

FORM_TOKEN_MAX_AGE_S = 2 * 3600
TOKEN_SALT = "ioc-report-form"
PUBLIC_PREFIX = "/report"
GEOLOCATION_POLICY = "camera=(), microphone=(), geolocation=(self)"

_STRINGS: dict[str, tuple[str, str]] = {
    "report.title": ("Phản ánh hiện trường", "Report a problem"),
    "report.lead": (
        "Gửi phản ánh về sự việc bạn thấy trên địa bàn {site}. Không cần đăng nhập.",
        "Tell us about a problem you see in {site}. No sign-in needed.",
    ),
    "report.category": ("Lĩnh vực", "Category"),
    "report.choose": ("— Chọn —", "— Choose —"),
    "report.description": ("Nội dung phản ánh", "What is happening"),
    "report.description.hint": (
        "Mô tả sự việc, địa điểm cụ thể (thôn, bản, đường) nếu có.",
        "Describe the problem and the exact place (village, road) if you can.",
    ),
    "report.photos": ("Ảnh (tối đa {n})", "Photos (up to {n})"),
    "report.location": ("Vị trí", "Location"),
    "report.gps": ("Dùng vị trí hiện tại của tôi", "Use my current location"),
    "report.gps.clear": ("Bỏ vị trí", "Clear location"),
    "report.gps.waiting": ("Đang lấy vị trí…", "Getting your location…"),
    "report.gps.done": ("Đã lấy vị trí (sai số khoảng {m} m)", "Location taken (within about {m} m)"),
    "report.gps.failed": (
        "Không lấy được vị trí; hãy chọn xã bên dưới.", "Could not get your location; pick the commune below."
    ),
    "report.commune": ("Hoặc chọn xã", "Or pick the commune"),
    "report.map": ("Hoặc chạm vào bản đồ tại nơi xảy ra sự việc", "Or tap the map where it is"),
    "report.map.done": ("Đã chọn vị trí trên bản đồ", "Place chosen on the map"),
    "report.phone": ("Số điện thoại (không bắt buộc)", "Phone number (optional)"),
    "report.phone.hint": (
        "Để cơ quan xử lý liên hệ lại khi cần; không hiển thị công khai.",
        "So the unit handling it can call you back; never shown publicly.",
    ),
    "report.submit": ("Gửi phản ánh", "Send the report"),
    "report.lookup": ("Tra cứu phản ánh đã gửi", "Look up a report"),
    "report.lookup.code": ("Mã phản ánh", "Tracking code"),
    "report.lookup.go": ("Tra cứu", "Look up"),
    "report.lang.other": ("English", "Tiếng Việt"),
    "report.thanks": (
        "Đã nhận phản ánh của bạn. Hãy lưu mã {code} để tra cứu kết quả xử lý.",
        "Your report has been received. Keep the code {code} to follow it.",
    ),
    "report.code": ("Mã phản ánh", "Tracking code"),
    "report.state": ("Trạng thái", "Status"),
    "report.received_at": ("Thời điểm tiếp nhận", "Received"),
    "report.commune.label": ("Địa bàn", "Commune"),
    "report.unit": ("Đơn vị xử lý", "Handled by"),
    "report.deadline": ("Hạn xử lý", "Due by"),
    "report.duplicate": (
        "Sự việc này đã được phản ánh trước đó; phản ánh của bạn được gộp với {code}.",
        "This was reported before; your report is linked to {code}.",
    ),
    "report.history": ("Quá trình xử lý", "History"),
    "report.your_photos": ("Ảnh phản ánh", "Photos sent"),
    "report.fix_photos": ("Ảnh kết quả xử lý", "Photos of the fix"),
    "report.new": ("Gửi phản ánh khác", "Send another report"),
    "report.not_found": (
        "Không tìm thấy phản ánh có mã này. Hãy kiểm tra lại mã (dạng PA-XXXXX-XXXXX).",
        "No report has this code. Check it (it looks like PA-XXXXX-XXXXX).",
    ),
    "report.error.cross_site": (
        "Biểu mẫu này chỉ gửi được từ trang phản ánh của hệ thống.",
        "This form can only be sent from the system's own report page.",
    ),
    "report.error.too_large": (
        "Nội dung gửi quá lớn (tối đa {mb} MB). Hãy gửi ít ảnh hơn hoặc ảnh nhỏ hơn.",
        "What you sent is too large (at most {mb} MB). Send fewer or smaller photos.",
    ),
    "report.error.bad_token": (
        "Biểu mẫu đã hết hạn. Vui lòng kiểm tra lại nội dung và gửi lại.",
        "The form has expired. Please check your report and send it again.",
    ),
    "report.error.rate_limited_address": (
        "Bạn đã gửi nhiều phản ánh trong thời gian ngắn. Vui lòng thử lại sau một giờ.",
        "You have sent many reports in a short time. Please try again in an hour.",
    ),
    "report.error.rate_limited_phone": (
        "Số điện thoại này đã gửi nhiều phản ánh trong ngày. Vui lòng thử lại vào ngày mai hoặc gọi đường dây nóng.",
        "This phone number has sent many reports today. Please try again tomorrow or call the hotline.",
    ),
    "report.error.bad_category": ("Hãy chọn lĩnh vực phản ánh.", "Choose a category."),
    "report.error.bad_description": (
        "Hãy mô tả sự việc (tối đa {n} ký tự).", "Describe the problem (at most {n} characters)."
    ),
    "report.error.bad_phone": (
        "Số điện thoại không đúng (ví dụ 0912 345 678). Có thể để trống.",
        "The phone number is not valid (e.g. 0912 345 678). You may leave it empty.",
    ),
    "report.error.no_location": (
        "Hãy bấm \u201cDùng vị trí hiện tại của tôi\u201d hoặc chọn xã.",
        "Tap \u201cUse my current location\u201d or pick the commune.",
    ),
    "report.error.outside_site": (
        "Vị trí bạn gửi nằm ngoài địa bàn {site}, nên hệ thống không tiếp nhận được. Nếu sự việc xảy ra trong "
        "địa bàn, hãy bỏ vị trí và chọn xã nơi xảy ra sự việc.",
        "The location you sent is outside {site}, so it cannot be taken. If the problem is inside the area, "
        "clear the location and pick the commune where it is.",
    ),
    "report.error.too_many_photos": ("Chỉ gửi được tối đa {n} ảnh.", "You can send at most {n} photos."),
    "report.error.photo_too_large": (
        "Ảnh quá lớn (tối đa {mb} MB mỗi ảnh).", "A photo is too large (at most {mb} MB each)."
    ),
    "report.error.bad_photo": (
        "Có tệp không phải là ảnh hoặc ảnh bị hỏng. Hãy chọn ảnh khác.",
        "A file is not a photo or is damaged. Choose another one.",
    ),
    "report.error.unavailable": (
        "Hệ thống đang bận, chưa nhận được phản ánh. Vui lòng thử lại sau ít phút.",
        "The system is busy and has not taken your report. Please try again in a few minutes.",
    ),
}


i18n.register(_STRINGS)


@dataclass
class _Posted:
    """What the citizen typed, kept to fill the form again after a refusal (never the photos)."""

    category: str = ""
    description: str = ""
    lon: str = ""
    lat: str = ""
    accuracy: str = ""
    source: str = ""  # "gps" (the phone's position) or "map" (a point tapped on the communes' map)
    commune: str = ""
    phone: str = ""
    photos: list[tuple[str, int]] = field(default_factory=list)  # name, bytes: for the rejection's summary

    def summary(self) -> dict[str, Any]:
        """A summary of the submission for ``report_rejections``: no phone number, no photo."""
        return {
            "category": self.category[:64],
            "description": self.description[:300],
            "lon": self.lon[:32],
            "lat": self.lat[:32],
            "source": self.source,
            "commune": self.commune[:16],
            "phone_given": bool(self.phone),
            "photos": [{"name": name[:100], "bytes": size} for name, size in self.photos[:10]],
            "user_agent": request.headers.get("User-Agent", "")[:200],
        }


class _Refused(Exception):
    """A submission refused: the rejection's reason, the HTTP status and the message's parameters."""

    def __init__(self, reason: str, status: int, detail: str = "", **params: object) -> None:
        self.reason, self.status, self.detail, self.params = reason, status, detail, params
        super().__init__(reason)


def install_report_pages(
    server: Flask,
    *,
    site: SiteConfig,
    store: ReportStore,
    index: AreaIndex,
    secret_key: str,
    default_lang: str = "vi",
    wall_max_body_bytes: int | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Add ``/report``, ``/report/<code>``, its photos and ``/report/form.js`` to the wall's server.

    A post may not be larger than the wall's own limit (``wall_max_body_bytes``, ``IOC_MAX_BODY_BYTES``), which the
    WSGI server enforces for every path before the app sees a byte (issue 12, hole 10); the page's script makes
    the photos small enough on the phone first.
    """
    if site.reports is None or site.working_calendar is None:
        raise ValueError("the site has no reports section or no working calendar; add reports.yaml and calendar.yaml")
    reports: ReportsConfig = site.reports
    intake = reports.intake
    body_limit = intake.max_body_bytes
    if wall_max_body_bytes is not None and wall_max_body_bytes < body_limit:
        logger.warning("report form: posts limited to the wall's %d bytes (IOC_MAX_BODY_BYTES), not the %d of "
                       "reports.intake.max_body_bytes", wall_max_body_bytes, body_limit)
        body_limit = wall_max_body_bytes
    calendar = WorkingCalendar.from_config(site.working_calendar)
    zone = ZoneInfo(site.site.timezone)
    signer = URLSafeTimedSerializer(secret_key, salt=TOKEN_SALT)
    communes = sorted(site.report_communes(), key=lambda code: site.area(code).name)
    site_name = site.site.name

    def lang_now() -> str:
        # From the query only: reading the form here would parse the body before its limit is set.
        return normalise_lang(request.args.get("lang") or default_lang)

    def token() -> str:
        return str(signer.dumps(secrets.token_urlsafe(12)))

    maps = {lang: commune_map_svg(index, communes, site, lang) for lang in ("vi", "en")}

    def form(lang: str, posted: _Posted, error: str | None = None, status: int = 200) -> Response:
        page = _form_page(lang, site, reports, communes, posted, token(), error, maps[lang])
        response = Response(page, status, mimetype="text/html")
        response.headers["Permissions-Policy"] = GEOLOCATION_POLICY
        response.headers["Cache-Control"] = "no-store"
        return response

    @server.get(PUBLIC_PREFIX)
    def report_form() -> ResponseReturnValue:
        return form(lang_now(), _Posted())

    @server.get(f"{PUBLIC_PREFIX}/form.js")
    def report_script() -> ResponseReturnValue:
        response = Response(_SCRIPT, 200, mimetype="text/javascript")
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response

    @server.get(f"{PUBLIC_PREFIX}/lookup")
    def report_lookup() -> ResponseReturnValue:
        lang = lang_now()
        code = parse_code(request.args.get("code", "")[:40])
        if code is None:
            return _not_found(lang, site_name)
        return redirect(f"{PUBLIC_PREFIX}/{code}?{urlencode({'lang': lang})}", 303)

    @server.post(PUBLIC_PREFIX)
    def report_submit() -> ResponseReturnValue:
        lang = lang_now()
        address = request.remote_addr or "?"
        address_hash = keyed_hash(secret_key, address)
        posted = _Posted()
        phone_hash: str | None = None
        try:
            _check_origin()
            request.max_content_length = body_limit  # the form's own limit, at most the wall's
            if (request.content_length or 0) > body_limit:
                raise _Refused("too_large", 413, f"{request.content_length} bytes", mb=_mb(body_limit))
            try:
                posted = _read_form(intake.max_photos)
            except RequestEntityTooLarge as exc:  # a field beyond the parser's memory limit, a chunked body
                raise _Refused("too_large", 413, "form parser limit", mb=_mb(body_limit)) from exc
            _check_token(signer, request.form.get("token", ""))
            now = clock()
            if store.count_since(now - timedelta(hours=1), address_hash=address_hash) >= intake.per_address_per_hour:
                raise _Refused("rate_limited_address", 429)
            category = _category(reports, posted.category)
            try:
                description = clean_text(posted.description, intake.max_description_chars)
            except ValueError as exc:
                raise _Refused("bad_description", 400, str(exc), n=intake.max_description_chars) from exc
            phone = None
            if posted.phone.strip():
                try:
                    phone = normalise_phone(posted.phone)
                except ValueError as exc:
                    raise _Refused("bad_phone", 400, str(exc)) from exc
                phone_hash = keyed_hash(secret_key, phone)
                if store.count_since(now - timedelta(hours=24), phone=phone) >= intake.per_phone_per_day:
                    raise _Refused("rate_limited_phone", 429)
            where, lon, lat, source = _locate(site, index, calendar, zone, category, posted, now)
            photos = _photos(intake, (lon, lat) if source == "gps" else None)
            new = NewReport(
                category=category, description=description, lon=lon, lat=lat, location_source=source,
                commune_code=where.commune_code, unit_id=where.unit_id, deadline=where.deadline, channel="web",
                created_by="public", phone=phone, address_hash=address_hash, received_at=now,
            )
            report = store.submit(new, photos, duplicate_search(category, lon, lat, now, intake))
        except _Refused as refused:
            message = t(f"report.error.{refused.reason}", lang, site=site_name, **refused.params)
            try:
                store.reject(Rejection("web", refused.reason, refused.detail or message, address_hash, phone_hash,
                                       posted.summary()))
            except SinkUnavailable as exc:
                logger.error("report refusal %s not kept (%s): %s", refused.reason, exc, posted.summary())
            if refused.reason in ("cross_site", "too_large"):
                return Response(message + "\n", refused.status, mimetype="text/plain")
            return form(lang, posted, message, refused.status)
        except (SinkUnavailable, BadRecord, CalendarError) as exc:
            logger.error("report not taken (%s): %s", exc, posted.summary())
            return form(lang, posted, t("report.error.unavailable", lang), 503)
        return redirect(f"{PUBLIC_PREFIX}/{report.code}?{urlencode({'lang': lang, 'new': 1})}", 303)

    @server.get(f"{PUBLIC_PREFIX}/<code>")
    def report_status(code: str) -> ResponseReturnValue:
        lang = lang_now()
        parsed = parse_code(code[:40])
        if parsed is None:
            return _not_found(lang, site_name)
        if parsed != code:
            return redirect(f"{PUBLIC_PREFIX}/{parsed}?{urlencode({'lang': lang})}", 301)
        try:
            report = store.get(parsed)
            if report is None:
                return _not_found(lang, site_name)
            events = store.events(parsed)
            photos = store.photos(parsed)
        except SinkUnavailable as exc:
            logger.error("status of %s not read: %s", parsed, exc)
            return Response(t("report.error.unavailable", lang) + "\n", 503, mimetype="text/plain")
        page = _status_page(lang, site, reports, zone, report, events, photos, request.args.get("new") == "1")
        response = Response(page, 200, mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
        return response

    @server.get(f"{PUBLIC_PREFIX}/<code>/photos/<int:photo_id>.jpg")
    def report_photo(code: str, photo_id: int) -> ResponseReturnValue:
        parsed = parse_code(code[:40])
        try:
            data = store.photo(parsed, photo_id) if parsed is not None else None
        except SinkUnavailable as exc:
            logger.error("photo %s of %s not read: %s", photo_id, parsed, exc)
            return Response("unavailable\n", 503, mimetype="text/plain")
        if data is None:
            return Response("not found\n", 404, mimetype="text/plain")
        response = Response(data, 200, mimetype="image/jpeg")
        response.headers["Cache-Control"] = "private, max-age=86400"
        return response


# --- the steps of a submission ---------------------------------------------------------------------------


def _check_origin() -> None:
    """Refuse a post that its browser says came from another site (a page elsewhere posting our form)."""
    fetch_site = request.headers.get("Sec-Fetch-Site", "")
    origin = request.headers.get("Origin", "")
    if fetch_site == "cross-site":
        raise _Refused("cross_site", 403, f"Sec-Fetch-Site: {fetch_site}")
    if origin and origin != "null" and origin.rstrip("/") != request.host_url.rstrip("/"):
        raise _Refused("cross_site", 403, f"Origin: {origin[:200]}")


def _check_token(signer: URLSafeTimedSerializer, sent: str) -> None:
    try:
        signer.loads(sent[:200], max_age=FORM_TOKEN_MAX_AGE_S)
    except BadSignature as exc:  # SignatureExpired is one
        raise _Refused("bad_token", 400, type(exc).__name__) from exc


def _read_form(max_photos: int) -> _Posted:
    f = request.form
    files = [p for p in request.files.getlist("photos") if p.filename]
    posted = _Posted(
        category=f.get("category", "")[:64],
        description=f.get("description", "")[:20_000],
        lon=f.get("lon", "")[:32],
        lat=f.get("lat", "")[:32],
        accuracy=f.get("accuracy", "")[:16],
        source=f.get("source", "")[:8],
        commune=f.get("commune", "")[:16],
        phone=f.get("phone", "")[:32],
        photos=[(p.filename or "", _size(p.stream)) for p in files],
    )
    if len(files) > max_photos:
        raise _Refused("too_many_photos", 400, f"{len(files)} photos", n=max_photos)
    return posted


def _size(stream: IO[bytes]) -> int:
    """Return a file part's size (a multipart part carries no length of its own), leaving it at its start."""
    try:
        size = stream.seek(0, io.SEEK_END)
        stream.seek(0)
    except (OSError, ValueError):
        return -1
    return int(size)


def _category(reports: ReportsConfig, chosen: str) -> str:
    if chosen not in {c.id for c in reports.categories}:
        raise _Refused("bad_category", 400, f"category {chosen!r}")
    return chosen


def _locate(
    site: SiteConfig, index: AreaIndex, calendar: WorkingCalendar, zone: ZoneInfo, category: str, posted: _Posted,
    now: datetime,
) -> tuple[Plan, float, float, LocationSource]:
    """Return the plan of the report and its point: the GPS point, else the chosen commune's inner point."""
    if posted.lon and posted.lat:
        try:
            lon, lat = float(posted.lon), float(posted.lat)
        except ValueError as exc:
            raise _Refused("no_location", 400, f"({posted.lon!r}, {posted.lat!r})") from exc
        if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
            raise _Refused("no_location", 400, f"({posted.lon!r}, {posted.lat!r})")
        try:
            source: LocationSource = "map" if posted.source == "map" else "gps"
            return plan(site, index, calendar, zone, category, lon, lat, now), lon, lat, source
        except OutsideSite as exc:
            raise _Refused("outside_site", 400, str(exc)) from exc
    if posted.commune:
        try:
            where = plan_in_commune(site, calendar, zone, category, posted.commune, now)
        except OutsideSite as exc:
            raise _Refused("no_location", 400, str(exc)) from exc
        inner = index.geometry(where.commune_code).representative_point()
        return where, float(inner.x), float(inner.y), "commune"
    raise _Refused("no_location", 400)


def _photos(intake: ReportIntake, gps: tuple[float, float] | None) -> list[Photo]:
    out = []
    for part in request.files.getlist("photos"):
        if not part.filename:
            continue
        data = part.stream.read(intake.max_photo_bytes + 1)
        try:
            out.append(reencode(data, intake, gps))
        except PhotoRefused as exc:
            raise _Refused(exc.reason, 400, f"{part.filename[:100]}: {exc.detail}",
                           mb=_mb(intake.max_photo_bytes)) from exc
    return out


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f}".removesuffix(".0")


# --- pages -----------------------------------------------------------------------------------------------

MAP_UNITS_PER_DEGREE = 1000.0  # SVG user units per degree of latitude (a commune spans tens of units)
MAP_DRAW_TOLERANCE = 0.001  # degrees, about 100 m: the outline drawn; the commune is found on the full polygon


def commune_map_svg(index: AreaIndex, communes: list[str], site: SiteConfig, lang: str) -> str:
    """Return an inline SVG of the communes' outlines that a citizen can tap to place the report.

    An equirectangular view scaled by cos(latitude) at the middle, so a commune keeps its shape; the page's script
    turns a tap back into longitude and latitude with ``data-lon0``, ``data-lat0`` and ``data-kx`` (units per
    degree of longitude) and ``data-ky`` (per degree of latitude). No tiles, no library: nothing leaves the site.
    """
    shapes = [(code, index.geometry(code)) for code in communes]
    if not shapes:
        return ""
    lon0 = min(g.bounds[0] for _, g in shapes)
    lat_min = min(g.bounds[1] for _, g in shapes)
    lon1 = max(g.bounds[2] for _, g in shapes)
    lat0 = max(g.bounds[3] for _, g in shapes)
    ky = MAP_UNITS_PER_DEGREE
    kx = ky * math.cos(math.radians((lat0 + lat_min) / 2))
    width, height = (lon1 - lon0) * kx, (lat0 - lat_min) * ky

    def ring(coords: Any) -> str:
        return "M" + "L".join(f"{(x - lon0) * kx:.2f},{(lat0 - y) * ky:.2f}" for x, y in coords) + "Z"

    e = html.escape
    paths, labels = [], []
    for code, geometry in shapes:
        drawn = geometry.simplify(MAP_DRAW_TOLERANCE, preserve_topology=True)
        polygons = list(drawn.geoms) if isinstance(drawn, MultiPolygon) else [drawn]
        polygons = [p for p in polygons if isinstance(p, Polygon)]
        d = "".join(ring(p.exterior.coords) + "".join(ring(i.coords) for i in p.interiors) for p in polygons)
        area = site.area(code)
        name = (area.name_en or area.name) if lang == "en" else area.name
        paths.append(f'<path d="{d}" data-code="{e(code)}"><title>{e(name)}</title></path>')
        inner = geometry.representative_point()
        labels.append(
            f'<text x="{(inner.x - lon0) * kx:.2f}" y="{(lat0 - inner.y) * ky:.2f}">{e(name)}</text>'
        )
    font = max(width, height) / 30
    return (
        f'<svg id="report-map" viewBox="0 0 {width:.2f} {height:.2f}" role="img" '
        f'aria-label="{e(t("report.map", lang))}" data-lon0="{lon0:.6f}" data-lat0="{lat0:.6f}" '
        f'data-kx="{kx:.6f}" data-ky="{ky:.6f}">'
        f'<g class="communes" fill="#dfe8f5" stroke="#5c7598" stroke-width="{font / 12:.2f}">{"".join(paths)}</g>'
        f'<g class="labels" font-size="{font:.2f}" fill="#14213d" text-anchor="middle" pointer-events="none">'
        f'{"".join(labels)}</g>'
        f'<circle id="map-pin" r="{font / 2.5:.2f}" cx="0" cy="0" fill="#d93636" stroke="#fff" '
        f'stroke-width="{font / 10:.2f}" visibility="hidden" pointer-events="none"/></svg>'
    )


_STYLE = """
* { box-sizing: border-box; }
body { margin: 0; background: #f4f6fa; color: #14213d; font: 17px/1.5 "Segoe UI", "Noto Sans", Roboto,
       "DejaVu Sans", Arial, sans-serif; }
main { max-width: 640px; margin: 0 auto; padding: 16px; }
header { display: flex; justify-content: space-between; align-items: baseline; gap: 12px; }
h1 { font-size: 24px; margin: 8px 0; }
a { color: #0b5cad; }
.card { background: #fff; border: 1px solid #d6dce8; border-radius: 10px; padding: 16px; margin: 14px 0; }
label { display: block; font-weight: 600; margin: 14px 0 6px; }
.hint { color: #55627a; font-size: 15px; margin: 4px 0; }
input, select, textarea, button { width: 100%; font: inherit; padding: 12px; border: 1px solid #9aa7bf;
                                  border-radius: 8px; background: #fff; color: inherit; }
textarea { min-height: 130px; }
button { background: #0b5cad; color: #fff; border: 0; font-weight: 600; cursor: pointer; margin-top: 18px; }
button.secondary { background: #e6ecf6; color: #0b5cad; margin-top: 8px; }
.error { background: #fde8e8; border: 1px solid #d93636; color: #8a1111; border-radius: 8px; padding: 12px; }
.ok { background: #e5f6ea; border: 1px solid #2e9b4f; color: #145c2a; border-radius: 8px; padding: 12px; }
.code { font: 700 22px/1.3 ui-monospace, "DejaVu Sans Mono", monospace; letter-spacing: 1px; }
dl { display: grid; grid-template-columns: minmax(110px, 40%) 1fr; gap: 6px 12px; margin: 0; }
dt { color: #55627a; }
dd { margin: 0; font-weight: 600; }
ol.history { padding-left: 20px; }
ol.history li { margin: 8px 0; }
.when { color: #55627a; font-size: 15px; }
.photos { display: flex; flex-wrap: wrap; gap: 8px; }
.photos img { width: 30%; min-width: 96px; border-radius: 6px; border: 1px solid #d6dce8; }
#gps-status { margin: 6px 0; }
#report-map { width: 100%; height: auto; max-height: 60vh; background: #f7f9fc; border: 1px solid #d6dce8;
              border-radius: 8px; cursor: crosshair; touch-action: manipulation; }
#report-map path:hover { fill: #c9d8ee; }
@media (min-width: 700px) { body { font-size: 16px; } main { padding: 24px; } }
"""


def _page(lang: str, title: str, body: str, switch_href: str) -> str:
    e = html.escape
    other = t("report.lang.other", lang)
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title>
<style>{_STYLE}</style></head>
<body><main>
<header><h1>{e(title)}</h1>
<a href="{e(switch_href)}" hreflang="{_other(lang)}" id="report-lang">{e(other)}</a></header>
{body}
</main></body></html>"""


def _other(lang: str) -> str:
    return "vi" if lang == "en" else "en"


def _form_page(
    lang: str, site: SiteConfig, reports: ReportsConfig, communes: list[str], posted: _Posted, token: str,
    error: str | None, commune_map: str = "",
) -> str:
    e = html.escape
    intake = reports.intake

    def name(vi: str, en: str) -> str:
        return en if lang == "en" else vi

    options = "".join(
        f'<option value="{e(c.id)}"{" selected" if c.id == posted.category else ""}>{e(name(c.name, c.name_en))}'
        "</option>"
        for c in reports.categories
    )
    commune_options = "".join(
        f'<option value="{e(code)}"{" selected" if code == posted.commune else ""}>'
        f"{e(name(site.area(code).name, site.area(code).name_en or site.area(code).name))}</option>"
        for code in communes
    )
    message = f'<p class="error" role="alert" id="report-error">{e(error)}</p>' if error else ""
    gps_strings = {
        "waiting": t("report.gps.waiting", lang),
        "done": t("report.gps.done", lang, m="{m}"),
        "failed": t("report.gps.failed", lang),
    }
    gps_strings["picked"] = t("report.map.done", lang)
    data_attrs = " ".join(f'data-{k}="{e(v)}"' for k, v in gps_strings.items())
    body = f"""<p>{e(t("report.lead", lang, site=site.site.name))}</p>
{message}
<form class="card" method="post" action="{PUBLIC_PREFIX}?lang={lang}" enctype="multipart/form-data" id="report-form">
<input type="hidden" name="token" value="{e(token)}">
<input type="hidden" name="lang" value="{lang}">
<label for="category">{e(t("report.category", lang))}</label>
<select id="category" name="category" required><option value="">{e(t("report.choose", lang))}</option>{options}</select>
<label for="description">{e(t("report.description", lang))}</label>
<p class="hint">{e(t("report.description.hint", lang))}</p>
<textarea id="description" name="description" required
 maxlength="{intake.max_description_chars}">{e(posted.description)}</textarea>
<label for="photos">{e(t("report.photos", lang, n=intake.max_photos))}</label>
<input id="photos" name="photos" type="file" accept="image/*" multiple data-max="{intake.max_photos}"
 data-side="{intake.photo_long_side_px}" data-bytes="{intake.max_photo_bytes}">
<label>{e(t("report.location", lang))}</label>
<input type="hidden" name="lon" id="lon" value="{e(posted.lon)}">
<input type="hidden" name="lat" id="lat" value="{e(posted.lat)}">
<input type="hidden" name="accuracy" id="accuracy" value="{e(posted.accuracy)}">
<button type="button" class="secondary" id="gps" {data_attrs}>{e(t("report.gps", lang))}</button>
<button type="button" class="secondary" id="gps-clear" hidden>{e(t("report.gps.clear", lang))}</button>
<p id="gps-status" class="hint" aria-live="polite"></p>
<input type="hidden" name="source" id="source" value="{e(posted.source)}">
<p class="hint">{e(t("report.map", lang))}</p>
{commune_map}
<label for="commune">{e(t("report.commune", lang))}</label>
<select id="commune" name="commune"><option value="">{e(t("report.choose", lang))}</option>{commune_options}</select>
<label for="phone">{e(t("report.phone", lang))}</label>
<p class="hint">{e(t("report.phone.hint", lang))}</p>
<input id="phone" name="phone" type="tel" inputmode="tel" autocomplete="tel" maxlength="20" value="{e(posted.phone)}">
<button type="submit" id="report-submit">{e(t("report.submit", lang))}</button>
</form>
<form class="card" method="get" action="{PUBLIC_PREFIX}/lookup">
<input type="hidden" name="lang" value="{lang}">
<label for="code">{e(t("report.lookup", lang))}</label>
<input id="code" name="code" placeholder="PA-XXXXX-XXXXX" autocapitalize="characters" maxlength="20" required>
<button type="submit" class="secondary">{e(t("report.lookup.go", lang))}</button>
</form>
<script src="{PUBLIC_PREFIX}/form.js"></script>"""
    return _page(lang, t("report.title", lang), body, f"{PUBLIC_PREFIX}?lang={_other(lang)}")


def _status_page(
    lang: str, site: SiteConfig, reports: ReportsConfig, zone: ZoneInfo, report: Report, events: list[Any],
    photos: list[Any], just_sent: bool,
) -> str:
    e = html.escape

    def name(vi: str, en: str | None) -> str:
        return en if lang == "en" and en else vi

    def when(at: datetime) -> str:
        return at.astimezone(zone).strftime("%H:%M %d/%m/%Y")

    category = next((c for c in reports.categories if c.id == report.category), None)
    unit = next((u for u in reports.units if u.id == report.unit_id), None)
    try:
        area = site.area(report.commune_code)
        commune = name(area.name, area.name_en)
    except KeyError:
        commune = report.commune_code
    rows = [
        (t("report.code", lang), f'<span class="code">{e(report.code)}</span>'),
        (t("report.state", lang), e(t(f"report.status.{report.status}", lang))),
        (t("report.category", lang), e(name(category.name, category.name_en) if category else report.category)),
        (t("report.received_at", lang), e(when(report.created_at))),
        (t("report.commune.label", lang), e(commune)),
        (t("report.unit", lang), e(name(unit.name, unit.name_en) if unit else report.unit_id)),
        (t("report.deadline", lang), e(report.deadline.astimezone(zone).strftime("%d/%m/%Y"))),
    ]
    if report.simulated:
        rows.append((t("report.simulated.label", lang), e(t("report.simulated", lang))))
    details = "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in rows)
    thanks = f'<p class="ok" role="status">{e(t("report.thanks", lang, code=report.code))}</p>' if just_sent else ""
    duplicate = ""
    if report.duplicate_of_code:
        link = f"{PUBLIC_PREFIX}/{report.duplicate_of_code}?lang={lang}"
        text = e(t("report.duplicate", lang, code="\x00")).replace(
            "\x00", f'<a href="{e(link)}">{e(report.duplicate_of_code)}</a>'
        )
        duplicate = f"<p>{text}</p>"
    # The public sees each step and the answer given when the report is closed; working notes stay inside.
    steps = "".join(
        f'<li><span class="when">{e(when(ev.at))}</span><br>{e(t(f"report.step.{ev.action}", lang))}'
        + (f"<br>{e(ev.note)}" if ev.note and ev.action in ("resolve", "reject") else "")
        + "</li>"
        for ev in events
        if ev.action != "note"
    )

    def gallery(kind: str, title_key: str) -> str:
        chosen = [p for p in photos if p.kind == kind]
        if not chosen:
            return ""
        images = "".join(
            f'<a href="{PUBLIC_PREFIX}/{report.code}/photos/{p.id}.jpg">'
            f'<img src="{PUBLIC_PREFIX}/{report.code}/photos/{p.id}.jpg" alt="" width="{p.width}" '
            f'height="{p.height}" loading="lazy"></a>'
            for p in chosen
        )
        return f'<h2>{e(t(title_key, lang))}</h2><div class="photos">{images}</div>'

    body = f"""{thanks}<div class="card"><dl>{details}</dl>{duplicate}</div>
<div class="card"><h2>{e(t("report.history", lang))}</h2><ol class="history">{steps}</ol>
{gallery("report", "report.your_photos")}{gallery("fix", "report.fix_photos")}</div>
<p><a href="{PUBLIC_PREFIX}?lang={lang}">{e(t("report.new", lang))}</a></p>"""
    switch = f"{PUBLIC_PREFIX}/{report.code}?lang={_other(lang)}"
    return _page(lang, t("report.title", lang), body, switch)


def _not_found(lang: str, site_name: str) -> Response:
    e = html.escape
    body = f"""<p class="error" role="alert">{e(t("report.not_found", lang))}</p>
<p><a href="{PUBLIC_PREFIX}?lang={lang}">{e(t("report.title", lang))}</a></p>"""
    page = _page(lang, t("report.title", lang), body, f"{PUBLIC_PREFIX}?lang={_other(lang)}")
    return Response(page, 404, mimetype="text/html")


# Served from /report/form.js so the Content-Security-Policy needs no inline script. Strings come from the
# button's data- attributes, written by the server in the page's language.
_SCRIPT = r"""(function () {
  "use strict";
  var button = document.getElementById("gps");
  var clear = document.getElementById("gps-clear");
  var status = document.getElementById("gps-status");
  var lon = document.getElementById("lon");
  var lat = document.getElementById("lat");
  var accuracy = document.getElementById("accuracy");
  var form = document.getElementById("report-form");
  var source = document.getElementById("source");
  var map = document.getElementById("report-map");
  if (!button || !form) { return; }
  function show(text) { status.textContent = text; }
  function taken() {
    clear.hidden = !(lon.value && lat.value);
    if (lon.value && lat.value) {
      show(source.value === "map" ? button.dataset.picked : button.dataset.done.replace("{m}", accuracy.value || "?"));
    }
  }
  if (!("geolocation" in navigator)) { button.hidden = true; }
  button.addEventListener("click", function () {
    show(button.dataset.waiting);
    navigator.geolocation.getCurrentPosition(function (pos) {
      lon.value = pos.coords.longitude.toFixed(6);
      lat.value = pos.coords.latitude.toFixed(6);
      accuracy.value = String(Math.round(pos.coords.accuracy));
      source.value = "gps";
      pin();
      taken();
    }, function () {
      show(button.dataset.failed);
    }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 });
  });
  clear.addEventListener("click", function () {
    lon.value = ""; lat.value = ""; accuracy.value = ""; source.value = ""; show(""); pin(); taken();
  });
  // The communes' map: a tap is turned back into longitude and latitude by the projection the server wrote.
  function pin() {
    if (!map) { return; }
    var dot = document.getElementById("map-pin");
    if (!(lon.value && lat.value)) { dot.setAttribute("visibility", "hidden"); return; }
    var d = map.dataset;
    dot.setAttribute("cx", String((parseFloat(lon.value) - parseFloat(d.lon0)) * parseFloat(d.kx)));
    dot.setAttribute("cy", String((parseFloat(d.lat0) - parseFloat(lat.value)) * parseFloat(d.ky)));
    dot.setAttribute("visibility", "visible");
  }
  if (map) {
    map.addEventListener("click", function (event) {
      var point = map.createSVGPoint();
      point.x = event.clientX;
      point.y = event.clientY;
      var at = point.matrixTransform(map.getScreenCTM().inverse());
      var d = map.dataset;
      lon.value = (parseFloat(d.lon0) + at.x / parseFloat(d.kx)).toFixed(6);
      lat.value = (parseFloat(d.lat0) - at.y / parseFloat(d.ky)).toFixed(6);
      accuracy.value = "";
      source.value = "map";
      pin();
      taken();
    });
  }
  var photos = document.getElementById("photos");
  var submit = document.getElementById("report-submit");
  // A phone's photo is several megabytes; over a rural 3G link and under the server's body limit it must be
  // made small first: drawn on a canvas (upright, without its EXIF) at most data-side pixels, as JPEG.
  function shrink(file, side, limit) {
    return new Promise(function (resolve, reject) {
      var url = URL.createObjectURL(file);
      var img = new Image();
      img.onload = function () {
        var scale = Math.min(1, side / Math.max(img.naturalWidth, img.naturalHeight));
        var canvas = document.createElement("canvas");
        canvas.width = Math.max(1, Math.round(img.naturalWidth * scale));
        canvas.height = Math.max(1, Math.round(img.naturalHeight * scale));
        canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
        URL.revokeObjectURL(url);
        var attempt = function (quality) {
          canvas.toBlob(function (blob) {
            if (!blob) { reject(new Error("no blob")); return; }
            if (blob.size > limit && quality > 0.45) { attempt(quality - 0.15); return; }
            var name = (file.name || "photo").replace(/\.[^.]*$/, "") + ".jpg";
            resolve(new File([blob], name, { type: "image/jpeg" }));
          }, "image/jpeg", quality);
        };
        attempt(0.85);
      };
      img.onerror = function () { URL.revokeObjectURL(url); reject(new Error("not an image")); };
      img.src = url;
    });
  }
  form.addEventListener("submit", function (event) {
    var max = parseInt(photos.dataset.max, 10);
    if (photos.files && photos.files.length > max) {
      event.preventDefault();
      photos.value = "";
      return;
    }
    submit.disabled = true;
    if (!photos.files || !photos.files.length || !window.DataTransfer || !window.Promise) { return; }
    event.preventDefault();
    var side = parseInt(photos.dataset.side, 10);
    var limit = parseInt(photos.dataset.bytes, 10);
    Promise.all(Array.prototype.map.call(photos.files, function (file) { return shrink(file, side, limit); }))
      .then(function (files) {
        var list = new DataTransfer();
        files.forEach(function (file) { list.items.add(file); });
        photos.files = list.files;
      }, function () { /* send them as they are; the server says if one is too large */ })
      .then(function () { form.submit(); });
  });
  pin();
  taken();
}());
"""

