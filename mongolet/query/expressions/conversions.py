"""Types and conversions: $type, $isNumber, $convert and the $toX shorthands."""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from bson import Int64, ObjectId, Regex, Timestamp
from bson.decimal128 import Decimal128

from mongolet.errors import MongoError, bad_value
from mongolet.query.expressions.arithmetic import (
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    INT64_MIN,
    decimal_result,
    to_decimal,
)
from mongolet.query.expressions.compiler import Compiled, Variables, fixed, named_args, register
from mongolet.query.expressions.dates import format_date
from mongolet.query.named_errors import conversion_failure
from mongolet.query.values import (
    MISSING,
    date_from_millis,
    date_millis,
    is_number,
    numeric,
    truthy,
    type_name,
)


def _is_number_op(value: Any) -> bool:
    return is_number(value) and not isinstance(value, bool)


def _format_double(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def to_string(value: Any) -> str:
    """``$toString``'s text for a value (doubles as mongod prints them, dates as ISO)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _format_double(value)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, Decimal128):
        return str(value)
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, datetime.datetime):
        return format_date("%Y-%m-%dT%H:%M:%S.%LZ", value, None)
    raise conversion_failure(f"Unsupported conversion from {type_name(value)} to string in $convert with no onError value")


def _parse_number_string(value: str, target: str) -> Any:
    text = value
    try:
        if target in ("int", "long"):
            if not text or not (text.lstrip("-+").isdigit()):
                raise ValueError
            return int(text)
        if target == "double":
            return float(text)
        return Decimal(text)
    except (ValueError, InvalidOperation):
        raise conversion_failure(
            f"Failed to parse number '{value}' in $convert with no onError value: Did not consume whole string."
        ) from None


def convert(value: Any, target: str) -> Any:
    """``$convert``'s conversion of a non-null value to ``target`` (a type alias)."""
    if target == "string":
        return to_string(value)
    if target == "bool":
        if isinstance(value, (str, Mapping, list, ObjectId, datetime.datetime, Regex, Timestamp, bytes)):
            return True
        return truthy(value)
    if target in ("int", "long"):
        if isinstance(value, bool):
            number: Any = int(value)
        elif isinstance(value, str):
            number = _parse_number_string(value, target)
        elif isinstance(value, datetime.datetime) and target == "long":
            return Int64(date_millis(value))
        elif _is_number_op(value):
            raw = numeric(value)
            if raw != raw or raw in (math.inf, -math.inf):
                raise conversion_failure(f"Attempt to convert NaN or infinity value to integer in $convert with no onError value: {value}")
            number = int(raw)
        else:
            raise conversion_failure(f"Unsupported conversion from {type_name(value)} to {target} in $convert with no onError value")
        low, high = (INT32_MIN, INT32_MAX) if target == "int" else (INT64_MIN, INT64_MAX)
        if not low <= number <= high:
            raise conversion_failure(f"Conversion would overflow target type in $convert with no onError value: {value}")
        return number if target == "int" else Int64(number)
    if target == "double":
        if isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            return _parse_number_string(value, "double")
        if isinstance(value, datetime.datetime):
            return float(date_millis(value))
        if _is_number_op(value):
            return float(numeric(value))
        raise conversion_failure(f"Unsupported conversion from {type_name(value)} to double in $convert with no onError value")
    if target == "decimal":
        if isinstance(value, bool):
            return Decimal128(str(int(value)))
        if isinstance(value, str):
            return decimal_result(_parse_number_string(value, "decimal"))
        if isinstance(value, datetime.datetime):
            return Decimal128(str(date_millis(value)))
        if _is_number_op(value):
            return decimal_result(to_decimal(value))
        raise conversion_failure(f"Unsupported conversion from {type_name(value)} to decimal in $convert with no onError value")
    if target == "objectId":
        if isinstance(value, ObjectId):
            return value
        if isinstance(value, str):
            try:
                return ObjectId(value)
            except Exception:
                raise conversion_failure(f"Failed to parse objectId '{value}' in $convert with no onError value: Invalid string length for parsing to OID, expected 24 but found {len(value)}") from None
        raise conversion_failure(f"Unsupported conversion from {type_name(value)} to objectId in $convert with no onError value")
    if target == "date":
        if isinstance(value, datetime.datetime):
            return value
        if isinstance(value, ObjectId):
            return value.generation_time.replace(tzinfo=None)
        if isinstance(value, Timestamp):
            return date_from_millis(value.time * 1000)
        if _is_number_op(value) and not (type(value) is int and INT32_MIN <= value <= INT32_MAX):
            return date_from_millis(int(numeric(value)))
        if isinstance(value, str):
            try:
                parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise conversion_failure(f"Error parsing date string '{value}'") from None
            if parsed.tzinfo is not None:
                parsed = parsed.astimezone(datetime.UTC).replace(tzinfo=None)
            return parsed
        raise conversion_failure(f"Unsupported conversion from {type_name(value)} to date in $convert with no onError value")
    raise bad_value(f"Unknown type name: {target}")


_CONVERT_TARGETS = {1: "double", 2: "string", 7: "objectId", 8: "bool", 9: "date", 16: "int", 18: "long", 19: "decimal"}


@register("$convert")
def _convert(name: str, arg: Any) -> Compiled:
    args = named_args(name, arg, ("input", "to"), ("onError", "onNull"))

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        value = args["input"](root, variables)
        target = args["to"](root, variables)
        if is_number(target):
            target = _CONVERT_TARGETS.get(int(numeric(target)), str(target))
        if value is None or value is MISSING:
            return args["onNull"](root, variables) if "onNull" in args else None
        if not isinstance(target, str) or target not in _CONVERT_TARGETS.values():
            raise bad_value(f"Unknown type name: {target}")
        try:
            return convert(value, target)
        except MongoError:
            if "onError" in args:
                return args["onError"](root, variables)
            raise

    return run


def _converter(target: str) -> Callable[[Any], Any]:
    def run(value: Any) -> Any:
        if value is None or value is MISSING:
            return None
        return convert(value, target)

    return run


fixed("$type", 1, type_name)
fixed("$isNumber", 1, _is_number_op)
for _target, _name in (("int", "$toInt"), ("long", "$toLong"), ("double", "$toDouble"), ("decimal", "$toDecimal"),
                       ("string", "$toString"), ("objectId", "$toObjectId"), ("bool", "$toBool"), ("date", "$toDate")):
    fixed(_name, 1, _converter(_target))
