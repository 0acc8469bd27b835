"""Simulated citizens' reports for ``ioc demo``: a plausible stream, each report marked simulated.

Reports come about one every ``mean_gap_s`` (more by day than by night), of the site's categories in the shares a
commune hotline sees (roads and flooding most), at a random point of a random commune, in the words people use on
the phone or the form. They go through the same routing, deadlines and near-duplicate rule as a real one
(``analytics.reports``) and into the same table, with ``simulated`` set, no phone number and no photo. Older ones
have moved on: most were assigned within hours, taken in hand, and resolved, a few after their deadline, some are
still open (a few overdue), so the wall's panel and the leaders' on-time share have something true to show.

The stream is the same for the same start (seeded by it).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from shapely.geometry import Point

from analytics.reports import Action, OutsideSite, Status, duplicate_search, next_status, plan
from analytics.working_days import WorkingCalendar
from ioc.config.models import SiteConfig
from ioc.errors import CalendarError
from ioc.geo import AreaIndex
from ioc.store.reports import NewReport, ReportStore

logger = logging.getLogger(__name__)

ACTOR = "mo-phong"  # the simulator's name in each report's trail
# Category -> (weight, what people write); categories of a site that are not here get the "other" lines.
WORDS: dict[str, tuple[int, tuple[str, ...]]] = {
    "traffic": (5, (
        "Ổ gà lớn giữa đường, xe máy đi qua rất nguy hiểm",
        "Đèn tín hiệu ở ngã ba không hoạt động từ sáng",
        "Xe tải đỗ chắn nửa đường gần chợ",
        "Cây đổ chắn ngang đường vào bản",
    )),
    "flooding_landslide": (4, (
        "Nước ngập qua mặt đường, xe không đi được",
        "Đất đá sạt xuống taluy dương, lấp một phần đường",
        "Suối dâng cao, cầu tràn bị ngập",
        "Vết nứt mới trên sườn đồi sau nhà dân",
    )),
    "environment_sanitation": (3, (
        "Rác thải đổ bừa bãi cạnh suối, bốc mùi",
        "Nước thải chảy tràn ra đường",
        "Khói đốt rơm rạ cả ngày gần trường học",
    )),
    "public_order": (2, (
        "Nhóm thanh niên tụ tập gây ồn ào đêm khuya",
        "Nghi có người lạ đi lại nhiều lần quanh kho hàng",
    )),
    "infrastructure_lighting": (3, (
        "Cột đèn đường bị tắt cả đoạn, tối om",
        "Nắp cống bị vỡ trên vỉa hè",
        "Đường ống nước bị vỡ, nước chảy lênh láng",
    )),
    "administrative_procedure": (1, (
        "Nộp hồ sơ cấp giấy chứng nhận đã quá hẹn chưa có kết quả",
        "Không liên hệ được bộ phận một cửa qua số điện thoại niêm yết",
    )),
    "other": (1, ("Chó thả rông cắn người gần nhà văn hoá",)),
}


@dataclass(frozen=True)
class ReportSimulator:
    """Makes simulated reports of one site and takes their lifecycle steps, into ``store``."""

    site: SiteConfig
    index: AreaIndex
    calendar: WorkingCalendar
    zone: tzinfo
    store: ReportStore
    mean_gap_s: float = 5400.0

    def between(self, start: datetime, end: datetime, now: datetime) -> int:
        """Submit the reports made after ``start`` up to ``end`` and the steps taken on them up to ``now``;
        return how many were stored."""
        rng = random.Random(f"reports:{start.isoformat()}")
        at, made = start, 0
        while True:
            local_hour = (at.astimezone(self.zone)).hour
            gap = self.mean_gap_s * (0.6 if 7 <= local_hour < 21 else 3.0)
            at += timedelta(seconds=rng.expovariate(1 / gap))
            if at > end:
                return made
            made += self._one(rng, at, now)

    def _one(self, rng: random.Random, at: datetime, now: datetime) -> int:
        assert self.site.reports is not None  # feed_reports() builds a simulator only for a site with reports
        categories = [c.id for c in self.site.reports.categories]
        weights = [WORDS.get(c, WORDS["other"])[0] for c in categories]
        category = rng.choices(categories, weights)[0]
        text = rng.choice(WORDS.get(category, WORDS["other"])[1])
        communes = [c for c in self.site.report_communes() if c in self.index.codes]
        if not communes:
            return 0
        lon, lat = self._point_in(rng, rng.choice(communes))
        try:
            where = plan(self.site, self.index, self.calendar, self.zone, category, lon, lat, at)
        except (OutsideSite, CalendarError) as exc:  # a year the calendar does not declare: no report then
            logger.debug("simulated report skipped: %s", exc)
            return 0
        intake = self.site.reports.intake
        report = self.store.submit(
            NewReport(category=category, description=text, lon=lon, lat=lat, location_source="gps",
                      commune_code=where.commune_code, unit_id=where.unit_id, deadline=where.deadline,
                      channel=rng.choice(("web", "web", "operator")), created_by=ACTOR, received_at=at,
                      simulated=True),
            duplicates=duplicate_search(category, lon, lat, at, intake),
        )
        self._progress(rng, report.code, at, where.deadline, now)
        return 1

    def _point_in(self, rng: random.Random, commune: str) -> tuple[float, float]:
        shape = self.index.geometry(commune)
        lon_min, lat_min, lon_max, lat_max = shape.bounds
        for _ in range(200):
            lon, lat = rng.uniform(lon_min, lon_max), rng.uniform(lat_min, lat_max)
            if shape.contains(Point(lon, lat)):
                return round(lon, 6), round(lat, 6)
        point = shape.representative_point()
        return round(point.x, 6), round(point.y, 6)

    def _progress(self, rng: random.Random, code: str, at: datetime, deadline: datetime, now: datetime) -> None:
        """Take the steps a unit would have taken by ``now``: assign, take in hand, resolve (on time or late)."""
        span = max((deadline - at).total_seconds(), 3600.0)
        steps: list[tuple[Action, datetime, str | None]] = [
            (Action.ASSIGN, at + timedelta(seconds=rng.uniform(0.02, 0.1) * span), "Đã chuyển cán bộ phụ trách"),
            (Action.PROGRESS, at + timedelta(seconds=rng.uniform(0.1, 0.4) * span), "Đang kiểm tra hiện trường"),
        ]
        late = rng.random() < 0.15
        if rng.random() < 0.04:
            steps.append((Action.REJECT, steps[1][1] + timedelta(hours=2), "Không thuộc thẩm quyền, đã hướng dẫn"))
        else:
            share = rng.uniform(1.05, 1.6) if late else rng.uniform(0.4, 0.95)
            steps.append((Action.RESOLVE, at + timedelta(seconds=share * span), "Đã xử lý xong"))
        for action, when, note in steps:
            if when > now:
                return
            self.store.step(code, action.value, actor=ACTOR, decide=_decide(action), note=note, at=when)


def _decide(action: Action) -> Callable[[str], str]:
    def decide(status: str) -> str:
        return next_status(Status(status), action).value
    return decide


def report_simulator(site: SiteConfig, index: AreaIndex, zone: tzinfo, store: ReportStore) -> ReportSimulator | None:
    """Return the simulator of the site's reports, None when it takes no reports (no ``reports`` or calendar)."""
    if site.reports is None or site.working_calendar is None:
        return None
    return ReportSimulator(site, index, WorkingCalendar.from_config(site.working_calendar), zone, store)
