"""Indexes: createIndexes / listIndexes / dropIndexes shapes, default names, conflicts, and
unique indexes enforced on every write path, in and out of transactions."""

from __future__ import annotations

import pytest
from pymongo import ASCENDING, DESCENDING, IndexModel, MongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure
from pymongo.synchronous.database import Database


def test_default_names_and_list_indexes_shape(db: Database) -> None:
    assert db.c.create_index([("a", ASCENDING), ("b", DESCENDING)]) == "a_1_b_-1"
    assert db.c.create_index("u", unique=True) == "u_1"
    indexes = list(db.c.list_indexes())
    assert indexes[0] == {"v": 2, "key": {"_id": 1}, "name": "_id_"}
    assert indexes[1] == {"v": 2, "key": {"a": 1, "b": -1}, "name": "a_1_b_-1"}
    assert indexes[2] == {"v": 2, "key": {"u": 1}, "name": "u_1", "unique": True}


def test_create_indexes_reply_and_noop(db: Database) -> None:
    reply = db.command("createIndexes", "c", indexes=[{"key": {"a": 1}, "name": "a_1"}])
    assert reply["numIndexesBefore"] == 1 and reply["numIndexesAfter"] == 2
    assert reply["createdCollectionAutomatically"] is True
    again = db.command("createIndexes", "c", indexes=[{"key": {"a": 1}, "name": "a_1"}])
    assert again["numIndexesAfter"] == 2 and again["note"] == "all indexes already exist"


def test_same_name_other_key_is_86_and_other_options_85(db: Database) -> None:
    db.c.create_index("a", name="idx")
    with pytest.raises(OperationFailure) as keys:
        db.c.create_index("b", name="idx")
    assert keys.value.code == 86
    with pytest.raises(OperationFailure) as options:
        db.c.create_index("a", name="idx", unique=True)
    assert options.value.code == 85
    with pytest.raises(OperationFailure) as renamed:
        db.c.create_index("a", name="other")
    assert renamed.value.code == 85


def test_special_index_types_are_listed(db: Database) -> None:
    db.c.create_indexes([IndexModel([("loc", "2dsphere")]), IndexModel([("h", "hashed")]),
                         IndexModel([("t", "text")])])
    names = set(db.c.index_information())
    assert {"loc_2dsphere", "h_hashed", "t_text"} <= names


def test_bad_index_specs(db: Database) -> None:
    with pytest.raises(OperationFailure) as zero:
        db.command("createIndexes", "c", indexes=[{"key": {"a": 0}, "name": "x"}])
    assert zero.value.code == 67
    with pytest.raises(OperationFailure) as plugin:
        db.command("createIndexes", "c", indexes=[{"key": {"a": "nope"}, "name": "x"}])
    assert plugin.value.code == 67
    with pytest.raises(OperationFailure) as option:
        db.command("createIndexes", "c", indexes=[{"key": {"a": 1}, "name": "x", "bogus": 1}])
    assert option.value.code == 197


def test_options_are_listed(db: Database) -> None:
    db.c.create_index("t", expireAfterSeconds=60)
    db.c.create_index("p", partialFilterExpression={"p": {"$gt": 1}}, unique=True)
    info = db.c.index_information()
    assert info["t_1"]["expireAfterSeconds"] == 60
    assert info["p_1"]["partialFilterExpression"] == {"p": {"$gt": 1}}


def test_drop_indexes(db: Database) -> None:
    db.c.create_index("a")
    db.c.create_index("b")
    db.c.drop_index("a_1")
    assert set(db.c.index_information()) == {"_id_", "b_1"}
    with pytest.raises(OperationFailure) as missing:
        db.c.drop_index("zzz")
    assert missing.value.code == 27
    with pytest.raises(OperationFailure) as id_index:
        db.c.drop_index("_id_")
    assert id_index.value.code == 72
    db.c.drop_indexes()
    assert set(db.c.index_information()) == {"_id_"}


def test_list_indexes_of_missing_collection_is_26(db: Database) -> None:
    with pytest.raises(OperationFailure) as info:
        db.command("listIndexes", "nothing")
    assert info.value.code == 26
    assert list(db.nothing.list_indexes()) == []  # the driver turns 26 into no indexes


def test_unique_on_insert_with_key_pattern_and_value(db: Database) -> None:
    db.c.create_index([("a", 1), ("b", -1)], unique=True)
    db.c.insert_one({"a": 1, "b": 2})
    with pytest.raises(DuplicateKeyError) as info:
        db.c.insert_one({"a": 1, "b": 2})
    details = info.value.details or {}
    assert details["keyPattern"] == {"a": 1, "b": -1}
    assert details["keyValue"] == {"a": 1, "b": 2}
    assert "index: a_1_b_-1 dup key" in details["errmsg"]
    db.c.insert_one({"a": 1, "b": 3})


def test_unique_missing_fields_collide_unless_sparse(db: Database) -> None:
    db.c.create_index("u", unique=True)
    db.c.insert_one({"x": 1})
    with pytest.raises(DuplicateKeyError):
        db.c.insert_one({"x": 2})
    with pytest.raises(DuplicateKeyError):
        db.c.insert_one({"u": None})
    db.s.create_index("u", unique=True, sparse=True)
    db.s.insert_many([{"x": 1}, {"x": 2}])
    assert db.s.count_documents({}) == 2


def test_unique_partial_index_only_covers_matching(db: Database) -> None:
    db.c.create_index("u", unique=True, partialFilterExpression={"active": True})
    db.c.insert_many([{"u": 1, "active": False}, {"u": 1, "active": False}])
    db.c.insert_one({"u": 1, "active": True})
    with pytest.raises(DuplicateKeyError):
        db.c.insert_one({"u": 1, "active": True})


def test_unique_multikey(db: Database) -> None:
    db.c.create_index("tags", unique=True)
    db.c.insert_one({"tags": ["a", "b"]})
    db.c.insert_one({"tags": ["c", "c"]})  # a document never collides with itself
    with pytest.raises(DuplicateKeyError):
        db.c.insert_one({"tags": ["x", "b"]})


def test_unique_numbers_of_different_types_collide(db: Database) -> None:
    db.c.create_index("n", unique=True)
    db.c.insert_one({"n": 1})
    with pytest.raises(DuplicateKeyError):
        db.c.insert_one({"n": 1.0})


def test_unique_on_update_upsert_and_find_and_modify(db: Database) -> None:
    db.c.create_index("u", unique=True)
    db.c.insert_many([{"_id": 1, "u": 1}, {"_id": 2, "u": 2}])
    with pytest.raises(DuplicateKeyError):
        db.c.update_one({"_id": 2}, {"$set": {"u": 1}})
    with pytest.raises(DuplicateKeyError):
        db.c.update_one({"_id": 3}, {"$set": {"u": 1}}, upsert=True)
    with pytest.raises(DuplicateKeyError):
        db.c.find_one_and_replace({"_id": 2}, {"u": 1})
    # Freeing a key lets another document take it.
    db.c.update_one({"_id": 1}, {"$set": {"u": 10}})
    db.c.update_one({"_id": 2}, {"$set": {"u": 1}})
    assert db.c.find_one({"u": 1}) == {"_id": 2, "u": 1}
    db.c.delete_one({"_id": 2})
    db.c.insert_one({"_id": 4, "u": 1})


def test_unique_index_on_existing_duplicates_fails(db: Database) -> None:
    db.c.insert_many([{"u": 1}, {"u": 1}])
    with pytest.raises(OperationFailure) as info:
        db.c.create_index("u", unique=True)
    assert info.value.code == 11000
    assert "u_1" not in db.c.index_information()


def test_unique_inside_transaction_against_committed(client: MongoClient, db: Database) -> None:
    db.c.create_index("u", unique=True)
    db.c.insert_one({"_id": 1, "u": 1})
    with client.start_session() as s:
        s.start_transaction()
        with pytest.raises(DuplicateKeyError):
            db.c.update_one({"_id": 1, "u": 5}, {"$set": {"u": 9}}, upsert=True, session=s)
        s.abort_transaction()


def test_plain_insert_waits_for_transaction_holding_unique_key(client: MongoClient,
                                                               db: Database) -> None:
    db.c.create_index("u", unique=True)
    db.c.insert_one({"_id": 0})
    with client.start_session() as s:
        s.start_transaction()
        db.c.insert_one({"_id": 1, "u": 1}, session=s)
        s.abort_transaction()
    db.c.insert_one({"_id": 2, "u": 1})  # the aborted transaction freed the key
    assert db.c.count_documents({"u": 1}) == 1


async def test_async_unique_enforced(adb: AsyncDatabase) -> None:
    await adb.c.create_index("email", unique=True)
    await adb.c.insert_one({"email": "a"})
    with pytest.raises(DuplicateKeyError):
        await adb.c.insert_one({"email": "a"})
    names = [i["name"] async for i in await adb.c.list_indexes()]
    assert names == ["_id_", "email_1"]
