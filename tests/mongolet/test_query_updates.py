"""Update operators, replacements, pipelines and upserts through the real PyMongo clients."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from bson import Decimal128, Int64, Timestamp
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure, WriteError
from pymongo.synchronous.database import Database

BASE: dict[str, Any] = {
    "_id": 1,
    "n": 5,
    "s": "text",
    "sub": {"x": 1, "y": 2},
    "arr": [3, 1, 2],
    "objs": [{"k": "a", "v": 1}, {"k": "b", "v": 2}, {"k": "c", "v": 3}],
}

CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("$set existing keeps position, new appended",
     {"$set": {"n": 6, "new": True}},
     {"_id": 1, "n": 6, "s": "text", "sub": {"x": 1, "y": 2}, "arr": [3, 1, 2],
      "objs": BASE["objs"], "new": True}),
    ("$set new fields in lexicographic order",
     {"$set": {"zz": 1, "aa": 2}},
     {**BASE, "aa": 2, "zz": 1}),
    ("$set dotted path creates documents", {"$set": {"p.q.r": 1}}, {**BASE, "p": {"q": {"r": 1}}}),
    ("$set array index", {"$set": {"arr.1": 9}}, {**BASE, "arr": [3, 9, 2]}),
    ("$set past the end pads with null", {"$set": {"arr.4": 9}}, {**BASE, "arr": [3, 1, 2, None, 9]}),
    ("$set empty is a no-op", {"$set": {}}, BASE),
    ("$unset", {"$unset": {"s": "", "sub.x": 1, "missing": ""}},
     {"_id": 1, "n": 5, "sub": {"y": 2}, "arr": [3, 1, 2], "objs": BASE["objs"]}),
    ("$unset array element becomes null", {"$unset": {"arr.0": ""}}, {**BASE, "arr": [None, 1, 2]}),
    ("$inc", {"$inc": {"n": 2, "sub.x": -1, "c": 1}}, {**BASE, "n": 7, "sub": {"x": 0, "y": 2}, "c": 1}),
    ("$inc by a double", {"$inc": {"n": 0.5}}, {**BASE, "n": 5.5}),
    ("$mul", {"$mul": {"n": 3, "z": 4}}, {**BASE, "n": 15, "z": 0}),
    ("$min lowers", {"$min": {"n": 2}}, {**BASE, "n": 2}),
    ("$min keeps", {"$min": {"n": 9}}, BASE),
    ("$max raises", {"$max": {"n": 9, "new": 1}}, {**BASE, "n": 9, "new": 1}),
    ("$rename", {"$rename": {"s": "t", "sub.x": "sub.z"}},
     {"_id": 1, "n": 5, "sub": {"y": 2, "z": 1}, "arr": [3, 1, 2], "objs": BASE["objs"], "t": "text"}),
    ("$push", {"$push": {"arr": 4, "fresh": 1}}, {**BASE, "arr": [3, 1, 2, 4], "fresh": [1]}),
    ("$push $each $sort $slice", {"$push": {"arr": {"$each": [5, 0], "$sort": -1, "$slice": 3}}},
     {**BASE, "arr": [5, 3, 2]}),
    ("$push $position", {"$push": {"arr": {"$each": [8, 9], "$position": 1}}}, {**BASE, "arr": [3, 8, 9, 1, 2]}),
    ("$push $sort by field", {"$push": {"objs": {"$each": [], "$sort": {"v": -1}}}},
     {**BASE, "objs": list(reversed(BASE["objs"]))}),
    ("$addToSet", {"$addToSet": {"arr": 1, "tags": "t"}}, {**BASE, "tags": ["t"]}),
    ("$addToSet $each", {"$addToSet": {"arr": {"$each": [1, 4, 4, 5]}}}, {**BASE, "arr": [3, 1, 2, 4, 5]}),
    ("$addToSet treats 1 and 1.0 as equal", {"$addToSet": {"arr": 1.0}}, BASE),
    ("$pull value", {"$pull": {"arr": 1}}, {**BASE, "arr": [3, 2]}),
    ("$pull condition", {"$pull": {"arr": {"$gte": 2}}}, {**BASE, "arr": [1]}),
    ("$pull document query", {"$pull": {"objs": {"v": {"$gt": 1}}}}, {**BASE, "objs": [BASE["objs"][0]]}),
    ("$pullAll", {"$pullAll": {"arr": [3, 2]}}, {**BASE, "arr": [1]}),
    ("$pop last", {"$pop": {"arr": 1}}, {**BASE, "arr": [3, 1]}),
    ("$pop first", {"$pop": {"arr": -1}}, {**BASE, "arr": [1, 2]}),
    ("$bit", {"$bit": {"n": {"and": 4, "or": 2}}}, {**BASE, "n": 6}),
    ("positional $ from the query", {"$set": {"objs.$.v": 20}},
     {**BASE, "objs": [BASE["objs"][0], {"k": "b", "v": 20}, BASE["objs"][2]]}),
    ("all positional $[]", {"$inc": {"objs.$[].v": 10}},
     {**BASE, "objs": [{"k": "a", "v": 11}, {"k": "b", "v": 12}, {"k": "c", "v": 13}]}),
    ("$setOnInsert ignored on update", {"$setOnInsert": {"x": 1}, "$set": {"n": 0}}, {**BASE, "n": 0}),
]


@pytest.mark.parametrize(("update", "expected"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_update_operators(db: Database, update: dict[str, Any], expected: dict[str, Any]) -> None:
    db.docs.insert_one(BASE)
    db.docs.update_one({"_id": 1, "objs.k": "b"}, update)
    after = db.docs.find_one({"_id": 1})
    assert after == expected
    assert list(after) == list(expected)  # field order, as mongod writes it


def test_numeric_type_widening(db: Database) -> None:
    db.docs.insert_one({"_id": 1, "i": 2**31 - 1, "l": Int64(1), "d": Decimal128("1.5")})
    db.docs.update_one({"_id": 1}, {"$inc": {"i": 1, "l": 1, "d": 1}})
    after = db.docs.find_one({"_id": 1})
    assert after["i"] == 2**31 and isinstance(after["i"], int)
    assert db.docs.count_documents({"i": {"$type": "long"}, "l": {"$type": "long"}}) == 1
    assert after["d"] == Decimal128("2.5")


def test_array_filters(db: Database) -> None:
    db.docs.insert_one({"_id": 1, "grades": [{"g": 80, "m": 1}, {"g": 95, "m": 1}, {"g": 90, "m": 1}]})
    db.docs.update_one({"_id": 1}, {"$set": {"grades.$[high].m": 2}}, array_filters=[{"high.g": {"$gte": 90}}])
    assert [g["m"] for g in db.docs.find_one()["grades"]] == [1, 2, 2]


def test_current_date(db: Database) -> None:
    db.docs.insert_one({"_id": 1})
    before = datetime.utcnow().replace(microsecond=0)
    db.docs.update_one({"_id": 1}, {"$currentDate": {"d": True, "t": {"$type": "timestamp"}}})
    after = db.docs.find_one()
    assert after["d"] >= before
    assert isinstance(after["t"], Timestamp)


def test_replacement_keeps_id_and_is_refused_a_new_one(db: Database) -> None:
    db.docs.insert_one({"_id": 1, "a": 1, "b": 2})
    db.docs.replace_one({"_id": 1}, {"c": 3})
    assert db.docs.find_one() == {"_id": 1, "c": 3}
    with pytest.raises(WriteError) as info:
        db.docs.replace_one({"_id": 1}, {"_id": 2, "c": 3})
    assert info.value.code == 66


def test_update_pipeline(db: Database) -> None:
    db.docs.insert_one({"_id": 1, "a": 2, "b": 3, "junk": 1})
    db.docs.update_one({"_id": 1}, [{"$set": {"sum": {"$add": ["$a", "$b"]}}}, {"$unset": "junk"}])
    assert db.docs.find_one() == {"_id": 1, "a": 2, "b": 3, "sum": 5}


def test_multi_update_counts(db: Database) -> None:
    db.docs.insert_many([{"_id": i, "v": i % 2} for i in range(6)])
    result = db.docs.update_many({"v": 1}, {"$set": {"v": 1}})
    assert (result.matched_count, result.modified_count) == (3, 0)
    result = db.docs.update_many({"v": 1}, {"$inc": {"v": 1}})
    assert (result.matched_count, result.modified_count) == (3, 3)


UPSERTS: list[tuple[str, dict[str, Any], Any, dict[str, Any]]] = [
    ("equality fields seed the document", {"_id": 5, "a": 1, "b": {"$gt": 1}}, {"$set": {"c": 2}},
     {"_id": 5, "a": 1, "c": 2}),
    ("dotted equality creates documents", {"_id": 5, "x.y": 1}, {"$inc": {"n": 1}}, {"_id": 5, "x": {"y": 1}, "n": 1}),
    ("$and equalities and $eq", {"_id": 5, "$and": [{"a": 1}, {"b": {"$eq": 2}}]}, {"$set": {"c": 3}},
     {"_id": 5, "a": 1, "b": 2, "c": 3}),
    ("$setOnInsert applies", {"_id": 5}, {"$setOnInsert": {"created": 1}, "$set": {"u": 1}},
     {"_id": 5, "created": 1, "u": 1}),
    ("replacement upsert takes the query _id", {"_id": 5, "a": 1}, {"b": 2}, {"_id": 5, "b": 2}),
]


@pytest.mark.parametrize(("query", "update", "expected"), [(c[1], c[2], c[3]) for c in UPSERTS],
                         ids=[c[0] for c in UPSERTS])
def test_upserts(db: Database, query: dict[str, Any], update: Any, expected: dict[str, Any]) -> None:
    if "$" in str(list(update)[:1]):
        result = db.docs.update_one(query, update, upsert=True)
    else:
        result = db.docs.replace_one(query, update, upsert=True)
    assert result.upserted_id == 5
    assert db.docs.find_one({"_id": 5}) == expected


ERRORS: list[tuple[str, dict[str, Any], Any, int]] = [
    ("$inc on a string", {"_id": 1}, {"$inc": {"s": 1}}, 14),
    ("$inc with a string", {"_id": 1}, {"$inc": {"n": "x"}}, 14),
    ("conflicting paths", {"_id": 1}, {"$set": {"sub": 1}, "$inc": {"sub.x": 1}}, 40),
    ("same path twice", {"_id": 1}, {"$set": {"n": 1}, "$inc": {"n": 1}}, 40),
    ("changing _id", {"_id": 1}, {"$set": {"_id": 2}}, 66),
    ("unknown modifier", {"_id": 1}, {"$foo": {"a": 1}}, 9),
    ("modifier on a non-object", {"_id": 1}, {"$set": 1}, 9),
    ("field under a scalar", {"_id": 1}, {"$set": {"s.x": 1}}, 28),
    ("field name in an array", {"_id": 1}, {"$set": {"arr.x": 1}}, 28),
    ("$push on a non-array", {"_id": 1}, {"$push": {"n": 1}}, 2),
    ("$pop with 2", {"_id": 1}, {"$pop": {"arr": 2}}, 9),
    ("empty field name", {"_id": 1}, {"$set": {"": 1}}, 56),
    ("positional without a match", {"_id": 1}, {"$set": {"arr.$": 1}}, 2),
    ("unknown array filter identifier", {"_id": 1}, {"$set": {"arr.$[q]": 1}}, 2),
    ("$rename to itself", {"_id": 1}, {"$rename": {"n": "n"}}, 2),
]


@pytest.mark.parametrize(("query", "update", "code"), [(c[1], c[2], c[3]) for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_update_errors(db: Database, query: dict[str, Any], update: Any, code: int) -> None:
    db.docs.insert_one(BASE)
    with pytest.raises(WriteError) as info:
        db.docs.update_one(query, update)
    assert info.value.code == code
    assert db.docs.find_one() == BASE  # nothing applied


def test_find_one_and_update_errors_are_top_level(db: Database) -> None:
    db.docs.insert_one(BASE)
    with pytest.raises(OperationFailure) as info:
        db.docs.find_one_and_update({"_id": 1}, {"$inc": {"s": 1}})
    assert info.value.code == 14


async def test_async_find_one_and_update_with_operators(adb: AsyncDatabase) -> None:
    await adb.docs.insert_one(BASE)
    after = await adb.docs.find_one_and_update(
        {"_id": 1, "arr": 1},
        {"$set": {"arr.$": 10}, "$push": {"objs": {"k": "d", "v": 4}}, "$unset": {"sub": ""}},
        return_document=ReturnDocument.AFTER,
    )
    assert after is not None
    assert after["arr"] == [3, 10, 2]
    assert after["objs"][-1] == {"k": "d", "v": 4}
    assert "sub" not in after


async def test_async_upsert_and_conflict(adb: AsyncDatabase) -> None:
    result = await adb.docs.update_one({"name": "x"}, {"$inc": {"n": 1}}, upsert=True)
    assert result.upserted_id is not None
    doc = await adb.docs.find_one({"name": "x"})
    assert doc is not None and doc["n"] == 1
    with pytest.raises(WriteError) as info:
        await adb.docs.update_one({"name": "x"}, {"$set": {"a": 1, "a.b": 2}})
    assert info.value.code == 40
