"""Fixtures of the reliability tests: a server with fail points, units of work on both twins
bound to it, fault counting, and the figures each test reports.

Fail points are mongod's ``configureFailPoint`` / ``failCommand`` and nothing else, so the
same tests run against a real ``mongod --setParameter enableTestCommands=1`` replica set when
``MONGODB_URI`` is set. Every fail point names the ``appName`` of the client under test, so
checks made through another client, and other tests sharing a real server, are not hit.

A test hands its figures (transfers, faults injected, inputs tried...) to
``figures(name=value, ...)``; they are printed at the end of the run, in the section
"reliability figures" (docs/reliability.md quotes them).
"""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient, MongoClient, monitoring
from pymongo.errors import OperationFailure

from odm import AIOEngine, SyncEngine
from tests.conftest import using_real_mongodb
from tests.odm.helpers import CommandRecorder
from tests.reliability.nodes import Node
from tests.servers import server_uri
from tests.uow.conftest import Twin
from tests.uow.models import Account, Transfer

try:
    import fcntl
except ImportError:  # not POSIX: no lock (run one process against a shared server)
    fcntl = None  # type: ignore[assignment]

# ------------------------------------------------------------------ durable nodes


@pytest.fixture
def dbpath(tmp_path: Path) -> Path:
    """A data directory for a durable mongolet (created by the server)."""
    return tmp_path / "data"


@pytest.fixture
def nodes() -> Iterator[list[Node]]:
    """Durable nodes a test starts (``nodes.start``); any still running at the end are killed."""
    started: list[Node] = []
    yield started
    for node in started:
        if node.process.poll() is None:
            node.kill()


# ------------------------------------------------------------------ the server


@pytest.fixture(scope="module")
def fault_uri() -> Iterator[str]:
    """A server that accepts ``configureFailPoint``: ``MONGODB_URI`` when set (started with
    ``--setParameter enableTestCommands=1``), else a mongolet of this module's own."""
    with server_uri(enable_test_commands=True) as uri:
        with _fail_points_to_ourselves(uri), MongoClient(uri, appName="reliability-probe") as probe:
            try:
                probe.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
            except OperationFailure as error:
                pytest.skip(f"the server refuses test commands ({error}): start mongod with "
                            "--setParameter enableTestCommands=1")
        yield uri


@pytest.fixture(scope="module")
def admin_client(fault_uri: str) -> Iterator[MongoClient]:
    """Sets fail points and checks outcomes; fail points never name its appName."""
    with MongoClient(fault_uri, appName="reliability-admin") as c:
        yield c


# ------------------------------------------------------------------ counting faults

INJECTED = "injected by the reliability tests"
NETWORK_ERRORS = ("AutoReconnect", "NetworkTimeout", "ConnectionFailure")


class FaultRecorder(CommandRecorder):
    """The commands a client sends, and those a fail point failed (PyMongo monitoring).

    A command counts as a fault injected when its reply is the ``failCommand`` error, carries
    our ``writeConcernError``, or when its connection was closed under it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.faults: list[tuple[str, str]] = []
        self.conflicts = 0
        self.lsids: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        super().started(event)
        lsid = event.command.get("lsid")
        if lsid is not None and lsid not in self.lsids:
            self.lsids.append(lsid)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        wce = event.reply.get("writeConcernError")
        if isinstance(wce, dict) and wce.get("errmsg") == INJECTED:
            self.faults.append((event.command_name, "writeConcernError"))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        failure = event.failure
        errmsg = str(failure.get("errmsg", ""))
        if "failCommand" in errmsg:
            self.faults.append((event.command_name, f"error {failure.get('code')}"))
        elif errmsg == INJECTED:  # PyMongo raised the writeConcernError of an ok reply
            self.faults.append((event.command_name, "writeConcernError"))
        elif failure.get("errtype") in NETWORK_ERRORS:
            self.faults.append((event.command_name, "closed connection"))
        elif failure.get("code") == 112:
            self.conflicts += 1

    def sent(self, name: str) -> int:
        return sum(1 for event in self.started_events if event.command_name == name)


# ------------------------------------------------------------------ fail points


class FailPoint:
    """``failCommand`` aimed at one application name; ``off()`` in the fixture's finally."""

    def __init__(self, admin: MongoClient, app_name: str) -> None:
        self.admin = admin
        self.app_name = app_name

    def fail(self, mode: Any, **data: Any) -> None:
        """``{configureFailPoint: "failCommand", mode, data: {appName, **data}}``."""
        data.setdefault("appName", self.app_name)
        if "writeConcernError" in data:
            data["writeConcernError"] = {"errmsg": INJECTED, **data["writeConcernError"]}
        self.admin.admin.command({"configureFailPoint": "failCommand", "mode": mode,
                                  "data": data})

    def off(self) -> None:
        self.admin.admin.command({"configureFailPoint": "failCommand", "mode": "off"})

    def kill_sessions(self, lsids: list[dict[str, Any]]) -> None:
        """End what a failed commit left open (a transaction no one will commit holds its
        documents until the server expires it)."""
        if lsids:
            self.admin.admin.command({"killSessions": lsids})


@pytest.fixture
def app_name() -> str:
    return f"rel-{uuid.uuid4().hex[:10]}"


@contextmanager
def _fail_points_to_ourselves(uri: str) -> Iterator[None]:
    """A server has one ``failCommand``: on a shared real MongoDB, test processes (xdist
    workers) take turns (mongolet: each process has a server of its own)."""
    if not using_real_mongodb() or fcntl is None:
        yield
        return
    digest = hashlib.sha1(uri.encode()).hexdigest()[:12]
    with open(Path(tempfile.gettempdir()) / f"odm-uow-fail-points-{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture
def fail_point(admin_client: MongoClient, app_name: str, fault_uri: str) -> Iterator[FailPoint]:
    """``failCommand`` for this test's client, off again afterwards."""
    with _fail_points_to_ourselves(fault_uri):
        point = FailPoint(admin_client, app_name)
        try:
            yield point
        finally:
            point.off()


# ------------------------------------------------------------------ units on both twins


@pytest.fixture
def fault_recorder() -> FaultRecorder:
    return FaultRecorder()


@pytest.fixture(params=["sync", "async"])
async def twin(
    request: pytest.FixtureRequest,
    fault_uri: str,
    db_name: str,
    app_name: str,
    fault_recorder: FaultRecorder,
    admin_client: MongoClient,
) -> AsyncIterator[Twin]:
    """tests/uow's twin, on the fail point server, its client named ``app_name``."""
    options: dict[str, Any] = {"appName": app_name, "event_listeners": [fault_recorder]}
    try:
        if request.param == "sync":
            client: MongoClient = MongoClient(fault_uri, **options)
            engine = SyncEngine(client, database=db_name)
            engine.check_transactions_supported()
            yield Twin("sync", engine, fault_recorder, fault_uri)
            client.close()
        else:
            aclient: AsyncMongoClient = AsyncMongoClient(fault_uri, **options)
            aengine = AIOEngine(aclient, database=db_name)
            await aengine.check_transactions_supported()
            yield Twin("async", aengine, fault_recorder, fault_uri)
            await aclient.close()
    finally:
        FailPoint(admin_client, app_name).kill_sessions(fault_recorder.lsids)
        admin_client.drop_database(db_name)


# ------------------------------------------------------------------ the books

START_BALANCE = 100


class Books:
    """Balances and ledger as the database holds them (read through the admin client)."""

    def __init__(self, client: MongoClient, db_name: str) -> None:
        self.db = client[db_name]

    def balances(self) -> dict[Any, int]:
        accounts = self.db[Account.__collection__]
        return {doc["_id"]: doc["balance"] for doc in accounts.find()}

    def ledger(self) -> list[dict[str, Any]]:
        return list(self.db[Transfer.__collection__].find())

    def check(self, start: dict[Any, int]) -> dict[Any, int]:
        """The total is what it was, and the ledger explains every balance; returns them."""
        balances = self.balances()
        assert set(balances) == set(start)
        assert sum(balances.values()) == sum(start.values())
        expected = dict(start)
        for entry in self.ledger():
            expected[entry["source"]] -= entry["amount"]
            expected[entry["target"]] += entry["amount"]
        assert balances == expected, "the ledger does not match the balances"
        return balances


# ------------------------------------------------------------------ figures


@pytest.fixture
def figures(record_property: Callable[[str, object], None], request: pytest.FixtureRequest
            ) -> Callable[..., None]:
    """``figures(transfers=120, faults=3)``: printed in the run's summary."""

    def record(**values: object) -> None:
        for key, value in values.items():
            record_property(f"reliability:{key}", value)
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
        print(f"[reliability] {request.node.nodeid}: {shown}")

    return record


_figures: list[tuple[str, str, object]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call":
        return
    for key, value in report.user_properties:
        if isinstance(key, str) and key.startswith("reliability:"):
            _figures.append((report.nodeid, key.split(":", 1)[1], value))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _figures:
        return
    terminalreporter.section("reliability figures")
    by_test: dict[str, list[str]] = {}
    for nodeid, key, value in _figures:
        by_test.setdefault(nodeid, []).append(f"{key}={value}")
    for nodeid, values in by_test.items():
        terminalreporter.write_line(f"{nodeid}: {', '.join(values)}")
    totals: dict[str, int] = {}
    for _, key, value in _figures:
        if isinstance(value, int) and not isinstance(value, bool):
            totals[key] = totals.get(key, 0) + value
    terminalreporter.write_line("totals: " + ", ".join(f"{k}={v}" for k, v in totals.items()))



# ------------------------------------------------------------------ the transfer under test


def make_transfer(
    flavour: str,
    attempts: list[int] | None = None,
    midway: Callable[[], None] | None = None,
) -> Callable[..., Any]:
    """The unit's function for ``uow.run``: move ``amount``, write one ledger entry, return
    it. ``attempts`` gets one item per call (a retried unit calls it again); ``midway`` is
    called between the two reads of the first call."""
    calls: list[int] = []

    def between() -> None:
        calls.append(1)
        if midway is not None and len(calls) == 1:
            midway()

    if flavour == "sync":

        def transfer(uow: Any, source: Any, target: Any, amount: int) -> Transfer:
            if attempts is not None:
                attempts.append(1)
            a = uow.accounts.get(source)
            between()
            b = uow.accounts.get(target)
            a.withdraw(amount)
            b.deposit(amount)
            entry = Transfer(source=source, target=target, amount=amount)
            uow.transfers.add(entry)
            return entry

        return transfer

    async def transfer_async(uow: Any, source: Any, target: Any, amount: int) -> Transfer:
        if attempts is not None:
            attempts.append(1)
        a = await uow.accounts.get(source)
        between()
        b = await uow.accounts.get(target)
        a.withdraw(amount)
        b.deposit(amount)
        entry = Transfer(source=source, target=target, amount=amount)
        await uow.transfers.add(entry)
        return entry

    return transfer_async
