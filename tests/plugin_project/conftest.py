"""The project's sdist and wheel, built once per run (xdist workers share one build)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding ``odm_uow-*.tar.gz`` and ``odm_uow-*.whl``, built by ``python -m
    build`` (isolated, as a user's build is; pip's cache spares the downloads)."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the workers' common base
    out = shared / "dist"
    with open(shared / "dist.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "built").exists():
            done = subprocess.run(
                [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
                capture_output=True, text=True, timeout=600,
            )
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            (out / "built").touch()
    return out


collect_ignore = ["project"]  # a user's project: test_plugin_project.py runs it in its own venv
