"""A newcomer's first five minutes: the READMEs' commands, the licence, ``mongolet --help``."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
READMES = ("README.md", "examples/README.md", "odm/README.md")


def commands(readme: str) -> list[str]:
    """The ``python -m ...`` commands a README shows, as written (in code spans and blocks)."""
    text = (ROOT / readme).read_text()
    return re.findall(r"[\w./]*python3? -m [A-Za-z_][\w.]*", text)


@pytest.mark.parametrize("readme", READMES)
def test_readme_commands_run_in_the_project_venv_and_name_real_modules(readme: str) -> None:
    """A bare ``python -m examples.di_service`` fails outside the venv ("No module named
    'bson'"): every command says ``.venv/bin/python``, and its module exists."""
    found = commands(readme)
    for command in found:
        interpreter, _, module = command.split()
        assert interpreter == ".venv/bin/python", f"{readme}: {command!r} needs the venv"
        assert importlib.util.find_spec(module) is not None, f"{readme}: no module {module}"


def test_the_readme_scripts_exist_and_are_executable() -> None:
    for script in set(re.findall(r"scripts/\w+", (ROOT / "README.md").read_text())):
        assert os.access(ROOT / script, os.X_OK), script


def test_the_license_file_matches_the_metadata() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "the odm-uow authors" in text


def help_text(*command: str) -> str:
    done = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_mongolet_help_names_the_program_as_it_was_started_with_its_defaults() -> None:
    script = Path(sys.executable).with_name("mongolet")  # the console script, installed
    as_script = help_text(str(script))
    as_module = help_text(sys.executable, "-m", "mongolet")
    assert as_script.startswith("usage: mongolet ")
    assert as_module.startswith("usage: python -m mongolet ")
    for defaults in ("default 127.0.0.1", "default 27017", "default 8.0", "default mongolet"):
        assert defaults in " ".join(as_script.split()), defaults
