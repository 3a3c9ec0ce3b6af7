"""Checks made when a model class is defined, with ODMantic's errors and messages."""

from __future__ import annotations

import typing
from collections.abc import Callable
from types import FunctionType
from typing import Any, Optional

import pytest
from pydantic import ValidationError
from pydantic.errors import PydanticSchemaGenerationError

from odm import EmbeddedModel, Field, Model, Reference


def test_default_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(TypeError, match="Unhandled field definition M"):

        class M(Model):
            f: Optional[int] = "a"  # type: ignore[assignment]  # noqa: UP045


def test_default_of_an_unknown_type_is_refused() -> None:
    class Unknown:
        pass

    with pytest.raises(TypeError, match="Unhandled field definition"):

        class M(Model):
            a: int = Unknown()  # type: ignore[assignment]


def test_valid_defaults_are_kept() -> None:
    class M(Model):
        f: int = 3
        g: str | None = None
        h: list[int] = Field(default_factory=list)

    assert (M().f, M().g, M().h) == (3, None, [])


def test_field_default_is_validated_when_used() -> None:
    class M(Model):
        f: Optional[int] = Field(3, gt=5)  # noqa: UP045

    with pytest.raises(ValidationError, match="greater than 5"):
        M()
    assert M(f=6).f == 6


@pytest.mark.parametrize(
    "annotation", [Callable, typing.Callable, Callable[[], int], list[Callable[[int], int]]]
)
def test_callable_fields_are_refused(annotation: Any) -> None:
    with pytest.raises(TypeError, match="fields are not supported"):
        type("M", (Model,), {"__annotations__": {"children": annotation}, "__module__": __name__})


def test_unknown_field_type_is_a_type_error() -> None:
    class Unknown:
        pass

    with pytest.raises(TypeError, match="Unable to generate pydantic-core schema") as info:

        class M(Model):
            a: Unknown

    assert isinstance(info.value, PydanticSchemaGenerationError)  # pydantic's error too


class _E(EmbeddedModel):
    f: int


@pytest.mark.parametrize("generic", [list, set, tuple])
def test_generic_of_embedded_models_as_primary_key_is_refused(generic: Any) -> None:
    with pytest.raises(
        TypeError, match="generic type of embedded models as a primary field is not allowed"
    ):

        class M(Model):
            e: generic[_E] = Field(primary_field=True)  # type: ignore[valid-type]


@pytest.mark.parametrize(
    "generic",
    [lambda e: list[e], lambda e: set[e], lambda e: dict[str, e], lambda e: tuple[e, ...],
     lambda e: list[e] | None],
)
def test_generic_of_embedded_models_with_references_is_refused(generic: Any) -> None:
    class Other(Model):
        a: float

    class WithRef(EmbeddedModel):
        f: Other = Reference()

    with pytest.raises(
        TypeError, match="generic type of embedded models containing references is not allowed"
    ):
        type("M", (Model,), {"__annotations__": {"e": generic(WithRef)}, "__module__": __name__})


def test_function_typed_attribute_is_not_a_field() -> None:
    def id_str(self: Any) -> str:
        return str(self.id)

    class M(Model):
        model_config = {"arbitrary_types_allowed": True}
        id_: FunctionType = id_str  # type: ignore[assignment]
        name: str = "x"

    assert "id_" not in M.__odm_fields__
    assert "id_" not in M.model_fields
    assert "id_" not in M().model_dump_doc()


def test_untyped_attribute_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="field a is defined without type annotation"):

        class M(Model):
            a = 3


def test_methods_properties_and_validators_are_not_untyped_fields() -> None:
    from pydantic import field_validator

    class M(Model):
        name: str

        @property
        def upper(self) -> str:
            return self.name.upper()

        @classmethod
        def make(cls) -> M:
            return cls(name="made")

        @field_validator("name")
        @classmethod
        def strip(cls, value: str) -> str:
            return value.strip()

        class Nested:
            pass

    assert M.make().upper == "MADE"
    assert M(name=" a ").name == "a"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"frozen": True}, "configuration attribute 'frozen' from Pydantic is not supported"),
        ({"populate_by_name": True}, "'populate_by_name' from Pydantic is not supported"),
        ({"foo": 1}, "unknown configuration attribute 'foo'"),
        ({"validate_assignment": False}, "'validate_assignment' is enforced to True"),
    ],
)
def test_unsupported_config_keys_are_refused(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        type("M", (Model,), {"model_config": config, "__module__": __name__})
    with pytest.raises(ValueError, match=message):
        type("E", (EmbeddedModel,), {"model_config": config, "__module__": __name__})


def test_supported_config_keys_are_accepted() -> None:
    class M(Model):
        model_config = {
            "collection": "ms",
            "extra": "allow",
            "title": "Em",
            "str_strip_whitespace": True,
            "json_schema_extra": {"examples": []},
            "parse_doc_with_default_factories": True,
            "version_field": "v",
            "indexes": list,
        }
        v: int = 0
        s: str = ""

    assert M(s=" a ").s == "a" and +M == "ms"


def test_field_primary_with_a_key_name_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot specify a primary field with a custom key_name"):
        Field(primary_field=True, key_name="k")
    assert Field(primary_field=True, key_name="_id").key_name == "_id"
    assert Field(primary_field=True).key_name == "_id"


def test_field_key_name_id_without_primary_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot specify key_name='_id' without defining"):
        Field(key_name="_id")


def test_field_ellipsis_with_default_factory_is_accepted() -> None:
    class M(Model):
        tags: list[str] = Field(..., default_factory=list)

    assert M().tags == []
    with pytest.raises(TypeError, match="cannot specify both default and default_factory"):
        Field(3, default_factory=list)


@pytest.mark.parametrize(
    ("collection", "message"),
    [
        ("hello$world", r"cannot contain '\$'"),
        ("", "cannot be empty"),
        ("system.hi", "cannot start with 'system.'"),
    ],
)
def test_invalid_collection_names_are_refused(collection: str, message: str) -> None:
    with pytest.raises(TypeError, match=f"Invalid collection name for M: {message}"):
        type("M", (Model,), {"model_config": {"collection": collection}, "__module__": __name__})


def test_unknown_class_attribute_names_the_model_and_the_field() -> None:
    class Account(Model):
        owner: str

    with pytest.raises(AttributeError, match=r"Account has no field 'ownr' \(its fields: id, owner\)"):
        Account.ownr  # type: ignore[attr-defined]  # noqa: B018
    assert not hasattr(Account, "ownr")
    assert (Account.owner == "x") == {"owner": {"$eq": "x"}}
