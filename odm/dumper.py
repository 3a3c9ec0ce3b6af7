"""Compiled document dumpers: ``model_dump_doc`` without pydantic-core for common shapes.

pydantic-core's serializer spends about 2 us on every value of a type it does not know,
such as an ``ObjectId`` (it probes the value for dataclass, model and enum attributes
before handing it back unchanged): more than the rest of a small document. A stored
document mostly copies values, so each model class also gets a dumper, compiled once from
its document schema (the one its document serializer is built from) into a Python function
that reads ``__dict__`` and writes the stored keys:

- values of the expected exact type (str, int, float, bool, None, bytes, datetime, the
  BSON types) are copied as they are;
- embedded models (with compiled code of their own), lists, dicts and Optional values are
  rebuilt;
- odm's own conversions run directly: Decimal -> Decimal128, enum -> its value, UUID ->
  Binary, a reference -> its primary key, ``WithBsonSerializer``'s function;
- other field types without user serialization functions (tuples, sets, dates, unions of
  models...) go through a pydantic serializer of that field alone.

Anything unexpected at dump time (a value of another type or a subclass, a ``__dict__`` in
another order than the fields) raises :class:`Fallback` and the document serializer dumps
the instance instead: documents are exactly pydantic's, warnings and errors included. A
class whose schema has user serialization functions (field or model serializers, computed
fields) or ``extra="allow"`` gets no dumper.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import functools
import types
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import bson
from pydantic_core import SchemaSerializer

from odm.bson import (
    DOC_CONTEXT,
    WithBsonSerializer,
    as_bson_array,
    decimal_to_bson,
    enum_serializer,
    reference_serializer,
    uuid_serializer,
)

Dumper = Callable[[Any], dict[str, Any]]


class Fallback(Exception):
    """Raised by compiled code: this instance needs the document serializer."""


class _Unsupported(Exception):
    """A schema the compiler does not handle."""

    def __init__(self, safe: bool) -> None:
        # safe: no user function serializes it, so a pydantic serializer of the field
        # alone gives what the model's serializer gives.
        super().__init__()
        self.safe = safe


# Schema types whose values pydantic returns unchanged in Python mode (a float field keeps
# an int as it is).
_PLAIN: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (float, int),
    "bool": (bool,),
    "none": (types.NoneType,),
    "bytes": (bytes,),
    "datetime": (datetime.datetime,),
}
_NATIVE = frozenset(kind for kinds in _PLAIN.values() for kind in kinds)
_BSON_TYPES = (bson.ObjectId, bson.Int64, bson.Decimal128, bson.Binary, bson.Regex)
_VALIDATORS = ("default", "function-before", "function-after", "function-wrap")

# What pydantic's type inference (``Any`` fields, serializer results) returns unchanged.
_AS_IS = frozenset(
    {str, int, float, bool, types.NoneType, bytes, datetime.datetime, decimal.Decimal,
     uuid.UUID, *_BSON_TYPES}
)


def inferred(value: Any) -> Any:
    """``value`` as pydantic's inference dumps it, for the types it leaves alone and
    lists, tuples and str-keyed dicts of them."""
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is list:
        return [inferred(item) for item in value]
    if kind is dict:
        result = {}
        for key, item in value.items():
            if type(key) is not str:
                raise Fallback
            result[key] = inferred(item)
        return result
    if kind is tuple:
        return tuple(inferred(item) for item in value)
    raise Fallback


# odm's own serialization functions (odm.model, odm.bson), as the compiled code runs them.


def _decimal128(value: Any) -> bson.Decimal128:
    if type(value) is not decimal.Decimal:
        raise Fallback
    return bson.Decimal128(value)


def _enum_value(value: Any) -> Any:
    if not isinstance(value, enum.Enum):
        raise Fallback
    return inferred(value.value)


def _uuid_binary(value: Any) -> bson.Binary:
    if type(value) is not uuid.UUID:
        raise Fallback
    return bson.Binary.from_uuid(value)


def _primary_key(value: Any) -> Any:
    return inferred(getattr(value, type(value).__primary_field__))


def _bson_serialized(function: Callable[[Any], Any], value: Any) -> Any:
    return inferred(function(value))


_KNOWN_FUNCTIONS: dict[Any, Callable[[Any], Any]] = {
    decimal_to_bson: _decimal128,
    enum_serializer: _enum_value,
    uuid_serializer: _uuid_binary,
    reference_serializer: _primary_key,
}


def _known_function(function: Any) -> Callable[[Any], Any] | None:
    """The compiled form of one of odm's serialization functions, else None."""
    if function is as_bson_array:
        return None
    found = _KNOWN_FUNCTIONS.get(function)
    if found is not None:
        return found
    owner = getattr(function, "__self__", None)
    if isinstance(owner, WithBsonSerializer):
        return functools.partial(_bson_serialized, owner.bson_serializer)
    return None


# ---------------------------------------------------------------- compiled forms


@dataclass(frozen=True)
class _Copy:
    """Kept as it is when of one of these exact types."""

    types: tuple[type, ...]


@dataclass(frozen=True)
class _Call:
    """Converted by a function of the generated namespace (``function(value<arguments>)``)."""

    function: str
    arguments: str = ""


@dataclass(frozen=True)
class _Nullable:
    inner: Any


@dataclass(frozen=True)
class _List:
    item: Any


@dataclass(frozen=True)
class _Dict:
    key: _Copy
    value: Any


@dataclass(frozen=True)
class _ModelList:
    """A list of instances of one model class (checked here) dumped by ``call``."""

    cls: str
    call: _Call


class _Compiler:
    """Compiles the model schemas reachable from one root into one namespace of functions
    (named there, so recursive models call themselves)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.definitions: dict[str, dict[str, Any]] = {}
        if schema.get("type") == "definitions":
            self.definitions = {d["ref"]: d for d in schema["definitions"]}
            schema = schema["schema"]
        self.root = schema
        self.namespace: dict[str, Any] = {"Fallback": Fallback}
        self.sources: list[str] = []
        self.models: dict[int, str] = {}  # id(model schema) -> its function
        # Functions dumping what pydantic-core itself dumps fast: no value of a type it
        # does not know (it probes those) and no serialization function.
        self.native: set[str] = set()
        self.model_classes: dict[str, type] = {}  # function name -> the class it dumps
        self.resolving: set[str] = set()

    def constant(self, value: Any, prefix: str) -> str:
        name = f"{prefix}{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def build(self) -> Dumper:
        function = self.model(self.root)
        exec("\n".join(self.sources), self.namespace)  # our own generated code
        dumper: Dumper = self.namespace[function]
        return dumper

    # ------------------------------------------------------------ schemas -> forms

    def node(self, schema: dict[str, Any]) -> Any:
        serialization = schema.get("serialization")
        if serialization is not None:
            return self.serialized(schema, serialization)
        kind = schema["type"]
        if kind in _PLAIN:
            return _Copy(_PLAIN[kind])
        if kind in _VALIDATORS:  # serialized as the schema they wrap
            return self.node(schema["schema"])
        if kind == "nullable":
            inner = self.node(schema["schema"])
            if isinstance(inner, _Copy):
                return _Copy((*inner.types, types.NoneType))
            return _Nullable(inner)
        if kind == "list":
            item = self.node(schema.get("items_schema", {"type": "any"}))
            model = self.model_classes.get(item.function) if isinstance(item, _Call) else None
            if model is not None and item.function in self.native:
                # pydantic-core walks a list of models it handles well faster than Python
                # code calling a function per item.
                call = self.pydantic_dump(schema, checked=True)
                return _ModelList(self.constant(model, "cls"), call)
            return _List(item)
        if kind == "dict":
            # Keys of any type: str ones are kept as they are (others fall back).
            keys = schema.get("keys_schema", {"type": "any"})
            key = _Copy((str,)) if keys["type"] == "any" else self.node(keys)
            if not isinstance(key, _Copy):
                raise _Unsupported(safe=True)
            return _Dict(key, self.node(schema.get("values_schema", {"type": "any"})))
        if kind == "any":
            return _Call(self.constant(inferred, "inferred"))
        if kind == "model":
            return _Call(self.model(schema))
        if kind == "definition-ref":
            return self.reference(schema["schema_ref"])
        if kind == "union":
            choices = [self.node(c[0] if isinstance(c, tuple) else c) for c in schema["choices"]]
            if all(isinstance(choice, _Copy) for choice in choices):
                return _Copy(tuple(t for choice in choices for t in choice.types))
        raise _Unsupported(safe=True)

    def reference(self, ref: str) -> Any:
        target = self.definitions[ref]
        if target.get("type") == "model":
            return _Call(self.model(target))
        if ref in self.resolving:  # a recursive non-model type
            raise _Unsupported(safe=True)
        self.resolving.add(ref)
        try:
            return self.node(target)
        finally:
            self.resolving.discard(ref)

    def serialized(self, schema: dict[str, Any], serialization: dict[str, Any]) -> Any:
        when_used = serialization.get("when_used", "always")
        if when_used in ("json", "json-unless-none"):
            # Not used for Python dumps; our BSON types come back unchanged.
            python = schema.get("python_schema", {})
            first = (python.get("choices") or [{}])[0]
            if isinstance(first, dict) and first.get("type") == "is-instance" and (
                first.get("cls") in _BSON_TYPES
            ):
                return _Copy((first["cls"],))
            raise _Unsupported(safe=True)
        if serialization.get("function") is as_bson_array:
            raise _Unsupported(safe=True)  # a tuple or set: its own pydantic serializer
        if serialization.get("type") in ("function-plain", "function-wrap"):
            function = _known_function(serialization["function"])
            if function is None or when_used != "always":
                raise _Unsupported(safe=False)
            return _Call(self.constant(function, "convert"))
        raise _Unsupported(safe=not _has_user_function(serialization))

    def model(self, schema: dict[str, Any]) -> str:
        """The generated function dumping instances of a ``model`` schema (its name)."""
        known = self.models.get(id(schema))
        if known is not None:
            return known
        if schema.get("serialization") is not None:
            raise _Unsupported(safe=False)  # a model_serializer
        fields_schema = schema.get("schema", {})
        if schema.get("root_model") or fields_schema.get("type") != "model-fields":
            raise _Unsupported(safe=not _has_user_function(schema))
        if fields_schema.get("computed_fields"):
            raise _Unsupported(safe=False)
        config = schema.get("config") or {}
        if (fields_schema.get("extra_behavior") or config.get("extra_fields_behavior")) == (
            "allow"
        ):
            raise _Unsupported(safe=True)
        name = f"dump_{schema['cls'].__name__}_{len(self.models)}"
        self.models[id(schema)] = name  # before its fields: a recursive model calls it
        self.model_classes[name] = schema["cls"]
        fields = fields_schema["fields"]
        steps: list[tuple[str, str, Any]] = []  # (field name, stored key, form)
        try:
            for field_name, field in fields.items():
                if field.get("serialization_exclude_if") is not None:
                    raise _Unsupported(safe=False)
                if field.get("serialization_exclude"):
                    continue
                key = field.get("serialization_alias", field_name)
                steps.append((field_name, key, self.field(field["schema"])))
        except _Unsupported:
            del self.models[id(schema)]
            raise
        self.sources.append(self.model_source(name, schema["cls"], tuple(fields), steps))
        if all(self.is_native(form) for _, _, form in steps):
            self.native.add(name)
        return name

    def is_native(self, form: Any) -> bool:
        if isinstance(form, _Copy):
            return all(kind in _NATIVE for kind in form.types)
        if isinstance(form, _Call):
            return form.function in self.native
        if isinstance(form, _Nullable):
            return self.is_native(form.inner)
        if isinstance(form, _List):
            return self.is_native(form.item)
        if isinstance(form, _ModelList):
            return True
        return isinstance(form, _Dict) and self.is_native(form.value)

    def field(self, schema: dict[str, Any]) -> Any:
        try:
            return self.node(schema)
        except _Unsupported as unsupported:
            if not unsupported.safe or _has_user_function(schema, self.definitions):
                raise _Unsupported(safe=False) from None
            return self.pydantic_dump(schema)

    def pydantic_dump(self, schema: dict[str, Any], checked: bool = False) -> _Call:
        """A pydantic serializer of one field's schema (with the model's definitions).

        It warns as the model's serializer does about values inside the field, but without
        the field's name about the field's own value: unless the caller ``checked`` that
        value's type, one it would warn about raises instead (``warnings='error'``, ~1.4 us
        more per call), and the document serializer dumps the instance and warns.
        """
        if self.definitions:
            schema = {"type": "definitions", "schema": schema,
                      "definitions": list(self.definitions.values())}
        function = self.constant(SchemaSerializer(schema).to_python, "pydantic")
        # Called with keywords in the generated code: a partial would cost more.
        arguments = f", by_alias=True, context={self.constant(DOC_CONTEXT, 'doc')}"
        return _Call(function, arguments if checked else f"{arguments}, warnings='error'")

    # ------------------------------------------------------------ forms -> source

    def model_source(
        self, name: str, cls: type, names: tuple[str, ...], steps: list[tuple[str, str, Any]]
    ) -> str:
        lines = [
            f"def {name}(instance):",
            f"    if type(instance) is not {self.constant(cls, 'cls')}:",
            "        raise Fallback",
            "    values = instance.__dict__",
            # pydantic dumps __dict__ in its own order: ours is the fields' order.
            f"    if tuple(values) != {self.constant(names, 'names')}:",
            "        raise Fallback",
        ]
        for index, (field_name, _, form) in enumerate(steps):
            lines.append(f"    v{index} = values[{field_name!r}]")
            self.emit(form, f"v{index}", lines, 1)
        items = ", ".join(f"{key!r}: v{index}" for index, (_, key, _) in enumerate(steps))
        lines.append(f"    return {{{items}}}")
        return "\n".join(lines)

    def emit(self, form: Any, var: str, lines: list[str], depth: int) -> None:
        """Statements checking ``var`` and replacing it with its dumped form."""
        pad = "    " * depth
        if isinstance(form, _Copy):
            if len(form.types) == 1:
                check = f"type({var}) is not {self.constant(form.types[0], 'type')}"
            else:
                check = f"type({var}) not in {self.constant(frozenset(form.types), 'types')}"
            lines += [f"{pad}if {check}:", f"{pad}    raise Fallback"]
        elif isinstance(form, _Call):
            lines.append(f"{pad}{var} = {form.function}({var}{form.arguments})")
        elif isinstance(form, _Nullable):
            lines.append(f"{pad}if {var} is not None:")
            self.emit(form.inner, var, lines, depth + 1)
        elif isinstance(form, _ModelList):
            item = f"item{depth}"
            lines += [f"{pad}if type({var}) is not list:", f"{pad}    raise Fallback",
                      f"{pad}for {item} in {var}:", f"{pad}    if type({item}) is not {form.cls}:",
                      f"{pad}        raise Fallback"]
            self.emit(form.call, var, lines, depth)
        elif isinstance(form, _List):
            item = f"item{depth}"
            lines += [f"{pad}if type({var}) is not list:", f"{pad}    raise Fallback"]
            if isinstance(form.item, _Call):
                call = f"{form.item.function}({item}{form.item.arguments})"
                lines.append(f"{pad}{var} = [{call} for {item} in {var}]")
                return
            if isinstance(form.item, _Copy):  # check the items, then copy the list
                lines.append(f"{pad}for {item} in {var}:")
                self.emit(form.item, item, lines, depth + 1)
                lines.append(f"{pad}{var} = {var}[:]")
                return
            copied = f"copied{depth}"
            lines += [f"{pad}{copied} = []", f"{pad}for {item} in {var}:"]
            self.emit(form.item, item, lines, depth + 1)
            lines += [f"{pad}    {copied}.append({item})", f"{pad}{var} = {copied}"]
        else:
            key, item, copied = f"key{depth}", f"item{depth}", f"copied{depth}"
            lines += [f"{pad}if type({var}) is not dict:", f"{pad}    raise Fallback",
                      f"{pad}{copied} = {{}}", f"{pad}for {key}, {item} in {var}.items():"]
            self.emit(form.key, key, lines, depth + 1)
            self.emit(form.value, item, lines, depth + 1)
            lines += [f"{pad}    {copied}[{key}] = {item}", f"{pad}{var} = {copied}"]


def _has_user_function(
    node: Any, definitions: dict[str, dict[str, Any]] | None = None, seen: set[str] | None = None
) -> bool:
    """True when dumping ``node`` may call a serialization function that is not odm's own
    (field and model serializers, computed fields): one that could depend on the model
    instance or the field it is called for."""
    if isinstance(node, list | tuple):
        return any(_has_user_function(item, definitions, seen) for item in node)
    if not isinstance(node, dict):
        return False
    serialization = node.get("serialization")
    if isinstance(serialization, dict) and "function" in serialization and (
        serialization.get("when_used") not in ("json", "json-unless-none")
        and serialization["function"] is not as_bson_array
        and _known_function(serialization["function"]) is None
    ):
        return True
    if node.get("computed_fields"):
        return True
    ref = node.get("schema_ref") if node.get("type") == "definition-ref" else None
    if ref is not None and definitions is not None:
        seen = seen if seen is not None else set()
        if ref not in seen:
            seen.add(ref)
            if _has_user_function(definitions.get(ref), definitions, seen):
                return True
    return any(
        _has_user_function(value, definitions, seen)
        for key, value in node.items()
        if key != "serialization" and key != "metadata"
    )


def compile_dumper(schema: Any) -> Dumper | None:
    """The compiled dumper of a document schema (see :func:`odm.document_codec.build_codec`,
    which calls it while pydantic-core builds model schemas from the schema it is given);
    None when the class needs its pydantic serializer."""
    try:
        return _Compiler(schema).build()
    except _Unsupported:
        return None


__all__ = ["Dumper", "Fallback", "compile_dumper", "inferred"]
