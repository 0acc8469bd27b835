"""``ioc --help`` imports no heavy module: a behavioural check of the lazy imports (not a timing)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO

HEAVY = ("faust", "dash", "cv2", "onnxruntime", "onnx", "psycopg_pool", "kafka", "aiokafka", "paho", "numpy")

CODE = """
import runpy, sys
sys.argv = ["ioc", *sys.argv[1:]]
try:
    runpy.run_module("ioc", run_name="__main__")
except SystemExit:
    pass
print("LOADED:" + " ".join(sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})))
"""


def _loaded(*argv: str) -> tuple[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", CODE.format(heavy=set(HEAVY)), *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out, _, loaded = done.stdout.rpartition("LOADED:")
    return out, loaded.strip()


def test_ioc_help_loads_no_heavy_module() -> None:
    out, loaded = _loaded("--help")
    assert "bench" in out and "ingest" in out
    assert loaded == ""


def test_a_verb_help_loads_no_heavy_module_and_shows_one_language() -> None:
    out, loaded = _loaded("bench", "vision", "--help", "--lang", "en")
    assert loaded == ""
    assert "--quick" in out and "--readings" not in out  # only its own options
    assert "<bool>" not in out
    assert "giây" not in out  # English only


def test_the_reports_help_loads_no_heavy_module_and_shows_one_language() -> None:
    out, loaded = _loaded("reports", "add", "--help", "--lang", "en")
    assert loaded == ""
    assert "--phone" in out and "caller" in out and "người gọi" not in out
