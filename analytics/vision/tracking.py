"""Multi-object tracking: gives each detection a track id that stays the same while the object stays in view.

The association itself is Roboflow's ``trackers.ByteTrackTracker``, used as a library rather than rewritten
here: ByteTrack (Kalman-predicted boxes, two-stage IoU matching that revives tracks from low-confidence boxes)
is a published, benchmarked method, and the ``trackers`` package is maintained, tested against MOT benchmarks
and time-aware (it takes frame timestamps, so dropped or skipped frames on a busy CPU do not break the motion
model). A home-made nearest-neighbour tracker would be shorter but would switch ids exactly where counting
needs them stable: in dense traffic, behind occlusions and at the low frame rates (2-10 fps) a CPU-only server
analyses.

This module is the adapter: the project's ``Detections`` come in, are converted to ``supervision.Detections``
at the edge, and tracked ``Detections`` go out. ByteTrack ignores classes, so the adapter keeps a per-track
vote of the class names the detector gave it and reports the majority, which survives a detector that flickers
between ``car`` and ``truck`` on the same vehicle.

ByteTrack gives a track an id only once it is confirmed (``confirm_frames`` consecutive sightings), so the
frames before confirmation never reach the counters. The adapter remembers where each unconfirmed track was
first seen and keeps it, per confirmed id, in :attr:`Tracker.first_anchors`: a vehicle first seen just before
a counting line and confirmed just after it (at the start of a stream, or a fast one at 2-5 fps) still shows
the counter which side it came from.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker
from trackers.utils.iou import BIoU

from analytics.vision.types import Detections

logger = logging.getLogger(__name__)

# ByteTrack expresses its lost-track buffer in frames of a 30 fps video, whatever the real rate.
_BYTETRACK_REFERENCE_FPS = 30.0
# Boxes are widened for matching (buffered IoU, as in C-BIoU) by this ratio divided by the frame rate: at
# 2-5 fps a motorbike moves further than its own size between frames, and plain IoU then finds no overlap and
# starts a new track every frame. 2.0 (0.4 at 5 fps) was chosen on camera_sim's road scene, where plain IoU
# lost 20-40 % of the motorbike crossings at 5 fps and this buffer lost under 2 %.
BUFFER_AT_1_FPS = 2.0


class Tracker:
    """Assigns stable track ids to one camera's detections, frame after frame (one instance per camera)."""

    def __init__(
        self,
        fps: float,
        lost_track_s: float = 2.0,
        activation_confidence: float = 0.5,
        high_confidence: float = 0.5,
        min_iou: float = 0.1,
        confirm_frames: int = 2,
        box_buffer: float | None = None,
    ) -> None:
        """Configure for ``fps`` analysed frames per second; a track unseen for ``lost_track_s`` seconds ends.

        ``activation_confidence``: a detection must reach it to start a track. ``high_confidence``: boxes
        below it only extend existing tracks (ByteTrack's second stage). ``confirm_frames``:
        consecutive sightings before a track gets an id (filters one-frame false positives). ``box_buffer``:
        how much boxes are widened for matching, default ``BUFFER_AT_1_FPS / fps``.
        """
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if lost_track_s < 0:
            raise ValueError(f"lost_track_s must not be negative, got {lost_track_s}")
        self.fps = fps
        self.lost_track_s = lost_track_s
        self._bytetrack = ByteTrackTracker(
            lost_track_buffer=round(lost_track_s * _BYTETRACK_REFERENCE_FPS),
            frame_rate=fps,
            track_activation_threshold=activation_confidence,
            minimum_consecutive_frames=confirm_frames,
            minimum_iou_threshold=min_iou,
            high_conf_det_threshold=high_confidence,
            iou=BIoU(buffer_ratio=box_buffer if box_buffer is not None else default_box_buffer(fps)),
        )
        self._votes: dict[int, Counter[str]] = {}
        # Unconfirmed ByteTrack tracklets (by identity) -> anchor of their first sighting, until confirmed.
        self._pending: dict[object, tuple[float, float]] = {}
        self._first_anchors: dict[int, tuple[float, float]] = {}

    def update(self, detections: Detections, at: datetime) -> Detections:
        """Track one frame's detections seen at ``at``; return confirmed tracks with ids and majority classes.

        Detections that do not (yet) belong to a confirmed track are left out of the result.
        """
        result = self._bytetrack.update(_to_supervision(detections), timestamp=at.timestamp())
        ids = np.asarray(result.tracker_id if result.tracker_id is not None else [], dtype=np.int64)
        rows = np.asarray(result.data.get("row", []), dtype=np.int64)
        keep = ids >= 0
        ids, rows = ids[keep], rows[keep]
        names = []
        for track_id, row in zip(ids.tolist(), rows.tolist(), strict=True):
            votes = self._votes.setdefault(track_id, Counter())
            votes[detections.class_names[row]] += 1
            names.append(majority(votes))
        self._note_first_sightings()
        self._forget_ended_tracks()
        return Detections(
            xyxy=detections.xyxy[rows].astype(np.float32, copy=False),
            class_names=tuple(names),
            confidence=detections.confidence[rows].astype(np.float32, copy=False),
            track_id=ids,
        )

    @property
    def first_anchors(self) -> Mapping[int, tuple[float, float]]:
        """Return, per live track id, the anchor (bottom-centre) where it was first seen, unconfirmed."""
        return MappingProxyType(self._first_anchors)

    def class_of(self, track_id: int) -> str | None:
        """Return the majority class of a live track, or None if the tracker no longer knows it."""
        votes = self._votes.get(track_id)
        return majority(votes) if votes else None

    def reset(self) -> None:
        """Forget every track (after a stream reconnects to a different scene or a long outage)."""
        self._bytetrack.reset()
        self._votes.clear()
        self._pending.clear()
        self._first_anchors.clear()

    def _note_first_sightings(self) -> None:
        """Remember where unconfirmed tracklets were first seen; give it to their id once confirmed."""
        tracklets = self._bytetrack.tracks
        for tracklet in tracklets:
            if tracklet.tracker_id < 0:
                if tracklet.time_since_update == 0 and tracklet not in self._pending:
                    # Just spawned: its state box is still exactly the detection's box.
                    x1, _, x2, y2 = (float(v) for v in tracklet.get_state_bbox())
                    self._pending[tracklet] = ((x1 + x2) / 2, y2)
            elif tracklet in self._pending:
                self._first_anchors[tracklet.tracker_id] = self._pending.pop(tracklet)
        live = set(map(id, tracklets))
        for gone in [t for t in self._pending if id(t) not in live]:
            del self._pending[gone]

    def _forget_ended_tracks(self) -> None:
        alive = {t.tracker_id for t in self._bytetrack.tracks if t.tracker_id >= 0}
        for track_id in [t for t in self._votes if t not in alive]:
            del self._votes[track_id]
        for track_id in [t for t in self._first_anchors if t not in alive]:
            del self._first_anchors[track_id]


TWO_WHEELER_SHARE = 0.25


def majority(votes: Counter[str]) -> str:
    """Return a track's class from its votes: the most common, except that a rider stays on its bike.

    A person is never detected as a motorbike, but a rider's bike is missed in many frames: a track with at
    least ``TWO_WHEELER_SHARE`` of its votes for ``motorcycle`` or ``bicycle`` is that two-wheeler.
    most_common keeps first-inserted order on ties, so a tie keeps the class seen first.
    """
    best = votes.most_common(1)[0][0]
    if best == "person":
        total = sum(votes.values())
        for wheel in ("motorcycle", "bicycle"):
            if votes[wheel] and votes[wheel] >= TWO_WHEELER_SHARE * total:
                return wheel
    return best


def default_box_buffer(fps: float) -> float:
    """Return how much to widen boxes for matching at ``fps`` (relative to width and height)."""
    return BUFFER_AT_1_FPS / fps


def _to_supervision(detections: Detections) -> sv.Detections:
    """Convert to supervision's type at the edge; ``row`` lets results be mapped back to the input order."""
    if not len(detections):
        empty = sv.Detections.empty()
        empty.data["row"] = np.zeros((0,), np.int64)
        return empty
    return sv.Detections(
        xyxy=detections.xyxy.astype(np.float32, copy=False),
        confidence=detections.confidence.astype(np.float32, copy=False),
        data={"row": np.arange(len(detections), dtype=np.int64)},
    )
