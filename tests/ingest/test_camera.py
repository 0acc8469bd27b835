"""The camera capture loop on real video files: health changes, sampling, still-frame skipping, bad input."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from analytics.vision.types import Frame
from ingest.camera import CameraFleet, CameraWorker, CaptureSettings
from ioc.events import CameraHealth, Event
from ioc.store.snapshots import SnapshotStore


class Recorder:
    """A FrameAnalyser that remembers what it was given."""

    def __init__(self) -> None:
        self.frames: list[int] = []
        self.flushes = 0

    def analyse(self, frame: Frame) -> None:
        self.frames.append(frame.index)

    def flush(self, window_end: datetime, snapshot: str | None) -> list[Event]:
        self.flushes += 1
        return []


def write_video(path: Path, segments: list[tuple[str, int]], fps: int = 25) -> None:
    """Write an MP4: 'moving' frames with a moving box and noise, 'still' repeats one picture, 'black' is black."""
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (320, 240))
    rng = np.random.default_rng(1)
    still = np.full((240, 320, 3), 90, np.uint8)
    i = 0
    for kind, n in segments:
        for _ in range(n):
            if kind == "moving":
                img = np.clip(rng.normal(90, 6, (240, 320, 3)), 0, 255).astype(np.uint8)
                x = (i * 7) % 280
                cv2.rectangle(img, (x, 100), (x + 40, 140), (0, 200, 255), -1)
            elif kind == "still":
                img = still
            else:
                img = np.zeros((240, 320, 3), np.uint8)
            out.write(img)
            i += 1
    out.release()


def run_worker(settings: CaptureSettings, analyser: Recorder, tmp_path: Path, seconds: float) -> list[Event]:
    events: list[Event] = []
    worker = CameraWorker(settings, analyser, events.append, SnapshotStore(tmp_path / "snaps"))
    worker.health.frozen_after_s = 1.0
    worker.health.black_after_s = 0.5
    worker.health.offline_after_s = 0.5
    stop = threading.Event()
    t = threading.Thread(target=worker.run, args=(stop,))
    t.start()
    stop.wait(seconds)
    stop.set()
    t.join(20)
    return events


def statuses(events: list[Event]) -> list[str]:
    return [e.status.value for e in events if isinstance(e, CameraHealth)]


def test_a_freezing_then_dark_camera_is_reported_once_per_change(tmp_path: Path) -> None:
    video = tmp_path / "cam.mp4"
    write_video(video, [("moving", 50), ("still", 60), ("black", 40), ("moving", 25)])
    settings = CaptureSettings("cam-1", f"file:{video}", sample_fps=5, summary_interval_s=1.0, backoff_min_s=30)
    events = run_worker(settings, Recorder(), tmp_path, 7.5)
    seen = statuses(events)
    assert seen[:4] == ["online", "frozen", "black", "online"], seen
    frozen = next(e for e in events if isinstance(e, CameraHealth) and e.status.value == "frozen")
    assert frozen.snapshot and Path(frozen.snapshot).is_file()
    assert (tmp_path / "snaps" / "cam-1" / "latest.jpg").is_file()


def test_sampling_and_still_frame_skipping(tmp_path: Path) -> None:
    video = tmp_path / "cam.mp4"
    write_video(video, [("moving", 50), ("still", 50)])  # 4 s at 25 fps
    analyser = Recorder()
    settings = CaptureSettings("cam-1", f"file:{video}", sample_fps=5, summary_interval_s=1.0, backoff_min_s=30)
    run_worker(settings, analyser, tmp_path, 4.5)
    # 2 s of motion at 5 samples/s is ~10 analysed frames; the still half is mostly skipped.
    moving = [i for i in analyser.frames if i <= 50]
    still = [i for i in analyser.frames if i > 50]
    assert 8 <= len(moving) <= 12
    assert len(still) <= 2
    assert analyser.flushes >= 3


@pytest.mark.parametrize(
    "source", ["rtsp://127.0.0.1:1/nothing", "http://127.0.0.1:1/cam.mjpg", "file:/nonexistent.mp4"]
)
def test_an_unreachable_camera_is_offline_and_the_worker_keeps_trying(source: str, tmp_path: Path) -> None:
    settings = CaptureSettings("cam-x", source, backoff_min_s=0.2, backoff_max_s=0.4, open_timeout_s=1)
    events = run_worker(settings, Recorder(), tmp_path, 2.0)
    assert statuses(events) == ["offline"]


def test_a_corrupt_file_does_not_crash_and_other_cameras_keep_running(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    good = tmp_path / "good.mp4"
    write_video(good, [("moving", 50)])
    events: list[Event] = []
    analysers = {"bad": Recorder(), "good": Recorder()}
    fleet = CameraFleet([
        CameraWorker(CaptureSettings("bad", f"file:{bad}", backoff_min_s=0.2, backoff_max_s=0.4), analysers["bad"],
                     events.append),
        CameraWorker(CaptureSettings("good", f"file:{good}", sample_fps=5, loop_file=True), analysers["good"],
                     events.append),
    ])
    fleet.start()
    fleet.stop_event.wait(3)
    fleet.stop()
    assert analysers["bad"].frames == []
    assert len(analysers["good"].frames) >= 8
    by_camera = {(e.camera_id, e.status.value) for e in events if isinstance(e, CameraHealth)}
    assert ("bad", "offline") in by_camera and ("good", "online") in by_camera
