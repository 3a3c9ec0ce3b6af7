"""Durable sessions: a commit or a retryable write retried after ``kill -9`` and a restart
gets the answer mongod gives from its config.transactions, and is applied once.

mongod keeps each session's newest transaction number and its outcome (a committed
transaction, the results of a retryable write's statements) on disk, with the data. A driver
whose commit or write reply was lost in a crash retries it: the commit must be ok (not
NoSuchTransaction) when it did commit, the write must be answered with its first reply (not
applied again). mongolet (``--dbpath``) journals that outcome in the same record as the
commit's writes, keeps it in checkpoints, and rebuilds the sessions at start-up.

The commands go over a raw connection (``Wire``), so lsid and txnNumber are exactly ours,
and no driver retries behind our back; the last test goes through the real PyMongo driver and
``uow.UnitOfWork.run``, the server being killed as it sends the reply of a commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bson
import pytest
from bson import Binary, Int64
from pymongo import MongoClient

from mongolet import durability
from mongolet.commands import ConnectionInfo, Dispatcher, ServerOptions, SessionHistory
from mongolet.commands.session_history import SESSION_TIMEOUT_SECONDS
from mongolet.durability import Durability
from mongolet.wire import CODEC_OPTIONS, OP_MSG
from odm import SyncEngine
from tests.odm.helpers import CommandRecorder
from tests.raw_wire import recv_exactly
from tests.reliability.conftest import make_transfer
from tests.reliability.nodes import Node, only_mongolet, start
from tests.uow.models import Account, BankUnit, Transfer

pytestmark = only_mongolet

TRANSIENT = "TransientTransactionError"


# -- a raw connection ----------------------------------------------------------------------------


def _port(uri: str) -> int:
    match = re.search(r":(\d+)/", uri)
    assert match, uri
    return int(match.group(1))


class Wire:
    """One connection speaking OP_MSG: each command goes as written (no driver adds an lsid,
    a txnNumber or a retry)."""

    def __init__(self, node: Node) -> None:
        self.sock = socket.create_connection(("127.0.0.1", _port(node.uri)), timeout=10)
        self._ids = iter(range(1, 1 << 30))

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def command(self, body: dict[str, Any], db: str = "admin") -> dict[str, Any]:
        doc = bson.encode({**body, "$db": db}, codec_options=CODEC_OPTIONS)
        payload = struct.pack("<i", 0) + b"\x00" + doc
        self.sock.sendall(struct.pack("<iiii", 16 + len(payload), next(self._ids), 0, OP_MSG)
                          + payload)
        length, _, _, op_code = struct.unpack("<iiii", recv_exactly(self.sock, 16))
        assert op_code == OP_MSG
        reply = bson.decode(recv_exactly(self.sock, length - 16)[5:],
                            codec_options=CODEC_OPTIONS)
        reply.pop("operationTime", None)
        reply.pop("$clusterTime", None)
        return reply


def new_lsid() -> dict[str, Any]:
    return {"id": Binary.from_uuid(uuid.uuid4())}


def txn(lsid: dict[str, Any], number: int, *, start: bool = False) -> dict[str, Any]:
    fields: dict[str, Any] = {"lsid": lsid, "txnNumber": Int64(number), "autocommit": False}
    if start:
        fields["startTransaction"] = True
    return fields


def ok(reply: dict[str, Any]) -> dict[str, Any]:
    assert reply["ok"] == 1.0 and "writeErrors" not in reply, reply
    return reply


def error(reply: dict[str, Any], code: int) -> dict[str, Any]:
    assert reply["ok"] == 0.0 and reply["code"] == code, reply
    return reply


def documents(node: Node, name: str = "c") -> list[dict[str, Any]]:
    with MongoClient(node.uri, serverSelectionTimeoutMS=2000) as client:
        return list(client.db[name].find().sort("_id"))


def session_records(dbpath: Path, lsids: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The commit records of the journal that carry a session record of ``lsids``."""
    ids = [lsid["id"] for lsid in lsids]
    return [rec for rec in durability.read_records(dbpath)
            if rec["k"] == "commit" and "s" in rec and rec["s"]["id"] in ids]


# -- transactions --------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_a_commit_retried_after_a_restart_is_ok_and_applied_once(
        how: str, dbpath: Path, nodes: list[Node]) -> None:
    lsid = new_lsid()
    node = start(nodes, dbpath)
    with Wire(node) as w:
        ok(w.command({"insert": "c", "documents": [{"_id": 1, "v": 0}],
                      **txn(lsid, 3, start=True)}, "db"))
        ok(w.command({"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$inc": {"v": 1}}}],
                      **txn(lsid, 3)}, "db"))
        ok(w.command({"commitTransaction": 1, **txn(lsid, 3)}))
        before = [w.command({"abortTransaction": 1, **txn(lsid, 3)}),
                  w.command({"insert": "c", "documents": [{"_id": 2}],
                             **txn(lsid, 3, start=True)}, "db"),
                  w.command({"insert": "c", "documents": [{"_id": 2}], "lsid": lsid,
                             "txnNumber": Int64(3)}, "db")]
    if how == "kill":  # the outcome is in the commit's own journal record
        [commit] = session_records(dbpath, [lsid])
        assert commit["s"]["id"] == lsid["id"] and commit["s"]["committed"] is True
        assert commit["s"]["txnNumber"] == 3 and len(commit["w"]) == 1
    node.halt(how)

    node = start(nodes, dbpath)
    with Wire(node) as w:
        # As a driver retries it: w majority (the reply of the first commit was lost).
        retried = {"commitTransaction": 1, **txn(lsid, 3),
                   "writeConcern": {"w": "majority", "wtimeout": 10000}}
        ok(w.command(retried))
        ok(w.command(retried))
        after = [w.command({"abortTransaction": 1, **txn(lsid, 3)}),
                 w.command({"insert": "c", "documents": [{"_id": 2}],
                            **txn(lsid, 3, start=True)}, "db"),
                 w.command({"insert": "c", "documents": [{"_id": 2}], "lsid": lsid,
                            "txnNumber": Int64(3)}, "db")]
        assert [r["code"] for r in after] == [r["code"] for r in before] == [256, 256, 50911]
        # The session goes on with newer numbers.
        ok(w.command({"insert": "c", "documents": [{"_id": 3}], **txn(lsid, 4, start=True)},
                     "db"))
        ok(w.command({"commitTransaction": 1, **txn(lsid, 4)}))
    assert documents(node) == [{"_id": 1, "v": 1}, {"_id": 3}]


def test_a_transaction_open_at_the_kill_is_gone_and_its_commit_is_no_such_transaction(
        dbpath: Path, nodes: list[Node]) -> None:
    committed, left_open = new_lsid(), new_lsid()
    node = start(nodes, dbpath)
    with Wire(node) as w:
        ok(w.command({"insert": "c", "documents": [{"_id": "kept"}],
                      **txn(committed, 1, start=True)}, "db"))
        ok(w.command({"commitTransaction": 1, **txn(committed, 1)}))
        # Then the same session's next transaction, and another session's, never committed.
        ok(w.command({"insert": "c", "documents": [{"_id": "limbo-1"}],
                      **txn(committed, 2, start=True)}, "db"))
        ok(w.command({"insert": "c", "documents": [{"_id": "limbo-2"}],
                      **txn(left_open, 1, start=True)}, "db"))
    node.kill()

    node = start(nodes, dbpath)
    with Wire(node) as w:
        for lsid, number in ((committed, 2), (left_open, 1)):
            reply = error(w.command({"commitTransaction": 1, **txn(lsid, number)}), 251)
            # mongod labels NoSuchTransaction on a commit transient when no write concern
            # error came with it: nothing was applied, running the transaction again is safe.
            assert reply["errorLabels"] == [TRANSIENT]
            assert reply["codeName"] == "NoSuchTransaction"
        ok(w.command({"commitTransaction": 1, **txn(committed, 1)}))  # the committed one
        # Running it again works (a new transaction number).
        ok(w.command({"insert": "c", "documents": [{"_id": "limbo-2"}],
                      **txn(left_open, 2, start=True)}, "db"))
        ok(w.command({"commitTransaction": 1, **txn(left_open, 2)}))
    assert documents(node) == [{"_id": "kept"}, {"_id": "limbo-2"}]


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_an_older_txn_number_after_a_restart_is_too_old(how: str, dbpath: Path,
                                                        nodes: list[Node]) -> None:
    in_txn, retryable = new_lsid(), new_lsid()
    node = start(nodes, dbpath)
    with Wire(node) as w:
        ok(w.command({"insert": "c", "documents": [{"_id": 1}], **txn(in_txn, 5, start=True)},
                     "db"))
        ok(w.command({"commitTransaction": 1, **txn(in_txn, 5)}))
        first = ok(w.command({"insert": "c", "documents": [{"_id": 2}], "lsid": retryable,
                              "txnNumber": Int64(9)}, "db"))
    node.halt(how)

    node = start(nodes, dbpath)
    with Wire(node) as w:
        for lsid, older in ((in_txn, 4), (retryable, 8)):
            error(w.command({"insert": "c", "documents": [{"_id": 3}],
                             **txn(lsid, older, start=True)}, "db"), 225)
            error(w.command({"insert": "c", "documents": [{"_id": 3}], "lsid": lsid,
                             "txnNumber": Int64(older)}, "db"), 225)
        assert ok(w.command({"insert": "c", "documents": [{"_id": 2}], "lsid": retryable,
                             "txnNumber": Int64(9)}, "db")) == first
    assert documents(node) == [{"_id": 1}, {"_id": 2}]


# -- retryable writes ----------------------------------------------------------------------------


RETRYABLE_WRITES: list[dict[str, Any]] = [
    {"insert": "c", "documents": [{"_id": 1}, {"_id": 2}]},
    {"update": "c", "updates": [{"q": {"_id": "a"}, "u": {"$inc": {"v": 1}}},
                                {"q": {"_id": "new"}, "u": {"$inc": {"v": 5}}, "upsert": True}]},
    {"delete": "c", "deletes": [{"q": {"_id": "gone"}, "limit": 1}]},
    {"findAndModify": "c", "query": {"_id": "b"}, "update": {"$inc": {"v": 10}}, "new": True},
    {"findAndModify": "c", "query": {"_id": "fam"}, "update": {"$inc": {"v": 1}},
     "upsert": True},
    {"findAndModify": "c", "query": {"_id": "doomed"}, "remove": True},
]


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_retryable_writes_retried_after_a_restart_get_their_first_reply_and_apply_once(
        how: str, dbpath: Path, nodes: list[Node]) -> None:
    node = start(nodes, dbpath)
    with MongoClient(node.uri, serverSelectionTimeoutMS=2000) as client:
        client.db.c.insert_many([{"_id": "a", "v": 0}, {"_id": "b", "v": 0}, {"_id": "gone"},
                                 {"_id": "doomed", "v": 7}])
    commands = [{**command, "lsid": new_lsid(), "txnNumber": Int64(7)}
                for command in RETRYABLE_WRITES]
    with Wire(node) as w:
        first = [ok(w.command(command, "db")) for command in commands]
    assert [r["n"] for r in first[:3]] == [2, 2, 1]
    assert first[1]["nModified"] == 1 and first[1]["upserted"] == [{"index": 1, "_id": "new"}]
    if how == "kill":
        # One record per statement: the statement's result with the statement's write.
        assert len(session_records(dbpath, [c["lsid"] for c in commands])) == 2 + 2 + 1 + 1 + 1 + 1
    node.halt(how)

    node = start(nodes, dbpath)
    with Wire(node) as w:
        again = [w.command(command, "db") for command in commands]
    assert again == first
    assert documents(node) == [{"_id": 1}, {"_id": 2}, {"_id": "a", "v": 1},
                               {"_id": "b", "v": 10}, {"_id": "fam", "v": 1},
                               {"_id": "new", "v": 5}]


def test_a_failed_statement_is_run_again_by_a_retry_after_a_restart(
        dbpath: Path, nodes: list[Node]) -> None:
    node = start(nodes, dbpath)
    command = {"insert": "c", "documents": [{"_id": 1}, {"_id": 2}, {"_id": 3}],
               "ordered": False, "lsid": new_lsid(), "txnNumber": Int64(1)}
    with Wire(node) as w:
        ok(w.command({"insert": "c", "documents": [{"_id": 2}]}, "db"))
        first = w.command(command, "db")
        assert first["n"] == 2 and [e["index"] for e in first["writeErrors"]] == [1]
        ok(w.command({"delete": "c", "deletes": [{"q": {"_id": 2}, "limit": 1}]}, "db"))
    node.kill()

    node = start(nodes, dbpath)
    with Wire(node) as w:
        assert ok(w.command(command, "db"))["n"] == 3
    assert documents(node) == [{"_id": 1}, {"_id": 2}, {"_id": 3}]


# -- checkpoints: live sessions, newest record each ---------------------------------------------


def _run(dispatcher: Dispatcher, body: dict[str, Any], db: str = "db") -> dict[str, Any]:
    reply = asyncio.run(dispatcher.handle({**body, "$db": db}, ConnectionInfo(1, "test")))
    del reply["operationTime"], reply["$clusterTime"]
    return reply


def _open(path: Path) -> tuple[Durability, Dispatcher]:
    """A durable dispatcher as the server builds one, in this process."""
    store_dir = Durability(path)
    history = SessionHistory()
    store = store_dir.load(history.add)
    dispatcher = Dispatcher(ServerOptions("127.0.0.1", 27017), store, history)
    store_dir.session_records = dispatcher.session_records
    return store_dir, dispatcher


def test_a_checkpoint_keeps_the_newest_outcome_of_each_live_session(tmp_path: Path) -> None:
    path = tmp_path / "data"
    stale, busy, committed, pending = new_lsid(), new_lsid(), new_lsid(), new_lsid()
    store_dir, dispatcher = _open(path)
    ok(_run(dispatcher, {"insert": "c", "documents": [{"_id": 0}], "lsid": stale,
                         "txnNumber": Int64(1)}))
    for number in (1, 2, 3):
        ok(_run(dispatcher, {"insert": "c", "documents": [{"_id": number}, {"_id": -number}],
                             "lsid": busy, "txnNumber": Int64(number)}))
    ok(_run(dispatcher, {"insert": "c", "documents": [{"_id": "t"}],
                         **txn(committed, 4, start=True)}))
    ok(_run(dispatcher, {"commitTransaction": 1, **txn(committed, 4)}, "admin"))
    ok(_run(dispatcher, {"insert": "c", "documents": [{"_id": "p"}],
                         **txn(pending, 2, start=True)}))
    # One session idle past logicalSessionTimeoutMinutes: mongod would have reaped it.
    dispatcher.state.sessions[stale["id"]].last_used -= SESSION_TIMEOUT_SECONDS + 60
    dispatcher.close()
    store_dir.close()  # a clean stop: a checkpoint, an empty journal

    assert durability.read_records(path) == []
    end = durability.read_records(path, durability.CHECKPOINT)[-1]
    kept = {record["id"]: record for record in end["s"]}
    assert set(kept) == {busy["id"], committed["id"], pending["id"]}
    assert kept[busy["id"]]["txnNumber"] == 3
    assert kept[busy["id"]]["stmts"] == [[0, True], [1, True]]
    assert kept[committed["id"]]["committed"] is True
    # An aborted (here: aborted at the stop) transaction: its number only, no outcome.
    assert set(kept[pending["id"]]) == {"id", "txnNumber", "lastUse"}

    store_dir, dispatcher = _open(path)
    try:
        sessions = dispatcher.state.sessions
        assert set(sessions) == {busy["id"], committed["id"], pending["id"]}
        assert sessions[busy["id"]].retry_results == {0: True, 1: True}
        error(_run(dispatcher, {"insert": "c", "documents": [{"_id": 9}], "lsid": busy,
                                "txnNumber": Int64(2)}), 225)
        error(_run(dispatcher, {"insert": "c", "documents": [{"_id": 9}],
                                **txn(pending, 1, start=True)}), 225)
        error(_run(dispatcher, {"commitTransaction": 1, **txn(pending, 2)}, "admin"), 251)
        ok(_run(dispatcher, {"commitTransaction": 1, **txn(committed, 4)}, "admin"))
    finally:
        dispatcher.close()
        store_dir.close()


def test_files_without_session_records_still_load(tmp_path: Path) -> None:
    """What the previous version wrote (no ``s`` fields) loads: the format is unchanged."""
    path = tmp_path / "data"
    store_dir, dispatcher = _open(path)
    ok(_run(dispatcher, {"insert": "c", "documents": [{"_id": 1}, {"_id": 2}]}))  # no lsid
    dispatcher.close()
    store_dir.close(checkpoint=False)
    assert all("s" not in rec for rec in durability.read_records(path))
    store_dir, dispatcher = _open(path)
    try:
        assert dispatcher.state.sessions == {}
        ok(_run(dispatcher, {"insert": "c", "documents": [{"_id": 3}]}))
    finally:
        dispatcher.close()
        store_dir.close()  # a checkpoint with no session records
    assert "s" not in durability.read_records(path, durability.CHECKPOINT)[-1]
    store_dir, dispatcher = _open(path)
    try:
        reply = _run(dispatcher, {"find": "c", "sort": {"_id": 1}})
        assert reply["cursor"]["firstBatch"] == [{"_id": 1}, {"_id": 2}, {"_id": 3}]
    finally:
        dispatcher.close()
        store_dir.close()


def test_session_history_keeps_the_newest_number_and_forgets_expired_sessions() -> None:
    import time

    from mongolet.storage import Store
    from mongolet.transactions import TransactionManager

    now = time.time()
    history = SessionHistory()
    a, b, c = "a", "b", "c"
    history.add({"id": a, "txnNumber": Int64(1), "lastUse": now, "stmts": [[0, True]]})
    history.add({"id": a, "txnNumber": Int64(2), "lastUse": now, "stmts": [[0, [1, 1, None]]]})
    history.add({"id": a, "txnNumber": Int64(2), "lastUse": now, "stmts": [[1, 1]]})
    history.add({"id": b, "txnNumber": Int64(5), "lastUse": now, "committed": True})
    history.add({"id": c, "txnNumber": Int64(1),
                 "lastUse": now - SESSION_TIMEOUT_SECONDS - 1, "committed": True})
    sessions: dict[Any, Any] = {}
    assert history.restore(sessions, TransactionManager(Store())) == 2
    assert set(sessions) == {a, b}
    assert (sessions[a].txn_number, sessions[a].retry_txn_number) == (2, 2)
    assert sessions[a].retry_results == {0: [1, 1, None], 1: 1}
    assert sessions[b].txn_number == 5 and sessions[b].txn.state == "committed"
    assert sessions[b].retry_txn_number == -1


# -- the real driver: a commit whose reply is lost ---------------------------------------------


class CommitReplyLost:
    """A TCP proxy in front of a node that loses the reply of the first commitTransaction.

    It forwards every message both ways, watching the client's for a commitTransaction.
    When the node sends that command's reply (so the commit is journaled and fsynced), the
    proxy kills the node (SIGKILL) instead of passing the reply on, drops the client's
    connection, and starts the node again on the same data directory. The driver never
    learns whether its commit happened: it retries the commit, against the restarted node.
    """

    def __init__(self, nodes: list[Node], dbpath: Path) -> None:
        self.nodes = nodes
        self.dbpath = dbpath
        self.node = start(nodes, dbpath)
        self.upstream = _port(self.node.uri)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.armed = False
        self.killed = 0
        self.commit_requests: set[int] = set()
        self.failures: list[BaseException] = []
        self._lock = threading.Lock()
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def uri(self) -> str:
        # Direct: the driver keeps talking to the proxy, not to the address the node reports.
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def close(self) -> None:
        self._closing = True
        self.listener.close()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
            except OSError:  # the node is being restarted: the driver tries again
                client.close()
                continue
            server.settimeout(None)
            for src, dst, from_client in ((client, server, True), (server, client, False)):
                threading.Thread(target=self._pump, args=(src, dst, from_client, client, server),
                                 daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_client: bool,
              client: socket.socket, server: socket.socket) -> None:
        try:
            while True:
                header = recv_exactly(src, 16)
                length, request_id, response_to, op_code = struct.unpack("<iiii", header)
                body = recv_exactly(src, length - 16)
                if from_client and self.armed and op_code == OP_MSG and body[4] == 0:
                    size = struct.unpack_from("<i", body, 5)[0]
                    command = bson.decode(body[5:5 + size])
                    if next(iter(command)) == "commitTransaction":
                        with self._lock:
                            self.commit_requests.add(request_id)
                if not from_client and response_to in self.commit_requests:
                    self._crash_and_restart(client, server)
                    return
                dst.sendall(header + body)
        except OSError:
            pass
        except BaseException as exc:  # a bug in the proxy: fail the test, not hang it
            self.failures.append(exc)
        finally:
            _hang_up(client, server)

    def _crash_and_restart(self, client: socket.socket, server: socket.socket) -> None:
        with self._lock:
            self.armed = False
            self.commit_requests.clear()
        self.node.kill()
        _hang_up(client, server)  # the driver sees its connection die, reply unread
        self.killed += 1
        self.node = start(self.nodes, self.dbpath)
        self.upstream = _port(self.node.uri)


def _hang_up(*socks: socket.socket) -> None:
    """Close both ends now (``close`` alone leaves a socket open while a thread reads it)."""
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


@pytest.fixture
def lossy(nodes: list[Node], dbpath: Path) -> Iterator[CommitReplyLost]:
    proxy = CommitReplyLost(nodes, dbpath)
    yield proxy
    proxy.close()


def test_a_unit_of_work_whose_commit_reply_is_lost_in_a_crash_is_applied_once(
        lossy: CommitReplyLost) -> None:
    recorder = CommandRecorder()
    client: MongoClient = MongoClient(lossy.uri, serverSelectionTimeoutMS=20000,
                                      event_listeners=[recorder])
    try:
        engine = SyncEngine(client, database="bank")
        alice, bob = Account(owner="alice", balance=100), Account(owner="bob", balance=100)
        engine.save_all([alice, bob])
        attempts: list[int] = []
        lossy.armed = True
        entry = BankUnit(engine).run(make_transfer("sync", attempts), alice.id, bob.id, 30)
        assert lossy.killed == 1 and not lossy.failures
        # The driver sent the commit again, to the restarted node, and it was ok: the unit
        # did not run again, the transfer is there once.
        commits = recorder.named("commitTransaction")
        assert len(commits) >= 2 and len({c["txnNumber"] for c in commits}) == 1
        assert len({c["lsid"]["id"] for c in commits}) == 1
        assert len(attempts) == 1
        balances = {a.owner: a.balance for a in engine.find(Account)}
        assert balances == {"alice": 70, "bob": 130}
        assert [t.id for t in engine.find(Transfer)] == [entry.id]
    finally:
        client.close()
