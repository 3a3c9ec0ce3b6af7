"""Dotted paths into documents and arrays."""
from typing import Any

MISSING: Any = object()


def get_path(doc: Any, path: str) -> Any:
    """The value at ``path`` without array expansion, or ``MISSING``."""
    raise NotImplementedError


def path_values(doc: Any, path: str) -> list[Any]:
    """Every value ``path`` reaches, expanding arrays as the query language does
    (used for distinct and for index keys). Empty when the path reaches nothing."""
    raise NotImplementedError
