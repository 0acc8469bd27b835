"""Which TimescaleDB policies the maintenance loop runs in the foreground (issue 11, defect 5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ioc.store.jobs import DbStatus, JobState, foreground_due

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def job(job_id: int = 1002, *, status: str | None = "Success", ok_ago: timedelta | None = MIN,
        next_in: timedelta | None = MIN, proc: str = "policy_refresh_continuous_aggregate",
        target: str = "sensor_readings_1m", scheduled: bool = True) -> JobState:
    return JobState(job_id=job_id, proc_name=proc, target=target, schedule_interval=MIN, scheduled=scheduled,
                    last_run_started_at=NOW - MIN,
                    last_successful_finish=None if ok_ago is None else NOW - ok_ago,
                    last_run_status=status, total_runs=3, total_failures=0 if status == "Success" else 2,
                    next_start=None if next_in is None else NOW + next_in, last_error=None)


@pytest.mark.parametrize(("state", "due"), [
    (job(), False),                                              # healthy
    (job(status="Failed", ok_ago=MIN), False),                   # one failure after a recent success
    (job(status="Failed", ok_ago=3 * MIN), True),                # failing for more than two intervals
    (job(status="Failed", ok_ago=None), True),                   # never succeeded (PostgreSQL 15.20 + 2.25.2)
    (job(next_in=-3 * MIN), True),                               # overdue by more than two intervals
    (job(next_in=-MIN), False),                                  # a little late is fine
    (job(status="Failed", ok_ago=None, scheduled=False), False),  # paused by an operator
    (job(1, status="Failed", ok_ago=None, proc="policy_telemetry", target=""), False),  # TimescaleDB's own
])
def test_which_policies_are_run_in_the_foreground(state: JobState, due: bool) -> None:
    assert (foreground_due([state], NOW, {}) == [state]) is due
    assert (DbStatus("timescale", (state,)).failing(NOW) == [state]) is due


def test_a_policy_is_run_in_the_foreground_at_most_once_per_schedule_interval() -> None:
    failing = job(status="Failed", ok_ago=None)
    assert foreground_due([failing], NOW, {1002: NOW - 30 * timedelta(seconds=1)}) == []
    assert foreground_due([failing], NOW, {1002: NOW - MIN}) == [failing]


def test_rollups_first_lowest_job_id_first() -> None:
    jobs = [job(1004, status="Failed", ok_ago=None), job(1002, status="Failed", ok_ago=None)]
    assert [j.job_id for j in foreground_due(jobs, NOW, {})] == [1002, 1004]
