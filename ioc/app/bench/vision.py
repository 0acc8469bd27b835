"""``ioc bench vision``: what camera analytics costs on this machine's CPU and how many cameras it carries.

Three measurements, in the same run on the same machine, on clips rendered by ``camera_sim`` (cached):

1. **Decode only** (the raw limit): a 1280x720 MP4 read with ``cv2.VideoCapture`` as fast as possible,
   OpenCV and FFmpeg held to one thread, so frames per CPU second are frames per second per core. A
   640x360 clip of the same scene stands for a camera's substream.
2. **Full pipeline**: every frame decoded and given its health signature (as the capture loop does, so
   the stream never lags and freezes are seen), and the frames sampled at 2 per second of video
   analysed: the default model (YOLOX-Nano, ONNX at 416) on one intra-op thread on the camera's regions
   (the whole frame by default; the busy road also with motion regions and tiles), the tracker, the counting
   line and the zone. Once on a busy day road without still-frame skipping, and on a quiet night road with and
   without it. Costs are CPU time of the measuring thread, so other load on the machine slows the
   clock but not the figures.
3. **Cameras on this machine**: the per-camera cost (``source_fps x (decode + signature) + 2 x
   analysis`` CPU seconds per second) gives an estimate; then N real ``CameraWorker`` threads read the
   busy clip paced like live cameras for ``seconds`` per trial. A count is *sustained* when every camera
   reads at source rate without falling behind and analyses about 2 frames per second; it *fits with
   headroom* when the process also uses at most 80 % of the cores.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

from analytics.vision.detectors.onnx import OnnxDetector
from analytics.vision.pipeline import CameraAnalytics
from analytics.vision.regions import RegionDetector, settings_for
from analytics.vision.types import Detector, Frame
from camera_sim.scene import SceneSpec, road_scene
from camera_sim.truth import truth_path_for
from camera_sim.video import write_mp4
from ingest.camera import CameraWorker, CaptureSettings
from ingest.camera_health import HealthMonitor, StillFrameFilter, signature
from ioc import i18n, models
from ioc.config.models import Camera, DetectorConfig, FrameSize
from ioc.errors import ServiceError
from ioc.events import CameraStatus, Event, LineCrossing

logger = logging.getLogger(__name__)

i18n.register(
    {
        "bench.vision.progress.clip": (
            "Đang dựng đoạn phim {name} ({frames} khung hình) ...",
            "Rendering clip {name} ({frames} frames) ...",
        ),
        "bench.vision.progress.model": (
            "Đang chuẩn bị mô hình nhận dạng mặc định ...",
            "Preparing the default detection model ...",
        ),
        "bench.vision.progress.decode": ("Đo giải mã: {name} ...", "Measuring decode: {name} ..."),
        "bench.vision.progress.pipeline": ("Đo đường ống: {name} ...", "Measuring the pipeline: {name} ..."),
        "bench.vision.progress.trial": (
            "Chạy thử {n} camera đồng thời trong {seconds:.0f} giây ...",
            "Running {n} cameras at once for {seconds:.0f} s ...",
        ),
        "bench.vision.decode.title": (
            "Chỉ giải mã (1 luồng, cv2.VideoCapture)",
            "Decode only (1 thread, cv2.VideoCapture)",
        ),
        "bench.vision.clip": ("Đoạn phim", "Clip"),
        "bench.vision.frames": ("khung hình", "frames"),
        "bench.vision.fps_core": ("khung hình/giây/lõi", "frames/s per core"),
        "bench.vision.ms_frame": ("ms/khung hình", "ms/frame"),
        "bench.vision.pipeline.title": (
            "Toàn bộ đường ống: giải mã + chữ ký mọi khung hình, phân tích {sample:g} khung hình/giây",
            "Full pipeline: decode + signature of every frame, analysis at {sample:g} frames/s",
        ),
        "bench.vision.case": ("Trường hợp", "Case"),
        "bench.vision.decode_ms": ("giải mã ms", "decode ms"),
        "bench.vision.sig_ms": ("chữ ký ms", "signature ms"),
        "bench.vision.analysis_ms": ("phân tích ms/khung", "analysis ms/frame"),
        "bench.vision.analysed": ("phân tích / bỏ qua", "analysed / skipped"),
        "bench.vision.pipe_fps": ("khung hình/giây/lõi", "frames/s per core"),
        "bench.vision.vs_decode": ("so với chỉ giải mã", "vs decode only"),
        "bench.vision.cpu_camera": ("CPU mỗi camera", "CPU per camera"),
        "bench.vision.estimate.title": (
            "Ước tính số camera ở {sample:g} khung hình/giây trên {cores} lõi",
            "Estimated cameras at {sample:g} frames/s on {cores} cores",
        ),
        "bench.vision.per_camera": (
            "CPU mỗi camera (giải mã / phân tích)",
            "CPU per camera (decode / analysis)",
        ),
        "bench.vision.fit": ("vừa (không dự phòng)", "fit (no headroom)"),
        "bench.vision.fit_headroom": ("vừa (dự phòng 20 %)", "fit (20 % headroom)"),
        "bench.vision.trials.title": (
            "Kiểm chứng: N camera chạy đồng thời, mỗi camera đọc theo thời gian thực",
            "Verified: N cameras at once, each read in real time",
        ),
        "bench.vision.cameras": ("N camera", "N cameras"),
        "bench.vision.read_fps": ("đọc (khung/giây, thấp nhất)", "read (frames/s, lowest)"),
        "bench.vision.analysed_fps": ("phân tích (khung/giây, thấp nhất)", "analysed (frames/s, lowest)"),
        "bench.vision.lag": ("trễ thêm (giây, lớn nhất)", "lag added (s, worst)"),
        "bench.vision.cpu_use": ("CPU dùng", "CPU used"),
        "bench.vision.cpu_others": ("CPU tiến trình khác", "CPU of other processes"),
        "bench.vision.verdict": ("Kết quả", "Result"),
        "bench.vision.ok_headroom": ("giữ được, còn dự phòng", "sustained, with headroom"),
        "bench.vision.ok_tight": ("giữ được, không dự phòng", "sustained, no headroom"),
        "bench.vision.behind": ("bị tụt lại", "falls behind"),
        "bench.vision.row.busy": ("đường đông (ngày)", "busy road (day)"),
        "bench.vision.row.quiet": ("đường vắng (đêm)", "quiet road (night)"),
        "bench.vision.row.sub": ("luồng phụ", "substream"),
        "bench.vision.row.off": ("không bỏ khung tĩnh", "no still skip"),
        "bench.vision.row.on": ("bỏ khung tĩnh", "still skip"),
        "bench.vision.row.masked": ("bỏ khung tĩnh, che dải dấu giờ", "still skip, stamp strip masked"),
        "bench.vision.row.regions": ("vùng nhận dạng: {mode}", "regions: {mode}"),
        "bench.vision.crossings": ("lượt qua vạch", "line crossings"),
        "bench.vision.target_untested": (
            "Mục tiêu ≥ {target} camera: chưa kiểm chứng (lần chạy này thử tối đa {tried} camera).",
            "Target ≥ {target} cameras: not verified (this run tried at most {tried} cameras).",
        ),
        "bench.vision.measured": (
            "Đo được: tối đa {sustained} camera giữ được {sample:g} khung hình/giây; "
            "{headroom} camera còn dự phòng 20 %.",
            "Measured: at most {sustained} cameras sustain {sample:g} frames/s; "
            "{headroom} with 20 % headroom.",
        ),
        "bench.vision.target_met": (
            "Mục tiêu ≥ {target} camera có dự phòng: ĐẠT.",
            "Target ≥ {target} cameras with headroom: MET.",
        ),
        "bench.vision.target_missed": (
            "Mục tiêu ≥ {target} camera có dự phòng: CHƯA ĐẠT.",
            "Target ≥ {target} cameras with headroom: NOT MET.",
        ),
        "bench.vision.bound": (
            "Giới hạn chính: {what} ({share:.0%} CPU của một camera).",
            "What bounds it: {what} ({share:.0%} of a camera's CPU).",
        ),
        "bench.vision.bound.analysis": (
            "phân tích (bộ phát hiện YOLOX-Nano)",
            "analysis (the YOLOX-Nano detector)",
        ),
        "bench.vision.bound.decode": ("giải mã + chữ ký mọi khung hình", "decode + signature of every frame"),
        "bench.vision.load": (
            "Tải hệ thống (1 phút) lúc bắt đầu / kết thúc: {start:.2f} / {end:.2f}",
            "System load (1 min) at start / end: {start:.2f} / {end:.2f}",
        ),
    }
)

TARGET_CAMERAS = 12
HEADROOM = 0.2
SUSTAIN_READ = 0.97  # of the source rate
SUSTAIN_ANALYSED = 0.9  # of the sample rate
SUSTAIN_LAG_S = 0.5  # lag a camera may add over a trial
MAX_TRIALS = 5

Report = Callable[[str], None]


def _quiet(message: str) -> None:
    return None


@dataclass(frozen=True)
class VisionBenchSettings:
    """What one run measures; ``quick`` shrinks everything to a smoke test."""

    seconds: float = 20.0
    cameras: int = 0  # 0: search around the estimate
    source_fps: float = 25.0
    sample_fps: float = 2.0
    clip_s: float = 60.0
    width: int = 1280
    height: int = 720
    warmup_s: float = 3.0
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)

    @classmethod
    def choose(
        cls,
        *,
        quick: bool = False,
        seconds: float | None = None,
        cameras: int = 0,
        source_fps: float | None = None,
    ) -> VisionBenchSettings:
        """Return the full settings (or tiny ones with ``quick``), with the options that were given."""
        base = (
            cls(seconds=2.0, cameras=2, source_fps=10.0, clip_s=4.0, width=320, height=240, warmup_s=0.5)
            if quick
            else cls()
        )
        return replace(
            base,
            seconds=base.seconds if seconds is None else seconds,
            cameras=cameras or base.cameras,
            source_fps=base.source_fps if source_fps is None else source_fps,
        )


@dataclass(frozen=True)
class DecodeFigures:
    """Decode-only figures of one clip."""

    label: str
    width: int
    height: int
    frames: int
    cpu_s: float

    @property
    def fps_per_core(self) -> float:
        """Frames decoded per CPU second."""
        return self.frames / self.cpu_s

    @property
    def ms_per_frame(self) -> float:
        """CPU milliseconds per decoded frame."""
        return 1000 * self.cpu_s / self.frames


@dataclass(frozen=True)
class PipelineFigures:
    """Full-pipeline figures of one clip: decode and signature of every frame, analysis of sampled ones."""

    clip: str
    label: str
    skip: str  # off | on | masked
    source_fps: float
    frames: int
    sampled: int
    analysed: int
    skipped: int
    decode_s: float
    signature_s: float
    analysis_s: float
    crossings: int
    regions: str = "full"  # where the detector looked: full | tiles | motion

    @property
    def cpu_s(self) -> float:
        """CPU seconds of the whole pipeline."""
        return self.decode_s + self.signature_s + self.analysis_s

    @property
    def fps_per_core(self) -> float:
        """Source frames carried through the pipeline per CPU second."""
        return self.frames / self.cpu_s

    @property
    def skipped_share(self) -> float:
        """Share of sampled frames not analysed: nothing moved, or the picture was frozen or black."""
        return self.skipped / self.sampled if self.sampled else 0.0

    def per_frame_ms(self) -> tuple[float, float]:
        """CPU milliseconds of decode and of signature, per source frame."""
        return 1000 * self.decode_s / self.frames, 1000 * self.signature_s / self.frames

    @property
    def analysis_ms(self) -> float:
        """CPU milliseconds per analysed frame (detector + tracker + counters)."""
        return 1000 * self.analysis_s / self.analysed if self.analysed else 0.0

    def camera_cost(self, sample_fps: float) -> tuple[float, float]:
        """CPU seconds per second of one camera: (decode + signature of every frame, analysis)."""
        decode_ms, sig_ms = self.per_frame_ms()
        ingest = self.source_fps * (decode_ms + sig_ms) / 1000
        analysis = sample_fps * (1 - self.skipped_share) * self.analysis_ms / 1000
        return ingest, analysis


@dataclass(frozen=True)
class CameraFigures:
    """What one camera of a trial did over the measured window."""

    camera_id: str
    read_fps: float
    analysed_fps: float
    lag_added_s: float


@dataclass(frozen=True)
class FleetTrial:
    """N cameras run at once for a while."""

    cameras: int
    seconds: float
    cpu_share: float  # process CPU over (wall x cores)
    others_share: float  # CPU of every other process on the machine, same scale (NaN where unknown)
    per_camera: list[CameraFigures]

    @property
    def min_read_fps(self) -> float:
        """Slowest camera's read rate."""
        return min(c.read_fps for c in self.per_camera)

    @property
    def min_analysed_fps(self) -> float:
        """Slowest camera's analysis rate."""
        return min(c.analysed_fps for c in self.per_camera)

    @property
    def max_lag_s(self) -> float:
        """Most lag any camera added during the window."""
        return max(c.lag_added_s for c in self.per_camera)

    def sustained(self, source_fps: float, sample_fps: float) -> bool:
        """True when every camera kept up with its source and analysed about ``sample_fps``."""
        return (
            self.min_read_fps >= SUSTAIN_READ * source_fps
            and self.min_analysed_fps >= SUSTAIN_ANALYSED * sample_fps
            and self.max_lag_s <= SUSTAIN_LAG_S
        )

    def with_headroom(self, source_fps: float, sample_fps: float) -> bool:
        """Sustained while using at most 80 % of the cores."""
        return self.sustained(source_fps, sample_fps) and self.cpu_share <= 1 - HEADROOM


@dataclass(frozen=True)
class VisionBenchResult:
    """Figures of one run."""

    settings: VisionBenchSettings
    decode: list[DecodeFigures]
    pipeline: list[PipelineFigures]
    substream: DecodeFigures
    trials: list[FleetTrial]
    load_start: float
    load_end: float

    @property
    def worst(self) -> PipelineFigures:
        """The busy road without skipping: the case the capacity is planned for."""
        return self.pipeline[0]

    def estimate(self, case: PipelineFigures, decode_ms: float | None = None, headroom: float = 0.0) -> int:
        """Cameras that fit the cores by the measured costs (``decode_ms`` replaces the case's decode)."""
        ingest, analysis = case.camera_cost(self.settings.sample_fps)
        if decode_ms is not None:
            ingest = self.settings.source_fps * (decode_ms + case.per_frame_ms()[1]) / 1000
        return math.floor(self.settings.cores * (1 - headroom) / (ingest + analysis))

    @property
    def max_sustained(self) -> int:
        """Most cameras any trial sustained (0 if none did)."""
        s = self.settings
        return max((t.cameras for t in self.trials if t.sustained(s.source_fps, s.sample_fps)), default=0)

    @property
    def max_with_headroom(self) -> int:
        """Most cameras any trial sustained with 20 % of the cores to spare."""
        s = self.settings
        return max((t.cameras for t in self.trials if t.with_headroom(s.source_fps, s.sample_fps)), default=0)

    def print(self, console: Console, lang: str) -> None:
        """Print the figures as tables, then the verdict."""
        t = i18n.t
        s = self.settings
        out = Console()
        dec = Table(title=t("bench.vision.decode.title", lang))
        for col in (
            "bench.vision.clip",
            "bench.vision.frames",
            "bench.vision.fps_core",
            "bench.vision.ms_frame",
        ):
            dec.add_column(t(col, lang), justify="left" if col.endswith("clip") else "right")
        for d in [*self.decode, self.substream]:
            dec.add_row(
                f"{d.label} {d.width}x{d.height}",
                f"{d.frames:,}",
                f"{d.fps_per_core:,.0f}",
                f"{d.ms_per_frame:.2f}",
            )
        out.print(dec)

        pipe = Table(title=t("bench.vision.pipeline.title", lang, sample=s.sample_fps))
        for col in (
            "case",
            "decode_ms",
            "sig_ms",
            "analysis_ms",
            "analysed",
            "crossings",
            "pipe_fps",
            "vs_decode",
            "cpu_camera",
        ):
            pipe.add_column(t(f"bench.vision.{col}", lang), justify="left" if col == "case" else "right")
        decode_fps = {d.label: d.fps_per_core for d in self.decode}
        for p in self.pipeline:
            decode_ms, sig_ms = p.per_frame_ms()
            ingest, analysis = p.camera_cost(s.sample_fps)
            pipe.add_row(
                p.label,
                f"{decode_ms:.2f}",
                f"{sig_ms:.2f}",
                f"{p.analysis_ms:.1f}",
                f"{p.analysed} / {p.skipped} ({p.skipped_share:.0%})",
                str(p.crossings),
                f"{p.fps_per_core:,.0f}",
                f"{p.fps_per_core / decode_fps[p.clip]:.0%}",
                f"{ingest + analysis:.1%}",
            )
        out.print(pipe)

        est = Table(title=t("bench.vision.estimate.title", lang, sample=s.sample_fps, cores=s.cores))
        for col in ("case", "per_camera", "fit", "fit_headroom"):
            est.add_column(t(f"bench.vision.{col}", lang), justify="left" if col == "case" else "right")
        for p in self.pipeline:
            ingest, analysis = p.camera_cost(s.sample_fps)
            est.add_row(
                p.label,
                f"{ingest + analysis:.1%} ({ingest:.1%} / {analysis:.1%})",
                str(self.estimate(p)),
                str(self.estimate(p, headroom=HEADROOM)),
            )
        sub_ms = self.substream.ms_per_frame
        ingest, analysis = self.worst.camera_cost(s.sample_fps)
        sub_ingest = s.source_fps * (sub_ms + self.worst.per_frame_ms()[1]) / 1000
        est.add_row(
            f"{self.worst.label}, {t('bench.vision.row.sub', lang)} "
            f"{self.substream.width}x{self.substream.height}",
            f"{sub_ingest + analysis:.1%} ({sub_ingest:.1%} / {analysis:.1%})",
            str(self.estimate(self.worst, sub_ms)),
            str(self.estimate(self.worst, sub_ms, HEADROOM)),
        )
        out.print(est)

        trials = Table(title=t("bench.vision.trials.title", lang))
        for col in ("cameras", "read_fps", "analysed_fps", "lag", "cpu_use", "cpu_others", "verdict"):
            trials.add_column(t(f"bench.vision.{col}", lang), justify="right")
        for tr in sorted(self.trials, key=lambda x: x.cameras):
            verdict = (
                "ok_headroom"
                if tr.with_headroom(s.source_fps, s.sample_fps)
                else "ok_tight"
                if tr.sustained(s.source_fps, s.sample_fps)
                else "behind"
            )
            trials.add_row(
                str(tr.cameras),
                f"{tr.min_read_fps:.1f}",
                f"{tr.min_analysed_fps:.2f}",
                f"{tr.max_lag_s:.2f}",
                f"{tr.cpu_share:.0%}",
                f"{tr.others_share:.0%}",
                t(f"bench.vision.{verdict}", lang),
            )
        out.print(trials)

        out.print(
            t(
                "bench.vision.measured",
                lang,
                sustained=self.max_sustained,
                sample=s.sample_fps,
                headroom=self.max_with_headroom,
            )
        )
        tried = max(tr.cameras for tr in self.trials)
        failed_at_or_below = any(
            tr.cameras <= TARGET_CAMERAS and not tr.with_headroom(s.source_fps, s.sample_fps)
            for tr in self.trials
        )
        if self.max_with_headroom >= TARGET_CAMERAS:
            verdict = "bench.vision.target_met"
        elif failed_at_or_below:
            verdict = "bench.vision.target_missed"
        else:
            verdict = "bench.vision.target_untested"
        out.print(t(verdict, lang, target=TARGET_CAMERAS, tried=tried))
        bound = "analysis" if analysis >= ingest else "decode"
        out.print(
            t(
                "bench.vision.bound",
                lang,
                what=t(f"bench.vision.bound.{bound}", lang),
                share=max(analysis, ingest) / (analysis + ingest),
            )
        )
        out.print(t("bench.vision.load", lang, start=self.load_start, end=self.load_end))


def clips_dir(cache: Path) -> Path:
    """Return where the benchmark's rendered clips are cached in the project's cache folder."""
    return cache / "bench" / "vision"


def ensure_clip(spec: SceneSpec, folder: Path, report: Report = _quiet, lang: str = "vi") -> Path:
    """Return the clip of ``spec`` in ``folder``, rendering it (atomically, with its truth) when missing."""
    size = f"{spec.width}x{spec.height}"
    key = f"{spec.name}-{spec.variant}-{size}-{spec.fps:g}fps-{spec.duration_s:g}s-s{spec.seed}"
    path = folder / f"{key}.mp4"
    if path.exists() and truth_path_for(path).exists():
        return path
    report(i18n.t("bench.vision.progress.clip", lang, name=path.name, frames=spec.n_frames))
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        part = Path(tmp) / path.name
        write_mp4(spec, part)
        os.replace(truth_path_for(part), truth_path_for(path))
        os.replace(part, path)
    return path


def _open(path: Path) -> cv2.VideoCapture:
    # One FFmpeg decoding thread, so CPU time per frame is the cost on one core.
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    if not cap.isOpened():
        raise ServiceError(f"OpenCV cannot open {path}; delete it so the benchmark renders it again")
    return cap


def measure_decode(path: Path, label: str) -> DecodeFigures:
    """Read every frame of a clip as fast as possible; return frames and CPU seconds."""
    cap = _open(path)
    frames = 0
    try:
        start = time.thread_time()
        while cap.read()[0]:
            frames += 1
        cpu = time.thread_time() - start
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()
    if not frames:
        raise ServiceError(f"no frame could be read from {path}; delete it so the benchmark renders it again")
    return DecodeFigures(label, width, height, frames, cpu)


def bench_camera(spec: SceneSpec, path: Path, model: Path, camera_id: str = "bench") -> Camera:
    """Return a camera config for a rendered clip: its lines and zones, the default detector."""
    return Camera(
        id=camera_id,
        name=camera_id,
        area_code="bench",
        lon=105.85,
        lat=21.03,
        source=f"file:{path}",
        sample_fps=2.0,
        frame_size=FrameSize(width=spec.width, height=spec.height),
        detector=DetectorConfig(name="onnx", model_path=str(model)),
        lines=spec.lines,
        zones=spec.zones,
    )


def measure_pipeline(
    path: Path,
    camera: Camera,
    detector: Detector,
    clip: str,
    label: str,
    *,
    source_fps: float,
    sample_fps: float,
    skip: str,
) -> PipelineFigures:
    """Decode and sign every frame, analyse one every ``1/sample_fps`` s of video; CPU time of each part."""
    analytics = CameraAnalytics(camera, fps=sample_fps)
    health = HealthMonitor(camera.id)
    still = StillFrameFilter()
    start_at = datetime(2026, 1, 1, tzinfo=UTC)
    period = 1.0 / sample_fps
    next_sample = 0.0
    frames = sampled = analysed = skipped = 0
    decode_s = signature_s = analysis_s = 0.0
    cap = _open(path)
    try:
        while True:
            t0 = time.thread_time()
            ok, raw = cap.read()
            t1 = time.thread_time()
            if not ok:
                break
            image = cast("npt.NDArray[np.uint8]", raw)
            video_t = frames / source_fps
            at = start_at + timedelta(seconds=video_t)
            frames += 1
            sig = signature(image)
            health.observe(at, sig)
            t2 = time.thread_time()
            decode_s += t1 - t0
            signature_s += t2 - t1
            if video_t + 1e-9 < next_sample:
                continue
            next_sample += period
            sampled += 1
            if health.status in (CameraStatus.FROZEN, CameraStatus.BLACK) or (
                skip != "off" and not still.should_analyse(sig[:-1] if skip == "masked" else sig)
            ):
                skipped += 1
                continue
            analytics.process(at, detector.detect(Frame(camera.id, frames, at, image)))
            analysed += 1
            analysis_s += time.thread_time() - t2
    finally:
        cap.release()
    events = analytics.flush(start_at + timedelta(seconds=frames / source_fps))
    crossings = sum(isinstance(e, LineCrossing) for e in events)
    return PipelineFigures(
        clip,
        label,
        skip,
        source_fps,
        frames,
        sampled,
        analysed,
        skipped,
        decode_s,
        signature_s,
        analysis_s,
        crossings,
        camera.detect.regions if camera.detector.name in ("onnx", "ultralytics") else "full",
    )


@dataclass
class _Analyser:
    """Detector, then tracker and counters: the ``FrameAnalyser`` each trial camera runs."""

    detector: Detector
    analytics: CameraAnalytics

    def analyse(self, frame: Frame) -> None:
        """Detect, track and count one sampled frame."""
        self.analytics.process(frame.at, self.detector.detect(frame))

    def flush(self, window_end: datetime, snapshot: str | None) -> list[Event]:
        """Return the interval's events (dropped by the benchmark)."""
        return self.analytics.flush(window_end)


def _drop(event: Event) -> None:
    return None


def run_fleet(cameras: list[Camera], model: Path, settings: VisionBenchSettings) -> FleetTrial:
    """Run one ``CameraWorker`` thread per camera, paced like live cameras; measure after a warm-up."""
    workers = [
        CameraWorker(
            CaptureSettings(
                camera_id=cam.id,
                source=cam.source,
                sample_fps=settings.sample_fps,
                summary_interval_s=10.0,
                skip_still=False,
                realtime_file=True,
                loop_file=True,
            ),
            _Analyser(
                # As the ingest worker runs it: the model on the regions the camera's config asks for.
                RegionDetector(OnnxDetector(model, cam.detector.confidence, threads=1), settings_for(cam)),
                CameraAnalytics(cam, fps=settings.sample_fps),
            ),
            _drop,
        )
        for cam in cameras
    ]
    stop = threading.Event()
    threads = [
        threading.Thread(target=w.run, args=(stop,), name=f"bench:{w.settings.camera_id}", daemon=True)
        for w in workers
    ]
    for th in threads:
        th.start()
    try:
        stop.wait(settings.warmup_s)
        before = [(w.counters.frames_read, w.counters.frames_analysed) for w in workers]
        wall0, cpu0, machine0 = time.monotonic(), time.process_time(), _machine_busy()
        stop.wait(settings.seconds)
        after = [(w.counters.frames_read, w.counters.frames_analysed) for w in workers]
        wall, cpu, machine1 = time.monotonic() - wall0, time.process_time() - cpu0, _machine_busy()
    finally:
        stop.set()
        for th in threads:
            th.join(30)
    per_camera = [
        CameraFigures(
            w.settings.camera_id,
            (a[0] - b[0]) / wall,
            (a[1] - b[1]) / wall,
            max(0.0, wall - (a[0] - b[0]) / settings.source_fps),
        )
        for w, b, a in zip(workers, before, after, strict=True)
    ]
    share = cpu / (wall * settings.cores)
    others = math.nan
    if machine0 and machine1:
        busy, total = machine1[0] - machine0[0], machine1[1] - machine0[1]
        others = max(0.0, busy / total - share) if total else math.nan
    return FleetTrial(len(cameras), wall, share, others, per_camera)


def _machine_busy() -> tuple[float, float] | None:
    """Return (busy, total) CPU jiffies of the whole machine from /proc/stat, or None off Linux."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    values = [float(v) for v in fields[:8]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def run_vision_bench(
    store: models.ModelStore,
    settings: VisionBenchSettings | None = None,
    report: Report = _quiet,
    lang: str = "vi",
) -> VisionBenchResult:
    """Run every measurement and return the figures; the model and the clips are kept in ``store``'s cache."""
    s = settings or VisionBenchSettings()
    load_start = os.getloadavg()[0]
    folder = clips_dir(store.cache)
    t = i18n.t
    report(t("bench.vision.progress.model", lang))
    model = models.prepare(store).onnx_path

    busy = road_scene(
        seed=31,
        duration_s=s.clip_s,
        width=s.width,
        height=s.height,
        fps=s.source_fps,
        name="bench-busy",
        per_minute=60.0,
    )
    quiet = road_scene(
        seed=32,
        duration_s=s.clip_s,
        width=s.width,
        height=s.height,
        fps=s.source_fps,
        name="bench-quiet",
        variant="night",
        per_minute=4.0,
    )
    sub = road_scene(
        seed=31,
        duration_s=s.clip_s,
        width=s.width // 2,
        height=s.height // 2,
        fps=s.source_fps,
        name="bench-busy",
        per_minute=60.0,
    )
    busy_path, quiet_path, sub_path = (ensure_clip(spec, folder, report, lang) for spec in (busy, quiet, sub))
    busy_label, quiet_label = t("bench.vision.row.busy", lang), t("bench.vision.row.quiet", lang)

    previous_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        decode = []
        for label, path in ((busy_label, busy_path), (quiet_label, quiet_path)):
            report(t("bench.vision.progress.decode", lang, name=label))
            decode.append(measure_decode(path, label))
        sub_label = t("bench.vision.row.sub", lang)
        report(t("bench.vision.progress.decode", lang, name=sub_label))
        substream = measure_decode(sub_path, sub_label)

        model_detector = OnnxDetector(model, 0.4, threads=1)
        pipeline = []
        # The simulator stamps the frame index in the bottom strip, as real cameras burn in a clock; "masked"
        # leaves the signature's bottom row out of the still decision to show what an OSD mask would save.
        # The first four rows use the camera default's regions (the whole frame); the last two compare the busy
        # road with motion regions and tiles, for the cost per analysed frame of each region mode.
        for spec, path, label, skip, mode in (
            (busy, busy_path, busy_label, "off", "full"),
            (quiet, quiet_path, quiet_label, "off", "full"),
            (quiet, quiet_path, quiet_label, "on", "full"),
            (quiet, quiet_path, quiet_label, "masked", "full"),
            (busy, busy_path, busy_label, "off", "motion"),
            (busy, busy_path, busy_label, "off", "tiles"),
        ):
            regions = t("bench.vision.row.regions", lang, mode=mode)
            name = f"{label}, {t(f'bench.vision.row.{skip}', lang)}, {regions}"
            report(t("bench.vision.progress.pipeline", lang, name=name))
            camera = bench_camera(spec, path, model)
            camera = camera.model_copy(update={"detect": camera.detect.model_copy(update={"regions": mode})})
            pipeline.append(
                measure_pipeline(
                    path,
                    camera,
                    RegionDetector(model_detector, settings_for(camera)),
                    label,
                    name,
                    source_fps=s.source_fps,
                    sample_fps=s.sample_fps,
                    skip=skip,
                )
            )

        trials: dict[int, FleetTrial] = {}

        def passed(n: int) -> bool:
            report(t("bench.vision.progress.trial", lang, n=n, seconds=s.seconds))
            cams = [bench_camera(busy, busy_path, model, f"bench-{i + 1}") for i in range(n)]
            trials[n] = run_fleet(cams, model, s)
            return trials[n].with_headroom(s.source_fps, s.sample_fps)

        if s.cameras:
            passed(s.cameras)
        else:
            ingest, analysis = pipeline[0].camera_cost(s.sample_fps)
            start = math.floor(s.cores * (1 - HEADROOM) / (ingest + analysis))
            # Walk up from the estimate while trials fit with headroom, or down while they do not.
            n = max(1, start)
            first = passed(n)
            while len(trials) < MAX_TRIALS:
                n += 1 if first else -1
                if n < 1 or n in trials or passed(n) != first:
                    break
            if TARGET_CAMERAS not in trials:
                passed(TARGET_CAMERAS)
    finally:
        cv2.setNumThreads(previous_threads)
    return VisionBenchResult(
        s, decode, pipeline, substream, list(trials.values()), load_start, os.getloadavg()[0]
    )
