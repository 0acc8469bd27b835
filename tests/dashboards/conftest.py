"""Fixtures for the wall display: the sample site, a pool on the module's database, a filled live store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from dashboards.app import use_fast_json
from ioc.config.loader import load_site
from ioc.config.models import SiteConfig
from ioc.events import SensorReading, utcnow
from ioc.store.live import MemoryLiveStore

# NS-01 (alarm levels 2.0 / 3.0 / 4.0 m) is at báo động II with an open alert; MT-01 is missing from the live
# store but has a raw row in PostgreSQL; MP-01 and NN-01 never reported.
NS01_VALUE = 3.2
MT01_VALUE = 1.25
NS01_STATION_NAME = "Suối Nậm Chà - cầu trung tâm Na Sang"


@pytest.fixture(scope="session", autouse=True)
def fast_json() -> None:
    """Plotly's JSON engine for the whole test process, as the wall's process start sets it (``ioc dashboard``,
    ``ioc demo``); ``create_app`` leaves that process-wide switch alone."""
    use_fast_json()


@pytest.fixture(scope="module")
def site(site_dir: Path) -> SiteConfig:
    """The sample site."""
    return load_site(site_dir)


@pytest.fixture(scope="module")
def pool(pg_dsn: str) -> Iterator[ConnectionPool]:
    """A small pool on the module's database."""
    with ConnectionPool(pg_dsn, min_size=1, max_size=4, timeout=10, open=True) as p:
        yield p


@pytest.fixture(scope="module")
def dead_pool() -> Iterator[ConnectionPool]:
    """A pool pointed at a port where nothing listens: every checkout fails fast."""
    p = ConnectionPool(
        "host=127.0.0.1 port=9 dbname=ioc user=ioc connect_timeout=1",
        min_size=1,
        max_size=1,
        timeout=1.5,
        open=False,
        reconnect_timeout=0,
    )
    p.open(wait=False)
    yield p
    p.close(timeout=1)


@pytest.fixture(scope="module")
def now() -> datetime:
    """One 'now' for the whole module, so the inserted history and the checks agree."""
    return utcnow()


@pytest.fixture(scope="module")
def live(now: datetime) -> MemoryLiveStore:
    """The live store with NS-01's newest reading, 30 s old."""
    store = MemoryLiveStore()
    reading = SensorReading.create(
        "NS-01", now - timedelta(seconds=30), {"water_level_m": NS01_VALUE, "rainfall_mm": 4.0}, "sim"
    )
    asyncio.run(store.put_readings([reading]))
    return store


@pytest.fixture(scope="module")
def filled(pg_dsn: str, now: datetime) -> dict[str, object]:
    """Three hours of NS-01 readings, one MT-01 reading, an open, an acknowledged and a resolved alert."""
    start = now - timedelta(hours=3)
    rows = []
    for i in range(180):
        at = start + timedelta(minutes=i)
        rows.append((at, "NS-01", "water_level_m", 2.0 + i * 0.01, uuid.uuid4(), at, "sim"))
    # An old reading outside every window the wall looks at.
    rows.append((now - timedelta(days=3), "NS-01", "water_level_m", 9.9, uuid.uuid4(), now, "sim"))
    rows.append((now - timedelta(minutes=10), "MT-01", "water_level_m", MT01_VALUE, uuid.uuid4(), now, "sim"))
    opened = now - timedelta(minutes=42)
    major = uuid.uuid4()
    with psycopg.connect(pg_dsn) as conn:
        conn.cursor().executemany(
            "INSERT INTO sensor_readings (time, station_id, metric, value, event_id, received_at, source) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
        conn.execute("SELECT ioc_refresh_readings_rollups(%s, %s)", (now - timedelta(days=4), now))
        conn.cursor().executemany(
            "INSERT INTO alerts (alert_id, alert_key, status, severity, source_kind, source_id, area_code, "
            "message_key, params, value, opened_at, updated_at) "
            "VALUES (%s, %s, %s, %s, 'flood', %s, %s, %s, %s, %s, %s, %s)",
            [
                _alert(
                    major, "NS-01", "open", "major", "03172", NS01_STATION_NAME, 2, NS01_VALUE, opened, now
                ),
                _alert(
                    uuid.uuid4(),
                    "NN-01",
                    "acknowledged",
                    "warning",
                    "03194",
                    "Suối Nậm Nèn - bản trung tâm",
                    1,
                    1.6,
                    now - timedelta(hours=2),
                    now,
                ),
                _alert(
                    uuid.uuid4(),
                    "MP-01",
                    "resolved",
                    "critical",
                    "03202",
                    "Sông Nậm Mức - Mường Mươn",
                    0,
                    2.0,
                    now - timedelta(hours=5),
                    now,
                ),
            ],
        )
    return {"major_alert_id": major, "opened_at": opened}


def _alert(
    alert_id: uuid.UUID,
    station: str,
    status: str,
    severity: str,
    area: str,
    name: str,
    level: int,
    value: float,
    opened: datetime,
    now: datetime,
) -> tuple[object, ...]:
    """One alerts row the way the flood core and the writer would leave it."""
    key = "alert.flood.level.resolved" if level == 0 else "alert.flood.level"
    params = {
        "station": name,
        "level": {0: "—", 1: "I", 2: "II", 3: "III"}[level],
        "value": value,
        "alarm_level": level,
    }
    return (
        alert_id,
        f"flood:{station}:level",
        status,
        severity,
        station,
        area,
        key,
        Jsonb(params),
        value,
        opened,
        now - timedelta(minutes=5),
    )
