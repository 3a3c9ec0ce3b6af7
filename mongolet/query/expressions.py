"""The aggregation expression language."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mongolet.errors import MongoError

Compiled = Callable[[Mapping[str, Any], Mapping[str, Any]], Any]


def compile_expression(expr: Any) -> Compiled:
    """Compile an expression once into ``f(doc, variables) -> value``."""
    raise MongoError(168, "expressions are not implemented yet")


def evaluate(expr: Any, doc: Mapping[str, Any], variables: Mapping[str, Any] | None = None) -> Any:
    """Evaluate an aggregation expression against ``doc`` ($$ROOT/$$CURRENT = doc)."""
    return compile_expression(expr)(doc, variables or {})
