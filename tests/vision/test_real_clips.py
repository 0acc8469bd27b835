"""Counting real footage with the shipped defaults (YOLOX-Nano, motion regions, 5 analysed fps), against the
hand
counts in ``tests/data/real_clip_counts.yaml`` (counted from frame sheets and slit-scans before any tuning).

The bounds say what was measured (``docs/ACCURACY.md`` has the full table and what limits it): the aim is
motorbikes and cars within 10 % per direction; where the aim is not met the test holds the measured figure
with
a margin, and says so. ``ioc vision count`` is run as a user would, as a subprocess, and its JSON checked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from analytics.vision import count as counting
from ioc import models
from ioc.settings import Settings

REPO = Path(__file__).resolve().parents[2]
VIDEO_DIR = REPO.parent / "shared" / "data" / "video"
STORE = models.ModelStore.of(Settings.from_env(os.environ))  # the shared cache the environment names
COUNTS = yaml.safe_load((REPO / "tests" / "data" / "real_clip_counts.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module", autouse=True)
def model() -> Path:
    return models.prepare(STORE, "yolox-nano").onnx_path


def clip(name: str) -> str:
    path = VIDEO_DIR / name
    assert path.exists(), f"{path} is missing; the real clips live in <repo>/../shared/data/video"
    return str(path)


def count(name: str, **options: object) -> dict[str, dict[str, int]]:
    (a, b) = COUNTS[name]["line"]
    result = counting.count_video(
        clip(name),
        counting.CountOptions(lines=[(tuple(a), tuple(b))], models=STORE, **options),  # type: ignore[arg-type]
    )
    print(f"\n{name} {options}: {result.lines[0].counts} (hand: {COUNTS[name]['totals']})")
    return result.lines[0].counts


def n(counts: dict[str, dict[str, int]], cls: str, direction: str) -> int:
    return counts.get(cls, {}).get(direction, 0)


def within(counted: int, truth: int, share: float) -> bool:
    return abs(counted - truth) <= max(1, round(share * truth))


def test_junction_motorbikes_are_counted_as_motorbikes_not_riders() -> None:
    """degirum_Traffic2: 30 motorbikes and 10 cars (3 pickups) going up. Measured 28 and 9: within 10 %.
    Regression for 3-10 % of motorbikes counted (riders found as person, the bikes mostly not)."""
    counted = count("degirum_Traffic2.mp4")
    truth = COUNTS["degirum_Traffic2.mp4"]["totals"]
    assert within(n(counted, "motorcycle", "up"), truth["motorcycle"]["up"], 0.10)
    assert within(n(counted, "car", "up"), truth["car"]["up"], 0.10)
    assert n(counted, "person", "up") + n(counted, "person", "down") == 0  # riders are never pedestrians
    assert sum(n(counted, c, "down") for c in counted) <= 1
    assert n(counted, "truck", "up") + n(counted, "bus", "up") <= 1  # pickups count as cars


def test_motorway_cars_within_ten_percent() -> None:
    """degirum_Traffic: 11 cars coming down. Measured 10."""
    counted = count("degirum_Traffic.mp4")
    assert within(n(counted, "car", "down"), 11, 0.10)
    assert sum(n(counted, c, "up") for c in counted) == 0


def test_dual_carriageway_vehicles() -> None:
    """bgslib (320x240): 21 cars, a lorry and a cyclist going up. Measured 23 'cars' (the lorry and a van
    counted as cars, one car twice), no lorry, no cyclist: all vehicles within 10 %, the classes not."""
    counted = count("bgslib_dataset_video02.avi")
    vehicles = sum(n(counted, c, "up") for c in ("car", "truck", "bus", "motorcycle", "bicycle"))
    assert within(vehicles, 23, 0.10)
    assert n(counted, "car", "up") <= 24
    assert sum(n(counted, c, "down") for c in counted) <= 1


def test_overhead_parking_lane_is_beyond_the_model() -> None:
    """intel_car-detection: 4 cars seen from straight above, a view COCO barely has: YOLOX-Nano finds at most
    one of them (measured 1 at 5 fps with motion regions, 0 on the full frame). Held so a change is seen."""
    counted = count("intel_car-detection.mp4")
    assert sum(n(counted, c, d) for c in counted for d in ("up", "down")) <= 4


def test_vision_count_prints_exactly_one_json_object() -> None:
    (a, b) = COUNTS["degirum_Traffic.mp4"]["line"]
    line = ",".join(str(v) for v in (*a, *b))
    result = subprocess.run(
        [sys.executable, "-m", "ioc", "vision", "count", clip("degirum_Traffic.mp4"), "--line", line,
         "--line", "480,100,480,500", "--sample-fps", "2", "--regions", "full", "--json"],
        capture_output=True, text=True, timeout=300, check=False, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"source", "frames", "analysed", "cpu_s", "model", "lines"}
    assert data["frames"] == 335 and 20 <= data["analysed"] <= 24  # 11.2 s at 2 fps, evenly in video time
    assert data["model"] == "yolox-nano" and data["cpu_s"] > 0
    first, second = data["lines"]
    assert first["id"] == "line1" and first["points"] == [[float(v) for v in a], [float(v) for v in b]]
    assert second["id"] == "line2"
    for counts, keys in ((first["counts"], {"up", "down"}), (second["counts"], {"left", "right"})):
        for per_direction in counts.values():
            assert set(per_direction) == keys and all(isinstance(v, int) for v in per_direction.values())
    assert first["counts"]["car"]["down"] >= 7


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["/nonexistent/clip.mp4", "--line", "0,0,10,10"], "no such video file"),
        (["{clip}", "--line", "0,260,2000,260"], "outside the 960x540 frame"),
        (["{clip}", "--line", "0,260,100"], "four numbers"),
        (
            ["{clip}", "--line", "0,260,900,260", "--model", "/nonexistent/model.onnx"],
            "neither a known model",
        ),
        (["{clip}", "--line", "0,260,900,260", "--regions", "everywhere"], "full, tiles, motion"),
        (["{clip}"], "--line"),
    ],
    ids=["missing-video", "line-outside", "bad-line", "bad-model", "bad-regions", "no-line"],
)
def test_vision_count_refuses_bad_input_with_exit_code_2_and_one_line(args: list[str], says: str) -> None:
    args = [a.replace("{clip}", clip("degirum_Traffic.mp4")) for a in args]
    result = subprocess.run(
        [sys.executable, "-m", "ioc", "vision", "count", *args, "--json", "--lang", "en"],
        capture_output=True, text=True, timeout=120, check=False, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and says in lines[0], result.stderr


def test_vision_count_reads_a_stream_for_the_given_seconds() -> None:
    """A camera_sim MJPEG stream over HTTP on loopback, read like an IP camera, counted for 3 s at 2 fps."""
    from camera_sim.scene import road_scene
    from camera_sim.server import serve

    spec = road_scene(seed=5, duration_s=30).model_copy(update={"width": 640, "height": 360})
    with serve(spec) as server:
        base = [sys.executable, "-m", "ioc", "vision", "count", server.url, "--line", "0,200,640,200"]
        unbounded = subprocess.run([*base, "--lang", "en"], capture_output=True, text=True, timeout=60, cwd=REPO)
        assert unbounded.returncode == 2 and "--seconds" in unbounded.stderr
        result = subprocess.run(
            [*base, "--seconds", "3", "--sample-fps", "2", "--regions", "full", "--json"],
            capture_output=True, text=True, timeout=120, check=False, cwd=REPO,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["source"] == server.url and 5 <= data["analysed"] <= 7
    assert 20 <= data["frames"] <= 40  # 10 fps for 3 s


def test_a_broken_video_file_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(500))
    result = subprocess.run(
        [sys.executable, "-m", "ioc", "vision", "count", str(broken), "--line", "0,1,2,1", "--lang", "en"],
        capture_output=True, text=True, timeout=120, check=False, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 2
    assert "cannot open" in result.stderr or "gave no frame" in result.stderr, result.stderr


def test_annotated_video_and_contact_sheet_are_written(tmp_path: Path) -> None:
    import cv2

    (a, b) = COUNTS["degirum_Traffic.mp4"]["line"]
    line = ",".join(str(v) for v in (*a, *b))
    out, sheet = tmp_path / "a.mp4", tmp_path / "s.png"
    result = subprocess.run(
        [sys.executable, "-m", "ioc", "vision", "count", clip("degirum_Traffic.mp4"), "--line", line,
         "--sample-fps", "2", "--regions", "full", "--annotate", str(out), "--sheet", str(sheet)],
        capture_output=True, text=True, timeout=300, check=False, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "ô tô" in result.stdout  # Vietnamese class names by default
    video = cv2.VideoCapture(str(out))
    assert video.isOpened() and int(video.get(cv2.CAP_PROP_FRAME_COUNT)) >= 20
    video.release()
    picture = cv2.imread(str(sheet))
    assert picture is not None and picture.shape[0] >= 160
