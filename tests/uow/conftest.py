"""Units of work on both twins: every test body drives a sync or an async unit.

Sync calls are not awaited; :func:`call` awaits what is awaitable, and :func:`entered`
enters either kind of unit, so one test body checks both twins.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from odm import AIOEngine, SyncEngine
from tests.conftest import MongoletVersions
from tests.support import CommandRecorder, call, monitored_engine, opened
from tests.uow.models import AsyncBankUnit, BankUnit
from uow import AsyncUnitOfWork, UnitOfWork

Unit = BankUnit | AsyncBankUnit


def entered(unit: UnitOfWork | AsyncUnitOfWork) -> AbstractAsyncContextManager[Any]:
    """``with unit`` or ``async with unit``."""
    return opened(unit)


class Twin:
    """One flavour under test: its engine (on a monitored client) and a unit factory."""

    def __init__(self, flavour: str, engine: SyncEngine | AIOEngine, recorder: CommandRecorder,
                 uri: str, version: str = "8.0"):
        self.flavour = flavour
        self.uri = uri
        self.engine = engine
        self.recorder = recorder
        self.version = version  # the MongoDB release the server presents
        self.unit_class: Callable[..., Any] = BankUnit if flavour == "sync" else AsyncBankUnit

    def unit(self, **options: Any) -> Any:
        return self.unit_class(self.engine, **options)

    async def save(self, *models: Any) -> None:
        await call(self.engine.save_all(list(models)))

    async def reload(self, model: Any) -> Any:
        return await call(self.engine.find_one(type(model), type(model).id == model.id))

    async def count(self, model: type, *queries: Any) -> int:
        return int(await call(self.engine.count(model, *queries)))

    @property
    def one_write_command(self) -> bool:
        """Whether a flush sends one ``bulkWrite`` for every collection (MongoDB 8.0)."""
        return self.engine.client_bulk_write_supported()

    def write_commands(self) -> list[str]:
        """The names of the write commands sent, in order."""
        return [e.command_name for e in self.recorder.started_events
                if e.command_name in ("insert", "update", "delete", "bulkWrite")]


@pytest.fixture
def recorder() -> CommandRecorder:
    return CommandRecorder()


@pytest.fixture(params=[("sync", "8.0"), ("async", "8.0"), ("sync", "7.0"), ("async", "7.0")],
                ids=["sync", "async", "sync-7.0", "async-7.0"])
async def twin(
    request: pytest.FixtureRequest, mongodb_uri: str, mongolet_versions: MongoletVersions,
    db_name: str, recorder: CommandRecorder,
) -> AsyncIterator[Twin]:
    """The same test on ``UnitOfWork`` and ``AsyncUnitOfWork``, on a fresh database of the
    suite's server (MongoDB 8.0: a flush is one ``bulkWrite``) and of a mongolet presenting
    7.0 (one write command per collection)."""
    flavour, version = request.param
    uri = mongodb_uri if version == "8.0" else mongolet_versions.uri(version)
    # hello=True: the engine's one hello, out of the counted commands
    async with monitored_engine(flavour, uri, db_name, recorder, hello=True) as engine:
        yield Twin(flavour, engine, recorder, uri, version)
