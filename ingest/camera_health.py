"""Camera stream health and still-frame skipping: pure decisions over small frame signatures.

Operators complain most about not being told when a camera goes dark or freezes, and about a frozen frame that looks
live. ``HealthMonitor.observe`` turns what the capture loop sees (a frame, or nothing) into state changes:
online -> offline (no frame for ``offline_after_s``), frozen (the picture has not changed at all for
``frozen_after_s``, while a real scene always has sensor noise), black (mean brightness under a threshold, a covered
or dead camera) and back online. Each change is reported once.

``StillFrameFilter`` skips analysing frames where nothing moved since the last analysed one, the cheapest way to save
CPU on a quiet street; it compares downscaled grey images, so compression noise does not count as motion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import cv2
import numpy as np
import numpy.typing as npt

from ioc.events import CameraHealth, CameraStatus, stable_id

SIGNATURE_SIZE = (64, 36)


def signature(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Return a small grey copy of a frame, enough to tell stillness, freezing and darkness apart cheaply."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return cv2.resize(grey, SIGNATURE_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)


@dataclass
class HealthMonitor:
    """Follow one camera's stream and report each change of state once."""

    camera_id: str
    offline_after_s: float = 10.0
    frozen_after_s: float = 20.0
    black_level: float = 12.0
    black_after_s: float = 5.0
    frozen_tolerance: float = 0.0  # a frozen encoder repeats the very same picture; live video never does
    status: CameraStatus = CameraStatus.OFFLINE
    _last_frame_at: datetime | None = None
    _last_change_at: datetime | None = None
    _dark_since: datetime | None = None
    _previous: npt.NDArray[np.float32] | None = field(default=None, repr=False)
    _reported_once: bool = False

    def observe(self, now: datetime, image_signature: npt.NDArray[np.float32] | None,
                detail: str = "") -> list[CameraHealth]:
        """Take one observation (a frame's signature, or ``None`` when reading failed) and return state changes."""
        if image_signature is None:
            if self._last_frame_at is None or now - self._last_frame_at >= timedelta(seconds=self.offline_after_s):
                return self._become(CameraStatus.OFFLINE, now, detail or "no frames")
            return []
        self._last_frame_at = now
        sig = image_signature
        changed = self._previous is None or float(np.abs(sig - self._previous).mean()) > self.frozen_tolerance
        self._previous = sig
        if changed or self._last_change_at is None:
            self._last_change_at = now
        if float(sig.mean()) < self.black_level:
            self._dark_since = self._dark_since or now
            if now - self._dark_since >= timedelta(seconds=self.black_after_s):
                return self._become(CameraStatus.BLACK, now, f"mean brightness {sig.mean():.1f}")
            return []
        self._dark_since = None
        if now - self._last_change_at >= timedelta(seconds=self.frozen_after_s):
            return self._become(CameraStatus.FROZEN, now, f"picture unchanged since {self._last_change_at:%H:%M:%S}")
        return self._become(CameraStatus.ONLINE, now, detail)

    def _become(self, status: CameraStatus, now: datetime, detail: str) -> list[CameraHealth]:
        if status == self.status and self._reported_once:
            return []
        self.status = status
        self._reported_once = True
        return [CameraHealth(event_id=stable_id("camera-health", self.camera_id, status.value, now),
                             camera_id=self.camera_id, at=now, status=status, detail=detail[:500])]


@dataclass
class StillFrameFilter:
    """Decide whether a frame differs enough from the last analysed one to be worth analysing."""

    threshold: float = 1.5
    changed_fraction: float = 0.002
    max_skip: int = 20
    _reference: npt.NDArray[np.float32] | None = field(default=None, repr=False)
    _skipped: int = 0
    skipped_total: int = 0

    def should_analyse(self, image_signature: npt.NDArray[np.float32]) -> bool:
        """Return True when something moved (or after ``max_skip`` skipped frames, to refresh the tracks)."""
        if self._reference is None or self._skipped >= self.max_skip:
            return self._take(image_signature)
        # Leave out the top and bottom bands, where cameras burn in their clock and name: a ticking clock is not
        # motion (with it, nothing was ever skipped in `ioc bench vision`).
        band = max(1, image_signature.shape[0] // 12)
        diff = np.abs(image_signature[band:-band] - self._reference[band:-band])
        moved = float((diff > self.threshold * 8).mean())
        if moved > self.changed_fraction:
            return self._take(image_signature)
        self._skipped += 1
        self.skipped_total += 1
        return False

    def _take(self, sig: npt.NDArray[np.float32]) -> bool:
        self._reference = sig
        self._skipped = 0
        return True
