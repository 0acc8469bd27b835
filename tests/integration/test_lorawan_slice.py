"""LoRaWAN through the real broker: ChirpStack v4 uplink events on Mosquitto -> `ioc ingest lorawan` ->
Kafka -> Faust `flood` and `writer` workers -> PostgreSQL. A Dragino LDDS75 over the Nậm Nèn stream (NN-01) reports
a flood from normal to alarm level III and back; its levels, the alert history and the rejected uplinks land.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import psycopg
import pytest

from analytics.alerts import AlertProcessor
from ingest.lorawan import device_profiles, parse_uplink
from ioc.app.endpoints import Endpoints
from ioc.app.processes import running
from ioc.app.site import SiteRuntime
from ioc.config.loader import load_site
from ioc.events import utcnow
from tests.integration.test_flood_slice import publish, scalar, wait_for

pytestmark = pytest.mark.services
DEV_EUI = "a84041000181c061"  # NN-01 in the sample site: dragino-ldds75 mounted 5.0 m above the gauge datum
APP = "5f1c"
TOPIC = f"application/{APP}/device/{DEV_EUI}/event/up"
# Water levels (m) a minute apart: up through I (1.5), II (2.3) and III (3.0), then down again.
LEVELS = [1.0, 1.2, 1.6, 1.9, 2.4, 2.7, 3.1, 3.3, 3.2, 2.8, 2.2, 1.7, 1.3, 1.0, 0.9]


def uplink(at: datetime, level_m: float, dev_eui: str = DEV_EUI, battery_mv: int = 3380) -> bytes:
    distance_mm = round((5.0 - level_m) * 1000)
    frame = (battery_mv | 0xC000).to_bytes(2, "big") + distance_mm.to_bytes(2, "big") + b"\x00\x00\xd7\x01"
    return orjson.dumps({
        "deduplicationId": str(uuid.uuid4()),
        "time": at.isoformat(),
        "deviceInfo": {"tenantId": "t", "applicationId": APP, "deviceProfileName": "LDDS75", "devEui": dev_eui},
        "devAddr": "01020304", "fCnt": 7, "fPort": 2, "data": base64.b64encode(frame).decode(),
        "rxInfo": [{"gatewayId": "a", "rssi": -109, "snr": -1.5}, {"gatewayId": "b", "rssi": -96, "snr": 7.0}],
    })


@pytest.fixture
def processes(endpoints: Endpoints, pg_dsn: str, site_dir: Path, tmp_path: Path,
              kafka_namespace: Callable[[str], str]) -> Iterator[list[Path]]:
    env = {**os.environ, "IOC_KAFKA_NAMESPACE": kafka_namespace("l"), "IOC_DATABASE_URL": pg_dsn,
           "IOC_SITE": str(site_dir), "IOC_LOG_LEVEL": "INFO"}
    commands = {
        "flood": ["worker", "flood"],
        "writer": ["worker", "writer"],
        "lorawan": ["ingest", "lorawan", "--client-id", f"test-{uuid.uuid4().hex[:8]}"],
    }
    with running(commands, env, tmp_path) as logs:
        yield logs


def test_chirpstack_uplinks_through_mosquitto_kafka_and_faust(
    endpoints: Endpoints, pg_dsn: str, site_dir: Path, processes: list[Path]
) -> None:
    start = utcnow().replace(microsecond=0) - timedelta(minutes=30)
    probes = 0

    def probe_landed() -> bool:  # the ingest only hears what arrives after it subscribed
        nonlocal probes
        probes += 1
        publish(endpoints, [(TOPIC, uplink(start - timedelta(minutes=probes), 0.5))])
        return bool(scalar(pg_dsn, "SELECT count(*) FROM sensor_readings WHERE station_id = 'NN-01'"))

    wait_for(probe_landed, 120, "a probe uplink to land", processes)
    probe_rows = int(scalar(pg_dsn, "SELECT count(*) FROM sensor_readings WHERE station_id = 'NN-01' "  # type: ignore[arg-type]
                                    "AND metric = 'water_level_m'"))

    good = [(TOPIC, uplink(start + timedelta(minutes=i), level)) for i, level in enumerate(LEVELS)]
    bad = [
        (TOPIC, b'{"deviceInfo": {"devEui": '),  # cut short
        ("application/5f1c/device/0000000000000001/event/up",
         uplink(start, 1.0, dev_eui="0000000000000001")),  # a device no station owns
        (TOPIC, orjson.dumps({**orjson.loads(uplink(start, 1.0)), "data": "%%%"})),  # not base64
    ]
    resent = good[4]  # a ChirpStack redelivery of the same uplink: dropped as a duplicate
    publish(endpoints, good[:5] + bad + [resent] + good[5:])

    def landed() -> bool:
        n = scalar(pg_dsn, "SELECT count(*) FROM sensor_readings WHERE station_id = 'NN-01' "
                           "AND metric = 'water_level_m'")
        resolved = scalar(pg_dsn, "SELECT count(*) FROM alerts WHERE alert_key = 'flood:NN-01:level' "
                                  "AND status = 'resolved'")
        dead = scalar(pg_dsn, "SELECT count(*) FROM dead_letters")
        return n == probe_rows + len(LEVELS) and resolved == 1 and dead == len(bad)

    wait_for(landed, 120, "the uplinks, the resolved level alert and the dead letters", processes)

    # The same uplinks through the pure core give the transitions the workers must have stored.
    runtime = SiteRuntime.build(load_site(site_dir), site_dir)
    devices = device_profiles(runtime.config.flood_stations)
    core = AlertProcessor(runtime.alerts)
    want = []
    for _, payload in good:
        reading = parse_uplink(payload, devices, runtime.limits, utcnow())
        assert reading is not None
        want += [(a.transition.value, a.severity.value) for a in core.handle(reading)
                 if a.alert_key == "flood:NN-01:level"]
    assert [t for t, _ in want] == ["opened", "escalated", "escalated", "updated", "updated", "resolved"]

    with psycopg.connect(pg_dsn) as conn:
        got = conn.execute("SELECT transition, severity FROM alert_events WHERE alert_key = 'flood:NN-01:level' "
                           "ORDER BY at").fetchall()
        levels = [v for (v,) in conn.execute(
            "SELECT value FROM sensor_readings WHERE station_id = 'NN-01' AND metric = 'water_level_m' "
            "AND time >= %s ORDER BY time", (start,))]
        signal = conn.execute("SELECT DISTINCT value FROM sensor_readings WHERE station_id = 'NN-01' "
                              "AND metric = 'signal_dbm'").fetchall()
        dead = sorted(conn.execute("SELECT reason, source FROM dead_letters").fetchall())
    assert [tuple(r) for r in got] == want
    assert levels == pytest.approx(LEVELS)
    assert signal == [(-96.0,)]  # the best of the two gateways
    assert dead == sorted([("malformed_json", f"lorawan:{TOPIC}"),
                           ("unknown_device", "lorawan:application/5f1c/device/0000000000000001/event/up"),
                           ("bad_payload", f"lorawan:{TOPIC}")])
