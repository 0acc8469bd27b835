"""The MJPEG server: OpenCV opens it, frames come in real time, and each fault looks as specified."""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

import cv2
import numpy as np
import pytest

from camera_sim.scene import Faults, SceneSpec, plaza_scene, road_scene
from camera_sim.server import serve
from camera_sim.stamp import read_frame_index


@dataclass(frozen=True)
class Part:
    at: float
    body: bytes

    def image(self) -> np.ndarray | None:
        return cv2.imdecode(np.frombuffer(self.body, np.uint8), cv2.IMREAD_COLOR)


def _read_parts(url: str, seconds: float) -> tuple[int, list[Part], bool]:
    """Read a multipart stream for up to ``seconds``; return status, parts and whether the server closed."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    conn.request("GET", u.path)
    resp = conn.getresponse()
    if resp.status != 200:
        resp.read()
        conn.close()
        return resp.status, [], True
    assert resp.getheader("Content-Type") == "multipart/x-mixed-replace; boundary=frame"
    parts: list[Part] = []
    deadline = time.monotonic() + seconds
    closed = False
    while time.monotonic() < deadline:
        line = resp.readline()
        if not line:
            closed = True
            break
        if line.strip() != b"--frame":
            continue
        length = 0
        while (header := resp.readline().strip()) != b"":
            name, _, value = header.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        parts.append(Part(time.monotonic(), resp.read(length)))
    conn.close()
    return 200, parts, closed


def _small(spec: SceneSpec, **update: object) -> SceneSpec:
    return spec.model_copy(update={"width": 640, "height": 360, **update})


def test_opencv_reads_the_stream_in_real_time() -> None:
    spec = _small(road_scene(seed=1, duration_s=60))
    with serve(spec) as server:
        cap = cv2.VideoCapture(server.url, cv2.CAP_FFMPEG)
        assert cap.isOpened()
        started = time.monotonic()
        indices = []
        for _ in range(20):
            ok, image = cap.read()
            assert ok and image.shape == (360, 640, 3)
            indices.append(read_frame_index(image))
        elapsed = time.monotonic() - started
        cap.release()
    assert None not in indices
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    assert 1.2 < elapsed < 4.0  # 20 frames at 10 fps, not as fast as the renderer can go


def test_faults_over_http() -> None:
    faults = Faults(freeze=[(1.0, 2.0)], black=[(2.5, 3.0)], corrupt=[(3.5, 4.0)], drop=[(4.5, 5.5)])
    spec = _small(plaza_scene(seed=2, duration_s=8, faults=faults))
    with serve(spec, loop=False) as server:
        t0 = time.monotonic()
        status, parts, closed = _read_parts(server.url, 6.0)
        assert status == 200 and closed
        closed_at = time.monotonic() - t0
        refused, _, _ = _read_parts(server.url, 0.5)
        time.sleep(max(0.0, 5.7 - (time.monotonic() - t0)))
        status_after, after, _ = _read_parts(server.url, 0.5)

    assert 4.2 < closed_at < 5.2, "drop closes the open stream when it starts"
    assert refused == 503, "drop refuses new connections"
    assert status_after == 200 and after, "the camera comes back after the drop"
    assert read_frame_index(after[0].image()) >= 55

    images = [p.image() for p in parts]
    garbage = [p for p, im in zip(parts, images, strict=True) if im is None]
    decoded = [im for im in images if im is not None]
    stamps = [read_frame_index(im) for im in decoded]
    black = [im for im, s in zip(decoded, stamps, strict=True) if s is None]

    frozen = [
        p.body for p, im in zip(parts, images, strict=True) if im is not None and read_frame_index(im) == 10
    ]
    assert len(frozen) >= 8 and len(set(frozen)) == 1, "freeze repeats the same picture, byte for byte"
    assert not {s for s in stamps if s is not None} & set(range(11, 20)), "nothing new is shown while frozen"
    assert len(black) >= 3 and all(int(im.max()) <= 16 for im in black), "black frames are black"
    assert len(garbage) >= 3 and all(p.body[:2] == b"\xff\xd8" for p in garbage), (
        "corrupt sends garbage parts"
    )
    live = [s for s in stamps if s is not None]
    assert live == sorted(live) and max(live) >= 40


def test_opencv_survives_corrupt_parts() -> None:
    """A corrupt part makes ``cap.read()`` return False once per part; the next reads get pictures again."""
    spec = _small(road_scene(seed=3, duration_s=30, faults=Faults(corrupt=[(0.5, 1.0)])))
    with serve(spec) as server:
        cap = cv2.VideoCapture(server.url, cv2.CAP_FFMPEG)
        assert cap.isOpened()
        results: list[int | str | None] = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (
            results and isinstance(results[-1], int) and results[-1] >= 15
        ):
            ok, image = cap.read()
            results.append(read_frame_index(image) if ok else "failed")
        cap.release()
    first_failure = results.index("failed")
    assert all(r == "failed" for r in results[first_failure : first_failure + 3])
    after = [r for r in results[first_failure:] if isinstance(r, int)]
    assert after and after[0] >= 10 and after[-1] >= 15, (
        f"OpenCV did not recover after the corrupt range: {results}"
    )


def test_several_cameras_in_one_server() -> None:
    specs = [
        _small(road_scene(seed=1, duration_s=20, name="cam-a")),
        _small(plaza_scene(seed=1, duration_s=20, name="cam-b")),
    ]
    with serve(specs) as server:
        assert set(server.urls) == {"cam-a", "cam-b"}
        base = server.url.rsplit("/cam/", 1)[0]
        listing = urllib.request.urlopen(base + "/", timeout=5).read().decode()
        assert "/cam/cam-a.mjpg" in listing and "/cam/cam-b.mjpg" in listing
        snapshot = urllib.request.urlopen(base + "/cam/cam-b.jpg", timeout=5).read()
        assert read_frame_index(cv2.imdecode(np.frombuffer(snapshot, np.uint8), cv2.IMREAD_COLOR)) is not None
        for url in server.urls.values():
            status, parts, _ = _read_parts(url, 0.5)
            assert status == 200 and parts
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "/cam/nope.mjpg", timeout=5)
        assert err.value.code == 404


def test_stop_closes_open_streams() -> None:
    server = serve(_small(road_scene(seed=1, duration_s=20)))
    cap = cv2.VideoCapture(server.url, cv2.CAP_FFMPEG)
    assert cap.read()[0]
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 3
    cap.release()
