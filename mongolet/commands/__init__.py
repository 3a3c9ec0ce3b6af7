"""mongolet's command layer: the ``Dispatcher`` the transport calls for every request.

The dispatcher finds the handler (``registry``), applies MongoDB's session, transaction and
retryable-write rules in one place, runs the handler, and turns every failure into the error
reply mongod would send. Handlers live in one module per command family.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bson import Binary, Int64

from mongolet.changes import DEFAULT_SIZE as DEFAULT_HISTORY_SIZE
from mongolet.changes import ChangeHistory

# Importing the command families registers their handlers.
from mongolet.commands import (  # noqa: F401
    admin,
    collections,
    crud_read,
    crud_write,
    cursors,
    handshake,
    indexes,
    maintenance,
    snapshots,
    testing,
    transactions,
    write_concern,
)
from mongolet.commands.registry import REGISTRY, CommandContext, CommandSpec, ServerState
from mongolet.commands.session_history import SESSION_TIMEOUT_SECONDS, SessionHistory, live_records
from mongolet.errors import TRANSIENT_TRANSACTION_ERROR, CloseConnection, MongoError
from mongolet.storage import Store
from mongolet.transactions import COMMITTED, DirectView, Session, TransactionView

_ZERO_HASH = Binary(b"\x00" * 20)
_INVALID_DB_CHARS = set('/\\. "$\x00')
_TXN_CONTROL = ("committransaction", "aborttransaction")


@dataclass
class ServerOptions:
    host: str
    port: int
    replica_set: str = "mongolet"
    enable_test_commands: bool = False
    transaction_lifetime_seconds: float = 60.0
    change_history_size: int = DEFAULT_HISTORY_SIZE


@dataclass
class ConnectionInfo:
    id: int
    client: str
    app_name: str | None = None


class Dispatcher:
    """Answers every command of one server."""

    def __init__(self, options: ServerOptions, store: Store | None = None,
                 history: SessionHistory | None = None,
                 changes: ChangeHistory | None = None) -> None:
        """``history``: the session records a durable store handed back at start-up; the
        sessions they describe answer retries as before the restart. ``changes``: the
        change history (a durable store's, as loaded), a new one when None."""
        self.options = options
        self.state = ServerState(options.host, options.port, options.replica_set,
                                 options.enable_test_commands,
                                 store=store if store is not None else Store(),
                                 changes=changes if changes is not None
                                 else ChangeHistory(options.change_history_size))
        # Cluster times name commits as Timestamp(start seconds, ts + 1): the history's
        # entries and operationTime alike, later than anything kept from a previous run.
        self.state.started = float(self.state.changes.started(int(self.state.started)))
        self.state.store.changes = self.state.changes
        self.state.txns.lifetime = options.transaction_lifetime_seconds
        self._direct_view = DirectView(self.state.store)
        self._last_sweep = time.monotonic()
        if history is not None:
            history.restore(self.state.sessions, self.state.txns)

    def session_records(self) -> Iterator[dict[str, Any]]:
        """The records of the live sessions' outcomes, for a durable store's checkpoint."""
        return live_records(self.state.sessions)

    async def handle(self, body: dict[str, Any], conn: ConnectionInfo) -> dict[str, Any]:
        ctx: CommandContext | None = None
        try:
            # Fail points act before the session is checked out, as in mongod.
            fail_points = await testing.before_command(self.state, body, conn.app_name)
            ctx = self._prepare(body, conn)
            reply = testing.after_command(fail_points, await self._run(ctx))
        except CloseConnection:
            raise
        except MongoError as error:
            reply = self._error_reply(error, ctx)
        except Exception as exc:  # never let a client's request kill the server
            traceback.print_exc(file=sys.stderr)
            reply = MongoError(1, f"internal error: {type(exc).__name__}: {exc}").to_reply()
        cluster_time = self.state.cluster_time()
        reply["operationTime"] = cluster_time
        reply["$clusterTime"] = {"clusterTime": cluster_time,
                                 "signature": {"hash": _ZERO_HASH, "keyId": Int64(0)}}
        return reply

    def connection_closed(self, conn: ConnectionInfo) -> None:
        """Nothing is tied to a connection: cursors and transactions belong to sessions."""

    def close(self) -> None:
        txns = self.state.txns
        for txn in list(txns.active.values()):
            txns.abort(txn)
        self.state.cursors.cursors.clear()

    # -- preparation: names, databases, sessions, transactions -------------------------------

    def _prepare(self, body: dict[str, Any], conn: ConnectionInfo) -> CommandContext:
        if not body:
            raise MongoError(59, "no such command: ''")
        name_key = next(iter(body))
        name = name_key.lower()
        spec = REGISTRY.get(name)
        if spec is None:
            raise MongoError(59, f"no such command: '{name_key}'")
        db = body.get("$db")
        if not isinstance(db, str) or not db:
            raise MongoError(40571 if db is None else 73,
                             "OP_MSG requests require a $db argument" if db is None
                             else f"Invalid database name: '{db}'")
        if _INVALID_DB_CHARS.intersection(db) or len(db) > 63:
            raise MongoError(73, f"Invalid database name: '{db}'")
        if spec.admin_only and db != "admin":
            raise MongoError(13, f"{spec.name} may only be run against the admin database.")
        now = time.monotonic()
        if now - self._last_sweep > 1.0:
            self._last_sweep = now
            self.state.txns.abort_expired()
            self._expire_sessions(now)
            self.state.snapshot_holds.expire(now)

        read_concern = body.get("readConcern")
        if isinstance(read_concern, dict) and read_concern.get("level") == "snapshot" \
                and body.get("autocommit") is None and name not in snapshots.SNAPSHOT_READS \
                and name != "getmore":
            raise MongoError(72, f"Command {spec.name} does not support "
                                 "{ readConcern: { level: \"snapshot\" } } outside a "
                                 "multi-document transaction")
        session = self._session(body)
        ctx = CommandContext(self.state, name, body, db, conn, session, self._direct_view)
        if session is None:
            if "txnNumber" in body or "autocommit" in body:
                raise MongoError(50768, "Transaction number requires a session ID to also be "
                                        "specified")
            if name in _TXN_CONTROL:
                raise MongoError(50768, f"{spec.name} must be run within a transaction")
            self._enter_snapshot(ctx)
            return ctx
        session.last_used = now
        autocommit = body.get("autocommit")
        txn_number = body.get("txnNumber")
        if autocommit is not None or body.get("startTransaction") is not None:
            self._enter_transaction(ctx, spec, txn_number, autocommit)
        elif txn_number is not None:
            self._enter_retryable_write(ctx, spec, txn_number)
        elif name in _TXN_CONTROL:
            raise MongoError(50768, f"{spec.name} must be run within a transaction")
        if ctx.txn is None:
            self._enter_snapshot(ctx)
        return ctx

    def _enter_snapshot(self, ctx: CommandContext) -> None:
        """A snapshot read outside a transaction reads through a point-in-time view."""
        if ctx.name not in snapshots.SNAPSHOT_READS:
            return
        view = snapshots.snapshot_view(self.state.store, self.state.snapshot_holds,
                                       int(self.state.started), ctx.body.get("readConcern"),
                                       ctx.session_id())
        if view is not None:
            ctx.view = view

    def _expire_sessions(self, now: float) -> None:
        """Forget sessions idle longer than logicalSessionTimeoutMinutes (30), as mongod."""
        idle = [sid for sid, s in self.state.sessions.items()
                if now - s.last_used > SESSION_TIMEOUT_SECONDS and (s.txn is None or not s.txn.open)]
        for session_id in idle:
            del self.state.sessions[session_id]
            self.state.cursors.kill_session(session_id)
            self.state.snapshot_holds.release(session_id)

    def _session(self, body: dict[str, Any]) -> Session | None:
        lsid = body.get("lsid")
        if lsid is None:
            return None
        if not isinstance(lsid, dict) or "id" not in lsid:
            raise MongoError(40414, "BSON field 'OperationSessionInfo.lsid.id' is missing but a "
                                    "required field")
        session_id = lsid["id"]
        sessions = self.state.sessions
        session = sessions.get(session_id)
        if session is None:
            session = sessions[session_id] = Session(session_id)
        return session

    def _enter_transaction(self, ctx: CommandContext, spec: CommandSpec, txn_number: Any,
                           autocommit: Any) -> None:
        body = ctx.body
        if autocommit is not False:
            raise MongoError(72 if autocommit is None else 50768,
                             "Specifying autocommit=true is not allowed."
                             if autocommit is not None else
                             "txnNumber and startTransaction require autocommit: false")
        if not isinstance(txn_number, int):
            raise MongoError(50768 if txn_number is None else 14,
                             "'autocommit' field requires a transaction number to also be "
                             "specified")
        session = ctx.session
        assert session is not None
        txns = self.state.txns
        if txn_number < session.txn_number:
            raise MongoError(225, f"Cannot start transaction {txn_number} on session "
                                  f"{_show_lsid(session.id)} because a newer transaction "
                                  f"{session.txn_number} has already started.")
        start = body.get("startTransaction")
        if start is not None:
            if start is not True:
                raise MongoError(72, "startTransaction must be true")
            if txn_number == session.txn_number and session.txn is not None:
                if session.txn.state == COMMITTED:
                    raise MongoError(256, f"Transaction with {{ txnNumber: {txn_number} }} has "
                                          "been committed.")
                raise MongoError(251, "Transaction with txnNumber already in progress or "
                                      "aborted", labels=[TRANSIENT_TRANSACTION_ERROR])
            if session.txn is not None:
                txns.abort(session.txn)
            if ctx.name in _TXN_CONTROL:
                raise MongoError(251, f"Cannot start a transaction with a "
                                      f"{spec.name} command",
                                 labels=[TRANSIENT_TRANSACTION_ERROR])
            at_ts = self._transaction_snapshot(body.get("readConcern"))
            session.txn_number = txn_number
            session.retry_results = {}
            session.txn = txns.begin(txn_number)
            session.txn.lsid = body.get("lsid")
            session.txn.read_concern_seen = True
            if at_ts is not None:  # a transaction reading at a chosen cluster time
                session.txn.snapshot_ts = at_ts
                self.state.store.snapshot_holders[id(session.txn)] = at_ts
        else:
            txn = session.txn
            if txn_number != session.txn_number or txn is None or txn.number != txn_number:
                raise MongoError(251, f"Given transaction number {txn_number} does not match "
                                      f"any in-progress transactions. The active transaction "
                                      f"number is {session.txn_number}",
                                 labels=[TRANSIENT_TRANSACTION_ERROR])
            if "readConcern" in body:
                raise MongoError(72, "Only the first command in a transaction may specify a "
                                     "readConcern")
            if txn.open and txn.expired():
                txns.abort(txn)
            if txn.state == COMMITTED:
                if ctx.name == "committransaction":
                    ctx.txn = txn
                    ctx.view = TransactionView(self.state.store, txn)
                    return
                raise MongoError(256, f"Transaction with {{ txnNumber: {txn_number} }} has "
                                      "been committed.")
            if not txn.open:
                raise MongoError(251, f"Transaction with {{ txnNumber: {txn_number} }} has "
                                      "been aborted.", labels=[TRANSIENT_TRANSACTION_ERROR])
        txn = session.txn
        assert txn is not None
        ctx.txn = txn
        ctx.view = TransactionView(self.state.store, txn)
        if "writeConcern" in body and ctx.name not in _TXN_CONTROL:
            raise MongoError(72, "Cannot set write concern after starting a transaction.")
        if not spec.in_transaction:
            raise MongoError(263, f"Cannot run '{spec.name}' in a multi-document transaction.")

    def _transaction_snapshot(self, read_concern: Any) -> int | None:
        """The commit time a starting transaction reads at, when its readConcern names one
        (``{level: "snapshot", atClusterTime}``)."""
        if not isinstance(read_concern, dict) or "atClusterTime" not in read_concern:
            return None
        if read_concern.get("level") != "snapshot":
            raise MongoError(72, "readConcern.atClusterTime is only compatible with the "
                                 "snapshot read concern level")
        return snapshots.commit_time_at(self.state.store, int(self.state.started),
                                        read_concern)

    def _enter_retryable_write(self, ctx: CommandContext, spec: CommandSpec,
                               txn_number: Any) -> None:
        if not spec.retryable_write:
            raise MongoError(50768, f"txnNumber may only be provided for multi-document "
                                    f"transactions and retryable write commands. Command "
                                    f"'{spec.name}' is not a retryable write")
        if not isinstance(txn_number, int):
            raise MongoError(14, "BSON field 'txnNumber' must be a long")
        session = ctx.session
        assert session is not None
        if txn_number < session.txn_number:
            raise MongoError(225, f"Retryable write with txnNumber {txn_number} is prohibited "
                                  f"on session {_show_lsid(session.id)} because a newer "
                                  f"retryable write with txnNumber {session.txn_number} has "
                                  "already started on this session.")
        if txn_number > session.txn_number:
            if session.txn is not None:
                self.state.txns.abort(session.txn)
                session.txn = None
            session.txn_number = txn_number
            session.retry_txn_number = txn_number
            session.retry_results = {}
        elif session.retry_txn_number != txn_number:
            # The same number was a transaction: not a retry of a write.
            raise MongoError(50911, "Cannot start a retryable write with a transaction "
                                    "number used by a transaction")
        ctx.retry = session.retry_results

    # -- running -----------------------------------------------------------------------------

    async def _run(self, ctx: CommandContext) -> dict[str, Any]:
        spec = REGISTRY[ctx.name]
        write_concern.check(ctx.body.get("writeConcern"))
        reply = await spec.handler(ctx)
        unsatisfied = write_concern.error_for(ctx.body.get("writeConcern"))
        if unsatisfied is not None and reply.get("ok") == 1.0:
            # A copy: a retryable write keeps its reply to answer a retry with.
            reply = {**reply, "writeConcernError": unsatisfied}
        if isinstance(ctx.view, snapshots.SnapshotView):
            snapshots.add_at_cluster_time(reply, ctx.view)
        txn = ctx.txn
        if txn is not None and txn.open and "writeErrors" in reply:
            # A write error inside a transaction aborts it (mongod does the same).
            self.state.txns.abort(txn)
        return reply

    def _error_reply(self, error: MongoError, ctx: CommandContext | None) -> dict[str, Any]:
        txn = ctx.txn if ctx is not None else None
        if txn is not None and txn.open:
            self.state.txns.abort(txn)
        if error.code == 112 and txn is not None:
            error.add_label(TRANSIENT_TRANSACTION_ERROR)
        return error.to_reply()


def _show_lsid(session_id: Any) -> str:
    if isinstance(session_id, Binary) and session_id.subtype == 4:
        return str(session_id.as_uuid())
    return repr(session_id)


__all__ = ["ConnectionInfo", "Dispatcher", "ServerOptions", "SessionHistory"]
