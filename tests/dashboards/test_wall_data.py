"""PostgresWallData on the real PostgreSQL: stations, alerts in both languages, trends, freshness, outages."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from psycopg_pool import ConnectionPool

from dashboards.data import PostgresWallData, StationSpec, render_message, station_view
from dashboards.wall_scope import Scope
from ioc.config.models import SiteConfig
from ioc.errors import SinkUnavailable
from ioc.store.live import MemoryLiveStore
from tests.dashboards.conftest import MT01_VALUE, NS01_STATION_NAME, NS01_VALUE


@pytest.fixture(scope="module")
def wall(
    pool: ConnectionPool, live: MemoryLiveStore, site: SiteConfig, filled: dict[str, object]
) -> PostgresWallData:
    return PostgresWallData(pool, live, site)


def test_stations_in_config_order_with_live_and_database_values(
    wall: PostgresWallData, now: datetime
) -> None:
    by_id = {s.id: s for s in wall.stations()}
    assert [s.id for s in wall.stations()] == ["NS-01", "MT-01", "MP-01", "NN-01"]

    ns = by_id["NS-01"]
    assert ns.value == pytest.approx(NS01_VALUE)
    assert ns.level == 2
    assert ns.observed_at == now - timedelta(seconds=30)
    assert ns.thresholds == (2.0, 3.0, 4.0)
    assert ns.area == "Na Sang" and ns.river == "Nậm Chà"

    # Not in the live store: the newest raw row stands in.
    mt = by_id["MT-01"]
    assert mt.value == pytest.approx(MT01_VALUE)
    assert mt.level == 0
    assert (
        mt.observed_at is not None
        and abs((mt.observed_at - (now - timedelta(minutes=10))).total_seconds()) < 1
    )

    never = by_id["MP-01"]
    assert never.value is None and never.level is None and never.observed_at is None


def test_open_alerts_exclude_resolved_and_put_the_most_severe_first(wall: PostgresWallData) -> None:
    alerts = wall.open_alerts(10, "vi")
    assert [a.key for a in alerts] == ["flood:NS-01:level", "flood:NN-01:level"]
    assert [a.status for a in alerts] == ["open", "acknowledged"]
    assert wall.count_open_alerts() == 2
    assert len(wall.open_alerts(1, "vi")) == 1


@pytest.mark.parametrize(
    ("lang", "message"),
    [
        ("vi", f"Trạm {NS01_STATION_NAME}: mực nước 3,20 m, vượt báo động II"),
        ("en", f"Station {NS01_STATION_NAME}: water level 3.20 m, above alarm level II"),
    ],
)
def test_alert_message_in_each_language(
    wall: PostgresWallData, filled: dict[str, object], lang: str, message: str
) -> None:
    first = wall.open_alerts(10, lang)[0]
    assert first.message == message
    assert first.alert_id == filled["major_alert_id"]
    assert first.severity == "major"
    assert first.area == "Na Sang"
    assert first.opened_at == filled["opened_at"]


def test_level_history_reads_the_minute_rollup_within_the_window(
    wall: PostgresWallData, now: datetime
) -> None:
    points = wall.level_history("NS-01", 2)
    assert 115 <= len(points) <= 121
    assert all(a.at < b.at for a, b in itertools.pairwise(points))
    assert all(p.at >= now - timedelta(hours=2, minutes=1) for p in points)
    assert points[-1].value == pytest.approx(3.79)
    # The 9.9 m reading three days ago is outside a 6 h window.
    assert max(p.value for p in wall.level_history("NS-01", 6)) < 4
    assert wall.level_history("NN-01", 6) == []


def test_freshness_reports_each_source(wall: PostgresWallData, now: datetime) -> None:
    wall.open_alerts(5, "vi")
    fresh = wall.freshness()
    assert fresh.database_ok and fresh.live_ok
    assert fresh.live_newest == now - timedelta(seconds=30)
    assert fresh.readings_newest is not None
    assert abs((fresh.readings_newest - (now - timedelta(minutes=1))).total_seconds()) < 61
    assert fresh.alerts_read_at is not None and fresh.alerts_read_at >= now


def test_unreachable_database_is_sink_unavailable_and_live_values_still_show(
    dead_pool: ConnectionPool, live: MemoryLiveStore, site: SiteConfig
) -> None:
    wall = PostgresWallData(dead_pool, live, site)
    with pytest.raises(SinkUnavailable):
        wall.open_alerts(5, "vi")
    with pytest.raises(SinkUnavailable):
        wall.level_history("NS-01", 6)
    fresh = wall.freshness()
    assert not fresh.database_ok and fresh.live_ok and fresh.alerts_read_at is None
    ns = wall.stations()[0]
    assert ns.value == pytest.approx(NS01_VALUE) and ns.level == 2


SPEC = StationSpec(
    id="NS-01",
    name="NS",
    river="Nậm Chà",
    area_code="03172",
    area="Na Sang",
    lat=21.7,
    lon=103.1,
    thresholds=(2.0, 3.0, 4.0),
    hysteresis_m=0.15,
    expected_interval_s=300,
)


@pytest.mark.parametrize(
    ("value", "alert_level", "level"),
    [
        (1.0, None, 0),
        (2.0, None, 1),
        (3.5, None, 2),
        (4.2, None, 3),
        (2.9, 2, 2),  # inside the hysteresis band of level II: still II, as the open alert says
        (2.8, 2, 1),  # below 3.0 - 0.15: down to I
        (2.9, None, 1),  # no open alert: the raw level
    ],
)
def test_station_level_follows_the_open_alert_through_the_hysteresis(
    value: float, alert_level: int | None, level: int, now: datetime
) -> None:
    assert station_view(SPEC, (now, value), alert_level).level == level


def test_station_without_a_value_has_no_level() -> None:
    view = station_view(SPEC, None, 2)
    assert view.level is None and view.value is None


def test_resolved_message_keeps_its_parameters() -> None:
    text = render_message(
        "alert.flood.level.resolved", {"station": "X", "level": "II", "value": 1.5, "alarm_level": 0}, "vi"
    )
    assert text == "Trạm X: mực nước 1,50 m, đã xuống dưới mức báo động"


@pytest.mark.parametrize(
    ("codes", "alert_stations", "stations"),
    [
        (None, {"NS-01", "NN-01"}, ["NS-01", "MT-01", "MP-01", "NN-01"]),
        (frozenset({"03194"}), {"NN-01"}, ["NN-01"]),
        (frozenset({"03172", "03194"}), {"NS-01", "NN-01"}, ["NS-01", "NN-01"]),
        (frozenset({"03202"}), set(), ["MP-01"]),  # its only alert is resolved
        (frozenset(), set(), []),
    ],
)
def test_the_scope_is_applied_in_the_queries(
    wall: PostgresWallData,
    codes: frozenset[str] | None,
    alert_stations: set[str],
    stations: list[str],
) -> None:
    scope = Scope(codes)
    assert {a.source_id for a in wall.open_alerts(20, "vi", scope)} == alert_stations
    assert wall.count_open_alerts(scope) == len(alert_stations)
    assert [s.id for s in wall.stations(scope)] == stations
    assert all(scope.covers(c.area_code) for c in wall.cameras(scope))
    assert all(scope.covers(t.area_code) for t in wall.tiles("vi", scope))


def test_level_histories_read_every_station_at_once_like_one_by_one(wall) -> None:  # type: ignore[no-untyped-def]
    ids = ["NS-01", "NN-01", "NOPE"]
    together = wall.level_histories(ids, 6)
    assert set(together) == set(ids)
    for sid in ids:
        assert together[sid] == wall.level_history(sid, 6)
    assert together["NOPE"] == [] and together["NS-01"]
    # Five-minute averages for the gauges' sparklines: fewer points, the same level.
    coarse = wall.level_histories(["NS-01"], 6, step_s=300)["NS-01"]
    assert len(coarse) <= len(together["NS-01"]) // 4 + 2
    assert all(a.at < b.at for a, b in itertools.pairwise(coarse))
    assert coarse[-1].value == pytest.approx(sum(p.value for p in together["NS-01"] if p.at >= coarse[-1].at)
                                             / len([p for p in together["NS-01"] if p.at >= coarse[-1].at]))
