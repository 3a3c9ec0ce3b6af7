"""BSON values: MongoDB's comparison order across types, and equality."""
from typing import Any


def compare(a: Any, b: Any) -> int:
    """-1, 0 or 1 in MongoDB's total order (MinKey < null < numbers < strings < ...)."""
    raise NotImplementedError


def equal(a: Any, b: Any) -> bool:
    """Equality as ``$eq`` sees it: 1 == 1.0 == Int64(1) == Decimal128("1")."""
    raise NotImplementedError
