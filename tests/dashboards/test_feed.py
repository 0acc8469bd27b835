"""The alert feed for a room (issue 15): real-time alerts first, grouped by severity; reports apart; counts."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from plotly.utils import PlotlyJSONEncoder
from psycopg_pool import ConnectionPool

from dashboards.data import AlertView
from dashboards.feed_data import REPORTS, FeedCounts
from dashboards.format import VN_TZ
from dashboards.wall_pages import count_groups, feed_header, realtime_feed, reports_feed
from dashboards.wall_scope import Scope

NOW = datetime(2026, 11, 2, 3, tzinfo=UTC)


def _alert(kind: str, severity: str, minutes_ago: int, message: str) -> AlertView:
    at = NOW - timedelta(minutes=minutes_ago)
    return AlertView(
        alert_id=uuid.uuid4(),
        key=f"{kind}:{message}",
        severity=severity,
        status="open",
        message=message,
        opened_at=at,
        updated_at=at,
        area_code="03172",
        area="Na Sang",
        source_kind=kind,
        source_id="x",
        value=None,
    )


def _ids(node: Any) -> list[str]:
    """Every component id under ``node``, in document order."""
    found: list[str] = []

    def walk(n: Any) -> None:
        if isinstance(n, dict):
            props = n.get("props", {})
            if "id" in props:
                found.append(str(props["id"]))
            walk(props.get("children"))
        elif isinstance(n, list):
            for c in n:
                walk(c)

    walk(json.loads(json.dumps(node, cls=PlotlyJSONEncoder)))
    return found


# As the database hands them over: most severe first, newest first; the monthly KPI reports outnumber the
# two alerts that need someone now (the demo had 48 open alerts, most of them reports).
ALERTS = [
    _alert("kpi", "major", 60 * 24 * 30, "kpi-old-major"),
    _alert("flood", "major", 5, "flood-major"),
    *[_alert("kpi", "warning", 60 * 24 * k, f"kpi-{k}") for k in range(1, 30)],
    _alert("camera", "warning", 2, "camera-warning"),
    _alert("crowd", "info", 1, "crowd-info"),
]


def test_real_time_alerts_come_first_grouped_by_severity_and_reports_stay_apart() -> None:
    counts = count_groups(ALERTS)
    assert counts == {"flood": 1, "traffic": 0, "crowd": 1, "camera": 1, REPORTS: 30}
    live = _ids(realtime_feed(ALERTS, counts, NOW, "vi", VN_TZ, may_ack=True))
    groups = [i for i in live if i.startswith("alerts-group-")]
    assert groups == ["alerts-group-major", "alerts-group-warning", "alerts-group-info"]
    messages = [a.message for a in ALERTS if f"alert-{a.alert_id}" in live]
    assert sorted(messages) == ["camera-warning", "crowd-info", "flood-major"]  # no report among them
    assert (
        live.index("alerts-group-major")
        < live.index(f"alert-{ALERTS[1].alert_id}")
        < live.index("alerts-group-warning")
    )
    reports = _ids(reports_feed(ALERTS, counts, NOW, "vi", VN_TZ, may_ack=True))
    shown = [i for i in reports if i.startswith("alert-")]
    assert len(shown) == 20 and f"alert-{ALERTS[1].alert_id}" not in reports


def test_the_header_counts_every_kind() -> None:
    text = json.dumps(feed_header(count_groups(ALERTS), "vi"), cls=PlotlyJSONEncoder, ensure_ascii=False)
    for words in ("33 đang mở", "Lũ 1", "Giao thông 0", "Đám đông 1", "Camera 1", "Báo cáo 30"):
        assert words in text
    english = json.dumps(feed_header(count_groups(ALERTS), "en"), cls=PlotlyJSONEncoder)
    assert "Flood 1" in english and "Reports 30" in english


def test_with_no_live_alert_the_feed_says_so_and_the_reports_wait_in_their_section() -> None:
    reports_only = [a for a in ALERTS if a.source_kind == "kpi"]
    text = json.dumps(
        realtime_feed(reports_only, count_groups(reports_only), NOW, "vi", VN_TZ, False),
        cls=PlotlyJSONEncoder,
        ensure_ascii=False,
    )
    assert "Không có cảnh báo trực tiếp nào đang mở" in text


def test_counts_are_read_over_every_open_alert_of_the_scope(pool: ConnectionPool, filled: dict[str, object]) -> None:
    """The shared fixture: NS-01's major flood alert (Na Sang), NN-01's acknowledged one, MP-01's resolved."""
    feed = FeedCounts(pool)
    assert feed.open_by_group(Scope.whole_site()) == {"flood": 2, "traffic": 0, "crowd": 0, "camera": 0, REPORTS: 0}
    assert feed.open_by_group(Scope(frozenset({"03172"})))["flood"] == 1


def test_who_acknowledged_is_said_in_words(site_dir: Path) -> None:
    """Regression (issue 15, item 7): the feed said 'nguyen-van-hung đã tiếp nhận' for an SMS reply."""
    from dataclasses import replace

    from dashboards.words import Words
    from ioc.config.loader import load_site

    words = Words(load_site(site_dir))
    by_sms = replace(ALERTS[1], status="acknowledged", acknowledged_by="nguyen-van-hung")
    by_wall = replace(ALERTS[-1], status="acknowledged", acknowledged_by="truc.ban")
    feed = [by_sms, by_wall]
    text = json.dumps(
        realtime_feed(feed, count_groups(feed), NOW, "vi", VN_TZ, False, words),
        ensure_ascii=False,
        cls=PlotlyJSONEncoder,
    )
    assert "Nguyễn Văn Hùng (cán bộ trực, Mường Chà (huyện cũ)) đã tiếp nhận" in text
    assert "tài khoản truc.ban đã tiếp nhận" in text
