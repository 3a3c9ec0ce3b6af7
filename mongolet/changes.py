"""The change history (mongod's oplog): a bounded, ordered record of committed changes.

The store tells a ``ChangeHistory`` of every change it publishes (``storage.ChangeObserver``):
document writes at their commit (a transaction's writes all at its commit, in the order it
made them, with its ``lsid`` and ``txnNumber``), and catalog changes (create, drop, rename,
dropDatabase; the command layer adds index and option changes). Each becomes an *entry*, a
BSON-encodable document, at a cluster time named as ``operationTime`` names commits
(``Timestamp(epoch, ts + 1)``), with its index within that commit. Change streams
(``mongolet.commands.change_streams``) read entries after a position and wait for new ones.

The history keeps the newest ``size`` entries; a position older than the oldest dropped one
is lost (ChangeStreamHistoryLost). With a data directory the entries are journaled through a
``ChangeSink`` as they are recorded and kept in checkpoints, so a consumer resumes after a
restart.

Entry fields: ``t`` cluster time, ``i`` index in the commit, ``op`` operationType, ``db``,
``coll``, ``uuid``, ``key`` (documentKey), ``doc`` (the document after: always for insert
and replace, for update when the collection keeps post-images), ``pre`` (the document
before, when the collection keeps pre-images), ``upd`` (updateDescription), ``lsid`` and
``txn`` (transactions), ``to`` (rename target), ``desc`` (operationDescription), ``wall``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import sys
from collections import deque
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

from bson import Int64, Timestamp

if TYPE_CHECKING:
    from mongolet.storage import Collection, DocumentChange

DEFAULT_SIZE = 100_000
# A position: (seconds, increment, index in the commit, after-invalidate flag).
Position = tuple[int, int, int, int]
LAST_INDEX = 0x7FFFFFFF
DATABASE_EVENT = "dropDatabase"

# How the running command writes a document that exists: "update" or "replace" (the
# command layer sets it around a replacement; storage only sees before and after).
_WRITE_KIND: ContextVar[str] = ContextVar("mongolet_write_kind", default="update")


@contextlib.contextmanager
def replacing(replace: bool = True) -> Iterator[None]:
    """Writes in this block that change an existing document are replacements."""
    token = _WRITE_KIND.set("replace" if replace else "update")
    try:
        yield
    finally:
        _WRITE_KIND.reset(token)


def write_kind() -> str:
    return _WRITE_KIND.get()


class ChangeSink(Protocol):
    """Keeps entries across restarts (``mongolet.durability``)."""

    def changes_recorded(self, entries: list[dict[str, Any]]) -> None: ...


def position_of(entry: dict[str, Any], invalidate: bool = False) -> Position:
    t = entry["t"]
    return (t.time, t.inc, entry["i"], 1 if invalidate else 0)


def encode_token(position: Position) -> dict[str, Any]:
    """A resume token (``{_data: hex}``, opaque to drivers, as mongod's)."""
    secs, inc, index, flag = position
    return {"_data": f"82{secs:08X}{inc:08X}{index + 1:08X}{flag:02X}"}


def decode_token(token: Any) -> Position | None:
    """The position a resume token names (None: not one of ours)."""
    data = token.get("_data") if isinstance(token, dict) else None
    if not isinstance(data, str) or len(data) != 28 or not data.startswith("82"):
        return None
    try:
        return (int(data[2:10], 16), int(data[10:18], 16), int(data[18:26], 16) - 1,
                int(data[26:28], 16))
    except ValueError:
        return None


def update_description(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What an update changed, as mongod reports it: updated fields by dotted path (into
    sub-documents and array elements that stayed), removed fields, truncated arrays; and
    (``disambiguatedPaths``, shown on request) the paths a dotted string leaves ambiguous,
    as arrays of components with array indexes as integers."""
    diff = _Diff()
    diff.documents(before, after, [])
    return {"updatedFields": diff.updated, "removedFields": diff.removed,
            "truncatedArrays": diff.truncated, "disambiguatedPaths": diff.ambiguous}


class _Diff:
    def __init__(self) -> None:
        self.updated: dict[str, Any] = {}
        self.removed: list[str] = []
        self.truncated: list[dict[str, Any]] = []
        self.ambiguous: dict[str, Any] = {}

    def _path(self, parts: list[str | int]) -> str:
        path = ".".join(str(p) for p in parts)
        if any(isinstance(p, int) or p.isdigit() or "." in p for p in parts):
            self.ambiguous[path] = list(parts)
        return path

    def documents(self, old: dict[str, Any], new: dict[str, Any],
                  parts: list[str | int]) -> None:
        for name, value in new.items():
            if name not in old:
                self.updated[self._path([*parts, name])] = value
            else:
                self.value(old[name], value, [*parts, name])
        for name in old:
            if name not in new:
                self.removed.append(self._path([*parts, name]))

    def value(self, old: Any, new: Any, parts: list[str | int]) -> None:
        if old is new or _same(old, new):
            return
        if isinstance(old, dict) and isinstance(new, dict) and new and old:
            self.documents(old, new, parts)
        elif isinstance(old, list) and isinstance(new, list) and new and old:
            if len(new) < len(old):
                self.truncated.append({"field": self._path(parts), "newSize": len(new)})
            for i, item in enumerate(new):
                if i >= len(old):
                    self.updated[self._path([*parts, i])] = item
                else:
                    self.value(old[i], item, [*parts, i])
        else:
            self.updated[self._path(parts)] = new


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _pre_post_images(coll: Collection) -> bool:
    option = coll.options.get("changeStreamPreAndPostImages")
    return isinstance(option, dict) and bool(option.get("enabled"))


class ChangeHistory:
    """The newest ``size`` change entries, and the waiters for new ones."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        if size < 1:
            raise ValueError(f"change history size must be at least 1, not {size}")
        self.size = size
        self.entries: deque[dict[str, Any]] = deque()
        # Seconds of the cluster times this server names (the server's start).
        self.epoch = int(datetime.datetime.now(datetime.UTC).timestamp())
        # Positions before this one may have lost entries (dropped or before the start).
        self.lost_before: Position = (0, 0, 0, 0)
        self._loaded = False  # entries or a state came from a data directory
        self._lost_clock: int | None = None  # commits up to this time have no entries
        self.sink: ChangeSink | None = None
        self._arrived: asyncio.Event | None = None

    # -- positions ---------------------------------------------------------------------------

    def now(self, clock: int) -> Position:
        """The position after every change up to commit time ``clock`` (a high-water
        mark: later changes come after it)."""
        return (self.epoch, clock + 1, LAST_INDEX, 0)

    def cluster_time(self, ts: int) -> Timestamp:
        """The cluster time naming commit time ``ts`` (as ``operationTime`` does)."""
        return Timestamp(self.epoch, ts + 1)

    def is_lost(self, position: Position) -> bool:
        return position < self.lost_before

    def after(self, position: Position) -> Iterator[dict[str, Any]]:
        """The entries after ``position`` (an entry and the invalidate it may cause share
        a position but for the flag), oldest first; safe against later appends."""
        entries = self.entries
        lo, hi = 0, len(entries)
        probe = position[:3]
        while lo < hi:
            mid = (lo + hi) // 2
            t = entries[mid]["t"]
            if (t.time, t.inc, entries[mid]["i"]) < probe:
                lo = mid + 1
            else:
                hi = mid
        for i in range(lo, len(entries)):
            if i >= len(entries):
                return
            yield entries[i]

    async def wait(self, timeout: float) -> None:
        """Until new entries arrive or ``timeout`` seconds pass (the loop keeps running)."""
        if timeout <= 0:
            return
        if self._arrived is None:
            self._arrived = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._arrived.wait(), timeout)

    # -- recording -----------------------------------------------------------------------------

    def record(self, entries: list[dict[str, Any]]) -> None:
        """Append ``entries`` (one commit's, in order), journal them, wake the waiters."""
        if not entries:
            return
        if self.sink is not None:
            try:
                self.sink.changes_recorded(entries)
            except Exception as exc:  # the data is committed; only its events are not durable
                print(f"mongolet: change events not journaled ({exc})", file=sys.stderr,
                      flush=True)
        self.restore(entries)
        if self._arrived is not None:
            self._arrived.set()
            self._arrived = None

    def restore(self, entries: Sequence[dict[str, Any]]) -> None:
        """Append entries kept on disk (or just recorded), dropping the oldest beyond size."""
        self.entries.extend(entries)
        self._loaded = True
        while len(self.entries) > self.size:
            self.lost_before = position_of(self.entries.popleft())

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps: the entries and where history was lost."""
        return {"e": list(self.entries), "lost": list(self.lost_before)}

    def load_state(self, state: dict[str, Any], append: bool = False) -> None:
        """Take the state a checkpoint kept (``append``: one more part of it)."""
        if not append:
            self.entries.clear()
        saved: Position = tuple(state["lost"])
        self.lost_before = max(self.lost_before, saved)
        self.restore(state["e"])
        self._loaded = True

    def lose_through(self, clock: int) -> None:
        """Commits up to time ``clock`` (of a previous run) have no entries here: positions
        up to it are lost (decided when this run's epoch is known, ``started``)."""
        self._lost_clock = clock
        self._loaded = True

    def started(self, epoch: int) -> int:
        """Name this run's cluster times with ``epoch`` seconds, later than any kept entry's
        (so positions stay ordered across restarts); the epoch used."""
        last = self.entries[-1]["t"].time if self.entries else 0
        self.epoch = max(epoch, last + 1, self.lost_before[0] + 1)
        if not self._loaded:  # nothing known from before this start
            self.lost_before = (self.epoch, 0, LAST_INDEX, 0)
        if self._lost_clock is not None:  # this run's epoch sorts after every older position
            self.lost_before = max(self.lost_before,
                                   (self.epoch, self._lost_clock + 1, LAST_INDEX, 0))
        return self.epoch

    # -- the store's observer (storage.ChangeObserver) ------------------------------------------

    def _entry(self, ts: int, index: int, op: str, coll: Collection | None, db: str,
               **fields: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "t": self.cluster_time(ts), "i": index, "op": op, "db": db,
            "wall": datetime.datetime.now(datetime.UTC)}
        if coll is not None:
            entry["coll"] = coll.name
            entry["uuid"] = coll.uuid
        entry.update(fields)
        return entry

    def documents_committed(self, ts: int, changes: Sequence[DocumentChange],
                            lsid: Any = None, txn_number: int | None = None,
                            created: Sequence[Collection] = ()) -> None:
        entries = [self._entry(ts, i, "create", coll, coll.db, desc=_create_description(coll))
                   for i, coll in enumerate(created)]
        for coll, before, after, kind in changes:
            if before is None and after is None:
                continue
            entry = self._document_entry(ts, len(entries), coll, before, after, kind)
            if lsid is not None:
                entry["lsid"] = lsid
                entry["txn"] = Int64(txn_number or 0)
            entries.append(entry)
        self.record(entries)

    def _document_entry(self, ts: int, index: int, coll: Collection,
                        before: dict[str, Any] | None, after: dict[str, Any] | None,
                        kind: str | None) -> dict[str, Any]:
        images = _pre_post_images(coll)
        source = after if after is not None else before
        assert source is not None
        fields: dict[str, Any] = {"key": {"_id": source["_id"]}}
        if before is None:
            op = "insert"
            fields["doc"] = after
        elif after is None:
            op = "delete"
        else:
            op = kind or write_kind()
            if op == "replace":
                fields["doc"] = after
            else:
                fields["upd"] = update_description(before, after)
                if images:
                    fields["doc"] = after
        if images and before is not None:
            fields["pre"] = before
        return self._entry(ts, index, op, coll, coll.db, **fields)

    def collection_created(self, coll: Collection, ts: int) -> None:
        self.record([self._entry(ts, 0, "create", coll, coll.db,
                                 desc=_create_description(coll))])

    def collection_dropped(self, coll: Collection, ts: int) -> None:
        self.record([self._entry(ts, 0, "drop", coll, coll.db)])

    def database_dropped(self, db: str, colls: Sequence[Collection], ts: int) -> None:
        entries = [self._entry(ts, i, "drop", coll, db) for i, coll in enumerate(colls)]
        entries.append(self._entry(ts, len(entries), DATABASE_EVENT, None, db))
        self.record(entries)

    def collection_renamed(self, coll: Collection, from_db: str, from_name: str,
                           replaced: Collection | None, ts: int) -> None:
        to = {"db": coll.db, "coll": coll.name}
        desc: dict[str, Any] = {"to": to}
        if replaced is not None:
            desc["dropTarget"] = replaced.uuid
        entry = self._entry(ts, 0, "rename", None, from_db, to=to, desc=desc)
        entry["coll"], entry["uuid"] = from_name, coll.uuid
        self.record([entry])

    def catalog_changed(self, ts: int, op: str, coll: Collection,
                        description: dict[str, Any], **fields: Any) -> None:
        """An index or option change (the command layer tells: createIndexes, dropIndexes,
        modify)."""
        self.record([self._entry(ts, 0, op, coll, coll.db, desc=description, **fields)])


def _create_description(coll: Collection) -> dict[str, Any]:
    if "viewOn" in coll.options:
        return {"viewOn": coll.options["viewOn"], "pipeline": coll.options.get("pipeline", [])}
    desc: dict[str, Any] = {"idIndex": {"v": 2, "key": {"_id": 1}, "name": "_id_"}}
    options = {k: v for k, v in coll.options.items() if k not in ("viewOn", "pipeline")}
    desc.update(options)
    return desc


__all__ = ["DEFAULT_SIZE", "ChangeHistory", "ChangeSink", "Position", "decode_token",
           "encode_token", "replacing", "update_description"]
