"""Aggregation stages and expressions through the real PyMongo clients."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from bson import Int64
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure
from pymongo.synchronous.database import Database

SALES: list[dict[str, Any]] = [
    {"_id": 1, "item": "abc", "price": 10, "qty": 2, "tags": ["a", "b"], "day": datetime(2024, 3, 1, 9)},
    {"_id": 2, "item": "jkl", "price": 20, "qty": 1, "tags": ["b"], "day": datetime(2024, 3, 1, 17)},
    {"_id": 3, "item": "xyz", "price": 5, "qty": 10, "tags": [], "day": datetime(2024, 3, 15, 8)},
    {"_id": 4, "item": "xyz", "price": 5, "qty": 20, "day": datetime(2024, 4, 4, 11)},
    {"_id": 5, "item": "abc", "price": 10, "qty": 10, "tags": None, "day": datetime(2024, 4, 4, 21)},
]

PIPELINES: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]] = [
    ("$group with accumulators", [
        {"$group": {"_id": "$item", "total": {"$sum": {"$multiply": ["$price", "$qty"]}},
                    "avgQty": {"$avg": "$qty"}, "n": {"$sum": 1}, "ids": {"$push": "$_id"},
                    "first": {"$first": "$qty"}, "last": {"$last": "$qty"}, "minQ": {"$min": "$qty"},
                    "maxQ": {"$max": "$qty"}}},
        {"$sort": {"_id": 1}},
    ], [
        {"_id": "abc", "total": 120, "avgQty": 6.0, "n": 2, "ids": [1, 5], "first": 2, "last": 10, "minQ": 2, "maxQ": 10},
        {"_id": "jkl", "total": 20, "avgQty": 1.0, "n": 1, "ids": [2], "first": 1, "last": 1, "minQ": 1, "maxQ": 1},
        {"_id": "xyz", "total": 150, "avgQty": 15.0, "n": 2, "ids": [3, 4], "first": 10, "last": 20, "minQ": 10, "maxQ": 20},
    ]),
    ("$group by null and $addToSet", [
        {"$group": {"_id": None, "items": {"$addToSet": "$item"}, "count": {"$count": {}}}},
        {"$project": {"_id": 0, "n": {"$size": "$items"}, "count": 1}},
    ], [{"count": 5, "n": 3}]),
    ("$group by a compound key with date parts", [
        {"$group": {"_id": {"m": {"$month": "$day"}, "y": {"$year": "$day"}}, "q": {"$sum": "$qty"}}},
        {"$sort": {"_id.m": 1}},
    ], [{"_id": {"m": 3, "y": 2024}, "q": 13}, {"_id": {"m": 4, "y": 2024}, "q": 30}]),
    ("count_documents shape", [
        {"$match": {"price": {"$gte": 10}}}, {"$skip": 1}, {"$limit": 5},
        {"$group": {"_id": 1, "n": {"$sum": 1}}},
    ], [{"_id": 1, "n": 2}]),
    ("$count", [{"$match": {"item": "xyz"}}, {"$count": "xyzCount"}], [{"xyzCount": 2}]),
    ("$count of nothing is no document", [{"$match": {"item": "none"}}, {"$count": "n"}], []),
    ("$unwind string form drops empty, null and missing", [
        {"$unwind": "$tags"}, {"$project": {"tags": 1}},
    ], [{"_id": 1, "tags": "a"}, {"_id": 1, "tags": "b"}, {"_id": 2, "tags": "b"}]),
    ("$unwind preserving with index", [
        {"$match": {"_id": {"$gte": 2}}},
        {"$unwind": {"path": "$tags", "includeArrayIndex": "i", "preserveNullAndEmptyArrays": True}},
        {"$project": {"tags": 1, "i": 1}},
    ], [{"_id": 2, "tags": "b", "i": Int64(0)}, {"_id": 3, "i": None}, {"_id": 4, "i": None},
        {"_id": 5, "tags": None, "i": None}]),
    ("$project with expressions", [
        {"$match": {"_id": 1}},
        {"$project": {"_id": 0, "item": {"$toUpper": "$item"}, "cost": {"$multiply": ["$price", "$qty"]},
                      "big": {"$cond": [{"$gte": ["$qty", 5]}, "yes", "no"]},
                      "when": {"$dateToString": {"format": "%Y-%m-%d", "date": "$day"}},
                      "label": {"$concat": ["$item", "-", {"$toString": "$qty"}]}}},
    ], [{"item": "ABC", "cost": 20, "big": "no", "when": "2024-03-01", "label": "abc-2"}]),
    ("$addFields and $unset", [
        {"$match": {"_id": {"$lte": 2}}},
        {"$addFields": {"cost": {"$multiply": ["$price", "$qty"]}, "meta.seen": True}},
        {"$unset": ["tags", "day", "price", "qty"]},
    ], [{"_id": 1, "item": "abc", "cost": 20, "meta": {"seen": True}},
        {"_id": 2, "item": "jkl", "cost": 20, "meta": {"seen": True}}]),
    ("$set with $$REMOVE removes a field", [
        {"$match": {"_id": 1}}, {"$set": {"item": "$$REMOVE"}}, {"$project": {"item": 1}},
    ], [{"_id": 1}]),
    ("$replaceRoot and $replaceWith", [
        {"$match": {"_id": 3}}, {"$replaceRoot": {"newRoot": {"i": "$item"}}},
        {"$replaceWith": {"$mergeObjects": ["$$ROOT", {"extra": 1}]}},
    ], [{"i": "xyz", "extra": 1}]),
    ("$sortByCount", [{"$sortByCount": "$price"}, {"$limit": 1}], [{"_id": 10, "count": 2}]),
    ("$facet", [
        {"$facet": {"cheap": [{"$match": {"price": {"$lt": 10}}}, {"$count": "n"}],
                    "items": [{"$group": {"_id": "$item"}}, {"$sort": {"_id": -1}}, {"$limit": 1}]}},
    ], [{"cheap": [{"n": 2}], "items": [{"_id": "xyz"}]}]),
    ("$filter, $map, $reduce", [
        {"$match": {"_id": 1}},
        {"$project": {"_id": 0,
                      "bs": {"$filter": {"input": "$tags", "as": "t", "cond": {"$eq": ["$$t", "b"]}}},
                      "up": {"$map": {"input": "$tags", "in": {"$toUpper": "$$this"}}},
                      "joined": {"$reduce": {"input": "$tags", "initialValue": "", "in": {"$concat": ["$$value", "$$this"]}}}}},
    ], [{"bs": ["b"], "up": ["A", "B"], "joined": "ab"}]),
    ("$sort, $skip, $limit", [{"$sort": {"qty": -1, "_id": 1}}, {"$skip": 1}, {"$limit": 2}, {"$project": {"_id": 1}}],
     [{"_id": 3}, {"_id": 5}]),
    ("$bucket", [
        {"$bucket": {"groupBy": "$qty", "boundaries": [0, 5, 15], "default": "many",
                     "output": {"n": {"$sum": 1}}}},
    ], [{"_id": 0, "n": 2}, {"_id": 5, "n": 2}, {"_id": "many", "n": 1}]),
]


@pytest.mark.parametrize(("pipeline", "expected"), [(c[1], c[2]) for c in PIPELINES], ids=[c[0] for c in PIPELINES])
def test_pipelines(db: Database, pipeline: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    db.sales.insert_many(SALES)
    assert list(db.sales.aggregate(pipeline)) == expected


def test_lookup_local_and_foreign_fields(db: Database) -> None:
    db.orders.insert_many([{"_id": 1, "sku": "a"}, {"_id": 2, "sku": ["b", "c"]}, {"_id": 3}])
    db.stock.insert_many([{"_id": 10, "sku": "a"}, {"_id": 11, "sku": "b"}, {"_id": 12, "sku": "c"},
                          {"_id": 13, "sku": None}])
    found = list(db.orders.aggregate([
        {"$lookup": {"from": "stock", "localField": "sku", "foreignField": "sku", "as": "s"}},
        {"$project": {"ids": "$s._id"}},
    ]))
    # an array local field matches each element; a missing one matches foreign nulls
    assert found == [{"_id": 1, "ids": [10]}, {"_id": 2, "ids": [11, 12]}, {"_id": 3, "ids": [13]}]


def test_lookup_let_pipeline_and_combined(db: Database) -> None:
    db.orders.insert_many([{"_id": 1, "sku": "a", "min": 5}, {"_id": 2, "sku": "a", "min": 50}])
    db.stock.insert_many([{"_id": 10, "sku": "a", "n": 10}, {"_id": 11, "sku": "a", "n": 100},
                          {"_id": 12, "sku": "b", "n": 100}])
    found = list(db.orders.aggregate([
        {"$lookup": {"from": "stock", "let": {"s": "$sku", "m": "$min"}, "as": "s", "pipeline": [
            {"$match": {"$expr": {"$and": [{"$eq": ["$sku", "$$s"]}, {"$gte": ["$n", "$$m"]}]}}},
            {"$project": {"_id": 1}},
        ]}},
        {"$lookup": {"from": "stock", "localField": "sku", "foreignField": "sku", "let": {"m": "$min"},
                     "pipeline": [{"$match": {"$expr": {"$lt": ["$n", "$$m"]}}}, {"$project": {"_id": 1}}],
                     "as": "below"}},
    ]))
    assert found == [
        {"_id": 1, "sku": "a", "min": 5, "s": [{"_id": 10}, {"_id": 11}], "below": []},
        {"_id": 2, "sku": "a", "min": 50, "s": [{"_id": 11}], "below": [{"_id": 10}]},
    ]


def test_lookup_missing_collection_gives_empty_arrays(db: Database) -> None:
    db.orders.insert_one({"_id": 1, "sku": "a"})
    found = list(db.orders.aggregate([{"$lookup": {"from": "nothing", "localField": "sku",
                                                   "foreignField": "sku", "as": "s"}}]))
    assert found == [{"_id": 1, "sku": "a", "s": []}]


def test_count_documents_and_distinct(db: Database) -> None:
    db.sales.insert_many(SALES)
    assert db.sales.count_documents({}) == 5
    assert db.sales.count_documents({"tags": "b"}, skip=1) == 1
    assert db.sales.count_documents({"tags": "b"}, limit=1) == 1
    # an explicit null is a distinct value; empty arrays and missing fields are not
    assert set(db.sales.distinct("tags")) == {"a", "b", None}


def test_expression_type_conversions(db: Database) -> None:
    db.c.insert_one({"_id": 1, "s": "42", "d": 2.7, "n": None})
    found = db.c.aggregate([{"$project": {
        "_id": 0, "i": {"$toInt": "$s"}, "l": {"$toLong": "$d"}, "t": {"$type": "$s"},
        "bad": {"$convert": {"input": "x", "to": "int", "onError": "fallback"}},
        "null": {"$convert": {"input": "$n", "to": "int", "onNull": "was null"}},
        "r": {"$round": ["$d", 0]}, "missingType": {"$type": "$nope"},
    }}]).next()
    assert found == {"i": 42, "l": Int64(2), "t": "string", "bad": "fallback", "null": "was null",
                     "r": 3.0, "missingType": "missing"}


ERRORS: list[tuple[str, list[dict[str, Any]], int]] = [
    ("unknown stage", [{"$foo": {}}], 40324),
    ("unknown expression", [{"$project": {"a": {"$foo": 1}}}], 168),
    ("group without _id", [{"$group": {"n": {"$sum": 1}}}], 15955),
    ("unknown accumulator", [{"$group": {"_id": 1, "n": {"$foo": 1}}}], 15952),
    ("non-positive $limit", [{"$limit": 0}], 15958),
    ("negative $skip", [{"$skip": -1}], 15956),
    ("$unwind path without $", [{"$unwind": "tags"}], 28818),
    ("stage with two fields", [{"$match": {}, "$limit": 1}], 40323),
    ("$project mixing inclusion and exclusion", [{"$project": {"a": 1, "b": 0}}], 31253),
    ("$divide by zero", [{"$project": {"x": {"$divide": [1, 0]}}}], 2),
    ("$add on a string", [{"$project": {"x": {"$add": ["$item", 1]}}}], 16554),
    ("$replaceRoot to a non-document", [{"$replaceRoot": {"newRoot": "$price"}}], 40228),
    ("$toInt on a bad string", [{"$project": {"x": {"$toInt": "$item"}}}], 241),
]


def test_accumulator_expressions_fold_one_array_operand_or_the_operands(db: Database) -> None:
    # As mongod's ExpressionFromAccumulator: one operand that is an array is folded element
    # by element; with several operands an array is one value ($sum/$avg ignore it).
    db.c.insert_one({"_id": 1, "a": [1, 2, [10]], "b": 4})
    found = db.c.aggregate([{"$project": {
        "_id": 0, "sum": {"$sum": "$a"}, "sumListed": {"$sum": ["$a"]}, "sumTwo": {"$sum": ["$a", "$b"]},
        "avgTwo": {"$avg": ["$a", "$b"]}, "max": {"$max": ["$a"]}, "maxTwo": {"$max": ["$a", "$b"]},
        "min": {"$min": "$a"}, "sd": {"$stdDevPop": [1, 3]}, "sdOne": {"$stdDevSamp": [5]},
    }}]).next()
    assert found == {"sum": 3, "sumListed": 3, "sumTwo": 4, "avgTwo": 4.0, "max": [10],
                     "maxTwo": [1, 2, [10]], "min": 1, "sd": 1.0, "sdOne": None}


@pytest.mark.parametrize(("pipeline", "code"), [(c[1], c[2]) for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_pipeline_errors(db: Database, pipeline: list[dict[str, Any]], code: int) -> None:
    db.sales.insert_many(SALES)
    with pytest.raises(OperationFailure) as info:
        list(db.sales.aggregate(pipeline))
    assert info.value.code == code


async def test_async_group_and_lookup(adb: AsyncDatabase) -> None:
    await adb.sales.insert_many(SALES)
    await adb.items.insert_many([{"_id": "abc", "name": "Alpha"}, {"_id": "xyz", "name": "Omega"}])
    cursor = await adb.sales.aggregate([
        {"$group": {"_id": "$item", "qty": {"$sum": "$qty"}}},
        {"$lookup": {"from": "items", "localField": "_id", "foreignField": "_id", "as": "info"}},
        {"$set": {"name": {"$ifNull": [{"$first": "$info.name"}, "unknown"]}}},
        {"$project": {"info": 0}},
        {"$sort": {"qty": -1}},
    ])
    assert await cursor.to_list() == [
        {"_id": "xyz", "qty": 30, "name": "Omega"},
        {"_id": "abc", "qty": 12, "name": "Alpha"},
        {"_id": "jkl", "qty": 1, "name": "unknown"},
    ]


async def test_async_unknown_stage(adb: AsyncDatabase) -> None:
    await adb.sales.insert_one({"a": 1})
    with pytest.raises(OperationFailure) as info:
        await adb.sales.aggregate([{"$bogus": 1}])
    assert info.value.code == 40324
