"""The plugin's options, markers and fixtures (registered by the ``pytest11`` entry point).

One server per test session, so per xdist worker; every test that asks for ``mongodb_db`` or
``mongodb_adb`` gets a database of its own, dropped afterwards, so tests share the server
without seeing each other's data. The engines and units of work stand on that database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from pytest_odm_uow.servers import MongoDBServer, start

if TYPE_CHECKING:
    from pymongo import AsyncMongoClient, MongoClient
    from pymongo.asynchronous.database import AsyncDatabase
    from pymongo.synchronous.database import Database

    import odm
    from uow import AsyncUnitOfWork, UnitOfWork

try:  # async fixtures that work in pytest-asyncio's strict mode too
    from pytest_asyncio import fixture as async_fixture
except ImportError:  # pragma: no cover - then async tests are not run anyway
    async_fixture = pytest.fixture  # type: ignore[assignment]

U = TypeVar("U", bound="UnitOfWork")
AU = TypeVar("AU", bound="AsyncUnitOfWork")

MARKERS = {
    "mongodb_transactions": "the test needs a server with transactions (skipped on a "
                            "standalone mongod)",
    "mongodb_real": "the test needs a real MongoDB (skipped on mongolet)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("odm-uow", "MongoDB server for the tests (pytest_odm_uow)")
    group.addoption("--mongodb-uri", default=None, metavar="URI",
                    help="run against this MongoDB deployment (default: $MONGODB_URI, else "
                         "an embedded mongolet per session and xdist worker)")
    group.addoption("--mongolet-dbpath", default=None, metavar="DIR",
                    help="keep mongolet's data in DIR/<worker> (durable; default: memory)")
    group.addoption("--mongolet-version", default=None, choices=("8.0", "7.0"),
                    help="the MongoDB release mongolet presents itself as (default 8.0)")
    group.addoption("--mongolet-mode", default="thread", choices=("thread", "process"),
                    help="run mongolet in a thread of the test process or a child process "
                         "(default thread)")


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


@pytest.fixture(scope="session")
def mongodb_server(pytestconfig: pytest.Config) -> Iterator[MongoDBServer]:
    """The server of this test session (of this xdist worker): ``--mongodb-uri`` /
    ``MONGODB_URI``, or a mongolet with test commands enabled."""
    uri = pytestconfig.getoption("mongodb_uri") or os.environ.get("MONGODB_URI")
    dbpath = pytestconfig.getoption("mongolet_dbpath")
    if dbpath:  # workers must not share a data directory (mongolet locks it)
        dbpath = Path(dbpath) / os.environ.get("PYTEST_XDIST_WORKER", "main")
    with start(uri, dbpath=dbpath, version=pytestconfig.getoption("mongolet_version"),
               mode=pytestconfig.getoption("mongolet_mode")) as server:
        yield server


@pytest.fixture(scope="session")
def mongodb_uri(mongodb_server: MongoDBServer) -> str:
    """The connection string of the session's server."""
    return mongodb_server.uri


@pytest.fixture(autouse=True)
def _mongodb_markers(request: pytest.FixtureRequest) -> None:
    """Skip a test marked ``mongodb_transactions`` or ``mongodb_real`` that its server cannot
    run (the server is only started for a marked test)."""
    marks = {name for name in MARKERS if request.node.get_closest_marker(name)}
    if not marks:
        return
    server: MongoDBServer = request.getfixturevalue("mongodb_server")
    if "mongodb_real" in marks and server.is_mongolet:
        pytest.skip("needs a real MongoDB (--mongodb-uri or MONGODB_URI)")
    if "mongodb_transactions" in marks and not server.supports_transactions():
        pytest.skip("needs a server with transactions (a replica set or a sharded cluster)")


@pytest.fixture(scope="session")
def mongodb_client(mongodb_uri: str) -> Iterator[MongoClient[dict[str, Any]]]:
    """A PyMongo client for the session (a thread-safe pool)."""
    from pymongo import MongoClient

    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
    with client:
        yield client


@async_fixture
async def mongodb_aclient(mongodb_uri: str) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    """An async PyMongo client bound to this test's event loop, closed after it."""
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def mongodb_db_name() -> str:
    """The name of this test's database (``mongodb_db`` and ``mongodb_adb`` share it)."""
    return f"t_{uuid.uuid4().hex[:16]}"


@pytest.fixture
def mongodb_db(mongodb_client: MongoClient[dict[str, Any]],
               mongodb_db_name: str) -> Iterator[Database[dict[str, Any]]]:
    """A fresh database for this test, dropped after it."""
    yield mongodb_client[mongodb_db_name]
    mongodb_client.drop_database(mongodb_db_name)


@async_fixture
async def mongodb_adb(mongodb_aclient: AsyncMongoClient[dict[str, Any]],
                      mongodb_db_name: str) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """A fresh database for this async test, dropped after it."""
    yield mongodb_aclient[mongodb_db_name]
    await mongodb_aclient.drop_database(mongodb_db_name)


@pytest.fixture
def odm_engine(mongodb_db: Database[dict[str, Any]]) -> odm.SyncEngine:
    """An ``odm.SyncEngine`` on this test's fresh database."""
    import odm

    return odm.SyncEngine(mongodb_db.client, database=mongodb_db.name)


@pytest.fixture
def odm_aengine(mongodb_adb: AsyncDatabase[dict[str, Any]]) -> odm.AIOEngine:
    """An ``odm.AIOEngine`` on this test's fresh database."""
    import odm

    return odm.AIOEngine(mongodb_adb.client, database=mongodb_adb.name)


@pytest.fixture
def uow_factory(odm_engine: odm.SyncEngine) -> Callable[..., Any]:
    """``uow_factory(BankUnit, **options)``: a new unit of work of that class on
    ``odm_engine`` (each call a new unit, as each use case of a service gets)."""

    def make(unit: type[U], /, **options: Any) -> U:
        return unit(odm_engine, **options)

    return make


@pytest.fixture
def auow_factory(odm_aengine: odm.AIOEngine) -> Callable[..., Any]:
    """``auow_factory(AsyncBankUnit, **options)``: a new async unit of work on
    ``odm_aengine``."""

    def make(unit: type[AU], /, **options: Any) -> AU:
        return unit(odm_aengine, **options)

    return make
