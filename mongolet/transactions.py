"""Sessions, multi-document transactions and the views commands read and write through.

A command reads and writes through a *view*:

- ``DirectView`` (no transaction): reads the newest committed versions; each write commits
  at once (atomic per document). A write to a document, a collection or a unique key an open
  transaction holds waits until that transaction ends, as on mongod.
- ``TransactionView``: reads the transaction's snapshot plus its own writes; writes go to the
  transaction's private overlay and lock their records. Writing a record another open
  transaction holds, or one committed after the snapshot, is a WriteConflict (112,
  TransientTransactionError); the command layer then aborts the transaction.

``commit`` publishes every overlay write under one commit timestamp, so others see all of
them or none. With a durable store (``Store.sink``) both commit paths hand the commit to the
sink first, as one unit, and publish it only once the sink has recorded it; a commit may carry
the command layer's opaque ``session_record`` (what a retry after a restart must find), which
the sink keeps in that same unit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable, Iterator
from typing import Any

from mongolet.changes import write_kind
from mongolet.errors import TRANSIENT_TRANSACTION_ERROR, MongoError
from mongolet.indexes import IndexSpec
from mongolet.storage import Collection, DocumentChange, Record, Store, Write, canonical_id

TRANSACTION_LIFETIME_LIMIT_SECONDS = 60.0

IN_PROGRESS = "in_progress"
COMMITTED = "committed"
ABORTED = "aborted"


def write_conflict() -> MongoError:
    return MongoError(
        112,
        "Write conflict during plan execution and yielding is disabled. :: Please retry your "
        "operation or multi-document transaction.",
        labels=[TRANSIENT_TRANSACTION_ERROR],
    )


class Transaction:
    """One multi-document transaction: its snapshot, overlay of writes, and locks."""

    def __init__(self, manager: TransactionManager, number: int, snapshot_ts: int,
                 lifetime: float) -> None:
        self.manager = manager
        self.number = number
        self.snapshot_ts = snapshot_ts
        self.state = IN_PROGRESS
        self.deadline = time.monotonic() + lifetime
        self.done = asyncio.Event()
        # (db, coll) -> record key -> new document (None: deleted)
        self.writes: dict[tuple[str, str], dict[Hashable, dict[str, Any] | None]] = {}
        self.locked: list[tuple[Collection, Record]] = []
        self.created: list[Collection] = []
        self.pending_unique: list[tuple[Collection, tuple[str, Hashable]]] = []
        # (db, coll, index name) -> index key -> record key, for the overlay's documents
        self.own_unique: dict[tuple[str, str, str], dict[Hashable, Hashable]] = {}
        self.read_concern_seen = False
        # For the change history: the session's lsid and every write in order.
        self.lsid: Any = None
        self.changes: list[DocumentChange] = []

    @property
    def open(self) -> bool:
        return self.state == IN_PROGRESS

    def expired(self, now: float | None = None) -> bool:
        return (now if now is not None else time.monotonic()) >= self.deadline

    async def wait_done(self) -> None:
        """Wait until this transaction commits or aborts; abort it at its lifetime limit."""
        if not self.open:
            return
        remaining = self.deadline - time.monotonic()
        try:
            await asyncio.wait_for(self.done.wait(), timeout=max(remaining, 0.0))
        except TimeoutError:
            self.manager.abort(self)

    def touches(self, db: str, name: str | None = None) -> bool:
        return any(k[0] == db and (name is None or k[1] == name) for k in self.writes) or any(
            c.db == db and (name is None or c.name == name) for c in self.created)


class TransactionManager:
    """Starts, commits and aborts transactions against one ``Store``."""

    def __init__(self, store: Store, lifetime: float = TRANSACTION_LIFETIME_LIMIT_SECONDS
                 ) -> None:
        self.store = store
        self.lifetime = lifetime
        self.active: dict[int, Transaction] = {}

    def begin(self, number: int) -> Transaction:
        txn = Transaction(self, number, self.store.clock, self.lifetime)
        self.active[id(txn)] = txn
        self.store.snapshot_holders[id(txn)] = txn.snapshot_ts
        return txn

    def _finish(self, txn: Transaction, state: str) -> None:
        txn.state = state
        self.active.pop(id(txn), None)
        self.store.snapshot_holders.pop(id(txn), None)
        for coll, key in txn.pending_unique:
            if coll.pending_unique.get(key) is txn:
                del coll.pending_unique[key]
        txn.done.set()

    def committed(self, number: int) -> Transaction:
        """A finished transaction known only as committed: a session's outcome, restored
        after a restart, that a repeated commit is answered from."""
        txn = Transaction(self, number, self.store.clock, self.lifetime)
        txn.state = COMMITTED
        txn.done.set()
        return txn

    def commit(self, txn: Transaction, session_record: dict[str, Any] | None = None) -> None:
        """Publish every write of ``txn`` atomically (one commit timestamp); a durable store
        records ``session_record`` with them (a transaction that wrote nothing records
        nothing)."""
        if not txn.open:
            return
        store = self.store
        if store.sink is not None:
            self._record(txn, session_record)
        for coll in txn.created:
            coll.created_by = None
            # A collection dropped meanwhile by someone else comes back with our writes.
            if store.collection(coll.db, coll.name) is None:
                store.link(coll)
        self.active.pop(id(txn), None)
        store.snapshot_holders.pop(id(txn), None)
        ts = store.clock
        if txn.locked:
            ts = store.tick()
            oldest = store.oldest_snapshot()
            for coll, record in txn.locked:
                doc = txn.writes[(coll.db, coll.name)][record.key]
                record.locked_by = None
                coll.commit(record, doc, ts, oldest)
        self._finish(txn, COMMITTED)
        if store.changes is not None and (txn.changes or txn.created):
            if not txn.locked:
                ts = store.tick()
            store.changes.documents_committed(ts, txn.changes, txn.lsid, txn.number,
                                              txn.created)

    def _record(self, txn: Transaction, session_record: dict[str, Any] | None) -> None:
        """Hand the commit of ``txn`` to the store's sink (raises: nothing is published)."""
        store = self.store
        assert store.sink is not None
        # Collections it creates that its commit puts in the store (not replaced meanwhile).
        created = [c for c in txn.created if store.collection(c.db, c.name) in (None, c)]
        published = {id(c) for c in created}
        writes: list[Write] = []
        for coll, record in txn.locked:
            if id(coll) not in published and not store.holds(coll):
                continue  # a collection dropped meanwhile: the write is invisible
            doc = txn.writes[(coll.db, coll.name)][record.key]
            if doc is not None:
                writes.append((coll, doc["_id"], doc))
            elif record.latest is not None:
                writes.append((coll, record.latest["_id"], None))
        if created or txn.locked:
            store.sink.commit(store.clock + 1 if txn.locked else store.clock, created, writes,
                              session_record)

    def abort(self, txn: Transaction) -> None:
        """Discard every write of ``txn``."""
        if not txn.open:
            return
        for coll, record in txn.locked:
            if record.locked_by is txn:
                record.locked_by = None
                if not record.versions and coll.records.get(record.key) is record:
                    del coll.records[record.key]
        for coll in txn.created:
            if coll.created_by is txn and self.store.collection(coll.db, coll.name) is coll:
                self.store.drop_collection(coll.db, coll.name)
        self._finish(txn, ABORTED)

    def abort_expired(self) -> None:
        now = time.monotonic()
        for txn in [t for t in self.active.values() if t.expired(now)]:
            self.abort(txn)

    def abort_touching(self, db: str, name: str | None = None) -> None:
        """Abort open transactions that wrote to ``db`` (``db.name``): a drop wins over them."""
        for txn in [t for t in self.active.values() if t.touches(db, name)]:
            self.abort(txn)


class Session:
    """Server-side state of one logical session (keyed by ``lsid.id``)."""

    __slots__ = ("cursor_ids", "id", "last_used", "retry_results", "retry_txn_number", "txn",
                 "txn_number")

    def __init__(self, session_id: Any) -> None:
        self.id = session_id
        self.last_used = time.monotonic()
        self.txn_number = -1
        self.txn: Transaction | None = None
        # Retryable writes: the results of the statements of the latest txnNumber.
        self.retry_txn_number = -1
        self.retry_results: dict[int, Any] = {}
        self.cursor_ids: set[int] = set()


# -- views -----------------------------------------------------------------------------------


class DirectView:
    """Reads newest committed data; every write commits at once."""

    txn: Transaction | None = None

    def __init__(self, store: Store) -> None:
        self.store = store

    def collection(self, db: str, name: str) -> Collection | None:
        coll = self.store.collection(db, name)
        if coll is not None and coll.created_by is not None:
            return None
        return coll

    def collections(self, db: str) -> list[Collection]:
        return [c for c in self.store.databases.get(db, {}).values() if c.created_by is None]

    def documents(self, coll: Collection) -> Iterator[tuple[Record, dict[str, Any]]]:
        for record in list(coll.records.values()):
            doc = record.latest
            if doc is not None:
                yield record, doc

    def lookup(self, coll: Collection, key: Hashable) -> tuple[Record | None, dict[str, Any] | None]:
        record = coll.records.get(key)
        return (record, record.latest) if record is not None else (None, None)

    async def current(self, coll: Collection, record: Record) -> dict[str, Any] | None:
        """The document to base a write on: waits out a transaction holding it."""
        while record.locked_by is not None:
            await record.locked_by.wait_done()
        return record.latest

    async def writable_collection(self, db: str, name: str) -> Collection:
        """``db.name``, created if missing (implicit creation on first write)."""
        while True:
            coll = self.store.collection(db, name)
            if coll is None:
                return self.store.create_collection(db, name)
            if coll.created_by is None:
                return coll
            await coll.created_by.wait_done()

    async def insert(self, coll: Collection, doc: dict[str, Any],
                     session_record: dict[str, Any] | None = None,
                     key: Hashable | None = None) -> None:
        """Insert ``doc`` (11000 on a duplicate); a durable store records ``session_record``
        with the commit. ``key``: the record's own key instead of its ``_id``'s (a time
        series collection, where ``_id`` need not be unique)."""
        key = canonical_id(doc["_id"]) if key is None else key
        while True:
            record = coll.records.get(key)
            if record is not None and record.locked_by is not None:
                await record.locked_by.wait_done()
                continue
            if record is not None and record.latest is not None:
                raise coll.duplicate_error(coll.indexes["_id_"], doc)
            if await self._unique_ok(coll, doc, key):
                break
        if record is None:
            record = coll.records[key] = Record(key)
        self._commit(coll, record, doc, session_record)

    async def put(self, coll: Collection, record: Record, doc: dict[str, Any] | None,
                  based_on: dict[str, Any], session_record: dict[str, Any] | None = None
                  ) -> bool:
        """Commit ``doc`` (None: delete) over ``based_on``. False when the record changed
        while waiting: the caller re-reads and re-decides (nothing, not even
        ``session_record``, was recorded)."""
        while True:
            if record.locked_by is not None:
                await record.locked_by.wait_done()
                continue
            if record.latest is not based_on:
                return False
            if doc is None or await self._unique_ok(coll, doc, record.key):
                break
        if record.latest is not based_on:
            return False
        self._commit(coll, record, doc, session_record)
        return True

    async def _unique_ok(self, coll: Collection, doc: dict[str, Any], key: Hashable) -> bool:
        """Raise 11000 on a committed duplicate; False after waiting for a transaction that
        holds one of the keys (the caller re-checks everything)."""
        if not coll.unique_keys and not coll.pending_unique:
            return True
        conflict = coll.committed_unique_conflict(doc, key)
        if conflict is not None:
            raise coll.duplicate_error(conflict[0], doc)
        for spec in coll.unique_indexes():
            for index_key in spec.keys_of(doc):
                holder = coll.pending_unique.get((spec.name, index_key))
                if holder is not None:
                    await holder.wait_done()
                    return False
        return True

    def _commit(self, coll: Collection, record: Record, doc: dict[str, Any] | None,
                session_record: dict[str, Any] | None) -> None:
        store = self.store
        if store.sink is not None and store.holds(coll):
            written = doc if doc is not None else record.latest
            if written is not None:
                try:
                    store.sink.commit(store.clock + 1, (), [(coll, written["_id"], doc)],
                                      session_record)
                except BaseException:
                    if not record.versions and record.locked_by is None \
                            and coll.records.get(record.key) is record:
                        del coll.records[record.key]  # the insert's new record
                    raise
        before = record.latest
        ts = store.tick()
        coll.commit(record, doc, ts, store.oldest_snapshot())
        if store.changes is not None:
            store.changes.documents_committed(ts, [(coll, before, doc, None)])


class TransactionView(DirectView):
    """Reads a transaction's snapshot plus its own writes; writes go to its overlay."""

    def __init__(self, store: Store, txn: Transaction) -> None:
        super().__init__(store)
        self.txn = txn

    def _txn(self) -> Transaction:
        assert self.txn is not None
        return self.txn

    def collection(self, db: str, name: str) -> Collection | None:
        coll = self.store.collection(db, name)
        if coll is not None and coll.created_by not in (None, self.txn):
            return None
        return coll

    def collections(self, db: str) -> list[Collection]:
        return [c for c in self.store.databases.get(db, {}).values()
                if c.created_by in (None, self.txn)]

    def documents(self, coll: Collection) -> Iterator[tuple[Record, dict[str, Any]]]:
        txn = self._txn()
        overlay = txn.writes.get((coll.db, coll.name), {})
        snapshot = txn.snapshot_ts
        for record in list(coll.records.values()):
            key = record.key
            doc = overlay[key] if key in overlay else record.visible_at(snapshot)
            if doc is not None:
                yield record, doc

    def lookup(self, coll: Collection, key: Hashable) -> tuple[Record | None, dict[str, Any] | None]:
        record = coll.records.get(key)
        if record is None:
            return None, None
        overlay = self._txn().writes.get((coll.db, coll.name), {})
        if key in overlay:
            return record, overlay[key]
        return record, record.visible_at(self._txn().snapshot_ts)

    async def current(self, coll: Collection, record: Record) -> dict[str, Any] | None:
        return self.lookup(coll, record.key)[1]

    async def writable_collection(self, db: str, name: str) -> Collection:
        txn = self._txn()
        coll = self.store.collection(db, name)
        if coll is None:
            coll = self.store.create_collection(db, name, created_by=txn)
            txn.created.append(coll)
            return coll
        if coll.created_by not in (None, txn):
            raise write_conflict()
        return coll

    async def insert(self, coll: Collection, doc: dict[str, Any],
                     session_record: dict[str, Any] | None = None,
                     key: Hashable | None = None) -> None:
        # Nothing commits here: a transaction's session record goes with its commit.
        key = canonical_id(doc["_id"]) if key is None else key
        record = coll.records.get(key)
        if record is not None:
            self._check_writable(record)
            if self.lookup(coll, key)[1] is not None:
                raise coll.duplicate_error(coll.indexes["_id_"], doc)
        else:
            record = coll.records[key] = Record(key)
        self._write(coll, record, doc)

    async def put(self, coll: Collection, record: Record, doc: dict[str, Any] | None,
                  based_on: dict[str, Any], session_record: dict[str, Any] | None = None
                  ) -> bool:
        self._check_writable(record)
        self._write(coll, record, doc)
        return True

    def _check_writable(self, record: Record) -> None:
        txn = self._txn()
        holder = record.locked_by
        if holder is not None and holder is not txn:
            if isinstance(holder, Transaction) and holder.expired():
                holder.manager.abort(holder)
            else:
                raise write_conflict()
        if record.last_commit_ts > txn.snapshot_ts:
            raise write_conflict()

    def _write(self, coll: Collection, record: Record, doc: dict[str, Any] | None) -> None:
        txn = self._txn()
        overlay = txn.writes.setdefault((coll.db, coll.name), {})
        key = record.key
        if doc is not None and coll.indexes.keys() - {"_id_"}:
            self._check_unique(coll, key, doc, overlay)
        previous = overlay[key] if key in overlay else record.visible_at(txn.snapshot_ts)
        for spec in coll.unique_indexes():
            own = txn.own_unique.setdefault((coll.db, coll.name, spec.name), {})
            if previous is not None:
                for index_key in spec.keys_of(previous):
                    if own.get(index_key) == key:
                        del own[index_key]
            if doc is not None:
                for index_key in spec.keys_of(doc):
                    own[index_key] = key
                    pending = (spec.name, index_key)
                    if coll.pending_unique.get(pending) is not txn:
                        coll.pending_unique[pending] = txn
                        txn.pending_unique.append((coll, pending))
        if record.locked_by is not txn:
            record.locked_by = txn
            txn.locked.append((coll, record))
        overlay[key] = doc
        txn.changes.append((coll, previous, doc, write_kind()))

    def _check_unique(self, coll: Collection, key: Hashable, doc: dict[str, Any],
                      overlay: dict[Hashable, dict[str, Any] | None]) -> None:
        txn = self._txn()

        def still_holds(holder: Hashable, spec: IndexSpec, index_key: Hashable) -> bool:
            if holder in overlay:
                changed = overlay[holder]
                return changed is not None and index_key in spec.keys_of(changed)
            return True

        conflict = coll.committed_unique_conflict(doc, key, still_holds)
        if conflict is not None:
            raise coll.duplicate_error(conflict[0], doc)
        for spec in coll.unique_indexes():
            own = txn.own_unique.get((coll.db, coll.name, spec.name), {})
            for index_key in spec.keys_of(doc):
                holder = own.get(index_key)
                if holder is not None and holder != key:
                    raise coll.duplicate_error(spec, doc)
                other = coll.pending_unique.get((spec.name, index_key))
                if other is not None and other is not txn:
                    raise write_conflict()
