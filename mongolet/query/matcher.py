"""The query language."""
from collections.abc import Callable, Mapping
from typing import Any


def compile_filter(filter: Mapping[str, Any] | None) -> Callable[[Mapping[str, Any]], bool]:
    """Compile a query filter once into a predicate; raises MongoError 2 for bad operators."""
    raise NotImplementedError
