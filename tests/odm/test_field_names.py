"""Field names outside the database, stored keys inside it (as ODMantic).

``model_dump`` (with or without ``by_alias``), ``model_dump_json`` and ``model_json_schema``
(both modes) name fields by their field names (``id``, ``name``); ``model_dump_doc`` and
``model_validate_doc`` use stored keys (``_id``, ``key_name``) only.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import bson
import pydantic
import pytest

from odm import DocumentParsingError, EmbeddedModel, Field, Model, Reference
from tests.odm.models import Address, Author, Book, Customer, Product, Publisher


def _customer() -> Customer:
    return Customer(
        name="Ann",
        address=Address(city="Paris", zip_code="75001"),
        addresses=[Address(city="Lyon")],
        by_label={"home": Address(city="Nice", zip_code="06000")},
    )


FIELD_NAMES = {"id", "name", "age", "tags", "scores", "address", "addresses", "by_label",
               "items", "status", "price", "seen_at", "extra"}


@pytest.mark.parametrize("by_alias", [False, True])
def test_model_dump_uses_field_names(by_alias: bool) -> None:
    customer = _customer()
    dumped = customer.model_dump(by_alias=by_alias)
    assert set(dumped) == FIELD_NAMES
    assert dumped["id"] == customer.id
    assert dumped["address"] == {"city": "Paris", "zip_code": "75001"}
    assert dumped["addresses"] == [{"city": "Lyon", "zip_code": "00000"}]
    assert dumped["by_label"] == {"home": {"city": "Nice", "zip_code": "06000"}}


@pytest.mark.parametrize("by_alias", [False, True])
def test_model_dump_json_uses_field_names_and_hex_ids(by_alias: bool) -> None:
    customer = _customer()
    dumped = json.loads(customer.model_dump_json(by_alias=by_alias))
    assert set(dumped) == FIELD_NAMES
    assert dumped["id"] == str(customer.id)
    assert dumped["name"] == "Ann"
    assert dumped["address"] == {"city": "Paris", "zip_code": "75001"}


def test_model_dump_doc_uses_stored_keys_everywhere() -> None:
    customer = _customer()
    doc = customer.model_dump_doc()
    assert "_id" in doc and "id" not in doc
    assert doc["n"] == "Ann" and "name" not in doc
    assert doc["address"] == {"city": "Paris", "zip": "75001"}
    assert doc["addresses"] == [{"city": "Lyon", "zip": "00000"}]
    assert doc["by_label"] == {"home": {"city": "Nice", "zip": "06000"}}
    assert Customer.model_validate_doc(doc) == customer


def test_embedded_models_keep_field_names_on_their_own() -> None:
    # Building a parent's document codec must not rename the embedded class itself.
    _customer().model_dump_doc()
    address = Address(city="Paris", zip_code="1")
    assert address.model_dump(by_alias=True) == {"city": "Paris", "zip_code": "1"}
    assert address.model_dump_doc() == {"city": "Paris", "zip": "1"}
    assert Address.model_validate_doc({"city": "Paris", "zip": "1"}) == address


@pytest.mark.parametrize("mode", ["validation", "serialization"])
def test_json_schema_uses_field_names(mode: Any) -> None:
    schema = Customer.model_json_schema(mode=mode)
    assert set(schema["properties"]) == FIELD_NAMES
    assert schema["required"] == ["name"]
    assert schema["properties"]["id"]["type"] == "string"
    assert schema["properties"]["id"]["pattern"] == "^[0-9a-fA-F]{24}$"
    address = schema["$defs"]["Address"]
    assert set(address["properties"]) == {"city", "zip_code"}
    assert "_id" not in json.dumps(schema) and '"n"' not in json.dumps(schema)


@pytest.mark.parametrize("mode", ["validation", "serialization"])
def test_json_schema_of_references_and_custom_primary_fields(mode: Any) -> None:
    schema = Book.model_json_schema(mode=mode)
    assert set(schema["properties"]) == {"id", "title", "author"}
    assert schema["properties"]["author"] == {"$ref": "#/$defs/Author"}
    assert set(schema["$defs"]["Author"]["properties"]) == {"id", "name", "publisher"}
    assert set(Product.model_json_schema(mode=mode)["properties"]) == {"sku", "label"}


def test_references_dump_as_models_with_field_names_and_store_ids() -> None:
    author = Author(name="a", publisher=Publisher(name="p"))
    book = Book(title="t", author=author)
    assert book.model_dump()["author"] == {
        "id": author.id,
        "name": "a",
        "publisher": {"id": author.publisher.id, "name": "p"},
    }
    assert json.loads(book.model_dump_json())["author"]["id"] == str(author.id)
    assert book.model_dump_doc() == {"_id": book.id, "title": "t", "author_id": author.id}


def test_construction_and_model_validate_accept_field_names_and_stored_keys() -> None:
    oid = bson.ObjectId()
    assert Customer(id=oid, name="a").id == oid
    assert Customer.model_validate({"id": oid, "name": "a"}).id == oid
    assert Customer.model_validate({"_id": oid, "n": "a"}) == Customer(id=oid, name="a")
    assert Customer.model_validate({"id": str(oid), "name": "a"}).id == oid
    assert Customer.model_validate_json(f'{{"id": "{oid}", "name": "a"}}').id == oid
    assert Product(sku="x").sku == Product.model_validate({"_id": "x"}).sku == "x"
    author = Author(name="a", publisher=Publisher(name="p"))
    book = Book.model_validate({"title": "t", "author_id": author})
    assert book.author == author


def test_model_validate_doc_reads_stored_keys_only() -> None:
    oid = bson.ObjectId()
    with pytest.raises(DocumentParsingError) as caught:
        Customer.model_validate_doc({"_id": oid, "name": "Ann"})
    assert caught.value.field == "n"
    # A stored "id" key next to "_id" is an unknown key, never the primary key.
    parsed = Customer.model_validate_doc({"_id": oid, "id": bson.ObjectId(), "n": "Ann"})
    assert parsed.id == oid
    with pytest.raises(DocumentParsingError):
        Product.model_validate_doc({"sku": "x"})
    # An embedded field's name in a document is not that field: the default applies.
    doc = {"_id": oid, "n": "Ann", "address": {"city": "P", "zip_code": "9"}}
    address = Customer.model_validate_doc(doc).address
    assert address is not None and address.zip_code == "00000"


def test_self_referencing_embedded_models() -> None:
    class Node(EmbeddedModel):
        label: str = Field(key_name="l")
        children: list[Node] = []

    class Tree(Model):
        root: Node = Field(key_name="r")

    tree = Tree(root=Node(label="a", children=[Node(label="b", children=[Node(label="c")])]))
    doc = tree.model_dump_doc()
    assert doc["r"] == {"l": "a", "children": [{"l": "b", "children": [{"l": "c", "children": []}]}]}
    assert Tree.model_validate_doc(doc) == tree
    assert tree.model_dump()["root"]["children"][0]["label"] == "b"
    assert set(Tree.model_json_schema()["$defs"]["Node"]["properties"]) == {"label", "children"}


def test_forward_references_resolved_later() -> None:
    class Shelf(Model):
        box: Box = Field(key_name="b")

    class Box(EmbeddedModel):
        size: int = Field(key_name="s")

    Shelf.model_rebuild()
    shelf = Shelf(box=Box(size=3))
    assert shelf.model_dump_doc() == {"_id": shelf.id, "b": {"s": 3}}
    assert shelf.model_dump() == {"id": shelf.id, "box": {"size": 3}}
    assert Shelf.model_validate_doc({"_id": shelf.id, "b": {"s": 3}}) == shelf


def test_inherited_key_names() -> None:
    class Base(Model):
        name: str = Field(key_name="n")

    class Child(Base):
        level: int = Field(1, key_name="lv")

    child = Child(name="a")
    assert child.model_dump_doc() == {"_id": child.id, "n": "a", "lv": 1}
    assert child.model_dump() == {"id": child.id, "name": "a", "level": 1}
    assert Child.model_validate_doc({"_id": child.id, "n": "a", "lv": 1}) == child


def test_plain_pydantic_models_inside_keep_their_own_aliases() -> None:
    class Meta(pydantic.BaseModel):
        kind: str = pydantic.Field(alias="k")

    class Tagged(Model):
        meta: Meta

    tagged = Tagged(meta=Meta(k="x"))
    assert tagged.model_dump_doc()["meta"] == {"k": "x"}
    assert Tagged.model_validate_doc(tagged.model_dump_doc()) == tagged


def test_reference_with_key_name_in_nested_documents() -> None:
    class Shelf2(Model):
        book: Book = Reference(key_name="b")

    author = Author(name="a", publisher=Publisher(name="p"))
    shelf = Shelf2(book=Book(title="t", author=author))
    assert shelf.model_dump_doc() == {"_id": shelf.id, "b": shelf.book.id}
    assert shelf.model_dump()["book"]["author"]["name"] == "a"


def test_unions_of_embedded_models_use_each_models_stored_keys() -> None:
    class Cat(EmbeddedModel):
        kind: Literal["cat"] = "cat"
        lives: int = Field(9, key_name="l")

    class Dog(EmbeddedModel):
        kind: Literal["dog"] = "dog"
        bark: str = Field("woof", key_name="b")

    class Home(Model):
        pets: list[Cat | Dog] = []
        best: Cat | Dog | None = None

    home = Home(pets=[Cat(), Dog()], best=Dog(bark="grr"))
    doc = home.model_dump_doc()
    assert doc["pets"] == [{"kind": "cat", "l": 9}, {"kind": "dog", "b": "woof"}]
    assert doc["best"] == {"kind": "dog", "b": "grr"}
    assert Home.model_validate_doc(doc) == home
    assert home.model_dump()["best"] == {"kind": "dog", "bark": "grr"}


def test_parsing_errors_name_the_path_in_the_document() -> None:
    oid = bson.ObjectId()
    with pytest.raises(DocumentParsingError) as caught:
        Customer.model_validate_doc({"_id": oid, "n": "a", "addresses": [{"city": "x", "zip": 5}]})
    assert caught.value.field == "addresses.0.zip"
    assert caught.value.primary_value == oid
