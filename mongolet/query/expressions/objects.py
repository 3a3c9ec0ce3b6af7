"""Object operators: $mergeObjects, $getField, $setField, $unsetField."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mongolet.errors import MongoError
from mongolet.query.expressions.compiler import (
    OPERATORS,
    Compiled,
    Variables,
    fixed,
    named_args,
    register,
)
from mongolet.query.values import MISSING, render, type_name


def merge_objects(values: Sequence[Any]) -> dict[str, Any]:
    """``$mergeObjects``: later fields win; null and missing inputs are skipped."""
    out: dict[str, Any] = {}
    for value in values:
        if value is None or value is MISSING:
            continue
        if not isinstance(value, Mapping):
            raise MongoError(40400, f"$mergeObjects requires object inputs, but input {render(value)} is of type {type_name(value)}")
        out.update(value)
    return out


fixed("$mergeObjects", (0, None), lambda *values: merge_objects(values))


@register("$getField")
def _get_field(name: str, arg: Any) -> Compiled:
    if not isinstance(arg, Mapping):
        arg = {"field": arg}
    args = named_args(name, arg, ("field",), ("input",))
    if not isinstance(arg["field"], str) and not (isinstance(arg["field"], Mapping) and "$literal" in arg["field"]):
        raise MongoError(5654601, "$getField requires 'field' to evaluate to type String")

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        field = args["field"](root, variables)
        source = args["input"](root, variables) if "input" in args else variables.get("CURRENT", root)
        if not isinstance(field, str):
            raise MongoError(3041704, f"$getField requires 'field' to evaluate to type String, but got {type_name(field)}")
        if source is None or source is MISSING:
            return None if source is None else MISSING
        if not isinstance(source, Mapping):
            raise MongoError(3041705, f"$getField requires 'input' to evaluate to type Object, but got {type_name(source)}")
        return source.get(field, MISSING)

    return run


def _set_field_builder(remove: bool) -> Callable[[str, Any], Compiled]:
    def build(name: str, arg: Any) -> Compiled:
        required = ("field", "input") if remove else ("field", "input", "value")
        args = named_args(name, arg, required)
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


OPERATORS["$setField"] = _set_field_builder(False)
OPERATORS["$unsetField"] = _set_field_builder(True)
