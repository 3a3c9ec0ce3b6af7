"""The aggregation expression language.

``compile_expression(expr)`` parses an expression once into ``f(root, variables) -> value``;
``evaluate`` is the one-off form. ``MISSING`` (from ``paths``) is the value of a missing field
and of ``$$REMOVE``; object literals drop fields that evaluate to it, arrays turn it to null.
Variables: ``ROOT`` is the document, ``CURRENT`` defaults to it, ``NOW``/``CLUSTER_TIME`` are
taken once per evaluation unless the caller binds them (commands bind them once per command).
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from bson import Int64, ObjectId, Regex, Timestamp
from bson.decimal128 import Decimal128

from mongolet.errors import MongoError, bad_value
from mongolet.query._errors import conversion_failure
from mongolet.query.paths import MISSING
from mongolet.query.values import (
    compare,
    date_millis,
    equal,
    is_number,
    numeric,
    render,
    truthy,
    type_alias,
)

Variables = Mapping[str, Any]
Compiled = Callable[[Mapping[str, Any], Variables], Any]

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_EPOCH = datetime.datetime(1970, 1, 1)
_SYSTEM_VARIABLES = frozenset({"ROOT", "CURRENT", "REMOVE", "NOW", "CLUSTER_TIME"})


def compile_expression(expr: Any) -> Compiled:
    """Compile an expression once into ``f(doc, variables) -> value``."""
    return _compile(expr)


def evaluate(expr: Any, doc: Mapping[str, Any], variables: Mapping[str, Any] | None = None) -> Any:
    """Evaluate an aggregation expression against ``doc`` ($$ROOT/$$CURRENT = doc)."""
    return _compile(expr)(doc, variables or {})


def evaluate_let(let: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A command's ``let`` option: each value is an expression evaluated once, before any
    document is seen (``{$literal: "$x"}`` binds the string "$x")."""
    if not let:
        return None
    return {_check_var_name(name): missing_to_null(evaluate(expr, {}))
            for name, expr in let.items()}


def missing_to_null(value: Any) -> Any:
    return None if value is MISSING else value


# --- compilation -------------------------------------------------------------------------


def _constant(value: Any) -> Compiled:
    def constant(root: Mapping[str, Any], variables: Variables) -> Any:
        return value

    return constant


def _compile(expr: Any) -> Compiled:
    if isinstance(expr, str):
        if expr.startswith("$$"):
            return _compile_variable(expr[2:])
        if expr.startswith("$"):
            return _compile_field_path(expr[1:])
        return _constant(expr)
    if isinstance(expr, list):
        items = [_compile(item) for item in expr]

        def array(root: Mapping[str, Any], variables: Variables) -> Any:
            return [missing_to_null(item(root, variables)) for item in items]

        return array
    if isinstance(expr, Mapping):
        keys = list(expr)
        if keys and isinstance(keys[0], str) and keys[0].startswith("$"):
            if len(keys) != 1:
                raise MongoError(
                    15983,
                    "an expression specification must contain exactly one field, the name of "
                    f"the expression. Found {len(keys)} fields in {render(dict(expr))}, while "
                    f"parsing object {render(dict(expr))}",
                )
            return _compile_operator(keys[0], expr[keys[0]])
        return _compile_object(expr)
    return _constant(expr)


def _compile_object(expr: Mapping[str, Any]) -> Compiled:
    fields = []
    for name, value in expr.items():
        if not isinstance(name, str) or not name:
            raise bad_value("FieldPath cannot be constructed with empty string")
        if name.startswith("$"):
            raise MongoError(16410, "FieldPath field names may not start with '$'. Consider using $getField or $setField.")
        if "." in name:
            raise MongoError(16412, "FieldPath field names may not contain '.'. Consider using $getField or $setField.")
        fields.append((name, _compile(value)))

    def obj(root: Mapping[str, Any], variables: Variables) -> Any:
        out = {}
        for name, compiled in fields:
            value = compiled(root, variables)
            if value is not MISSING:
                out[name] = value
        return out

    return obj


def _check_path(path: str, original: str) -> tuple[str, ...]:
    if not path:
        raise MongoError(16872, "'$' by itself is not a valid FieldPath")
    parts = tuple(path.split("."))
    for part in parts:
        if not part:
            raise MongoError(15998, "FieldPath field names may not be empty strings.")
        if part.startswith("$"):
            raise MongoError(16410, "FieldPath field names may not start with '$'. Consider using $getField or $setField.")
    return parts


def _compile_field_path(path: str) -> Compiled:
    parts = _check_path(path, "$" + path)
    if len(parts) == 1:
        key = parts[0]

        def field(root: Mapping[str, Any], variables: Variables) -> Any:
            current = variables.get("CURRENT", root) if variables else root
            if isinstance(current, Mapping):
                return current.get(key, MISSING)
            return MISSING

        return field

    def dotted(root: Mapping[str, Any], variables: Variables) -> Any:
        current = variables.get("CURRENT", root) if variables else root
        return traverse(current, parts)

    return dotted


def traverse(value: Any, parts: Sequence[str]) -> Any:
    """A field path's value the way expressions read it: through arrays, each element's
    value (elements lacking the field are left out; nested arrays kept)."""
    for i, part in enumerate(parts):
        if isinstance(value, Mapping):
            value = value.get(part, MISSING)
            if value is MISSING:
                return MISSING
        elif isinstance(value, list):
            rest = parts[i:]
            out = []
            for element in value:
                if isinstance(element, (Mapping, list)):
                    found = traverse(element, rest)
                    if found is not MISSING:
                        out.append(found)
            return out
        else:
            return MISSING
    return value


def _compile_variable(spec: str) -> Compiled:
    name, _, rest = spec.partition(".")
    if not name:
        raise MongoError(16869, "empty variable names are not allowed")
    parts = _check_path(rest, spec) if rest else ()
    if name not in _SYSTEM_VARIABLES and not ((name[0].isalpha() and name[0].islower()) or not name[0].isascii()):
        raise MongoError(16870, f"'{name}' starts with an invalid character for a user variable name")

    def variable(root: Mapping[str, Any], variables: Variables) -> Any:
        if name in variables:
            value = variables[name]
        elif name == "ROOT" or name == "CURRENT":
            value = root
        elif name == "REMOVE":
            return MISSING
        elif name == "NOW":
            value = datetime.datetime.now(datetime.UTC).replace(tzinfo=None, microsecond=0)
        elif name == "CLUSTER_TIME":
            value = Timestamp(int(datetime.datetime.now(datetime.UTC).timestamp()), 1)
        else:
            raise MongoError(17276, f"Use of undefined variable: {name}")
        return traverse(value, parts) if parts else value

    return variable


# --- operators ---------------------------------------------------------------------------

OperatorBuilder = Callable[[str, Any], Compiled]
_OPERATORS: dict[str, OperatorBuilder] = {}


def _compile_operator(name: str, arg: Any) -> Compiled:
    builder = _OPERATORS.get(name)
    if builder is None:
        raise MongoError(168, f"Unrecognized expression '{name}'")
    return builder(name, arg)


def _arguments(name: str, arg: Any, low: int, high: int | None = None) -> list[Compiled]:
    args = arg if isinstance(arg, list) else [arg]
    count = len(args)
    top = low if high is None else high
    if count < low or count > top:
        if low == top:
            raise MongoError(16020, f"Expression {name} takes exactly {low} arguments. {count} were passed in.")
        if count < low:
            raise MongoError(16020, f"Expression {name} takes at least {low} arguments, and {count} were passed in.")
        raise MongoError(16020, f"Expression {name} takes at most {top} arguments, and {count} were passed in.")
    return [_compile(a) for a in args]


def _register(*names: str) -> Callable[[OperatorBuilder], OperatorBuilder]:
    def decorate(builder: OperatorBuilder) -> OperatorBuilder:
        for name in names:
            _OPERATORS[name] = builder
        return builder

    return decorate


def _fixed(name: str, count: int | tuple[int, int | None], fn: Callable[..., Any]) -> None:
    """Register an operator taking ``count`` evaluated arguments and calling ``fn``."""
    low, high = (count, count) if isinstance(count, int) else count

    def build(op: str, arg: Any) -> Compiled:
        if high is None:
            args = _arguments(op, arg, low, 1 << 30)
        else:
            args = _arguments(op, arg, low, high)

        def run(root: Mapping[str, Any], variables: Variables) -> Any:
            return fn(*[a(root, variables) for a in args])

        return run

    _OPERATORS[name] = build


def _named_args(name: str, arg: Any, required: Sequence[str], optional: Sequence[str] = ()) -> dict[str, Compiled]:
    if not isinstance(arg, Mapping):
        raise MongoError(2, f"{name} expects an object as its argument")
    for key in arg:
        if key not in required and key not in optional:
            raise MongoError(2, f"{name} found an unknown argument: {key}")
    for key in required:
        if key not in arg:
            raise MongoError(2, f"Missing '{key}' parameter to {name}")
    return {key: _compile(value) for key, value in arg.items()}


@_register("$literal")
def _literal(name: str, arg: Any) -> Compiled:
    return _constant(arg)


# --- numbers -----------------------------------------------------------------------------


def _is_long(value: Any) -> bool:
    return isinstance(value, Int64) or (type(value) is int and not _INT32_MIN <= value <= _INT32_MAX)


def _integral_result(value: int, long_input: bool) -> Any:
    if _INT32_MIN <= value <= _INT32_MAX and not long_input:
        return value
    if _INT64_MIN <= value <= _INT64_MAX:
        return Int64(value)
    return float(value)


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal128):
        return value.to_decimal()
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else Decimal(str(value))
    return Decimal(int(value))


def _decimal_result(value: Decimal) -> Decimal128:
    try:
        return Decimal128(value)
    except (InvalidOperation, ValueError):
        from decimal import Context

        return Decimal128(Context(prec=34).create_decimal(value))


def _type_name(value: Any) -> str:
    return "missing" if value is MISSING else type_alias(value)


def _numeric_op(values: Sequence[Any], op: Callable[[Any, Any], Any]) -> Any:
    """Combine numbers the way mongod widens types: int -> long -> double -> decimal."""
    if any(isinstance(v, Decimal128) for v in values):
        result = _to_decimal(values[0])
        for v in values[1:]:
            result = op(result, _to_decimal(v))
        return _decimal_result(result)
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
            raise MongoError(16554, f"$add only supports numeric or date types, not {_type_name(value)}")
    if date is not None:
        millis = sum(float(numeric(n)) if not isinstance(n, int) else n for n in numbers)
        return _date_from_millis(date_millis(date) + round(millis))
    if not numbers:
        return 0
    return _numeric_op(numbers, lambda a, b: a + b)


def _date_from_millis(millis: int) -> datetime.datetime:
    return _EPOCH + datetime.timedelta(milliseconds=millis)


def _require_numbers(name: str, values: Sequence[Any]) -> bool:
    """False when an argument is null/missing (the result is then null)."""
    for value in values:
        if value is None or value is MISSING:
            return False
    for value in values:
        if not is_number(value) or isinstance(value, bool):
            raise MongoError(16555 if name == "$multiply" else 16609 if name == "$divide" else 16611 if name == "$mod" else 28765,
                             f"{name} only supports numeric types, not {_type_name(value)}")
    return True


def _subtract(a: Any, b: Any) -> Any:
    if a is None or a is MISSING or b is None or b is MISSING:
        return None
    if isinstance(a, datetime.datetime):
        if isinstance(b, datetime.datetime):
            return Int64(date_millis(a) - date_millis(b))
        if is_number(b) and not isinstance(b, bool):
            return _date_from_millis(date_millis(a) - round(float(numeric(b))))
    elif is_number(a) and not isinstance(a, bool) and is_number(b) and not isinstance(b, bool):
        return _numeric_op([a, b], lambda x, y: x - y)
    raise MongoError(16556, f"cant $subtract a {_type_name(b)} from a {_type_name(a)}")


def _multiply(*values: Any) -> Any:
    if not _require_numbers("$multiply", values):
        return None
    if not values:
        return 1
    return _numeric_op(values, lambda a, b: a * b)


def _divide(a: Any, b: Any) -> Any:
    if not _require_numbers("$divide", [a, b]):
        return None
    if numeric(b) == 0:
        raise MongoError(2, "can't $divide by zero")
    if isinstance(a, Decimal128) or isinstance(b, Decimal128):
        return _decimal_result(_to_decimal(a) / _to_decimal(b))
    return float(numeric(a)) / float(numeric(b))


def _mod(a: Any, b: Any) -> Any:
    if not _require_numbers("$mod", [a, b]):
        return None
    if numeric(b) == 0:
        raise MongoError(16610, "can't $mod by zero")
    if isinstance(a, Decimal128) or isinstance(b, Decimal128):
        return _decimal_result(_to_decimal(a) % _to_decimal(b))
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
            raise MongoError(28765, f"{name} only supports numeric types, not {_type_name(value)}")
        if domain is not None and domain_error is not None and not domain(numeric(value)):
            raise MongoError(*domain_error)
        if keep_int and isinstance(value, int):
            return value
        if isinstance(value, Decimal128):
            decimal_value = value.to_decimal()
            if name in ("$ceil", "$floor"):
                rounding = "ROUND_CEILING" if name == "$ceil" else "ROUND_FLOOR"
                return _decimal_result(decimal_value.to_integral_value(rounding=rounding))
            return _decimal_result(Decimal(repr(fn(float(decimal_value)))))
        return fn(float(value))

    _fixed(name, 1, run)


def _abs(value: Any) -> Any:
    if value is None or value is MISSING:
        return None
    if not is_number(value) or isinstance(value, bool):
        raise MongoError(28765, f"$abs only supports numeric types, not {_type_name(value)}")
    if isinstance(value, Decimal128):
        return _decimal_result(abs(value.to_decimal()))
    if isinstance(value, int):
        if value == _INT64_MIN:
            raise MongoError(28680, "can't take $abs of long long min")
        return _integral_result(abs(int(value)), _is_long(value))
    return abs(value)


def _round_like(name: str) -> Callable[[str, Any], Compiled]:
    def build(op: str, arg: Any) -> Compiled:
        args = _arguments(op, arg, 1, 2)

        def run(root: Mapping[str, Any], variables: Variables) -> Any:
            value = args[0](root, variables)
            place = args[1](root, variables) if len(args) > 1 else 0
            if value is None or value is MISSING or place is None or place is MISSING:
                return None
            if not is_number(value) or isinstance(value, bool):
                raise MongoError(51081, f"{op} only supports numeric types, not {_type_name(value)}")
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
                return _decimal_result(value.to_decimal().quantize(quantum, rounding=rounding))
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
        return _decimal_result(_to_decimal(base) ** _to_decimal(exponent))
    if isinstance(base, float) or isinstance(exponent, float) or int(exponent) < 0:
        return float(numeric(base)) ** float(numeric(exponent))
    return _integral_result(int(base) ** int(exponent), _is_long(base) or _is_long(exponent))


_fixed("$add", (0, None), _add)
_fixed("$subtract", 2, _subtract)
_fixed("$multiply", (0, None), _multiply)
_fixed("$divide", 2, _divide)
_fixed("$mod", 2, _mod)
_fixed("$abs", 1, _abs)
_fixed("$pow", 2, _pow)
_unary_math("$sqrt", math.sqrt, domain=lambda v: v >= 0,
            domain_error=(28714, "$sqrt's argument must be greater than or equal to 0"))
_unary_math("$exp", math.exp)
_unary_math("$ln", math.log, domain=lambda v: v > 0, domain_error=(28766, "$ln's argument must be a positive number"))
_unary_math("$log10", math.log10, domain=lambda v: v > 0, domain_error=(28761, "$log10's argument must be a positive number"))
_OPERATORS["$round"] = _round_like("$round")
_OPERATORS["$trunc"] = _round_like("$trunc")


def _ceil_floor_fix() -> None:
    # math.ceil/floor return ints; mongod keeps doubles as doubles.
    def whole(fn: Callable[[float], int]) -> Callable[[float], float]:
        return lambda v: float(fn(v)) if math.isfinite(v) else v

    _unary_math("$ceil", whole(math.ceil), keep_int=True)
    _unary_math("$floor", whole(math.floor), keep_int=True)


_ceil_floor_fix()


# --- comparison and boolean --------------------------------------------------------------


def _comparison(name: str, accept: Callable[[int], Any]) -> None:
    _fixed(name, 2, lambda a, b: accept(compare(a, b)))


_comparison("$eq", lambda c: c == 0)
_comparison("$ne", lambda c: c != 0)
_comparison("$gt", lambda c: c > 0)
_comparison("$gte", lambda c: c >= 0)
_comparison("$lt", lambda c: c < 0)
_comparison("$lte", lambda c: c <= 0)
_comparison("$cmp", lambda c: c)


@_register("$and")
def _and(name: str, arg: Any) -> Compiled:
    args = _arguments(name, arg, 0, 1 << 30)

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        return all(truthy(a(root, variables)) for a in args)

    return run


@_register("$or")
def _or(name: str, arg: Any) -> Compiled:
    args = _arguments(name, arg, 0, 1 << 30)

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        return any(truthy(a(root, variables)) for a in args)

    return run


_fixed("$not", 1, lambda value: not truthy(value))


# --- conditionals ------------------------------------------------------------------------


@_register("$cond")
def _cond(name: str, arg: Any) -> Compiled:
    if isinstance(arg, Mapping):
        for key in arg:
            if key not in ("if", "then", "else"):
                raise MongoError(17083, f"Unrecognized parameter to $cond: {key}")
        for key in ("if", "then", "else"):
            if key not in arg:
                raise MongoError(17080 + ("if", "then", "else").index(key), f"Missing '{key}' parameter to $cond")
        test, then, otherwise = (_compile(arg[k]) for k in ("if", "then", "else"))
    else:
        test, then, otherwise = _arguments(name, arg, 3)

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        return then(root, variables) if truthy(test(root, variables)) else otherwise(root, variables)

    return run


@_register("$ifNull")
def _if_null(name: str, arg: Any) -> Compiled:
    if not isinstance(arg, list) or len(arg) < 2:
        raise MongoError(1257300, "$ifNull needs at least two arguments, had: "
                         f"{len(arg) if isinstance(arg, list) else 1}")
    args = [_compile(a) for a in arg]

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        for a in args[:-1]:
            value = a(root, variables)
            if value is not None and value is not MISSING:
                return value
        return args[-1](root, variables)

    return run


@_register("$switch")
def _switch(name: str, arg: Any) -> Compiled:
    if not isinstance(arg, Mapping):
        raise MongoError(40060, "$switch requires an object as an argument")
    branches = arg.get("branches")
    if not isinstance(branches, list):
        raise MongoError(40061, "$switch expected an array for 'branches'")
    compiled = []
    for branch in branches:
        if not isinstance(branch, Mapping):
            raise MongoError(40062, "$switch expected each branch to be an object")
        if "case" not in branch:
            raise MongoError(40064, "$switch requires each branch have a 'case' expression")
        if "then" not in branch:
            raise MongoError(40065, "$switch requires each branch have a 'then' expression.")
        compiled.append((_compile(branch["case"]), _compile(branch["then"])))
    for key in arg:
        if key not in ("branches", "default"):
            raise MongoError(40067, f"$switch found an unknown argument: {key}")
    default = _compile(arg["default"]) if "default" in arg else None

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        for case, then in compiled:
            if truthy(case(root, variables)):
                return then(root, variables)
        if default is None:
            raise MongoError(40066, "$switch could not find a matching branch for an input, and no default was specified.")
        return default(root, variables)

    return run


# --- strings -----------------------------------------------------------------------------


def _concat(*values: Any) -> Any:
    for value in values:
        if value is None or value is MISSING:
            return None
        if not isinstance(value, str):
            raise MongoError(16702, f"$concat only supports strings, not {_type_name(value)}")
    return "".join(values)


def _string_of(name: str, value: Any) -> str:
    """How $toLower/$toUpper/$substr see a value: null as "", numbers and dates printed."""
    if value is None or value is MISSING:
        return ""
    if isinstance(value, str):
        return value
    if (is_number(value) and not isinstance(value, bool)) or isinstance(value, datetime.datetime):
        return _to_string(value)
    raise MongoError(16007, f"can't convert from BSON type {_type_name(value)} to String")


def _substr_bytes(value: Any, start: Any, length: Any) -> str:
    text = _string_of("$substrBytes", value).encode()
    if not is_number(start) or not is_number(length):
        raise MongoError(16034, "$substrBytes: starting index must be a numeric type")
    begin = int(numeric(start))
    if begin < 0:
        return ""
    count = int(numeric(length))
    piece = text[begin:] if count < 0 else text[begin : begin + count]
    try:
        return piece.decode()
    except UnicodeDecodeError:
        raise MongoError(28656, "$substrBytes: Invalid range, starting index is a UTF-8 continuation byte.") from None


def _substr_cp(value: Any, start: Any, length: Any) -> str:
    text = _string_of("$substrCP", value)
    if not is_number(start) or numeric(start) != int(numeric(start)):
        raise MongoError(34450 if not is_number(start) else 34451, "$substrCP: starting index must be a numeric type")
    if not is_number(length) or numeric(length) != int(numeric(length)):
        raise MongoError(34452 if not is_number(length) else 34453, "$substrCP: length must be a numeric type")
    begin, count = int(numeric(start)), int(numeric(length))
    if begin < 0:
        raise MongoError(34455, "$substrCP: the starting index must be nonnegative integer.")
    if count < 0:
        raise MongoError(34454, "$substrCP: length must be a nonnegative integer.")
    return text[begin : begin + count]


def _str_len_cp(value: Any) -> Any:
    if not isinstance(value, str):
        raise MongoError(34471, f"$strLenCP requires a string argument, found: {_type_name(value)}")
    return len(value)


def _str_len_bytes(value: Any) -> Any:
    if not isinstance(value, str):
        raise MongoError(34473, f"$strLenBytes requires a string argument, found: {_type_name(value)}")
    return len(value.encode())


def _split(value: Any, delimiter: Any) -> Any:
    if value is None or value is MISSING:
        return None
    if not isinstance(value, str):
        raise MongoError(40085, f"$split requires an expression that evaluates to a string as a first argument, found: {_type_name(value)}")
    if not isinstance(delimiter, str):
        raise MongoError(40086, f"$split requires an expression that evaluates to a string as a second argument, found: {_type_name(delimiter)}")
    if not delimiter:
        raise MongoError(40087, "$split requires a non-empty separator")
    return value.split(delimiter)


def _strcasecmp(a: Any, b: Any) -> int:
    x, y = _string_of("$strcasecmp", a).upper(), _string_of("$strcasecmp", b).upper()
    return -1 if x < y else (1 if x > y else 0)


def _index_of(name: str) -> Callable[..., Any]:
    def run(value: Any, search: Any, *bounds: Any) -> Any:
        if value is None or value is MISSING:
            return None
        if not isinstance(value, str):
            raise MongoError(40091, f"{name} requires a string as the first argument, found: {_type_name(value)}")
        if not isinstance(search, str):
            raise MongoError(40092, f"{name} requires a string as the second argument, found: {_type_name(search)}")
        start = int(numeric(bounds[0])) if bounds else 0
        end = int(numeric(bounds[1])) if len(bounds) > 1 else None
        if name == "$indexOfBytes":
            data, needle = value.encode(), search.encode()
            return data.find(needle, start, end if end is not None else len(data))
        return value.find(search, start, end if end is not None else len(value))

    return run


_WHITESPACE = "\u0000\u0020\u0009\u000a\u000b\u000c\u000d\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"


def _trim(kind: str) -> Callable[[str, Any], Compiled]:
    def build(name: str, arg: Any) -> Compiled:
        args = _named_args(name, arg, ("input",), ("chars",))

        def run(root: Mapping[str, Any], variables: Variables) -> Any:
            value = args["input"](root, variables)
            if value is None or value is MISSING:
                return None
            if not isinstance(value, str):
                raise MongoError(50699, f"{name} requires its input to be a string, got {render(value)} (of type {_type_name(value)}) instead.")
            chars = args["chars"](root, variables) if "chars" in args else _WHITESPACE
            if chars is None or chars is MISSING:
                return None
            if not isinstance(chars, str):
                raise MongoError(50700, f"{name} requires 'chars' to be a string, got {render(chars)} (of type {_type_name(chars)}) instead.")
            if kind == "both":
                return value.strip(chars)
            return value.lstrip(chars) if kind == "left" else value.rstrip(chars)

        return run

    return build


def _replace(all_: bool) -> Callable[[str, Any], Compiled]:
    def build(name: str, arg: Any) -> Compiled:
        args = _named_args(name, arg, ("input", "find", "replacement"))

        def run(root: Mapping[str, Any], variables: Variables) -> Any:
            values = {k: a(root, variables) for k, a in args.items()}
            if any(v is None or v is MISSING for v in values.values()):
                return None
            for key, value in values.items():
                if not isinstance(value, str):
                    raise MongoError(51746, f"{name} requires that '{key}' be a string, found: {render(value)}")
            return values["input"].replace(values["find"], values["replacement"], -1 if all_ else 1)

        return run

    return build


def _regex_op(mode: str) -> Callable[[str, Any], Compiled]:
    def build(name: str, arg: Any) -> Compiled:
        from mongolet.query.matcher import compile_regex

        args = _named_args(name, arg, ("input", "regex"), ("options",))

        def run(root: Mapping[str, Any], variables: Variables) -> Any:
            value = args["input"](root, variables)
            pattern = args["regex"](root, variables)
            options = args["options"](root, variables) if "options" in args else None
            if value is None or value is MISSING or pattern is None:
                return False if mode == "match" else (None if mode == "find" else [])
            if not isinstance(value, str):
                raise MongoError(51104, f"{name} needs 'input' to be of type string")
            regex = compile_regex(pattern, options if options is not MISSING else None)
            if mode == "match":
                return regex.search(value) is not None
            found = [
                {"match": m.group(0), "idx": len(value[: m.start()]),
                 "captures": [missing_to_null(g) for g in m.groups()]}
                for m in regex.finditer(value)
            ]
            if mode == "find":
                return found[0] if found else None
            return found

        return run

    return build


_fixed("$concat", (0, None), _concat)
_fixed("$toLower", 1, lambda v: _string_of("$toLower", v).lower())
_fixed("$toUpper", 1, lambda v: _string_of("$toUpper", v).upper())
_fixed("$substr", 3, _substr_bytes)
_fixed("$substrBytes", 3, _substr_bytes)
_fixed("$substrCP", 3, _substr_cp)
_fixed("$strLenCP", 1, _str_len_cp)
_fixed("$strLenBytes", 1, _str_len_bytes)
_fixed("$split", 2, _split)
_fixed("$strcasecmp", 2, _strcasecmp)
_fixed("$indexOfBytes", (2, 4), _index_of("$indexOfBytes"))
_fixed("$indexOfCP", (2, 4), _index_of("$indexOfCP"))
_OPERATORS["$trim"] = _trim("both")
_OPERATORS["$ltrim"] = _trim("left")
_OPERATORS["$rtrim"] = _trim("right")
_OPERATORS["$replaceOne"] = _replace(False)
_OPERATORS["$replaceAll"] = _replace(True)
_OPERATORS["$regexMatch"] = _regex_op("match")
_OPERATORS["$regexFind"] = _regex_op("find")
_OPERATORS["$regexFindAll"] = _regex_op("all")


# --- arrays ------------------------------------------------------------------------------


def _require_array(name: str, value: Any, code: int, what: str = "argument") -> list[Any]:
    if not isinstance(value, list):
        raise MongoError(code, f"The {what} to {name} must be an array, but was of type: {_type_name(value)}")
    return value


def _size(value: Any) -> int:
    if not isinstance(value, list):
        raise MongoError(17124, f"The argument to $size must be an array. Type of argument: {_type_name(value)}")
    return len(value)


def _array_elem_at(array: Any, index: Any) -> Any:
    if array is None or array is MISSING or index is None or index is MISSING:
        return None
    if not isinstance(array, list):
        raise MongoError(28689, f"$arrayElemAt's first argument must be an array, but is {_type_name(array)}")
    if not is_number(index) or numeric(index) != int(numeric(index)):
        raise MongoError(28691 if is_number(index) else 28690, f"$arrayElemAt's second argument must be a numeric value, but is {_type_name(index)}")
    i = int(numeric(index))
    if -len(array) <= i < len(array):
        return array[i]
    return MISSING


def _first_last(name: str, pick: int) -> Callable[[Any], Any]:
    def run(value: Any) -> Any:
        if value is None or value is MISSING:
            return None
        if not isinstance(value, list):
            raise MongoError(28689, f"{name}'s argument must be an array, but is {_type_name(value)}")
        return value[pick] if value else MISSING

    return run


def _in(value: Any, array: Any) -> bool:
    if not isinstance(array, list):
        raise MongoError(40081, f"$in requires an array as a second argument, found: {_type_name(array)}")
    return any(equal(value, element) for element in array)


def _concat_arrays(*values: Any) -> Any:
    out: list[Any] = []
    for value in values:
        if value is None or value is MISSING:
            return None
        if not isinstance(value, list):
            raise MongoError(28664, f"$concatArrays only supports arrays, not {_type_name(value)}")
        out.extend(value)
    return out


def _slice(array: Any, *args: Any) -> Any:
    if array is None or array is MISSING or any(a is None or a is MISSING for a in args):
        return None
    if not isinstance(array, list):
        raise MongoError(28724, f"First argument to $slice must be an array, but is of type: {_type_name(array)}")
    for a in args:
        if not is_number(a) or numeric(a) != int(numeric(a)):
            raise MongoError(28725, f"Second argument to $slice must be a numeric value, but is of type: {_type_name(a)}")
    if len(args) == 1:
        n = int(numeric(args[0]))
        return array[:n] if n >= 0 else array[n:]
    position, n = int(numeric(args[0])), int(numeric(args[1]))
    if n <= 0:
        raise MongoError(28729, f"Third argument to $slice must be positive: {n}")
    start = position if position >= 0 else max(len(array) + position, 0)
    return array[start : start + n]


def _index_of_array(array: Any, search: Any, *bounds: Any) -> Any:
    if array is None or array is MISSING:
        return None
    if not isinstance(array, list):
        raise MongoError(40090, f"$indexOfArray requires an array as a first argument, found: {_type_name(array)}")
    start = int(numeric(bounds[0])) if bounds else 0
    end = int(numeric(bounds[1])) if len(bounds) > 1 else len(array)
    for i in range(start, min(end, len(array))):
        if equal(array[i], search):
            return i
    return -1


def _reverse_array(value: Any) -> Any:
    if value is None or value is MISSING:
        return None
    if not isinstance(value, list):
        raise MongoError(34435, f"The argument to $reverseArray must be an array, but was of type: {_type_name(value)}")
    return list(reversed(value))


def _range(start: Any, end: Any, *step_arg: Any) -> list[int]:
    for what, value, code in (("starting value", start, 34443), ("ending value", end, 34445)):
        if not is_number(value) or numeric(value) != int(numeric(value)):
            raise MongoError(code, f"$range requires a numeric {what} that can be represented as a 32-bit integer, found value: {render(value)}")
    step = 1
    if step_arg:
        if not is_number(step_arg[0]) or numeric(step_arg[0]) != int(numeric(step_arg[0])):
            raise MongoError(34447, f"$range requires a numeric step value that can be represented as a 32-bit integer, found value: {render(step_arg[0])}")
        step = int(numeric(step_arg[0]))
        if step == 0:
            raise MongoError(34449, "$range requires a non-zero step value")
    return list(range(int(numeric(start)), int(numeric(end)), step))


def _array_to_object(value: Any) -> Any:
    if value is None or value is MISSING:
        return None
    if not isinstance(value, list):
        raise MongoError(40386, f"$arrayToObject requires an array input, found: {_type_name(value)}")
    out: dict[str, Any] = {}
    for item in value:
        if isinstance(item, Mapping):
            if set(item) != {"k", "v"}:
                raise MongoError(40392, "$arrayToObject requires an object keys of 'k' and 'v'. Found incorrect number of keys:" f"{len(item)}")
            key, val = item["k"], item["v"]
        elif isinstance(item, list) and len(item) == 2:
            key, val = item
        else:
            raise MongoError(40398, "Unrecognised input type format for $arrayToObject")
        if not isinstance(key, str):
            raise MongoError(40394, f"$arrayToObject requires an object with keys 'k' and 'v', where the value of 'k' must be of type string. Found type: {_type_name(key)}")
        out[key] = val
    return out


def _object_to_array(value: Any) -> Any:
    if value is None or value is MISSING:
        return None
    if not isinstance(value, Mapping):
        raise MongoError(40390, f"$objectToArray requires a document input, found: {_type_name(value)}")
    return [{"k": k, "v": v} for k, v in value.items()]


def _is_array(value: Any) -> bool:
    return isinstance(value, list)


def _set_op(name: str) -> Callable[..., Any]:
    from mongolet.query.values import canonical_key

    def unique(values: list[Any]) -> list[Any]:
        seen: set[Any] = set()
        out = []
        for value in values:
            key = canonical_key(value)
            if key not in seen:
                seen.add(key)
                out.append(value)
        return out

    def run(*arrays: Any) -> Any:
        if name in ("$setUnion", "$setIntersection", "$setDifference") and any(a is None or a is MISSING for a in arrays):
            return None
        for a in arrays:
            if not isinstance(a, list):
                raise MongoError(17044 if name == "$setIsSubset" else 17048 if name == "$setDifference" else 17047,
                                 f"All operands of {name} must be arrays. One argument is of type: {_type_name(a)}")
        keys = [{canonical_key(v) for v in a} for a in arrays]
        if name == "$setUnion":
            return unique([v for a in arrays for v in a])
        if name == "$setIntersection":
            if not arrays:
                return []
            common = set.intersection(*keys)
            return [v for v in unique(arrays[0]) if canonical_key(v) in common]
        if name == "$setDifference":
            return [v for v in unique(arrays[0]) if canonical_key(v) not in keys[1]]
        if name == "$setEquals":
            return all(k == keys[0] for k in keys[1:])
        return keys[0] <= keys[1]  # $setIsSubset

    return run


def _elements_true(name: str, want_all: bool) -> Callable[[Any], bool]:
    def run(value: Any) -> bool:
        if not isinstance(value, list):
            raise MongoError(17040, f"{name}'s argument must be an array, but is {_type_name(value)}")
        tests = (truthy(v) for v in value)
        return all(tests) if want_all else any(tests)

    return run


_fixed("$size", 1, _size)
_fixed("$arrayElemAt", 2, _array_elem_at)
_fixed("$first", 1, _first_last("$first", 0))
_fixed("$last", 1, _first_last("$last", -1))
_fixed("$in", 2, _in)
_fixed("$concatArrays", (0, None), _concat_arrays)
_fixed("$slice", (2, 3), _slice)
_fixed("$isArray", 1, _is_array)
_fixed("$indexOfArray", (2, 4), _index_of_array)
_fixed("$reverseArray", 1, _reverse_array)
_fixed("$range", (2, 3), _range)
_fixed("$arrayToObject", 1, _array_to_object)
_fixed("$objectToArray", 1, _object_to_array)
_fixed("$anyElementTrue", 1, _elements_true("$anyElementTrue", False))
_fixed("$allElementsTrue", 1, _elements_true("$allElementsTrue", True))
for _name in ("$setUnion", "$setIntersection"):
    _fixed(_name, (0, None), _set_op(_name))
for _name in ("$setDifference", "$setEquals", "$setIsSubset"):
    _fixed(_name, 2 if _name != "$setEquals" else (2, None), _set_op(_name))


def _with_scope(variables: Variables, **bound: Any) -> dict[str, Any]:
    scope = dict(variables)
    scope.update(bound)
    return scope


def _check_var_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise MongoError(16866, "empty variable names are not allowed")
    if not (name[0].islower() or not name[0].isascii()) or not all(c.isalnum() or c == "_" or not c.isascii() for c in name):
        raise MongoError(16867, f"'{name}' starts with an invalid character for a user variable name")
    return name


@_register("$filter")
def _filter(name: str, arg: Any) -> Compiled:
    args = _named_args(name, arg, ("input", "cond"), ("as", "limit"))
    var = _check_var_name(arg.get("as", "this"))

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        array = args["input"](root, variables)
        if array is None or array is MISSING:
            return None
        if not isinstance(array, list):
            raise MongoError(28651, f"input to $filter must be an array not {_type_name(array)}")
        limit = args["limit"](root, variables) if "limit" in args else None
        if limit is not None and (not is_number(limit) or numeric(limit) < 1):
            raise MongoError(327391, f"$filter: limit must be greater than 0: {render(limit)}")
        out = []
        for element in array:
            if truthy(args["cond"](root, _with_scope(variables, **{var: element}))):
                out.append(element)
                if limit is not None and len(out) >= int(numeric(limit)):
                    break
        return out

    return run


@_register("$map")
def _map(name: str, arg: Any) -> Compiled:
    args = _named_args(name, arg, ("input", "in"), ("as",))
    var = _check_var_name(arg.get("as", "this"))

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        array = args["input"](root, variables)
        if array is None or array is MISSING:
            return None
        if not isinstance(array, list):
            raise MongoError(16883, f"input to $map must be an array not {_type_name(array)}")
        return [missing_to_null(args["in"](root, _with_scope(variables, **{var: e}))) for e in array]

    return run


@_register("$reduce")
def _reduce(name: str, arg: Any) -> Compiled:
    args = _named_args(name, arg, ("input", "initialValue", "in"))

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        array = args["input"](root, variables)
        if array is None or array is MISSING:
            return None
        if not isinstance(array, list):
            raise MongoError(40080, f"$reduce requires that 'input' be an array, found: {render(array)}")
        value = args["initialValue"](root, variables)
        for element in array:
            value = args["in"](root, _with_scope(variables, value=value, this=element))
        return value

    return run


@_register("$let")
def _let(name: str, arg: Any) -> Compiled:
    if not isinstance(arg, Mapping) or "vars" not in arg or "in" not in arg:
        raise MongoError(16711 if isinstance(arg, Mapping) else 16874,
                         "Missing 'vars' parameter to $let" if isinstance(arg, Mapping) and "vars" not in arg
                         else "Missing 'in' parameter to $let")
    if not isinstance(arg["vars"], Mapping):
        raise MongoError(10065, "invalid parameter: expected an object (vars)")
    bound = [(_check_var_name(k), _compile(v)) for k, v in arg["vars"].items()]
    body = _compile(arg["in"])

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        scope = dict(variables)
        for var, compiled in bound:
            scope[var] = compiled(root, variables)
        return body(root, scope)

    return run


# --- accumulator-like expressions on arrays ($sum: "$arr", $max: [a, b]...) ---------------


def _numbers_of(values: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for value in values:
        if isinstance(value, list):
            flat.extend(v for v in value if is_number(v) and not isinstance(v, bool))
        elif is_number(value) and not isinstance(value, bool):
            flat.append(value)
    return flat


def sum_numbers(numbers: list[Any]) -> Any:
    """$sum's result over numbers: int unless widened; empty sum is 0."""
    if not numbers:
        return 0
    return _numeric_op(numbers, lambda a, b: a + b)


def average(numbers: list[Any]) -> Any:
    if not numbers:
        return None
    if any(isinstance(n, Decimal128) for n in numbers):
        total = sum((_to_decimal(n) for n in numbers), Decimal(0))
        return _decimal_result(total / len(numbers))
    return float(math.fsum(float(numeric(n)) for n in numbers)) / len(numbers)


def _array_accumulator(name: str) -> Callable[[str, Any], Compiled]:
    def build(op: str, arg: Any) -> Compiled:
        single = not isinstance(arg, list)
        args = [_compile(arg)] if single else [_compile(a) for a in arg]

        def run(root: Mapping[str, Any], variables: Variables) -> Any:
            values = [a(root, variables) for a in args]
            if single and isinstance(values[0], list):
                values = values[0]
                expand = False
            else:
                expand = False
            if name in ("$sum", "$avg"):
                numbers = _numbers_of(values) if not expand else values
                return sum_numbers(numbers) if name == "$sum" else average(numbers)
            present = [v for v in values if v is not None and v is not MISSING]
            if not present:
                return None
            best = present[0]
            for v in present[1:]:
                c = compare(v, best)
                if (c < 0 and name == "$min") or (c > 0 and name == "$max"):
                    best = v
            return best

        return run

    return build


for _name in ("$sum", "$avg", "$min", "$max"):
    _OPERATORS[_name] = _array_accumulator(_name)


# --- objects -----------------------------------------------------------------------------


def merge_objects(values: Sequence[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for value in values:
        if value is None or value is MISSING:
            continue
        if not isinstance(value, Mapping):
            raise MongoError(40400, f"$mergeObjects requires object inputs, but input {render(value)} is of type {_type_name(value)}")
        out.update(value)
    return out


_fixed("$mergeObjects", (0, None), lambda *values: merge_objects(values))


@_register("$getField")
def _get_field(name: str, arg: Any) -> Compiled:
    if not isinstance(arg, Mapping):
        arg = {"field": arg}
    args = _named_args(name, arg, ("field",), ("input",))
    if not isinstance(arg["field"], str) and not (isinstance(arg["field"], Mapping) and "$literal" in arg["field"]):
        raise MongoError(5654601, "$getField requires 'field' to evaluate to type String")

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        field = args["field"](root, variables)
        source = args["input"](root, variables) if "input" in args else variables.get("CURRENT", root)
        if not isinstance(field, str):
            raise MongoError(3041704, f"$getField requires 'field' to evaluate to type String, but got {_type_name(field)}")
        if source is None or source is MISSING:
            return None if source is None else MISSING
        if not isinstance(source, Mapping):
            raise MongoError(3041705, f"$getField requires 'input' to evaluate to type Object, but got {_type_name(source)}")
        return source.get(field, MISSING)

    return run


def _set_field_builder(remove: bool) -> Callable[[str, Any], Compiled]:
    def build(name: str, arg: Any) -> Compiled:
        required = ("field", "input") if remove else ("field", "input", "value")
        args = _named_args(name, arg, required)
        field_spec = arg["field"]
        if isinstance(field_spec, Mapping) and "$literal" in field_spec:
            field_spec = field_spec["$literal"]
        if not isinstance(field_spec, str):
            raise MongoError(4161106, f"{name} requires 'field' to evaluate to a constant, but got a non-constant argument")

        def run(root: Mapping[str, Any], variables: Variables) -> Any:
            source = args["input"](root, variables)
            if source is None or source is MISSING:
                return None
            if not isinstance(source, Mapping):
                raise MongoError(4161105, f"{name} requires 'input' to evaluate to type Object")
            out = dict(source)
            value = MISSING if remove else args["value"](root, variables)
            if value is MISSING:
                out.pop(field_spec, None)
            else:
                out[field_spec] = value
            return out

        return run

    return build


_OPERATORS["$setField"] = _set_field_builder(False)
_OPERATORS["$unsetField"] = _set_field_builder(True)


# --- types and conversions ---------------------------------------------------------------


def _type_of(value: Any) -> str:
    return "missing" if value is MISSING else type_alias(value)


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


def _to_string(value: Any) -> str:
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
        return _format_date("%Y-%m-%dT%H:%M:%S.%LZ", value, None)
    raise conversion_failure(f"Unsupported conversion from {_type_name(value)} to string in $convert with no onError value")


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
        return _to_string(value)
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
            raise conversion_failure(f"Unsupported conversion from {_type_name(value)} to {target} in $convert with no onError value")
        low, high = (_INT32_MIN, _INT32_MAX) if target == "int" else (_INT64_MIN, _INT64_MAX)
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
        raise conversion_failure(f"Unsupported conversion from {_type_name(value)} to double in $convert with no onError value")
    if target == "decimal":
        if isinstance(value, bool):
            return Decimal128(str(int(value)))
        if isinstance(value, str):
            return _decimal_result(_parse_number_string(value, "decimal"))
        if isinstance(value, datetime.datetime):
            return Decimal128(str(date_millis(value)))
        if _is_number_op(value):
            return _decimal_result(_to_decimal(value))
        raise conversion_failure(f"Unsupported conversion from {_type_name(value)} to decimal in $convert with no onError value")
    if target == "objectId":
        if isinstance(value, ObjectId):
            return value
        if isinstance(value, str):
            try:
                return ObjectId(value)
            except Exception:
                raise conversion_failure(f"Failed to parse objectId '{value}' in $convert with no onError value: Invalid string length for parsing to OID, expected 24 but found {len(value)}") from None
        raise conversion_failure(f"Unsupported conversion from {_type_name(value)} to objectId in $convert with no onError value")
    if target == "date":
        if isinstance(value, datetime.datetime):
            return value
        if isinstance(value, ObjectId):
            return value.generation_time.replace(tzinfo=None)
        if isinstance(value, Timestamp):
            return _date_from_millis(value.time * 1000)
        if _is_number_op(value) and not (type(value) is int and _INT32_MIN <= value <= _INT32_MAX):
            return _date_from_millis(int(numeric(value)))
        if isinstance(value, str):
            try:
                parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise conversion_failure(f"Error parsing date string '{value}'") from None
            if parsed.tzinfo is not None:
                parsed = parsed.astimezone(datetime.UTC).replace(tzinfo=None)
            return parsed
        raise conversion_failure(f"Unsupported conversion from {_type_name(value)} to date in $convert with no onError value")
    raise bad_value(f"Unknown type name: {target}")


_CONVERT_TARGETS = {1: "double", 2: "string", 7: "objectId", 8: "bool", 9: "date", 16: "int", 18: "long", 19: "decimal"}


@_register("$convert")
def _convert(name: str, arg: Any) -> Compiled:
    args = _named_args(name, arg, ("input", "to"), ("onError", "onNull"))

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


_fixed("$type", 1, _type_of)
_fixed("$isNumber", 1, _is_number_op)
for _target, _name in (("int", "$toInt"), ("long", "$toLong"), ("double", "$toDouble"), ("decimal", "$toDecimal"),
                       ("string", "$toString"), ("objectId", "$toObjectId"), ("bool", "$toBool"), ("date", "$toDate")):
    _fixed(_name, 1, _converter(_target))


# --- dates -------------------------------------------------------------------------------


def _zone(spec: Any) -> datetime.tzinfo | None:
    if spec is None or spec is MISSING:
        return None
    if not isinstance(spec, str):
        raise MongoError(40517, f"timezone must evaluate to a string, found {_type_name(spec)}")
    if spec in ("UTC", "GMT", "Z", "+00:00", "+0000", "+00"):
        return None
    if spec[0] in "+-":
        digits = spec[1:].replace(":", "")
        if digits.isdigit() and len(digits) in (2, 4):
            hours, minutes = int(digits[:2]), int(digits[2:] or 0)
            offset = datetime.timedelta(hours=hours, minutes=minutes)
            return datetime.timezone(offset if spec[0] == "+" else -offset)
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(spec)
    except Exception:
        raise MongoError(40485, f"unrecognized time zone identifier: \"{spec}\"") from None


def _local(date: Any, zone: datetime.tzinfo | None) -> datetime.datetime:
    if isinstance(date, Timestamp):
        date = _date_from_millis(date.time * 1000)
    elif isinstance(date, ObjectId):
        date = date.generation_time.replace(tzinfo=None)
    if isinstance(date, datetime.datetime) and date.tzinfo is not None:
        date = date.astimezone(datetime.UTC).replace(tzinfo=None)
    if zone is None:
        return date
    return date.replace(tzinfo=datetime.UTC).astimezone(zone).replace(tzinfo=None)


def _date_part(name: str, pick: Callable[[datetime.datetime], int]) -> Callable[[str, Any], Compiled]:
    def build(op: str, arg: Any) -> Compiled:
        if isinstance(arg, Mapping) and "date" in arg:
            args = _named_args(op, arg, ("date",), ("timezone",))
            date_arg, zone_arg = args["date"], args.get("timezone")
        else:
            date_arg = _arguments(op, arg, 1)[0]
            zone_arg = None

        def run(root: Mapping[str, Any], variables: Variables) -> Any:
            date = date_arg(root, variables)
            if date is None or date is MISSING:
                return None
            if not isinstance(date, (datetime.datetime, Timestamp, ObjectId)):
                raise MongoError(16006, f"can't convert from BSON type {_type_name(date)} to Date")
            zone = _zone(zone_arg(root, variables)) if zone_arg else None
            return pick(_local(date, zone))

        return run

    return build


for _name, _pick in (
    ("$year", lambda d: d.year),
    ("$month", lambda d: d.month),
    ("$dayOfMonth", lambda d: d.day),
    ("$hour", lambda d: d.hour),
    ("$minute", lambda d: d.minute),
    ("$second", lambda d: d.second),
    ("$millisecond", lambda d: d.microsecond // 1000),
    ("$dayOfYear", lambda d: d.timetuple().tm_yday),
    ("$dayOfWeek", lambda d: d.isoweekday() % 7 + 1),
    ("$week", lambda d: int(d.strftime("%U"))),
    ("$isoWeek", lambda d: d.isocalendar()[1]),
    ("$isoWeekYear", lambda d: d.isocalendar()[0]),
    ("$isoDayOfWeek", lambda d: d.isoweekday()),
):
    _OPERATORS[_name] = _date_part(_name, _pick)


_FORMAT_CODES: dict[str, Callable[[datetime.datetime], str]] = {
    "Y": lambda d: f"{d.year:04d}",
    "m": lambda d: f"{d.month:02d}",
    "d": lambda d: f"{d.day:02d}",
    "H": lambda d: f"{d.hour:02d}",
    "M": lambda d: f"{d.minute:02d}",
    "S": lambda d: f"{d.second:02d}",
    "L": lambda d: f"{d.microsecond // 1000:03d}",
    "j": lambda d: f"{d.timetuple().tm_yday:03d}",
    "w": lambda d: str(d.isoweekday() % 7 + 1),
    "u": lambda d: str(d.isoweekday()),
    "U": lambda d: d.strftime("%U"),
    "V": lambda d: f"{d.isocalendar()[1]:02d}",
    "G": lambda d: f"{d.isocalendar()[0]:04d}",
    "b": lambda d: d.strftime("%b"),
    "B": lambda d: d.strftime("%B"),
    "%": lambda d: "%",
}


def _format_date(fmt: str, date: Any, zone: datetime.tzinfo | None) -> str:
    local = _local(date, zone)
    out = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= len(fmt):
            raise MongoError(18535, "Unmatched '%' at end of format string")
        code = fmt[i + 1]
        if code == "z" or code == "Z":
            offset = (local - _local(date, None)).total_seconds() // 60 if zone else 0
            sign = "+" if offset >= 0 else "-"
            offset = abs(int(offset))
            out.append(f"{sign}{offset // 60:02d}{offset % 60:02d}" if code == "z" else f"{sign if offset else '+'}{offset}")
        elif code in _FORMAT_CODES:
            out.append(_FORMAT_CODES[code](local))
        else:
            raise MongoError(18536, f"Invalid format character '%{code}' in format string")
        i += 2
    return "".join(out)


@_register("$dateToString")
def _date_to_string(name: str, arg: Any) -> Compiled:
    args = _named_args(name, arg, ("date",), ("format", "timezone", "onNull"))

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        date = args["date"](root, variables)
        if date is None or date is MISSING:
            return args["onNull"](root, variables) if "onNull" in args else None
        if not isinstance(date, (datetime.datetime, Timestamp, ObjectId)):
            raise MongoError(16006, f"can't convert from BSON type {_type_name(date)} to Date")
        fmt = args["format"](root, variables) if "format" in args else "%Y-%m-%dT%H:%M:%S.%LZ"
        if not isinstance(fmt, str):
            raise MongoError(18533, f"$dateToString requires that 'format' be a string, found: {_type_name(fmt)} with value {render(fmt)}")
        zone = _zone(args["timezone"](root, variables)) if "timezone" in args else None
        return _format_date(fmt, date, zone)

    return run


@_register("$dateFromString")
def _date_from_string(name: str, arg: Any) -> Compiled:
    args = _named_args(name, arg, ("dateString",), ("format", "timezone", "onNull", "onError"))

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        text = args["dateString"](root, variables)
        if text is None or text is MISSING:
            return args["onNull"](root, variables) if "onNull" in args else None
        try:
            if not isinstance(text, str):
                raise conversion_failure(f"$dateFromString requires that 'dateString' be a string, found: {_type_name(text)} with value {render(text)}")
            if "format" in args:
                fmt = args["format"](root, variables)
                parsed = datetime.datetime.strptime(text, fmt.replace("%L", "%f"))
            else:
                parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if parsed.tzinfo is not None:
                return parsed.astimezone(datetime.UTC).replace(tzinfo=None)
            zone = _zone(args["timezone"](root, variables)) if "timezone" in args else None
            if zone is not None:
                return parsed.replace(tzinfo=zone).astimezone(datetime.UTC).replace(tzinfo=None)
            return parsed
        except (ValueError, MongoError) as exc:
            if "onError" in args:
                return args["onError"](root, variables)
            if isinstance(exc, MongoError):
                raise
            raise conversion_failure(f"Error parsing date string '{text}'") from None

    return run


@_register("$meta")
def _meta(name: str, arg: Any) -> Compiled:
    raise MongoError(17308, f"$meta '{arg}' is not supported by mongolet")


@_register("$rand")
def _rand(name: str, arg: Any) -> Compiled:
    if arg != {}:
        raise MongoError(3040501, "$rand does not currently accept arguments")
    import random

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        return random.random()

    return run


for _unsupported in ("$function", "$accumulator"):

    def _refuse(name: str, arg: Any) -> Compiled:
        raise MongoError(31264 if name == "$function" else 168,
                         f"{name} is not supported by mongolet: it runs no server-side "
                         "JavaScript")

    _OPERATORS[_unsupported] = _refuse
