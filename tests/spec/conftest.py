"""Fixtures of the spec tests: one mongolet with test commands per test process, and the
per-folder summary at the end of the run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pymongo import MongoClient

from tests.servers import server_uri
from tests.spec.runner import ServerInfo, kill_all_sessions
from tests.spec.summary import folder_of, table

_outcomes: list[tuple[str, str]] = []


@pytest.fixture(scope="session")
def spec_uri() -> Iterator[str]:
    """A server with fail points enabled (``MONGODB_URI`` when set)."""
    with server_uri(enable_test_commands=True) as uri:
        yield uri


@pytest.fixture(scope="session")
def internal_client(spec_uri: str) -> Iterator[MongoClient]:
    """The format's *internal* client: set-up, outcome checks, clean-up."""
    client: MongoClient = MongoClient(spec_uri, socketTimeoutMS=60_000)
    with client:
        kill_all_sessions(client)
        yield client


@pytest.fixture(scope="session")
def server_info(internal_client: MongoClient) -> ServerInfo:
    return ServerInfo.probe(internal_client)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    folder = folder_of(report.nodeid)
    if folder is None:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        if hasattr(report, "wasxfail"):
            outcome = "xfailed" if report.skipped else "xpassed"
        else:
            outcome = report.outcome
        _outcomes.append((folder, outcome))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _outcomes:
        terminalreporter.section("MongoDB spec tests: passed / runnable per folder")
        for line in table(_outcomes):
            terminalreporter.write_line(line)
