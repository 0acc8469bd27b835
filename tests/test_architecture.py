"""The allowed arrows of docs/ARCHITECTURE.md, enforced: the import-linter contracts in pyproject.toml.

import-linter (not a home-made walk over ``ast``) reads every import, including those inside functions and
under ``TYPE_CHECKING``, and reports a broken arrow with the chain that breaks it; running it here makes
``make test`` fail on an arrow that points the wrong way or on an import loop.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _config() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]


def test_the_import_contracts_hold() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(no_cache=True, no_logo=True))",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_core_contract_names_every_core_module() -> None:
    """A new module in ``ioc/`` is core unless it is under ``ioc/app``: it must be named in the core contract.
    """
    core = next(c for c in _config()["contracts"] if c["id"] == "core")
    children = {
        f"ioc.{p.stem if p.is_file() else p.name}"
        for p in (ROOT / "ioc").iterdir()
        if (p.suffix == ".py" or (p / "__init__.py").exists())
        and p.name not in ("__init__.py", "__main__.py", "app")
    }
    assert children == set(core["source_modules"])
