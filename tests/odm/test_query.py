"""Query and sort expressions (pure)."""

from __future__ import annotations

import re
from decimal import Decimal

import bson
import pytest

from odm import QueryExpression, SortExpression
from odm.query import (
    all_,
    and_,
    asc,
    desc,
    elem_match,
    eq,
    exists,
    gt,
    gte,
    in_,
    lt,
    lte,
    match,
    ne,
    nor_,
    not_in,
    or_,
    size,
)
from odm.query_compiler import compile_filter, compile_sort
from tests.odm.models import Address, Author, Customer, Item, Publisher, Status


def test_comparison_operators_on_fields() -> None:
    assert (Customer.age == 3) == {"age": {"$eq": 3}}
    assert (Customer.age != 3) == {"age": {"$ne": 3}}
    assert (Customer.age > 3) == {"age": {"$gt": 3}}
    assert (Customer.age >= 3) == {"age": {"$gte": 3}}
    assert (Customer.age < 3) == {"age": {"$lt": 3}}
    assert (Customer.age <= 3) == {"age": {"$lte": 3}}
    assert isinstance(Customer.age == 3, QueryExpression)


def test_functions_match_methods_and_use_key_names() -> None:
    assert eq(Customer.name, "a") == Customer.name.eq("a") == {"n": {"$eq": "a"}}
    assert ne(Customer.age, 1) == Customer.age.ne(1)
    assert gt(Customer.age, 1) == Customer.age.gt(1)
    assert gte(Customer.age, 1) == Customer.age.gte(1)
    assert lt(Customer.age, 1) == Customer.age.lt(1)
    assert lte(Customer.age, 1) == Customer.age.lte(1)
    assert in_(Customer.age, [1, 2]) == Customer.age.in_([1, 2]) == {"age": {"$in": [1, 2]}}
    assert not_in(Customer.age, (1,)) == Customer.age.not_in([1]) == {"age": {"$nin": [1]}}
    assert match(Customer.name, "^a") == Customer.name.match("^a") == {"n": {"$regex": "^a"}}
    pattern = re.compile("^a", re.I)
    assert match(Customer.name, pattern) == {"n": {"$regex": pattern}}


def test_logical_combinations() -> None:
    young, named = Customer.age < 18, Customer.name == "a"
    assert (young & named) == and_(young, named) == {"$and": [young, named]}
    assert (young | named) == or_(young, named) == {"$or": [young, named]}
    assert nor_(young) == {"$nor": [young]}
    assert and_(young, {"raw": 1}) == {"$and": [young, {"raw": 1}]}
    with pytest.raises(TypeError, match="at least one"):
        or_()


def test_nested_embedded_fields() -> None:
    assert (Customer.address.city == "Paris") == {"address.city": {"$eq": "Paris"}}
    assert +Customer.addresses.zip_code == "addresses.zip"
    assert +Customer.by_label == "by_label"
    with pytest.raises(AttributeError, match="no field 'nope'"):
        _ = Customer.address.nope
    with pytest.raises(AttributeError, match="not an embedded model"):
        _ = Customer.age.nope


def test_values_are_always_data_never_operators() -> None:
    assert (Customer.name == {"$ne": None}) == {"n": {"$eq": {"$ne": None}}}
    assert (Customer.name == "$where") == {"n": {"$eq": "$where"}}
    # MongoDB refuses $-keyed documents inside $in/$nin/$all: compare them one by one
    assert in_(Customer.name, [{"$gt": ""}, "a"]) == {
        "$or": [{"n": {"$eq": {"$gt": ""}}}, {"n": {"$eq": "a"}}]
    }
    assert not_in(Customer.name, [{"$gt": ""}]) == {"$nor": [{"n": {"$eq": {"$gt": ""}}}]}
    assert all_(Customer.tags, [{"$gt": ""}]) == {"$and": [{"tags": {"$eq": {"$gt": ""}}}]}
    with pytest.raises(TypeError, match="list of values"):
        in_(Customer.name, "abc")


def test_values_are_converted_to_bson() -> None:
    assert (Customer.status == Status.CLOSED) == {"status": {"$eq": "closed"}}
    assert (Customer.price > Decimal("1.5")) == {"price": {"$gt": bson.Decimal128("1.5")}}
    assert (Customer.address == Address(city="x")) == {
        "address": {"$eq": {"city": "x", "zip": "00000"}}
    }
    publisher = Publisher(name="p")
    assert (Author.publisher == publisher) == {"publisher": {"$eq": publisher.id}}


def test_array_operators() -> None:
    assert all_(Customer.tags, ["a", "b"]) == Customer.tags.all(["a", "b"])
    assert all_(Customer.tags, ["a"]) == {"tags": {"$all": ["a"]}}
    assert size(Customer.tags, 2) == Customer.tags.size(2) == {"tags": {"$size": 2}}
    assert exists(Customer.address) == {"address": {"$exists": True}}
    assert Customer.address.exists(False) == {"address": {"$exists": False}}
    assert elem_match(Customer.items, Item.sku == "a", Item.qty > 2) == {
        "items": {"$elemMatch": {"sku": {"$eq": "a"}, "qty": {"$gt": 2}}}
    }
    assert Customer.scores.elem_match({"$gte": 80, "$lt": 90}) == {
        "scores": {"$elemMatch": {"$gte": 80, "$lt": 90}}
    }
    # colliding keys are combined with $and rather than overwritten
    assert elem_match(Customer.items, Item.qty > 1, Item.qty < 5) == {
        "items": {"$elemMatch": {"$and": [{"qty": {"$gt": 1}}, {"qty": {"$lt": 5}}]}}
    }
    with pytest.raises(TypeError):
        size(Customer.tags, -1)


def test_sort_expressions() -> None:
    assert asc(Customer.age) == Customer.age.asc() == {"age": 1}
    assert desc(Customer.name) == Customer.name.desc() == {"n": -1}
    assert isinstance(desc(Customer.age), SortExpression)
    assert compile_sort(Customer.age) == [("age", 1)]
    assert compile_sort((desc(Customer.age), Customer.name)) == [("age", -1), ("n", 1)]
    assert compile_sort(None) is None
    with pytest.raises(TypeError, match="sort expects"):
        compile_sort("age")  # type: ignore[arg-type]


def test_compile_filter() -> None:
    assert compile_filter([]) == {}
    assert compile_filter([Customer.age == 1]) == {"age": {"$eq": 1}}
    assert compile_filter([Customer.age == 1, {"n": "x"}]) == {
        "$and": [{"age": {"$eq": 1}}, {"n": "x"}]
    }
    with pytest.raises(TypeError, match="QueryExpression"):
        compile_filter([True])


def test_collection_and_key_name_operators() -> None:
    assert +Customer == "customer"
    assert +Customer.name == "n"
    with pytest.raises(TypeError, match="not a Model"):
        _ = +Address  # type: ignore[operator]
