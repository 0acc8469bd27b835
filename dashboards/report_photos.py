"""Photos sent with a citizen's report: checked, re-encoded as JPEG, stripped of every piece of metadata.

A phone's photo carries EXIF: the camera, the time, often the exact GPS position of the sender's home. None of it
is kept: the picture is decoded, turned upright by its EXIF orientation, scaled down to ``photo_long_side_px``
and written anew without EXIF, XMP, ICC or comments. The one exception is the location the citizen chose to send
with the report (``gps``, the phone's position they asked the form to take): it is written back as the photo's
only EXIF, its GPS latitude and longitude, so a photo passed on keeps the place it shows and nothing else. A
photo's own GPS is never kept: it may be where the picture was taken days before, or the sender's home.
Re-encoding also means a stored "photo" is always a plain JPEG that Pillow could decode, never a file crafted to
be something else.

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
# EXIF tags (EXIF 2.32, GPS attribute information): the GPS IFD pointer and the tags written in it.
GPS_IFD = 0x8825
GPS_VERSION, GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON, GPS_DATUM = 0x0000, 0x0001, 0x0002, 0x0003, 0x0004, 0x0012


class PhotoRefused(ValueError):
    """A photo that cannot be accepted; ``reason`` is the rejection's code (``photo_too_large``, ``bad_photo``)."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


def reencode(data: bytes, intake: ReportIntake, gps: tuple[float, float] | None = None) -> Photo:
    """Return the photo as a JPEG no larger than the intake's limits, with no metadata but the (lon, lat) ``gps``
    the citizen chose to send; ``PhotoRefused`` when it cannot be accepted."""
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
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own guard (Image.MAX_IMAGE_PIXELS) fires when the file is opened, before our pixel count.
        raise PhotoRefused("photo_too_large", f"too many pixels to decode ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise PhotoRefused("bad_photo", f"not a picture Pillow can read ({type(exc).__name__})") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        # Pillow reports a truncated or corrupt file with these.
        raise PhotoRefused("bad_photo", f"damaged picture ({exc})") from exc
    picture.thumbnail((intake.photo_long_side_px, intake.photo_long_side_px), Image.Resampling.LANCZOS)
    # Pillow carries the source's info (a JPEG comment, XMP, the ICC profile) into the saved file unless it is
    # gone from the picture: clear it, then write exif= only for the chosen point.
    picture.info.clear()
    out = io.BytesIO()
    extra = {"exif": gps_exif(*gps)} if gps is not None else {}
    picture.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True, **extra)
    return Photo(out.getvalue(), picture.width, picture.height)


def gps_exif(lon: float, lat: float) -> Image.Exif:
    """Return an EXIF block holding only a GPS position (WGS84), degrees, minutes and seconds as EXIF writes them."""
    exif = Image.Exif()
    gps = exif.get_ifd(GPS_IFD)
    gps[GPS_VERSION] = b"\x02\x03\x00\x00"
    gps[GPS_LAT_REF], gps[GPS_LAT] = ("N" if lat >= 0 else "S"), _dms(abs(lat))
    gps[GPS_LON_REF], gps[GPS_LON] = ("E" if lon >= 0 else "W"), _dms(abs(lon))
    gps[GPS_DATUM] = "WGS-84"
    return exif


def _dms(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600, 4)
    return float(degrees), float(minutes), seconds
