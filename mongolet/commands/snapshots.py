"""Snapshot reads outside transactions: ``readConcern: {level: "snapshot"}`` on find,
aggregate and distinct (mongod 5.0+).

The first read picks the current cluster time and answers it as ``atClusterTime`` (in the
cursor for find/aggregate, top level for distinct); the driver sends it back on the
session's later reads, which must see that same point in time. The storage trims versions
no snapshot holder can see, so each snapshot session *holds* its time: the versions it
needs stay until the session ends or has been idle for mongod's history window
(``minSnapshotHistoryWindowInSeconds``, 300 s). A time no longer held is SnapshotTooOld.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any

from bson import Timestamp

from mongolet.errors import MongoError
from mongolet.storage import Collection, Record, Store
from mongolet.transactions import DirectView

HISTORY_WINDOW_SECONDS = 300.0
SNAPSHOT_READS = ("find", "aggregate", "distinct")


class SnapshotView(DirectView):
    """Committed data as of commit time ``ts``; read-only."""

    def __init__(self, store: Store, ts: int, at_cluster_time: Timestamp) -> None:
        super().__init__(store)
        self.ts = ts
        self.at_cluster_time = at_cluster_time

    def documents(self, coll: Collection) -> Iterator[tuple[Record, dict[str, Any]]]:
        ts = self.ts
        for record in list(coll.records.values()):
            doc = record.visible_at(ts)
            if doc is not None:
                yield record, doc

    def lookup(self, coll: Collection, key: Hashable
               ) -> tuple[Record | None, dict[str, Any] | None]:
        record = coll.records.get(key)
        return (record, record.visible_at(self.ts)) if record is not None else (None, None)

    async def writable_collection(self, db: str, name: str) -> Collection:
        # The dispatcher only gives this view to reads; a write here is a bug, not a user error.
        raise MongoError(72, "writes are not allowed with readConcern level snapshot outside "
                             "a multi-document transaction")


@dataclass
class _Hold:
    ts: int
    last_used: float


class SnapshotHolds:
    """The commit times snapshot readers still need, one per session."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.holds: dict[Any, _Hold] = {}

    def acquire(self, key: Any, ts: int) -> None:
        hold = self.holds.get(key)
        now = time.monotonic()
        if hold is not None and hold.ts <= ts:
            hold.last_used = now
            return
        if hold is not None:
            self.release(key)
        hold = self.holds[key] = _Hold(ts, now)
        self.store.snapshot_holders[id(hold)] = ts

    def release(self, key: Any) -> None:
        hold = self.holds.pop(key, None)
        if hold is not None:
            self.store.snapshot_holders.pop(id(hold), None)

    def expire(self, now: float) -> None:
        for key in [k for k, h in self.holds.items()
                    if now - h.last_used > HISTORY_WINDOW_SECONDS]:
            self.release(key)


def cluster_time_of(started: int, ts: int) -> Timestamp:
    """The cluster time naming commit time ``ts`` (as ``operationTime`` does)."""
    return Timestamp(started, ts + 1)


def commit_time_at(store: Store, started: int, read_concern: dict[str, Any]) -> int:
    """The commit time ``readConcern.atClusterTime`` names, if the history still holds it."""
    at = read_concern["atClusterTime"]
    if not isinstance(at, Timestamp):
        raise MongoError(14, "BSON field 'readConcern.atClusterTime' is the wrong type, "
                             "expected type 'timestamp'")
    if "afterClusterTime" in read_concern:
        raise MongoError(72, "Can not specify both afterClusterTime and atClusterTime")
    current = cluster_time_of(started, store.clock)
    if at > current:
        raise MongoError(72, f"readConcern atClusterTime value must not be greater than the "
                             f"current clusterTime. Requested clusterTime: {at}; current "
                             f"clusterTime: {current}")
    oldest = cluster_time_of(started, store.oldest_snapshot())
    if at < oldest:
        raise MongoError(239, f"Read timestamp {at} is older than the oldest available "
                              f"timestamp.")
    return int(at.inc) - 1


def snapshot_view(store: Store, holds: SnapshotHolds, started: int, read_concern: Any,
                  session_id: Any) -> SnapshotView | None:
    """The view a read with this ``readConcern`` uses, or None when it is not a snapshot
    read. Errors are mongod's: atClusterTime in the future (72), too old (239)."""
    if not isinstance(read_concern, dict):
        return None
    at = read_concern.get("atClusterTime")
    if read_concern.get("level") != "snapshot":
        if at is not None:
            raise MongoError(72, "readConcern.atClusterTime is only compatible with the "
                                 "snapshot read concern level")
        return None
    ts = store.clock if at is None else commit_time_at(store, started, read_concern)
    holds.acquire(session_id if session_id is not None else object(), ts)
    return SnapshotView(store, ts, cluster_time_of(started, ts))


def add_at_cluster_time(reply: dict[str, Any], view: SnapshotView) -> None:
    """mongod names the snapshot a read used: in the cursor, or at top level (distinct)."""
    if reply.get("ok") != 1.0:
        return
    cursor = reply.get("cursor")
    if isinstance(cursor, dict):
        cursor["atClusterTime"] = view.at_cluster_time
    else:
        reply["atClusterTime"] = view.at_cluster_time
