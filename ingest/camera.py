"""``ioc ingest camera``: read cameras with OpenCV, analyse sampled frames, emit events.

One thread per camera (OpenCV releases the GIL while decoding). Each camera: open ``rtsp://``, ``http(s)://`` or a
file, reconnect with exponential backoff, read every frame (so the stream does not lag), analyse at the configured
``sample_fps``, skip frames where nothing moved, and report health changes (offline, frozen, black, back online) with
a JPEG snapshot. A broken camera never stops the others: every failure stays inside its own loop.

What the analysis is — detector, tracker, counters — comes in as a ``FrameAnalyser``; this module only moves frames.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from analytics.vision.sampling import is_due
from analytics.vision.types import Frame
from ingest.camera_health import HealthMonitor, StillFrameFilter, signature
from ioc.events import CameraStatus, Event, utcnow
from ioc.store.snapshots import SnapshotStore

logger = logging.getLogger(__name__)

Emit = Callable[[Event], None]


class FrameAnalyser(Protocol):
    """What the capture loop hands analysed frames to: detection, tracking and counting for one camera."""

    def analyse(self, frame: Frame) -> None:
        """Analyse one sampled frame."""

    def flush(self, window_end: datetime, snapshot: str | None) -> list[Event]:
        """Return the events of the interval that ends now (summaries, crossings, occupancy)."""


@dataclass(frozen=True)
class CaptureSettings:
    """How one camera is read."""

    camera_id: str
    source: str
    sample_fps: float = 2.0
    summary_interval_s: float = 10.0
    open_timeout_s: float = 10.0
    read_timeout_s: float = 10.0
    backoff_min_s: float = 1.0
    backoff_max_s: float = 30.0
    skip_still: bool = True
    realtime_file: bool = True
    loop_file: bool = False
    max_read_failures: int = 5
    source_fps: float | None = None


def backoff_delays(minimum: float, maximum: float) -> Callable[[int], float]:
    """Return attempt -> delay in seconds, doubling from ``minimum`` up to ``maximum``."""
    return lambda attempt: min(maximum, minimum * (2 ** max(attempt - 1, 0)))


@dataclass
class CameraCounters:
    """Running totals of one camera, for logs and the benchmark."""

    frames_read: int = 0
    frames_analysed: int = 0
    frames_skipped_still: int = 0
    reconnects: int = 0
    errors: int = 0


@dataclass
class CameraWorker:
    """Read one camera until stopped, analysing sampled frames and emitting events."""

    settings: CaptureSettings
    analyser: FrameAnalyser
    emit: Emit
    snapshots: SnapshotStore | None = None
    health: HealthMonitor = field(init=False)
    still: StillFrameFilter = field(default_factory=StillFrameFilter)
    counters: CameraCounters = field(default_factory=CameraCounters)
    clock: Callable[[], datetime] = utcnow

    def __post_init__(self) -> None:
        self.health = HealthMonitor(self.settings.camera_id)

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set: connect, read, analyse, reconnect on failure."""
        delay = backoff_delays(self.settings.backoff_min_s, self.settings.backoff_max_s)
        attempt = 0
        while not stop.is_set():
            cap = self._open()
            if cap is None:
                attempt += 1
                self._health(None, f"cannot open {self._safe_source()}")
                stop.wait(delay(attempt))
                continue
            attempt = 0
            try:
                self._read_loop(cap, stop)
            except cv2.error as exc:
                self.counters.errors += 1
                logger.warning("camera %s: OpenCV error: %s", self.settings.camera_id, exc)
            finally:
                cap.release()
            # Emit what was counted before the stream ended; waiting for the next interval would hold the
            # crossings back for as long as the camera stays down (found by the camera slice test).
            self._flush(self.clock(), None)
            if not stop.is_set():
                self.counters.reconnects += 1
                attempt += 1
                self._health(None, "stream ended")
                stop.wait(delay(attempt))
        self._flush(self.clock(), None)

    def _safe_source(self) -> str:
        # Never log credentials embedded in a camera URL.
        src = self.settings.source
        if "@" in src and "://" in src:
            scheme, rest = src.split("://", 1)
            return f"{scheme}://***@{rest.split('@', 1)[1]}"
        return src

    def _open(self) -> cv2.VideoCapture | None:
        src = self.settings.source
        path = src[len("file:"):] if src.startswith("file:") else src
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.settings.open_timeout_s * 1000),
                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.settings.read_timeout_s * 1000)]
        try:
            cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG, params)
        except cv2.error as exc:
            logger.warning("camera %s: cannot open %s: %s", self.settings.camera_id, self._safe_source(), exc)
            return None
        if not cap.isOpened():
            cap.release()
            logger.warning("camera %s: cannot open %s", self.settings.camera_id, self._safe_source())
            return None
        return cap

    def _read_loop(self, cap: cv2.VideoCapture, stop: threading.Event) -> None:
        is_file = not any(self.settings.source.startswith(p) for p in ("rtsp://", "http://", "https://"))
        file_fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        period = 1.0 / self.settings.sample_fps
        next_sample = 0.0
        # Sample evenly in video time when the source's frame rate is known (files, simulated cameras): frames
        # that arrive in a burst after a hiccup are then still analysed at the spacing the tracker expects.
        # Otherwise (a live stream of unknown rate) sample by the wall clock.
        source_fps = self.settings.source_fps or (file_fps if is_file else None)
        first_frame = self.counters.frames_read
        window_start = self.clock()
        started = time.monotonic()
        failures = 0
        analysed: npt.NDArray[np.uint8] | None = None
        while not stop.is_set():
            ok, read = cap.read()
            now = self.clock()
            if not ok or read is None:
                if is_file:
                    if self.settings.loop_file and self.counters.frames_read:
                        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                        continue
                    return
                # A network stream returns False once per corrupt part and then recovers; only a run of failures
                # means the stream is gone.
                failures += 1
                self.counters.errors += 1
                if failures >= self.settings.max_read_failures:
                    return
                continue
            failures = 0
            image = np.asarray(read, dtype=np.uint8)  # OpenCV's frames are 8-bit BGR; the stubs say any number
            self.counters.frames_read += 1
            if is_file and self.settings.realtime_file:
                # Pace a file like a live camera, so sampling and health behave the same.
                target = started + self.counters.frames_read / file_fps
                wait = target - time.monotonic()
                if wait > 0:
                    stop.wait(wait)
            sig = signature(image)
            self._health(sig, "", image, now)
            mono = time.monotonic()
            if source_fps is not None:
                due = is_due(self.counters.frames_read - first_frame - 1, source_fps, self.settings.sample_fps)
            else:
                due = mono >= next_sample
                if due:
                    next_sample = mono + period
            if due:
                if self.health.status in (CameraStatus.FROZEN, CameraStatus.BLACK):
                    pass  # nothing real to analyse in a frozen or black picture
                elif self.settings.skip_still and not self.still.should_analyse(sig):
                    self.counters.frames_skipped_still += 1
                else:
                    self.counters.frames_analysed += 1
                    self.analyser.analyse(Frame(self.settings.camera_id, self.counters.frames_read, now, image))
                    analysed = np.asarray(image, dtype=np.uint8)  # the summary's snapshot: its boxes fit it
            if now - window_start >= timedelta(seconds=self.settings.summary_interval_s):
                shot = analysed if analysed is not None else np.asarray(image, dtype=np.uint8)
                snap = self.snapshots.save(self.settings.camera_id, shot, now, "summary") if self.snapshots \
                    else None
                self._flush(now, snap)
                window_start = now

    def _flush(self, now: datetime, snapshot: str | None) -> None:
        for event in self.analyser.flush(now, snapshot):
            self.emit(event)

    def _health(self, sig: npt.NDArray[np.float32] | None, detail: str,
                image: npt.NDArray[np.uint8] | None = None, now: datetime | None = None) -> None:
        now = now or self.clock()
        for change in self.health.observe(now, sig, detail):
            snap = None
            if image is not None and self.snapshots is not None:
                snap = self.snapshots.save(self.settings.camera_id, image, now, change.status.value)
            event = change.model_copy(update={"snapshot": snap}) if snap else change
            logger.info("camera %s: %s %s", self.settings.camera_id, change.status.value, change.detail)
            self.emit(event)


class CameraFleet:
    """Run one ``CameraWorker`` thread per camera; a crash in one never touches the others."""

    def __init__(self, workers: list[CameraWorker]) -> None:
        self.workers = workers
        self.stop_event = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start every camera's thread."""
        for w in self.workers:
            t = threading.Thread(target=self._guarded, args=(w,), name=f"camera:{w.settings.camera_id}", daemon=True)
            t.start()
            self._threads.append(t)

    def _guarded(self, worker: CameraWorker) -> None:
        while not self.stop_event.is_set():
            try:
                worker.run(self.stop_event)
            except Exception:  # a thread's outer edge: log, wait, restart this camera only
                worker.counters.errors += 1
                logger.exception("camera %s: worker crashed; restarting in 5 s", worker.settings.camera_id)
                self.stop_event.wait(5)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every camera and wait for the threads."""
        self.stop_event.set()
        for t in self._threads:
            t.join(timeout)
