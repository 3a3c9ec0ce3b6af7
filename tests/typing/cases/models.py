"""Models as users declare them: constructors, defaults, ids, config, queries."""

from __future__ import annotations

import datetime
from typing import Any, assert_type

import bson
from pydantic import AwareDatetime

import odm
from odm import EmbeddedModel, Field, Model, ODMConfigDict, Reference, query
from odm.bson import BaseBSONModel
from uow import DomainEvents


class Address(EmbeddedModel):
    city: str
    zip_code: str = Field(default="00000", key_name="zip")


class Publisher(Model):
    name: str = Field(unique=True)


class Book(Model):
    title: str = Field(key_name="t", index=True)
    tags: list[str] = []
    pages: int = Field(default=0, ge=0)
    address: Address | None = None
    publisher: Publisher = Reference()
    published: datetime.datetime | None = None
    model_config = ODMConfigDict(collection="books")


class Account(Model, DomainEvents):
    owner: str
    balance: int
    version: int = 0
    opened: AwareDatetime | None = None
    model_config = ODMConfigDict(collection="accounts", version_field="version")


class Isbn(Model):
    isbn: str = Field(primary_field=True)
    tags: set[str] = Field(default_factory=set)


class Named(Model):
    id: str = Field(primary_field=True)  # type: ignore[assignment]  # an id that is no ObjectId


publisher = Publisher(name="Chilton")
book = Book(title="Dune", publisher=publisher)
account = Account(owner="ann", balance=10)
account.record_event("opened")
assert_type(account.balance, int)
assert_type(account.id, bson.ObjectId)
assert_type(book.address, Address | None)
assert_type(book.publisher, Publisher)
assert_type(Named(id="x").id, str)
assert_type(Isbn(isbn="1").tags, set[str])
assert_type(Book(id=bson.ObjectId(), title="t", publisher=publisher).id, bson.ObjectId)
assert_type(odm.ObjectId("5f85f36d6dfecacc68428a46"), bson.ObjectId)
assert_type(book.model_dump_doc(), dict[str, Any])
assert_type(Book.model_validate_doc({"_id": bson.ObjectId()}), Book)
assert_type(book.model_update({"pages": 3}), Book)
assert_type(+Book, str)

# Queries: fields read as their value types, comparisons build filters.
assert_type(Book.title, str)
assert_type(Book.title == "Dune", bool)
by_title = query.eq(Book.title, "Dune")
assert_type(by_title, query.QueryExpression)
assert_type(query.and_(Book.pages > 100, Book.title != "x"), query.QueryExpression)
assert_type(query.all_(Book.tags, ["sf"]), query.QueryExpression)
assert_type(query.in_(Book.publisher, [publisher]), query.QueryExpression)
assert_type(query.eq("address.city", "Paris"), query.QueryExpression)  # an optional embedded path
assert_type(query.desc(Book.published), query.SortExpression)
assert_type(query.key_of(Book.title), str)
assert_type((Book.pages > 1) & (Book.tags == []), bool)
assert_type(query.and_(Book.pages > 1) | query.or_(Book.pages < 0), query.QueryExpression)

# More of odm.query, sorts, indexes and the pydantic twin.
assert_type(query.elem_match(Book.tags, {"$eq": "sf"}), query.QueryExpression)
assert_type(query.match(Book.title, r"^Du"), query.QueryExpression)
assert_type(query.exists(Book.published), query.QueryExpression)
assert_type(query.size(Book.tags, 2), query.QueryExpression)
assert_type(query.nor_(Book.pages < 1), query.QueryExpression)
assert_type(query.not_in(Book.pages, [1, 2]), query.QueryExpression)
assert_type(query.asc(Book.title), query.SortExpression)
index = odm.Index(Book.title, query.desc(Book.pages), unique=True, name="title_pages")
assert_type(Book.__pydantic_model__, type[BaseBSONModel])
assert_type(Book.__collection__, str)
assert_type(Book.__primary_field__, str)
