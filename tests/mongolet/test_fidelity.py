"""Behaviours MongoDB's driver spec tests showed mongolet getting wrong, pinned through the
real PyMongo clients (sync and async) so they stay fixed."""

from __future__ import annotations

import pytest
from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure
from pymongo.synchronous.database import Database

# -- let: command variables in filters, update pipelines and projections ----------------------

_BY_LET_ID = {"$expr": {"$eq": ["$_id", "$$id"]}}


def test_update_one_let_in_filter_and_pipeline(db: Database) -> None:
    db.c.insert_many([{"_id": 1}, {"_id": 2}])
    result = db.c.update_one(_BY_LET_ID, [{"$set": {"x": "$$x"}}], let={"id": 1, "x": "foo"})
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert list(db.c.find()) == [{"_id": 1, "x": "foo"}, {"_id": 2}]


def test_update_many_and_delete_with_let(db: Database) -> None:
    db.c.insert_many([{"_id": 1, "x": 1}, {"_id": 2, "x": 2}, {"_id": 3, "x": 3}])
    moved = db.c.update_many({"$expr": {"$gte": ["$x", "$$low"]}}, {"$inc": {"x": 10}},
                             let={"low": 2})
    assert moved.modified_count == 2
    assert db.c.delete_many({"$expr": {"$gt": ["$x", "$$limit"]}},
                            let={"limit": 12}).deleted_count == 1
    assert db.c.delete_one(_BY_LET_ID, let={"id": 1}).deleted_count == 1
    assert list(db.c.find()) == [{"_id": 2, "x": 12}]


def test_upsert_pipeline_sees_let(db: Database) -> None:
    db.c.update_one({"_id": 5}, [{"$set": {"y": "$$y"}}], upsert=True, let={"y": 7})
    assert db.c.find_one() == {"_id": 5, "y": 7}


def test_let_values_are_expressions(db: Database) -> None:
    db.c.insert_one({"_id": 1})
    docs = list(db.c.aggregate(
        [{"$project": {"_id": 0, "y": "$$y", "z": "$$z"}}],
        let={"y": {"$literal": "$bar"}, "z": {"$add": [1, 2]}}))
    assert docs == [{"y": "$bar", "z": 3}]


def test_find_one_and_modify_with_let(db: Database) -> None:
    db.c.insert_many([{"_id": 1, "x": 1}, {"_id": 2, "x": 2}])
    after = db.c.find_one_and_update(_BY_LET_ID, [{"$set": {"x": "$$v"}}],
                                     let={"id": 2, "v": "new"},
                                     return_document=ReturnDocument.AFTER)
    assert after == {"_id": 2, "x": "new"}
    assert db.c.find_one_and_replace(_BY_LET_ID, {"r": 1}, let={"id": 1}) == {"_id": 1, "x": 1}
    assert db.c.find_one_and_delete(_BY_LET_ID, let={"id": 1}) == {"_id": 1, "r": 1}


def test_let_with_an_invalid_variable_name_is_refused(db: Database) -> None:
    db.c.insert_one({"_id": 1})
    with pytest.raises(OperationFailure) as info:
        db.c.update_one({"_id": 1}, {"$set": {"a": 1}}, let={"Bad": 1})
    assert info.value.code == 16867


async def test_bulk_write_with_let_async(adb: AsyncDatabase) -> None:
    await adb.c.insert_many([{"_id": 1, "x": 20}, {"_id": 2, "x": 21}])
    await adb.c.bulk_write([UpdateOne(_BY_LET_ID, [{"$set": {"x": "$$x"}}])],
                           let={"id": 1, "x": 99})
    assert await adb.c.find_one({"_id": 1}) == {"_id": 1, "x": 99}
    assert await adb.c.count_documents({"x": 21}) == 1
