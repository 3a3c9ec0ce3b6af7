"""What the odm and uow tests share to run one test body on both flavours: the sync-or-async
caller, the context opener, the command recorder and the monitored engine behind the twin
fixtures (``tests/odm/conftest.py``'s ``monitored``, ``tests/uow/conftest.py``'s ``twin``)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import bson
from bson.raw_bson import RawBSONDocument
from pymongo import AsyncMongoClient, MongoClient, monitoring

from odm import AIOEngine, SyncEngine


async def call(result: Any) -> Any:
    """The result of a call on either flavour: awaited for the async one, as is for sync."""
    if inspect.isawaitable(result):
        return await result
    return result


@asynccontextmanager
async def opened(context: Any) -> AsyncIterator[Any]:
    """``async with context`` for an async context manager (an AIO session or transaction,
    an ``AsyncUnitOfWork``), ``with context`` for a sync one."""
    if hasattr(context, "__aenter__"):
        async with context as value:
            yield value
    else:
        with context as value:
            yield value


class CommandRecorder(monitoring.CommandListener):
    """Keeps the commands a client sends (PyMongo command monitoring)."""

    def __init__(self) -> None:
        self.started_events: list[monitoring.CommandStartedEvent] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.started_events.append(event)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def named(self, name: str) -> list[dict[str, Any]]:
        return [dict(event.command) for event in self.started_events if event.command_name == name]

    def clear(self) -> None:
        self.started_events.clear()

    def update_statements(self) -> list[dict[str, Any]]:
        """The update statements sent (``{"q", "u", ...}``), from ``update`` commands or the
        update ops of MongoDB 8.0's ``bulkWrite`` command alike."""
        return self._statements("update", "updates", {"filter": "q", "updateMods": "u"})

    def delete_statements(self) -> list[dict[str, Any]]:
        """The delete statements sent (``{"q", "limit"}``), from either command."""
        return self._statements("delete", "deletes", {"filter": "q"})

    def _statements(self, command: str, field: str, names: dict[str, str]
                    ) -> list[dict[str, Any]]:
        statements: list[dict[str, Any]] = []
        for event in self.started_events:
            if event.command_name == command:
                statements.extend(dict(s) for s in event.command[field])
            elif event.command_name == "bulkWrite":
                statements.extend({names.get(k, k): _plain(v) for k, v in op.items()}
                                  for op in event.command["ops"] if command in op)
        return statements


def _plain(value: Any) -> Any:
    """A document the flush sent pre-encoded (RawBSONDocument), as a dict."""
    return bson.decode(value.raw) if isinstance(value, RawBSONDocument) else value


@asynccontextmanager
async def monitored_engine(
    flavour: str, uri: str, database: str, recorder: CommandRecorder, *, hello: bool = False
) -> AsyncIterator[SyncEngine | AIOEngine]:
    """A ``"sync"`` or ``"async"`` engine whose client reports every command to ``recorder``;
    its database dropped and its client closed afterwards. ``hello=True`` sends the
    engine's one ``hello`` first (out of the commands a test counts)."""
    if flavour == "sync":
        client: MongoClient[Any] = MongoClient(uri, event_listeners=[recorder])
        engine = SyncEngine(client, database=database)
        if hello:
            engine.check_transactions_supported()
        try:
            yield engine
        finally:
            client.drop_database(database)
            client.close()
    else:
        aclient: AsyncMongoClient[Any] = AsyncMongoClient(uri, event_listeners=[recorder])
        aengine = AIOEngine(aclient, database=database)
        if hello:
            await aengine.check_transactions_supported()
        try:
            yield aengine
        finally:
            await aclient.drop_database(database)
            await aclient.close()
