"""Fixtures of the spec tests: one mongolet with test commands per test process (and one
presenting MongoDB 7.0 for the second run of the spec folders), and the per-folder summary
at the end of the run."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pymongo import MongoClient

from tests.conftest import MongoletVersions, using_real_mongodb
from tests.servers import server_uri
from tests.spec.runner import ServerInfo, kill_all_sessions
from tests.spec.summary import DEFAULT_RUN, folder_of, run_of, table

_outcomes: list[tuple[str, str, str]] = []


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


@dataclass
class SpecServer:
    """A server of one run of the spec tests: its URI, internal client and what it reports."""

    uri: str
    internal: MongoClient
    info: ServerInfo


class SpecServers:
    """The server of each run: the suite's own (8.0) and a mongolet presenting 7.0, started
    on first use."""

    def __init__(self, default: SpecServer, versions: MongoletVersions) -> None:
        self._servers = {DEFAULT_RUN: default}
        self._versions = versions
        self._stack = contextlib.ExitStack()

    def get(self, run: str) -> SpecServer:
        if run not in self._servers:
            if using_real_mongodb():
                pytest.skip(f"the {run} run is for mongolet presenting {run} (MONGODB_URI set)")
            uri = self._versions.uri(run)
            internal = self._stack.enter_context(MongoClient(uri, socketTimeoutMS=60_000))
            kill_all_sessions(internal)
            self._servers[run] = SpecServer(uri, internal, ServerInfo.probe(internal))
        return self._servers[run]

    def close(self) -> None:
        self._stack.close()


@pytest.fixture(scope="session")
def spec_servers(spec_uri: str, internal_client: MongoClient, server_info: ServerInfo,
                 mongolet_versions: MongoletVersions) -> Iterator[SpecServers]:
    servers = SpecServers(SpecServer(spec_uri, internal_client, server_info), mongolet_versions)
    yield servers
    servers.close()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    folder = folder_of(report.nodeid)
    if folder is None:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        if hasattr(report, "wasxfail"):
            outcome = "xfailed" if report.skipped else "xpassed"
        else:
            outcome = report.outcome
        _outcomes.append((run_of(report.nodeid), folder, outcome))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for run in sorted({run for run, _, _ in _outcomes}, reverse=True):
        terminalreporter.section(f"MongoDB spec tests at {run}: passed / runnable per folder")
        for line in table((folder, outcome) for r, folder, outcome in _outcomes if r == run):
            terminalreporter.write_line(line)
