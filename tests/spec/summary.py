"""Per-folder figures of a spec test run: passed / runnable (runnable = not skipped).

Used by the terminal-summary hook of tests/spec/conftest.py; also runnable on its own
(``python -m tests.spec.summary``) to run the spec tests and print only the table.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterable

from tests.spec.loader import FOLDERS

DEFAULT_RUN = "8.0"  # the release of the suite's own server; the second run's id ends "@7.0"
SECOND_RUN = "7.0"


def run_of(nodeid: str) -> str:
    """Which run a spec test's node id belongs to: "8.0", or "7.0" for ``...@7.0]``."""
    return SECOND_RUN if nodeid.endswith(f"@{SECOND_RUN}]") else DEFAULT_RUN


def folder_of(nodeid: str) -> str | None:
    """The spec folder in a node id ``...test_spec[<folder>/<file>::<description>]``."""
    if "[" not in nodeid:
        return None
    folder = nodeid.split("[", 1)[1].split("/", 1)[0]
    return folder if folder in FOLDERS else None


def table(outcomes: Iterable[tuple[str, str]]) -> list[str]:
    """Lines of the summary from ``(folder, outcome)`` pairs; outcomes are pytest's
    ``passed``, ``failed``, ``skipped``, ``xfailed``, ``xpassed``."""
    counts: dict[str, Counter[str]] = {folder: Counter() for folder in FOLDERS}
    for folder, outcome in outcomes:
        counts[folder][outcome] += 1
    lines = [f"{'folder':<30} {'passed':>7} {'runnable':>9} {'%':>6} {'xfail':>6} "
             f"{'failed':>7} {'skipped':>8}"]
    total: Counter[str] = Counter()
    for folder in FOLDERS:
        lines.append(_line(folder, counts[folder]))
        total.update(counts[folder])
    lines.append(_line("total", total))
    return lines


def _line(name: str, count: Counter[str]) -> str:
    runnable = count["passed"] + count["failed"] + count["xfailed"] + count["xpassed"]
    percent = f"{100 * count['passed'] / runnable:.1f}" if runnable else "-"
    return (f"{name:<30} {count['passed']:>7} {runnable:>9} {percent:>6} "
            f"{count['xfailed']:>6} {count['failed'] + count['xpassed']:>7} "
            f"{count['skipped']:>8}")


if __name__ == "__main__":
    sys.exit(subprocess.call([sys.executable, "-m", "pytest", "tests/spec", "-q",
                              "-p", "no:randomly", *sys.argv[1:]]))
