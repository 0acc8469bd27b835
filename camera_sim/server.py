"""Simulated IP cameras over HTTP: MJPEG streams (``multipart/x-mixed-replace; boundary=frame``) in real time.

``serve(spec)`` starts a threaded HTTP server and returns at once. Each camera is at ``/cam/<name>.mjpg`` (a
snapshot at ``/cam/<name>.jpg``); ``GET /`` lists them. Cameras run on a clock started with the server, like a
live camera: a client that connects late sees the current frame, not the first. Frames are stamped with their
index (``camera_sim.stamp``), so a reader can tell which truth record a picture belongs to.

Faults, by scene time:
    freeze   the picture of the freeze's first frame repeats (same JPEG bytes);
    black    all-black frames;
    drop     open streams are closed and new requests get 503 until the range ends;
    corrupt  each part holds random bytes (with a JPEG start marker) instead of a picture.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np

from camera_sim.errors import SimulatorError
from camera_sim.render import Renderer
from camera_sim.scene import SceneSpec

logger = logging.getLogger(__name__)

BOUNDARY = "frame"
_PATH = re.compile(r"^/cam/([a-z0-9]+(?:[-_][a-z0-9]+)*)\.(mjpg|jpg)$")


@dataclass
class _Camera:
    """One simulated camera: its renderer, its clock and the last encoded frame (shared by all clients)."""

    spec: SceneSpec
    renderer: Renderer
    started: float | None
    loop: bool
    quality: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    cached: tuple[int, bytes] | None = None

    def start_clock(self) -> float:
        """Start the camera's clock if it waits for its first viewer; return its start time."""
        with self.lock:
            if self.started is None:
                self.started = time.monotonic()
            return self.started

    def index_now(self) -> int | None:
        """Return the frame index the camera is showing now, or None once a non-looping clip has ended."""
        index = math.floor((time.monotonic() - self.start_clock()) * self.spec.fps)
        if index >= self.spec.n_frames:
            return index % self.spec.n_frames if self.loop else None
        return index

    def next_tick(self) -> float:
        """Return the monotonic time of the next frame."""
        started = self.start_clock()
        elapsed = time.monotonic() - started
        return started + (math.floor(elapsed * self.spec.fps) + 1) / self.spec.fps

    def fault(self, index: int) -> str | None:
        """Return the fault active at a frame."""
        return self.spec.faults.at(index / self.spec.fps)

    def part(self, index: int) -> bytes:
        """Return the body sent for a frame: JPEG bytes, or garbage during a ``corrupt`` range."""
        if self.fault(index) == "corrupt":
            rng = np.random.default_rng([self.spec.seed, 11, index])
            return b"\xff\xd8" + rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
        with self.lock:
            if self.cached is not None and self.cached[0] == index:
                return self.cached[1]
            image = self.renderer.frame(index)
            if image is None:
                raise SimulatorError(f"camera {self.spec.name}: frame {index} is dropped")
            ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
            if not ok:
                raise SimulatorError(f"camera {self.spec.name}: OpenCV could not encode frame {index}")
            self.cached = (index, buf.tobytes())
            return self.cached[1]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], cameras: dict[str, _Camera]) -> None:
        super().__init__(address, _Handler)
        self.cameras = cameras
        self.stopping = threading.Event()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        if self.path == "/":
            body = "".join(f"/cam/{name}.mjpg\n" for name in self.server.cameras).encode()
            self._reply(200, "text/plain; charset=utf-8", body)
            return
        match = _PATH.match(self.path.split("?", 1)[0])
        camera = self.server.cameras.get(match.group(1)) if match else None
        if match is None or camera is None:
            self._reply(404, "text/plain; charset=utf-8", b"no such camera; GET / lists them\n")
            return
        index = camera.index_now()
        if index is None:
            self._reply(410, "text/plain; charset=utf-8", b"the clip has ended\n")
            return
        if camera.fault(index) == "drop":
            self._reply(503, "text/plain; charset=utf-8", b"camera offline\n")
            return
        try:
            if match.group(2) == "jpg":
                self._reply(200, "image/jpeg", camera.part(index))
            else:
                self._stream(camera)
        except (BrokenPipeError, ConnectionResetError):
            logger.debug("camera %s: client %s went away", camera.spec.name, self.address_string())

    def _reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, camera: _Camera) -> None:
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-cache, no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        last = -1
        while not self.server.stopping.is_set():
            index = camera.index_now()
            if index is None or camera.fault(index) == "drop":
                return  # closing the connection is how a dead camera looks to a client
            if index != last:
                body = camera.part(index)
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(body)}\r\n\r\n"
                self.wfile.write(head.encode() + body + b"\r\n")
                self.wfile.flush()
                last = index
            self.server.stopping.wait(max(0.0, camera.next_tick() - time.monotonic()) + 0.001)


@dataclass
class SimServer:
    """A running simulated-camera server; ``url`` is the first camera's stream, ``urls`` all of them."""

    url: str
    urls: dict[str, str]
    _server: _Server
    _thread: threading.Thread

    def stop(self) -> None:
        """Close every stream and stop the server."""
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SimServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(
    specs: SceneSpec | Iterable[SceneSpec],
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    loop: bool = True,
    jpeg_quality: int = 80,
    start_on_connect: bool = False,
) -> SimServer:
    """Start serving one or more simulated cameras in a background thread and return the running server.

    ``port=0`` picks a free port. With ``loop`` the clip starts again after its end (the stamped index wraps
    to 0); without it the stream closes at the end and new requests get 410. With ``start_on_connect`` each
    camera's clock starts at its first request instead of with the server, so a reader sees the clip from frame 0
    (tests that compare counts with the whole clip's truth).
    """
    spec_list = [specs] if isinstance(specs, SceneSpec) else list(specs)
    if not spec_list:
        raise SimulatorError("serve() needs at least one SceneSpec")
    names = [s.name for s in spec_list]
    if len(set(names)) != len(names):
        raise SimulatorError(f"camera names must be unique, got {names}; set SceneSpec.name")
    started = None if start_on_connect else time.monotonic()
    cameras = {
        s.name: _Camera(spec=s, renderer=Renderer(s), started=started, loop=loop, quality=jpeg_quality)
        for s in spec_list
    }
    try:
        server = _Server((host, port), cameras)
    except OSError as exc:
        raise SimulatorError(
            f"cannot listen on {host}:{port} ({exc}); pick another port or use port=0"
        ) from exc
    real_host, real_port = server.server_address[:2]
    base = f"http://{real_host!s}:{real_port}"
    urls = {name: f"{base}/cam/{name}.mjpg" for name in cameras}
    thread = threading.Thread(target=server.serve_forever, name="camera-sim-http", daemon=True)
    thread.start()
    logger.info("simulated cameras at %s", ", ".join(urls.values()))
    return SimServer(url=urls[names[0]], urls=urls, _server=server, _thread=thread)
