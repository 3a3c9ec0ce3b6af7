"""Queries and engine errors as ODMantic raises them: reference operators, key names,
paging, index conflicts, primary keys and the deprecated ``copy``."""

from __future__ import annotations

import bson
import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from odm import AIOEngine, IndexConflictError, SyncEngine
from tests.odm.helpers import call, find
from tests.odm.models import Author, Book, Customer, Player, Publisher

Engine = SyncEngine | AIOEngine


def test_reference_fields_offer_equality_and_membership_only() -> None:
    publisher = Publisher(name="Ace")
    assert (Author.publisher == publisher) == {"publisher": {"$eq": publisher.id}}
    assert (Author.publisher != publisher) == {"publisher": {"$ne": publisher.id}}
    assert Author.publisher.in_([publisher]) == {"publisher": {"$in": [publisher.id]}}
    assert Author.publisher.not_in([publisher]) == {"publisher": {"$nin": [publisher.id]}}
    for operator in ("gt", "gte", "lt", "lte", "match", "exists", "asc", "desc", "all", "size"):
        with pytest.raises(AttributeError, match=f"operator {operator} not allowed"):
            getattr(Author.publisher, operator)
        assert not hasattr(Author.publisher, operator)
    with pytest.raises(AttributeError, match="operator gt not allowed"):
        Author.publisher > publisher  # noqa: B015
    with pytest.raises(AttributeError, match="operator lte not allowed"):
        Author.publisher <= publisher  # noqa: B015


def test_filtering_across_a_reference_is_not_implemented() -> None:
    with pytest.raises(NotImplementedError, match="filtering across references is not supported"):
        Author.publisher.name  # noqa: B018
    with pytest.raises(NotImplementedError, match="filtering across references"):
        Book.author.publisher  # noqa: B018
    with pytest.raises(AttributeError):
        Author.publisher.unknown  # noqa: B018


def test_key_names_and_dollar_keys_for_every_kind_of_field() -> None:
    assert (+Customer.name, ++Customer.name) == ("n", "$n")  # key_name
    assert (+Customer.age, ++Customer.age) == ("age", "$age")  # plain
    assert (+Customer.id, ++Customer.id) == ("_id", "$_id")  # primary
    assert (+Customer.address, ++Customer.address) == ("address", "$address")  # embedded
    assert (+Customer.address.zip_code, ++Customer.address.zip_code) == (
        "address.zip",
        "$address.zip",
    )
    assert (+Customer.addresses, ++Customer.addresses) == ("addresses", "$addresses")
    assert (+Book.author, ++Book.author) == ("author_id", "$author_id")  # reference
    assert +Customer == "customer"


async def test_find_refuses_bad_limit_and_skip(engine: Engine) -> None:
    for kwargs in ({"limit": 0}, {"limit": -1}, {"skip": -1}):
        with pytest.raises(ValueError, match=r"limit has to be|skip has to be"):
            await find(engine, Customer, **kwargs)
    await call(engine.save(Customer(name="a")))
    assert len(await find(engine, Customer, limit=1, skip=0)) == 1


async def test_index_conflict_is_an_operation_failure(
    engine: Engine, db_name: str, client: MongoClient
) -> None:
    client[db_name]["players"].create_index("name", name="name_1")  # not unique
    with pytest.raises(OperationFailure) as caught:
        await call(engine.configure_database([Player]))
    assert isinstance(caught.value, IndexConflictError)
    assert caught.value.code == 85  # IndexOptionsConflict, as the server would say
    assert "update_existing_indexes" in str(caught.value)


def test_reassigning_the_primary_key_is_not_implemented() -> None:
    customer = Customer(name="a")
    with pytest.raises(NotImplementedError, match="assigning a new primary key"):
        customer.id = bson.ObjectId()
    with pytest.raises(ValueError, match="Updating the primary key is not supported"):
        customer.model_update(id=bson.ObjectId())  # ODMantic's ValueError


def test_deprecated_copy_refuses_include_and_exclude() -> None:
    customer = Customer(name="a", age=3)
    with pytest.warns(DeprecationWarning, match="copy is deprecated"), pytest.raises(
        NotImplementedError, match="copy with include or exclude is not supported anymore"
    ):
        customer.copy(include={"name"})
    with pytest.warns(DeprecationWarning), pytest.raises(NotImplementedError):
        customer.copy(exclude={"age"})
    with pytest.warns(DeprecationWarning):
        copied = customer.copy(update={"age": 4})
    assert (copied.name, copied.age, copied.id) == ("a", 4, customer.id)


def test_query_reprs_are_odmantics() -> None:
    from odm.query import QueryExpression

    assert repr(QueryExpression()) == "QueryExpression()"
    assert repr(Customer.age == 3) == "QueryExpression({'age': {'$eq': 3}})"
