"""The frame index, stamped into the picture as black and white blocks so it survives JPEG and MP4.

A strip one block high along the bottom-left corner holds 34 blocks: a start marker (white, black), the 24-bit
index (most significant bit first, white = 1) and an 8-bit check (the XOR of the index's three bytes and
0xA5). The block side is ``width / 80`` pixels (16 at 1280 wide), so the strip scales with the picture and a
resized frame of the same aspect ratio still reads. A black, frozen-grey or garbled strip fails the marker or
the check and reads as None.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

INDEX_BITS = 24
CHECK_BITS = 8
MAX_INDEX = (1 << INDEX_BITS) - 1
_MARKER = (1, 0)
_N_BLOCKS = len(_MARKER) + INDEX_BITS + CHECK_BITS


def block_size(width: int) -> float:
    """Return the side of one stamp block in pixels for a picture this wide."""
    return width / 80.0


def _check(index: int) -> int:
    return ((index >> 16) ^ (index >> 8) ^ index ^ 0xA5) & 0xFF


def _bits(index: int) -> list[int]:
    data = [(index >> (INDEX_BITS - 1 - i)) & 1 for i in range(INDEX_BITS)]
    check = _check(index)
    return [*_MARKER, *data, *[(check >> (CHECK_BITS - 1 - i)) & 1 for i in range(CHECK_BITS)]]


def stamp_frame_index(image: npt.NDArray[np.uint8], index: int) -> None:
    """Draw the index into the bottom-left strip of a BGR or grey image, in place."""
    if not 0 <= index <= MAX_INDEX:
        raise ValueError(f"frame index {index} does not fit in {INDEX_BITS} bits")
    h, w = image.shape[:2]
    b = block_size(w)
    y0 = round(h - b)
    for i, bit in enumerate(_bits(index)):
        image[y0:h, round(i * b) : round((i + 1) * b)] = 255 if bit else 0


def read_frame_index(image: npt.NDArray[np.uint8]) -> int | None:
    """Return the index stamped in a picture, or None when there is no valid stamp (e.g. a black frame)."""
    if image.ndim not in (2, 3) or image.shape[0] < 8 or image.shape[1] < 8:
        return None
    h, w = image.shape[:2]
    b = block_size(w)
    if b * _N_BLOCKS > w or b > h:
        return None
    # Sample the middle half of each block: JPEG and MPEG-4 ringing stays near block edges.
    q = b / 4
    y0, y1 = round(h - b + q), max(round(h - q), round(h - b + q) + 1)
    levels = []
    for i in range(_N_BLOCKS):
        x0, x1 = round(i * b + q), max(round((i + 1) * b - q), round(i * b + q) + 1)
        levels.append(float(image[y0:y1, x0:x1].mean()))  # all channels: grey level
    bits = [1 if level >= 128 else 0 for level in levels]
    if tuple(bits[:2]) != _MARKER or levels[0] - levels[1] < 96:
        return None
    index = 0
    for bit in bits[2 : 2 + INDEX_BITS]:
        index = (index << 1) | bit
    check = 0
    for bit in bits[2 + INDEX_BITS :]:
        check = (check << 1) | bit
    return index if check == _check(index) else None
