"""Leaders' panels on real PostgreSQL: index and ranking against hand-computed figures, comparisons, trends,
scope filtering, and the page and its callbacks behind the login and the roles.

Weights in kpis.yaml: dossiers 20, online l3-4 15, signed documents 15, 2G 5, 3G/4G 5, households 10,
broadband centres 5, broadband villages 5, online meetings 5: 85 scored points (procedures l3/l4: no target).

Q4/2025, by hand
  Na Sang (03172)     dossiers avg(97, 98, 99) = 98 of 98 -> 20; online avg(40, 45, 50) = 45 of 50 -> 13.5;
                      signed 98 -> 15; 2G 100 -> 5; 3G/4G 90 of 100 -> 4.5; households 30 of 60 -> 5;
                      centres 100 -> 5; villages 95 -> 5; meetings 100 of 200 -> 2.5     = 75.5 -> 88.8235
  Mường Tùng (03181)  dossiers 49 -> 10; online 25 -> 7.5; signed 98 -> 15; the six yearly ones met:
                      5 + 5 + 10 + 5 + 5 + 5 = 35                                         = 67.5 -> 79.4118
  Pa Ham (03193)      only dossiers, 98 against its own target 100 -> 19.6                = 19.6 -> 23.0588
  Nậm Nèn, Mường Pồn  nothing reported                                                    = 0 (rank 4, 4)
  (Mường Pồn's one figure is of 2023, outside every window of Q4/2025.)
Q3/2025, the previous quarter (the yearly figures of 2025 count in it too)
  Na Sang             dossiers 90 of 98 -> 18.3673; yearly 5 + 4.5 + 5 + 5 + 5 + 2.5 = 27 = 45.3673 -> 53.3733
  Mường Tùng          dossiers 98 -> 20; yearly 35                                        = 55 -> 64.7059
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dash
import psycopg
import pytest
from flask.testing import FlaskClient
from psycopg_pool import ConnectionPool

from dashboards.app import create_app
from dashboards.auth import AuthStore
from dashboards.data import PostgresWallData
from dashboards.leaders_data import (
    Catalog,
    Figure,
    KpiSpec,
    Period,
    PostgresLeadersData,
    build_report,
    format_change,
    format_number,
    format_percent,
    format_value,
    is_better,
)
from ioc.config.models import SiteConfig
from ioc.store.live import MemoryLiveStore
from tests.dashboards.wall_helpers import SECRET, call, find, login

pytestmark = pytest.mark.services

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NA_SANG, MUONG_TUNG, PA_HAM, NAM_NEN, MUONG_PON = "03172", "03181", "03193", "03194", "03202"
PASSWORD = "mat-khau-lanh-dao-1"
USERS = {
    "chu.tich": ("leader", []),
    "xa.muong.tung": ("leader", [MUONG_TUNG]),
    "huyen.cu": ("leader", ["former-muong-cha"]),
    "xa.muong.pon": ("leader", [MUONG_PON]),
    "quan.tri": ("admin", []),
    "truc.ban.ld": ("operator", []),
}

YEARLY_MET = {
    "villages_2g_pct": 100,
    "populated_areas_3g4g_pct": 100,
    "households_online_pct": 60,
    "broadband_commune_centres_pct": 100,
    "broadband_villages_pct": 95,
    "online_meetings_count": 200,
}


def kpi_rows() -> list[tuple[Any, ...]]:
    """The figures of the module docstring, as the KPI importer stores them (local midnight, in UTC)."""
    rows: list[tuple[Any, ...]] = []

    def add(
        kpi: str, unit: str, kind: str, year: int, month: int, value: float, target: float | None
    ) -> None:
        start = datetime(year, month, 1, tzinfo=TZ)
        rows.append((kpi, unit, kind, start, value, target, "test", uuid.uuid4()))

    # Na Sang
    for month, value in [(9, 90), (10, 97), (11, 98), (12, 99)]:
        add("dossiers_on_time_pct", NA_SANG, "month", 2025, month, value, 98)
    add("dossiers_on_time_pct", NA_SANG, "month", 2024, 12, 95, 98)
    for month, value in [(10, 40), (11, 45), (12, 50)]:
        add("online_dossiers_l34_pct", NA_SANG, "month", 2025, month, value, 50)
        add("documents_signed_pct", NA_SANG, "month", 2025, month, 98, 98)
    for kpi, value in [
        ("villages_2g_pct", 100),
        ("populated_areas_3g4g_pct", 90),
        ("households_online_pct", 30),
        ("broadband_commune_centres_pct", 100),
        ("broadband_villages_pct", 95),
        ("online_meetings_count", 100),
    ]:
        add(kpi, NA_SANG, "year", 2025, 1, value, None)
    add("households_online_pct", NA_SANG, "year", 2024, 1, 24, None)
    add("online_procedures_l4_count", NA_SANG, "quarter", 2025, 10, 69, None)
    # Mường Tùng
    add("dossiers_on_time_pct", MUONG_TUNG, "month", 2025, 9, 98, 98)
    for month in (10, 11, 12):
        add("dossiers_on_time_pct", MUONG_TUNG, "month", 2025, month, 49, 98)
        add("online_dossiers_l34_pct", MUONG_TUNG, "month", 2025, month, 25, 50)
        add("documents_signed_pct", MUONG_TUNG, "month", 2025, month, 98, 98)
    for kpi, value in YEARLY_MET.items():
        add(kpi, MUONG_TUNG, "year", 2025, 1, value, None)
    # Mường Pồn: a single yearly figure, long ago (outside every window of Q4/2025)
    add("households_online_pct", MUONG_PON, "year", 2023, 1, 10, None)
    # Pa Ham: its own, stricter target
    for month in (10, 11, 12):
        add("dossiers_on_time_pct", PA_HAM, "month", 2025, month, 98, 100)
    return rows


@pytest.fixture(scope="module")
def kpis_loaded(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        conn.cursor().executemany(
            "INSERT INTO kpi_values (kpi_id, unit_code, period_kind, period_start, value, target, source, "
            "event_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            kpi_rows(),
        )


@pytest.fixture(scope="module")
def leaders_data(pool: ConnectionPool, site: SiteConfig, kpis_loaded: None) -> PostgresLeadersData:
    return PostgresLeadersData(pool, site)


@pytest.fixture(scope="module")
def leaders_app(pool: ConnectionPool, site: SiteConfig, site_dir: Path, kpis_loaded: None) -> dash.Dash:
    auth = AuthStore(pool)
    for name, (role, scopes) in USERS.items():
        auth.ensure_user(name, PASSWORD, role, scopes)  # type: ignore[arg-type]
    return create_app(
        PostgresWallData(pool, MemoryLiveStore(), site), site, auth=auth, secret_key=SECRET, site_dir=site_dir
    )


@pytest.fixture
def as_user(leaders_app: dash.Dash) -> Iterator[Any]:
    def sign_in(name: str) -> FlaskClient:
        client: FlaskClient = leaders_app.server.test_client()
        response = login(client, name, PASSWORD)
        assert response.status_code == 302
        return client

    yield sign_in


Q4 = Period(2025, "quarter", 4)


# --- the pure core ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "previous", "last_year", "label_vi", "label_en"),
    [
        ("2026-01", "2025-12", "2025-01", "01/2026", "01/2026"),
        ("2025-Q1", "2024-Q4", "2024-Q1", "Quý 1/2025", "Q1 2025"),
        ("2025", "2024", "2024", "Năm 2025", "2025"),
    ],
)
def test_periods(key: str, previous: str, last_year: str, label_vi: str, label_en: str) -> None:
    p = Period.parse(key)
    assert p.key() == key
    assert p.previous().key() == previous and p.last_year().key() == last_year
    assert p.label("vi") == label_vi and p.label("en") == label_en
    assert Period.parse("2025-11").at("quarter").key() == "2025-Q4"
    assert Period.parse("2025-11").at("year").end.isoformat() == "2026-01-01"


def test_bad_period_keys_are_refused_clearly() -> None:
    for bad in ("2025-13", "2025-Q5", "07/2025", ""):
        with pytest.raises(ValueError, match="YYYY-MM"):
            Period.parse(bad)


def test_numbers_are_written_vietnamese_style() -> None:
    assert format_number(1234.5, "vi", 1) == "1.234,5"
    assert format_number(1234.5, "en", 1) == "1,234.5"
    assert format_percent(96.63, "vi") == "96,6 %"
    assert format_percent(96.63, "en") == "96.6%"
    assert format_value("count", 133370, "vi") == "133.370"
    assert format_value("%", None, "vi") == "—"
    assert format_change("%", 8.0, "vi") == "+8,0 điểm %"
    assert format_change("%", -1.26, "en") == "-1.3 pp"
    assert format_change("hours", 2.5, "vi") == "+2,5 giờ"


def test_index_of_a_lower_is_better_kpi_by_hand(site: SiteConfig) -> None:
    """A synthetic catalogue: a lower-is-better KPI (days to handle a dossier, target 5, weight 30) and the
    sample's dossiers KPI (weight 20); figures in memory, no database."""
    base = Catalog.from_site(site)
    days = KpiSpec(
        "dossier_days", "Số ngày giải quyết", "Days to handle", "days", False, "month", 5.0, 30.0, None
    )
    cat = Catalog((base.kpi("dossiers_on_time_pct"), days), base.units, base.ranked_level, base.tz)
    dec = Period(2025, "month", 12)
    figures = {
        ("dossier_days", NA_SANG, dec): Figure("dossier_days", NA_SANG, dec, 8.0, None, 1),  # 5/8 -> 18.75
        ("dossiers_on_time_pct", NA_SANG, dec): Figure(
            "dossiers_on_time_pct", NA_SANG, dec, 73.5, 98, 1
        ),  # 15
        ("dossier_days", PA_HAM, dec): Figure("dossier_days", PA_HAM, dec, 4.0, None, 1),  # met -> 30
        ("dossier_days", NA_SANG, dec.previous()): Figure(
            "dossier_days", NA_SANG, dec.previous(), 10.0, None, 1
        ),
    }
    report = build_report(cat, [NA_SANG, PA_HAM], dec, figures)
    got = [(s.unit.code, s.rank, round(s.points, 4), round(s.index or 0, 4)) for s in report.scores]
    assert got == [(NA_SANG, 1, 33.75, 67.5), (PA_HAM, 2, 30.0, 60.0)]
    line = report.scores[0].lines[1]
    assert line.change_previous == -2.0 and is_better(days, line.change_previous) is True
    assert report.scores[0].previous_index == pytest.approx(100 * 15 / 50)  # 5/10 x 30 = 15 of 50


def test_scopes_widen_to_the_areas_inside_them(site: SiteConfig) -> None:
    cat = Catalog.from_site(site)
    assert [u.code for u in cat.in_scope([MUONG_TUNG])] == [MUONG_TUNG]
    communes = {NA_SANG, MUONG_TUNG, PA_HAM, NAM_NEN, MUONG_PON}
    assert {u.code for u in cat.ranked_units(["former-muong-cha"])} == communes  # roster.area_spans
    assert {u.code for u in cat.ranked_units(["11"])} == communes  # parent
    assert cat.in_scope(["no-such-unit"]) == ()
    # 85 reported points and the citizens' reports' 15, which count only for a unit with a figure (when_missing:
    # skip), so the figures below, with no report KPI, still score out of 85
    assert cat.max_points == 100


# --- figures from PostgreSQL --------------------------------------------------------------------------------


def test_ranking_of_the_quarter_matches_the_hand_computed_index(leaders_data: PostgresLeadersData) -> None:
    report = leaders_data.report(Q4, [])
    got = [(s.unit.code, s.rank, round(s.points, 4), round(s.index or 0, 4)) for s in report.scores]
    assert got == [
        (NA_SANG, 1, 75.5, 88.8235),
        (MUONG_TUNG, 2, 67.5, 79.4118),
        (PA_HAM, 3, 19.6, 23.0588),
        (MUONG_PON, 4, 0.0, 0.0),
        (NAM_NEN, 4, 0.0, 0.0),
    ]
    na_sang = report.scores[0]
    assert (na_sang.reported, na_sang.expected) == (9, 9)
    assert (report.scores[2].reported, report.scores[3].reported) == (1, 0)
    # The province and the former district are not ranked, but their KPI lines are there.
    assert {s.unit.code for s in report.others} == {"11", "former-muong-cha"}


def test_index_compared_with_the_previous_quarter(leaders_data: PostgresLeadersData) -> None:
    report = leaders_data.report(Q4, [])
    by = {s.unit.code: s for s in report.scores}
    assert by[NA_SANG].previous_index == pytest.approx(45.367347 / 85 * 100, abs=1e-4)
    assert by[MUONG_TUNG].previous_index == pytest.approx(55 / 85 * 100, abs=1e-4)
    assert (by[NA_SANG].previous_rank, by[MUONG_TUNG].previous_rank) == (2, 1)
    assert by[NA_SANG].index_change == pytest.approx(88.823529 - 53.373349, abs=1e-4)
    assert by[PA_HAM].previous_rank is None and by[PA_HAM].index_change is None  # nothing reported in Q3


def test_kpi_lines_compare_with_the_previous_period_and_last_year(leaders_data: PostgresLeadersData) -> None:
    report = leaders_data.report(Q4, [])
    lines = {ln.kpi.id: ln for ln in report.scores[0].lines}
    dossiers = lines["dossiers_on_time_pct"]
    assert (dossiers.value, dossiers.target, dossiers.reports) == (98.0, 98.0, 3)
    assert (
        dossiers.previous == 90.0 and dossiers.last_year == 95.0
    )  # Q3/2025 (Sep only) and Q4/2024 (Dec only)
    assert dossiers.change_previous == pytest.approx(8.0) and dossiers.change_last_year == pytest.approx(3.0)
    households = lines["households_online_pct"]  # a yearly KPI in a quarterly view: the year's figure
    assert households.period == Period(2025, "year", 1)
    assert (households.value, households.target, households.attainment, households.points) == (
        30,
        60,
        0.5,
        5.0,
    )
    assert households.previous == 24.0 and households.last_year == 24.0
    procedures = lines["online_procedures_l4_count"]
    assert procedures.value == 69 and procedures.points is None and procedures.attainment is None
    pa_ham = {ln.kpi.id: ln for ln in report.score_of(PA_HAM).lines}["dossiers_on_time_pct"]  # type: ignore[union-attr]
    assert (pa_ham.target, pa_ham.attainment, pa_ham.points) == (100.0, 0.98, pytest.approx(19.6))


def test_month_and_year_views(leaders_data: PostgresLeadersData) -> None:
    december = leaders_data.report(Period(2025, "month", 12), [NA_SANG])
    line = {ln.kpi.id: ln for ln in december.scores[0].lines}["dossiers_on_time_pct"]
    assert (line.value, line.previous, line.last_year) == (99.0, 98.0, 95.0)
    year = leaders_data.report(Period(2025, "year", 1), [NA_SANG])
    line = {ln.kpi.id: ln for ln in year.scores[0].lines}["dossiers_on_time_pct"]
    assert line.value == pytest.approx((90 + 97 + 98 + 99) / 4) and line.reports == 4
    assert line.previous == 95.0  # 2024: December only


def test_periods_on_offer(leaders_data: PostgresLeadersData) -> None:
    # Yearly figures never make a quarter appear; monthly and quarterly ones do.
    assert [p.key() for p in leaders_data.periods("quarter", [])] == ["2025-Q4", "2025-Q3", "2024-Q4"]
    assert [p.key() for p in leaders_data.periods("month", [PA_HAM])] == ["2025-12", "2025-11", "2025-10"]
    assert [p.key() for p in leaders_data.periods("year", [])] == ["2025", "2024", "2023"]
    assert leaders_data.periods("month", [NAM_NEN]) == []


def test_trend_by_month_with_the_communes_average(leaders_data: PostgresLeadersData) -> None:
    trend = leaders_data.trend("dossiers_on_time_pct", NA_SANG, Period(2025, "month", 12), 4, [])
    assert [p.period.key() for p in trend.points] == ["2025-09", "2025-10", "2025-11", "2025-12"]
    assert [p.value for p in trend.points] == [90, 97, 98, 99]
    # Average of the communes reporting: Sep (90, 98); Oct-Dec (x, 49, 98).
    assert [round(p.scope_average or 0, 4) for p in trend.points] == [94.0, 81.3333, 81.6667, 82.0]
    assert [p.units_reporting for p in trend.points] == [2, 3, 3, 3]
    quarterly = leaders_data.trend("households_online_pct", NA_SANG, Q4, 3, [])
    assert quarterly.granularity == "year"  # a yearly KPI never shows finer than a year
    assert [(p.period.key(), p.value) for p in quarterly.points] == [
        ("2023", None),
        ("2024", 24),
        ("2025", 30),
    ]


def test_scope_filters_the_queries(leaders_data: PostgresLeadersData) -> None:
    report = leaders_data.report(Q4, [MUONG_TUNG])
    assert report.unit_codes == (MUONG_TUNG,)
    only = report.scores[0]
    assert (only.rank, round(only.index or 0, 4)) == (1, 79.4118)
    figures = leaders_data.figures(Q4, [u.code for u in leaders_data.catalog.in_scope([MUONG_TUNG])])
    assert {unit for (_, unit, _) in figures} == {MUONG_TUNG}
    trend = leaders_data.trend("dossiers_on_time_pct", MUONG_TUNG, Period(2025, "month", 12), 2, [MUONG_TUNG])
    assert [p.scope_average for p in trend.points] == [49, 49]  # the average never includes other communes
    with pytest.raises(PermissionError):
        leaders_data.trend("dossiers_on_time_pct", NA_SANG, Q4, 2, [MUONG_TUNG])


# --- the page, its callbacks, the roles ---------------------------------------------------------------------


def _text(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False)


def page_of(client: FlaskClient, lang: str = "vi") -> Any:
    return call(client, "page-content.children", {"url.pathname": "/leaders", "lang.data": lang})


def page(client: FlaskClient, lang: str = "vi") -> str:
    return _text(page_of(client, lang))


def panels(client: FlaskClient, period: str, unit: str, lang: str = "vi", status: int = 200) -> Any:
    return call(
        client,
        "leaders-ranking-title.children",
        {"leaders-period.value": period, "leaders-unit.value": unit, "leaders-lang.data": lang},
        status,
    )


def test_the_page_without_a_session_redirects_to_login(leaders_app: dash.Dash) -> None:
    client = leaders_app.server.test_client()
    response = client.get("/leaders")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_leader_gets_the_page_with_the_units_of_the_scope(as_user: Any) -> None:
    body = page(as_user("chu.tich"))
    assert '"leaders-granularity"' in body and "Quý" in body and "Xuất Excel" in body
    assert "Na Sang" in body and "Mường Tùng" in body
    scoped = page(as_user("xa.muong.tung"), "en")
    assert "Muong Tung" in scoped and "Na Sang" not in scoped and "Export to Excel" in scoped


def test_a_site_without_monthly_figures_opens_on_the_years(as_user: Any) -> None:
    layout = call(
        as_user("xa.muong.pon"), "page-content.children", {"url.pathname": "/leaders", "lang.data": "vi"}
    )
    assert find(layout, "leaders-granularity")["props"]["value"] == "year"
    period = find(layout, "leaders-period")["props"]
    assert period["value"] == "2023" and period["options"] == [{"label": "Năm 2023", "value": "2023"}]
    assert find(layout, "leaders-unit")["props"]["value"] == MUONG_PON
    assert find(page_of(as_user("chu.tich")), "leaders-granularity")["props"]["value"] == "month"
    out = panels(as_user("xa.muong.pon"), "2023", MUONG_PON)
    assert "Mường Pồn" in _text(out["leaders-ranking"]["children"])
    assert "10,0 %" in _text(out["leaders-kpis"]["children"])


def test_an_operator_never_gets_the_page_or_its_figures(as_user: Any) -> None:
    client = as_user("truc.ban.ld")
    body = page(client)
    assert "page-not-found" in body and "leaders-ranking" not in body
    panels(client, "2025-Q4", NA_SANG, status=204)  # the callback refuses, whatever the browser posts


def test_the_panels_callback_ranks_and_formats_in_vietnamese(as_user: Any) -> None:
    out = panels(as_user("chu.tich"), "2025-Q4", NA_SANG)
    title = out["leaders-ranking-title"]["children"]
    assert title == "Xếp hạng xã theo chỉ số chuyển đổi số · Quý 4/2025"
    ranking = _text(out["leaders-ranking"]["children"])
    assert "88,8" in ranking and "75,5/85" in ranking and "79,4" in ranking and "hạng 2 kỳ trước" in ranking
    kpis = _text(out["leaders-kpis"]["children"])
    assert "98,0 %" in kpis and "+8,0 điểm %" in kpis and "+3,0 điểm %" in kpis and "Năm 2025" in kpis
    assert "Chưa đạt" in kpis and "Đạt" in kpis
    assert "Năm 2025 · trọng số 10 · mốc 2022: 36,0 %" in kpis  # households: period, weight, baseline
    figure = out["leaders-ranking-chart"]["figure"]
    assert figure["data"][0]["y"][-1] == "Na Sang" and figure["data"][0]["text"][-1] == "88,8"
    method = _text(out["leaders-method"]["children"])
    assert "/ 85 \u00d7 100" in method and "Thủ tục hành chính trực tuyến mức độ 4" in method


def test_the_panels_in_english(as_user: Any) -> None:
    out = panels(as_user("quan.tri"), "2025-12", MUONG_TUNG, "en")
    assert out["leaders-kpis-title"]["children"] == "Indicators of Muong Tung · 12/2025"
    assert "49.0%" in _text(out["leaders-kpis"]["children"])


def test_a_scoped_leader_sees_only_their_commune(as_user: Any) -> None:
    client = as_user("xa.muong.tung")
    out = panels(client, "2025-Q4", MUONG_TUNG)
    ranking = _text(out["leaders-ranking"]["children"])
    assert "Mường Tùng" in ranking and "Na Sang" not in ranking and "Pa Ham" not in ranking
    # Asking for a unit outside the scope gives no figures of it.
    other = panels(client, "2025-Q4", NA_SANG)
    assert other["leaders-kpis"]["children"] == "" and "Na Sang" not in _text(other)
    trend = call(
        client,
        "leaders-trend.figure",
        {
            "leaders-period.value": "2025-Q4",
            "leaders-unit.value": NA_SANG,
            "leaders-kpi.value": "dossiers_on_time_pct",
            "leaders-lang.data": "vi",
        },
        204,
    )
    assert trend is None


def test_switching_granularity_keeps_the_period_that_contains_the_chosen_one(as_user: Any) -> None:
    out = call(
        as_user("chu.tich"),
        "leaders-period.options",
        {
            "leaders-granularity.value": "quarter",
            "leaders-period.value": "2025-11",
            "leaders-lang.data": "vi",
        },
    )
    assert out["leaders-period"]["value"] == "2025-Q4"
    assert out["leaders-period"]["options"][0] == {"label": "Quý 4/2025", "value": "2025-Q4"}


def test_the_trend_callback(as_user: Any) -> None:
    out = call(
        as_user("chu.tich"),
        "leaders-trend.figure",
        {
            "leaders-period.value": "2025-12",
            "leaders-unit.value": NA_SANG,
            "leaders-kpi.value": "dossiers_on_time_pct",
            "leaders-lang.data": "vi",
        },
    )
    traces = out["leaders-trend"]["figure"]["data"]
    assert len(traces[0]["x"]) == 24 and traces[0]["x"][-1] == "12/2025"
    assert traces[0]["y"][-4:] == [90, 97, 98, 99] and traces[0]["text"][-1] == "99,0 %"
    assert traces[2]["y"][-1] == 98  # the target line


# --- periods in progress (issue 15, item 9) -----------------------------------------------------------------


def test_a_quarter_in_progress_counts_only_its_ended_months(leaders_data: PostgresLeadersData) -> None:
    """On 3 December 2025, Q4 is October-November: December's reports and the quarter's own report are left out,
    and the yearly KPIs (2025 not ended) are not due."""
    report = leaders_data.report(Q4, [], today=date(2025, 12, 3))
    assert report.period == Period(2025, "quarter", 4, 2)
    assert report.label("vi") == "Quý 4/2025 (đến nay: tháng 10-11)"
    lines = {ln.kpi.id: ln for ln in report.score_of(NA_SANG).lines}  # type: ignore[union-attr]
    dossiers = lines["dossiers_on_time_pct"]
    assert dossiers.value == pytest.approx((97 + 98) / 2) and dossiers.reports == 2
    assert dossiers.previous is None  # July-August: nothing reported (September is not the same months)
    assert lines["online_procedures_l4_count"].value is None and not lines["online_procedures_l4_count"].due
    assert not lines["households_online_pct"].due and lines["households_online_pct"].points is None
    assert report.max_points == 50  # the three monthly KPIs: 20 + 15 + 15


def test_the_year_so_far_is_compared_with_the_same_months_of_last_year(leaders_data: PostgresLeadersData) -> None:
    year = leaders_data.report(Period(2025, "year", 1), [NA_SANG], today=date(2025, 12, 3))
    line = {ln.kpi.id: ln for ln in year.scores[0].lines}["dossiers_on_time_pct"]
    assert line.value == pytest.approx((90 + 97 + 98) / 3) and line.reports == 3
    assert line.previous is None  # January-November 2024 has no report; the whole 2024 (December: 95) is not it
    assert year.label("en") == "2025 (so far: Jan-Nov)"


def test_the_panels_map_the_index_over_the_walls_commune_boundaries(as_user: Any) -> None:
    out = panels(as_user("chu.tich"), "2025-Q4", PA_HAM)
    shapes, selected = out["leaders-map"]["figure"]["data"]
    assert shapes["type"] == "choroplethmap" and shapes["geojson"]["type"] == "FeatureCollection"
    assert set(shapes["locations"]) == {NA_SANG, MUONG_TUNG, PA_HAM, NAM_NEN, MUONG_PON}
    assert selected["locations"] == [PA_HAM]
    assert out["leaders-map-title"]["children"] == "Bản đồ chỉ số theo xã · Quý 4/2025"
    height = out["leaders-ranking-chart"]["figure"]["layout"]["height"]
    assert out["leaders-ranking-chart"]["style"] == {"height": f"{height}px"}


def test_a_click_on_the_map_selects_the_commune_within_the_users_scope(as_user: Any) -> None:
    def click(user: str, code: str, status: int = 200) -> Any:
        posted = {"leaders-map.clickData": {"points": [{"location": code}]}}
        return call(as_user(user), "leaders-unit.value", posted, status)

    assert click("chu.tich", PA_HAM)["leaders-unit"]["value"] == PA_HAM
    assert click("xa.muong.tung", MUONG_TUNG)["leaders-unit"]["value"] == MUONG_TUNG
    assert click("xa.muong.tung", PA_HAM, 204) is None  # outside the leader's scope, whatever the browser posts
    assert click("truc.ban.ld", PA_HAM, 204) is None  # operators get nothing from the leaders' page
