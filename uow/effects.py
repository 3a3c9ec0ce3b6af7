"""The I/O a unit of work asks for beyond odm's, each runnable by the sync or the async engine.

The unit's logic is written once, as generators that *yield* these effects and receive
their results (see :mod:`uow.core`); :class:`~uow.unit.UnitOfWork` runs them with
:func:`~odm.engine.effects.drive_sync` and :class:`~uow.unit.AsyncUnitOfWork` awaits
:func:`~odm.engine.effects.drive_async`. The effects, drivers and session lifecycle effects
are odm's (:mod:`odm.engine.effects`, re-exported here); this module adds the unit's own
(bulk writes, cursors, user calls). Each effect is one driver call, nothing more.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from odm import Model
from odm.engine.effects import (
    Abort,
    CheckTransactions,
    Commit,
    DriverCall,
    Effect,
    EndSession,
    StartSession,
    StartTransaction,
    Stepper,
    drive_async,
    drive_sync,
    maybe_await,
)
from odm.engine.effects import Steps as _Steps
from odm.query_compiler import FindRequest, SortArg

Steps = _Steps[Any]
"""A piece of unit-of-work logic: yields effects, receives their results."""


@dataclass(frozen=True)
class BulkWrite(Effect):
    """One ordered ``bulk_write`` on ``model``'s collection."""

    model: type[Model]
    requests: Sequence[Any]
    session: Any

    def run_sync(self, engine: Any) -> Any:
        collection = engine.get_collection(self.model)
        return collection.bulk_write(list(self.requests), ordered=True, session=self.session)

    async def run_async(self, engine: Any) -> Any:
        collection = engine.get_collection(self.model)
        return await collection.bulk_write(list(self.requests), ordered=True, session=self.session)


@dataclass(frozen=True)
class ClientBulkWrite(Effect):
    """One ordered ``client.bulk_write`` (MongoDB 8.0's ``bulkWrite`` command) of requests
    naming their namespaces (summary results: the reply lists errors only)."""

    requests: Sequence[Any]
    session: Any

    def run_sync(self, engine: Any) -> Any:
        return engine.client.bulk_write(list(self.requests), ordered=True, session=self.session)

    async def run_async(self, engine: Any) -> Any:
        return await engine.client.bulk_write(list(self.requests), ordered=True,
                                              session=self.session)


@dataclass(frozen=True)
class InsertDocuments(Effect):
    """One ``insert`` command of raw documents into the collection named ``collection``."""

    collection: str
    documents: Sequence[Mapping[str, Any]]
    session: Any

    def run_sync(self, engine: Any) -> Any:
        collection = engine.database.get_collection(self.collection)
        return collection.insert_many(list(self.documents), ordered=True, session=self.session)

    async def run_async(self, engine: Any) -> Any:
        collection = engine.database.get_collection(self.collection)
        return await collection.insert_many(
            list(self.documents), ordered=True, session=self.session
        )


@dataclass(frozen=True)
class Find(Effect):
    """``engine.find``: instances (not yet in the identity map)."""

    model: type[Model]
    queries: tuple[Any, ...]
    session: Any
    sort: SortArg = None
    skip: int = 0
    limit: int | None = None

    def _cursor(self, engine: Any) -> Any:
        return engine.find(
            self.model, *self.queries, sort=self.sort, skip=self.skip, limit=self.limit,
            session=self.session,
        )

    def run_sync(self, engine: Any) -> list[Model]:
        return list(self._cursor(engine).to_list())

    async def run_async(self, engine: Any) -> list[Model]:
        return list(await self._cursor(engine))


@dataclass(frozen=True)
class OpenCursor(Effect):
    """A server cursor over ``request`` (``projection`` applied) in batches of ``batch_size``
    (0: the server's default batches)."""

    request: FindRequest[Any]
    projection: Mapping[str, Any] | None
    batch_size: int
    session: Any

    def _open(self, engine: Any) -> Any:
        request = self.request
        collection = engine.get_collection(request.model)
        if request.pipeline is not None and self.projection is None:
            options = {"batchSize": self.batch_size} if self.batch_size else {}
            return collection.aggregate(request.pipeline, session=self.session, **options)
        return collection.find(
            request.filter, self.projection, session=self.session,
            batch_size=self.batch_size, **request.find_kwargs(),
        )

    def run_sync(self, engine: Any) -> Any:
        return self._open(engine)

    async def run_async(self, engine: Any) -> Any:
        return await maybe_await(self._open(engine))


@dataclass(frozen=True)
class FetchBatch(Effect):
    """Up to ``size`` raw documents from an open cursor (fewer only at its end)."""

    cursor: Any
    size: int

    def run_sync(self, engine: Any) -> list[dict[str, Any]]:
        return list(itertools.islice(self.cursor, self.size))

    async def run_async(self, engine: Any) -> list[dict[str, Any]]:
        return list(await self.cursor.to_list(self.size))


@dataclass(frozen=True)
class CloseCursor(Effect):
    cursor: Any

    def run_sync(self, engine: Any) -> None:
        self.cursor.close()

    async def run_async(self, engine: Any) -> None:
        await maybe_await(self.cursor.close())


@dataclass(frozen=True)
class Count(Effect):
    model: type[Model]
    queries: tuple[Any, ...]
    session: Any

    def run_sync(self, engine: Any) -> int:
        return int(engine.count(self.model, *self.queries, session=self.session))

    async def run_async(self, engine: Any) -> int:
        return int(await engine.count(self.model, *self.queries, session=self.session))


@dataclass(frozen=True)
class FindDocuments(Effect):
    """Raw documents (to tell which guarded write missed)."""

    model: type[Model]
    filter: Mapping[str, Any]
    session: Any

    def run_sync(self, engine: Any) -> list[dict[str, Any]]:
        return list(engine.get_collection(self.model).find(self.filter, session=self.session))

    async def run_async(self, engine: Any) -> list[dict[str, Any]]:
        cursor = engine.get_collection(self.model).find(self.filter, session=self.session)
        return list(await cursor.to_list(None))


@dataclass(frozen=True)
class Sleep(Effect):
    seconds: float

    def run_sync(self, engine: Any) -> None:
        time.sleep(self.seconds)

    async def run_async(self, engine: Any) -> None:
        await asyncio.sleep(self.seconds)


@dataclass(frozen=True)
class Call(Effect):
    """User code: a ``run`` callback or an event handler (awaited by the async unit)."""

    function: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def run_sync(self, engine: Any) -> Any:
        result = self.function(*self.args, **self.kwargs)
        if inspect.isawaitable(result):
            close = getattr(result, "close", None)
            if close is not None:
                close()  # never leave an un-awaited coroutine behind
            raise TypeError(
                f"{getattr(self.function, '__name__', self.function)!r} is a coroutine function: "
                "use AsyncUnitOfWork for async code"
            )
        return result

    async def run_async(self, engine: Any) -> Any:
        return await maybe_await(self.function(*self.args, **self.kwargs))


__all__ = [
    "Abort",
    "DriverCall",
    "Effect",
    "drive_async",
    "drive_sync",
    "maybe_await",
    "BulkWrite",
    "Call",
    "CheckTransactions",
    "ClientBulkWrite",
    "CloseCursor",
    "Commit",
    "Count",
    "EndSession",
    "FetchBatch",
    "Find",
    "FindDocuments",
    "InsertDocuments",
    "OpenCursor",
    "Sleep",
    "StartSession",
    "StartTransaction",
    "Steps",
    "Stepper",
]
