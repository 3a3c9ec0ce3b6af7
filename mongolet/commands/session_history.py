"""What a durable server keeps of its sessions across a restart: mongod's config.transactions.

mongod persists, per logical session, the newest transaction number used and its outcome (a
committed transaction; the statements of a retryable write, with their results), so that a
driver retrying a commit or a write after a crash is answered as it would have been without
the crash. mongolet does the same through the store's durable sink, without the sink knowing
what a session is: each commit carries one *session record* (this module builds them), the
journal keeps it in the same record as the commit's writes (so it is on disk exactly when the
data is), a checkpoint keeps the records of the sessions still alive, and at start-up the
records come back, in order, to a ``SessionHistory`` that rebuilds the sessions.

A session record (a BSON document; storage never looks inside)::

    {"id": <lsid.id>, "txnNumber": Int64, "lastUse": <seconds since the epoch, double>,
     "committed": true}                      # transaction txnNumber committed
    {"id": ..., "txnNumber": ..., "lastUse": ..., "stmts": [[index, result], ...]}
                                             # retryable write txnNumber: statements applied
    {"id": ..., "txnNumber": ..., "lastUse": ...}
                                             # (checkpoints) the newest number, no outcome:
                                             # a transaction open or aborted at that time

The journal gets the first two kinds, one statement per record, with each commit (a
statement or a transaction that wrote nothing has no commit, so no record); a checkpoint one
record per live session, holding what the server knows then (every statement answered,
failed ones excepted, as in memory).

A statement's ``result`` is what the write command keeps to answer a retry: ``true`` for an
insert, ``[matched, modified, upserted _id or null]`` for an update, the count for a delete,
the whole reply for a findAndModify. Records of the same (id, txnNumber) add up; a newer
txnNumber replaces an older one. Sessions idle longer than logicalSessionTimeoutMinutes (30)
are forgotten, as mongod reaps them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bson import Int64

from mongolet.transactions import COMMITTED, Session, TransactionManager

SESSION_TIMEOUT_SECONDS = 30 * 60


def transaction_record(session: Session, txn_number: int) -> dict[str, Any]:
    """The record of ``session``'s transaction ``txn_number`` committing."""
    return {"id": session.id, "txnNumber": Int64(txn_number), "lastUse": time.time(),
            "committed": True}


def statement_record(session: Session, txn_number: int, index: int, result: Any
                     ) -> dict[str, Any]:
    """The record of statement ``index`` of retryable write ``txn_number`` applied."""
    return {"id": session.id, "txnNumber": Int64(txn_number), "lastUse": time.time(),
            "stmts": [[index, result]]}


def live_records(sessions: dict[Any, Session], now: float | None = None
                 ) -> Iterator[dict[str, Any]]:
    """One record per session not idle past the timeout (for a checkpoint): its newest
    transaction number with its outcome as the server knows it now."""
    mono = time.monotonic() if now is None else now
    wall_offset = time.time() - time.monotonic()
    for session in list(sessions.values()):
        if session.txn_number < 0 or mono - session.last_used > SESSION_TIMEOUT_SECONDS:
            continue
        record: dict[str, Any] = {"id": session.id, "txnNumber": Int64(session.txn_number),
                                  "lastUse": session.last_used + wall_offset}
        txn = session.txn
        if txn is not None and txn.number == session.txn_number and txn.state == COMMITTED:
            record["committed"] = True
        elif session.retry_txn_number == session.txn_number:
            record["stmts"] = [[index, result]
                               for index, result in session.retry_results.items()]
        yield record


@dataclass
class _Latest:
    """What the records say of one session so far: its newest transaction number."""

    txn_number: int
    last_use: float
    committed: bool = False
    statements: dict[int, Any] | None = None  # None: not a retryable write


class SessionHistory:
    """Session records as a restart hands them back (``add``, in journal order), merged into
    one entry per session; ``restore`` turns them into the server's sessions."""

    def __init__(self) -> None:
        self._latest: dict[Any, _Latest] = {}  # lsid.id -> its newest number's outcome

    def __len__(self) -> int:
        return len(self._latest)

    def add(self, record: dict[str, Any]) -> None:
        session_id = record["id"]
        number = int(record["txnNumber"])
        last_use = float(record.get("lastUse", 0.0))
        entry = self._latest.get(session_id)
        if entry is None or number > entry.txn_number:
            entry = self._latest[session_id] = _Latest(number, last_use)
        elif number < entry.txn_number:
            return  # superseded (cannot happen in journal order; harmless)
        entry.last_use = max(entry.last_use, last_use)
        if record.get("committed"):
            entry.committed = True
        stmts = record.get("stmts")
        if stmts is not None:
            if entry.statements is None:
                entry.statements = {}
            for index, result in stmts:
                entry.statements[int(index)] = result

    def restore(self, sessions: dict[Any, Session], txns: TransactionManager) -> int:
        """Put the sessions still alive into ``sessions``; how many."""
        wall, mono = time.time(), time.monotonic()
        restored = 0
        for session_id, entry in self._latest.items():
            idle = max(0.0, wall - entry.last_use)
            if idle > SESSION_TIMEOUT_SECONDS:
                continue
            session = Session(session_id)
            session.last_used = mono - idle
            session.txn_number = entry.txn_number
            if entry.committed:
                session.txn = txns.committed(entry.txn_number)
            elif entry.statements is not None:
                session.retry_txn_number = entry.txn_number
                session.retry_results = entry.statements
            sessions[session_id] = session
            restored += 1
        self._latest.clear()
        return restored


__all__ = ["SESSION_TIMEOUT_SECONDS", "SessionHistory", "live_records", "statement_record",
           "transaction_record"]
