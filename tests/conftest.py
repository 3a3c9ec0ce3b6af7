"""Fixtures shared by the whole suite: a real server and fresh databases on it.

The server is, in order of preference:

1. the MongoDB at ``MONGODB_URI`` when that variable is set (a replica set, so that
   transactions work);
2. a MongoDB 7 replica set in Docker through testcontainers, when a Docker engine answers
   (``MONGOLET_USE_DOCKER=0`` turns this off);
3. an embedded mongolet, started once per test process (once per xdist worker).

Every test gets a database of its own (``db`` / ``adb``), dropped afterwards, so tests can
share one server without seeing each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from pymongo import AsyncMongoClient, MongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.synchronous.database import Database

from tests.servers import real_mongodb, server_uri


@pytest.fixture(scope="session")
def mongodb_uri() -> Iterator[str]:
    """The connection string of the server the suite runs against."""
    with server_uri() as uri:
        yield uri


@pytest.fixture(scope="session")
def client(mongodb_uri: str) -> Iterator[MongoClient]:
    """One synchronous client for the whole session (clients are thread-safe pools)."""
    with MongoClient(mongodb_uri) as c:
        yield c


@pytest.fixture
def db_name() -> str:
    return f"t_{uuid.uuid4().hex[:16]}"


@pytest.fixture
def db(client: MongoClient, db_name: str) -> Iterator[Database]:
    """A fresh database for one test, dropped afterwards."""
    yield client[db_name]
    client.drop_database(db_name)


@pytest.fixture
async def aclient(mongodb_uri: str) -> AsyncIterator[AsyncMongoClient]:
    """An async client bound to this test's event loop."""
    c: AsyncMongoClient = AsyncMongoClient(mongodb_uri)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def adb(aclient: AsyncMongoClient, db_name: str) -> AsyncIterator[AsyncDatabase]:
    """A fresh database for one async test, dropped afterwards."""
    yield aclient[db_name]
    await aclient.drop_database(db_name)


def using_real_mongodb() -> bool:
    """True when the suite runs against a real MongoDB rather than mongolet: ``MONGODB_URI``
    or the testcontainers replica set (see :func:`tests.servers.real_mongodb`)."""
    return real_mongodb()
