"""Conditionals: $cond, $ifNull, $switch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mongolet.errors import MongoError
from mongolet.query.expressions.compiler import (
    Compiled,
    Variables,
    arguments,
    compile_expression,
    register,
)
from mongolet.query.values import MISSING, truthy


@register("$cond")
def _cond(name: str, arg: Any) -> Compiled:
    if isinstance(arg, Mapping):
        for key in arg:
            if key not in ("if", "then", "else"):
                raise MongoError(17083, f"Unrecognized parameter to $cond: {key}")
        for key in ("if", "then", "else"):
            if key not in arg:
                raise MongoError(17080 + ("if", "then", "else").index(key), f"Missing '{key}' parameter to $cond")
        test, then, otherwise = (compile_expression(arg[k]) for k in ("if", "then", "else"))
    else:
        test, then, otherwise = arguments(name, arg, 3)

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        return then(root, variables) if truthy(test(root, variables)) else otherwise(root, variables)

    return run


@register("$ifNull")
def _if_null(name: str, arg: Any) -> Compiled:
    if not isinstance(arg, list) or len(arg) < 2:
        raise MongoError(1257300, "$ifNull needs at least two arguments, had: "
                         f"{len(arg) if isinstance(arg, list) else 1}")
    args = [compile_expression(a) for a in arg]

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        for a in args[:-1]:
            value = a(root, variables)
            if value is not None and value is not MISSING:
                return value
        return args[-1](root, variables)

    return run


@register("$switch")
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
        compiled.append((compile_expression(branch["case"]), compile_expression(branch["then"])))
    for key in arg:
        if key not in ("branches", "default"):
            raise MongoError(40067, f"$switch found an unknown argument: {key}")
    default = compile_expression(arg["default"]) if "default" in arg else None

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        for case, then in compiled:
            if truthy(case(root, variables)):
                return then(root, variables)
        if default is None:
            raise MongoError(40066, "$switch could not find a matching branch for an input, and no default was specified.")
        return default(root, variables)

    return run
