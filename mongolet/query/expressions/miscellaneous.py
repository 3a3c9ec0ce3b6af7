"""Operators outside the families: $rand, and the refused $meta, $function, $accumulator."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from mongolet.errors import MongoError
from mongolet.query.expressions.compiler import Compiled, Variables, register


@register("$meta")
def _meta(name: str, arg: Any) -> Compiled:
    raise MongoError(17308, f"$meta '{arg}' is not supported by mongolet")


@register("$rand")
def _rand(name: str, arg: Any) -> Compiled:
    if arg != {}:
        raise MongoError(3040501, "$rand does not currently accept arguments")

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        return random.random()

    return run


@register("$function", "$accumulator")
def _refuse(name: str, arg: Any) -> Compiled:
    raise MongoError(31264 if name == "$function" else 168,
                     f"{name} is not supported by mongolet: it runs no server-side "
                     "JavaScript")
