"""The typing suite: user-style modules checked by mypy --strict and pyright strict.

``python -m tests.typing.check`` (and ``tests/typing/test_typecheck.py`` in pytest) runs both
checkers, each once, over:

- ``cases/``: modules that must pass, with ``assert_type`` expectations for the public API;
- ``errors/``: modules whose lines marked ``# E: mypy[code] pyright[rule]`` must get those
  errors (other errors on a marked line are tolerated; a line without a marker must have none);
- the Python examples of ``README.md`` and ``odm/README.md``, extracted into a temporary folder
  (every fenced ``python`` block but those marked ``<!-- typing: skip -->`` on the line before).

mypy runs without the pydantic plugin (``tests/typing/mypy.ini``), as many users run it.
Only diagnostics of the checked files count: the library's own files are checked by the
project's mypy run. Exits non-zero on any unexpected or missing error.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DOCS = (ROOT / "README.md", ROOT / "odm" / "README.md")
CHECKERS = ("mypy", "pyright")

_MARKER = re.compile(r"#\s*E:(?P<specs>.*)$")
_SPEC = re.compile(r"(mypy|pyright)\[([\w-]+)\]")
_MYPY_LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+): error: (?P<message>.*?)(?:  \[(?P<code>[\w-]+)\])?$")

Diagnostic = tuple[str, int, str, str]  # (path, line, code, message)


def extract_doc_examples(target: Path) -> list[Path]:
    """Write each Python block of the READMEs as a module of ``target``."""
    files: list[Path] = []
    for doc in DOCS:
        lines = doc.read_text(encoding="utf-8").splitlines()
        block: list[str] | None = None
        skip = False
        start = 0
        for number, line in enumerate(lines, 1):
            if block is None:
                if line.strip() == "```python" and not skip:
                    block, start = [], number
                skip = line.strip() == "<!-- typing: skip -->"
            elif line.strip() == "```":
                name = f"doc_{doc.parent.name if doc.parent != ROOT else 'root'}_{start}.py"
                path = target / name
                # Leading blank lines keep the README's line numbers in the diagnostics.
                path.write_text("\n" * start + "\n".join(block) + "\n", encoding="utf-8")
                files.append(path)
                block = None
            else:
                block.append(line)
    return files


def _doc_of(copy: Path) -> str:
    """``README.md`` or ``odm/README.md`` for an extracted example's file name."""
    return "README.md" if copy.name.startswith("doc_root_") else "odm/README.md"


def expectations(files: list[Path]) -> dict[tuple[str, int], dict[str, set[str]]]:
    """``(path, line) -> {checker: codes}`` from the ``# E:`` markers."""
    expected: dict[tuple[str, int], dict[str, set[str]]] = {}
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            marker = _MARKER.search(line)
            if marker is None:
                continue
            codes: dict[str, set[str]] = defaultdict(set)
            for checker, code in _SPEC.findall(marker.group("specs")):
                codes[checker].add(code)
            expected[(str(path), number)] = dict(codes)
    return expected


def run_mypy(files: list[Path]) -> list[Diagnostic]:
    command = [sys.executable, "-m", "mypy", "--config-file", str(HERE / "mypy.ini"),
               "--no-error-summary", "--show-absolute-path", *map(str, files)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    if result.returncode not in (0, 1) or result.stderr.strip():
        raise RuntimeError(f"mypy failed to run:\n{result.stdout}\n{result.stderr}")
    found: list[Diagnostic] = []
    for line in result.stdout.splitlines():
        match = _MYPY_LINE.match(line)
        if match is not None:
            found.append((str(Path(match["path"]).resolve()), int(match["line"]),
                          match["code"] or "misc", match["message"]))
    return found


def _pyright_command() -> list[str]:
    executable = shutil.which("pyright", path=str(Path(sys.executable).parent)) or shutil.which(
        "pyright"
    )
    if executable is None:
        raise RuntimeError("pyright is not installed: pip install -e '.[test]' installs it")
    return [executable]


def run_pyright(files: list[Path]) -> list[Diagnostic]:
    command = [*_pyright_command(), "--outputjson", "-p", str(HERE / "pyrightconfig.json"),
               "--pythonpath", sys.executable, *map(str, files)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"pyright failed to run:\n{result.stdout}\n{result.stderr}") from None
    return [
        (str(Path(item["file"]).resolve()), item["range"]["start"]["line"] + 1,
         item.get("rule", "error"), item["message"].splitlines()[0])
        for item in report["generalDiagnostics"]
        if item["severity"] == "error"
    ]


def compare(
    checker: str,
    found: list[Diagnostic],
    files: list[Path],
    expected: dict[tuple[str, int], dict[str, set[str]]],
) -> list[str]:
    """Problems: errors nobody expected, and expected errors that did not come."""
    checked = {str(path) for path in files}
    problems: list[str] = []
    reported: dict[tuple[str, int], set[str]] = defaultdict(set)
    for path, line, code, message in found:
        if path not in checked:
            continue  # the library's own files: the project's mypy run covers them
        reported[(path, line)].add(code)
        if (path, line) not in expected:
            problems.append(f"{checker}: unexpected error {path}:{line} [{code}] {message}")
    for (path, line), codes in expected.items():
        for code in sorted(codes.get(checker, set()) - reported[(path, line)]):
            problems.append(f"{checker}: missing expected error {path}:{line} [{code}]")
    return problems


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="odm-typing-docs-") as docs_dir:
        doc_files = extract_doc_examples(Path(docs_dir))
        files = sorted((HERE / "cases").glob("*.py")) + sorted((HERE / "errors").glob("*.py"))
        files = [path.resolve() for path in files] + doc_files
        expected = expectations(files)
        problems = compare("mypy", run_mypy(files), files, expected)
        problems += compare("pyright", run_pyright(files), files, expected)
    for problem in problems:
        for doc_file in doc_files:  # name the README, whose line numbers the copies keep
            problem = problem.replace(str(doc_file), _doc_of(doc_file))
        print(problem)
    markers = sum(len(codes) for spec in expected.values() for codes in spec.values())
    print(f"typing: {len(files)} files ({len(doc_files)} from the READMEs), "
          f"{markers} expected errors, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
