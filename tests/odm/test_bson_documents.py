"""Types and documents as ODMantic gives them: patterns, BSON-ready documents, JSON of bytes,
``odm.bson.BaseBSONModel``, ``Model.__pydantic_model__`` and JSON schema descriptions."""

from __future__ import annotations

import decimal
import json
import re
import typing

import bson
import pytest
from pydantic import BaseModel, ValidationError
from pymongo.database import Database

from odm import AIOEngine, Decimal128, EmbeddedModel, Field, Model, ObjectId, Reference, SyncEngine
from odm.bson import BaseBSONModel
from tests.odm.helpers import call, find

Engine = SyncEngine | AIOEngine


class Rule(Model):
    pattern: re.Pattern[str]
    legacy: typing.Pattern[str] | None = None
    regex: bson.Regex | None = None


async def test_pattern_fields_read_the_regex_mongodb_returns(engine: Engine, db: Database) -> None:
    rule = Rule(pattern=re.compile("^ab", re.IGNORECASE), legacy="x+")
    await call(engine.save(rule))
    stored = db["rule"].find_one({"_id": rule.id})
    assert isinstance(stored["pattern"], bson.Regex)  # what PyMongo hands back
    (loaded,) = await find(engine, Rule)
    assert isinstance(loaded.pattern, re.Pattern)
    assert (loaded.pattern.pattern, loaded.pattern.flags & re.IGNORECASE) == ("^ab", re.IGNORECASE)
    assert isinstance(loaded.legacy, re.Pattern) and loaded.legacy.pattern == "x+"
    assert loaded.pattern.match("ABc")


def test_invalid_regular_expressions_are_refused() -> None:
    with pytest.raises(ValidationError, match="regular expression"):
        Rule(pattern="(")
    with pytest.raises(ValidationError, match="Invalid regular expression"):
        Rule(pattern="a", regex="(")
    assert Rule(pattern="a", regex="^a").regex == bson.Regex("^a")


class Shapes(Model):
    point: tuple[int, int]
    tags: set[str] = set()
    frozen: frozenset[int] = frozenset()
    pairs: list[tuple[str, decimal.Decimal]] = []
    model_config = {"extra": "allow"}


def _bson_ready(value: object) -> bool:
    if isinstance(value, tuple | set | frozenset | decimal.Decimal):
        return False
    if isinstance(value, dict):
        return all(_bson_ready(item) for item in value.values())
    if isinstance(value, list):
        return all(_bson_ready(item) for item in value)
    return True


def test_model_dump_doc_gives_bson_ready_values() -> None:
    shapes = Shapes(
        point=(1, 2),
        tags={"a"},
        frozen=frozenset({3}),
        pairs=[("x", decimal.Decimal("1.5"))],
        price=decimal.Decimal("9.99"),
        extra_tuple=(1, (2, 3)),
        extra_nested={"d": decimal.Decimal("1")},
    )
    document = shapes.model_dump_doc()
    assert _bson_ready(document), document
    assert document["point"] == [1, 2]
    assert document["pairs"] == [["x", bson.Decimal128("1.5")]]
    assert document["price"] == bson.Decimal128("9.99")
    assert document["extra_tuple"] == [1, [2, 3]]
    assert document["extra_nested"] == {"d": bson.Decimal128("1")}


async def test_tuples_are_stored_as_arrays(engine: Engine, db: Database) -> None:
    shapes = Shapes(point=(4, 5), tags={"t"})
    await call(engine.save(shapes))
    assert db["shapes"].find_one()["point"] == [4, 5]
    (loaded,) = await find(engine, Shapes)
    assert loaded.point == (4, 5) and loaded.tags == {"t"}


class Blob(Model):
    raw: bytes
    binary: bson.Binary


def test_json_of_bytes_and_binary_is_odmantics() -> None:
    blob = Blob(raw=b"abc", binary=bson.Binary(b"abc"))
    assert json.loads(blob.model_dump_json())["binary"] == "abc"
    assert json.loads(blob.model_dump_json())["raw"] == "abc"
    back = Blob.model_validate_json(blob.model_dump_json())
    assert isinstance(back.binary, bson.Binary) and bytes(back.binary) == b"abc"
    properties = Blob.model_json_schema()["properties"]
    assert properties["binary"] == {"format": "binary", "title": "Binary", "type": "string"}


@pytest.mark.filterwarnings("ignore:.*json_encoders.*:DeprecationWarning")
def test_base_bson_model_serializes_bson_types() -> None:
    class Out(BaseBSONModel):
        id: ObjectId
        amount: Decimal128
        oid: bson.ObjectId
        model_config = {"arbitrary_types_allowed": True}

    out = Out(id="5f85f36d6dfecacc68428a46", amount="1.5", oid=bson.ObjectId("5f85f36d6dfecacc68428a46"))
    assert json.loads(out.model_dump_json()) == {
        "id": "5f85f36d6dfecacc68428a46",
        "amount": "1.5",
        "oid": "5f85f36d6dfecacc68428a46",
    }
    assert issubclass(BaseBSONModel, BaseModel)


class Place(EmbeddedModel):
    city: str


class Publisher(Model):
    name: str


class Book(Model):
    """A book on a shelf."""

    title: str = Field(key_name="t", min_length=1)
    place: Place | None = None
    places: list[Place] = []
    publisher: Publisher = Reference()


def test_pydantic_model_is_a_plain_pydantic_twin() -> None:
    pure = Book.__pydantic_model__
    assert pure is Book.__pydantic_model__  # built once
    assert issubclass(pure, BaseBSONModel) and not issubclass(pure, Model)
    assert pure.__name__ == "Book"
    assert set(pure.model_fields) == set(Book.model_fields)
    assert pure.model_fields["publisher"].annotation is Publisher.__pydantic_model__
    book = Book(title="Dune", place=Place(city="Caen"), publisher=Publisher(name="Ace"))
    twin = pure.model_validate(book.model_dump())
    assert json.loads(twin.model_dump_json()) == json.loads(book.model_dump_json())
    with pytest.raises(ValidationError):
        pure(title="", publisher={"name": "x"})  # constraints kept
    schema = pure.model_json_schema()
    assert schema["title"] == "Book" and schema["description"] == "A book on a shelf."
    assert set(schema["$defs"]) == {"Place", "Publisher"}


def test_models_without_docstring_have_no_description() -> None:
    assert "description" not in Publisher.model_json_schema()
    assert "description" not in Place.model_json_schema()
    assert "description" not in Book.model_json_schema()["$defs"]["Publisher"]
    assert Book.model_json_schema()["description"] == "A book on a shelf."
    assert "description" not in Publisher.__pydantic_model__.model_json_schema()
