"""Cameras end to end: camera_sim over HTTP -> `ioc ingest camera` (detection, tracking, counting) -> Kafka ->
`ioc worker writer` -> PostgreSQL, each a real process against the real services; counts are checked against the
simulator's truth, and a camera that freezes and drops reports each change of state.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from camera_sim.truth import load_truth
from ioc.app.bench.soak import cameras_yaml
from ioc.app.endpoints import Endpoints
from ioc.app.processes import running

pytestmark = pytest.mark.services
SCENE_SECONDS = 40

# The soak's two simulated cameras, at twice the size and without zone thresholds (no alert rules here).
CAMERAS_YAML = cameras_yaml("sim", "mô phỏng", scale=2, sample_fps=5, thresholds=False)


def service_env(ep: Endpoints) -> dict[str, str]:
    """The services' addresses and logins, spelt out: with their own IOC_CACHE_DIR the processes cannot find
    the development services' generated credentials (regression: the camera and the writer met a Kafka that
    asks for SASL as anonymous clients)."""
    env = {"IOC_KAFKA_BOOTSTRAP": ep.kafka_bootstrap, "IOC_REDIS_URL": ep.redis_url}
    if ep.kafka_auth is not None:
        env |= {"IOC_KAFKA_USERNAME": ep.kafka_auth.username, "IOC_KAFKA_PASSWORD": ep.kafka_auth.password}
    return env


@pytest.fixture
def camera_processes(endpoints: Endpoints, pg_dsn: str, site_dir: Path, tmp_path: Path,
                     kafka_namespace: Callable[[str], str]) -> Iterator[tuple[Path, list[Path]]]:
    site = tmp_path / "site"
    shutil.copytree(site_dir, site)
    (site / "cameras.yaml").write_text(CAMERAS_YAML, encoding="utf-8")
    (site / "alerts.yaml").unlink()  # its rules name the sample cameras replaced here
    (site / "wall.yaml").unlink(missing_ok=True)  # and so do its wall tiles
    cache = tmp_path / "cache"
    env = {**os.environ, "IOC_KAFKA_NAMESPACE": kafka_namespace("c"), "IOC_DATABASE_URL": pg_dsn,
           "IOC_SITE": str(site), "IOC_CACHE_DIR": str(cache), "IOC_SIM_SECONDS": str(SCENE_SECONDS),
           "IOC_SIM_LOOP": "0", "IOC_LOG_LEVEL": "INFO", **service_env(endpoints)}
    with running({"writer": ["worker", "writer"], "camera": ["ingest", "camera"]}, env, tmp_path) as logs:
        yield cache, logs


def rows(dsn: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


def test_counts_and_health_from_simulated_cameras(pg_dsn: str, camera_processes: tuple[Path, list[Path]]) -> None:
    cache, logs = camera_processes
    # The road clip ends after SCENE_SECONDS (no loop): its stream closes and the camera goes offline. By then
    # every crossing has been counted; the writer may still be flushing the last summary.
    deadline = time.monotonic() + SCENE_SECONDS + 90
    done = False
    while time.monotonic() < deadline and not done:
        time.sleep(2)
        statuses = [s for s, in rows(pg_dsn, "SELECT status FROM camera_health WHERE camera_id = 'sim-road' "
                                             "ORDER BY at")]
        done = statuses[-2:] == ["online", "offline"] if len(statuses) >= 2 else False
    if not done:
        tails = "\n".join(f"--- {p.name}\n" + p.read_text(errors="replace")[-3000:] for p in logs)
        pytest.fail(f"the simulated road camera never finished its clip\n{tails}")
    time.sleep(3)

    truth_file = next((cache / "camera_sim").glob("sim-road-*.truth.jsonl"))
    truth = load_truth(truth_file)
    expected: dict[tuple[str, str], int] = {}
    for cls, by_dir in truth.totals["main"].items():
        for direction, n in by_dir.items():
            if n:
                expected[(cls, direction)] = n
    counted = {(cls, direction): int(n) for cls, direction, n in rows(
        pg_dsn, "SELECT object_class, direction, count(*) FROM line_crossings WHERE camera_id = 'sim-road' "
                "GROUP BY 1, 2")}
    total_truth, total_counted = sum(expected.values()), sum(counted.values())
    assert total_truth >= 20, "the scene should carry real traffic"
    # Regression: the crossings of the last interval were held back until the worker stopped, because the
    # interval flush lived inside the read loop that ends with the stream. A live stream on a loaded 2-core machine
    # can still deliver a frame late, so allow every class and direction max(1, 10 %) and the total 5 %
    # (frame-exact accuracy is checked offline in tests/vision/test_accuracy.py).
    for key in expected.keys() | counted.keys():
        want, got = expected.get(key, 0), counted.get(key, 0)
        assert abs(got - want) <= max(1, round(0.10 * want)), (key, got, want, counted, expected)
    assert abs(total_counted - total_truth) <= max(2, round(0.05 * total_truth)), (counted, expected)

    summaries = rows(pg_dsn, "SELECT count(*), bool_or(snapshot IS NOT NULL) FROM detection_summaries "
                             "WHERE camera_id = 'sim-road'")
    assert summaries[0][0] >= 2 and summaries[0][1] is True
    assert rows(pg_dsn, "SELECT count(*) FROM zone_occupancy WHERE camera_id = 'sim-road'")[0][0] >= 2

    # The faulty camera: live, then frozen (0.2-0.4 of the clip), live again, then dropped (0.5-0.7), then back.
    faulty = [s for s, in rows(pg_dsn, "SELECT status FROM camera_health WHERE camera_id = 'sim-faulty' "
                                       "ORDER BY at")]
    assert faulty[:5] == ["online", "frozen", "online", "offline", "online"], faulty
    snaps = rows(pg_dsn, "SELECT snapshot FROM camera_health WHERE camera_id = 'sim-faulty' AND status = 'frozen'")
    assert snaps and snaps[0][0] and Path(str(snaps[0][0])).is_file()
