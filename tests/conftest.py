"""Fixtures shared by the whole suite: a real server and fresh databases on it.

The server is, in order of preference:

1. the MongoDB at ``MONGODB_URI`` when that variable is set (a replica set, so that
   transactions work);
2. a MongoDB 8.0 replica set in Docker through testcontainers, when a Docker engine answers
   (``MONGOLET_USE_DOCKER=0`` turns this off);
3. an embedded mongolet, started once per test process (once per xdist worker).

Every test gets a database of its own (``db`` / ``adb``), dropped afterwards, so tests can
share one server without seeing each other's data. The clients, databases and engines are
the fixtures of the library's pytest plugin (``pytest_odm_uow``, as users get it); this file
only chooses the server and keeps the suite's short names for them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest
from pymongo import AsyncMongoClient, MongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.synchronous.database import Database

import mongolet
from pytest_odm_uow import MongoDBServer
from tests.servers import real_mongodb, server_uri


@pytest.fixture(scope="session")
def mongodb_server() -> Iterator[MongoDBServer]:
    """The server the suite runs against (overrides the plugin's, to add the Docker replica
    set); the plugin's ``mongodb_uri``, clients, databases and engines stand on it."""
    with server_uri() as uri:
        yield MongoDBServer(uri, "mongodb" if real_mongodb() else "mongolet")


# The suite's short names for the plugin's fixtures (pytest_odm_uow.plugin).


@pytest.fixture(scope="session")
def client(mongodb_client: MongoClient) -> MongoClient:
    """One synchronous client for the whole session (clients are thread-safe pools)."""
    return mongodb_client


@pytest.fixture
def db_name(mongodb_db_name: str) -> str:
    return mongodb_db_name


@pytest.fixture
def db(mongodb_db: Database) -> Database:
    """A fresh database for one test, dropped afterwards."""
    return mongodb_db


@pytest.fixture
def aclient(mongodb_aclient: AsyncMongoClient) -> AsyncMongoClient:
    """An async client bound to this test's event loop."""
    return mongodb_aclient


@pytest.fixture
def adb(mongodb_adb: AsyncDatabase) -> AsyncDatabase:
    """A fresh database for one async test, dropped afterwards."""
    return mongodb_adb


def using_real_mongodb() -> bool:
    """True when the suite runs against a real MongoDB rather than mongolet: ``MONGODB_URI``
    or the testcontainers replica set (see :func:`tests.servers.real_mongodb`)."""
    return real_mongodb()


class MongoletVersions:
    """mongolets presenting each MongoDB release, with test commands on, started on first
    use and stopped at the end of the session (one per release per test process)."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._uris: dict[str, str] = {}

    def uri(self, version: str) -> str:
        if version not in self._uris:
            server = self._stack.enter_context(mongolet.serve(
                version=version, enable_test_commands=True,
                mode=os.environ.get("MONGOLET_MODE", "thread")))  # type: ignore[arg-type]
            self._uris[version] = server.uri
        return self._uris[version]

    def close(self) -> None:
        self._stack.close()


@pytest.fixture(scope="session")
def mongolet_versions() -> Iterator[MongoletVersions]:
    servers = MongoletVersions()
    yield servers
    servers.close()


@pytest.fixture(params=["8.0", "7.0"])
def server_version(request: pytest.FixtureRequest) -> str:
    """Run the test once against a mongolet presenting each release (see ``versioned_uri``)."""
    return str(request.param)


@pytest.fixture
def versioned_uri(mongolet_versions: MongoletVersions, server_version: str) -> str:
    """The connection string of a mongolet presenting ``server_version`` (8.0: the
    ``bulkWrite`` command, wire version 25; 7.0: wire version 21)."""
    return mongolet_versions.uri(server_version)
