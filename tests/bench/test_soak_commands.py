"""The soak's processes as it starts them."""

from __future__ import annotations

from ioc.app.bench.soak import SOAK_PROCESSES, soak_commands
from ioc.app.processes import PROCESSES


def test_the_soaks_mqtt_ingest_has_a_session_of_its_own() -> None:
    # Regression: with the default client id the soak's ingest resumed the broker's persistent session of every
    # earlier `ioc ingest mqtt` and was handed readings queued there by other tests (extra NS-01/NN-01 alarm
    # transitions in the database that the pure core never gave).
    one, two = soak_commands(SOAK_PROCESSES, "soak1a2b3c"), soak_commands(SOAK_PROCESSES, "soak4d5e6f")
    argv = one["ingest-mqtt"]
    assert argv[argv.index("--client-id") + 1] == "soak1a2b3c-ingest-mqtt"
    assert one["ingest-mqtt"] != two["ingest-mqtt"]
    assert all(one[name] == PROCESSES[name] for name in SOAK_PROCESSES if name != "ingest-mqtt")
