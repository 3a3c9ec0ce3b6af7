"""Runs the typing suite (``python -m tests.typing.check``): mypy --strict without the
pydantic plugin and pyright strict over ``tests/typing/`` and the READMEs' examples."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.typing.check import ROOT, compare, expectations


@pytest.mark.skipif(
    os.environ.get("ODM_TYPING_CHECKED") == "1", reason="scripts/test ran the typing suite"
)
def test_typing_suite_passes_both_checkers() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.typing.check"],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 problems" in result.stdout


def test_unexpected_and_missing_errors_are_problems(tmp_path: Path) -> None:
    module = tmp_path / "user.py"
    module.write_text("x: int = 'a'  # E: mypy[assignment] pyright[reportAssignmentType]\ny = 1\n")
    expected = expectations([module])
    assert expected == {(str(module), 1): {"mypy": {"assignment"}, "pyright": {"reportAssignmentType"}}}
    found = [(str(module), 1, "assignment", "bad"), (str(module), 2, "misc", "surprise"),
             ("/elsewhere/lib.py", 3, "misc", "not ours")]
    problems = compare("mypy", found, [module], expected)
    assert problems == [f"mypy: unexpected error {module}:2 [misc] surprise"]
    assert compare("pyright", [], [module], expected) == [
        f"pyright: missing expected error {module}:1 [reportAssignmentType]"
    ]
