"""The fault-injection soak in small: 90 s of compressed district day through the distributed runtime while
PostgreSQL and Redis stop, Kafka and Mosquitto restart, every process is SIGKILLed once and a camera stream
drops; afterwards nothing is lost and nothing is duplicated.

The faults stop the shared development services for a few seconds each (durations scaled from the 15-minute
run of ``ioc bench soak``); every service stopped is started again on its own data, and answers, before the
test ends.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ioc.app.bench.soak import ALL_FAULTS, SOAK_PROCESSES, run_soak, schedule
from ioc.app.endpoints import Endpoints
from ioc.app.services import manager
from ioc.app.services.settings import Settings as ServicesSettings
from ioc.settings import Settings

# Once flaky (extra NS-01/NN-01 alarm-level transitions after the slice tests): the soak's MQTT ingest resumed
# the default client id's persistent session and got the readings other tests left queued there. Reproduced by
# planting such readings before a run, fixed by a client id per soak (ioc.app.bench.soak.soak_commands).
pytestmark = [pytest.mark.services, pytest.mark.soak]
MINUTES = 1.5


@pytest.mark.timeout(330)
def test_a_short_soak_under_every_fault_loses_and_duplicates_nothing(
    endpoints: Endpoints, pg_dsn: str, tmp_path: Path
) -> None:
    try:
        result = run_soak(Settings.from_env(os.environ), MINUTES, faults=ALL_FAULTS, database_url=pg_dsn, drain_s=120,
                          logs=tmp_path / "logs", lang="en")
    finally:
        # whatever happened, leave every shared service answering
        manager.up(settings=ServicesSettings.from_env(os.environ))
    assert all(s.state == "running" for s in manager.status(settings=ServicesSettings.from_env(os.environ)))

    report = "\n".join([*(str(line) for line in result.lines), *result.details, f"logs: {result.logs}"])
    by_key = {line.key: line for line in result.lines}
    # The day was a real one: every kind of item was sent, and every fault of the schedule happened.
    kinds = ("readings", "crossings", "alerts", "levels", "messages", "kpis")
    assert all(by_key[k].sent > 0 for k in kinds), report
    assert [f for _, f, _ in result.faults] == schedule(MINUTES * 60, ALL_FAULTS)
    assert all(result.restarts.get(name, 0) >= 1 for name in SOAK_PROCESSES), result.restarts
    assert result.unsent == 0, report
    for line in result.lines:
        assert (line.lost, line.duplicated) == (0, 0), report
