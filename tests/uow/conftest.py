"""Units of work on both twins: every test body drives a sync or an async unit.

Sync calls are not awaited; :func:`call` awaits what is awaitable, and :func:`entered`
enters either kind of unit, so one test body checks both twins.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from pymongo import AsyncMongoClient, MongoClient

from odm import AIOEngine, SyncEngine
from tests.odm.helpers import CommandRecorder
from tests.uow.models import AsyncBankUnit, BankUnit
from uow import AsyncUnitOfWork, UnitOfWork

Unit = BankUnit | AsyncBankUnit


async def call(result: Any) -> Any:
    """Await the async twin's results; the sync twin's are already there."""
    return await result if inspect.isawaitable(result) else result


@asynccontextmanager
async def entered(unit: UnitOfWork | AsyncUnitOfWork) -> AsyncIterator[Any]:
    """``with unit`` or ``async with unit``."""
    if isinstance(unit, AsyncUnitOfWork):
        async with unit as u:
            yield u
    else:
        with unit as u:
            yield u


class Twin:
    """One flavour under test: its engine (on a monitored client) and a unit factory."""

    def __init__(self, flavour: str, engine: SyncEngine | AIOEngine, recorder: CommandRecorder):
        self.flavour = flavour
        self.engine = engine
        self.recorder = recorder
        self.unit_class: Callable[..., Any] = BankUnit if flavour == "sync" else AsyncBankUnit

    def unit(self, **options: Any) -> Any:
        return self.unit_class(self.engine, **options)

    async def save(self, *models: Any) -> None:
        await call(self.engine.save_all(list(models)))

    async def reload(self, model: Any) -> Any:
        return await call(self.engine.find_one(type(model), type(model).id == model.id))

    async def count(self, model: type, *queries: Any) -> int:
        return int(await call(self.engine.count(model, *queries)))


@pytest.fixture
def recorder() -> CommandRecorder:
    return CommandRecorder()


@pytest.fixture(params=["sync", "async"])
async def twin(
    request: pytest.FixtureRequest, mongodb_uri: str, db_name: str, recorder: CommandRecorder
) -> AsyncIterator[Twin]:
    """The same test on ``UnitOfWork`` and ``AsyncUnitOfWork``, on a fresh database."""
    if request.param == "sync":
        client: MongoClient = MongoClient(mongodb_uri, event_listeners=[recorder])
        engine = SyncEngine(client, database=db_name)
        engine.check_transactions_supported()  # its one hello, out of the counted commands
        yield Twin("sync", engine, recorder)
        client.drop_database(db_name)
        client.close()
    else:
        aclient: AsyncMongoClient = AsyncMongoClient(mongodb_uri, event_listeners=[recorder])
        aengine = AIOEngine(aclient, database=db_name)
        await aengine.check_transactions_supported()
        yield Twin("async", aengine, recorder)
        await aclient.drop_database(db_name)
        await aclient.close()
