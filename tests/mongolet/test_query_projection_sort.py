"""find projections and sort orders through the real PyMongo clients."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from bson import Binary, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure
from pymongo.synchronous.database import Database

DOC: dict[str, Any] = {
    "_id": 1,
    "a": 1,
    "b": {"c": 2, "d": 3},
    "items": [{"k": 1, "v": "x"}, {"k": 2, "v": "y"}, 7],
    "arr": [1, 2, 3, 4, 5],
}

PROJECTIONS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("inclusion keeps _id", {"a": 1}, {"_id": 1, "a": 1}),
    ("inclusion without _id", {"a": 1, "_id": 0}, {"a": 1}),
    ("inclusion keeps document order", {"arr": 1, "a": True}, {"_id": 1, "a": 1, "arr": [1, 2, 3, 4, 5]}),
    ("exclusion", {"b": 0, "items": 0, "arr": 0}, {"_id": 1, "a": 1}),
    ("exclude only _id", {"_id": 0, "b": 0, "items": 0, "arr": 0}, {"a": 1}),
    ("dotted inclusion", {"b.c": 1}, {"_id": 1, "b": {"c": 2}}),
    ("nested inclusion form", {"b": {"d": 1}}, {"_id": 1, "b": {"d": 3}}),
    ("dotted inclusion through an array drops scalars", {"items.k": 1}, {"_id": 1, "items": [{"k": 1}, {"k": 2}]}),
    ("dotted exclusion through an array keeps scalars", {"items.v": 0, "arr": 0, "b": 0, "a": 0},
     {"_id": 1, "items": [{"k": 1}, {"k": 2}, 7]}),
    ("$slice first", {"arr": {"$slice": 2}, "a": 1}, {"_id": 1, "a": 1, "arr": [1, 2]}),
    ("$slice last keeps other fields", {"arr": {"$slice": -2}, "items": 0, "b": 0},
     {"_id": 1, "a": 1, "arr": [4, 5]}),
    ("$slice with _id excluded keeps the other fields", {"arr": {"$slice": [1, 2]}, "_id": 0},
     {"a": 1, "b": {"c": 2, "d": 3}, "items": DOC["items"], "arr": [2, 3]}),
    ("$slice skip and limit in an inclusion", {"arr": {"$slice": [-3, 2]}, "a": 1}, {"_id": 1, "a": 1, "arr": [3, 4]}),
    ("$elemMatch", {"items": {"$elemMatch": {"k": 2}}}, {"_id": 1, "items": [{"k": 2, "v": "y"}]}),
    ("$elemMatch without a match omits the field", {"items": {"$elemMatch": {"k": 9}}, "a": 1}, {"_id": 1, "a": 1}),
    ("computed field", {"total": {"$sum": "$arr"}, "_id": 0}, {"total": 15}),
    ("field path expression", {"copy": "$b.c", "a": 1}, {"_id": 1, "a": 1, "copy": 2}),
    ("literal", {"tag": {"$literal": 1}, "_id": 0}, {"tag": 1}),
]


@pytest.mark.parametrize(("projection", "expected"), [(c[1], c[2]) for c in PROJECTIONS],
                         ids=[c[0] for c in PROJECTIONS])
def test_find_projections(db: Database, projection: dict[str, Any], expected: dict[str, Any]) -> None:
    db.docs.insert_one(DOC)
    found = db.docs.find_one({}, projection)
    assert found == expected
    assert list(found) == list(expected)


PROJECTION_ERRORS: list[tuple[str, dict[str, Any], int]] = [
    ("exclusion in inclusion", {"a": 1, "b": 0}, 31253),
    ("inclusion in exclusion", {"a": 0, "b": 1}, 31254),
    ("path collision", {"b": 1, "b.c": 1}, 31249),
]


@pytest.mark.parametrize(("projection", "code"), [(c[1], c[2]) for c in PROJECTION_ERRORS],
                         ids=[c[0] for c in PROJECTION_ERRORS])
def test_projection_errors(db: Database, projection: dict[str, Any], code: int) -> None:
    db.docs.insert_one(DOC)
    with pytest.raises(OperationFailure) as info:
        db.docs.find_one({}, projection)
    assert info.value.code == code


def test_sort_across_bson_types(db: Database) -> None:
    oid = ObjectId()
    values = [
        MaxKey(), Regex("a"), Timestamp(1, 1), datetime(2020, 1, 1), True, oid, Binary(b"\x01"),
        [], {"x": 1}, "str", 2.5, Int64(2), Decimal128("1.5"), None, MinKey(),
    ]
    db.docs.insert_many([{"_id": i, "v": v} for i, v in enumerate(values)])
    db.docs.insert_one({"_id": 99})  # missing sorts with null
    order = [d["_id"] for d in db.docs.find({}, {"_id": 1}).sort("v", ASCENDING)]
    # MinKey, empty array (below null), null and missing (stable by insertion), numbers by
    # value, string, object, binary, ObjectId, bool, date, timestamp, regex, MaxKey
    assert order == [14, 7, 13, 99, 12, 11, 10, 9, 8, 6, 5, 4, 3, 2, 1, 0]


def test_sort_arrays_by_min_ascending_and_max_descending(db: Database) -> None:
    db.docs.insert_many([{"_id": 1, "v": [1, 10]}, {"_id": 2, "v": 5}, {"_id": 3, "v": [3, 4]}])
    assert [d["_id"] for d in db.docs.find().sort("v", ASCENDING)] == [1, 3, 2]
    assert [d["_id"] for d in db.docs.find().sort("v", DESCENDING)] == [1, 2, 3]


def test_compound_sort_with_skip_and_limit(db: Database) -> None:
    db.docs.insert_many([{"_id": i, "g": i % 3, "n": f"{i:02d}"} for i in range(9)])
    found = db.docs.find({}, {"_id": 1}).sort([("g", DESCENDING), ("n", ASCENDING)]).skip(2).limit(4)
    assert [d["_id"] for d in found] == [8, 1, 4, 7]


def test_sort_by_dotted_path_and_strings_by_binary_order(db: Database) -> None:
    db.docs.insert_many([{"_id": 1, "p": {"s": "b"}}, {"_id": 2, "p": {"s": "B"}}, {"_id": 3, "p": {"s": "a"}}])
    assert [d["_id"] for d in db.docs.find().sort("p.s", ASCENDING)] == [2, 3, 1]


def test_bad_sort_value(db: Database) -> None:
    db.docs.insert_one({"_id": 1})
    with pytest.raises(OperationFailure) as info:
        db.docs.find_one({}, sort=[("a", 2)])
    assert info.value.code == 15975


async def test_async_projection_and_sort(adb: AsyncDatabase) -> None:
    await adb.docs.insert_many([{"_id": i, "v": -i, "w": i} for i in range(4)])
    found = await adb.docs.find({}, {"w": 0}).sort("v", ASCENDING).to_list()
    assert found == [{"_id": 3, "v": -3}, {"_id": 2, "v": -2}, {"_id": 1, "v": -1}, {"_id": 0, "v": 0}]
