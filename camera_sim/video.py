"""Writing a simulated clip to an MP4 file with its truth file alongside."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2

from camera_sim.errors import SimulatorError
from camera_sim.render import Renderer
from camera_sim.scene import SceneSpec
from camera_sim.truth import TruthSummary, TruthWriter, iter_truth, truth_path_for

logger = logging.getLogger(__name__)


def write_mp4(spec: SceneSpec, path: Path | str) -> TruthSummary:
    """Render a clip to ``path`` (MPEG-4 Part 2, ``mp4v``) and its truth to ``<name>.truth.jsonl`` beside it.

    Dropped frames are not written (the file is shorter than the clip; the stamped index says which frame is
    which); frozen and black frames are written as the camera sent them. The file is opened again with OpenCV
    to check it is readable and holds the expected number of frames.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    renderer = Renderer(spec)
    fourcc = cv2.VideoWriter.fourcc(*"mp4v")
    writer = cv2.VideoWriter(str(path), fourcc, spec.fps, (spec.width, spec.height))
    if not writer.isOpened():
        raise SimulatorError(
            f"OpenCV cannot write {path} with the mp4v codec; check the directory is writable"
        )
    truth = TruthWriter(truth_path_for(path), spec)
    written = 0
    try:
        for ft in iter_truth(renderer.world):
            truth.add(ft)
            image = renderer.frame(ft.index)
            if image is None:
                continue
            writer.write(image)
            written += 1
    finally:
        writer.release()
        totals = truth.close(written)
    _check_readable(path, written)
    logger.info("wrote %s: %d of %d frames, truth in %s", path, written, spec.n_frames, truth.path)
    return TruthSummary(
        video_path=path, truth_path=truth.path, frames=spec.n_frames, frames_written=written, totals=totals
    )


def _check_readable(path: Path, expected: int) -> None:
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise SimulatorError(
                f"OpenCV wrote {path} but cannot open it again; the FFmpeg backend may be missing"
            )
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        ok, _ = cap.read()
    finally:
        cap.release()
    if not ok or (n and n != expected):
        raise SimulatorError(f"{path}: read back {n} frames (first frame ok: {ok}), expected {expected}")
