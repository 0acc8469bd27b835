"""The reports' deadline alerts through the Faust alert worker's batches: report statuses keyed by commune keep
each commune's open reports in its own table entry, and the tick of that partition opens, escalates and (with the
report resolved) resolves the alert, the same as the embedded runtime's single processor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from analytics.binding import alert_setup
from ioc import topics
from ioc.app.runtime.faust_app import KEY_KINDS, AlertBatch, FaustSettings, partition_of
from ioc.config import load_site
from ioc.events import AlertTransition, ReportStatus, Tick
from tests.runtime.test_alert_batch import FakeTable

SAMPLE = Path(__file__).resolve().parents[2] / "configs" / "muong-cha"
SETUP = alert_setup(load_site(SAMPLE), None)
SOURCE = topics.REPORTS
DEADLINE = datetime(2026, 11, 27, 16, 59, 59, tzinfo=UTC)


def status(code: str, commune: str, step: int, state: str = "received") -> ReportStatus:
    return ReportStatus.create(code, step, status=state, category="traffic", commune_code=commune,
                               unit_id="ubnd-na-sang" if commune == "03172" else "ubnd-muong-tung",
                               deadline=DEADLINE, at=DEADLINE - timedelta(days=3))


def run(table: FakeTable, items: list[tuple[int, bytes]]) -> list[tuple[str, AlertTransition, str | None]]:
    settings = FaustSettings(kafka_bootstrap="-", database_url="-", redis_url="-", alerts=SETUP)
    batch = AlertBatch(settings, SOURCE, table, KEY_KINDS[SOURCE.name], ())  # type: ignore[arg-type]
    batch.run(items)
    assert not batch.dead
    return [(a.source_id, a.transition, a.area_code) for a in batch.alerts]


def test_reports_are_judged_on_the_ticks_of_their_communes_partition() -> None:
    assert KEY_KINDS[SOURCE.name] == "commune" and SOURCE in topics.ALL
    table = FakeTable()
    na_sang, muong_tung = partition_of("03172", SOURCE.partitions), partition_of("03181", SOURCE.partitions)
    a, b = "PA-AAAAA-00001", "PA-BBBBB-00002"
    assert run(table, [(na_sang, status(a, "03172", 1).to_bytes()),
                       (muong_tung, status(b, "03181", 2).to_bytes())]) == []
    assert set(table.data) == {"03172", "03181"}
    assert list(table.data["03172"]["reports_open"]) == [a]

    soon = Tick.create(na_sang, DEADLINE - timedelta(hours=2))
    got = run(table, [(na_sang, soon.to_bytes())])
    expected = [(a, AlertTransition.OPENED, "03172")]
    if muong_tung == na_sang:  # both communes on one partition: the tick judges both
        expected = [(a, AlertTransition.OPENED, "03172"), (b, AlertTransition.OPENED, "03181")]
    assert sorted(got) == sorted(expected)

    late = Tick.create(na_sang, DEADLINE + timedelta(minutes=1))
    assert (a, AlertTransition.ESCALATED, "03172") in run(table, [(na_sang, late.to_bytes())])
    done = run(table, [(na_sang, status(a, "03172", 5, "resolved").to_bytes())])
    assert done == [(a, AlertTransition.RESOLVED, "03172")]
    assert table.data["03172"]["reports_open"] == {}
