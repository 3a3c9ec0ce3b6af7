"""find projections."""
from collections.abc import Callable, Mapping
from typing import Any


def compile_projection(spec: Mapping[str, Any] | None) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Compile a find projection into a function returning a new projected document."""
    raise NotImplementedError
