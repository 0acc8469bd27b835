"""``ioc config validate``: exit codes and file:line output, in Vietnamese and English."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ioc.app.cli.config import MESSAGES, app
from ioc.config import env_references, load_site

SAMPLE = Path(__file__).resolve().parents[2] / "configs" / "muong-cha"
runner = CliRunner()


@pytest.fixture
def broken_site(tmp_path: Path) -> Path:
    target = tmp_path / "muong-cha"
    shutil.copytree(SAMPLE, target)
    stations = target / "stations.yaml"
    text = stations.read_text(encoding="utf-8")
    stations.write_text(
        text.replace("{I: 1.5, II: 2.3, III: 3.0}", "{I: 1.5, II: 1.2, III: 3.0}"), encoding="utf-8"
    )
    return target


@pytest.mark.parametrize(("lang", "word"), [("vi", "trạm quan trắc lũ"), ("en", "flood stations")])
def test_sample_is_valid(lang: str, word: str) -> None:
    result = runner.invoke(app, ["validate", str(SAMPLE), "--lang", lang])
    assert result.exit_code == 0, result.output
    assert word in result.output
    assert "4 camera" in result.output


@pytest.mark.parametrize(("lang", "word"), [("vi", "lỗi cấu hình"), ("en", "config issue")])
def test_broken_copy_exits_1_with_file_and_line(broken_site: Path, lang: str, word: str) -> None:
    result = runner.invoke(app, ["validate", str(broken_site), "--lang", lang])
    assert result.exit_code == 1
    match = re.search(r"(\S+stations\.yaml):(\d+): flood_stations\[3\]\.alarm_levels\.II: ", result.output)
    assert match, result.output
    line = int(match.group(2))
    assert "II: 1.2" in (broken_site / "stations.yaml").read_text(encoding="utf-8").splitlines()[line - 1]
    assert word in result.output


def test_path_defaults_to_ioc_site(monkeypatch: pytest.MonkeyPatch, broken_site: Path) -> None:
    monkeypatch.setenv("IOC_SITE", str(broken_site))
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 1
    assert "stations.yaml:" in result.output


def test_check_env_reports_unset_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for _, name in env_references(load_site(SAMPLE)):
        monkeypatch.setenv(name, "x")
    assert runner.invoke(app, ["validate", str(SAMPLE), "--check-env"]).exit_code == 0
    monkeypatch.delenv("IOC_ZALO_REFRESH_TOKEN")
    result = runner.invoke(app, ["validate", str(SAMPLE), "--check-env"])
    assert result.exit_code == 1
    assert re.search(
        r"channels\.yaml:\d+: channels\[0\]\.refresh_token_env: .*IOC_ZALO_REFRESH_TOKEN", result.output
    )


def test_unknown_language_is_refused() -> None:
    assert runner.invoke(app, ["validate", str(SAMPLE), "--lang", "fr"]).exit_code != 0


def test_every_message_has_both_languages() -> None:
    for key, texts in MESSAGES.items():
        assert set(texts) == {"vi", "en"}, key


def test_ioc_config_validate_checks_the_alert_sources_sections(tmp_path: Path) -> None:
    """Regression: the core config cannot import analytics, so `ioc config validate` let a bad value in an alert
    source's own section (sources.rain_gauge) pass unless the app registered the sources first. A fresh process,
    so no other test has imported them."""
    target = tmp_path / "muong-cha"
    shutil.copytree(SAMPLE, target)
    sources = target / "sources.yaml"
    sources.write_text(sources.read_text(encoding="utf-8").replace("lat: 21.7611", "lat: 31.7611"), encoding="utf-8")
    line = next(n for n, text in enumerate(sources.read_text(encoding="utf-8").splitlines(), 1) if "31.7611" in text)
    repo = SAMPLE.parents[1]
    env = {**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run([sys.executable, "-m", "ioc", "config", "validate", str(target), "--lang", "en"],
                            capture_output=True, text=True, env=env, cwd=repo, timeout=120, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{sources}:{line}: sources.rain_gauge.stations[0].lat: " in result.stdout + result.stderr
