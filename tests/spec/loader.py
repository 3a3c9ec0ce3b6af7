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
    """Why a test is expected to fail, and when: on every client (``conditions`` empty),
    or when the facts about the client (``ServerInfo.client_facts``) include all of one
    of the ``conditions``."""

    reason: str
    conditions: tuple[frozenset[str], ...] = ()

    def applies(self, client_facts: frozenset[str]) -> bool:
        return not self.conditions or any(c <= client_facts for c in self.conditions)


def expected_failures(path: Path = EXPECTED_FAILURES_FILE) -> dict[str, ExpectedFailure]:
    """``test id -> ExpectedFailure`` from lines ``<folder>/<file>::<description> # <reason>``;
    a reason ``when <fact> [with <fact>...][, <alternative>...]: <why>`` holds only for a
    client of which those facts are true: the topology type it reports (PyMongo's names,
    ``ReplicaSetWithPrimary``, ``Single``...) and ``no secondary``."""
    failures: dict[str, ExpectedFailure] = {}
    if not path.exists():
        return failures
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        test_id, separator, reason = line.rpartition(" # ")
        if not separator or not reason.strip():
            raise ValueError(f"{path.name}:{number}: expected '<test id> # <reason>'")
        conditions: tuple[frozenset[str], ...] = ()
        if reason.startswith("when ") and ":" in reason:
            condition, _, reason = reason.partition(":")
            conditions = tuple(frozenset(fact.strip() for fact in alternative.split(" with "))
                               for alternative in condition[len("when "):].split(","))
        failures[test_id.strip()] = ExpectedFailure(reason.strip(), conditions)
    return failures
