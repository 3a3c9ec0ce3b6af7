"""Multi-version storage: databases -> collections -> records -> committed versions.

Every committed write gets a timestamp from one logical clock. A record keeps a short chain
of ``(commit_ts, document | None)`` versions (``None`` is a deletion), so a transaction can
read the newest version at or before its snapshot while others keep writing. Versions that
no open snapshot can see any more are trimmed as new ones arrive.

Records live in a dict keyed by ``values.canonical_key(_id)``; the dict's insertion order is
the natural order a find without sort returns, as on mongod. Each index keeps ordered
entries (``indexes.IndexEntries``) for every version a record retains and for the version an
open transaction is writing, updated whenever those change.

A record being written by an open transaction is *locked* by it (``locked_by``): other
transactions then get WriteConflict, non-transactional writers wait for it to end. That
policy lives in ``mongolet.transactions``; here a lock is just something one can wait on.

A store may have a ``CommitSink`` (``mongolet.durability`` writes one to disk): every
committed change is handed to it *before* memory changes, so nothing becomes visible (or is
acknowledged) that the sink has not recorded; when the sink raises, nothing changes. Without
a sink (the default) the store lives in memory only. A commit may carry a *session record*:
an opaque, BSON-encodable document the command layer wants kept with it (the session outcome
a retry after a restart must find); the sink records it in the same unit as the commit.

A store may also have a ``ChangeObserver`` (``mongolet.changes``, the change history change
streams read): it is told of every change once published, in commit order.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any, Protocol

from bson import Binary

from mongolet.errors import MongoError, duplicate_key
from mongolet.indexes import IndexEntries, IndexSpec, id_index
from mongolet.query import values


class WriteLock(Protocol):
    """An open transaction, as storage sees it: the owner of uncommitted writes."""

    snapshot_ts: int
    # (db, collection) -> record key -> the version it is writing (None: a deletion)
    writes: dict[tuple[str, str], dict[Hashable, dict[str, Any] | None]]

    async def wait_done(self) -> None: ...


# One document write of a commit: (collection, _id, new document or None for a deletion).
Write = tuple["Collection", Any, "dict[str, Any] | None"]


class CommitSink(Protocol):
    """Records committed changes before the store publishes them (``mongolet.durability``).

    Each method either records its change or raises; the store changes memory only after it
    returned. Changes of uncommitted transactions never reach a sink."""

    def commit(self, ts: int, created: Sequence[Collection], writes: Sequence[Write],
               session_record: dict[str, Any] | None = None) -> None:
        """One commit at time ``ts``: the collections it creates (with their options and
        indexes) and its document writes, all or nothing; ``session_record`` (opaque to
        storage) is kept with them, in the same unit."""

    def collection_created(self, coll: Collection) -> None: ...

    def collection_dropped(self, db: str, name: str) -> None: ...

    def database_dropped(self, db: str) -> None: ...

    def collection_renamed(self, coll: Collection, db: str, name: str) -> None: ...

    def index_added(self, coll: Collection, spec: IndexSpec) -> None: ...

    def index_dropped(self, coll: Collection, name: str) -> None: ...

    def options_changed(self, coll: Collection, options: dict[str, Any]) -> None: ...


_SEQUENCE = itertools.count(1)


# One document change of a commit: (collection, before, after, kind). None before: an
# insert; None after: a deletion; kind "update" / "replace" (None: the running command's).
DocumentChange = tuple["Collection", "dict[str, Any] | None", "dict[str, Any] | None",
                       "str | None"]


class ChangeObserver(Protocol):
    """Told of each published change, in commit order, with its commit time."""

    def documents_committed(self, ts: int, changes: Sequence[DocumentChange],
                            lsid: Any = None, txn_number: int | None = None,
                            created: Sequence[Collection] = ()) -> None: ...

    def collection_created(self, coll: Collection, ts: int) -> None: ...

    def collection_dropped(self, coll: Collection, ts: int) -> None: ...

    def database_dropped(self, db: str, colls: Sequence[Collection], ts: int) -> None: ...

    def collection_renamed(self, coll: Collection, from_db: str, from_name: str,
                           replaced: Collection | None, ts: int) -> None: ...



class Record:
    """One ``_id``'s committed history, plus the open transaction writing it, if any.
    ``seq`` orders records by creation (the natural order) inside index entries."""

    __slots__ = ("key", "locked_by", "seq", "versions")

    def __init__(self, key: Hashable) -> None:
        self.key = key
        self.seq = next(_SEQUENCE)
        self.versions: list[tuple[int, dict[str, Any] | None]] = []
        self.locked_by: WriteLock | None = None

    @property
    def latest(self) -> dict[str, Any] | None:
        versions = self.versions
        return versions[-1][1] if versions else None

    @property
    def last_commit_ts(self) -> int:
        return self.versions[-1][0] if self.versions else 0

    def visible_at(self, ts: int) -> dict[str, Any] | None:
        """The document as of snapshot ``ts`` (None: absent then)."""
        for commit_ts, doc in reversed(self.versions):
            if commit_ts <= ts:
                return doc
        return None

    def trim(self, oldest_snapshot: int) -> None:
        """Forget versions no snapshot at or after ``oldest_snapshot`` can see."""
        versions = self.versions
        keep_from = 0
        for i in range(len(versions) - 1, -1, -1):
            if versions[i][0] <= oldest_snapshot:
                keep_from = i
                break
        if keep_from:
            del versions[:keep_from]


class Collection:
    """A collection's records, its index catalog and its unique-key tables."""

    def __init__(self, db: str, name: str, options: dict[str, Any] | None = None,
                 created_by: WriteLock | None = None) -> None:
        self.db = db
        self.name = name
        self.options: dict[str, Any] = dict(options or {})
        self.uuid = Binary.from_uuid(uuid.uuid4())
        self.records: dict[Hashable, Record] = {}
        self.indexes: dict[str, IndexSpec] = {"_id_": id_index()}
        # index name -> ordered entries (every index but text, hashed and geo ones); the
        # _id index's only once a query needs them (point reads use ``records``)
        self.entries: dict[str, IndexEntries] = {}
        # unique index name -> index key -> record key holding it (committed, latest state)
        self.unique_keys: dict[str, dict[Hashable, Hashable]] = {}
        # (unique index name, index key) -> open transaction that wrote a document with it
        self.pending_unique: dict[tuple[str, Hashable], WriteLock] = {}
        # An open transaction that created this collection: invisible to others until commit.
        self.created_by = created_by
        # The store's sink while this collection is in the store (None: in memory only).
        self.sink: CommitSink | None = None

    @property
    def ns(self) -> str:
        return f"{self.db}.{self.name}"

    # -- reads -----------------------------------------------------------------------------

    def latest_documents(self) -> Iterator[dict[str, Any]]:
        """Committed documents, newest versions, natural order (safe against later writes)."""
        for record in list(self.records.values()):
            doc = record.latest
            if doc is not None:
                yield doc

    def count_latest(self) -> int:
        return sum(1 for r in self.records.values() if r.latest is not None)

    # -- unique indexes ----------------------------------------------------------------------

    def unique_indexes(self) -> list[IndexSpec]:
        return [spec for name, spec in self.indexes.items() if spec.unique and name != "_id_"]

    def add_index(self, spec: IndexSpec) -> None:
        """Register ``spec``, building its unique table from committed documents; raises
        11000 when existing documents already violate it."""
        enforced = spec.unique and spec.name != "_id_"
        table: dict[Hashable, Hashable] = {}
        if enforced:
            for record in self.records.values():
                doc = record.latest
                if doc is None:
                    continue
                for key in spec.keys_of(doc):
                    holder = table.get(key)
                    if holder is not None and holder != record.key:
                        raise duplicate_key(self.ns, spec.name, spec.key,
                                            spec.key_value(doc))
                    table[key] = record.key
        entries = IndexEntries(spec) if spec.ordered else None
        if entries is not None:
            entries.build([(record, self.index_documents(record))
                           for record in self.records.values()])
        if self.sink is not None and self.created_by is None:
            self.sink.index_added(self, spec)
        if enforced:
            self.unique_keys[spec.name] = table
        self.indexes[spec.name] = spec
        if entries is not None:
            self.entries[spec.name] = entries

    def drop_index(self, name: str) -> None:
        if self.sink is not None and self.created_by is None and name in self.indexes:
            self.sink.index_dropped(self, name)
        self.indexes.pop(name, None)
        self.unique_keys.pop(name, None)
        self.entries.pop(name, None)

    # -- index entries -----------------------------------------------------------------------

    def index_documents(self, record: Record) -> list[dict[str, Any]]:
        """Every version of ``record`` a reader may see: retained ones and the one an open
        transaction is writing."""
        holder = record.locked_by
        versions = record.versions
        if holder is None and len(versions) == 1:
            doc = versions[0][1]
            return [doc] if doc is not None else []
        docs = [doc for _, doc in versions if doc is not None]
        if holder is not None:
            pending = holder.writes.get((self.db, self.name), {}).get(record.key)
            if pending is not None:
                docs.append(pending)
        return docs

    def index_entries(self, name: str) -> IndexEntries | None:
        """The ordered entries of index ``name`` (built now if they were left for later)."""
        found = self.entries.get(name)
        if found is None and name == "_id_":
            found = IndexEntries(self.indexes[name])
            found.build([(record, self.index_documents(record))
                         for record in self.records.values()])
            self.entries[name] = found
        return found

    def reindex(self, record: Record) -> None:
        """Bring every index's entries for ``record`` in step with its versions."""
        docs = self.index_documents(record)
        for entries in self.entries.values():
            entries.sync(record, docs)

    def update_options(self, changes: dict[str, Any]) -> None:
        """Change some collection options (collMod)."""
        if self.sink is not None and self.created_by is None:
            self.sink.options_changed(self, {**self.options, **changes})
        self.options.update(changes)

    def committed_unique_conflict(
        self, doc: dict[str, Any], record_key: Hashable,
        still_holds: Callable[[Hashable, IndexSpec, Hashable], bool] | None = None,
    ) -> tuple[IndexSpec, Hashable] | None:
        """The first unique index whose committed table gives one of ``doc``'s keys to
        another record, with that record's key. ``still_holds(holder, spec, key)`` lets a
        transaction discount holders it has itself changed or deleted."""
        for spec in self.unique_indexes():
            table = self.unique_keys.get(spec.name, {})
            for key in spec.keys_of(doc):
                holder = table.get(key)
                if holder is None or holder == record_key:
                    continue
                if still_holds is None or still_holds(holder, spec, key):
                    return spec, holder
        return None

    def duplicate_error(self, spec: IndexSpec, doc: dict[str, Any]) -> MongoError:
        return duplicate_key(self.ns, spec.name, spec.key, spec.key_value(doc))

    # -- commits ---------------------------------------------------------------------------

    def commit(self, record: Record, doc: dict[str, Any] | None, ts: int,
               oldest_snapshot: int) -> None:
        """Append a committed version of ``record`` and keep the unique tables in step."""
        previous = record.latest
        if self.unique_keys:
            for spec in self.unique_indexes():
                table = self.unique_keys.setdefault(spec.name, {})
                if previous is not None:
                    for key in spec.keys_of(previous):
                        if table.get(key) == record.key:
                            del table[key]
                if doc is not None:
                    for key in spec.keys_of(doc):
                        table[key] = record.key
        record.versions.append((ts, doc))
        if len(record.versions) > 1:
            record.trim(oldest_snapshot)
        if doc is None and len(record.versions) == 1 and record.locked_by is None \
                and self.records.get(record.key) is record:
            del self.records[record.key]
        self.reindex(record)


class Store:
    """Every database of one server and the logical clock of its commits."""

    def __init__(self) -> None:
        self.databases: dict[str, dict[str, Collection]] = {}
        self.clock = 0
        # Snapshots still in use (open transactions); versions older than the oldest of
        # them are garbage.
        self.snapshot_holders: dict[int, int] = {}  # id(holder) -> snapshot ts
        self.sink: CommitSink | None = None
        self.changes: ChangeObserver | None = None

    def attach(self, sink: CommitSink | None) -> None:
        """Record every later change with ``sink`` (None: memory only)."""
        self.sink = sink
        for colls in self.databases.values():
            for coll in colls.values():
                coll.sink = sink

    def tick(self) -> int:
        self.clock += 1
        return self.clock

    def oldest_snapshot(self) -> int:
        holders = self.snapshot_holders
        return min(holders.values()) if holders else self.clock

    def collection(self, db: str, name: str) -> Collection | None:
        """The committed (or being-created) collection ``db.name``, if any."""
        colls = self.databases.get(db)
        return colls.get(name) if colls is not None else None

    def holds(self, coll: Collection) -> bool:
        """Whether ``coll`` is in the store (not dropped or replaced since it was found)."""
        return self.collection(coll.db, coll.name) is coll

    def create_collection(self, db: str, name: str, options: dict[str, Any] | None = None,
                          created_by: WriteLock | None = None) -> Collection:
        """A new collection (committed at once, or by ``created_by``'s commit)."""
        coll = Collection(db, name, options, created_by)
        if self.sink is not None and created_by is None:
            self.sink.collection_created(coll)
        self.link(coll)
        if self.changes is not None and created_by is None:
            self.changes.collection_created(coll, self.tick())
        return coll

    def link(self, coll: Collection) -> None:
        """Put ``coll`` in the store under its name (what creating it records)."""
        coll.sink = self.sink
        self.databases.setdefault(coll.db, {})[coll.name] = coll

    def _unlink(self, db: str, name: str) -> Collection | None:
        colls = self.databases.get(db)
        if colls is None or name not in colls:
            return None
        coll = colls.pop(name)
        coll.sink = None
        if not colls:
            del self.databases[db]
        return coll

    def drop_collection(self, db: str, name: str) -> bool:
        coll = self.collection(db, name)
        if coll is None:
            return False
        if self.sink is not None and coll.created_by is None:
            self.sink.collection_dropped(db, name)
        self._unlink(db, name)
        if self.changes is not None and coll.created_by is None:
            self.changes.collection_dropped(coll, self.tick())
        return True

    def drop_database(self, db: str) -> None:
        colls = self.databases.get(db)
        if colls is None:
            return
        if self.sink is not None and any(c.created_by is None for c in colls.values()):
            self.sink.database_dropped(db)
        dropped = [c for c in colls.values() if c.created_by is None]
        for name in list(colls):
            self._unlink(db, name)
        if self.changes is not None:
            self.changes.database_dropped(db, dropped, self.tick())

    def rename_collection(self, coll: Collection, db: str, name: str) -> None:
        """Move ``coll`` to ``db.name``, replacing the collection there, if any."""
        if self.sink is not None:
            self.sink.collection_renamed(coll, db, name)
        replaced = self._unlink(db, name)
        self._unlink(coll.db, coll.name)
        source = coll.db, coll.name
        coll.db, coll.name = db, name
        self.link(coll)
        if self.changes is not None:
            self.changes.collection_renamed(coll, *source, replaced, self.tick())


def canonical_id(value: Any) -> Hashable:
    """The storage key of an ``_id`` (equal ids MongoDB-wise give equal keys)."""
    return values.canonical_key(value)
