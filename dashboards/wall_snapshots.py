"""``/snapshots/<camera>.jpg``: a camera's newest snapshot with its detection boxes drawn, behind the login.

The path of the newest snapshot comes from PostgreSQL (detection summaries and health changes); the file is
served only when it lies under the snapshot folder, so a path in the database can never expose another file. A
camera outside the user's unit scopes answers like an unknown one. Boxes come from the ``.boxes.json`` the
camera worker writes beside a summary snapshot (ioc.store.snapshots.SnapshotStore) and are drawn on the server, so
the picture on the wall and in a screenshot is the same; ``?boxes=0`` gives the bare picture.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from flask import Flask, Response, abort, request

from analytics.vision.types import CLASS_COLOURS, OTHER_COLOUR
from dashboards.data import WallData
from dashboards.pages import session_user
from dashboards.wall_scope import scope_of
from ioc.config.models import SiteConfig
from ioc.errors import SinkUnavailable
from ioc.store.snapshots import SnapshotStore

logger = logging.getLogger(__name__)

BOX_COLOURS = CLASS_COLOURS
DEFAULT_BOX_COLOUR = OTHER_COLOUR
JPEG_QUALITY = 85


def install_snapshots(server: Flask, data: WallData, site: SiteConfig, root: Path | None) -> None:
    """Add the snapshot route to the server (the login guard in front of every route applies to it).

    ``root`` is the camera workers' snapshot folder, chosen by the app (``Settings.snapshot_dir``); without one
    every snapshot answers 404.
    """
    base = root.resolve() if root is not None else None
    cameras = {c.id: c for c in site.cameras}

    @server.get("/snapshots/<camera_id>.jpg")
    def snapshot(camera_id: str) -> Response:
        user = session_user()
        cam = cameras.get(camera_id)
        if user is None or cam is None or not scope_of(site, user).covers(cam.area_code):
            abort(404)
        try:
            newest = data.latest_snapshot(camera_id)
        except SinkUnavailable as exc:
            logger.warning("snapshot of %s not looked up: %s", camera_id, exc)
            return Response("database unavailable\n", 503, mimetype="text/plain")
        if newest is None or base is None:
            abort(404)
        path = Path(newest[1]).resolve()
        if not path.is_relative_to(base):
            logger.warning("snapshot of %s at %s is outside %s; not served", camera_id, path, base)
            abort(404)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            logger.warning("snapshot of %s unreadable at %s: %s", camera_id, path, exc)
            abort(404)
        boxes = SnapshotStore.read_boxes(path) if request.args.get("boxes", "1") != "0" else None
        body = draw_boxes(raw, boxes) if boxes else raw
        response = Response(body, 200, mimetype="image/jpeg")
        response.headers["Cache-Control"] = "private, no-store"
        return response


def draw_boxes(jpeg: bytes, boxes: dict[str, Any]) -> bytes:
    """Return the JPEG with its detection boxes drawn (scaled when the picture's size differs from theirs)."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        logger.warning("a snapshot is not a readable JPEG; served without boxes")
        return jpeg
    height, width = image.shape[:2]
    sx = width / float(boxes.get("width") or width)
    sy = height / float(boxes.get("height") or height)
    thick = max(1, round(min(width, height) / 240))
    for box in boxes["boxes"]:
        try:
            x1, y1, x2, y2 = (float(v) for v in box["xyxy"])
            name = str(box.get("class", ""))
        except (KeyError, TypeError, ValueError):
            continue
        colour = BOX_COLOURS.get(name, DEFAULT_BOX_COLOUR)
        p1, p2 = (round(x1 * sx), round(y1 * sy)), (round(x2 * sx), round(y2 * sy))
        cv2.rectangle(image, p1, p2, colour, thick)
        label = name if box.get("track_id") is None else f"{name} {box['track_id']}"
        cv2.putText(
            image, label, (p1[0], max(10, p1[1] - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.35 * thick, colour, 1
        )
    ok, out = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return out.tobytes() if ok else jpeg
