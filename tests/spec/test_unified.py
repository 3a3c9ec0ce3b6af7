"""One pytest test per test of MongoDB's unified-format spec files.

Ids are ``<folder>/<file>::<description>``. Tests listed in expected_failures.txt are
strict expected failures, for the clients their line names if it names some (the topology
the internal client reports decides); tests whose runOnRequirements the server does not
meet are skipped with the requirement they miss. Without the spec folder the
module is skipped.
"""

from __future__ import annotations

import pytest
from pymongo import MongoClient

from tests.spec.loader import expected_failures, load_tests, spec_root
from tests.spec.runner import ServerInfo, SpecRun, SpecTest

_ROOT = spec_root()
if not _ROOT.is_dir():
    pytest.skip(f"MongoDB spec tests not found at {_ROOT} (set MONGODB_SPEC_TESTS)",
                allow_module_level=True)


_FAILING = expected_failures()


@pytest.mark.parametrize("spec", [pytest.param(test, id=test.id) for test in load_tests(_ROOT)])
def test_spec(spec: SpecTest, spec_uri: str, internal_client: MongoClient,
              server_info: ServerInfo, request: pytest.FixtureRequest) -> None:
    reason = spec.skip_reason(server_info)
    if reason:
        pytest.skip(reason)
    failure = _FAILING.get(spec.id)
    if failure is not None and failure.applies(server_info.client_facts):
        request.applymarker(pytest.mark.xfail(strict=True, reason=failure.reason))
    SpecRun(spec, internal_client, spec_uri).run()
