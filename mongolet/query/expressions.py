"""The aggregation expression language."""
from collections.abc import Mapping
from typing import Any


def evaluate(expr: Any, doc: Mapping[str, Any], variables: Mapping[str, Any] | None = None) -> Any:
    """Evaluate an aggregation expression against ``doc`` ($$ROOT/$$CURRENT = doc)."""
    raise NotImplementedError
