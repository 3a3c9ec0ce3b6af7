"""The I/O a relay asks for, on raw collections of the engine's database (sync or async).

Like :mod:`uow.effects`, each effect is one driver call (:class:`Renewing`: the publisher's,
with the lease renewal beside it); the relay's logic
(:mod:`uow.outbox.delivery`) yields them and the drivers (:mod:`uow.outbox.relay`) run them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import PyMongoError

from odm.engine.effects import Effect, Steps, drive_async, drive_sync, maybe_await
from uow.effects import Call


def _collection(engine: Any, name: str) -> Any:
    return engine.database.get_collection(name)


@dataclass(frozen=True)
class Aggregate(Effect):
    collection: str
    pipeline: Sequence[Mapping[str, Any]]

    def run_sync(self, engine: Any) -> list[dict[str, Any]]:
        return list(_collection(engine, self.collection).aggregate(list(self.pipeline)))

    async def run_async(self, engine: Any) -> list[dict[str, Any]]:
        cursor = await maybe_await(
            _collection(engine, self.collection).aggregate(list(self.pipeline))
        )
        return list(await cursor.to_list(None))


@dataclass(frozen=True)
class FindAll(Effect):
    collection: str
    filter: Mapping[str, Any]
    sort: Sequence[tuple[str, int]] = ()
    limit: int = 0

    def _cursor(self, engine: Any) -> Any:
        cursor = _collection(engine, self.collection).find(dict(self.filter), limit=self.limit)
        return cursor.sort(list(self.sort)) if self.sort else cursor

    def run_sync(self, engine: Any) -> list[dict[str, Any]]:
        return list(self._cursor(engine))

    async def run_async(self, engine: Any) -> list[dict[str, Any]]:
        return list(await self._cursor(engine).to_list(None))


@dataclass(frozen=True)
class Claim(Effect):
    """``findOneAndUpdate`` returning the document after the update (``None``: no match)."""

    collection: str
    filter: Mapping[str, Any]
    update: Mapping[str, Any]
    sort: Sequence[tuple[str, int]] | None = None

    def _call(self, engine: Any) -> Any:
        return _collection(engine, self.collection).find_one_and_update(
            dict(self.filter), dict(self.update), sort=list(self.sort) if self.sort else None,
            return_document=ReturnDocument.AFTER,
        )

    def run_sync(self, engine: Any) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self._call(engine)
        return result

    async def run_async(self, engine: Any) -> dict[str, Any] | None:
        result: dict[str, Any] | None = await self._call(engine)
        return result


@dataclass(frozen=True)
class Update(Effect):
    """``updateMany`` (``many``) or ``updateOne``; returns the number of documents matched."""

    collection: str
    filter: Mapping[str, Any]
    update: Mapping[str, Any]
    many: bool = False
    upsert: bool = False

    def _call(self, engine: Any) -> Any:
        collection = _collection(engine, self.collection)
        method = collection.update_many if self.many else collection.update_one
        return method(dict(self.filter), dict(self.update), upsert=self.upsert)

    def run_sync(self, engine: Any) -> int:
        return int(self._call(engine).matched_count)

    async def run_async(self, engine: Any) -> int:
        return int((await self._call(engine)).matched_count)


@dataclass(frozen=True)
class CreateIndexes(Effect):
    collection: str
    indexes: Sequence[Any]

    def run_sync(self, engine: Any) -> None:
        _collection(engine, self.collection).create_indexes(list(self.indexes))

    async def run_async(self, engine: Any) -> None:
        await _collection(engine, self.collection).create_indexes(list(self.indexes))


@dataclass(frozen=True)
class Watch(Effect):
    """A change stream on ``collection`` (resumed after ``resume_after`` when given) whose
    ``getMore`` waits up to ``max_await_ms`` for a change."""

    collection: str
    pipeline: Sequence[Mapping[str, Any]]
    resume_after: Mapping[str, Any] | None
    max_await_ms: int

    def _open(self, engine: Any) -> Any:
        return _collection(engine, self.collection).watch(
            list(self.pipeline), resume_after=self.resume_after,
            max_await_time_ms=self.max_await_ms,
        )

    def run_sync(self, engine: Any) -> Any:
        return self._open(engine)

    async def run_async(self, engine: Any) -> Any:
        return await maybe_await(self._open(engine))


@dataclass(frozen=True)
class NextChange(Effect):
    """The stream's next change, or ``None`` after waiting ``max_await_ms``; with the
    token to resume after it."""

    stream: Any

    def run_sync(self, engine: Any) -> tuple[Any, Any]:
        change = self.stream.try_next()
        return change, self.stream.resume_token

    async def run_async(self, engine: Any) -> tuple[Any, Any]:
        change = await self.stream.try_next()
        return change, self.stream.resume_token


@dataclass(frozen=True)
class CloseStream(Effect):
    stream: Any

    def run_sync(self, engine: Any) -> None:
        self.stream.close()

    async def run_async(self, engine: Any) -> None:
        await maybe_await(self.stream.close())


@dataclass(frozen=True)
class Renewing(Effect):
    """``call`` (the publisher), while ``renew()`` runs every ``every`` seconds beside it (a
    thread for the sync driver, a task for the async one) until it returns False (the lease
    is lost) or ``call`` returns. A failed renewal is tried again at the next tick."""

    call: Call
    renew: Callable[[], Steps[bool]]
    every: float

    def run_sync(self, engine: Any) -> Any:
        done = threading.Event()

        def renewing() -> None:
            while not done.wait(self.every):
                try:
                    if not drive_sync(self.renew(), engine):
                        return
                except PyMongoError:
                    pass  # the server is away for now: the final mark decides

        thread = threading.Thread(target=renewing, name="outbox-lease", daemon=True)
        thread.start()
        try:
            return self.call.run_sync(engine)
        finally:
            done.set()
            thread.join()

    async def run_async(self, engine: Any) -> Any:
        async def renewing() -> None:
            while True:
                await asyncio.sleep(self.every)
                try:
                    if not await drive_async(self.renew(), engine):
                        return
                except PyMongoError:
                    pass

        task = asyncio.create_task(renewing())
        try:
            return await self.call.run_async(engine)
        finally:
            task.cancel()
            await asyncio.wait({task})  # a cancellation of our own still propagates


__all__ = [
    "Aggregate",
    "Claim",
    "CloseStream",
    "CreateIndexes",
    "FindAll",
    "NextChange",
    "Renewing",
    "Update",
    "Watch",
]
