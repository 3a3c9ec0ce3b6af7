"""Helpers that let one test body drive either engine (sync calls are simply not awaited)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import bson
from bson.raw_bson import RawBSONDocument
from pymongo import monitoring

from odm import AIOCursor, AIOEngine, AIOSession, SyncEngine, SyncSession


async def call(result: Any) -> Any:
    """The result of an engine call: awaited for the async engine, as is for the sync one."""
    if inspect.isawaitable(result):
        return await result
    return result


async def find(engine: SyncEngine | AIOEngine | AIOSession | SyncSession, *args: Any, **kwargs: Any) -> list[Any]:
    cursor = engine.find(*args, **kwargs)
    if isinstance(cursor, AIOCursor):
        return await cursor
    return list(cursor)


@asynccontextmanager
async def session(engine: SyncEngine | AIOEngine) -> AsyncIterator[Any]:
    if isinstance(engine, AIOEngine):
        async with engine.session() as s:
            yield s
    else:
        with engine.session() as s:
            yield s


@asynccontextmanager
async def transaction(engine: SyncEngine | AIOEngine) -> AsyncIterator[Any]:
    if isinstance(engine, AIOEngine):
        async with engine.transaction() as t:
            yield t
    else:
        with engine.transaction() as t:
            yield t


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
async def transaction_in(session: AIOSession | SyncSession) -> AsyncIterator[Any]:
    """``session.transaction()`` as a block, for either flavour."""
    if isinstance(session, AIOSession):
        async with session.transaction() as t:
            yield t
    else:
        with session.transaction() as t:
            yield t
