"""The demo's simulated KPI history: every commune and KPI, finished periods only, plausible and reproducible."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from analytics.kpi import TZ
from ioc.app.sim import KPI_SIM_SOURCE, simulated_kpi_history
from ioc.config.loader import load_site
from ioc.events import PeriodKind

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def test_history_covers_communes_and_finished_periods(site_dir: Path) -> None:
    config = load_site(site_dir)
    values = simulated_kpi_history(config, NOW, months=24)
    communes = {a.code for a in config.areas if a.level == "commune"}
    assert {v.unit_code for v in values} == communes
    assert {v.kpi_id for v in values} == {k.id for k in config.kpis}
    assert all(v.source == KPI_SIM_SOURCE for v in values)
    by_kind = {k: [v.period_start.astimezone(TZ) for v in values if v.period_kind is k] for k in PeriodKind}
    assert max(by_kind[PeriodKind.MONTH]).strftime("%Y-%m") == "2026-10"  # October is the last finished month
    assert max(by_kind[PeriodKind.QUARTER]).strftime("%Y-%m") == "2026-07"  # Q3 2026
    assert max(by_kind[PeriodKind.YEAR]).strftime("%Y-%m") == "2025-01"
    assert all(p.month in (1, 4, 7, 10) for p in by_kind[PeriodKind.QUARTER])
    percents = {k.id for k in config.kpis if k.unit == "%"}
    assert all(0 <= v.value <= 100 for v in values if v.kpi_id in percents)
    assert len({v.event_id for v in values}) == len(values)
    assert simulated_kpi_history(config, NOW) == values  # the same each start: no duplicates in the database


def test_communes_differ_so_the_ranking_ranks(site_dir: Path) -> None:
    values = simulated_kpi_history(load_site(site_dir), NOW)
    last = {v.unit_code: v.value for v in values if v.kpi_id == "online_dossiers_l34_pct"
            and v.period_start == max(x.period_start for x in values if x.period_kind is PeriodKind.MONTH)}
    assert len(set(last.values())) == len(last) > 1
