"""Sort specifications: MongoDB's order for ``find(sort=...)`` and ``$sort``.

Each sort field reads its path the way the query language does; an array sorts by its
smallest element ascending and its largest descending, a missing field sorts as null and an
empty array just below null. Documents equal on every key keep their input order.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from bson import Int64, MinKey

from mongolet.errors import MongoError
from mongolet.query.collation import active as active_collation
from mongolet.query.paths import MISSING, match_values, split_path
from mongolet.query.values import compare, is_number, numeric

SortSpec = list[tuple[tuple[str, ...], int]]


class _EmptyArray:
    """The sort value of an empty array: below null, above MinKey."""

    def __repr__(self) -> str:
        return "EMPTY_ARRAY"


EMPTY_ARRAY = _EmptyArray()
_FAST_NUMBERS = frozenset({int, float, Int64})


def parse_sort(spec: Mapping[str, Any], *, stage: bool = False) -> SortSpec:
    """Validate a sort document into ``[(path parts, 1 | -1)]``; ``$natural`` keeps its
    ``("$natural",)`` path."""
    if not isinstance(spec, Mapping):
        raise MongoError(2, "sort must be an object")
    if stage and not spec:
        raise MongoError(15976, "$sort stage must have at least one sort key")
    parsed: SortSpec = []
    for field, direction in spec.items():
        if isinstance(direction, Mapping) and "$meta" in direction:
            raise MongoError(
                17312 if direction.get("$meta") == "textScore" else 31138,
                f"$meta sort by '{direction.get('$meta')}' is not supported by mongolet",
            )
        if not is_number(direction) or numeric(direction) not in (1, -1):
            raise MongoError(15975, "$sort key ordering must be 1 (for ascending) or -1 (for descending)")
        if not field:
            raise MongoError(40352, "FieldPath cannot be constructed with empty string")
        parts = split_path(field)
        if field != "$natural" and any(not part for part in parts):
            raise MongoError(15998, "FieldPath field names may not be empty strings.")
        if field.startswith("$") and field != "$natural":
            raise MongoError(16410, "FieldPath field names may not start with '$'. Consider using $getField or $setField.")
        parsed.append((parts, int(numeric(direction))))
    return parsed


def _compare_sort_values(a: Any, b: Any) -> int:
    if a is EMPTY_ARRAY or b is EMPTY_ARRAY:
        if a is b:
            return 0
        other = b if a is EMPTY_ARRAY else a
        # Empty arrays sit between MinKey and null.
        below = isinstance(other, MinKey)
        result = 1 if below else -1
        return result if a is EMPTY_ARRAY else -result
    return compare(a, b)


def sort_value(doc: Mapping[str, Any], parts: tuple[str, ...], direction: int) -> Any:
    """The value ``doc`` sorts by for one sort field."""
    if len(parts) == 1:
        value = doc.get(parts[0], MISSING)
        if type(value) is not list:
            return None if value is MISSING else value
        candidates = [value]
    else:
        candidates = match_values(doc, parts)
    flat: list[Any] = []
    for value in candidates:
        if value is MISSING:
            flat.append(None)
        elif type(value) is list:
            if value:
                flat.extend(value)
            else:
                flat.append(EMPTY_ARRAY)
        else:
            flat.append(value)
    best = flat[0]
    for value in flat[1:]:
        c = _compare_sort_values(value, best)
        if (c < 0 and direction > 0) or (c > 0 and direction < 0):
            best = value
    return best


class SortKey:
    """A comparable key for one document under a sort spec (for ``sorted(key=...)``)."""

    __slots__ = ("directions", "values")

    def __init__(self, values: list[Any], directions: list[int]) -> None:
        self.values = values
        self.directions = directions

    def _cmp(self, other: SortKey) -> int:
        for a, b, direction in zip(self.values, other.values, self.directions):
            c = _compare_sort_values(a, b)
            if c:
                return c * direction
        return 0

    def __lt__(self, other: SortKey) -> bool:
        return self._cmp(other) < 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SortKey) and self._cmp(other) == 0

    __hash__ = None  # type: ignore[assignment]


def sort_key(spec: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], SortKey]:
    """A reusable key builder: ``sorted(docs, key=sort_key({"a": 1, "b": -1}))``."""
    fields = [(parts, direction) for parts, direction in parse_sort(spec) if parts != ("$natural",)]
    directions = [direction for _, direction in fields]

    def key(doc: Mapping[str, Any]) -> SortKey:
        return SortKey([sort_value(doc, parts, d) for parts, d in fields], directions)

    return key


def sort_documents(docs: list[dict[str, Any]], spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A new list of ``docs`` in the order of ``spec`` ({field: 1 | -1}); stable."""
    return sort_parsed(docs, parse_sort(spec))


def sort_parsed(docs: list[dict[str, Any]], fields: SortSpec) -> list[dict[str, Any]]:
    """Sort by an already parsed spec: one stable pass per field, last field first."""
    result = list(docs)
    for parts, direction in reversed(fields):
        if parts == ("$natural",):
            if direction < 0:
                result.reverse()
            continue
        values = [sort_value(doc, parts, direction) for doc in result]
        order = list(range(len(result)))
        key = _native_key(values)
        if key is not None:
            order.sort(key=key, reverse=direction < 0)
        else:
            wrapped = functools.cmp_to_key(_compare_sort_values)
            order.sort(key=lambda i: wrapped(values[i]), reverse=direction < 0)
        result = [result[i] for i in order]
    return result


def _native_key(values: list[Any]) -> Callable[[int], Any] | None:
    """A plain Python key when every value is a string, or every value a non-NaN number."""
    if not values:
        return values.__getitem__
    kinds = {type(value) for value in values}
    if kinds == {str}:
        collation = active_collation()
        if collation is not None:
            return lambda i: collation.key(values[i])
        return values.__getitem__
    if kinds <= _FAST_NUMBERS and all(value == value for value in values):
        return values.__getitem__
    return None
