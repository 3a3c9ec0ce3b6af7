"""Array operators: $size, $arrayElemAt, $in, $slice, set operators, $filter, $map, $reduce..."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mongolet.errors import MongoError
from mongolet.query.expressions.compiler import (
    Compiled,
    Variables,
    check_var_name,
    fixed,
    missing_to_null,
    named_args,
    register,
    with_scope,
)
from mongolet.query.values import (
    MISSING,
    canonical_key,
    equal,
    is_number,
    numeric,
    render,
    truthy,
    type_name,
    unique_values,
)


def _size(value: Any) -> int:
    if not isinstance(value, list):
        raise MongoError(17124, f"The argument to $size must be an array. Type of argument: {type_name(value)}")
    return len(value)


def _array_elem_at(array: Any, index: Any) -> Any:
    if array is None or array is MISSING or index is None or index is MISSING:
        return None
    if not isinstance(array, list):
        raise MongoError(28689, f"$arrayElemAt's first argument must be an array, but is {type_name(array)}")
    if not is_number(index) or numeric(index) != int(numeric(index)):
        raise MongoError(28691 if is_number(index) else 28690, f"$arrayElemAt's second argument must be a numeric value, but is {type_name(index)}")
    i = int(numeric(index))
    if -len(array) <= i < len(array):
        return array[i]
    return MISSING


def _first_last(name: str, pick: int) -> Callable[[Any], Any]:
    def run(value: Any) -> Any:
        if value is None or value is MISSING:
            return None
        if not isinstance(value, list):
            raise MongoError(28689, f"{name}'s argument must be an array, but is {type_name(value)}")
        return value[pick] if value else MISSING

    return run


def _in(value: Any, array: Any) -> bool:
    if not isinstance(array, list):
        raise MongoError(40081, f"$in requires an array as a second argument, found: {type_name(array)}")
    return any(equal(value, element) for element in array)


def _concat_arrays(*values: Any) -> Any:
    out: list[Any] = []
    for value in values:
        if value is None or value is MISSING:
            return None
        if not isinstance(value, list):
            raise MongoError(28664, f"$concatArrays only supports arrays, not {type_name(value)}")
        out.extend(value)
    return out


def _slice(array: Any, *args: Any) -> Any:
    if array is None or array is MISSING or any(a is None or a is MISSING for a in args):
        return None
    if not isinstance(array, list):
        raise MongoError(28724, f"First argument to $slice must be an array, but is of type: {type_name(array)}")
    for a in args:
        if not is_number(a) or numeric(a) != int(numeric(a)):
            raise MongoError(28725, f"Second argument to $slice must be a numeric value, but is of type: {type_name(a)}")
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
        raise MongoError(40090, f"$indexOfArray requires an array as a first argument, found: {type_name(array)}")
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
        raise MongoError(34435, f"The argument to $reverseArray must be an array, but was of type: {type_name(value)}")
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
        raise MongoError(40386, f"$arrayToObject requires an array input, found: {type_name(value)}")
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
            raise MongoError(40394, f"$arrayToObject requires an object with keys 'k' and 'v', where the value of 'k' must be of type string. Found type: {type_name(key)}")
        out[key] = val
    return out


def _object_to_array(value: Any) -> Any:
    if value is None or value is MISSING:
        return None
    if not isinstance(value, Mapping):
        raise MongoError(40390, f"$objectToArray requires a document input, found: {type_name(value)}")
    return [{"k": k, "v": v} for k, v in value.items()]


def _is_array(value: Any) -> bool:
    return isinstance(value, list)


def _set_op(name: str) -> Callable[..., Any]:
    def run(*arrays: Any) -> Any:
        if name in ("$setUnion", "$setIntersection", "$setDifference") and any(a is None or a is MISSING for a in arrays):
            return None
        for a in arrays:
            if not isinstance(a, list):
                raise MongoError(17044 if name == "$setIsSubset" else 17048 if name == "$setDifference" else 17047,
                                 f"All operands of {name} must be arrays. One argument is of type: {type_name(a)}")
        keys = [{canonical_key(v) for v in a} for a in arrays]
        if name == "$setUnion":
            return unique_values([v for a in arrays for v in a])
        if name == "$setIntersection":
            if not arrays:
                return []
            common = set.intersection(*keys)
            return [v for v in unique_values(arrays[0]) if canonical_key(v) in common]
        if name == "$setDifference":
            return [v for v in unique_values(arrays[0]) if canonical_key(v) not in keys[1]]
        if name == "$setEquals":
            return all(k == keys[0] for k in keys[1:])
        return keys[0] <= keys[1]  # $setIsSubset

    return run


def _elements_true(name: str, want_all: bool) -> Callable[[Any], bool]:
    def run(value: Any) -> bool:
        if not isinstance(value, list):
            raise MongoError(17040, f"{name}'s argument must be an array, but is {type_name(value)}")
        tests = (truthy(v) for v in value)
        return all(tests) if want_all else any(tests)

    return run


fixed("$size", 1, _size)
fixed("$arrayElemAt", 2, _array_elem_at)
fixed("$first", 1, _first_last("$first", 0))
fixed("$last", 1, _first_last("$last", -1))
fixed("$in", 2, _in)
fixed("$concatArrays", (0, None), _concat_arrays)
fixed("$slice", (2, 3), _slice)
fixed("$isArray", 1, _is_array)
fixed("$indexOfArray", (2, 4), _index_of_array)
fixed("$reverseArray", 1, _reverse_array)
fixed("$range", (2, 3), _range)
fixed("$arrayToObject", 1, _array_to_object)
fixed("$objectToArray", 1, _object_to_array)
fixed("$anyElementTrue", 1, _elements_true("$anyElementTrue", False))
fixed("$allElementsTrue", 1, _elements_true("$allElementsTrue", True))
for _name in ("$setUnion", "$setIntersection"):
    fixed(_name, (0, None), _set_op(_name))
for _name in ("$setDifference", "$setEquals", "$setIsSubset"):
    fixed(_name, 2 if _name != "$setEquals" else (2, None), _set_op(_name))



@register("$filter")
def _filter(name: str, arg: Any) -> Compiled:
    args = named_args(name, arg, ("input", "cond"), ("as", "limit"))
    var = check_var_name(arg.get("as", "this"))

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        array = args["input"](root, variables)
        if array is None or array is MISSING:
            return None
        if not isinstance(array, list):
            raise MongoError(28651, f"input to $filter must be an array not {type_name(array)}")
        limit = args["limit"](root, variables) if "limit" in args else None
        if limit is not None and (not is_number(limit) or numeric(limit) < 1):
            raise MongoError(327391, f"$filter: limit must be greater than 0: {render(limit)}")
        out = []
        for element in array:
            if truthy(args["cond"](root, with_scope(variables, **{var: element}))):
                out.append(element)
                if limit is not None and len(out) >= int(numeric(limit)):
                    break
        return out

    return run


@register("$map")
def _map(name: str, arg: Any) -> Compiled:
    args = named_args(name, arg, ("input", "in"), ("as",))
    var = check_var_name(arg.get("as", "this"))

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        array = args["input"](root, variables)
        if array is None or array is MISSING:
            return None
        if not isinstance(array, list):
            raise MongoError(16883, f"input to $map must be an array not {type_name(array)}")
        return [missing_to_null(args["in"](root, with_scope(variables, **{var: e}))) for e in array]

    return run


@register("$reduce")
def _reduce(name: str, arg: Any) -> Compiled:
    args = named_args(name, arg, ("input", "initialValue", "in"))

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        array = args["input"](root, variables)
        if array is None or array is MISSING:
            return None
        if not isinstance(array, list):
            raise MongoError(40080, f"$reduce requires that 'input' be an array, found: {render(array)}")
        value = args["initialValue"](root, variables)
        for element in array:
            value = args["in"](root, with_scope(variables, value=value, this=element))
        return value

    return run
