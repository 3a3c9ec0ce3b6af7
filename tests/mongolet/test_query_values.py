"""Direct checks of the pure functions other mongolet layers build on (no server needed):
BSON order and hash keys (used for _id maps and unique indexes), input documents never
mutated, and the positional projection once the find command hands over its filter."""

from __future__ import annotations

import copy
import itertools
from datetime import datetime
from typing import Any

import pytest
from bson import Decimal128, Int64, MaxKey, MinKey, ObjectId

from mongolet.errors import MongoError
from mongolet.query.aggregation import run_pipeline
from mongolet.query.paths import MISSING, get_path, path_values, set_path, unset_path
from mongolet.query.projection import compile_projection
from mongolet.query.updates import apply_update
from mongolet.query.values import canonical_key, compare, equal, type_alias


@pytest.mark.parametrize("a, b", [
    (1, 1.0), (1, Int64(1)), (1, Decimal128("1")), (Decimal128("1.50"), 1.5), (0.0, -0.0),
    ({"a": [1, 2.0]}, {"a": [Int64(1), 2]}), (float("nan"), Decimal128("NaN")),
])
def test_equal_values_share_a_key(a: Any, b: Any) -> None:
    assert equal(a, b)
    assert compare(a, b) == 0
    assert canonical_key(a) == canonical_key(b)
    assert hash(canonical_key(a)) == hash(canonical_key(b))


@pytest.mark.parametrize("a, b", [
    (True, 1), (False, 0), ("1", 1), ({"a": 1, "b": 2}, {"b": 2, "a": 1}), ([1, 2], [2, 1]),
    (None, MISSING), (Decimal128("0.1"), 0.1), (ObjectId("0" * 24), "0" * 24),
])
def test_distinct_values_get_distinct_keys(a: Any, b: Any) -> None:
    assert canonical_key(a) != canonical_key(b)


def test_type_order() -> None:
    ordered = [MinKey(), None, float("nan"), -1, 2.5, "a", "b", {"a": 1}, [1], b"\x00", ObjectId(),
               False, True, datetime(2020, 1, 1), MaxKey()]
    for low, high in itertools.pairwise(ordered):
        assert compare(low, high) == -1, (low, high)
        assert compare(high, low) == 1


@pytest.mark.parametrize("value, alias", [
    (1, "int"), (2**40, "long"), (Int64(1), "long"), (1.0, "double"), (Decimal128("1"), "decimal"),
    ("s", "string"), ({}, "object"), ([], "array"), (None, "null"), (True, "bool"),
    (ObjectId(), "objectId"), (datetime(2020, 1, 1), "date"), (MinKey(), "minKey"),
])
def test_type_alias(value: Any, alias: str) -> None:
    assert type_alias(value) == alias


def test_paths() -> None:
    doc = {"a": [{"b": 1}, {"b": [2, 3]}, {"c": 4}], "d": {"e": 5}}
    assert get_path(doc, "d.e") == 5
    assert get_path(doc, "a.1.b") == [2, 3]
    assert get_path(doc, "a.b") is MISSING
    assert path_values(doc, "a.b") == [1, 2, 3]
    assert set_path(doc, "d.f.g", 1)["d"] == {"e": 5, "f": {"g": 1}}
    assert unset_path(doc, "d.e")["d"] == {}
    with pytest.raises(MongoError) as info:
        set_path(doc, "d.e.x", 1)
    assert info.value.code == 28


def test_updates_and_pipelines_never_mutate_their_input() -> None:
    doc = {"_id": 1, "a": {"b": [1, 2]}, "c": [{"d": 1}]}
    original = copy.deepcopy(doc)
    apply_update(doc, {"$push": {"a.b": 3}, "$set": {"c.0.d": 2}, "$inc": {"n": 1}})
    apply_update(doc, {"$pull": {"a.b": 1}, "$unset": {"c.0.d": ""}})
    run_pipeline([doc], [{"$set": {"a.x": 1}}, {"$unwind": "$c"}, {"$project": {"c.d": 0}}], _NoLookups())
    assert doc == original


def test_positional_projection_with_the_query() -> None:
    doc = {"_id": 1, "arr": [1, 5, 9], "items": [{"k": 1}, {"k": 2}]}
    assert compile_projection({"arr.$": 1}, query={"arr": {"$gt": 3}})(doc) == {"_id": 1, "arr": [5]}
    assert compile_projection({"items.$": 1}, query={"items.k": 2})(doc) == {"_id": 1, "items": [{"k": 2}]}


class _NoLookups:
    def collection_documents(self, name: str) -> list[dict[str, Any]]:
        return []
