"""The pure builders behind both engines."""

from __future__ import annotations

import pymongo
import pytest

from odm import Field, IndexConflictError, Model, ObjectId, tracking
from odm.engine.base import is_transactions_unsupported, supports_transactions
from odm.index_planning import index_models, index_plan
from odm.query import desc
from odm.query_compiler import find_request
from odm.saving import mark_saved, save_operation, save_operations
from tests.odm.models import Author, Book, Customer, Player, Product, Publisher


def test_find_request_without_references_is_a_plain_find() -> None:
    request = find_request(
        Customer, [Customer.age > 1], sort=desc(Customer.age), skip=2, limit=3
    )
    assert request.pipeline is None
    assert request.filter == {"age": {"$gt": 1}}
    assert request.find_kwargs() == {"skip": 2, "limit": 3, "sort": [("age", -1)]}


def test_find_request_with_references_uses_lookup() -> None:
    request = find_request(Book, [Book.title == "t"], limit=1)
    assert request.pipeline is not None
    assert request.pipeline[:2] == [{"$match": {"title": {"$eq": "t"}}}, {"$limit": 1}]
    lookup = request.pipeline[2]["$lookup"]
    assert lookup["from"] == "author" and lookup["as"] == "author_id"
    # the author's own reference is looked up inside the sub-pipeline
    assert lookup["pipeline"][1]["$lookup"]["localField"] == "publisher"
    assert request.pipeline[3] == {
        "$unwind": {"path": "$author_id", "preserveNullAndEmptyArrays": True}
    }


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"skip": -1}, ValueError, "skip has to be a positive integer"),
        ({"limit": 0}, ValueError, "limit has to be a strict positive value or None"),
        ({"limit": -2}, ValueError, "limit has to be a strict positive value"),
        ({"limit": "3"}, TypeError, "limit"),
        ({"skip": True}, TypeError, "skip"),
    ],
)
def test_find_request_rejects_bad_paging(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        find_request(Customer, [], **kwargs)  # type: ignore[arg-type]


def test_engines_want_model_classes() -> None:
    with pytest.raises(TypeError, match="Model class"):
        find_request(dict, [])  # type: ignore[type-var]


def test_save_of_a_new_instance_sends_the_whole_document() -> None:
    customer = Customer(name="a")  # a generated id: nothing can be stored under it yet
    operation = save_operation(customer)
    assert operation is not None
    assert isinstance(operation.request, pymongo.InsertOne)
    assert operation.request._doc == customer.model_dump_doc()


def test_save_of_a_new_instance_with_a_chosen_id_upserts_it() -> None:
    customer = Customer(id=ObjectId(), name="a")  # may overwrite a stored one, as in ODMantic
    operation = save_operation(customer)
    assert operation is not None
    request = operation.request
    assert isinstance(request, pymongo.UpdateOne)
    document = customer.model_dump_doc()
    assert request._filter == {"_id": customer.id}
    assert request._doc == {"$set": {k: v for k, v in document.items() if k != "_id"}}
    assert request._upsert is True


def test_save_of_a_tracked_instance_sends_the_diff_or_nothing() -> None:
    customer = Customer(name="a")
    tracking.mark_persisted(customer, customer.model_dump_doc())
    assert save_operation(customer) is None
    customer.tags.append("x")
    operation = save_operation(customer)
    assert operation is not None
    assert operation.request._doc == {"$set": {"tags": ["x"]}}


def test_save_of_a_primary_key_only_document_replaces() -> None:
    class Tag(Model):
        name: str = Field(primary_field=True)

    operation = save_operation(Tag(name="t"))
    assert operation is not None
    assert isinstance(operation.request, pymongo.ReplaceOne)
    assert operation.request._doc == {"_id": "t"}
    assert save_operation(Product(sku="p")) is not None


def test_save_operations_cascade_references_first_and_group_by_collection() -> None:
    publisher = Publisher(name="p")
    author = Author(name="a", publisher=publisher)
    books = [Book(title="1", author=author), Book(title="2", author=author)]
    plan = save_operations(books)
    assert [collection for collection, _ in plan] == ["publisher", "author", "book"]
    assert [len(operations) for _, operations in plan] == [1, 1, 2]
    mark_saved(operation for _, operations in plan for operation in operations)
    assert save_operations(books) == []


def test_index_models() -> None:
    indexes = [index.document for index in index_models(Player)]
    assert {"key": {"name": 1}, "name": "name_1", "unique": True} in indexes
    assert {"key": {"level": 1}, "name": "level_1"} in indexes
    assert {"key": {"team": 1, "level": -1}, "name": "team_level"} in indexes
    assert index_models(Customer) == []


def test_index_plan() -> None:
    existing = [
        {"name": "_id_", "key": {"_id": 1}},
        {"name": "name_1", "key": {"name": 1}, "unique": True},
        {"name": "level_1", "key": {"level": 1}},
    ]
    drop, create = index_plan(Player, existing)
    assert drop == [] and [index.document["name"] for index in create] == ["team_level"]

    conflicting = [{"name": "custom", "key": {"name": 1}}]  # same keys, not unique
    with pytest.raises(IndexConflictError, match="custom"):
        index_plan(Player, conflicting)
    drop, create = index_plan(Player, conflicting, update_existing_indexes=True)
    assert drop == ["custom"]
    assert [index.document["name"] for index in create] == ["name_1", "level_1", "team_level"]


def test_supports_transactions() -> None:
    assert supports_transactions({"setName": "rs0"})
    assert supports_transactions({"msg": "isdbgrid"})
    assert not supports_transactions({"isWritablePrimary": True})


def test_transactions_unsupported_error_is_recognised() -> None:
    error = pymongo.errors.OperationFailure(
        "Transaction numbers are only allowed on a replica set member or mongos", 20
    )
    assert is_transactions_unsupported(error)
    assert not is_transactions_unsupported(pymongo.errors.OperationFailure("x", 2))
