"""One pytest test per test of MongoDB's unified-format spec files.

Ids are ``<folder>/<file>::<description>``; each test runs again, as
``<folder>/<file>::<description>@7.0``, against a mongolet presenting MongoDB 7.0, so the
driver's and the server's 7.0 paths stay tested. Tests listed in expected_failures.txt are
strict expected failures, for the clients their line names if it names some (the
topology the internal client reports decides); tests whose runOnRequirements the server
does not meet are skipped with the requirement they miss. Without the spec folder the
module is skipped.
"""

from __future__ import annotations

import pytest

from tests.spec.conftest import SpecServers
from tests.spec.loader import expected_failures, load_tests, spec_root
from tests.spec.runner import SpecRun, SpecTest
from tests.spec.summary import DEFAULT_RUN, SECOND_RUN

_ROOT = spec_root()
if not _ROOT.is_dir():
    pytest.skip(f"MongoDB spec tests not found at {_ROOT} (set MONGODB_SPEC_TESTS)",
                allow_module_level=True)


_FAILING = expected_failures()


_TESTS = list(load_tests(_ROOT))


@pytest.mark.parametrize(("spec", "run"), [
    *(pytest.param(test, DEFAULT_RUN, id=test.id) for test in _TESTS),
    *(pytest.param(test, SECOND_RUN, id=f"{test.id}@{SECOND_RUN}") for test in _TESTS)])
def test_spec(spec: SpecTest, run: str, spec_servers: SpecServers,
              request: pytest.FixtureRequest) -> None:
    server = spec_servers.get(run)
    reason = spec.skip_reason(server.info)
    if reason:
        pytest.skip(reason)
    failure = _FAILING.get(spec.id)
    if failure is not None and failure.applies(server.info.client_facts):
        request.applymarker(pytest.mark.xfail(strict=True, reason=failure.reason))
    SpecRun(spec, server.internal, server.uri).run()
