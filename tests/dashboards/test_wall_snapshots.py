"""Camera snapshots on the wall: the worker writes the boxes of the analysed frame, the route draws them."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import dash
import numpy as np
import psycopg
import pytest
from flask.testing import FlaskClient
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from analytics.vision.detectors import build_detector
from analytics.vision.pipeline import CameraAnalytics
from analytics.vision.types import Frame
from dashboards.app import create_app
from dashboards.auth import AuthStore
from dashboards.data import PostgresWallData
from dashboards.wall_snapshots import BOX_COLOURS
from ioc.app.runtime.cameras import VisionAnalyser
from ioc.config.models import DetectorConfig, SiteConfig
from ioc.events import DetectionSummary, utcnow
from ioc.store.live import MemoryLiveStore
from ioc.store.snapshots import SnapshotStore
from tests.dashboards.wall_helpers import SECRET, login

pytestmark = pytest.mark.services

PASSWORD = "mat-khau-du-dai-3"
GREY = 40
CAR_BOX = (100, 100, 220, 180)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("snapshots")


@pytest.fixture(scope="module")
def snapshots(
    pg_dsn: str, root: Path, now: datetime, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """A summary snapshot with a car's box for thpt-road, one outside the snapshot folder for ns-parking."""
    image = np.full((360, 640, 3), GREY, np.uint8)
    inside = SnapshotStore(root).save("thpt-road", image, now - timedelta(seconds=4), "summary")
    assert inside is not None
    SnapshotStore.write_boxes(inside, [{"xyxy": list(CAR_BOX), "class": "car", "track_id": 3}], 640, 360)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    outside = SnapshotStore(elsewhere).save("ns-parking", image, now - timedelta(seconds=4), "summary")
    assert outside is not None
    with psycopg.connect(pg_dsn) as conn:
        for camera, path in (("thpt-road", inside), ("ns-parking", outside)):
            conn.execute(
                "INSERT INTO detection_summaries (window_end, camera_id, window_start, frames_analysed, "
                "counts, snapshot, event_id) VALUES (%s, %s, %s, 10, %s, %s, %s)",
                (
                    now - timedelta(seconds=4),
                    camera,
                    now - timedelta(seconds=14),
                    Jsonb({"car": 1}),
                    path,
                    uuid.uuid4(),
                ),
            )
    return {"inside": inside, "outside": outside}


@pytest.fixture(scope="module")
def app(
    pool: ConnectionPool, live: MemoryLiveStore, site: SiteConfig, root: Path, snapshots: dict[str, str]
) -> dash.Dash:
    auth = AuthStore(pool)
    auth.ensure_user("quan.tri.anh", PASSWORD, "admin")
    auth.ensure_user("truc.ban.muongpon", PASSWORD, "operator", ["03202"])
    return create_app(
        PostgresWallData(pool, live, site), site, auth=auth, secret_key=SECRET, snapshot_root=root
    )


def signed_in(app: dash.Dash, username: str) -> FlaskClient:
    client = app.server.test_client()
    assert login(client, username, PASSWORD).status_code == 302
    return client


def decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_the_snapshot_comes_with_its_boxes_drawn(app: dash.Dash) -> None:
    client = signed_in(app, "quan.tri.anh")
    response = client.get("/snapshots/thpt-road.jpg")
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert "no-store" in response.headers["Cache-Control"]
    image = decode(response.data).astype(int)
    x1, y1, x2, y2 = CAR_BOX
    edge = image[y1 + 1, (x1 + x2) // 2]  # on the box's top edge
    assert np.abs(edge - np.array(BOX_COLOURS["car"])).max() < 40
    inside = image[(y1 + y2) // 2 + 10, (x1 + x2) // 2]  # the middle stays the grey picture
    assert np.abs(inside - GREY).max() < 12
    bare = decode(client.get("/snapshots/thpt-road.jpg?boxes=0").data).astype(int)
    assert np.abs(bare[y1 + 1, (x1 + x2) // 2] - GREY).max() < 12


def test_a_path_outside_the_snapshot_folder_is_never_served(app: dash.Dash) -> None:
    assert signed_in(app, "quan.tri.anh").get("/snapshots/ns-parking.jpg").status_code == 404


def test_a_camera_outside_the_scope_answers_like_an_unknown_one(app: dash.Dash) -> None:
    client = signed_in(app, "truc.ban.muongpon")  # Mường Pồn; thpt-road is in Na Sang
    assert client.get("/snapshots/thpt-road.jpg").status_code == 404
    assert client.get("/snapshots/no-such-camera.jpg").status_code == 404
    assert app.server.test_client().get("/snapshots/thpt-road.jpg").status_code == 401


def test_broken_boxes_leave_the_picture_as_it_is(app: dash.Dash, snapshots: dict[str, str]) -> None:
    boxes = SnapshotStore.boxes_path(snapshots["inside"])
    kept = boxes.read_text()
    try:
        boxes.write_text("{not json")
        response = signed_in(app, "quan.tri.anh").get("/snapshots/thpt-road.jpg")
        assert response.status_code == 200
        assert response.data == Path(snapshots["inside"]).read_bytes()
    finally:
        boxes.write_text(kept)


def test_the_camera_worker_writes_the_boxes_of_the_analysed_frame(site: SiteConfig, tmp_path: Path) -> None:
    camera = site.camera("thpt-road")
    analyser = VisionAnalyser(build_detector(DetectorConfig(name="motion")), CameraAnalytics(camera))
    start = utcnow()
    image = np.zeros((360, 640, 3), np.uint8)
    for i in range(30):  # a white block crossing a black picture: the motion detector finds and tracks it
        image = np.zeros((360, 640, 3), np.uint8)
        if i > 10:
            image[150:230, 20 + 12 * i : 100 + 12 * i] = 255
        analyser.analyse(Frame(camera.id, i, start + timedelta(seconds=i / 5), image))
    snapshot = SnapshotStore(tmp_path).save(camera.id, image, start, "summary")
    assert snapshot is not None
    events = analyser.flush(start + timedelta(seconds=6), snapshot)
    summary = next(e for e in events if isinstance(e, DetectionSummary))
    assert summary.snapshot == snapshot
    written = SnapshotStore.read_boxes(snapshot)
    assert written is not None and (written["width"], written["height"]) == (640, 360)
    assert len(written["boxes"]) == 1
    x1, y1, x2, y2 = written["boxes"][0]["xyxy"]
    assert 140 <= y1 <= 160 and 220 <= y2 <= 240 and 340 <= x1 < x2 <= 460  # the block's last position
    assert written["boxes"][0]["track_id"] is not None
