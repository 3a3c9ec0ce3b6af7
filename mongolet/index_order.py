"""Index keys as plain Python tuples that sort in MongoDB's comparison order.

``order_key(value)`` maps a BSON value to a tuple whose Python ordering is
``values.compare``'s: the type bracket first, then the value (numbers of every type by value,
NaN below every other number; strings by code point, or by the active collation's sort key;
documents and arrays element by element). Equal keys mean equal values, so an index can hold
them in an ordinary sorted container and bisect them. ``Desc`` reverses one field of a
compound key (``{a: 1, b: -1}``); ``TOP`` and ``BOTTOM`` sort after and before everything,
bounding ranges.
"""

from __future__ import annotations

from typing import Any

from bson import Code, DBRef, Int64, ObjectId

from mongolet.query import values
from mongolet.query.collation import active as active_collation

OrderKey = tuple[Any, ...]

_NUMBER, _STRING = values.NUMBER, values.STRING


def order_key(value: Any) -> OrderKey:
    """A tuple that compares with others as ``values.compare`` compares the values."""
    t = type(value)
    if t is int or t is Int64:
        return (_NUMBER, 1, int(value))
    if t is str:
        collation = active_collation()
        return (_STRING, value) if collation is None else (_STRING, collation.key(value))
    if t is ObjectId:
        return (values.OBJECTID, value.binary)
    kind = values.bracket(value)
    if kind == _NUMBER:
        if values.is_nan(value):
            return (_NUMBER, 0)
        return (_NUMBER, 1, values.numeric(value))
    if kind == _STRING:
        return order_key(str(value))
    if kind == values.OBJECT:
        items = value.as_doc().items() if isinstance(value, DBRef) else value.items()
        return (values.OBJECT, tuple((values.bracket(v), k, order_key(v)) for k, v in items))
    if kind == values.ARRAY:
        return (values.ARRAY, tuple(order_key(v) for v in value))
    if kind in (values.NULL, values.MINKEY, values.MAXKEY, values.MISSING_BRACKET):
        return (kind,)
    if kind == values.BOOL:
        return (values.BOOL, bool(value))
    if kind == values.DATE:
        return (values.DATE, values.date_millis(value))
    if kind == values.TIMESTAMP:
        return (values.TIMESTAMP, value.time, value.inc)
    if kind == values.CODE:
        assert isinstance(value, Code)
        return (values.CODE, str(value), order_key(value.scope or {}))
    # binary, regex: canonical_key's tuples already sort in MongoDB's order
    key = values.canonical_key(value)
    assert isinstance(key, tuple)
    return key


def bracket_start(kind: int) -> OrderKey:
    """Below every key of bracket ``kind`` (above the brackets before it)."""
    return (kind,)


def bracket_end(kind: int) -> OrderKey:
    """Above every key of bracket ``kind`` (below the brackets after it)."""
    return (kind + 0.5,)


class _Extreme:
    """A bound beyond every key (``TOP``) or before every key (``BOTTOM``)."""

    __slots__ = ("sign",)

    def __init__(self, sign: int) -> None:
        self.sign = sign

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return self.sign

    def __lt__(self, other: object) -> bool:
        return other is not self and self.sign < 0

    def __gt__(self, other: object) -> bool:
        return other is not self and self.sign > 0

    def __le__(self, other: object) -> bool:
        return other is self or self.sign < 0

    def __ge__(self, other: object) -> bool:
        return other is self or self.sign > 0

    def __repr__(self) -> str:
        return "TOP" if self.sign > 0 else "BOTTOM"


TOP = _Extreme(1)
BOTTOM = _Extreme(-1)


class Desc:
    """A key of a descending index field: sorts in reverse."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Desc) and other.key == self.key

    def __hash__(self) -> int:
        return hash(("desc", self.key))

    def __lt__(self, other: object) -> bool:
        if isinstance(other, Desc):
            return bool(other.key < self.key)
        return NotImplemented

    def __gt__(self, other: object) -> bool:
        if isinstance(other, Desc):
            return bool(other.key > self.key)
        return NotImplemented

    def __le__(self, other: object) -> bool:
        if isinstance(other, Desc):
            return bool(other.key <= self.key)
        return NotImplemented

    def __ge__(self, other: object) -> bool:
        if isinstance(other, Desc):
            return bool(other.key >= self.key)
        return NotImplemented

    def __repr__(self) -> str:
        return f"Desc({self.key!r})"


def directed(key: Any, direction: int) -> Any:
    """``key`` as a field of direction ``direction`` stores it (the extremes swap)."""
    if direction >= 0:
        return key
    if isinstance(key, _Extreme):
        return BOTTOM if key is TOP else TOP
    return Desc(key)
