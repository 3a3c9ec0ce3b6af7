"""Engines for the odm tests: every server test runs on the sync and the async engine."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient, MongoClient

from odm import AIOEngine, SyncEngine
from tests.support import CommandRecorder, monitored_engine

Engine = SyncEngine | AIOEngine


@pytest.fixture
def sync_engine(client: MongoClient, db: object, db_name: str) -> SyncEngine:
    return SyncEngine(client, database=db_name)


@pytest.fixture
async def aio_engine(aclient: AsyncMongoClient, adb: object, db_name: str) -> AIOEngine:
    return AIOEngine(aclient, database=db_name)


@pytest.fixture(params=["sync", "aio"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """The same test on both engines."""
    engine: Engine = request.getfixturevalue(f"{request.param}_engine")
    return engine


@pytest.fixture
def recorder() -> CommandRecorder:
    return CommandRecorder()


@pytest.fixture(params=["sync", "aio"])
async def monitored(
    request: pytest.FixtureRequest, mongodb_uri: str, db_name: str, recorder: CommandRecorder
) -> AsyncIterator[Engine]:
    """An engine whose client reports every command it sends to ``recorder``."""
    flavour = "sync" if request.param == "sync" else "async"
    async with monitored_engine(flavour, mongodb_uri, db_name, recorder) as engine:
        yield engine
