"""Multi-document transactions as mongod runs them: snapshot isolation, read-your-own-writes,
abort, WriteConflict, unique keys, and the error codes of the transaction state machine."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from bson import Int64
from pymongo import AsyncMongoClient, MongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.client_session import ClientSession
from pymongo.errors import DuplicateKeyError, OperationFailure
from pymongo.synchronous.database import Database

import mongolet

TRANSIENT = "TransientTransactionError"


@pytest.fixture
def session(client: MongoClient) -> Iterator[ClientSession]:
    with client.start_session() as s:
        yield s


@pytest.fixture
def raw_session(mongodb_uri: str) -> Iterator[ClientSession]:
    """A session of a client of its own: raw txnNumbers must not leak into pooled sessions."""
    with MongoClient(mongodb_uri) as own, own.start_session() as s:
        yield s


def raw(db: Database, session: ClientSession, command: dict[str, Any]) -> dict[str, Any]:
    """Run a command carrying our own transaction fields on ``session``'s lsid."""
    own_db = session.client[db.name]
    return own_db.command(command, session=session)


def admin(session: ClientSession, command: dict[str, Any]) -> dict[str, Any]:
    return session.client.admin.command(command, session=session)


def txn_fields(number: int, *, start: bool = False) -> dict[str, Any]:
    fields: dict[str, Any] = {"txnNumber": Int64(number), "autocommit": False}
    if start:
        fields["startTransaction"] = True
    return fields


# -- isolation ---------------------------------------------------------------------------------


def test_uncommitted_insert_is_invisible_then_committed(db: Database,
                                                        session: ClientSession) -> None:
    db.c.insert_one({"_id": 0})
    session.start_transaction()
    db.c.insert_one({"_id": 1}, session=session)
    assert db.c.find_one({"_id": 1}) is None
    assert db.c.count_documents({}) == 1
    assert db.c.find_one({"_id": 1}, session=session) == {"_id": 1}
    session.commit_transaction()
    assert db.c.find_one({"_id": 1}) == {"_id": 1}


def test_read_your_own_writes_and_others_see_old(db: Database, session: ClientSession) -> None:
    db.c.insert_many([{"_id": 1, "v": 1}, {"_id": 2, "v": 2}])
    with session.start_transaction():
        db.c.update_one({"_id": 1}, {"$set": {"v": 10}}, session=session)
        db.c.delete_one({"_id": 2}, session=session)
        assert list(db.c.find({}, session=session)) == [{"_id": 1, "v": 10}]
        assert list(db.c.find()) == [{"_id": 1, "v": 1}, {"_id": 2, "v": 2}]
    assert list(db.c.find()) == [{"_id": 1, "v": 10}]


def test_abort_discards_everything(db: Database, session: ClientSession) -> None:
    db.c.insert_one({"_id": 1, "v": 1})
    session.start_transaction()
    db.c.insert_one({"_id": 2}, session=session)
    db.c.update_one({"_id": 1}, {"$set": {"v": 2}}, session=session)
    db.other.insert_one({"_id": 1}, session=session)
    session.abort_transaction()
    assert list(db.c.find()) == [{"_id": 1, "v": 1}]
    assert "other" not in db.list_collection_names()


def test_snapshot_is_taken_at_first_operation(db: Database, session: ClientSession) -> None:
    db.c.insert_one({"_id": 1, "v": 1})
    with session.start_transaction():
        assert db.c.find_one({"_id": 1}, session=session) == {"_id": 1, "v": 1}
        db.c.update_one({"_id": 1}, {"$set": {"v": 2}})  # committed by someone else
        db.c.insert_one({"_id": 2})
        assert db.c.find_one({"_id": 1}, session=session) == {"_id": 1, "v": 1}
        assert db.c.count_documents({}, session=session) == 1


def test_cursor_in_transaction_reads_its_snapshot(db: Database, session: ClientSession) -> None:
    db.c.insert_many([{"_id": i, "v": 0} for i in range(10)])
    with session.start_transaction():
        cursor = db.c.find({}, session=session, batch_size=3)
        first = next(cursor)
        db.c.update_many({}, {"$set": {"v": 1}})
        rest = list(cursor)
        assert [d["v"] for d in [first, *rest]] == [0] * 10


def test_collection_created_in_transaction_is_invisible_until_commit(
        db: Database, session: ClientSession) -> None:
    with session.start_transaction():
        db.create_collection("fresh", session=session)
        db.fresh.insert_one({"_id": 1}, session=session)
        db.implicit.insert_one({"_id": 1}, session=session)
        assert "fresh" not in db.list_collection_names()
        assert "implicit" not in db.list_collection_names()
        assert db.fresh.find_one() is None
    assert {"fresh", "implicit"} <= set(db.list_collection_names())
    assert db.implicit.find_one() == {"_id": 1}


def test_index_created_in_transaction_on_new_collection(db: Database,
                                                        session: ClientSession) -> None:
    with session.start_transaction():
        db.fresh.create_index("u", unique=True, session=session)
        db.fresh.insert_one({"u": 1}, session=session)
        with pytest.raises(DuplicateKeyError):
            db.fresh.insert_one({"u": 1}, session=session)
        session.abort_transaction()
    assert "fresh" not in db.list_collection_names()


def test_index_on_existing_collection_in_transaction_is_263(db: Database,
                                                            session: ClientSession) -> None:
    db.c.insert_one({})
    session.start_transaction()
    with pytest.raises(OperationFailure) as info:
        db.c.create_index("x", session=session)
    assert info.value.code == 263
    session.abort_transaction()


# -- conflicts ---------------------------------------------------------------------------------


def test_two_transactions_writing_one_document_conflict(client: MongoClient,
                                                        db: Database) -> None:
    db.c.insert_one({"_id": 1, "v": 0})
    with client.start_session() as s1, client.start_session() as s2:
        s1.start_transaction()
        s2.start_transaction()
        db.c.update_one({"_id": 1}, {"$inc": {"v": 1}}, session=s1)
        with pytest.raises(OperationFailure) as info:
            db.c.update_one({"_id": 1}, {"$inc": {"v": 1}}, session=s2)
        assert info.value.code == 112
        assert info.value.has_error_label(TRANSIENT)
        # The conflicting transaction was aborted: its next command gets 251.
        with pytest.raises(OperationFailure) as after:
            db.c.find_one({}, session=s2)
        assert after.value.code == 251 and after.value.has_error_label(TRANSIENT)
        s1.commit_transaction()
    assert db.c.find_one() == {"_id": 1, "v": 1}


def test_same_id_inserted_by_two_transactions_conflicts(client: MongoClient,
                                                        db: Database) -> None:
    with client.start_session() as s1, client.start_session() as s2:
        s1.start_transaction()
        s2.start_transaction()
        db.c.insert_one({"_id": "k"}, session=s1)
        with pytest.raises(OperationFailure) as info:
            db.c.insert_one({"_id": "k"}, session=s2)
        assert info.value.code == 112 and info.value.has_error_label(TRANSIENT)
        s1.commit_transaction()


def test_write_to_document_committed_after_snapshot_conflicts(db: Database,
                                                              session: ClientSession) -> None:
    db.c.insert_one({"_id": 1, "v": 0})
    session.start_transaction()
    db.c.find_one({}, session=session)
    db.c.update_one({"_id": 1}, {"$set": {"v": 5}})
    with pytest.raises(OperationFailure) as info:
        db.c.update_one({"_id": 1}, {"$set": {"v": 6}}, session=session)
    assert info.value.code == 112 and info.value.has_error_label(TRANSIENT)
    assert db.c.find_one() == {"_id": 1, "v": 5}


def test_with_transaction_retries_write_conflict(client: MongoClient, db: Database) -> None:
    db.c.insert_one({"_id": 1, "v": 0})
    attempts = 0

    def callback(s: ClientSession) -> None:
        nonlocal attempts
        attempts += 1
        db.c.find_one({"_id": 1}, session=s)
        if attempts == 1:
            db.c.update_one({"_id": 1}, {"$inc": {"v": 100}})  # commits after our snapshot
        db.c.update_one({"_id": 1}, {"$inc": {"v": 1}}, session=s)

    with client.start_session() as s:
        s.with_transaction(callback)
    assert attempts == 2
    assert db.c.find_one() == {"_id": 1, "v": 101}


def test_unique_violation_in_transaction_aborts_it(db: Database,
                                                   session: ClientSession) -> None:
    db.c.create_index("email", unique=True)
    db.c.insert_one({"_id": 1, "email": "a@x"})
    session.start_transaction()
    db.c.insert_one({"_id": 2, "email": "b@x"}, session=session)
    with pytest.raises(DuplicateKeyError) as info:
        db.c.insert_one({"_id": 3, "email": "a@x"}, session=session)
    assert not info.value.has_error_label(TRANSIENT)
    with pytest.raises(OperationFailure) as after:
        db.c.insert_one({"_id": 4}, session=session)
    assert after.value.code == 251 and after.value.has_error_label(TRANSIENT)
    session.abort_transaction()
    assert db.c.count_documents({}) == 1


def test_unique_key_freed_and_taken_inside_transaction(db: Database,
                                                       session: ClientSession) -> None:
    db.c.create_index("u", unique=True)
    db.c.insert_one({"_id": 1, "u": 1})
    with session.start_transaction():
        db.c.update_one({"_id": 1}, {"$set": {"u": 2}}, session=session)
        db.c.insert_one({"_id": 2, "u": 1}, session=session)
        with pytest.raises(DuplicateKeyError):
            db.c.insert_one({"_id": 3, "u": 2}, session=session)
        session.abort_transaction()
    assert db.c.find_one({"u": 1}) == {"_id": 1, "u": 1}


def test_unique_key_pending_in_other_transaction_conflicts(client: MongoClient,
                                                           db: Database) -> None:
    db.c.create_index("u", unique=True)
    db.c.insert_one({"_id": 0})
    with client.start_session() as s1, client.start_session() as s2:
        s1.start_transaction()
        s2.start_transaction()
        db.c.insert_one({"_id": 1, "u": 7}, session=s1)
        with pytest.raises(OperationFailure) as info:
            db.c.insert_one({"_id": 2, "u": 7}, session=s2)
        assert info.value.code == 112
        s1.commit_transaction()
    with pytest.raises(DuplicateKeyError):
        db.c.insert_one({"_id": 3, "u": 7})


def test_unique_enforced_on_commit_path_for_upsert(db: Database,
                                                   session: ClientSession) -> None:
    db.c.create_index("u", unique=True)
    db.c.insert_one({"_id": 1, "u": 1})
    with session.start_transaction():
        with pytest.raises(DuplicateKeyError):
            db.c.update_one({"_id": 9}, {"$set": {"u": 1}}, upsert=True, session=session)
        session.abort_transaction()


# -- state machine errors -------------------------------------------------------------------


def test_commit_is_idempotent_and_abort_after_commit_is_256(db: Database,
                                                            raw_session: ClientSession) -> None:
    raw(db, raw_session, {"insert": "c", "documents": [{"_id": 1}], **txn_fields(1, start=True)})
    assert admin(raw_session, {"commitTransaction": 1, **txn_fields(1)})["ok"] == 1
    assert admin(raw_session, {"commitTransaction": 1, **txn_fields(1)})["ok"] == 1
    with pytest.raises(OperationFailure) as info:
        admin(raw_session, {"abortTransaction": 1, **txn_fields(1)})
    assert info.value.code == 256
    with pytest.raises(OperationFailure) as other:
        raw(db, raw_session, {"find": "c", **txn_fields(1)})
    assert other.value.code == 256


def test_commit_of_unknown_transaction_is_251(db: Database, raw_session: ClientSession) -> None:
    raw(db, raw_session, {"find": "c", **txn_fields(3, start=True)})
    with pytest.raises(OperationFailure) as info:
        admin(raw_session, {"commitTransaction": 1, **txn_fields(4)})
    assert info.value.code == 251 and info.value.has_error_label(TRANSIENT)


def test_aborted_transaction_continues_with_251(db: Database, raw_session: ClientSession) -> None:
    raw(db, raw_session, {"find": "c", **txn_fields(1, start=True)})
    admin(raw_session, {"abortTransaction": 1, **txn_fields(1)})
    for command in ({"find": "c", **txn_fields(1)},):
        with pytest.raises(OperationFailure) as info:
            raw(db, raw_session, command)
        assert info.value.code == 251
    with pytest.raises(OperationFailure) as commit:
        admin(raw_session, {"commitTransaction": 1, **txn_fields(1)})
    assert commit.value.code == 251


def test_older_txn_number_is_225(db: Database, raw_session: ClientSession) -> None:
    raw(db, raw_session, {"find": "c", **txn_fields(5, start=True)})
    with pytest.raises(OperationFailure) as info:
        raw(db, raw_session, {"find": "c", **txn_fields(4, start=True)})
    assert info.value.code == 225


def test_read_concern_after_first_command_is_72(db: Database, raw_session: ClientSession) -> None:
    raw(db, raw_session, {"find": "c", **txn_fields(1, start=True),
                      "readConcern": {"level": "snapshot"}})
    with pytest.raises(OperationFailure) as info:
        raw(db, raw_session, {"find": "c", **txn_fields(1), "readConcern": {"level": "local"}})
    assert info.value.code == 72


def test_write_concern_inside_transaction_is_72(db: Database, raw_session: ClientSession) -> None:
    with pytest.raises(OperationFailure) as info:
        raw(db, raw_session, {"insert": "c", "documents": [{}], **txn_fields(1, start=True),
                          "writeConcern": {"w": 1}})
    assert info.value.code == 72


@pytest.mark.parametrize("command", [
    {"count": "c"}, {"listCollections": 1}, {"listIndexes": "c"}, {"drop": "c"},
    {"aggregate": "c", "pipeline": [{"$out": "x"}], "cursor": {}},
])
def test_unsupported_commands_in_transaction_are_263(db: Database, raw_session: ClientSession,
                                                     command: dict[str, Any]) -> None:
    db.c.insert_one({})
    with pytest.raises(OperationFailure) as info:
        raw(db, raw_session, {**command, **txn_fields(1, start=True)})
    assert info.value.code == 263
    assert not info.value.has_error_label(TRANSIENT)


def test_new_transaction_number_aborts_the_previous(db: Database,
                                                    raw_session: ClientSession) -> None:
    raw(db, raw_session, {"insert": "c", "documents": [{"_id": 1}], **txn_fields(1, start=True)})
    raw(db, raw_session, {"find": "c", **txn_fields(2, start=True)})
    with pytest.raises(OperationFailure) as info:
        admin(raw_session, {"commitTransaction": 1, **txn_fields(1)})
    assert info.value.code == 225
    assert db.c.find_one() is None


def test_end_sessions_aborts_open_transaction(client: MongoClient, db: Database) -> None:
    db.c.insert_one({"_id": 1, "v": 0})
    s = client.start_session()
    s.start_transaction()
    db.c.update_one({"_id": 1}, {"$set": {"v": 1}}, session=s)
    lsid = s.session_id
    client.admin.command("endSessions", [lsid])
    # The document is free again: a plain write does not wait.
    db.c.update_one({"_id": 1}, {"$set": {"v": 2}})
    assert db.c.find_one() == {"_id": 1, "v": 2}
    with pytest.raises(OperationFailure):
        s.commit_transaction()
    s.end_session()


def test_transaction_lifetime_limit_aborts() -> None:
    with mongolet.serve() as server, MongoClient(server.uri) as c:
        c.admin.command("setParameter", 1, transactionLifetimeLimitSeconds=0.3)
        c.t.c.insert_one({"_id": 1, "v": 0})
        with c.start_session() as s:
            s.start_transaction()
            c.t.c.update_one({"_id": 1}, {"$set": {"v": 1}}, session=s)
            # A plain write waits for the transaction only until its lifetime ends.
            c.t.c.update_one({"_id": 1}, {"$set": {"v": 2}})
            with pytest.raises(OperationFailure) as info:
                s.commit_transaction()
            assert info.value.code == 251
        assert c.t.c.find_one() == {"_id": 1, "v": 2}


# -- non-transactional writers wait ------------------------------------------------------------


async def test_plain_write_waits_for_transaction(aclient: AsyncMongoClient,
                                                 adb: AsyncDatabase) -> None:
    await adb.c.insert_one({"_id": 1, "v": 0})
    async with aclient.start_session() as s:
        await s.start_transaction()
        await adb.c.update_one({"_id": 1}, {"$inc": {"v": 1}}, session=s)
        plain = asyncio.create_task(adb.c.update_one({"_id": 1}, {"$inc": {"v": 10}}))
        await asyncio.sleep(0.2)
        assert not plain.done()
        await s.commit_transaction()
        result = await asyncio.wait_for(plain, 5)
        assert result.modified_count == 1
    assert await adb.c.find_one() == {"_id": 1, "v": 11}


async def test_async_transaction_isolation_and_with_transaction(
        aclient: AsyncMongoClient, adb: AsyncDatabase) -> None:
    await adb.c.insert_one({"_id": 1, "v": 0})

    async def callback(s: Any) -> str:
        await adb.c.update_one({"_id": 1}, {"$set": {"v": 1}}, session=s)
        await adb.c.insert_one({"_id": 2}, session=s)
        assert await adb.c.find_one({"_id": 2}) is None  # not visible outside yet
        assert await adb.c.count_documents({}, session=s) == 2
        return "done"

    async with aclient.start_session() as s:
        assert await s.with_transaction(callback) == "done"
    assert await adb.c.count_documents({}) == 2
    assert await adb.c.find_one({"_id": 1}) == {"_id": 1, "v": 1}


async def test_async_conflict_has_transient_label(aclient: AsyncMongoClient,
                                                  adb: AsyncDatabase) -> None:
    await adb.c.insert_one({"_id": 1})
    async with aclient.start_session() as s1, aclient.start_session() as s2:
        await s1.start_transaction()
        await s2.start_transaction()
        await adb.c.delete_one({"_id": 1}, session=s1)
        with pytest.raises(OperationFailure) as info:
            await adb.c.update_one({"_id": 1}, {"$set": {"a": 1}}, session=s2)
        assert info.value.code == 112 and info.value.has_error_label(TRANSIENT)
        await s1.abort_transaction()
    assert await adb.c.find_one() == {"_id": 1}
