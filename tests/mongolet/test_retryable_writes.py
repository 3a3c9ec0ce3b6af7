"""Retryable writes: a write carrying lsid + txnNumber outside a transaction is applied once;
a retry with the same txnNumber is answered from the session's memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bson import Int64
from pymongo import AsyncMongoClient, MongoClient
from pymongo.client_session import ClientSession
from pymongo.errors import OperationFailure
from pymongo.synchronous.database import Database


@pytest.fixture
def own(mongodb_uri: str, db: Database) -> Iterator[tuple[Database, ClientSession]]:
    """The test's database through a client of its own, and one session of it (our raw
    txnNumbers must not leak into the shared client's session pool)."""
    with MongoClient(mongodb_uri) as c, c.start_session() as s:
        yield c[db.name], s


# Numbers above what the driver's own retryable writes on the same pooled session reach.
def run(own: tuple[Database, ClientSession], command: dict[str, Any]) -> dict[str, Any]:
    database, session = own
    return database.command(command, session=session)


def test_insert_retry_is_not_applied_twice(own: tuple[Database, ClientSession]) -> None:
    command = {"insert": "c", "documents": [{"_id": 1}, {"_id": 2}], "txnNumber": Int64(1001)}
    assert run(own, command)["n"] == 2
    again = run(own, command)
    assert again["n"] == 2 and "writeErrors" not in again
    assert own[0].c.count_documents({}) == 2


def test_update_retry_increments_once(own: tuple[Database, ClientSession]) -> None:
    own[0].c.insert_one({"_id": 1, "v": 0})
    command = {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$inc": {"v": 1}}}],
               "txnNumber": Int64(1007)}
    first = run(own, command)
    second = run(own, command)
    assert (first["n"], first["nModified"]) == (second["n"], second["nModified"]) == (1, 1)
    assert own[0].c.find_one() == {"_id": 1, "v": 1}
    run(own, {**command, "txnNumber": Int64(1008)})
    assert own[0].c.find_one() == {"_id": 1, "v": 2}


def test_upsert_retry_reports_same_id(own: tuple[Database, ClientSession]) -> None:
    command = {"update": "c", "updates": [{"q": {"k": 1}, "u": {"$inc": {"v": 1}},
                                           "upsert": True}], "txnNumber": Int64(1001)}
    first = run(own, command)
    second = run(own, command)
    assert first["upserted"] == second["upserted"]
    assert own[0].c.count_documents({}) == 1


def test_delete_and_find_and_modify_retries(own: tuple[Database, ClientSession]) -> None:
    own[0].c.insert_many([{"_id": i, "v": 0} for i in range(3)])
    delete = {"delete": "c", "deletes": [{"q": {}, "limit": 1}], "txnNumber": Int64(1001)}
    assert run(own, delete)["n"] == 1 and run(own, delete)["n"] == 1
    assert own[0].c.count_documents({}) == 2
    fam = {"findAndModify": "c", "query": {"_id": 1}, "update": {"$inc": {"v": 1}},
           "new": True, "txnNumber": Int64(1002)}
    assert run(own, fam)["value"] == {"_id": 1, "v": 1}
    assert run(own, fam)["value"] == {"_id": 1, "v": 1}
    assert own[0].c.find_one({"_id": 1}) == {"_id": 1, "v": 1}


def test_failed_statement_is_executed_again_on_retry(own: tuple[Database, ClientSession]
                                                     ) -> None:
    own[0].c.insert_one({"_id": 2})
    command = {"insert": "c", "documents": [{"_id": 1}, {"_id": 2}, {"_id": 3}],
               "ordered": False, "txnNumber": Int64(1001)}
    first = run(own, command)
    assert first["n"] == 2 and first["writeErrors"][0]["index"] == 1
    own[0].c.delete_one({"_id": 2})
    second = run(own, command)
    assert second["n"] == 3 and "writeErrors" not in second


def test_multi_and_limit_zero_are_72(own: tuple[Database, ClientSession]) -> None:
    with pytest.raises(OperationFailure) as multi:
        run(own, {"update": "c", "updates": [{"q": {}, "u": {"$set": {"a": 1}}, "multi": True}],
                  "txnNumber": Int64(1001)})
    assert multi.value.code == 72
    with pytest.raises(OperationFailure) as limit:
        run(own, {"delete": "c", "deletes": [{"q": {}, "limit": 0}], "txnNumber": Int64(1002)})
    assert limit.value.code == 72


def test_older_txn_number_is_225(own: tuple[Database, ClientSession]) -> None:
    run(own, {"insert": "c", "documents": [{}], "txnNumber": Int64(1005)})
    with pytest.raises(OperationFailure) as info:
        run(own, {"insert": "c", "documents": [{}], "txnNumber": Int64(1004)})
    assert info.value.code == 225


def test_txn_number_on_a_read_is_refused(own: tuple[Database, ClientSession]) -> None:
    with pytest.raises(OperationFailure):
        run(own, {"find": "c", "txnNumber": Int64(1001)})


def test_driver_retryable_writes_work(client: MongoClient, db: Database) -> None:
    # PyMongo sends txnNumber on every retryable single-statement write.
    with client.start_session() as s:
        for i in range(5):
            db.c.insert_one({"_id": i}, session=s)
            db.c.update_one({"_id": i}, {"$set": {"v": i}}, session=s)
        db.c.find_one_and_update({"_id": 0}, {"$inc": {"v": 1}}, session=s)
        db.c.delete_one({"_id": 4}, session=s)
    assert db.c.count_documents({}) == 4 and db.c.find_one({"_id": 0}) == {"_id": 0, "v": 1}


async def test_async_retry_replay(mongodb_uri: str, db_name: str) -> None:
    async with AsyncMongoClient(mongodb_uri) as c:
        adb = c[db_name]
        async with c.start_session() as s:
            command = {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$inc": {"v": 1}},
                                                   "upsert": True}], "txnNumber": Int64(1003)}
            await adb.command(command, session=s)
            await adb.command(command, session=s)
        assert await adb.c.find_one() == {"_id": 1, "v": 1}
        await c.drop_database(db_name)
