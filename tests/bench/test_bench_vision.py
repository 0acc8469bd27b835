"""``ioc bench vision --quick``: the command runs and its figures agree (timings are not checked)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ioc import models
from ioc.app.bench.vision import VisionBenchResult, VisionBenchSettings, run_vision_bench
from ioc.app.cli.main import app
from ioc.settings import Settings

SHARED = models.ModelStore.of(Settings.from_env(os.environ))  # the shared cache the environment names


@pytest.fixture(scope="module")
def quick_result(tmp_path_factory: pytest.TempPathFactory) -> VisionBenchResult:
    models.prepare(SHARED)  # the detector's model, from the shared cache
    cache = tmp_path_factory.mktemp("cache")
    (cache / "models").symlink_to(models.models_dir(SHARED.cache))
    return run_vision_bench(models.ModelStore(cache), VisionBenchSettings.choose(quick=True), lang="en")


def test_decode_counts_every_frame(quick_result: VisionBenchResult) -> None:
    s = quick_result.settings
    frames = round(s.clip_s * s.source_fps)
    assert [d.frames for d in quick_result.decode] == [frames, frames]
    assert quick_result.substream.frames == frames
    assert (quick_result.substream.width, quick_result.substream.height) == (s.width // 2, s.height // 2)
    assert all(d.fps_per_core > 0 for d in [*quick_result.decode, quick_result.substream])


def test_pipeline_samples_at_the_sample_rate_and_accounts_for_every_sample(
    quick_result: VisionBenchResult,
) -> None:
    s = quick_result.settings
    assert [(p.clip, p.skip, p.regions) for p in quick_result.pipeline] == [
        ("busy road (day)", "off", "full"),
        ("quiet road (night)", "off", "full"),
        ("quiet road (night)", "on", "full"),
        ("quiet road (night)", "masked", "full"),
        ("busy road (day)", "off", "motion"),
        ("busy road (day)", "off", "tiles"),
    ]
    for p in quick_result.pipeline:
        assert p.frames == round(s.clip_s * s.source_fps)
        assert p.sampled == round(s.clip_s * s.sample_fps)
        assert p.analysed + p.skipped == p.sampled
        assert p.analysed >= 1 and p.analysis_ms > 0
        ingest, analysis = p.camera_cost(s.sample_fps)
        assert ingest > 0 and analysis > 0
        assert p.cpu_s == pytest.approx(p.decode_s + p.signature_s + p.analysis_s)
    assert quick_result.pipeline[0].skipped == 0 and quick_result.pipeline[1].skipped == 0


def test_estimate_follows_the_measured_cost(quick_result: VisionBenchResult) -> None:
    s = quick_result.settings
    worst = quick_result.worst
    ingest, analysis = worst.camera_cost(s.sample_fps)
    assert quick_result.estimate(worst) == int(s.cores // (ingest + analysis))
    assert quick_result.estimate(worst, headroom=0.2) <= quick_result.estimate(worst)


def test_trial_runs_the_requested_cameras(quick_result: VisionBenchResult) -> None:
    (trial,) = quick_result.trials
    assert trial.cameras == 2 and len(trial.per_camera) == 2
    assert all(c.read_fps > 0 and c.analysed_fps > 0 for c in trial.per_camera)
    assert trial.cpu_share > 0
    if trial.with_headroom(quick_result.settings.source_fps, quick_result.settings.sample_fps):
        assert quick_result.max_with_headroom == 2


def test_cli_prints_both_languages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models.prepare(SHARED)
    (tmp_path / "models").symlink_to(models.models_dir(SHARED.cache))
    monkeypatch.setenv("IOC_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    en = runner.invoke(app, ["bench", "vision", "--quick", "--seconds", "1", "--lang", "en"])
    assert en.exit_code == 0, en.output
    assert "Decode only" in en.output and "cameras at once" in en.output
    vi = runner.invoke(app, ["bench", "vision", "--quick", "--seconds", "1", "--lang", "vi"])
    assert vi.exit_code == 0, vi.output
    assert "Chỉ giải mã" in vi.output and "Kiểm chứng" in vi.output
