"""The documentation site: ``mkdocs build --strict`` (a broken link, reference or include
fails) and every Python block of ``docs/*.md`` run in order, one page on one mongolet.

A block preceded by ``<!-- docs: skip -->`` is a fragment and is not run. Each page's blocks
share one namespace, holding ``uri`` (the page's mongolet, test commands enabled) and one
event loop, on which a block with a top-level ``await`` runs.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import subprocess
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

import mongolet

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "docs").glob("*.md"))
SKIP = "<!-- docs: skip -->"


@dataclass(frozen=True)
class Block:
    line: int  # of the first line of code, 1-based
    code: str
    skipped: bool


def python_blocks(page: Path) -> list[Block]:
    lines = page.read_text().splitlines()
    blocks, index = [], 0
    while index < len(lines):
        if lines[index].strip() == "```python":
            before = next((text.strip() for text in reversed(lines[:index]) if text.strip()), "")
            end = lines.index("```", index + 1)
            blocks.append(Block(index + 2, "\n".join(lines[index + 1:end]), before == SKIP))
            index = end
        index += 1
    return blocks


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    for page in ("getting-started", "odm", "uow", "recipes", "mongolet", "testing",
                 "reference", "benchmarks", "reliability"):
        assert (tmp_path / page / "index.html").is_file(), page
    reference = (tmp_path / "reference" / "index.html").read_text()
    for documented in ("odm.SyncEngine", "uow.UnitOfWork", "pytest_odm_uow.fail_point"):
        assert documented in reference, documented  # mkdocstrings rendered the docstrings


def test_most_blocks_run_and_none_is_left_out_silently() -> None:
    blocks = [block for page in PAGES for block in python_blocks(page)]
    ran = [block for block in blocks if not block.skipped]
    assert len(ran) >= 15 and len(ran) >= 3 * (len(blocks) - len(ran)), (len(ran), len(blocks))


@pytest.mark.parametrize(
    "page", [p for p in PAGES if any(not b.skipped for b in python_blocks(p))],
    ids=lambda p: p.name,
)
def test_the_page_examples_run(page: Path) -> None:
    loop = asyncio.new_event_loop()
    try:
        with mongolet.serve(enable_test_commands=True) as server:
            # A real module, as a user's: pydantic and the units resolve names through it.
            module = types.ModuleType(f"docs_{page.stem.replace('-', '_')}")
            module.uri = server.uri  # type: ignore[attr-defined]
            sys.modules[module.__name__] = module
            namespace = module.__dict__
            for block in python_blocks(page):
                if block.skipped:
                    continue
                source = "\n" * (block.line - 1) + block.code  # tracebacks name the page line
                code = compile(source, str(page.relative_to(ROOT)), "exec",
                               flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
                result = eval(code, namespace)
                if inspect.iscoroutine(result):
                    loop.run_until_complete(result)
    finally:
        sys.modules.pop(f"docs_{page.stem.replace('-', '_')}", None)
        loop.close()
