"""Print docs/ACCURACY.md's real-clip table: every clip x model x regions x rate through `ioc vision count`'s core.

Usage: .venv/bin/python scripts/accuracy_real_clips.py [--models yolox-nano,yolov3-tiny] [--regions ...] [--fps 2,5]
The hand counts are tests/data/real_clip_counts.yaml; the clips live in ../shared/data/video.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analytics.vision import count as counting  # noqa: E402

VIDEO = REPO.parent / "shared" / "data" / "video"
CLASSES = ("motorcycle", "car", "truck", "bus", "bicycle", "person")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="yolox-nano,yolov3-tiny")
    parser.add_argument("--regions", default="full,tiles,motion")
    parser.add_argument("--fps", default="2,5")
    parser.add_argument("--clips", default="")
    args = parser.parse_args()
    truth = yaml.safe_load((REPO / "tests" / "data" / "real_clip_counts.yaml").read_text(encoding="utf-8"))
    clips = [c for c in truth if not args.clips or c in args.clips.split(",")]
    print("| clip | model | regions | fps | class/dir: counted / hand (error) | vehicles off | CPU ms/frame |")
    print("|---|---|---|---:|---|---:|---:|")
    for clip in clips:
        spec = truth[clip]
        (a, b) = spec["line"]
        for model in args.models.split(","):
            for regions in args.regions.split(","):
                for fps in (float(f) for f in args.fps.split(",")):
                    result = counting.count_video(
                        str(VIDEO / clip),
                        counting.CountOptions(
                            lines=[(tuple(a), tuple(b))], sample_fps=fps, model=model, regions=regions
                        ),
                    )
                    counted = result.lines[0].counts
                    cells, off, total = [], 0, 0
                    for cls in CLASSES:
                        for d in ("up", "down"):
                            t = spec["totals"].get(cls, {}).get(d, 0)
                            c = counted.get(cls, {}).get(d, 0)
                            if t or c:
                                err = f"{(c - t) / t:+.0%}" if t else "extra"
                                cells.append(f"{cls} {d} {c}/{t} ({err})")
                            if cls != "person":
                                off += abs(c - t)
                                total += t
                    ms = 1000 * result.cpu_s / max(result.analysed, 1)
                    print(
                        f"| {clip} | {model} | {regions} | {fps:g} | {'; '.join(cells)} | "
                        f"{off}/{total} | {ms:.0f} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
