"""Helpers that let one test body drive either engine (sync calls are simply not awaited);
the shared ones live in :mod:`tests.support`."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from odm import AIOCursor, AIOEngine, AIOSession, SyncEngine, SyncSession
from tests.support import CommandRecorder, call, opened

__all__ = ["CommandRecorder", "call", "find", "session", "transaction", "transaction_in"]


async def find(engine: SyncEngine | AIOEngine | AIOSession | SyncSession, *args: Any, **kwargs: Any) -> list[Any]:
    cursor = engine.find(*args, **kwargs)
    if isinstance(cursor, AIOCursor):
        return await cursor
    return list(cursor)


def session(engine: SyncEngine | AIOEngine) -> AbstractAsyncContextManager[Any]:
    """``engine.session()`` as a block, for either flavour."""
    return opened(engine.session())


def transaction(engine: SyncEngine | AIOEngine) -> AbstractAsyncContextManager[Any]:
    """``engine.transaction()`` as a block, for either flavour."""
    return opened(engine.transaction())


def transaction_in(session: AIOSession | SyncSession) -> AbstractAsyncContextManager[Any]:
    """``session.transaction()`` as a block, for either flavour."""
    return opened(session.transaction())
