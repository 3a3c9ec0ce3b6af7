"""BSON values: MongoDB's comparison order across types, equality, hash keys and type names.

MongoDB orders values of different types by a *canonical type* (a "bracket"): MinKey < null <
numbers < strings < objects < arrays < binary < ObjectId < bool < date < timestamp < regex <
code < MaxKey. Inside the numbers bracket int, Int64, float and Decimal128 compare by value.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Hashable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from bson import Binary, Code, DBRef, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.datetime_ms import DatetimeMS
from bson.decimal128 import Decimal128

from mongolet.errors import MongoError, bad_value
from mongolet.query.collation import active as active_collation


class _Missing:
    """The absence of a value (a field that is not there)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


# The value of a missing field (and of ``$$REMOVE``): sorts between MinKey and null.
MISSING: Any = _Missing()

# Canonical type numbers, as in mongod's canonicalizeBSONType (a missing value sorts between
# MinKey and null, like mongod's undefined/EOO).
MISSING_BRACKET = 3
MINKEY, NULL, NUMBER, STRING, OBJECT, ARRAY, BINARY, OBJECTID = 1, 5, 10, 15, 20, 25, 30, 35
BOOL, DATE, TIMESTAMP, REGEX, CODE, MAXKEY = 40, 45, 47, 50, 60, 127

_BRACKET_BY_TYPE: dict[type, int] = {
    type(None): NULL,
    int: NUMBER,
    Int64: NUMBER,
    float: NUMBER,
    Decimal128: NUMBER,
    str: STRING,
    dict: OBJECT,
    list: ARRAY,
    tuple: ARRAY,
    bytes: BINARY,
    Binary: BINARY,
    ObjectId: OBJECTID,
    bool: BOOL,
    datetime.datetime: DATE,
    DatetimeMS: DATE,
    Timestamp: TIMESTAMP,
    Regex: REGEX,
    re.Pattern: REGEX,
    Code: CODE,
    MinKey: MINKEY,
    MaxKey: MAXKEY,
    DBRef: OBJECT,
    _Missing: MISSING_BRACKET,
}

NUMBER_TYPES = (int, float, Int64, Decimal128)
_UTC = datetime.UTC
_EPOCH = datetime.datetime(1970, 1, 1)


def bracket(value: Any) -> int:
    """The canonical type number of ``value`` (which types compare with which)."""
    found = _BRACKET_BY_TYPE.get(type(value))
    if found is not None:
        return found
    # Subclasses: SON and other mappings, user types from custom codecs.
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, Mapping):
        return OBJECT
    if isinstance(value, (list, tuple)):
        return ARRAY
    if isinstance(value, Code):
        return CODE
    if isinstance(value, str):
        return STRING
    if isinstance(value, (int, float)):
        return NUMBER
    if isinstance(value, bytes):
        return BINARY
    if isinstance(value, datetime.datetime):
        return DATE
    raise MongoError(2, f"unsupported BSON value of type {type(value).__name__}")


def is_number(value: Any) -> bool:
    return isinstance(value, NUMBER_TYPES) and not isinstance(value, bool)


def is_nan(value: Any) -> bool:
    if type(value) is float:
        return math.isnan(value)
    if isinstance(value, Decimal128):
        return value.to_decimal().is_nan()
    return False


def numeric(value: Any) -> int | float | Decimal:
    """A Python number that compares exactly with the others (Decimal128 -> Decimal)."""
    if isinstance(value, Decimal128):
        return value.to_decimal()
    return value


def _compare_numbers(a: Any, b: Any) -> int:
    x, y = numeric(a), numeric(b)
    x_nan = x != x
    y_nan = y != y
    if x_nan or y_nan:  # NaN sorts below every number and equals NaN
        return 0 if x_nan and y_nan else (-1 if x_nan else 1)
    return -1 if x < y else (1 if x > y else 0)


def date_millis(value: Any) -> int:
    """Milliseconds since the epoch of a BSON date (naive datetimes are UTC)."""
    if isinstance(value, DatetimeMS):
        return int(value)
    if value.tzinfo is not None:
        value = value.astimezone(_UTC).replace(tzinfo=None)
    delta = value - datetime.datetime(1970, 1, 1)
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def date_from_millis(millis: int) -> datetime.datetime:
    """The (naive, UTC) BSON date ``millis`` milliseconds after the epoch."""
    return _EPOCH + datetime.timedelta(milliseconds=millis)


def _regex_parts(value: Any) -> tuple[str, str]:
    if isinstance(value, Regex):
        pattern, flags = value.pattern, value.flags
    else:
        pattern, flags = value.pattern, value.flags
    if isinstance(pattern, bytes):
        pattern = pattern.decode()
    return str(pattern), regex_flag_string(flags)


def regex_flag_string(flags: int | str) -> str:
    """BSON's sorted option letters for Python ``re`` flags (or a string of letters)."""
    if isinstance(flags, str):
        return "".join(sorted(flags))
    letters = []
    if flags & re.IGNORECASE:
        letters.append("i")
    if flags & re.LOCALE:
        letters.append("l")
    if flags & re.MULTILINE:
        letters.append("m")
    if flags & re.DOTALL:
        letters.append("s")
    if flags & re.VERBOSE:
        letters.append("x")
    return "".join(letters)


def _items(value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, DBRef):
        return list(value.as_doc().items())
    return list(value.items())


def _binary_parts(value: Any) -> tuple[int, int, bytes]:
    subtype = value.subtype if isinstance(value, Binary) else 0
    return len(value), subtype, bytes(value)


def _cmp(x: Any, y: Any) -> int:
    return -1 if x < y else (1 if x > y else 0)


def compare(a: Any, b: Any) -> int:
    """-1, 0 or 1 in MongoDB's total order (MinKey < null < numbers < strings < ...)."""
    ba, bb = bracket(a), bracket(b)
    if ba != bb:
        return -1 if ba < bb else 1
    return compare_same_bracket(ba, a, b)


def compare_same_bracket(kind: int, a: Any, b: Any) -> int:
    """``compare`` for two values already known to be in bracket ``kind``."""
    if kind == NUMBER:
        return _compare_numbers(a, b)
    if kind == STRING:
        collation = active_collation()
        if collation is not None:
            return _cmp(collation.key(str(a)), collation.key(str(b)))
        # Python compares code points, which is the order of the UTF-8 bytes.
        return _cmp(a, b)
    if kind == OBJECT:
        return _compare_sequences(_items(a), _items(b), named=True)
    if kind == ARRAY:
        return _compare_sequences(list(enumerate(a)), list(enumerate(b)), named=False)
    if kind in (NULL, MINKEY, MAXKEY, MISSING_BRACKET):
        return 0
    if kind == OBJECTID:
        return _cmp(a.binary, b.binary)
    if kind == BOOL:
        return _cmp(bool(a), bool(b))
    if kind == DATE:
        return _cmp(date_millis(a), date_millis(b))
    if kind == TIMESTAMP:
        return _cmp((a.time, a.inc), (b.time, b.inc))
    if kind == BINARY:
        return _cmp(_binary_parts(a), _binary_parts(b))
    if kind == REGEX:
        return _cmp(_regex_parts(a), _regex_parts(b))
    if kind == CODE:
        c = _cmp(str(a), str(b))
        if c:
            return c
        return compare(a.scope or {}, b.scope or {})
    raise MongoError(2, f"cannot compare values of type {type(a).__name__}")


def _compare_sequences(xs: list[tuple[Any, Any]], ys: list[tuple[Any, Any]], *, named: bool) -> int:
    # Element by element: canonical type first, then the field name, then the value.
    for (kx, vx), (ky, vy) in zip(xs, ys):
        bx, by = bracket(vx), bracket(vy)
        if bx != by:
            return -1 if bx < by else 1
        if named and kx != ky:
            return -1 if kx < ky else 1
        c = compare_same_bracket(bx, vx, vy)
        if c:
            return c
    return _cmp(len(xs), len(ys))


def equal(a: Any, b: Any) -> bool:
    """Equality as ``$eq`` sees it: 1 == 1.0 == Int64(1) == Decimal128("1")."""
    ta, tb = type(a), type(b)
    if ta is tb and ta in (str, int, ObjectId, bool) and (ta is not str
                                                          or active_collation() is None):
        return bool(a == b)
    return compare(a, b) == 0


_NAN_KEY = (NUMBER, "NaN")


def canonical_key(value: Any) -> Hashable:
    """A hashable key, equal for values MongoDB treats as equal (1, 1.0, Int64(1),
    Decimal128("1")) and distinct otherwise; field order of documents matters."""
    t = type(value)
    if t is str:
        collation = active_collation()
        return (STRING, value) if collation is None else (STRING, collation.key(value))
    if t is int or t is Int64:
        return (NUMBER, int(value))
    if t is ObjectId:
        return (OBJECTID, value.binary)
    kind = bracket(value)
    if kind == NUMBER:
        number = numeric(value)
        if number != number:
            return _NAN_KEY
        # Python's int/float/Decimal equality is exact and their hashes agree.
        return (NUMBER, number)
    if kind == STRING:
        collation = active_collation()
        return (STRING, str(value)) if collation is None else (STRING,
                                                                collation.key(str(value)))
    if kind == OBJECT:
        return (OBJECT, tuple((k, canonical_key(v)) for k, v in _items(value)))
    if kind == ARRAY:
        return (ARRAY, tuple(canonical_key(v) for v in value))
    if kind in (NULL, MINKEY, MAXKEY, MISSING_BRACKET):
        return (kind,)
    if kind == BOOL:
        return (BOOL, bool(value))
    if kind == DATE:
        return (DATE, date_millis(value))
    if kind == TIMESTAMP:
        return (TIMESTAMP, value.time, value.inc)
    if kind == BINARY:
        return (BINARY, *_binary_parts(value))
    if kind == REGEX:
        return (REGEX, *_regex_parts(value))
    if kind == CODE:
        return (CODE, str(value), canonical_key(value.scope or {}))
    raise MongoError(2, f"unsupported BSON value of type {type(value).__name__}")


# $type: BSON type numbers and their aliases.
TYPE_NUMBERS: dict[str, int] = {
    "double": 1,
    "string": 2,
    "object": 3,
    "array": 4,
    "binData": 5,
    "undefined": 6,
    "objectId": 7,
    "bool": 8,
    "date": 9,
    "null": 10,
    "regex": 11,
    "dbPointer": 12,
    "javascript": 13,
    "symbol": 14,
    "javascriptWithScope": 15,
    "int": 16,
    "timestamp": 17,
    "long": 18,
    "decimal": 19,
    "minKey": -1,
    "maxKey": 127,
}
TYPE_ALIASES: dict[int, str] = {number: alias for alias, number in TYPE_NUMBERS.items()}
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


def unique_values(values: Iterable[Any]) -> list[Any]:
    """``values`` without repeats (equal as :func:`canonical_key` says), first ones kept."""
    seen: set[Hashable] = set()
    unique = []
    for value in values:
        key = canonical_key(value)
        if key not in seen:
            seen.add(key)
            unique.append(value)
    return unique


def type_number(value: Any) -> int:
    """The BSON type number ``value`` is stored as (1 double, 2 string, 16 int, 18 long...)."""
    t = type(value)
    if t is str:
        return 2
    if t is int:
        return 16 if _INT32_MIN <= value <= _INT32_MAX else 18
    if t is Int64:
        return 18
    if t is float:
        return 1
    if t is bool:
        return 8
    kind = bracket(value)
    if kind == NUMBER:
        if isinstance(value, Decimal128):
            return 19
        if isinstance(value, Int64):
            return 18
        if isinstance(value, int):
            return 16 if _INT32_MIN <= value <= _INT32_MAX else 18
        return 1
    if kind == CODE:
        return 15 if value.scope else 13
    return {
        NULL: 10,
        STRING: 2,
        OBJECT: 3,
        ARRAY: 4,
        BINARY: 5,
        OBJECTID: 7,
        BOOL: 8,
        DATE: 9,
        TIMESTAMP: 17,
        REGEX: 11,
        MINKEY: -1,
        MAXKEY: 127,
    }[kind]


def type_alias(value: Any) -> str:
    """``$type``'s name for the type of ``value``: "double", "string", "int", "long"..."""
    return TYPE_ALIASES[type_number(value)]


def type_name(value: Any) -> str:
    """``type_alias``, or "missing" for ``MISSING`` (as mongod's messages name types)."""
    return "missing" if value is MISSING else TYPE_ALIASES[type_number(value)]


def parse_type_spec(spec: Any) -> int | str:
    """Validate one ``$type`` argument: a type number, a type alias, or "number"."""
    if isinstance(spec, str):
        if spec == "number":
            return "number"
        if spec not in TYPE_NUMBERS:
            raise bad_value(f"Unknown type name alias: {spec}")
        return TYPE_NUMBERS[spec]
    if is_number(spec):
        number = numeric(spec)
        if number != int(number):
            raise bad_value(f"Invalid numerical type code: {spec}")
        if int(number) not in TYPE_ALIASES:
            raise bad_value(f"Invalid numerical type code: {int(number)}")
        return int(number)
    raise bad_value("type must be represented as a number or a string")


def has_type(value: Any, wanted: int | str) -> bool:
    """``value`` is of BSON type ``wanted`` (a number from ``parse_type_spec`` or "number")."""
    if wanted == "number":
        return is_number(value)
    return type_number(value) == wanted


def truthy(value: Any) -> bool:
    """Aggregation truthiness: false, null, missing and zero are false; all else true."""
    if value is None or value is False:
        return False
    if is_number(value):
        return bool(numeric(value))
    return True


def is_missing_or_null(value: Any) -> bool:
    return value is None or value is MISSING


def render(value: Any) -> str:
    """``value`` written the way mongod's messages show BSON (``{ a: 1 }``, ``[ 1, 2 ]``)."""
    if value is MISSING:
        return "missing"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{k}: {render(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[ " + ", ".join(render(v) for v in value) + " ]"
    if isinstance(value, ObjectId):
        return f"ObjectId('{value}')"
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    return str(value)
