"""A crowd event through the real services: zone occupancy on Kafka -> `ioc worker alerts` -> `ioc worker writer` ->
the alert opens once after its hold time, updates nothing while it lasts, and resolves when the square empties.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from ioc.app.endpoints import Endpoints
from ioc.app.processes import running
from ioc.app.runtime.kafka import EventProducer, ensure_topics
from ioc.events import ZoneOccupancy, stable_id, utcnow

pytestmark = pytest.mark.services


def occupancy(at_s: int, people: int, start) -> ZoneOccupancy:  # type: ignore[no-untyped-def]
    at = start + timedelta(seconds=at_s)
    return ZoneOccupancy(event_id=stable_id("occ", at_s), camera_id="ns-one-stop", zone_id="stage", at=at,
                         counts={"person": people}, density_per_m2=round(people / 150, 3))


def test_crowd_opens_once_and_resolves(endpoints: Endpoints, pg_dsn: str, site_dir: Path, tmp_path: Path,
                                       kafka_namespace: Callable[[str], str]) -> None:
    start = utcnow().replace(microsecond=0) - timedelta(hours=2)
    # The sample rule: more than 40 people in `stage` held for 60 s opens a major alert; clear for 300 s resolves.
    story = ([occupancy(t, 10, start) for t in range(0, 120, 10)]          # quiet
             + [occupancy(t, 55, start) for t in range(120, 600, 10)]      # a crowd for 8 minutes
             + [occupancy(t, 5, start) for t in range(600, 1300, 10)])     # it disperses
    env = {**os.environ, "IOC_KAFKA_NAMESPACE": kafka_namespace("k"), "IOC_DATABASE_URL": pg_dsn,
           "IOC_SITE": str(site_dir), "IOC_LOG_LEVEL": "WARNING"}
    os.environ["IOC_KAFKA_NAMESPACE"] = env["IOC_KAFKA_NAMESPACE"]
    try:
        ensure_topics(endpoints.kafka_bootstrap, auth=endpoints.kafka_auth, namespace=env["IOC_KAFKA_NAMESPACE"])
        producer = EventProducer(endpoints.kafka_bootstrap, auth=endpoints.kafka_auth,
                                 namespace=env["IOC_KAFKA_NAMESPACE"])
        for event in story:
            producer.send(event)
        producer.flush()
        producer.close()
    finally:
        del os.environ["IOC_KAFKA_NAMESPACE"]

    with running({name: ["worker", name] for name in ("alerts", "writer")}, env, tmp_path):
        deadline = time.monotonic() + 180
        while True:
            with psycopg.connect(pg_dsn) as conn:
                rows = conn.execute("SELECT alert_key, transition, severity, at FROM alert_events "
                                    "WHERE alert_key LIKE 'crowd:%%' ORDER BY alert_key, at").fetchall()
                stored = conn.execute("SELECT count(*) FROM zone_occupancy").fetchone()
            if stored and stored[0] == len(story) and sum(1 for r in rows if r[1] == "resolved") >= 2:
                break
            if time.monotonic() > deadline:
                logs = "\n".join(
                    (tmp_path / f"{n}.log").read_text(errors="replace")[-2000:] for n in ("alerts", "writer")
                )
                pytest.fail(f"no resolved crowd alerts: {rows}, stored {stored}\n{logs}")
            time.sleep(1)

    by_key: dict[str, list[tuple[str, str, object]]] = {}
    for key, transition, severity, at in rows:
        by_key.setdefault(key, []).append((transition, severity, at))
    assert set(by_key) == {"crowd:ns-one-stop/stage:overcrowded", "crowd:ns-one-stop/stage:crowd-density"}
    for key, history in by_key.items():
        assert [t for t, _, _ in history] == ["opened", "resolved"], (key, history)
        opened_at, resolved_at = history[0][2], history[1][2]
        # Held 60 s before opening; clear 300 s before resolving.
        assert opened_at == start + timedelta(seconds=180), key
        assert resolved_at == start + timedelta(seconds=900), key
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM alerts WHERE alert_key LIKE 'crowd:%%' AND status = 'resolved'"
                            ).fetchone() == (2,)
