"""The query language, driven through find/count/delete with the real PyMongo clients.

Each case is a filter and the ``_id``s MongoDB returns for it over one shared set of
documents covering the documented edge cases: missing fields, nulls, arrays, nested arrays
of documents, mixed types.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from bson import Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure
from pymongo.synchronous.database import Database

DOCS: list[dict[str, Any]] = [
    {"_id": 1, "a": 1, "b": "x", "tags": ["red", "blue"], "n": {"k": 1, "v": "p"}},
    {"_id": 2, "a": 2.0, "b": "y", "tags": ["blue"], "n": {"k": 2}},
    {"_id": 3, "a": Int64(3), "b": None, "tags": [], "items": [{"k": 1, "q": 5}, {"k": 2, "q": 1}]},
    {"_id": 4, "a": Decimal128("4"), "items": [{"k": 3, "q": 2}, {"q": 9}]},
    {"_id": 5, "a": "5", "b": "Xylophone", "tags": ["red", ["nested"]], "m": [1, 2, 3]},
    {"_id": 6, "a": [1, 7], "b": True, "m": [[1, 2], 3], "d": datetime(2024, 1, 2)},
    {"_id": 7, "a": None, "b": {"c": 1, "d": 2}, "d": datetime(2023, 6, 1)},
    {"_id": 8, "a": {"c": 1}, "m": [], "f": float("nan")},
]


def ids(cursor: Any) -> list[int]:
    return sorted(doc["_id"] for doc in cursor)


CASES: list[tuple[str, dict[str, Any], list[int]]] = [
    # equality across numeric types, and arrays matching by element or as a whole
    ("number equality across types", {"a": 1}, [1, 6]),
    ("double matches int, long, decimal", {"a": 4.0}, [4]),
    ("decimal matches long", {"a": Decimal128("3")}, [3]),
    ("string is not a number", {"a": 5}, []),
    ("whole array equality", {"a": [1, 7]}, [6]),
    ("array order matters", {"a": [7, 1]}, []),
    ("array equality to an element array", {"tags": ["nested"]}, [5]),
    ("element of a nested array is not reached", {"m": 1}, [5]),
    ("embedded document exact", {"b": {"c": 1, "d": 2}}, [7]),
    ("embedded document field order matters", {"b": {"d": 2, "c": 1}}, []),
    ("embedded document must be whole", {"b": {"c": 1}}, []),
    # null and missing
    ("null matches null and missing", {"b": None}, [3, 4, 8]),
    ("$ne null excludes missing", {"b": {"$ne": None}}, [1, 2, 5, 6, 7]),
    ("$exists true", {"b": {"$exists": True}}, [1, 2, 3, 5, 6, 7]),
    ("$exists false", {"b": {"$exists": False}}, [4, 8]),
    ("$eq null in an array path", {"items.k": None}, [1, 2, 4, 5, 6, 7, 8]),
    ("$in with null", {"b": {"$in": [None, "x"]}}, [1, 3, 4, 8]),
    # comparisons stay inside a type bracket
    ("$gt number skips strings", {"a": {"$gt": 2}}, [3, 4, 6]),
    ("$gte across numeric types", {"a": {"$gte": 2}}, [2, 3, 4, 6]),
    ("$lt string bracket", {"b": {"$lt": "y"}}, [1, 5]),
    ("$lte null matches null and missing", {"b": {"$lte": None}}, [3, 4, 8]),
    ("$gt null matches nothing", {"b": {"$gt": None}}, []),
    ("range on array elements independently", {"a": {"$gt": 5, "$lt": 2}}, [6]),
    ("$gt MinKey spans types", {"a": {"$gt": MinKey()}}, [1, 2, 3, 4, 5, 6, 7, 8]),
    ("$lt MaxKey spans types", {"a": {"$lt": MaxKey()}}, [1, 2, 3, 4, 5, 6, 7, 8]),
    ("date comparison", {"d": {"$gt": datetime(2023, 12, 31)}}, [6]),
    ("NaN equals NaN", {"f": float("nan")}, [8]),
    ("NaN is not greater than anything", {"f": {"$gt": 0}}, []),
    # dotted paths and array traversal
    ("dotted path into embedded doc", {"n.k": 2}, [2]),
    ("dotted path through array of docs", {"items.k": 3}, [4]),
    ("numeric path component indexes arrays", {"tags.0": "red"}, [1, 5]),
    ("numeric path into array of docs", {"items.1.q": 1}, [3]),
    ("dotted path on a scalar reaches nothing", {"a.c": 1}, [8]),
    ("$elemMatch on documents", {"items": {"$elemMatch": {"k": 1, "q": 5}}}, [3]),
    ("without $elemMatch conditions may use different elements", {"items.k": 2, "items.q": 5}, [3]),
    ("$elemMatch needs a single element", {"items": {"$elemMatch": {"k": 2, "q": 5}}}, []),
    ("$elemMatch value form", {"a": {"$elemMatch": {"$gt": 5, "$lt": 8}}}, [6]),
    ("$elemMatch never matches a non-array", {"a": {"$elemMatch": {"$gte": 1}}}, [6]),
    # array operators
    ("$size", {"tags": {"$size": 2}}, [1, 5]),
    ("$size 0", {"m": {"$size": 0}}, [8]),
    ("$all", {"tags": {"$all": ["blue", "red"]}}, [1]),
    ("$all with an empty list matches nothing", {"tags": {"$all": []}}, []),
    ("$all with $elemMatch", {"items": {"$all": [{"$elemMatch": {"k": 1}}, {"$elemMatch": {"q": 1}}]}}, [3]),
    ("$in on array elements", {"tags": {"$in": ["blue"]}}, [1, 2]),
    ("$nin includes missing", {"tags": {"$nin": ["blue", "red"]}}, [3, 4, 6, 7, 8]),
    # $type
    ("$type string", {"a": {"$type": "string"}}, [5]),
    ("$type number alias", {"a": {"$type": "number"}}, [1, 2, 3, 4, 6]),
    ("$type long by code", {"a": {"$type": 18}}, [3]),
    ("$type decimal", {"a": {"$type": "decimal"}}, [4]),
    ("$type array", {"a": {"$type": "array"}}, [6]),
    ("$type null", {"a": {"$type": "null"}}, [7]),
    ("$type list of types", {"a": {"$type": ["double", "object"]}}, [2, 8]),
    # $mod, regexes
    ("$mod", {"a": {"$mod": [2, 0]}}, [2, 4]),
    ("$regex string", {"b": {"$regex": "^x"}}, [1]),
    ("$regex with $options", {"b": {"$regex": "^x", "$options": "i"}}, [1, 5]),
    ("regex value", {"b": re.compile("^X")}, [5]),
    ("bson Regex value", {"b": Regex("lo", "i")}, [5]),
    ("$in with a regex", {"b": {"$in": [re.compile("^y"), True]}}, [2, 6]),
    ("$not with a regex includes non-strings", {"b": {"$not": re.compile("^x")}}, [2, 3, 4, 5, 6, 7, 8]),
    # logic
    ("$not", {"a": {"$not": {"$gt": 1}}}, [1, 5, 7, 8]),
    ("$and", {"$and": [{"a": {"$gte": 1}}, {"b": "x"}]}, [1]),
    ("$or", {"$or": [{"b": "x"}, {"a": None}]}, [1, 7]),
    ("$nor", {"$nor": [{"b": {"$exists": False}}, {"a": {"$type": "number"}}]}, [5, 7]),
    ("implicit and of fields", {"tags": "red", "b": "x"}, [1]),
    ("$expr compares fields", {"$expr": {"$gt": [{"$size": {"$ifNull": ["$tags", []]}}, 1]}}, [1, 5]),
    ("$comment is ignored", {"$comment": "hello", "b": "y"}, [2]),
    ("empty filter matches all", {}, [1, 2, 3, 4, 5, 6, 7, 8]),
]


@pytest.mark.parametrize(("filter", "expected"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_find_matches_like_mongodb(db: Database, filter: dict[str, Any], expected: list[int]) -> None:
    db.items.insert_many(DOCS)
    assert ids(db.items.find(filter)) == expected
    assert db.items.count_documents(filter) == len(expected)


def test_objectid_and_bool_equality(db: Database) -> None:
    oid = ObjectId()
    db.items.insert_many([{"_id": 1, "r": oid, "f": True}, {"_id": 2, "r": ObjectId(), "f": 1}])
    assert ids(db.items.find({"r": oid})) == [1]
    # true is a boolean, never the number 1
    assert ids(db.items.find({"f": True})) == [1]
    assert ids(db.items.find({"f": 1})) == [2]


def test_delete_many_uses_the_filter(db: Database) -> None:
    db.items.insert_many(DOCS)
    result = db.items.delete_many({"tags": "red"})
    assert result.deleted_count == 2
    assert ids(db.items.find({})) == [2, 3, 4, 6, 7, 8]


ERRORS: list[tuple[str, dict[str, Any], int, str]] = [
    ("unknown operator", {"a": {"$foo": 1}}, 2, "unknown operator: $foo"),
    ("unknown top level operator", {"$foo": 1}, 2, "unknown top level operator: $foo"),
    ("operator mixed with a field", {"a": {"$gt": 1, "b": 1}}, 2, "unknown operator: b"),
    ("$and not an array", {"$and": {"a": 1}}, 2, "$and must be a nonempty array"),
    ("$or empty", {"$or": []}, 2, "$or must be a nonempty array"),
    ("$in not an array", {"a": {"$in": 1}}, 2, "$in needs an array"),
    ("$size negative", {"a": {"$size": -1}}, 2, "$size may not be negative"),
    ("$size fraction", {"a": {"$size": 1.5}}, 2, "$size must be a whole number"),
    ("$type unknown alias", {"a": {"$type": "foo"}}, 2, "Unknown type name alias: foo"),
    ("$mod divisor zero", {"a": {"$mod": [0, 1]}}, 2, "divisor cannot be 0"),
    ("$mod not enough elements", {"a": {"$mod": [1]}}, 2, "malformed mod, not enough elements"),
    ("$not empty", {"a": {"$not": {}}}, 2, "$not cannot be empty"),
    ("$elemMatch not an object", {"a": {"$elemMatch": 1}}, 2, "$elemMatch needs an Object"),
    ("$options without $regex", {"a": {"$options": "i"}}, 2, "$options needs a $regex"),
    ("$where is refused", {"$where": "this.a > 1"}, 2, "$where"),
    ("$expr with an unknown expression", {"$expr": {"$foo": 1}}, 168, "Unrecognized expression '$foo'"),
]


@pytest.mark.parametrize(("filter", "code", "message"), [(c[1], c[2], c[3]) for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_bad_filters_get_mongodb_errors(db: Database, filter: dict[str, Any], code: int, message: str) -> None:
    db.items.insert_one({"_id": 1, "a": 1})
    with pytest.raises(OperationFailure) as info:
        db.items.find_one(filter)
    assert info.value.code == code
    assert message in str(info.value.details.get("errmsg") if info.value.details else "")


async def test_async_find_with_array_traversal(adb: AsyncDatabase) -> None:
    await adb.items.insert_many(DOCS)
    found = await adb.items.find({"items.q": {"$gte": 5}}).to_list()
    assert sorted(doc["_id"] for doc in found) == [3, 4]
    assert await adb.items.count_documents({"a": {"$type": "number"}}) == 5


async def test_async_unknown_operator(adb: AsyncDatabase) -> None:
    await adb.items.insert_one({"a": 1})
    with pytest.raises(OperationFailure) as info:
        await adb.items.find_one({"a": {"$bogus": 1}})
    assert info.value.code == 2
