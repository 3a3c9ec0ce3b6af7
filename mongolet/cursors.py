"""Server-side cursors: lazily produced result streams handed out in batches.

A cursor holds an iterator over its remaining documents; it is produced lazily so a find
with a small limit never reads a whole collection. Batches stop at the requested count or
at 16 MiB of BSON, as on mongod. A cursor opened in a transaction reads through that
transaction's view, so getMore sees the transaction's snapshot.

An *awaitable* cursor (a change stream, a tailable cursor on a capped collection) has a
``stream`` instead: getMore asks it for the next batch, and it may wait for new data.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any, Protocol

import bson
from bson import Int64

from mongolet.errors import MongoError

MAX_BATCH_BYTES = 16 * 1024 * 1024
DEFAULT_FIRST_BATCH = 101


class AwaitableStream(Protocol):
    async def get_more(self, batch_size: int | None, max_await: float | None
                       ) -> tuple[list[dict[str, Any]], bool, dict[str, Any]]:
        """The next batch (waiting up to ``max_await`` seconds, None: the stream's
        default), whether the stream is over, extra fields for the cursor document."""
        ...


class Cursor:
    __slots__ = ("docs", "id", "ns", "session_id", "stream", "txn")

    def __init__(self, cursor_id: int, ns: str, docs: Iterator[dict[str, Any]],
                 session_id: Any, txn: Any) -> None:
        self.id = cursor_id
        self.ns = ns
        self.docs = docs
        self.session_id = session_id
        self.txn = txn
        self.stream: AwaitableStream | None = None


def take_batch(docs: Iterator[dict[str, Any]], count: int | None
               ) -> tuple[list[dict[str, Any]], Iterator[dict[str, Any]] | None]:
    """Up to ``count`` documents (None: as many as fit in 16 MiB), and the rest of ``docs``
    (None when nothing is left, so the cursor can close at once)."""
    batch: list[dict[str, Any]] = []
    size = 0
    for doc in docs:
        if len(batch) == count or size >= MAX_BATCH_BYTES:
            return batch, itertools.chain((doc,), docs)
        batch.append(doc)
        if count is None or count > DEFAULT_FIRST_BATCH:
            size += len(bson.encode(doc))
    return batch, None


class CursorRegistry:
    """Open cursors by id."""

    def __init__(self) -> None:
        self.cursors: dict[int, Cursor] = {}
        # Random-looking, never reused ids (the driver treats ids as opaque Int64s).
        self._ids = itertools.count(random.randint(1 << 20, 1 << 40))

    def open(self, ns: str, docs: Iterator[dict[str, Any]], session_id: Any, txn: Any) -> Cursor:
        cursor = Cursor(next(self._ids), ns, docs, session_id, txn)
        self.cursors[cursor.id] = cursor
        return cursor

    def get(self, cursor_id: int, ns: str) -> Cursor:
        cursor = self.cursors.get(cursor_id)
        if cursor is None:
            raise MongoError(43, f"cursor id {cursor_id} not found")
        if cursor.ns != ns:
            raise MongoError(13, f"Requested getMore on namespace '{ns}', but cursor belongs "
                                 f"to a different namespace {cursor.ns}")
        return cursor

    def kill(self, cursor_id: int) -> bool:
        return self.cursors.pop(cursor_id, None) is not None

    def kill_session(self, session_id: Any) -> None:
        for cursor_id in [c.id for c in self.cursors.values() if c.session_id == session_id]:
            del self.cursors[cursor_id]


def cursor_reply(ns: str, cursor_id: int, batch: list[dict[str, Any]], first: bool) -> dict[str, Any]:
    return {"cursor": {"id": Int64(cursor_id), "ns": ns,
                       "firstBatch" if first else "nextBatch": batch}, "ok": 1.0}
