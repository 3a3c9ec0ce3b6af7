"""One pytest test per test of MongoDB's unified-format spec files.

Ids are ``<folder>/<file>::<description>``. Tests listed in expected_failures.txt are
strict expected failures; tests whose runOnRequirements the server does not meet are
skipped with the requirement they miss. Without the spec folder the module is skipped.
"""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import MongoClient

from tests.spec.loader import expected_failures, load_tests, spec_root
from tests.spec.runner import ServerInfo, SpecRun, SpecTest

_ROOT = spec_root()
if not _ROOT.is_dir():
    pytest.skip(f"MongoDB spec tests not found at {_ROOT} (set MONGODB_SPEC_TESTS)",
                allow_module_level=True)


def _cases() -> list[Any]:
    failing = expected_failures()
    cases = []
    for test in load_tests(_ROOT):
        marks = []
        if test.id in failing:
            marks.append(pytest.mark.xfail(strict=True, reason=failing[test.id]))
        cases.append(pytest.param(test, id=test.id, marks=marks))
    return cases


@pytest.mark.parametrize("spec", _cases())
def test_spec(spec: SpecTest, spec_uri: str, internal_client: MongoClient,
              server_info: ServerInfo) -> None:
    reason = spec.skip_reason(server_info)
    if reason:
        pytest.skip(reason)
    SpecRun(spec, internal_client, spec_uri).run()
