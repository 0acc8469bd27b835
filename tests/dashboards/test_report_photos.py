"""Photos of citizens' reports: re-encoded as plain JPEG, upright, small, without metadata but the chosen point;
bombs, non-pictures and oversized files refused with their reason."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from dashboards.report_photos import GPS_IFD, PhotoRefused, gps_exif, reencode
from ioc.config.models import ReportIntake

INTAKE = ReportIntake(photo_long_side_px=1000)


def encoded(image: Image.Image, fmt: str = "JPEG", **kw: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kw)
    return out.getvalue()


def test_a_png_with_transparency_becomes_a_jpeg() -> None:
    photo = reencode(encoded(Image.new("RGBA", (2400, 1200), (10, 20, 30, 128)), "PNG"), INTAKE)
    with Image.open(io.BytesIO(photo.data)) as back:
        assert (back.format, back.mode, back.size) == ("JPEG", "RGB", (1000, 500))
        assert (photo.width, photo.height) == (1000, 500)
        assert not back.getexif() and not back.info.get("comment")


def test_a_small_photo_is_not_enlarged() -> None:
    photo = reencode(encoded(Image.new("RGB", (320, 240))), INTAKE)
    assert (photo.width, photo.height) == (320, 240)


def test_only_the_chosen_point_is_written() -> None:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0132] = "2026:12:01 07:30:00"
    data = encoded(Image.new("RGB", (50, 50)), exif=exif, comment=b"secret")
    photo = reencode(data, INTAKE, gps=(103.0861, 21.7559))
    with Image.open(io.BytesIO(photo.data)) as back:
        kept = back.getexif()
        assert set(kept) == {GPS_IFD} and "comment" not in back.info
        gps = kept.get_ifd(GPS_IFD)
    assert (gps[1], gps[3], gps[0x12]) == ("N", "E", "WGS-84")
    lat = float(gps[2][0]) + float(gps[2][1]) / 60 + float(gps[2][2]) / 3600
    lon = float(gps[4][0]) + float(gps[4][1]) / 60 + float(gps[4][2]) / 3600
    assert (lon, lat) == pytest.approx((103.0861, 21.7559), abs=1e-6)
    assert b"PhoneMaker" not in photo.data and b"secret" not in photo.data


def test_gps_exif_south_and_west() -> None:
    gps = gps_exif(-0.5, -10.25).get_ifd(GPS_IFD)
    assert (gps[1], gps[3]) == ("S", "W")
    assert tuple(float(v) for v in gps[2]) == (10.0, 15.0, 0.0)


def test_the_first_frame_of_an_animation() -> None:
    frames = [Image.new("RGB", (40, 40), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    with Image.open(io.BytesIO(reencode(data, INTAKE).data)) as back:
        red, _green, blue = back.convert("RGB").getpixel((20, 20))  # type: ignore[misc]
    assert red > 200 and blue < 60


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "bad_photo"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "bad_photo"),
        (b"%PDF-1.4 not a picture", "bad_photo"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 100, "bad_photo"),  # a JPEG header and nothing behind it
        (b"x" * (ReportIntake().max_photo_bytes + 1), "photo_too_large"),
    ],
)
def test_refused(data: bytes, reason: str) -> None:
    with pytest.raises(PhotoRefused) as refused:
        reencode(data, ReportIntake())
    assert refused.value.reason == reason


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels and holds none: what a bomb looks like before it is decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("width", "height", "says"),
    [
        (30000, 30000, "too many pixels to decode"),  # beyond Pillow's own guard, refused as the file opens
        (12000, 12000, "too many pixels to decode"),
        (8000, 6000, "8000x6000 pixels, at most 40000000"),  # below it: the intake's limit decides
    ],
)
def test_a_decompression_bomb_is_refused_before_it_is_decoded(width: int, height: int, says: str) -> None:
    with pytest.raises(PhotoRefused, match=f"photo_too_large: {says}"):
        reencode(png_header(width, height), ReportIntake())
