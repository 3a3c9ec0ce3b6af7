"""Query and sort expressions, built from model fields or by hand.

Values given to comparisons are always data, never operators: ``User.name == {"$ne": None}``
becomes ``{"name": {"$eq": {"$ne": None}}}``, which matches only a stored document equal to
``{"$ne": None}``. Raw dictionaries passed to the engine are used as they are.

>>> from odm import Model
>>> class User(Model):
...     name: str
...     age: int
>>> (User.age >= 18) & (User.name != "root")
QueryExpression({'$and': [{'age': {'$gte': 18}}, {'name': {'$ne': 'root'}}]})
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Union

import bson

if TYPE_CHECKING:
    from odm.fields import FieldProxy

FieldLike = Union["FieldProxy", str, Any]
"""A field proxy (``User.name``) or a stored key path (``"address.city"``).

``Any`` because a type checker reads ``User.age`` as the field's value type (``int``), as in
ODMantic; the check happens at run time (:func:`key_of`)."""

QueryLike = Mapping[str, Any] | bool
"""A query: a :class:`QueryExpression` or a filter dict. ``bool`` because a type checker reads
``User.name == "x"`` as a comparison; a real ``bool`` is refused at run time."""


class QueryExpression(dict[str, Any]):
    """A MongoDB filter document; combine with ``&`` (and) and ``|`` (or)."""

    def __and__(self, other: QueryLike) -> QueryExpression:
        return and_(self, other)

    def __or__(self, other: QueryLike) -> QueryExpression:  # type: ignore[override]
        return or_(self, other)

    def __repr__(self) -> str:
        return f"QueryExpression({dict.__repr__(self)})" if self else "QueryExpression()"


class SortExpression(dict[str, int]):
    """A sort specification ``{key: 1 | -1}``; several can be given as a tuple."""

    def __repr__(self) -> str:
        return f"SortExpression({dict.__repr__(self)})"


def key_of(field: FieldLike) -> str:
    """The stored key path of a field proxy (``+User.name``) or of a path string."""
    if isinstance(field, str):
        return field
    key = getattr(field, "_odm_path", None)
    if not isinstance(key, str):
        raise TypeError(f"Expected a model field (like User.name) or a key path, got {field!r}")
    return key


def to_bson_value(value: Any) -> Any:
    """Turn a Python value into what MongoDB stores for it (models -> documents...)."""
    if isinstance(value, str | int | float | bool | type(None) | bson.ObjectId):
        return value
    dump_doc = getattr(value, "model_dump_doc", None)
    if dump_doc is not None:
        primary = getattr(type(value), "__primary_field__", None)
        # A Model compared with a Reference field stands for its primary key.
        return getattr(value, primary) if primary else dump_doc()
    if isinstance(value, enum.Enum):
        return to_bson_value(value.value)
    if isinstance(value, Decimal):
        return bson.Decimal128(value)
    if isinstance(value, uuid.UUID):
        return bson.Binary.from_uuid(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [to_bson_value(item) for item in value]
    if isinstance(value, Mapping):
        return {key: to_bson_value(item) for key, item in value.items()}
    return value


def _compare(field: FieldLike, operator: str, value: Any) -> QueryExpression:
    return QueryExpression({key_of(field): {operator: to_bson_value(value)}})


def eq(field: FieldLike, value: Any) -> QueryExpression:
    """``field == value`` (always ``$eq``: a dict value is matched literally)."""
    return _compare(field, "$eq", value)


def ne(field: FieldLike, value: Any) -> QueryExpression:
    """``field != value``."""
    return _compare(field, "$ne", value)


def gt(field: FieldLike, value: Any) -> QueryExpression:
    """``field > value``."""
    return _compare(field, "$gt", value)


def gte(field: FieldLike, value: Any) -> QueryExpression:
    """``field >= value``."""
    return _compare(field, "$gte", value)


def lt(field: FieldLike, value: Any) -> QueryExpression:
    """``field < value``."""
    return _compare(field, "$lt", value)


def lte(field: FieldLike, value: Any) -> QueryExpression:
    """``field <= value``."""
    return _compare(field, "$lte", value)


def _values(operator: str, values: Iterable[Any]) -> list[Any]:
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise TypeError(f"{operator} expects a list of values, got {values!r}")
    return [to_bson_value(value) for value in values]


def _looks_like_operator(value: Any) -> bool:
    return isinstance(value, Mapping) and any(str(key).startswith("$") for key in value)


def _set_operator(
    field: FieldLike, name: str, operator: str, logical: str, values: Iterable[Any]
) -> QueryExpression:
    """``{key: {operator: values}}``; MongoDB refuses ``$``-keyed documents in those lists,
    so such values are compared one by one with ``$eq`` (still literal data)."""
    key = key_of(field)
    items = _values(name, values)
    if any(_looks_like_operator(item) for item in items):
        return QueryExpression({logical: [{key: {"$eq": item}} for item in items]})
    return QueryExpression({key: {operator: items}})


def in_(field: FieldLike, values: Iterable[Any]) -> QueryExpression:
    """The field equals one of ``values``."""
    return _set_operator(field, "in_", "$in", "$or", values)


def not_in(field: FieldLike, values: Iterable[Any]) -> QueryExpression:
    """The field equals none of ``values``."""
    return _set_operator(field, "not_in", "$nin", "$nor", values)


def match(field: FieldLike, pattern: str | re.Pattern[str]) -> QueryExpression:
    """The string field matches the regular expression ``pattern``."""
    if not isinstance(pattern, str | re.Pattern):
        raise TypeError(f"match expects a pattern string or re.Pattern, got {pattern!r}")
    return QueryExpression({key_of(field): {"$regex": pattern}})


def exists(field: FieldLike, present: bool = True) -> QueryExpression:
    """The field is present in the document (or absent with ``present=False``)."""
    return QueryExpression({key_of(field): {"$exists": bool(present)}})


def size(field: FieldLike, length: int) -> QueryExpression:
    """The array field has exactly ``length`` elements."""
    if not isinstance(length, int) or isinstance(length, bool) or length < 0:
        raise TypeError(f"size expects a non-negative integer, got {length!r}")
    return QueryExpression({key_of(field): {"$size": length}})


def all_(field: FieldLike, values: Iterable[Any]) -> QueryExpression:
    """The array field contains every one of ``values``."""
    return _set_operator(field, "all_", "$all", "$and", values)


def elem_match(field: FieldLike, *queries: QueryLike) -> QueryExpression:
    """An element of the array field matches every one of ``queries``.

    For arrays of embedded models use the embedded model's fields
    (``elem_match(Order.items, Item.sku == "A", Item.qty > 2)``); for arrays of scalars pass
    operator documents (``elem_match(User.scores, {"$gte": 80, "$lt": 90})``).
    """
    if not queries:
        raise TypeError("elem_match needs at least one query")
    return QueryExpression({key_of(field): {"$elemMatch": _merge(queries)}})


def _merge(queries: Iterable[QueryLike]) -> dict[str, Any]:
    """One document matching all ``queries`` (``$and`` only when keys collide)."""
    checked = [_as_query(query) for query in queries]
    merged: dict[str, Any] = {}
    for query in checked:
        if merged.keys() & query.keys():
            return {"$and": [dict(query) for query in checked]}
        merged.update(query)
    return merged


def _as_query(query: Any) -> Mapping[str, Any]:
    if isinstance(query, Mapping):
        return query
    raise TypeError(
        f"A query must be a QueryExpression (like User.name == 'x') or a dict, got {query!r}"
    )


def _logical(operator: str, queries: tuple[QueryLike, ...]) -> QueryExpression:
    if not queries:
        raise TypeError(f"{operator} needs at least one query")
    return QueryExpression({operator: [dict(_as_query(query)) for query in queries]})


def and_(*queries: QueryLike) -> QueryExpression:
    """All of ``queries`` match."""
    return _logical("$and", queries)


def or_(*queries: QueryLike) -> QueryExpression:
    """At least one of ``queries`` matches."""
    return _logical("$or", queries)


def nor_(*queries: QueryLike) -> QueryExpression:
    """None of ``queries`` matches."""
    return _logical("$nor", queries)


def asc(field: FieldLike) -> SortExpression:
    """Sort by ``field`` in ascending order."""
    return SortExpression({key_of(field): 1})


def desc(field: FieldLike) -> SortExpression:
    """Sort by ``field`` in descending order."""
    return SortExpression({key_of(field): -1})


__all__ = [
    "FieldLike",
    "QueryLike",
    "QueryExpression",
    "SortExpression",
    "all_",
    "and_",
    "asc",
    "desc",
    "elem_match",
    "eq",
    "exists",
    "gt",
    "gte",
    "in_",
    "key_of",
    "lt",
    "lte",
    "match",
    "ne",
    "nor_",
    "not_in",
    "or_",
    "size",
    "to_bson_value",
]
