"""Which frames of a video are analysed: evenly spread in video time, at any ratio of the two rates."""

from __future__ import annotations

import math

_EPS = 1e-9


def is_due(index: int, source_fps: float, sample_fps: float) -> bool:
    """Return whether frame ``index`` (0-based) of a ``source_fps`` video is one of ``sample_fps`` analysed.

    Frame i is taken when ``floor(i x sample / source)`` moves on: over any second exactly ``sample_fps``
    frames are taken (all of them when the source is slower), as evenly spaced as the source allows. Rounding
    the step instead (25 / 10 -> every 2nd frame) analyses 12.5 frames per second, telling the tracker 10.
    """
    if source_fps <= 0 or sample_fps <= 0:
        raise ValueError(f"frame rates must be positive, got source {source_fps}, sample {sample_fps}")
    if index <= 0 or sample_fps >= source_fps:
        return True
    ratio = sample_fps / source_fps
    return math.floor(index * ratio + _EPS) > math.floor((index - 1) * ratio + _EPS)
