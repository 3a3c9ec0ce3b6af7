"""The built wheel in a fresh virtual environment: a user's project (``project/``) runs its
tests on the plugin's fixtures and ``fail_point`` alone, on the mongolet the plugin starts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent / "project"


@pytest.mark.slow
def test_a_project_using_only_the_installed_plugin_passes(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("odm_uow-*.whl")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "MONGODB_URI", "VIRTUAL_ENV")}
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_ADDOPTS", None)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         f"{wheel}[pytest]"],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    project = shutil.copytree(PROJECT, tmp_path / "project")  # away from this repository
    run = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project,
        capture_output=True, text=True, timeout=600, env=env,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-5000:]
    assert "7 passed, 1 skipped" in out, out[-3000:]
    assert "needs a real MongoDB" in out  # the mongodb_real marker skipped it, with its reason
