"""Camera snapshots on disk: the JPEGs the camera workers write and the wall serves, with their boxes.

The camera worker (``ingest.camera``) writes; the wall (``dashboards.wall_snapshots``) reads. Both sides meet
here in the store, so neither imports the other.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)


class SnapshotStore:
    """JPEG snapshots under one directory: ``<camera>/<stamp>-<reason>.jpg`` and ``<camera>/latest.jpg``.

    A summary snapshot may carry the detection boxes of its frame beside it, ``<stamp>-summary.boxes.json``
    (``write_boxes``), which the wall draws over the picture.
    """

    @staticmethod
    def boxes_path(snapshot: str | Path) -> Path:
        """Return where the boxes of a snapshot are kept."""
        p = Path(snapshot)
        return p.with_name(p.stem + ".boxes.json")

    @staticmethod
    def write_boxes(snapshot: str | Path, boxes: list[dict[str, Any]], width: int, height: int) -> None:
        """Write the boxes of a snapshot's frame (pixels of a ``width`` x ``height`` image); never raises."""
        path = SnapshotStore.boxes_path(snapshot)
        try:
            path.write_text(json.dumps({"width": width, "height": height, "boxes": boxes}), encoding="utf-8")
        except OSError as exc:
            logger.warning("cannot write snapshot boxes %s: %s", path, exc)

    @staticmethod
    def read_boxes(snapshot: str | Path) -> dict[str, Any] | None:
        """Return the boxes written for a snapshot, or None when there are none or they cannot be read."""
        path = SnapshotStore.boxes_path(snapshot)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            logger.warning("unreadable snapshot boxes %s: %s", path, exc)
            return None
        return data if isinstance(data, dict) and isinstance(data.get("boxes"), list) else None

    def __init__(self, root: Path, quality: int = 80) -> None:
        self.root = root
        self.quality = quality

    def save(self, camera_id: str, image: npt.NDArray[np.uint8], at: datetime, reason: str) -> str | None:
        """Write a snapshot and return its path, or None if it could not be written (logged, never raised)."""
        folder = self.root / camera_id
        try:
            folder.mkdir(parents=True, exist_ok=True)
            import cv2  # lazy: the wall reads boxes through this class and must not load OpenCV for it

            ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
            if not ok:
                return None
            path = folder / f"{at:%Y%m%dT%H%M%S%f}-{reason}.jpg"
            path.write_bytes(data.tobytes())
            (folder / "latest.jpg").write_bytes(data.tobytes())
            return str(path)
        except OSError as exc:
            logger.warning("camera %s: cannot write snapshot in %s: %s", camera_id, folder, exc)
            return None
