"""Command line: ``python -m camera_sim write road out.mp4`` or ``python -m camera_sim serve road plaza``."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence

from camera_sim.scene import SceneSpec, plaza_scene, road_scene
from camera_sim.server import serve
from camera_sim.video import write_mp4

logger = logging.getLogger(__name__)


def _spec(kind: str, args: argparse.Namespace, name: str | None = None) -> SceneSpec:
    if kind == "road":
        return road_scene(
            args.seed, args.duration, variant=args.variant, parked=args.parked, name=name or "sim-road"
        )
    return plaza_scene(args.seed, args.duration, variant=args.variant, name=name or "sim-plaza")


def main(argv: Sequence[str] | None = None) -> int:
    """Write a clip with its truth, or serve simulated cameras over HTTP until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m camera_sim", description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, default=60.0, help="clip length in seconds")
    parser.add_argument("--variant", choices=["day", "night", "rain"], default="day")
    parser.add_argument("--parked", action="store_true", help="road: a car stops on the counting line")
    verbs = parser.add_subparsers(dest="verb", required=True)
    write = verbs.add_parser("write", help="render an MP4 and its <name>.truth.jsonl")
    write.add_argument("kind", choices=["road", "plaza"])
    write.add_argument("path")
    serve_p = verbs.add_parser("serve", help="serve MJPEG cameras at /cam/<name>.mjpg")
    serve_p.add_argument("kinds", nargs="+", choices=["road", "plaza"])
    serve_p.add_argument("--host", default="127.0.0.1")
    serve_p.add_argument("--port", type=int, default=8554)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    if args.verb == "write":
        started = time.monotonic()
        summary = write_mp4(_spec(args.kind, args), args.path)
        logger.info(
            "%d of %d frames in %.1f s; truth %s; crossings %s",
            summary.frames_written,
            summary.frames,
            time.monotonic() - started,
            summary.truth_path,
            summary.totals,
        )
        return 0
    specs = [_spec(kind, args, f"sim-{kind}-{i}") for i, kind in enumerate(args.kinds, start=1)]
    server = serve(specs, args.host, args.port)
    for url in server.urls.values():
        print(url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
