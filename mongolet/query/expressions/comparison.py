"""Comparison ($eq ... $cmp, in BSON order) and boolean ($and, $or, $not) operators."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mongolet.query.expressions.compiler import Compiled, Variables, arguments, fixed, register
from mongolet.query.values import compare, truthy


def _comparison(name: str, accept: Callable[[int], Any]) -> None:
    fixed(name, 2, lambda a, b: accept(compare(a, b)))


_comparison("$eq", lambda c: c == 0)
_comparison("$ne", lambda c: c != 0)
_comparison("$gt", lambda c: c > 0)
_comparison("$gte", lambda c: c >= 0)
_comparison("$lt", lambda c: c < 0)
_comparison("$lte", lambda c: c <= 0)
_comparison("$cmp", lambda c: c)


@register("$and")
def _and(name: str, arg: Any) -> Compiled:
    args = arguments(name, arg, 0, 1 << 30)

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        return all(truthy(a(root, variables)) for a in args)

    return run


@register("$or")
def _or(name: str, arg: Any) -> Compiled:
    args = arguments(name, arg, 0, 1 << 30)

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        return any(truthy(a(root, variables)) for a in args)

    return run


fixed("$not", 1, lambda value: not truthy(value))
