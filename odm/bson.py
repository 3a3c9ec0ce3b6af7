"""BSON types as pydantic types: validation from Python and JSON, JSON serialisation.

In Python (and in documents sent to MongoDB) the values stay BSON objects; in JSON they
become strings (``ObjectId`` -> its hex string, ``Decimal128`` -> its decimal string) or
numbers (``Int64``).

Datetimes: MongoDB stores UTC milliseconds. Every ``datetime`` field of a model is
normalised on validation to **naive UTC truncated to milliseconds**: an aware value is
converted to UTC, a naive value is taken as UTC (PyMongo's convention). A value therefore
compares equal before and after a round trip through the database, whether it was aware or
naive. Two ways to get aware values: a field typed with pydantic's ``AwareDatetime`` is
always aware in UTC, and every datetime read through a client created with
``tz_aware=True`` comes back aware in UTC. Change tracking compares naive (UTC) and aware
values by the instant they name, so neither form causes a spurious ``$set``.

``decimal.Decimal`` fields are stored as ``Decimal128`` and read back as ``Decimal``.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import re
import typing
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, cast

import bson
import pydantic
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

# The serialisation context that marks a dump as "a document for MongoDB".
DOC_CONTEXT: dict[str, bool] = {"odm_doc": True}


def is_doc_dump(info: core_schema.SerializationInfo) -> bool:
    """True when a serializer runs for ``model_dump_doc`` (a BSON document)."""
    context = info.context
    return context is not None and context.get("odm_doc", False)


def _bson_schema(
    bson_type: type[Any],
    convert: Callable[[Any], Any],
    to_json: Callable[[Any], Any],
    json_input: core_schema.CoreSchema,
    json_convert: Callable[[Any], Any] | None = None,
    json_output: core_schema.CoreSchema | None = None,
) -> core_schema.CoreSchema:
    """Accept ``bson_type`` instances as they are (fast path) and convert other inputs."""
    converter = core_schema.no_info_plain_validator_function(convert)
    json_converter = core_schema.no_info_plain_validator_function(json_convert or convert)
    json_output = json_output or json_input
    return core_schema.json_or_python_schema(
        json_schema=core_schema.chain_schema([json_input, json_converter]),
        python_schema=core_schema.union_schema(
            [core_schema.is_instance_schema(bson_type), converter],
            mode="left_to_right",
        ),
        # The return schema also gives JSON schemas their serialization-mode type.
        serialization=core_schema.plain_serializer_function_ser_schema(
            to_json, when_used="json", return_schema=json_output
        ),
    )


class SerializedBy:
    """Annotation marker: serialize the value with ``function(value, info)``, or with
    ``function(value, handler, info)`` when ``wrap=True``.

    Like pydantic's ``PlainSerializer``/``WrapSerializer``, but without a return schema, so
    JSON schemas in serialization mode keep the type's own schema (``format: uuid``, the
    enum's values, the referenced model...) instead of the function's ``Any``.
    """

    __slots__ = ("function", "wrap")

    def __init__(self, function: Callable[..., Any], *, wrap: bool = False) -> None:
        self.function = function
        self.wrap = wrap

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        serialization: core_schema.SerSchema
        if self.wrap:
            serialization = core_schema.wrap_serializer_function_ser_schema(
                self.function, info_arg=True, when_used="always"
            )
        else:
            serialization = core_schema.plain_serializer_function_ser_schema(
                self.function, info_arg=True, when_used="always"
            )
        return cast(core_schema.CoreSchema, {**handler(source), "serialization": serialization})


class WithBsonSerializer:
    """Annotation: store the value as ``bson_serializer(value)`` (ODMantic's name).

    Only documents (``model_dump_doc``, what the engines write) use it; ``model_dump``,
    JSON and JSON schemas keep the type's own serialization.

    >>> from typing import Annotated
    >>> from odm import Model, WithBsonSerializer
    >>> ASCIIStr = Annotated[str, WithBsonSerializer(lambda v: v.encode("ascii", "replace").decode())]
    >>> class Example(Model):
    ...     text: ASCIIStr
    >>> Example(text="héllo").model_dump_doc()["text"], Example(text="héllo").text
    ('h?llo', 'héllo')
    """

    __slots__ = ("bson_serializer",)

    def __init__(self, bson_serializer: Callable[[Any], Any]) -> None:
        self.bson_serializer = bson_serializer

    def __repr__(self) -> str:
        return f"WithBsonSerializer({self.bson_serializer!r})"

    def _serialize(
        self,
        value: Any,
        handler: core_schema.SerializerFunctionWrapHandler,
        info: core_schema.SerializationInfo,
    ) -> Any:
        return self.bson_serializer(value) if is_doc_dump(info) else handler(value)

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        inner = handler(source)
        # The handler serializes with the inner schema, its own serializer included.
        serialization = core_schema.wrap_serializer_function_ser_schema(
            self._serialize, info_arg=True, schema=inner, when_used="always"
        )
        return cast(core_schema.CoreSchema, {**inner, "serialization": serialization})

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # JSON never sees the BSON serializer: the JSON schema is the inner type's, in both
        # modes (the wrap serializer alone would hide the inner type's serialization schema).
        serialization: Any = schema.get("serialization") or {}
        inner = serialization.get("schema") if isinstance(serialization, dict) else None
        return handler(inner if inner is not None else schema)


def _to_object_id(value: Any) -> bson.ObjectId:
    if isinstance(value, bson.ObjectId):
        return value
    if isinstance(value, str | bytes) and bson.ObjectId.is_valid(value):
        return bson.ObjectId(value)
    raise ValueError(f"Invalid ObjectId {value!r}: expected an ObjectId or 24 hex characters")


class _ObjectId(bson.ObjectId):
    """A MongoDB ObjectId field type; JSON: its 24-character hex string.

    Validated values are ``bson.ObjectId`` instances (what PyMongo returns).
    """

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return _bson_schema(bson.ObjectId, _to_object_id, str, core_schema.str_schema())

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # What OpenAPI documents show for ids: 24 hex characters (ODMantic gives examples).
        json_schema = handler(schema)
        json_schema.update(
            pattern="^[0-9a-fA-F]{24}$",
            examples=["5f85f36d6dfecacc68428a46", "ffffffffffffffffffffffff"],
        )
        return json_schema


def _to_int64(value: Any) -> bson.Int64:
    if isinstance(value, int) and not isinstance(value, bool):
        return bson.Int64(value)
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        return bson.Int64(int(value))
    raise ValueError(f"Invalid Int64 {value!r}: expected an integer")


class _Int64(bson.Int64):
    """A 64-bit integer stored as BSON ``long``; JSON: a number."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return _bson_schema(bson.Int64, _to_int64, int, core_schema.int_schema())


def _to_decimal128(value: Any) -> bson.Decimal128:
    if isinstance(value, bson.Decimal128):
        return value
    if isinstance(value, float | int | str | decimal.Decimal) and not isinstance(value, bool):
        try:
            return bson.Decimal128(decimal.Decimal(str(value)))
        except (decimal.InvalidOperation, ValueError) as exc:
            raise ValueError(f"Invalid Decimal128 {value!r}: {exc}") from None
    raise ValueError(f"Invalid Decimal128 {value!r}: expected a decimal number")


class _Decimal128(bson.Decimal128):
    """A BSON ``decimal128``; JSON: its decimal string."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return _bson_schema(
            bson.Decimal128,
            _to_decimal128,
            lambda v: str(v.to_decimal()),
            core_schema.union_schema([core_schema.str_schema(), core_schema.float_schema()]),
            json_output=core_schema.str_schema(),
        )


def _to_binary(value: Any) -> bson.Binary:
    if isinstance(value, bson.Binary):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bson.Binary(bytes(value))
    raise ValueError(f"Invalid Binary {value!r}: expected bytes")


class _Binary(bson.Binary):
    """BSON binary data; in JSON, as pydantic's ``bytes`` (ODMantic's form)."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return _bson_schema(
            bson.Binary, _to_binary, bytes, core_schema.bytes_schema(), _to_binary
        )


def _to_regex(value: Any) -> bson.Regex[Any]:
    if isinstance(value, bson.Regex):
        return value
    if isinstance(value, re.Pattern):
        return bson.Regex.from_native(value)
    if isinstance(value, str):
        _compile(value)  # refuse an invalid expression now, not when a query uses it
        return bson.Regex(value)
    raise ValueError(f"Invalid Regex {value!r}: expected a pattern")


def _compile(pattern: str, flags: int = 0) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags)
    except re.error as error:
        raise ValueError(f"Invalid regular expression {pattern!r}: {error}") from None


def _pattern_from_bson(value: Any) -> Any:
    """A ``bson.Regex`` read from MongoDB becomes the ``re.Pattern`` the field holds."""
    if isinstance(value, bson.Regex):
        flags = value.flags if isinstance(value.flags, int) else 0
        try:
            return value.try_compile()
        except re.error:
            return _compile(value.pattern, flags)
    return value


PatternField = Annotated[re.Pattern, BeforeValidator(_pattern_from_bson)]
"""``re.Pattern`` that also accepts the ``bson.Regex`` MongoDB returns."""


class _Regex(bson.Regex):
    """A BSON regular expression; accepts ``re.Pattern`` or a pattern string.

    JSON: the pattern string.
    """

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return _bson_schema(bson.Regex, _to_regex, lambda v: v.pattern, core_schema.str_schema())


# To type checkers these names are PyMongo's classes: validated values are PyMongo's
# instances (``user.id`` is a ``bson.ObjectId``), so a field annotated ``odm.ObjectId``
# accepts them. At run time they are the pydantic-aware subclasses above.
if TYPE_CHECKING:
    ObjectId = bson.ObjectId
    Int64 = bson.Int64
    Decimal128 = bson.Decimal128
    Binary = bson.Binary
    Regex = bson.Regex
else:
    ObjectId, Int64, Decimal128, Binary, Regex = _ObjectId, _Int64, _Decimal128, _Binary, _Regex
    for _cls in (ObjectId, Int64, Decimal128, Binary, Regex):
        _cls.__name__ = _cls.__qualname__ = _cls.__name__.lstrip("_")
    del _cls


def _utc_millis(value: datetime.datetime) -> datetime.datetime:
    """Naive UTC, truncated to milliseconds, as MongoDB stores and PyMongo returns it."""
    if value.tzinfo is not None:
        offset = value.utcoffset()
        value = value.replace(tzinfo=None)
        if offset:
            value = value - offset
    micro = value.microsecond
    if micro % 1000:
        value = value.replace(microsecond=micro - micro % 1000)
    return value


def _datetime_after(value: datetime.datetime) -> datetime.datetime:
    # Fast path: PyMongo gives naive UTC datetimes already truncated to milliseconds.
    if value.tzinfo is None and value.microsecond % 1000 == 0:
        return value
    return _utc_millis(value)


def _aware_utc_millis(value: datetime.datetime) -> datetime.datetime:
    """Aware UTC, truncated to milliseconds; a naive value is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    elif value.tzinfo is not datetime.UTC:
        value = value.astimezone(datetime.UTC)
    micro = value.microsecond
    if micro % 1000:
        value = value.replace(microsecond=micro - micro % 1000)
    return value


def _datetime_from_doc(value: datetime.datetime) -> datetime.datetime:
    """A stored datetime as the client returned it: naive (default) or, from a client with
    ``tz_aware=True``, aware in UTC."""
    if value.tzinfo is None:
        return _datetime_after(value)
    return _aware_utc_millis(value)


def _aware_datetime_after(value: datetime.datetime) -> datetime.datetime:
    if value.tzinfo is None:  # pydantic's AwareDatetime refuses naive values
        raise ValueError("Input should have timezone info")
    return _aware_utc_millis(value)


class _DatetimeAsMongo:
    """Annotation marker: normalise a datetime like MongoDB stores it."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(_datetime_after, handler(source))


class _AwareDatetimeAsMongo:
    """Annotation marker: an aware datetime in UTC, at MongoDB's precision."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            _aware_datetime_after, handler(datetime.datetime)
        )


MongoDatetime = Annotated[datetime.datetime, _DatetimeAsMongo]
"""``datetime`` as MongoDB stores it: naive UTC, millisecond precision (aware in UTC when
read through a client created with ``tz_aware=True``)."""

AwareMongoDatetime = Annotated[datetime.datetime, _AwareDatetimeAsMongo]
"""pydantic's ``AwareDatetime`` in a model: always aware, in UTC, millisecond precision
(a naive value read from the database is UTC)."""

DOC_VALIDATORS: dict[Any, Callable[[Any], Any]] = {
    _datetime_after: _datetime_from_doc,
    _aware_datetime_after: _aware_utc_millis,
}
"""Validation functions replaced in the stored-document validator (see
:mod:`odm.document_codec`): documents hold what the client returns."""


def _decimal_from_bson(value: Any) -> Any:
    if isinstance(value, bson.Decimal128):
        return value.to_decimal()
    return value


def decimal_to_bson(value: decimal.Decimal, info: core_schema.SerializationInfo) -> Any:
    if is_doc_dump(info):
        return bson.Decimal128(value)
    if info.mode_is_json():
        return str(value)
    return value


BSONDecimal = Annotated[
    decimal.Decimal,
    BeforeValidator(_decimal_from_bson),
    SerializedBy(decimal_to_bson),
]
"""``decimal.Decimal`` stored as ``Decimal128`` and read back as ``Decimal``."""


BSON_TYPES_ENCODERS: dict[Any, Callable[[Any], Any]] = {
    bson.ObjectId: str,
    bson.Decimal128: lambda value: value.to_decimal(),
    bson.Regex: lambda value: value.pattern,
}
"""JSON encoders of the BSON types, as ODMantic names them (for ``json_encoders``)."""


class BaseBSONModel(BaseModel):
    """``pydantic.BaseModel`` that serializes BSON types to JSON (ODMantic's name).

    For pydantic models outside the database that carry ids and other BSON values (API
    schemas...); :attr:`Model.__pydantic_model__ <odm.Model>` is one.

    >>> from odm import ObjectId
    >>> from odm.bson import BaseBSONModel
    >>> class Out(BaseBSONModel):
    ...     id: ObjectId
    >>> Out(id="5f85f36d6dfecacc68428a46").model_dump_json()
    '{"id":"5f85f36d6dfecacc68428a46"}'
    """

    model_config = ConfigDict(json_encoders=BSON_TYPES_ENCODERS)


# ---------------------------------------------------------------- serializers of stored documents
# (functions the dumper recognises and inlines: see :mod:`odm.dumper`)


def enum_serializer(value: enum.Enum, info: core_schema.SerializationInfo) -> Any:
    return value.value if is_doc_dump(info) or info.mode_is_json() else value


def uuid_from_bson(value: Any) -> Any:
    if isinstance(value, bson.Binary) and value.subtype in (3, 4):
        return value.as_uuid(value.subtype)
    return value


def uuid_serializer(value: uuid.UUID, info: core_schema.SerializationInfo) -> Any:
    if is_doc_dump(info):
        return bson.Binary.from_uuid(value)
    return str(value) if info.mode_is_json() else value


def reference_serializer(
    value: Any, handler: core_schema.SerializerFunctionWrapHandler, info: core_schema.SerializationInfo
) -> Any:
    # In a stored document a reference is the referenced document's primary key.
    if is_doc_dump(info):
        return getattr(value, type(value).__primary_field__)
    return handler(value)


def as_bson_array(value: Any, handler: core_schema.SerializerFunctionWrapHandler) -> Any:
    """Tuples and sets are stored as arrays: documents hold lists (BSON-ready values)."""
    return list(handler(value))


# Annotations replaced at model creation, so users can write the plain types.
SUBSTITUTED_TYPES: dict[Any, Any] = {
    bson.ObjectId: ObjectId,
    bson.Int64: Int64,
    bson.Decimal128: Decimal128,
    bson.Binary: Binary,
    bson.Regex: Regex,
    re.Pattern: PatternField,
    typing.Pattern: PatternField,
    decimal.Decimal: BSONDecimal,
    datetime.datetime: MongoDatetime,
    pydantic.AwareDatetime: AwareMongoDatetime,
}


__all__ = [
    "AwareMongoDatetime",
    "BSONDecimal",
    "BSON_TYPES_ENCODERS",
    "BaseBSONModel",
    "Binary",
    "DOC_CONTEXT",
    "DOC_VALIDATORS",
    "Decimal128",
    "Int64",
    "MongoDatetime",
    "ObjectId",
    "PatternField",
    "Regex",
    "SUBSTITUTED_TYPES",
    "SerializedBy",
    "WithBsonSerializer",
    "as_bson_array",
    "decimal_to_bson",
    "enum_serializer",
    "reference_serializer",
    "uuid_from_bson",
    "uuid_serializer",
]


def fallback_encoder(value: Any) -> Any:
    """Encode values PyMongo does not know (enums, Decimal, sets, UUIDs, models, paths).

    Installed on every collection the engines use, so raw queries and documents with such
    values work too. Only called for non-BSON types, so it costs nothing otherwise.
    """
    import enum
    import pathlib
    import uuid

    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, decimal.Decimal):
        return bson.Decimal128(value)
    if isinstance(value, set | frozenset):
        return list(value)
    if isinstance(value, uuid.UUID):
        return bson.Binary.from_uuid(value)
    if isinstance(value, pathlib.PurePath):
        return str(value)
    dump_doc = getattr(value, "model_dump_doc", None)
    if dump_doc is not None:
        return dump_doc()
    model_dump = getattr(value, "model_dump", None)
    if model_dump is not None:
        return model_dump()
    if type(value).__module__ == "pydantic_core._pydantic_core":  # Url, MultiHostUrl
        return str(value)
    return value
