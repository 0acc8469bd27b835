"""Photos sent with a citizen's report: checked, re-encoded as JPEG, stripped of every piece of metadata.

A phone's photo carries EXIF: the camera, the time, often the exact GPS position of the sender's home. None of it
is kept: the picture is decoded, turned upright by its EXIF orientation, scaled down to ``photo_long_side_px``
and written anew without EXIF, XMP, ICC or comments. The location the citizen chose to send travels with the
report itself (its point), not inside the photo. Re-encoding also means a stored "photo" is always a plain JPEG
that Pillow could decode, never a file crafted to be something else.

The size is checked before decoding (``max_photo_pixels``), so a small file that expands into a huge picture
(a decompression bomb) is refused without filling the memory.
"""

from __future__ import annotations

import io
import logging
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from ioc.config.models import ReportIntake
from ioc.store.reports import Photo

logger = logging.getLogger(__name__)

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO"})
JPEG_QUALITY = 82


class PhotoRefused(ValueError):
    """A photo that cannot be accepted; ``reason`` is the rejection's code (``photo_too_large``, ``bad_photo``)."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


def reencode(data: bytes, intake: ReportIntake) -> Photo:
    """Return the photo as a metadata-free JPEG no larger than the intake's limits; ``PhotoRefused`` otherwise."""
    if len(data) > intake.max_photo_bytes:
        raise PhotoRefused("photo_too_large", f"{len(data)} bytes, at most {intake.max_photo_bytes}")
    if not data:
        raise PhotoRefused("bad_photo", "empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                if probe.format not in ACCEPTED_FORMATS:
                    raise PhotoRefused("bad_photo", f"format {probe.format} is not accepted")
                width, height = probe.size
                if width * height > intake.max_photo_pixels:
                    raise PhotoRefused(
                        "photo_too_large", f"{width}x{height} pixels, at most {intake.max_photo_pixels}"
                    )
                probe.seek(0)  # the first frame of an animation or a multi-picture file
                upright = ImageOps.exif_transpose(probe)
                picture = upright.convert("RGB")
    except PhotoRefused:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PhotoRefused("bad_photo", f"not a picture Pillow can read ({type(exc).__name__})") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        # Pillow reports a truncated or corrupt file with these.
        raise PhotoRefused("bad_photo", f"damaged picture ({exc})") from exc
    picture.thumbnail((intake.photo_long_side_px, intake.photo_long_side_px), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    # No exif=, no icc_profile=, no comment=: Pillow writes none of them unless asked.
    picture.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return Photo(out.getvalue(), picture.width, picture.height)
