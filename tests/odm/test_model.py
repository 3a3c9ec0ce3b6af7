"""The model layer, without a server: declaration, documents, validation, model_update."""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from typing import Annotated, Any

import bson
import pydantic
import pytest

from odm import (
    Binary,
    Decimal128,
    DocumentParsingError,
    EmbeddedModel,
    Field,
    Int64,
    Model,
    ObjectId,
    PrimaryKeyChangeError,
    Reference,
    Regex,
    WithBsonSerializer,
)
from tests.odm.models import (
    Address,
    Author,
    Book,
    Customer,
    Item,
    Player,
    Product,
    Publisher,
    Status,
    User,
)


def test_collection_names() -> None:
    class UserProfileModel(Model):
        name: str

    assert +UserProfileModel == "user_profile"
    assert +Customer == "customer"
    assert +Player == "players"


def test_default_primary_field_is_id_stored_as__id() -> None:
    user = User(name="a", email="b")
    assert isinstance(user.id, bson.ObjectId)
    assert User.__primary_field__ == "id"
    assert +User.id == "_id"
    assert list(user.model_dump_doc()) == ["_id", "name", "email"]
    assert User(name="a", email="b").id != user.id


def test_custom_primary_field_and_key_names() -> None:
    product = Product(sku="X1", label="pen")
    assert product.model_dump_doc() == {"_id": "X1", "label": "pen"}
    assert +Customer.name == "n"
    assert +Customer.address.zip_code == "address.zip"
    assert not hasattr(product, "id")


def test_document_round_trip_uses_key_names() -> None:
    customer = Customer(name="Ann", address=Address(city="Paris", zip_code="75001"))
    doc = customer.model_dump_doc()
    assert doc["n"] == "Ann"
    assert doc["address"] == {"city": "Paris", "zip": "75001"}
    assert Customer.model_validate_doc(doc) == customer
    # Python attribute names stay the names in model_dump and JSON.
    assert customer.model_dump()["name"] == "Ann"
    assert '"name":"Ann"' in customer.model_dump_json()


def test_optional_list_and_dict_of_embedded_models() -> None:
    customer = Customer(
        name="a",
        address=None,
        addresses=[Address(city="x")],
        by_label={"home": Address(city="y", zip_code="1")},
    )
    doc = customer.model_dump_doc()
    assert doc["address"] is None
    assert doc["addresses"] == [{"city": "x", "zip": "00000"}]
    assert doc["by_label"] == {"home": {"city": "y", "zip": "1"}}
    parsed = Customer.model_validate_doc(doc)
    assert parsed.by_label["home"].zip_code == "1"
    assert parsed.addresses[0] == Address(city="x")


def test_bson_values_in_documents() -> None:
    customer = Customer(name="a", price=decimal.Decimal("10.25"), status=Status.CLOSED)
    doc = customer.model_dump_doc()
    assert doc["price"] == bson.Decimal128("10.25")
    assert doc["status"] == "closed"
    parsed = Customer.model_validate_doc(doc)
    assert parsed.price == decimal.Decimal("10.25")
    assert parsed.status is Status.CLOSED
    # plain dumps keep Python values; JSON gives strings
    assert customer.model_dump()["price"] == decimal.Decimal("10.25")
    assert '"price":"10.25"' in customer.model_dump_json()


def test_bson_types_validate_and_serialise_to_json() -> None:
    class Doc(Model):
        oid: ObjectId
        long: Int64
        dec: Decimal128
        raw: Binary
        pattern: Regex
        plain_oid: bson.ObjectId
        ident: uuid.UUID

    oid = bson.ObjectId()
    ident = uuid.uuid4()
    doc = Doc(
        oid=str(oid), long=5, dec="1.5", raw=b"\x01", pattern="^a", plain_oid=oid, ident=ident
    )
    assert doc.oid == oid and isinstance(doc.oid, bson.ObjectId)
    assert isinstance(doc.long, bson.Int64) and doc.long == 5
    assert doc.dec == bson.Decimal128("1.5")
    assert doc.raw == bson.Binary(b"\x01")
    assert doc.pattern.pattern == "^a"
    stored = doc.model_dump_doc()
    assert stored["ident"] == bson.Binary.from_uuid(ident)
    assert Doc.model_validate_doc(stored).ident == ident
    as_json = doc.model_dump(mode="json")
    assert as_json["oid"] == str(oid)
    assert as_json["long"] == 5
    assert as_json["dec"] == "1.5"
    assert as_json["pattern"] == "^a"
    assert Doc.model_validate_json(doc.model_dump_json()) == doc
    with pytest.raises(pydantic.ValidationError, match="Invalid ObjectId"):
        Doc(oid="nope", long=1, dec=1, raw=b"", pattern="", plain_oid=oid, ident=ident)


def test_datetimes_are_naive_utc_truncated_to_milliseconds() -> None:
    class Event(Model):
        at: datetime.datetime

    paris = datetime.timezone(datetime.timedelta(hours=2))
    aware = Event(at=datetime.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=paris))
    naive = Event(at=datetime.datetime(2024, 5, 1, 10, 0, 0, 123999))
    assert aware.at == datetime.datetime(2024, 5, 1, 10, 0, 0, 123000)
    assert aware.at.tzinfo is None
    assert naive.at == aware.at
    stored_by_pymongo = datetime.datetime(2024, 5, 1, 10, 0, 0, 123000)
    assert Event.model_validate_doc({"_id": aware.id, "at": stored_by_pymongo}).at == aware.at


def test_document_parsing_error_names_model_document_and_field() -> None:
    oid = bson.ObjectId()
    with pytest.raises(DocumentParsingError) as caught:
        Customer.model_validate_doc({"_id": oid, "n": "a", "address": {"city": 3}})
    error = caught.value
    assert error.model is Customer
    assert error.primary_value == oid
    assert error.field == "address.city"
    assert "string" in error.reason
    assert "Customer" in str(error) and str(oid) in str(error)
    assert isinstance(error.validation_error, pydantic.ValidationError)


def test_missing_default_factory_key_is_a_parsing_error_unless_configured() -> None:
    class Stamped(Model):
        created: datetime.datetime = Field(default_factory=datetime.datetime.utcnow)

    class Lenient(Model):
        created: datetime.datetime = Field(default_factory=datetime.datetime.utcnow)
        model_config = {"parse_doc_with_default_factories": True}

    oid = bson.ObjectId()
    with pytest.raises(DocumentParsingError, match="created"):
        Stamped.model_validate_doc({"_id": oid})
    assert Lenient.model_validate_doc({"_id": oid}).id == oid
    with pytest.raises(DocumentParsingError, match="_id"):
        Lenient.model_validate_doc({"created": datetime.datetime(2020, 1, 1)})


def test_model_update_from_dict_keywords_and_pydantic_model() -> None:
    customer = Customer(name="a", age=1)
    assert customer.model_update({"age": 2}) is customer
    assert customer.age == 2
    customer.model_update(age=3, name="b")
    assert (customer.age, customer.name) == (3, "b")

    class Patch(pydantic.BaseModel):
        age: int = 0
        name: str = "unset"

    customer.model_update(Patch(age=9))  # only the fields set on the patch
    assert (customer.age, customer.name) == (9, "b")
    customer.model_update({"age": 10, "name": "c"}, exclude={"name"})
    assert (customer.age, customer.name) == (10, "b")


def test_model_update_ignores_unknown_keys_like_odmantic() -> None:
    user = User(name="a", email="b")
    user.model_update(total_orders=1)
    assert user.model_dump() == {"id": user.id, "name": "a", "email": "b"}


def test_model_update_validates_and_refuses_primary_key_changes() -> None:
    customer = Customer(name="a")
    with pytest.raises(pydantic.ValidationError):
        customer.model_update(age="not a number")
    assert customer.age == 0
    with pytest.raises(PrimaryKeyChangeError):
        customer.model_update(id=bson.ObjectId())
    customer.model_update(id=customer.id)  # same value: fine
    with pytest.raises(PrimaryKeyChangeError):
        customer.id = bson.ObjectId()
    with pytest.raises(TypeError, match="pydantic model or a dict"):
        customer.model_update(3)  # type: ignore[arg-type]


def test_assignment_is_validated() -> None:
    customer = Customer(name="a")
    with pytest.raises(pydantic.ValidationError):
        customer.age = "x"  # type: ignore[assignment]
    customer.seen_at = datetime.datetime(2024, 1, 1, 0, 0, 0, 999999)
    assert customer.seen_at.microsecond == 999000


def test_model_copy() -> None:
    customer = Customer(name="a", tags=["x"])
    deep = customer.model_copy(update={"age": 5}, deep=True)
    assert deep.age == 5 and deep.id == customer.id
    deep.tags.append("y")
    assert customer.tags == ["x"]


def test_model_dump_doc_include() -> None:
    customer = Customer(name="a", age=4)
    assert customer.model_dump_doc(include={"name", "age"}) == {"n": "a", "age": 4}


def test_references_are_stored_as_ids() -> None:
    publisher = Publisher(name="p")
    author = Author(name="a", publisher=publisher)
    book = Book(title="t", author=author)
    assert book.model_dump_doc() == {"_id": book.id, "title": "t", "author_id": author.id}
    assert book.model_dump()["author"]["publisher"]["name"] == "p"
    assert +Book.author == "author_id"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"x": pydantic.Field(1)}, "odm.Field instead of pydantic.Field"),
        ({"x": Field(1, key_name="y"), "y": Field(1)}, "Duplicated key_name"),
        ({"x": Field(1, primary_field=True), "y": Field(1, primary_field=True)}, "several primary"),
    ],
)
def test_invalid_declarations_are_type_errors(body: dict[str, Any], message: str) -> None:
    namespace = {"__annotations__": {name: int for name in body}, **body}
    with pytest.raises(TypeError, match=message):
        type("Bad", (Model,), namespace)


@pytest.mark.parametrize("key_name", ["$x", "a.b", ""])
def test_invalid_key_names(key_name: str) -> None:
    with pytest.raises(TypeError, match="key_name"):
        Field(key_name=key_name)
    with pytest.raises(TypeError, match="key_name"):
        Reference(key_name=key_name)


def test_reference_declaration_errors() -> None:
    with pytest.raises(TypeError, match="without a Reference"):

        class NoReference(Model):
            publisher: Publisher

    with pytest.raises(TypeError, match="needs a Model"):

        class NotAModel(Model):
            value: int = Reference()

    with pytest.raises(TypeError, match="primary field in"):

        class Embedded(EmbeddedModel):
            key: str = Field(primary_field=True)

    with pytest.raises(TypeError, match="'id' field already exists"):

        class ClashingId(Model):
            id: int


def test_field_constraints_and_schema_metadata() -> None:
    class Limited(Model):
        name: str = Field(min_length=2, max_length=3, pattern="^[a-z]+$", description="d")
        level: int = Field(1, ge=1, le=10, multiple_of=1, title="Level")
        tags: list[str] = Field(default_factory=list, min_items=0, max_items=2)

    with pytest.raises(pydantic.ValidationError):
        Limited(name="A1")
    with pytest.raises(pydantic.ValidationError):
        Limited(name="ab", level=11)
    with pytest.raises(pydantic.ValidationError):
        Limited(name="ab", tags=["a", "b", "c"])
    schema = Limited.model_json_schema()
    assert schema["properties"]["name"]["description"] == "d"
    assert schema["properties"]["level"]["title"] == "Level"


def test_embedded_models_and_items_compare_by_value() -> None:
    assert Item(sku="a") == Item(sku="a", qty=1)


def test_inherited_models_keep_fields_and_primary_key() -> None:
    class Admin(User):
        level: int = 1

    admin = Admin(name="a", email="b")
    assert +Admin == "admin"
    assert list(admin.model_dump_doc()) == ["_id", "name", "email", "level"]
    assert +Admin.name == "name"


def test_enum_with_int_values() -> None:
    class Level(enum.IntEnum):
        LOW = 1

    class Thing(Model):
        level: Level

    assert Thing(level=Level.LOW).model_dump_doc()["level"] == 1


def test_field_accepts_pydantic_constraints_and_schema_extras() -> None:
    class Measure(Model):
        value: float = Field(gt=0, lt=10, examples=[1.5], json_schema_extra={"unit": "m"})
        count: int = Field(default_factory=lambda: 3, key_name="c")

    with pytest.raises(pydantic.ValidationError):
        Measure(value=0)
    with pytest.raises(pydantic.ValidationError):
        Measure(value=10)
    measure = Measure(value=1)
    assert measure.count == 3
    assert measure.model_dump_doc() == {"_id": measure.id, "value": 1.0, "c": 3}
    schema = Measure.model_json_schema()["properties"]["value"]
    assert (schema["exclusiveMinimum"], schema["exclusiveMaximum"]) == (0, 10)
    assert (schema["examples"], schema["unit"]) == ([1.5], "m")


def test_field_json_schema_extra_may_be_a_callable() -> None:
    def mark(schema: dict[str, Any]) -> None:
        schema["marked"] = True

    class Marked(Model):
        value: int = Field(0, json_schema_extra=mark)

    assert Marked.model_json_schema()["properties"]["value"]["marked"] is True


def test_model_copy_of_a_key_name_field_updates_its_document() -> None:
    customer = Customer(name="a", tags=["x"])
    copied = customer.model_copy(update={"name": "b"})
    assert copied.id == customer.id
    assert copied.model_dump_doc()["n"] == "b"
    assert customer.model_dump_doc()["n"] == "a"


def test_model_update_dump_options_for_pydantic_patches() -> None:
    class Patch(pydantic.BaseModel):
        name: str | None = None
        age: int = 0

    customer = Customer(name="a", age=3)
    customer.model_update(Patch(name=None, age=0), exclude_none=True, exclude_unset=False)
    assert (customer.name, customer.age) == ("a", 0)
    customer.model_update(Patch(name="b", age=0), exclude_defaults=True)
    assert (customer.name, customer.age) == ("b", 0)
    customer.model_update(Patch(name="c", age=9), include={"age"})
    assert (customer.name, customer.age) == ("b", 9)


def test_odmantic_deprecated_aliases_still_work() -> None:
    customer = Customer(name="a")
    with pytest.warns(DeprecationWarning, match="model_dump_doc"):
        doc = customer.doc()
    assert doc == customer.model_dump_doc()
    with pytest.warns(DeprecationWarning, match="model_validate_doc"):
        assert Customer.parse_doc(doc) == customer
    with pytest.warns(DeprecationWarning, match="model_update"):
        customer.update({"age": 7})
    assert customer.age == 7


def test_classes_defined_in_a_function_resolve_their_local_annotations() -> None:
    # This module uses `from __future__ import annotations`: every annotation is a string
    # naming a class that only exists in this function's locals.
    class Shop(Model):
        name: str

    class Spot(EmbeddedModel):
        city: str = Field(key_name="c")

    class Sale(Model):
        shop: Shop = Reference(key_name="s")
        spot: Spot

    assert Sale.__pydantic_complete__  # pydantic saw the locals too
    sale = Sale(shop=Shop(name="a"), spot=Spot(city="x"))
    assert sale.model_dump_doc() == {"_id": sale.id, "s": sale.shop.id, "spot": {"c": "x"}}
    assert (Sale.spot.city == "x") == {"spot.c": {"$eq": "x"}}
    assert Sale.__odm_references__[0].reference is Shop


def test_with_bson_serializer_changes_documents_only() -> None:
    upper = Annotated[str, WithBsonSerializer(str.upper)]
    as_float = Annotated[decimal.Decimal, WithBsonSerializer(float)]

    class Tag(EmbeddedModel):
        label: upper

    class Note(Model):
        title: upper = Field(key_name="t")
        amount: as_float = decimal.Decimal("1.5")
        tags: list[Tag] = []
        ref: Annotated[ObjectId, WithBsonSerializer(str)] | None = None

    oid = bson.ObjectId()
    note = Note(title="hi", tags=[Tag(label="x")], ref=oid)
    assert note.model_dump_doc() == {
        "_id": note.id, "t": "HI", "amount": 1.5, "tags": [{"label": "X"}], "ref": str(oid)
    }
    assert note.model_dump()["title"] == "hi" and note.model_dump()["ref"] == oid
    assert '"amount":"1.5"' in note.model_dump_json()
    for mode in ("validation", "serialization"):
        schema = Note.model_json_schema(mode=mode)
        assert schema["properties"]["title"]["type"] == "string"
    assert Note.model_json_schema(mode="serialization")["properties"]["amount"]["type"] == "string"
