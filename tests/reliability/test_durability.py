"""Durable mongolet (``--dbpath``): what a restart keeps, after a clean stop or ``kill -9``.

Each test runs ``python -m mongolet --dbpath DIR`` as a child process, so that it can be
stopped cleanly (SIGTERM: a checkpoint is written) or killed (SIGKILL: the journal is
replayed), then started again on the same directory. Documents are compared as raw BSON, so
types (Int64, Decimal128, dates, binary subtypes) and key order must come back exactly.

These tests are about mongolet's storage, so they skip when the suite runs on a real MongoDB.
"""

from __future__ import annotations

import datetime
import os
import struct
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from bson import Binary, Decimal128, Int64, MaxKey, ObjectId, Regex, Timestamp
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.errors import DuplicateKeyError, OperationFailure, PyMongoError, WriteError

import mongolet
from mongolet import durability
from mongolet.durability import DataFormatError, DbpathLockedError
from tests.reliability.nodes import Node, only_mongolet, start

pytestmark = only_mongolet

RAW: CodecOptions[RawBSONDocument] = CodecOptions(document_class=RawBSONDocument)
SYSTEM_DATABASES = ("admin", "config", "local")


def dump(client: MongoClient) -> dict[str, Any]:
    """Every user database: collections with options and indexes, raw documents in order."""
    state: dict[str, Any] = {}
    for name in client.list_database_names():
        if name in SYSTEM_DATABASES:
            continue
        db = client.get_database(name, codec_options=RAW)
        for info in client[name].list_collections():
            coll = db[info["name"]]
            entry: dict[str, Any] = {"info": info}
            if info["type"] == "collection":
                entry["indexes"] = list(client[name][info["name"]].list_indexes())
                entry["docs"] = [doc.raw for doc in coll.find()]
            state[f"{name}.{info['name']}"] = entry
    return state


HOW = pytest.mark.parametrize("how", ["clean", "kill"])


def typed_document(i: int) -> dict[str, Any]:
    return {
        "_id": ObjectId(), "z_first": i, "long": Int64(2**40 + i), "int": i,
        "dec": Decimal128(f"{i}.10"), "float": -0.0, "when": datetime.datetime(2024, 5, 1, 12, 30,
                                                                              0, 123000),
        "uuid": Binary.from_uuid(uuid.UUID(int=i)), "bytes": Binary(b"\x00\x01", 0),
        "old_uuid": Binary(b"\x00" * 16, 3), "custom": Binary(b"raw", 0x80),
        "ts": Timestamp(1_700_000_000, i), "re": Regex("^a.*", "i"), "max": MaxKey(),
        "nested": {"b": [1, {"c": None}], "a": "second"}, "empty": {},
    }


# -- what a restart keeps -------------------------------------------------------------------


@HOW
def test_documents_come_back_exactly(how: str, dbpath: Path, nodes: list[Node]) -> None:
    node = start(nodes, dbpath)
    client = node.client()
    coll = client.shop.items
    coll.insert_many([typed_document(i) for i in range(20)])
    coll.update_many({"int": {"$lt": 5}}, {"$set": {"changed": True}, "$inc": {"long": 1}})
    coll.delete_many({"int": {"$gte": 15}})
    coll.replace_one({"int": 7}, {"replaced": Int64(7)})
    client.shop.other.insert_one({"_id": "x", "v": 1})
    client.shop.other.find_one_and_delete({"_id": "x"})
    before = dump(client)
    assert len(before["shop.items"]["docs"]) == 15
    node.halt(how)

    node = start(nodes, dbpath)
    assert dump(node.client()) == before


def test_serve_keeps_data_in_both_modes(dbpath: Path) -> None:
    with mongolet.serve(dbpath=dbpath) as server:
        assert server.dbpath == str(dbpath)
        with MongoClient(server.uri) as client:
            client.app.notes.insert_one({"_id": 1, "text": "thread"})
    with mongolet.serve(dbpath=dbpath, mode="process") as server, \
            MongoClient(server.uri) as client:
        assert client.app.notes.find_one() == {"_id": 1, "text": "thread"}
        client.app.notes.insert_one({"_id": 2, "text": "process"})
    with mongolet.serve(dbpath=dbpath) as server, MongoClient(server.uri) as client:
        assert [d["text"] for d in client.app.notes.find()] == ["thread", "process"]


@HOW
def test_indexes_come_back_and_unique_ones_still_hold(how: str, dbpath: Path,
                                                      nodes: list[Node]) -> None:
    node = start(nodes, dbpath)
    users = node.client().app.users
    users.create_index("email", unique=True)
    users.create_index([("team", 1), ("rank", -1)], name="team_rank")
    users.create_index("nick", unique=True, partialFilterExpression={"nick": {"$exists": True}})
    users.create_index("gone")
    users.drop_index("gone_1")
    users.insert_many([{"email": f"u{i}@x", "team": i % 2, "rank": i} for i in range(5)])
    users.insert_one({"email": "nick@x", "nick": "n"})
    users.delete_one({"email": "u0@x"})  # frees its key
    indexes = list(users.list_indexes())
    node.halt(how)

    node = start(nodes, dbpath)
    users = node.client().app.users
    assert list(users.list_indexes()) == indexes
    with pytest.raises(DuplicateKeyError):
        users.insert_one({"email": "u1@x"})
    with pytest.raises(DuplicateKeyError):
        users.update_one({"email": "u2@x"}, {"$set": {"nick": "n"}})
    users.insert_one({"email": "u0@x"})  # the deleted document's key is free
    users.insert_many([{"email": "a@x"}, {"email": "b@x"}])  # no nick: partial index skips


@HOW
def test_collection_options_views_and_catalog_changes_come_back(how: str, dbpath: Path,
                                                                 nodes: list[Node]) -> None:
    node = start(nodes, dbpath)
    client = node.client()
    db = client.app
    db.create_collection("people", validator={"name": {"$type": "string"}})
    db.command("collMod", "people", validator={"age": {"$gte": 0}}, validationAction="error")
    db.create_collection("words", collation={"locale": "en", "strength": 2})
    db.words.insert_many([{"w": "Apple"}, {"w": "apple"}, {"w": "Banana"}])
    db.people.insert_one({"name": "ann", "age": 3})
    db.create_collection("adults", viewOn="people", pipeline=[{"$match": {"age": {"$gte": 3}}}])
    db.create_collection("old_name")
    db.old_name.insert_one({"_id": 1})
    client.admin.command("renameCollection", "app.old_name", to="app.new_name")
    db.create_collection("dropped")
    db.dropped.drop()
    client.gone.things.insert_one({"_id": 1})
    client.drop_database("gone")
    before = dump(client)
    node.halt(how)

    node = start(nodes, dbpath)
    client = node.client()
    db = client.app
    assert dump(client) == before  # same options, uuids and documents
    assert sorted(db.list_collection_names()) == ["adults", "new_name", "people", "words"]
    assert "gone" not in client.list_database_names()
    with pytest.raises(WriteError) as failure:
        db.people.insert_one({"name": "bob", "age": -1})
    assert failure.value.code == 121  # the collMod validator
    assert db.words.count_documents({"w": "APPLE"}) == 2  # the default collation
    assert [d["name"] for d in db.adults.find()] == ["ann"]
    assert db.new_name.find_one() == {"_id": 1}


# -- transactions ------------------------------------------------------------------------------


def test_committed_transaction_is_whole_and_uncommitted_ones_never_appear(
        dbpath: Path, nodes: list[Node]) -> None:
    node = start(nodes, dbpath)
    client = node.client()
    bank = client.bank
    bank.accounts.insert_many([{"_id": "a", "balance": 100}, {"_id": "b", "balance": 0}])
    with client.start_session() as session, session.start_transaction():
        bank.accounts.update_one({"_id": "a"}, {"$inc": {"balance": -30}}, session=session)
        bank.accounts.update_one({"_id": "b"}, {"$inc": {"balance": 30}}, session=session)
        bank.ledger.insert_one({"_id": "t1", "amount": 30}, session=session)  # creates it
        client.audit.log.insert_one({"_id": "t1"}, session=session)  # another database
    commit = durability.read_records(dbpath)[-1]
    assert commit["k"] == "commit"  # one record: every collection of the transaction
    assert sorted((c["db"], c["c"]) for c in commit["c"]) == [("audit", "log"),
                                                              ("bank", "ledger")]
    assert sorted((w[0], w[1]) for w in commit["w"]) == [
        ("audit", "log"), ("bank", "accounts"), ("bank", "accounts"), ("bank", "ledger")]

    aborted = client.start_session()
    aborted.start_transaction()
    bank.accounts.update_one({"_id": "a"}, {"$set": {"balance": -1}}, session=aborted)
    bank.ledger.insert_one({"_id": "aborted"}, session=aborted)
    aborted.abort_transaction()
    left_open = client.start_session()
    left_open.start_transaction()
    bank.accounts.update_one({"_id": "b"}, {"$set": {"balance": -1}}, session=left_open)
    bank.ledger.insert_one({"_id": "open"}, session=left_open)
    bank.pending.insert_one({"_id": 1}, session=left_open)  # a collection it creates
    records = len(durability.read_records(dbpath))
    node.kill()  # with the transaction open

    assert len(durability.read_records(dbpath)) == records  # neither was ever journaled
    node = start(nodes, dbpath)
    client = node.client()
    assert {d["_id"]: d["balance"] for d in client.bank.accounts.find()} == {"a": 70, "b": 30}
    assert list(client.bank.ledger.find()) == [{"_id": "t1", "amount": 30}]
    assert list(client.audit.log.find()) == [{"_id": "t1"}]
    assert "pending" not in client.bank.list_collection_names()


# -- damaged and foreign files --------------------------------------------------------------


def test_a_torn_tail_is_dropped_and_the_rest_survives(dbpath: Path, nodes: list[Node]) -> None:
    node = start(nodes, dbpath)
    coll = node.client().app.log
    for i in range(10):
        coll.insert_one({"_id": i, "pad": "x" * 40})
    node.kill()
    journal = dbpath / durability.JOURNAL
    size = journal.stat().st_size
    os.truncate(journal, size - 5)  # the last insert's record, cut short by a crash

    node = start(nodes, dbpath)
    coll = node.client().app.log
    assert [d["_id"] for d in coll.find()] == list(range(9))
    assert "dropped" in node.stderr() and "torn record" in node.stderr()
    coll.insert_one({"_id": 100})  # appended after the cut
    node.kill()
    with open(journal, "ab") as out:
        out.write(b"\x13\x00\x00\x00garbage that is no record")

    node = start(nodes, dbpath)
    coll = node.client().app.log
    assert [d["_id"] for d in coll.find()] == [*range(9), 100]
    node.stop()
    assert [r["k"] for r in durability.read_records(dbpath)] == []  # checkpointed


def _write_header(path: Path, magic: bytes, version: int, kind: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<8sII", magic, version, kind))


def test_a_future_format_version_is_refused_with_a_clear_message(dbpath: Path) -> None:
    _write_header(dbpath / durability.JOURNAL, b"MONGOLET", durability.FORMAT_VERSION + 1, 1)
    with pytest.raises(DataFormatError) as refused, mongolet.serve(dbpath=dbpath):
        pass
    message = str(refused.value)
    assert str(dbpath / "journal") in message
    assert f"format version {durability.FORMAT_VERSION + 1}" in message
    assert f"reads format version {durability.FORMAT_VERSION} only" in message
    assert "newer mongolet" in message
    with pytest.raises(DataFormatError, match="newer mongolet"), \
            mongolet.serve(dbpath=dbpath, mode="process"):
        pass

    cli = subprocess.run([sys.executable, "-m", "mongolet", "--port", "0", "--dbpath",
                          str(dbpath)], capture_output=True, text=True, timeout=30)
    assert cli.returncode == 1
    assert "newer mongolet" in cli.stderr and str(dbpath / "journal") in cli.stderr
    assert (dbpath / "journal").stat().st_size == 16  # left as it was


def test_files_that_are_not_mongolets_are_refused(dbpath: Path) -> None:
    dbpath.mkdir()
    (dbpath / "journal").write_bytes(b"WiredTiger 10.0.0: not ours at all")
    with pytest.raises(DataFormatError, match="not a mongolet data file"), \
            mongolet.serve(dbpath=dbpath):
        pass
    (dbpath / "journal").unlink()
    _write_header(dbpath / "checkpoint", b"MONGOLET", durability.FORMAT_VERSION, 2)
    with pytest.raises(DataFormatError, match="checkpoint is damaged"), \
            mongolet.serve(dbpath=dbpath):
        pass


def test_a_locked_dbpath_is_refused(dbpath: Path, nodes: list[Node]) -> None:
    with mongolet.serve(dbpath=dbpath):
        with pytest.raises(DbpathLockedError, match="in use by another mongolet"), \
                mongolet.serve(dbpath=dbpath):
            pass
        cli = subprocess.run([sys.executable, "-m", "mongolet", "--port", "0", "--dbpath",
                              str(dbpath)], capture_output=True, text=True, timeout=30)
        assert cli.returncode == 1
        assert f"pid {os.getpid()}" in cli.stderr and str(dbpath) in cli.stderr
    node = start(nodes, dbpath)  # free again once the first server stopped
    node.stop()


# -- checkpoints -------------------------------------------------------------------------------


def test_checkpoint_plus_journal_replay_equals_the_state(dbpath: Path,
                                                         nodes: list[Node]) -> None:
    node = start(nodes, dbpath, "--checkpoint-bytes", "4096")
    client = node.client()
    coll = client.app.counters
    coll.create_index("name", unique=True)
    for i in range(60):
        coll.insert_one({"name": f"c{i}", "n": Int64(i), "pad": "y" * 100})
        coll.update_one({"name": f"c{i // 2}"}, {"$inc": {"n": 1}})
        if i % 7 == 0:
            coll.delete_one({"name": f"c{i // 3}"})
    before = dump(client)
    op_time = client.app.command("ping")["operationTime"]
    node.kill()
    assert (dbpath / durability.CHECKPOINT).exists()
    assert durability.read_records(dbpath), "the tail after the last checkpoint is journaled"

    node = start(nodes, dbpath)
    client = node.client()
    assert dump(client) == before
    assert client.app.command("ping")["operationTime"] >= op_time  # the clock goes on
    reply = client.app.command("insert", "counters", documents=[{"name": "new"}])
    assert reply["operationTime"] > op_time
    with pytest.raises(DuplicateKeyError):
        client.app.counters.insert_one({"name": "c59"})


def test_a_failed_journal_write_is_never_visible(dbpath: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A write the journal refuses (a full disk) is not applied; reads go on."""
    with mongolet.serve(dbpath=dbpath) as server, MongoClient(server.uri) as client:
        client.app.log.insert_one({"_id": 1})

        def disk_full(*args: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(durability, "_write_all", disk_full)
        with pytest.raises(OperationFailure, match="cannot write the journal"), \
                client.start_session() as session, session.start_transaction():
            client.app.log.insert_one({"_id": 2}, session=session)
            client.app.other.insert_one({"_id": 2}, session=session)
        monkeypatch.undo()
        assert list(client.app.log.find()) == [{"_id": 1}]
        assert "other" not in client.app.list_collection_names()
        with pytest.raises(OperationFailure, match="restart the server"):
            client.app.log.insert_one({"_id": 4})
        assert list(client.app.log.find()) == [{"_id": 1}]
    with mongolet.serve(dbpath=dbpath) as server, MongoClient(server.uri) as client:
        assert list(client.app.log.find()) == [{"_id": 1}]
        client.app.log.insert_one({"_id": 5})


def test_after_a_failed_fsync_nothing_more_is_acknowledged_or_shown(
        dbpath: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with mongolet.serve(dbpath=dbpath) as server, \
            MongoClient(server.uri, serverSelectionTimeoutMS=1000) as client:
        client.app.log.insert_one({"_id": 1})

        def failing_sync(fd: int) -> None:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(durability.os, "fdatasync", failing_sync)
        with pytest.raises(OperationFailure, match="cannot write the journal"):
            client.app.log.insert_one({"_id": 2})  # written, but not known to be on disk
        monkeypatch.undo()
        with pytest.raises(PyMongoError, match="restart the server"):
            client.app.log.find_one({"_id": 2})  # so it is never shown
    with mongolet.serve(dbpath=dbpath) as server, MongoClient(server.uri) as client:
        assert client.app.log.find_one({"_id": 1}) == {"_id": 1}  # acknowledged: kept
        client.app.log.insert_one({"_id": 3})


def test_one_command_shares_one_fsync(dbpath: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    syncs: list[int] = []
    real = os.fdatasync

    def counting(fd: int) -> None:
        syncs.append(fd)
        real(fd)

    with mongolet.serve(dbpath=dbpath) as server, MongoClient(server.uri) as client:
        client.app.log.insert_one({"_id": 0})
        monkeypatch.setattr(durability.os, "fdatasync", counting)
        client.app.log.insert_many([{"_id": i} for i in range(1, 501)])
        assert len(syncs) == 1
        client.app.log.find_one()
        assert len(syncs) == 1  # nothing new to sync
        monkeypatch.undo()
        assert len(durability.read_records(dbpath)) == 1 + 501  # create, inserts


def test_a_crash_between_checkpoint_and_new_journal_replays_nothing_twice(
        dbpath: Path, nodes: list[Node]) -> None:
    node = start(nodes, dbpath)
    coll = node.client().app.counters
    coll.insert_one({"_id": "c", "n": 0})
    for _ in range(5):
        coll.update_one({"_id": "c"}, {"$inc": {"n": 1}})
    coll.insert_one({"_id": "gone"})
    coll.delete_one({"_id": "gone"})
    node.kill()
    journal = dbpath / durability.JOURNAL
    old_journal = journal.read_bytes()
    node = start(nodes, dbpath)
    node.stop()  # checkpoint written, then an empty journal
    assert len(journal.read_bytes()) == 16
    journal.write_bytes(old_journal)  # as if the crash came before the journal was replaced

    node = start(nodes, dbpath)
    coll = node.client().app.counters
    assert list(coll.find()) == [{"_id": "c", "n": 5}]
    coll.update_one({"_id": "c"}, {"$inc": {"n": 1}})  # appended after the old records
    node.kill()
    node = start(nodes, dbpath)
    assert list(node.client().app.counters.find()) == [{"_id": "c", "n": 6}]
    node.stop()  # a checkpoint, then a journal starting after it
    node = start(nodes, dbpath)
    node.client().app.counters.update_one({"_id": "c"}, {"$inc": {"n": 1}})
    node.kill()

    (dbpath / durability.CHECKPOINT).unlink()  # the journal's first records are missing now
    with pytest.raises(DataFormatError, match="records are missing"), \
            mongolet.serve(dbpath=dbpath):
        pass
