"""Compiling expressions: literals, field paths, ``$$variables``, object and array literals,
and the operator table the family modules fill (``register``/``fixed``).

``compile_expression(expr)`` parses an expression once into ``f(root, variables) -> value``.
``MISSING`` is the value of a missing field and of ``$$REMOVE``; object literals drop fields
that evaluate to it, arrays turn it to null. ``ROOT`` is the document, ``CURRENT`` defaults
to it, ``NOW``/``CLUSTER_TIME`` are taken once per evaluation unless the caller binds them
(commands bind them once per command).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bson import Timestamp

from mongolet.errors import MongoError, bad_value
from mongolet.query.values import MISSING, render

Variables = Mapping[str, Any]
Compiled = Callable[[Mapping[str, Any], Variables], Any]

_SYSTEM_VARIABLES = frozenset({"ROOT", "CURRENT", "REMOVE", "NOW", "CLUSTER_TIME"})


def evaluate(expr: Any, doc: Mapping[str, Any], variables: Mapping[str, Any] | None = None) -> Any:
    """Evaluate an aggregation expression against ``doc`` ($$ROOT/$$CURRENT = doc)."""
    return compile_expression(expr)(doc, variables or {})


def evaluate_let(let: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A command's ``let`` option: each value is an expression evaluated once, before any
    document is seen (``{$literal: "$x"}`` binds the string "$x")."""
    if not let:
        return None
    return {check_var_name(name): missing_to_null(evaluate(expr, {}))
            for name, expr in let.items()}


def missing_to_null(value: Any) -> Any:
    """null for ``MISSING`` (where mongod outputs a missing value as null)."""
    return None if value is MISSING else value


# --- compilation -------------------------------------------------------------------------


def constant(value: Any) -> Compiled:
    """The compiled form of a literal."""
    def constant(root: Mapping[str, Any], variables: Variables) -> Any:
        return value

    return constant


def compile_expression(expr: Any) -> Compiled:
    """Compile an expression once into ``f(doc, variables) -> value``."""
    if isinstance(expr, str):
        if expr.startswith("$$"):
            return _compile_variable(expr[2:])
        if expr.startswith("$"):
            return _compile_field_path(expr[1:])
        return constant(expr)
    if isinstance(expr, list):
        items = [compile_expression(item) for item in expr]

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
    return constant(expr)


def _compile_object(expr: Mapping[str, Any]) -> Compiled:
    fields = []
    for name, value in expr.items():
        if not isinstance(name, str) or not name:
            raise bad_value("FieldPath cannot be constructed with empty string")
        if name.startswith("$"):
            raise MongoError(16410, "FieldPath field names may not start with '$'. Consider using $getField or $setField.")
        if "." in name:
            raise MongoError(16412, "FieldPath field names may not contain '.'. Consider using $getField or $setField.")
        fields.append((name, compile_expression(value)))

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


# --- the operator table (filled by the family modules) -----------------------------------

OperatorBuilder = Callable[[str, Any], Compiled]
OPERATORS: dict[str, OperatorBuilder] = {}


def _compile_operator(name: str, arg: Any) -> Compiled:
    builder = OPERATORS.get(name)
    if builder is None:
        raise MongoError(168, f"Unrecognized expression '{name}'")
    return builder(name, arg)


def arguments(name: str, arg: Any, low: int, high: int | None = None) -> list[Compiled]:
    """An operator's positional arguments (one, or a list of ``low`` to ``high``), compiled."""
    args = arg if isinstance(arg, list) else [arg]
    count = len(args)
    top = low if high is None else high
    if count < low or count > top:
        if low == top:
            raise MongoError(16020, f"Expression {name} takes exactly {low} arguments. {count} were passed in.")
        if count < low:
            raise MongoError(16020, f"Expression {name} takes at least {low} arguments, and {count} were passed in.")
        raise MongoError(16020, f"Expression {name} takes at most {top} arguments, and {count} were passed in.")
    return [compile_expression(a) for a in args]


def register(*names: str) -> Callable[[OperatorBuilder], OperatorBuilder]:
    """Decorator: ``builder(name, arg) -> Compiled`` compiles the operators ``names``."""
    def decorate(builder: OperatorBuilder) -> OperatorBuilder:
        for name in names:
            OPERATORS[name] = builder
        return builder

    return decorate


def fixed(name: str, count: int | tuple[int, int | None], fn: Callable[..., Any]) -> None:
    """Register an operator taking ``count`` evaluated arguments and calling ``fn``."""
    low, high = (count, count) if isinstance(count, int) else count

    def build(op: str, arg: Any) -> Compiled:
        if high is None:
            args = arguments(op, arg, low, 1 << 30)
        else:
            args = arguments(op, arg, low, high)

        def run(root: Mapping[str, Any], variables: Variables) -> Any:
            return fn(*[a(root, variables) for a in args])

        return run

    OPERATORS[name] = build


def named_args(name: str, arg: Any, required: Sequence[str], optional: Sequence[str] = ()) -> dict[str, Compiled]:
    """An operator's ``{input: ..., ...}`` style arguments, checked and compiled."""
    if not isinstance(arg, Mapping):
        raise MongoError(2, f"{name} expects an object as its argument")
    for key in arg:
        if key not in required and key not in optional:
            raise MongoError(2, f"{name} found an unknown argument: {key}")
    for key in required:
        if key not in arg:
            raise MongoError(2, f"Missing '{key}' parameter to {name}")
    return {key: compile_expression(value) for key, value in arg.items()}


@register("$literal")
def _literal(name: str, arg: Any) -> Compiled:
    return constant(arg)


# --- user variables ----------------------------------------------------------------------


def with_scope(variables: Variables, **bound: Any) -> dict[str, Any]:
    """``variables`` with ``bound`` added (for $filter, $map, $reduce)."""
    scope = dict(variables)
    scope.update(bound)
    return scope


def check_var_name(name: Any) -> str:
    """``name`` if it is a valid user variable name (lowercase first letter), else 16866/16867."""
    if not isinstance(name, str) or not name:
        raise MongoError(16866, "empty variable names are not allowed")
    if not (name[0].islower() or not name[0].isascii()) or not all(c.isalnum() or c == "_" or not c.isascii() for c in name):
        raise MongoError(16867, f"'{name}' starts with an invalid character for a user variable name")
    return name


@register("$let")
def _let(name: str, arg: Any) -> Compiled:
    if not isinstance(arg, Mapping) or "vars" not in arg or "in" not in arg:
        raise MongoError(16711 if isinstance(arg, Mapping) else 16874,
                         "Missing 'vars' parameter to $let" if isinstance(arg, Mapping) and "vars" not in arg
                         else "Missing 'in' parameter to $let")
    if not isinstance(arg["vars"], Mapping):
        raise MongoError(10065, "invalid parameter: expected an object (vars)")
    bound = [(check_var_name(k), compile_expression(v)) for k, v in arg["vars"].items()]
    body = compile_expression(arg["in"])

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        scope = dict(variables)
        for var, compiled in bound:
            scope[var] = compiled(root, variables)
        return body(root, scope)

    return run
