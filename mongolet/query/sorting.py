"""Sort specifications."""
from collections.abc import Mapping
from typing import Any


def sort_documents(docs: list[dict[str, Any]], spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A new list of ``docs`` in the order of ``spec`` ({field: 1 | -1}); stable."""
    raise NotImplementedError
