"""Building a site's cameras: sources resolved, simulated cameras served, a bad model stops only its camera."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from ioc.app.runtime.cameras import build_cameras
from ioc.app.site import SiteRuntime
from ioc.config.loader import load_site
from ioc.events import CameraHealth, Event, LineCrossing

CAMERAS = """
cameras:
  - id: broken-model
    name: Camera với mô hình hỏng
    area_code: "03172"
    lon: 103.0868
    lat: 21.7561
    source: sim:road-day
    detector: {name: onnx, model_path: models/not-a-model.onnx}
  - id: sim-road
    name: Đường mô phỏng
    area_code: "03172"
    lon: 103.0869
    lat: 21.7562
    source: sim:road-day
    sample_fps: 5
    frame_size: {width: 1280, height: 720}
    detector: {name: groundtruth}
    lines:
      - {id: main, points: [[102, 432], [1178, 432]], in_side: left}
"""


def test_a_bad_model_stops_only_its_camera(site_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    shutil.copytree(site_dir, site)
    (site / "cameras.yaml").write_text(CAMERAS, encoding="utf-8")
    (site / "alerts.yaml").unlink()  # its rules name the sample cameras replaced here
    (site / "models").mkdir()
    (site / "models" / "not-a-model.onnx").write_bytes(b"this is not an ONNX file")
    monkeypatch.setenv("IOC_SIM_SECONDS", "30")
    runtime = SiteRuntime.build(load_site(site), site)
    events: list[Event] = []
    cams = build_cameras(runtime, events.append, tmp_path / "cache", summary_interval_s=2)
    assert set(cams.skipped) == {"broken-model"} and "not-a-model.onnx" in cams.skipped["broken-model"]
    assert [w.settings.camera_id for w in cams.fleet.workers] == ["sim-road"]
    cams.start()
    time.sleep(8)
    cams.stop()
    broken = [e for e in events if isinstance(e, CameraHealth) and e.camera_id == "broken-model"]
    assert [(e.status.value, e.detail.startswith("detector onnx:")) for e in broken] == [("offline", True)]
    assert any(isinstance(e, LineCrossing) and e.camera_id == "sim-road" for e in events)
