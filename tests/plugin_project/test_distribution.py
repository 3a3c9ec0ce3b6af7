"""The sdist and the wheel carry what their documentation links, and the licence."""

from __future__ import annotations

import re
import tarfile
import zipfile
from pathlib import Path

from tests.plugin_project.conftest import ROOT


def linked_files() -> set[str]:
    """The repository files the README names (``odm/README.md``, ``docs/...``)."""
    text = (ROOT / "README.md").read_text()
    return {path for path in re.findall(r"[\w/]+\.md", text) if (ROOT / path).is_file()}


def test_the_sdist_carries_the_license_and_every_file_the_readme_links(dist: Path) -> None:
    (sdist,) = dist.glob("odm_uow-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
        pkg_info = archive.extractfile(f"{sdist.name[:-7]}/PKG-INFO").read().decode()  # type: ignore[union-attr]
    assert {"odm/README.md", "examples/README.md", "docs/reliability.md"} <= linked_files()
    assert {"LICENSE", "README.md", *linked_files()} <= names
    assert "License-Expression: MIT" in pkg_info


def test_the_wheel_carries_the_license_and_odm_readme(dist: Path) -> None:
    (wheel,) = dist.glob("odm_uow-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read("odm_uow-0.1.0.dist-info/METADATA").decode()
    assert "odm/README.md" in names  # odm's docstring points to its README
    assert "odm_uow-0.1.0.dist-info/licenses/LICENSE" in names
    assert "License-Expression: MIT" in metadata
    assert {"odm/py.typed", "uow/py.typed", "mongolet/py.typed"} <= names
