"""Capped collections and tailable cursors on them.

A capped collection keeps at most ``max`` documents and ``size`` bytes: an insert past either
bound removes the oldest documents (``trim``). A ``find`` with ``tailable`` on one returns a
cursor that stays open at the end of the collection: a later getMore returns the documents
inserted since, and with ``awaitData`` waits up to ``maxTimeMS`` (one second by default) for
them. New writes wake it through the change history (every insert records an entry).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any

import bson

from mongolet.changes import ChangeHistory
from mongolet.commands.registry import CommandContext
from mongolet.errors import MongoError
from mongolet.storage import Collection

DEFAULT_AWAIT_SECONDS = 1.0


def is_capped(coll: Collection | None) -> bool:
    return coll is not None and bool(coll.options.get("capped"))


async def trim(ctx: CommandContext, coll: Collection) -> None:
    """Remove the oldest documents of capped ``coll`` beyond its ``max`` and ``size``."""
    if not is_capped(coll) or ctx.txn is not None:
        return
    max_docs = int(coll.options.get("max") or 0)
    max_bytes = int(coll.options.get("size") or 0)
    docs = [(record, doc) for record, doc in ctx.view.documents(coll)]
    total = sum(len(bson.encode(doc)) for _, doc in docs) if max_bytes else 0
    for record, doc in docs:
        over_count = max_docs and len(docs) > max_docs
        if not over_count and not (max_bytes and total > max_bytes):
            break
        if await ctx.view.put(coll, record, None, doc):
            total -= len(bson.encode(doc)) if max_bytes else 0
        docs = docs[1:]


class TailStream:
    """A tailable cursor's position in a capped collection: the last record it returned."""

    def __init__(self, ctx: CommandContext, coll: Collection,
                 predicate: Callable[[dict[str, Any]], bool] | None,
                 project: Callable[[dict[str, Any]], dict[str, Any]] | None,
                 await_data: bool, last: Hashable | None) -> None:
        self.view = ctx.view
        self.store = ctx.state.store
        self.history: ChangeHistory = ctx.state.changes
        self.coll = coll
        self.predicate = predicate
        self.project = project
        self.await_data = await_data
        self.last = last

    def _new(self, limit: int | None) -> list[dict[str, Any]]:
        if not self.store.holds(self.coll):
            raise MongoError(43, f"collection dropped: cursor on {self.coll.ns} is dead")
        keys = list(self.coll.records)
        start = 0
        if self.last is not None:
            try:
                start = keys.index(self.last) + 1
            except ValueError:
                raise MongoError(136, "CollectionScan died due to position in capped "
                                      "collection being deleted.") from None
        batch: list[dict[str, Any]] = []
        for key in keys[start:]:
            if limit is not None and len(batch) >= limit:
                break
            doc = self.coll.records[key].latest
            if doc is None:
                continue
            self.last = key
            if self.predicate is not None and not self.predicate(doc):
                continue
            batch.append(self.project(doc) if self.project is not None else doc)
        return batch

    async def get_more(self, batch_size: int | None, max_await: float | None
                       ) -> tuple[list[dict[str, Any]], bool, dict[str, Any]]:
        wait = DEFAULT_AWAIT_SECONDS if max_await is None else max_await
        deadline = time.monotonic() + (wait if self.await_data else 0.0)
        while True:
            batch = self._new(batch_size)
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0:
                return batch, False, {}
            await self.history.wait(remaining)


def open_tailable(ctx: CommandContext, ns: str, coll: Collection | None,
                  filter: dict[str, Any] | None,
                  project: Callable[[dict[str, Any]], dict[str, Any]] | None,
                  batch_size: int | None) -> dict[str, Any]:
    """Answer a tailable ``find``: a first batch, and a cursor that stays open."""
    from mongolet.commands.selection import compile_filter
    from mongolet.cursors import cursor_reply

    body = ctx.body
    if not is_capped(coll):
        raise MongoError(2, "error processing query: tailable cursor requested on non capped "
                            "collection")
    assert coll is not None
    sort = body.get("sort")
    if sort and sort != {"$natural": 1}:
        raise MongoError(2, "cannot use tailable option with a sort other than {$natural: 1}")
    predicate = compile_filter(filter) if filter else None
    stream = TailStream(ctx, coll, predicate, project, bool(body.get("awaitData")), None)
    batch = stream._new(batch_size)
    cursor = ctx.state.cursors.open(ns, iter(()), ctx.session_id(), None)
    cursor.stream = stream
    if ctx.session is not None:
        ctx.session.cursor_ids.add(cursor.id)
    return cursor_reply(ns, cursor.id, batch, first=True)
