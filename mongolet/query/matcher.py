"""The query language: ``compile_filter(filter)(doc) -> bool``.

A filter is compiled once into a tree of closures. Each field condition works on the list of
values its path reaches (``paths.match_values``: arrays on the way expanded, ``MISSING`` for
absent fields). Element-wise operators ($eq, $gt, $in, $regex, $type, $mod...) also try the
elements of a reached array, as mongod does; whole-value operators ($size, $elemMatch,
$exists) do not.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bson import Int64, ObjectId, Regex

from mongolet.errors import MongoError, bad_value
from mongolet.query._errors import no_query_plans
from mongolet.query.collation import active as active_collation
from mongolet.query.paths import MISSING, match_values, split_path
from mongolet.query.values import (
    MAXKEY,
    MINKEY,
    NULL,
    bracket,
    canonical_key,
    compare,
    equal,
    has_type,
    is_nan,
    is_number,
    numeric,
    parse_type_spec,
    truthy,
)
from mongolet.query.values import _compare_same_bracket as compare_same_bracket

Predicate = Callable[[Mapping[str, Any]], bool]
ValuesPredicate = Callable[[list[Any]], bool]
ElementPredicate = Callable[[Any], bool]

_FAST_NUMBERS = frozenset({int, float, Int64})


def compile_filter(
    filter: Mapping[str, Any] | None,
    *,
    variables: Mapping[str, Any] | None = None,
) -> Callable[[Mapping[str, Any]], bool]:
    """Compile a query filter once into a predicate; raises MongoError 2 for bad operators.
    ``variables`` are the ``let`` variables ``$expr`` can use."""
    if filter is None:
        return _always_true
    if not isinstance(filter, Mapping):
        raise bad_value("query filter must be an object")
    return _compile_document(filter, variables)


def _always_true(doc: Mapping[str, Any]) -> bool:
    return True


def _always_false(doc: Mapping[str, Any]) -> bool:
    return False


def _all_of(preds: list[Predicate]) -> Predicate:
    if not preds:
        return _always_true
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        first, second = preds

        def both(doc: Mapping[str, Any]) -> bool:
            return first(doc) and second(doc)

        return both
    frozen = tuple(preds)

    def every(doc: Mapping[str, Any]) -> bool:
        for pred in frozen:  # noqa: SIM110 - hot path, no generator
            if not pred(doc):
                return False
        return True

    return every


def _compile_document(query: Mapping[str, Any], variables: Mapping[str, Any] | None) -> Predicate:
    preds: list[Predicate] = []
    for key, value in query.items():
        if not isinstance(key, str):
            raise bad_value("field names must be strings")
        if key.startswith("$"):
            pred = _compile_top_operator(key, value, variables)
            if pred is not None:
                preds.append(pred)
        else:
            preds.append(_compile_field(key, value, variables))
    return _all_of(preds)


# --- top-level operators ---------------------------------------------------------------


def _logical_branches(name: str, value: Any, variables: Mapping[str, Any] | None) -> list[Predicate]:
    if not isinstance(value, list) or not value:
        raise bad_value(f"{name} must be a nonempty array")
    branches = []
    for entry in value:
        if not isinstance(entry, Mapping):
            raise bad_value("$or/$and/$nor entries need to be full objects")
        branches.append(_compile_document(entry, variables))
    return branches


def _compile_top_operator(
    name: str, value: Any, variables: Mapping[str, Any] | None
) -> Predicate | None:
    if name == "$and":
        return _all_of(_logical_branches(name, value, variables))
    if name == "$or":
        branches = tuple(_logical_branches(name, value, variables))
        if len(branches) == 1:
            return branches[0]

        def any_of(doc: Mapping[str, Any]) -> bool:
            for branch in branches:  # noqa: SIM110 - hot path, no generator
                if branch(doc):
                    return True
            return False

        return any_of
    if name == "$nor":
        nor_branches = tuple(_logical_branches(name, value, variables))

        def none_of(doc: Mapping[str, Any]) -> bool:
            for branch in nor_branches:  # noqa: SIM110 - hot path, no generator
                if branch(doc):
                    return False
            return True

        return none_of
    if name == "$expr":
        return _compile_expr(value, variables)
    if name == "$comment":
        return None
    if name == "$alwaysTrue":
        return _always_true
    if name == "$alwaysFalse":
        return _always_false
    if name == "$where":
        raise bad_value("$where is not supported by mongolet: it runs no server-side "
                        "JavaScript (use $expr)")
    if name == "$text":
        raise MongoError(27, "text index required for $text query")
    if name == "$jsonSchema":
        raise bad_value("$jsonSchema is not supported by mongolet")
    raise bad_value(
        f"unknown top level operator: {name}. If you have a field name that starts with a '$' "
        "symbol, consider using $getField or $setField."
    )


def _compile_expr(expr: Any, variables: Mapping[str, Any] | None) -> Predicate:
    from mongolet.query.expressions import compile_expression

    compiled = compile_expression(expr)
    bound = dict(variables or {})

    def expr_true(doc: Mapping[str, Any]) -> bool:
        return truthy(compiled(doc, bound))

    return expr_true


# --- field conditions ------------------------------------------------------------------


def is_operator_object(value: Any) -> bool:
    """``{$gt: 1}`` style (first key an operator), as opposed to a literal document."""
    if not isinstance(value, Mapping) or not value:
        return False
    first = next(iter(value))
    return isinstance(first, str) and first.startswith("$") and first not in ("$ref", "$id", "$db")


def _is_regex(value: Any) -> bool:
    return isinstance(value, (re.Pattern, Regex))


def _compile_field(path: str, condition: Any, variables: Mapping[str, Any] | None) -> Predicate:
    if is_operator_object(condition):
        checks = _compile_operators(condition, variables)
    elif _is_regex(condition):
        checks = [_elementwise(_regex_predicate(condition))]
    else:
        element = _eq_predicate(condition)
        return _field_predicate(path, [_elementwise(element)], single_element=element)
    return _field_predicate(path, checks)


def _field_predicate(
    path: str, checks: list[ValuesPredicate], single_element: ElementPredicate | None = None
) -> Predicate:
    if "." not in path:
        key = path
        if single_element is not None:
            p = single_element

            def simple_field(doc: Mapping[str, Any]) -> bool:
                value = doc.get(key, MISSING)
                if p(value):
                    return True
                if type(value) is list:
                    for element in value:
                        if p(element):
                            return True
                return False

            return simple_field
        check = _all_checks(checks)

        def top_field(doc: Mapping[str, Any]) -> bool:
            return check([doc.get(key, MISSING)])

        return top_field
    parts = split_path(path)
    if any(not part for part in parts):
        raise bad_value(f"FieldPath field names may not be empty strings: '{path}'")
    check = _all_checks(checks)

    def dotted_field(doc: Mapping[str, Any]) -> bool:
        return check(match_values(doc, parts))

    return dotted_field


def _all_checks(checks: list[ValuesPredicate]) -> ValuesPredicate:
    if len(checks) == 1:
        return checks[0]
    frozen = tuple(checks)

    def every(values: list[Any]) -> bool:
        for check in frozen:  # noqa: SIM110 - hot path, no generator
            if not check(values):
                return False
        return True

    return every


def _elementwise(p: ElementPredicate) -> ValuesPredicate:
    """True if ``p`` holds for a reached value or for an element of a reached array."""

    def any_value(values: list[Any]) -> bool:
        for value in values:
            if p(value):
                return True
            if type(value) is list:
                for element in value:
                    if p(element):
                        return True
        return False

    return any_value


def _negate(check: ValuesPredicate) -> ValuesPredicate:
    def negated(values: list[Any]) -> bool:
        return not check(values)

    return negated


def compile_operators(condition: Mapping[str, Any]) -> ValuesPredicate:
    """The checks of an operator object (``{$gt: 1, $lt: 5}``) over a path's values."""
    return _all_checks(_compile_operators(condition, None))


def _compile_operators(
    condition: Mapping[str, Any], variables: Mapping[str, Any] | None
) -> list[ValuesPredicate]:
    checks: list[ValuesPredicate] = []
    for name, arg in condition.items():
        if name == "$options":
            if "$regex" not in condition:
                raise bad_value("$options needs a $regex")
            continue
        if name == "$regex":
            checks.append(_elementwise(_regex_predicate(arg, condition.get("$options"))))
            continue
        builder = _OPERATORS.get(name)
        if builder is None:
            if name in _GEO_OPERATORS:
                raise _geo_error(name)
            raise bad_value(f"unknown operator: {name}")
        checks.append(builder(arg, variables))
    return checks


_GEO_OPERATORS = frozenset({"$near", "$nearSphere", "$geoWithin", "$geoIntersects", "$within"})


def _geo_error(name: str) -> MongoError:
    if name in ("$near", "$nearSphere"):
        return no_query_plans(f"error processing query: unable to find index for $geoNear query ({name})")
    return bad_value(f"{name} is not supported by mongolet (no geospatial support)")


# --- element predicates ------------------------------------------------------------------


def _eq_predicate(target: Any) -> ElementPredicate:
    t = type(target)
    if target is None:
        return _is_null_or_missing
    if t is str and active_collation() is None:

        def eq_str(value: Any) -> bool:
            return type(value) is str and value == target

        return eq_str
    if t is bool:

        def eq_bool(value: Any) -> bool:
            return type(value) is bool and value == target

        return eq_bool
    if t in _FAST_NUMBERS and not (t is float and math.isnan(target)):

        def eq_number(value: Any) -> bool:
            vt = type(value)
            if vt in _FAST_NUMBERS:
                return bool(value == target)
            return vt is not bool and is_number(value) and numeric(value) == target

        return eq_number
    if is_nan(target):
        return is_nan
    if t is ObjectId:

        def eq_oid(value: Any) -> bool:
            return type(value) is ObjectId and value == target

        return eq_oid
    kind = bracket(target)

    def eq_any(value: Any) -> bool:
        if value is MISSING:
            return False
        return bracket(value) == kind and compare_same_bracket(kind, value, target) == 0

    return eq_any


def _is_null_or_missing(value: Any) -> bool:
    return value is None or value is MISSING


_OPS: dict[str, Callable[[int], bool]] = {
    "$gt": lambda c: c > 0,
    "$gte": lambda c: c >= 0,
    "$lt": lambda c: c < 0,
    "$lte": lambda c: c <= 0,
}


def _comparison_predicate(op: str, target: Any) -> ElementPredicate:
    accept = _OPS[op]
    if target is None:
        if op in ("$gte", "$lte"):
            return _is_null_or_missing
        return _never
    if is_nan(target):
        if op in ("$gte", "$lte"):
            return is_nan
        return _never
    kind = bracket(target)
    if kind in (MINKEY, MAXKEY):
        # MinKey and MaxKey bound every type.
        def across_types(value: Any) -> bool:
            return value is not MISSING and accept(compare(value, target))

        return across_types
    if type(target) in _FAST_NUMBERS:
        number = target
        py_op = {"$gt": _gt, "$gte": _ge, "$lt": _lt, "$lte": _le}[op]

        def compare_number(value: Any) -> bool:
            vt = type(value)
            if vt in _FAST_NUMBERS:
                return py_op(value, number)
            if vt is bool or not is_number(value) or is_nan(value):
                return False
            return py_op(numeric(value), number)

        return compare_number

    def compare_bracket(value: Any) -> bool:
        if value is MISSING or bracket(value) != kind:
            return False
        if kind == NULL:
            return accept(0)
        if is_nan(value):
            return False
        return accept(compare_same_bracket(kind, value, target))

    return compare_bracket


def _gt(a: Any, b: Any) -> bool:
    return bool(a > b)


def _ge(a: Any, b: Any) -> bool:
    return bool(a >= b)


def _lt(a: Any, b: Any) -> bool:
    return bool(a < b)


def _le(a: Any, b: Any) -> bool:
    return bool(a <= b)


def _never(value: Any) -> bool:
    return False


_REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE, "u": 0}


def compile_regex(pattern: Any, options: Any = None) -> re.Pattern[str]:
    """A Python regex for a BSON regex, a ``re.Pattern``, or a pattern string + options."""
    if isinstance(pattern, re.Pattern):
        if options:
            raise MongoError(51075, "options set in both $regex and $options")
        return pattern
    if isinstance(pattern, Regex):
        if options and pattern.flags:
            raise MongoError(51075, "options set in both $regex and $options")
        flags = pattern.flags if isinstance(pattern.flags, int) else _flags_from(pattern.flags)
        if options:
            flags |= _flags_from(options)
        source = pattern.pattern
        if isinstance(source, bytes):
            source = source.decode()
        return _compile_python_regex(source, flags)
    if not isinstance(pattern, str):
        raise bad_value("$regex has to be a string")
    if options is not None and not isinstance(options, str):
        raise bad_value("$options has to be a string")
    return _compile_python_regex(pattern, _flags_from(options or ""))


def _flags_from(options: str) -> int:
    flags = 0
    for letter in options:
        if letter not in _REGEX_FLAGS:
            raise MongoError(51108, f"invalid flag in regex options: {letter}")
        flags |= _REGEX_FLAGS[letter]
    return flags


def _compile_python_regex(source: str, flags: int) -> re.Pattern[str]:
    try:
        return re.compile(source, flags & ~re.LOCALE)
    except re.error as exc:
        raise MongoError(51091, f"Regular expression is invalid: {exc}") from None


def _regex_predicate(pattern: Any, options: Any = None) -> ElementPredicate:
    regex = compile_regex(pattern, options)
    literal = pattern if _is_regex(pattern) and not options else None
    search = regex.search

    def matches(value: Any) -> bool:
        if type(value) is str:
            return search(value) is not None
        if literal is not None and _is_regex(value):
            return equal(value, literal)
        return False

    return matches


# --- operators ----------------------------------------------------------------------------


def _op_eq(arg: Any, variables: Any) -> ValuesPredicate:
    return _elementwise(_eq_predicate(arg))


def _op_ne(arg: Any, variables: Any) -> ValuesPredicate:
    if _is_regex(arg):
        raise bad_value("Can't have regex as arg to $ne.")
    return _negate(_elementwise(_eq_predicate(arg)))


def _comparison(op: str) -> Callable[[Any, Any], ValuesPredicate]:
    def build(arg: Any, variables: Any) -> ValuesPredicate:
        return _elementwise(_comparison_predicate(op, arg))

    return build


def in_predicate(arg: Any, name: str = "$in") -> ElementPredicate:
    """``$in``'s test for one value: equal to a listed value or matching a listed regex."""
    if not isinstance(arg, list):
        raise bad_value(f"{name} needs an array")
    keys = set()
    regexes = []
    has_null = False
    for item in arg:
        if _is_regex(item):
            regexes.append(_regex_predicate(item))
        elif is_operator_object(item):
            raise bad_value(f"cannot nest $ under {name}")
        else:
            if item is None:
                has_null = True
            keys.add(canonical_key(item))
    regex_tests = tuple(regexes)

    def is_in(value: Any) -> bool:
        if value is MISSING:
            return has_null
        if canonical_key(value) in keys:
            return True
        for test in regex_tests:  # noqa: SIM110 - hot path, no generator
            if test(value):
                return True
        return False

    return is_in


def _op_in(arg: Any, variables: Any) -> ValuesPredicate:
    return _elementwise(in_predicate(arg))


def _op_nin(arg: Any, variables: Any) -> ValuesPredicate:
    return _negate(_elementwise(in_predicate(arg, "$nin")))


def _op_exists(arg: Any, variables: Any) -> ValuesPredicate:
    want = truthy(arg)

    def exists(values: list[Any]) -> bool:
        found = any(value is not MISSING for value in values)
        return found if want else not found

    return exists


def _op_type(arg: Any, variables: Any) -> ValuesPredicate:
    specs = arg if isinstance(arg, list) else [arg]
    if isinstance(arg, list) and not arg:
        raise bad_value("$type must match at least one type")
    wanted = tuple(parse_type_spec(spec) for spec in specs)

    def of_type(value: Any) -> bool:
        if value is MISSING:
            return False
        return any(has_type(value, w) for w in wanted)

    return _elementwise(of_type)


def _op_size(arg: Any, variables: Any) -> ValuesPredicate:
    if not is_number(arg):
        raise bad_value("$size needs a number")
    number = numeric(arg)
    if number != number or number != int(number):
        raise bad_value("$size must be a whole number")
    if number < 0:
        raise bad_value("$size may not be negative")
    size = int(number)

    def has_size(values: list[Any]) -> bool:
        return any(type(value) is list and len(value) == size for value in values)

    return has_size


def _op_mod(arg: Any, variables: Any) -> ValuesPredicate:
    if not isinstance(arg, list):
        raise bad_value("malformed mod, needs to be an array")
    if len(arg) < 2:
        raise bad_value("malformed mod, not enough elements")
    if len(arg) > 2:
        raise bad_value("malformed mod, too many elements")
    divisor_arg, remainder_arg = arg
    if not is_number(divisor_arg):
        raise bad_value("malformed mod, divisor not a number")
    if not is_number(remainder_arg):
        raise bad_value("malformed mod, remainder not a number")
    for what, bound in (("divisor", divisor_arg), ("remainder", remainder_arg)):
        number = numeric(bound)
        if number != number or number in (math.inf, -math.inf):
            raise bad_value(f"malformed mod, {what} value is invalid :: caused by :: "
                            "Unable to coerce NaN/Inf to integral type")
    divisor = int(numeric(divisor_arg))
    remainder = int(numeric(remainder_arg))
    if divisor == 0:
        raise bad_value("divisor cannot be 0")

    def mod_matches(value: Any) -> bool:
        if type(value) is bool or not is_number(value):
            return False
        number = numeric(value)
        if number != number or number in (math.inf, -math.inf):
            return False
        return truncated_mod(int(number), divisor) == remainder

    return _elementwise(mod_matches)


def truncated_mod(dividend: int, divisor: int) -> int:
    """C's ``%``: the remainder has the sign of the dividend."""
    result = abs(dividend) % abs(divisor)
    return -result if dividend < 0 else result


_TOP_LEVEL_ONLY = frozenset({"$and", "$or", "$nor", "$where", "$text", "$comment", "$expr",
                             "$jsonSchema", "$alwaysTrue", "$alwaysFalse"})


def elem_match_predicate(arg: Any, variables: Mapping[str, Any] | None = None) -> ElementPredicate:
    """``$elemMatch``'s test for one array element (value form or query form)."""
    if not isinstance(arg, Mapping):
        raise bad_value("$elemMatch needs an Object")
    first = next(iter(arg), None)
    if isinstance(first, str) and first.startswith("$") and first not in _TOP_LEVEL_ONLY:
        check = _all_checks(_compile_operators(arg, variables))

        def value_matches(element: Any) -> bool:
            return check([element])

        return value_matches
    if "$where" in arg:
        raise bad_value("$where is not allowed in this context")
    query = _compile_document(arg, variables)

    def document_matches(element: Any) -> bool:
        return isinstance(element, Mapping) and query(element)

    return document_matches


def _op_elem_match(arg: Any, variables: Any) -> ValuesPredicate:
    test = elem_match_predicate(arg, variables)

    def elem_match(values: list[Any]) -> bool:
        for value in values:
            if type(value) is list:
                for element in value:
                    if test(element):
                        return True
        return False

    return elem_match


def _op_all(arg: Any, variables: Any) -> ValuesPredicate:
    if not isinstance(arg, list):
        raise bad_value("$all needs an array")
    if not arg:
        return lambda values: False
    with_elem_match = [isinstance(item, Mapping) and next(iter(item), None) == "$elemMatch"
                       for item in arg]
    if any(with_elem_match) and not all(with_elem_match):
        raise bad_value("$all/$elemMatch has to be consistent")
    checks: list[ValuesPredicate] = []
    for item in arg:
        if any(with_elem_match):
            if len(item) != 1:
                raise bad_value("$all/$elemMatch has to be consistent")
            checks.append(_op_elem_match(item["$elemMatch"], variables))
        elif _is_regex(item):
            checks.append(_elementwise(_regex_predicate(item)))
        elif is_operator_object(item):
            raise bad_value("no $ expressions in $all")
        else:
            checks.append(_elementwise(_eq_predicate(item)))
    return _all_checks(checks)


def _op_not(arg: Any, variables: Any) -> ValuesPredicate:
    if _is_regex(arg):
        return _negate(_elementwise(_regex_predicate(arg)))
    if not isinstance(arg, Mapping):
        raise bad_value("$not needs a regex or a document")
    if not arg:
        raise bad_value("$not cannot be empty")
    first = next(iter(arg))
    if not (isinstance(first, str) and first.startswith("$")):
        raise bad_value(f"unknown operator: {first}")
    return _negate(_all_checks(_compile_operators(arg, variables)))


def _bits_positions(name: str, arg: Any) -> int:
    """The bit mask of a $bitsAllSet-style argument (a mask number or positions list)."""
    if isinstance(arg, list):
        mask = 0
        for position in arg:
            if not is_number(position) or numeric(position) != int(numeric(position)):
                raise bad_value(f"bit positions must be an integer but got: {position!r}")
            if int(numeric(position)) < 0:
                raise bad_value(f"bit positions must be >= 0 but got: {position!r}")
            mask |= 1 << int(numeric(position))
        return mask
    if is_number(arg):
        number = numeric(arg)
        if number != int(number):
            raise bad_value(f"{name} cannot represent value as integer: {arg!r}")
        if number < 0:
            raise bad_value(f"{name} cannot represent a negative value: {arg!r}")
        return int(number)
    from bson import Binary

    if isinstance(arg, (bytes, Binary)):
        return int.from_bytes(bytes(arg), "little")
    raise bad_value(f"{name} takes an Array, a number, or a BinData but received: {arg!r}")


def _bits(name: str) -> Callable[[Any, Any], ValuesPredicate]:
    def build(arg: Any, variables: Any) -> ValuesPredicate:
        mask = _bits_positions(name, arg)

        def test(value: Any) -> bool:
            if type(value) is bool:
                return False
            if is_number(value):
                number = numeric(value)
                if number != number or number != int(number):
                    return False
                bits = int(number) & ((1 << 64) - 1) if number < 0 else int(number)
                if number < 0:
                    bits |= ~((1 << 64) - 1)  # sign-extended beyond 64 bits
            elif isinstance(value, bytes):
                bits = int.from_bytes(bytes(value), "little")
            else:
                return False
            selected = bits & mask
            if name == "$bitsAllSet":
                return selected == mask
            if name == "$bitsAnySet":
                return selected != 0
            if name == "$bitsAllClear":
                return selected == 0
            return selected != mask  # $bitsAnyClear

        return _elementwise(test)

    return build


_OPERATORS: dict[str, Callable[[Any, Any], ValuesPredicate]] = {
    "$eq": _op_eq,
    "$ne": _op_ne,
    "$gt": _comparison("$gt"),
    "$gte": _comparison("$gte"),
    "$lt": _comparison("$lt"),
    "$lte": _comparison("$lte"),
    "$in": _op_in,
    "$nin": _op_nin,
    "$exists": _op_exists,
    "$type": _op_type,
    "$size": _op_size,
    "$mod": _op_mod,
    "$elemMatch": _op_elem_match,
    "$all": _op_all,
    "$not": _op_not,
    "$bitsAllSet": _bits("$bitsAllSet"),
    "$bitsAnySet": _bits("$bitsAnySet"),
    "$bitsAllClear": _bits("$bitsAllClear"),
    "$bitsAnyClear": _bits("$bitsAnyClear"),
}


def matches(filter: Mapping[str, Any] | None, doc: Mapping[str, Any]) -> bool:
    """One-off match (compiles the filter each call: prefer ``compile_filter``)."""
    return compile_filter(filter)(doc)


def equality_conditions(filter: Mapping[str, Any]) -> Sequence[tuple[str, Any]]:
    """The ``path: value`` equalities of a filter (top level and inside ``$and``), for
    upserts and index lookups."""
    found: list[tuple[str, Any]] = []
    for key, value in filter.items():
        if key == "$and" and isinstance(value, list):
            for branch in value:
                if isinstance(branch, Mapping):
                    found.extend(equality_conditions(branch))
        elif key.startswith("$"):
            continue
        elif is_operator_object(value):
            if "$eq" in value:
                found.append((key, value["$eq"]))
        elif not _is_regex(value):
            found.append((key, value))
    return found
