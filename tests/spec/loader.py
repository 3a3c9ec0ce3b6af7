"""Finds the spec test files and the checked-in list of tests expected to fail."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bson import json_util
from bson.json_util import JSONOptions

from tests.spec.runner import SpecTest

FOLDERS = ("crud", "transactions", "transactions-convenient-api", "sessions",
           "retryable-writes", "change-streams", "retryable-reads", "collection-management",
           "index-management", "run-command", "command-monitoring", "gridfs",
           "read-write-concern")
REPO_ROOT = Path(__file__).resolve().parents[2]
EXPECTED_FAILURES_FILE = Path(__file__).with_name("expected_failures.txt")
# Dates as naive UTC datetimes, as PyMongo's default codec options decode them.
_JSON_OPTIONS = JSONOptions(tz_aware=False)


def spec_root() -> Path:
    """``$MONGODB_SPEC_TESTS``, else ``../shared/mongodb-spec-tests`` beside the repository."""
    configured = os.environ.get("MONGODB_SPEC_TESTS")
    if configured:
        return Path(configured)
    return REPO_ROOT.parent / "shared" / "mongodb-spec-tests"


def load_tests(root: Path) -> Iterator[SpecTest]:
    """Every test of every ``<folder>/*.json`` file, in a stable order."""
    for folder in FOLDERS:
        for path in sorted((root / folder).glob("*.json")):
            spec = json_util.loads(path.read_text(), json_options=_JSON_OPTIONS)
            for test in spec["tests"]:
                yield SpecTest(folder, path.stem, spec, test)


@dataclass(frozen=True)
class ExpectedFailure:
    """Why a test is expected to fail, and for which client topologies (all when empty)."""

    reason: str
    topologies: frozenset[str] = frozenset()

    def applies(self, client_topology: str) -> bool:
        return not self.topologies or client_topology in self.topologies


def expected_failures(path: Path = EXPECTED_FAILURES_FILE) -> dict[str, ExpectedFailure]:
    """``test id -> ExpectedFailure`` from lines ``<folder>/<file>::<description> # <reason>``;
    a reason ``when <topology>[, <topology>]: <why>`` holds only when the client reports one
    of those topologies (PyMongo's names: ``ReplicaSetWithPrimary``, ``Single``...)."""
    failures: dict[str, ExpectedFailure] = {}
    if not path.exists():
        return failures
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        test_id, separator, reason = line.rpartition(" # ")
        if not separator or not reason.strip():
            raise ValueError(f"{path.name}:{number}: expected '<test id> # <reason>'")
        topologies: frozenset[str] = frozenset()
        if reason.startswith("when ") and ":" in reason:
            condition, _, reason = reason.partition(":")
            topologies = frozenset(t.strip() for t in condition[len("when "):].split(","))
        failures[test_id.strip()] = ExpectedFailure(reason.strip(), topologies)
    return failures
