"""CRUD commands through the real PyMongo clients: insert, find, getMore, update, delete,
findAndModify, count, distinct, aggregate (with $out / $merge), and their reply shapes."""

from __future__ import annotations

import pytest
from bson import Int64, ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, WriteError
from pymongo.synchronous.database import Database

# -- insert ----------------------------------------------------------------------------------


def test_insert_generates_object_id_first(db: Database) -> None:
    result = db.c.insert_one({"a": 1})
    assert isinstance(result.inserted_id, ObjectId)
    raw = db.command("find", "c", filter={})
    doc = raw["cursor"]["firstBatch"][0]
    assert list(doc) == ["_id", "a"]


def test_insert_moves_id_to_front(db: Database) -> None:
    db.command("insert", "c", documents=[{"a": 1, "_id": 7}])
    assert list(db.c.find_one()) == ["_id", "a"]


def test_insert_reply_shape(db: Database) -> None:
    reply = db.command("insert", "c", documents=[{"_id": 1}, {"_id": 2}])
    assert reply["n"] == 2 and reply["ok"] == 1.0
    assert "operationTime" in reply and "$clusterTime" in reply


def test_duplicate_id_is_write_error_11000(db: Database) -> None:
    db.c.insert_one({"_id": 1})
    with pytest.raises(DuplicateKeyError) as info:
        db.c.insert_one({"_id": 1})
    details = info.value.details
    assert details is not None
    assert details["keyPattern"] == {"_id": 1} and details["keyValue"] == {"_id": 1}


def test_numeric_ids_equal_across_types(db: Database) -> None:
    db.c.insert_one({"_id": 1})
    with pytest.raises(DuplicateKeyError):
        db.c.insert_one({"_id": 1.0})
    with pytest.raises(DuplicateKeyError):
        db.c.insert_one({"_id": Int64(1)})
    assert db.c.find_one({"_id": 1.0}) == {"_id": 1}


def test_ordered_insert_stops_at_first_error(db: Database) -> None:
    with pytest.raises(BulkWriteError) as info:
        db.c.insert_many([{"_id": 1}, {"_id": 1}, {"_id": 2}])
    assert info.value.details["nInserted"] == 1
    assert info.value.details["writeErrors"][0]["index"] == 1
    assert db.c.count_documents({}) == 1


def test_unordered_insert_continues(db: Database) -> None:
    with pytest.raises(BulkWriteError) as info:
        db.c.insert_many([{"_id": 1}, {"_id": 1}, {"_id": 2}], ordered=False)
    assert info.value.details["nInserted"] == 2
    assert db.c.count_documents({}) == 2


@pytest.mark.parametrize("bad_id", [[1, 2], {"$a": 1}])
def test_invalid_ids_are_refused(db: Database, bad_id: object) -> None:
    with pytest.raises(WriteError):
        db.c.insert_one({"_id": bad_id})
    assert db.c.count_documents({}) == 0


def test_dollar_and_dotted_field_names_allowed_as_mongod_7(db: Database) -> None:
    db.c.insert_one({"_id": 1, "$a": 1, "a.b": 2, "n": {"$db": "x"}})
    assert db.c.find_one({"_id": 1}) == {"_id": 1, "$a": 1, "a.b": 2, "n": {"$db": "x"}}


def test_insert_into_system_namespace_refused(db: Database) -> None:
    with pytest.raises(OperationFailure) as info:
        db.command("insert", "system.foo", documents=[{"a": 1}])
    assert info.value.code == 73


# -- find / getMore ---------------------------------------------------------------------------


def test_find_batches_and_get_more(db: Database) -> None:
    db.c.insert_many([{"_id": i} for i in range(250)])
    first = db.command("find", "c")
    assert len(first["cursor"]["firstBatch"]) == 101
    cursor_id = first["cursor"]["id"]
    assert cursor_id != 0 and first["cursor"]["ns"] == f"{db.name}.c"
    more = db.command("getMore", cursor_id, collection="c", batchSize=100)
    assert [d["_id"] for d in more["cursor"]["nextBatch"]] == list(range(101, 201))
    rest = db.command("getMore", cursor_id, collection="c")
    assert len(rest["cursor"]["nextBatch"]) == 49 and rest["cursor"]["id"] == 0
    assert [d["_id"] for d in db.c.find(batch_size=7)] == list(range(250))


def test_get_more_unknown_cursor_is_43(db: Database) -> None:
    with pytest.raises(OperationFailure) as info:
        db.command("getMore", Int64(12345), collection="c")
    assert info.value.code == 43


def test_kill_cursors_reply(db: Database) -> None:
    db.c.insert_many([{"_id": i} for i in range(5)])
    first = db.command("find", "c", batchSize=1)
    cursor_id = first["cursor"]["id"]
    reply = db.command("killCursors", "c", cursors=[cursor_id, Int64(99)])
    assert reply["cursorsKilled"] == [cursor_id]
    assert reply["cursorsNotFound"] == [99]
    assert reply["cursorsAlive"] == [] and reply["cursorsUnknown"] == []


def test_find_filter_sort_skip_limit_projection(db: Database) -> None:
    db.c.insert_many([{"_id": i, "g": i % 2, "v": i} for i in range(10)])
    docs = list(db.c.find({"g": 1}, {"v": 1, "_id": 0}).sort("v", DESCENDING).skip(1).limit(2))
    assert docs == [{"v": 7}, {"v": 5}]


def test_find_negative_limit_is_single_batch(db: Database) -> None:
    db.c.insert_many([{"_id": i} for i in range(10)])
    reply = db.command("find", "c", limit=-3)
    assert len(reply["cursor"]["firstBatch"]) == 3 and reply["cursor"]["id"] == 0


def test_find_limit_closes_cursor(db: Database) -> None:
    db.c.insert_many([{"_id": i} for i in range(10)])
    reply = db.command("find", "c", limit=4, batchSize=2)
    assert len(reply["cursor"]["firstBatch"]) == 2
    more = db.command("getMore", reply["cursor"]["id"], collection="c")
    assert len(more["cursor"]["nextBatch"]) == 2 and more["cursor"]["id"] == 0


def test_find_on_missing_collection_is_empty(db: Database) -> None:
    reply = db.command("find", "nothing")
    assert reply["cursor"]["firstBatch"] == [] and reply["cursor"]["id"] == 0


def test_find_by_id_natural_order_of_in(db: Database) -> None:
    db.c.insert_many([{"_id": i} for i in range(5)])
    assert [d["_id"] for d in db.c.find({"_id": {"$in": [3, 1, 9]}})] == [1, 3]


def test_find_natural_order_is_insertion_order(db: Database) -> None:
    db.c.insert_many([{"_id": k} for k in ["b", "a", "c"]])
    assert [d["_id"] for d in db.c.find()] == ["b", "a", "c"]


def test_find_bad_operator_is_error_2(db: Database) -> None:
    db.c.insert_one({"a": 1})
    with pytest.raises(OperationFailure) as info:
        db.c.find_one({"a": {"$foo": 1}})
    assert info.value.code == 2


# -- update -----------------------------------------------------------------------------------


def test_update_one_and_many_counts(db: Database) -> None:
    db.c.insert_many([{"_id": i, "g": i % 2} for i in range(6)])
    one = db.c.update_one({"g": 0}, {"$set": {"x": 1}})
    assert (one.matched_count, one.modified_count) == (1, 1)
    many = db.c.update_many({"g": 0}, {"$set": {"x": 1}})
    assert (many.matched_count, many.modified_count) == (3, 2)
    assert db.c.count_documents({"x": 1}) == 3


def test_update_reply_shape_with_upsert(db: Database) -> None:
    reply = db.command("update", "c", updates=[
        {"q": {"_id": 5}, "u": {"$set": {"a": 1}}, "upsert": True},
        {"q": {"_id": 5}, "u": {"$set": {"a": 1}}},
    ])
    assert reply["n"] == 2 and reply["nModified"] == 0
    assert reply["upserted"] == [{"index": 0, "_id": 5}]


def test_upsert_seeds_from_query_and_set_on_insert(db: Database) -> None:
    result = db.c.update_one({"name": "x"}, {"$set": {"a": 1}, "$setOnInsert": {"b": 2}},
                             upsert=True)
    assert result.upserted_id is not None
    doc = db.c.find_one({"_id": result.upserted_id})
    assert doc is not None and (doc["name"], doc["a"], doc["b"]) == ("x", 1, 2)


def test_replace_one_keeps_id_and_refuses_changing_it(db: Database) -> None:
    db.c.insert_one({"_id": 1, "a": 1})
    db.c.replace_one({"_id": 1}, {"b": 2})
    assert db.c.find_one({"_id": 1}) == {"_id": 1, "b": 2}
    with pytest.raises(WriteError) as info:
        db.c.replace_one({"_id": 1}, {"_id": 2, "b": 3})
    assert info.value.code == 66


def test_replace_upsert_takes_id_from_query(db: Database) -> None:
    result = db.c.replace_one({"_id": "k"}, {"v": 1}, upsert=True)
    assert result.upserted_id == "k"
    assert db.c.find_one() == {"_id": "k", "v": 1}


def test_update_type_change_counts_as_modified(db: Database) -> None:
    db.c.insert_one({"_id": 1, "a": 1})
    assert db.c.update_one({"_id": 1}, {"$set": {"a": 1.0}}).modified_count == 1
    assert db.c.update_one({"_id": 1}, {"$set": {"a": 1.0}}).modified_count == 0


def test_multi_replacement_is_refused(db: Database) -> None:
    with pytest.raises(OperationFailure):
        db.command("update", "c", updates=[{"q": {}, "u": {"a": 1}, "multi": True}])


# -- delete -----------------------------------------------------------------------------------


def test_delete_one_and_many(db: Database) -> None:
    db.c.insert_many([{"_id": i, "g": i % 2} for i in range(6)])
    assert db.c.delete_one({"g": 1}).deleted_count == 1
    assert db.c.delete_many({"g": 1}).deleted_count == 2
    assert db.c.delete_many({"missing": 1}).deleted_count == 0
    assert db.c.count_documents({}) == 3


def test_reinserting_deleted_id(db: Database) -> None:
    db.c.insert_one({"_id": 1, "v": 1})
    db.c.delete_one({"_id": 1})
    db.c.insert_one({"_id": 1, "v": 2})
    assert db.c.find_one({"_id": 1}) == {"_id": 1, "v": 2}


def test_delete_limit_must_be_0_or_1(db: Database) -> None:
    with pytest.raises(OperationFailure):
        db.command("delete", "c", deletes=[{"q": {}, "limit": 2}])


# -- findAndModify ----------------------------------------------------------------------------


def test_find_one_and_update_before_after(db: Database) -> None:
    db.c.insert_many([{"_id": 1, "n": 1}, {"_id": 2, "n": 5}])
    before = db.c.find_one_and_update({}, {"$inc": {"n": 1}}, sort=[("n", DESCENDING)])
    assert before == {"_id": 2, "n": 5}
    after = db.c.find_one_and_update({"_id": 1}, {"$inc": {"n": 1}},
                                     return_document=ReturnDocument.AFTER,
                                     projection={"_id": 0})
    assert after == {"n": 2}


def test_find_one_and_update_upsert_reply(db: Database) -> None:
    reply = db.command("findAndModify", "c", query={"_id": 3}, update={"$set": {"a": 1}},
                       upsert=True, new=True)
    assert reply["lastErrorObject"] == {"n": 1, "updatedExisting": False, "upserted": 3}
    assert reply["value"] == {"_id": 3, "a": 1}
    miss = db.command("findAndModify", "c", query={"_id": 9}, update={"$set": {"a": 1}})
    assert miss["lastErrorObject"] == {"n": 0, "updatedExisting": False}
    assert miss["value"] is None


def test_find_one_and_delete_and_replace(db: Database) -> None:
    db.c.insert_many([{"_id": 1, "n": 1}, {"_id": 2, "n": 2}])
    assert db.c.find_one_and_replace({"_id": 1}, {"n": 10},
                                     return_document=ReturnDocument.AFTER) == {"_id": 1, "n": 10}
    assert db.c.find_one_and_delete({}, sort=[("n", ASCENDING)]) == {"_id": 2, "n": 2}
    assert db.c.find_one_and_delete({"_id": 42}) is None
    assert list(db.c.find()) == [{"_id": 1, "n": 10}]


def test_find_and_modify_needs_update_or_remove(db: Database) -> None:
    with pytest.raises(OperationFailure) as info:
        db.command("findAndModify", "c", query={})
    assert info.value.code == 9


def test_find_and_modify_duplicate_is_top_level(db: Database) -> None:
    db.c.create_index("u", unique=True)
    db.c.insert_many([{"_id": 1, "u": 1}, {"_id": 2, "u": 2}])
    with pytest.raises(DuplicateKeyError):
        db.c.find_one_and_update({"_id": 2}, {"$set": {"u": 1}})


# -- count, distinct, aggregate ----------------------------------------------------------------


def test_count_and_estimated_count(db: Database) -> None:
    db.c.insert_many([{"_id": i, "g": i % 3} for i in range(10)])
    assert db.c.estimated_document_count() == 10
    assert db.command("count", "c", query={"g": 0})["n"] == 4
    assert db.command("count", "c", query={"g": 0}, skip=1, limit=2)["n"] == 2
    assert db.c.count_documents({"g": 1}) == 3
    assert db.command("count", "missing")["n"] == 0


def test_distinct_flattens_arrays_and_sorts(db: Database) -> None:
    db.c.insert_many([{"t": ["b", "a"]}, {"t": "c"}, {"t": "a"}, {"x": 1}])
    assert db.c.distinct("t") == ["a", "b", "c"]
    assert db.c.distinct("t", {"t": "c"}) == ["c"]
    assert db.missing.distinct("t") == []


def test_distinct_numbers_are_merged(db: Database) -> None:
    db.c.insert_many([{"n": 1}, {"n": 1.0}, {"n": 2}])
    assert db.c.distinct("n") == [1, 2]


def test_aggregate_requires_cursor(db: Database) -> None:
    with pytest.raises(OperationFailure) as info:
        db.command("aggregate", "c", pipeline=[])
    assert info.value.code == 9


def test_aggregate_match_sort_and_batches(db: Database) -> None:
    db.c.insert_many([{"_id": i, "g": i % 2} for i in range(150)])
    docs = list(db.c.aggregate([{"$match": {"g": 0}}, {"$sort": {"_id": -1}}], batchSize=10))
    assert len(docs) == 75 and docs[0]["_id"] == 148


def test_aggregate_out_replaces_target(db: Database) -> None:
    db.c.insert_many([{"_id": i} for i in range(3)])
    db.target.insert_one({"_id": "old"})
    db.target.create_index("x")
    list(db.c.aggregate([{"$match": {"_id": {"$gte": 1}}}, {"$out": "target"}]))
    assert sorted(d["_id"] for d in db.target.find()) == [1, 2]
    assert "x_1" in db.target.index_information()


def test_aggregate_merge_into_target(db: Database) -> None:
    db.c.insert_many([{"_id": 1, "a": 1}, {"_id": 2, "a": 2}])
    db.target.insert_one({"_id": 1, "b": 1})
    list(db.c.aggregate([{"$merge": {"into": "target"}}]))
    assert list(db.target.find().sort("_id", 1)) == [{"_id": 1, "b": 1, "a": 1},
                                                     {"_id": 2, "a": 2}]


def test_out_must_be_last(db: Database) -> None:
    db.c.insert_one({})
    with pytest.raises(OperationFailure) as info:
        list(db.c.aggregate([{"$out": "x"}, {"$match": {}}]))
    assert info.value.code == 40601


def test_unknown_command_is_59(db: Database) -> None:
    with pytest.raises(OperationFailure) as info:
        db.command("fooBar")
    assert info.value.code == 59 and "no such command: 'fooBar'" in str(info.value)


# -- async client -------------------------------------------------------------------------------


async def test_async_crud_round_trip(adb: AsyncDatabase) -> None:
    await adb.c.insert_many([{"_id": i, "v": i} for i in range(120)])
    assert await adb.c.count_documents({}) == 120
    docs = [d async for d in adb.c.find({"v": {"$gte": 10}}).sort("v", -1)]
    assert len(docs) == 110 and docs[0]["v"] == 119
    await adb.c.update_many({"v": {"$lt": 10}}, {"$inc": {"v": 1000}})
    assert await adb.c.count_documents({"v": {"$gte": 1000}}) == 10
    found = await adb.c.find_one_and_update({"_id": 0}, {"$set": {"z": 1}},
                                            return_document=ReturnDocument.AFTER)
    assert found == {"_id": 0, "v": 1000, "z": 1}
    assert (await adb.c.delete_many({"v": {"$gte": 1000}})).deleted_count == 10
    assert await adb.c.distinct("z") == []
    with pytest.raises(DuplicateKeyError):
        await adb.c.insert_one({"_id": 50})
