"""Arithmetic: $add, $subtract, $multiply, $divide, $mod, $abs, $pow, $sqrt, $exp, $ln,
$log10, $round, $trunc, $ceil, $floor, and the type widening they share (``numeric_op``)."""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Any

from bson import Int64
from bson.decimal128 import Decimal128

from mongolet.errors import MongoError
from mongolet.query.expressions.compiler import OPERATORS, Compiled, Variables, arguments, fixed
from mongolet.query.values import (
    MISSING,
    date_from_millis,
    date_millis,
    is_number,
    numeric,
    type_name,
)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _is_long(value: Any) -> bool:
    return isinstance(value, Int64) or (type(value) is int and not INT32_MIN <= value <= INT32_MAX)


def _integral_result(value: int, long_input: bool) -> Any:
    if INT32_MIN <= value <= INT32_MAX and not long_input:
        return value
    if INT64_MIN <= value <= INT64_MAX:
        return Int64(value)
    return float(value)


def to_decimal(value: Any) -> Decimal:
    """A number as an exact ``Decimal`` (doubles by their shortest repr)."""
    if isinstance(value, Decimal128):
        return value.to_decimal()
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else Decimal(str(value))
    return Decimal(int(value))


def decimal_result(value: Decimal) -> Decimal128:
    """``value`` as a Decimal128, rounded to its 34 digits if needed."""
    try:
        return Decimal128(value)
    except (InvalidOperation, ValueError):
        return Decimal128(Context(prec=34).create_decimal(value))




def numeric_op(values: Sequence[Any], op: Callable[[Any, Any], Any]) -> Any:
    """Combine numbers the way mongod widens types: int -> long -> double -> decimal."""
    if any(isinstance(v, Decimal128) for v in values):
        result = to_decimal(values[0])
        for v in values[1:]:
            result = op(result, to_decimal(v))
        return decimal_result(result)
    if any(isinstance(v, float) for v in values):
        result_f = float(values[0])
        for v in values[1:]:
            result_f = op(result_f, float(v))
        return result_f
    result_i = int(values[0])
    for v in values[1:]:
        result_i = op(result_i, int(v))
    return _integral_result(result_i, any(_is_long(v) for v in values))


def _add(*values: Any) -> Any:
    numbers = []
    date = None
    for value in values:
        if value is None or value is MISSING:
            return None
        if isinstance(value, datetime.datetime):
            if date is not None:
                raise MongoError(16612, "only one date allowed in an $add expression")
            date = value
        elif is_number(value) and not isinstance(value, bool):
            numbers.append(value)
        else:
            raise MongoError(16554, f"$add only supports numeric or date types, not {type_name(value)}")
    if date is not None:
        millis = sum(float(numeric(n)) if not isinstance(n, int) else n for n in numbers)
        return date_from_millis(date_millis(date) + round(millis))
    if not numbers:
        return 0
    return numeric_op(numbers, lambda a, b: a + b)




def _require_numbers(name: str, values: Sequence[Any]) -> bool:
    """False when an argument is null/missing (the result is then null)."""
    for value in values:
        if value is None or value is MISSING:
            return False
    for value in values:
        if not is_number(value) or isinstance(value, bool):
            raise MongoError(16555 if name == "$multiply" else 16609 if name == "$divide" else 16611 if name == "$mod" else 28765,
                             f"{name} only supports numeric types, not {type_name(value)}")
    return True


def _subtract(a: Any, b: Any) -> Any:
    if a is None or a is MISSING or b is None or b is MISSING:
        return None
    if isinstance(a, datetime.datetime):
        if isinstance(b, datetime.datetime):
            return Int64(date_millis(a) - date_millis(b))
        if is_number(b) and not isinstance(b, bool):
            return date_from_millis(date_millis(a) - round(float(numeric(b))))
    elif is_number(a) and not isinstance(a, bool) and is_number(b) and not isinstance(b, bool):
        return numeric_op([a, b], lambda x, y: x - y)
    raise MongoError(16556, f"cant $subtract a {type_name(b)} from a {type_name(a)}")


def _multiply(*values: Any) -> Any:
    if not _require_numbers("$multiply", values):
        return None
    if not values:
        return 1
    return numeric_op(values, lambda a, b: a * b)


def _divide(a: Any, b: Any) -> Any:
    if not _require_numbers("$divide", [a, b]):
        return None
    if numeric(b) == 0:
        raise MongoError(2, "can't $divide by zero")
    if isinstance(a, Decimal128) or isinstance(b, Decimal128):
        return decimal_result(to_decimal(a) / to_decimal(b))
    return float(numeric(a)) / float(numeric(b))


def _mod(a: Any, b: Any) -> Any:
    if not _require_numbers("$mod", [a, b]):
        return None
    if numeric(b) == 0:
        raise MongoError(16610, "can't $mod by zero")
    if isinstance(a, Decimal128) or isinstance(b, Decimal128):
        return decimal_result(to_decimal(a) % to_decimal(b))
    if isinstance(a, float) or isinstance(b, float):
        return math.fmod(float(a), float(b))
    x, y = int(a), int(b)
    result = abs(x) % abs(y)
    return _integral_result(-result if x < 0 else result, _is_long(a) or _is_long(b))


def _unary_math(name: str, fn: Callable[[float], float], *, keep_int: bool = False,
                domain: Callable[[Any], bool] | None = None, domain_error: tuple[int, str] | None = None) -> None:
    def run(value: Any) -> Any:
        if value is None or value is MISSING:
            return None
        if not is_number(value) or isinstance(value, bool):
            raise MongoError(28765, f"{name} only supports numeric types, not {type_name(value)}")
        if domain is not None and domain_error is not None and not domain(numeric(value)):
            raise MongoError(*domain_error)
        if keep_int and isinstance(value, int):
            return value
        if isinstance(value, Decimal128):
            decimal_value = value.to_decimal()
            if name in ("$ceil", "$floor"):
                rounding = "ROUND_CEILING" if name == "$ceil" else "ROUND_FLOOR"
                return decimal_result(decimal_value.to_integral_value(rounding=rounding))
            return decimal_result(Decimal(repr(fn(float(decimal_value)))))
        return fn(float(value))

    fixed(name, 1, run)


def _abs(value: Any) -> Any:
    if value is None or value is MISSING:
        return None
    if not is_number(value) or isinstance(value, bool):
        raise MongoError(28765, f"$abs only supports numeric types, not {type_name(value)}")
    if isinstance(value, Decimal128):
        return decimal_result(abs(value.to_decimal()))
    if isinstance(value, int):
        if value == INT64_MIN:
            raise MongoError(28680, "can't take $abs of long long min")
        return _integral_result(abs(int(value)), _is_long(value))
    return abs(value)


def _round_like(name: str) -> Callable[[str, Any], Compiled]:
    def build(op: str, arg: Any) -> Compiled:
        args = arguments(op, arg, 1, 2)

        def run(root: Mapping[str, Any], variables: Variables) -> Any:
            value = args[0](root, variables)
            place = args[1](root, variables) if len(args) > 1 else 0
            if value is None or value is MISSING or place is None or place is MISSING:
                return None
            if not is_number(value) or isinstance(value, bool):
                raise MongoError(51081, f"{op} only supports numeric types, not {type_name(value)}")
            if not is_number(place) or numeric(place) != int(numeric(place)) or not -20 < int(numeric(place)) < 100:
                raise MongoError(51083, f"{op} requires \"place\" argument to be an integer between -20 and 100")
            digits = int(numeric(place))
            rounding = ROUND_HALF_EVEN if name == "$round" else "ROUND_DOWN"
            quantum = Decimal(1).scaleb(-digits)
            if isinstance(value, int):
                if digits >= 0:
                    return value
                rounded = int(Decimal(int(value)).quantize(quantum, rounding=rounding))
                return _integral_result(rounded, _is_long(value))
            if isinstance(value, Decimal128):
                return decimal_result(value.to_decimal().quantize(quantum, rounding=rounding))
            if not math.isfinite(value):
                return value
            return float(Decimal(repr(value)).quantize(quantum, rounding=rounding))

        return run

    return build


def _pow(base: Any, exponent: Any) -> Any:
    if not _require_numbers("$pow", [base, exponent]):
        return None
    if numeric(base) == 0 and numeric(exponent) < 0:
        raise MongoError(28764, "$pow cannot take a base of 0 and a negative exponent")
    if isinstance(base, Decimal128) or isinstance(exponent, Decimal128):
        return decimal_result(to_decimal(base) ** to_decimal(exponent))
    if isinstance(base, float) or isinstance(exponent, float) or int(exponent) < 0:
        return float(numeric(base)) ** float(numeric(exponent))
    return _integral_result(int(base) ** int(exponent), _is_long(base) or _is_long(exponent))


fixed("$add", (0, None), _add)
fixed("$subtract", 2, _subtract)
fixed("$multiply", (0, None), _multiply)
fixed("$divide", 2, _divide)
fixed("$mod", 2, _mod)
fixed("$abs", 1, _abs)
fixed("$pow", 2, _pow)
_unary_math("$sqrt", math.sqrt, domain=lambda v: v >= 0,
            domain_error=(28714, "$sqrt's argument must be greater than or equal to 0"))
_unary_math("$exp", math.exp)
_unary_math("$ln", math.log, domain=lambda v: v > 0, domain_error=(28766, "$ln's argument must be a positive number"))
_unary_math("$log10", math.log10, domain=lambda v: v > 0, domain_error=(28761, "$log10's argument must be a positive number"))
OPERATORS["$round"] = _round_like("$round")
OPERATORS["$trunc"] = _round_like("$trunc")


def _ceil_floor_fix() -> None:
    # math.ceil/floor return ints; mongod keeps doubles as doubles.
    def whole(fn: Callable[[float], int]) -> Callable[[float], float]:
        return lambda v: float(fn(v)) if math.isfinite(v) else v

    _unary_math("$ceil", whole(math.ceil), keep_int=True)
    _unary_math("$floor", whole(math.floor), keep_int=True)


_ceil_floor_fix()
