"""What the positional ``$`` stands for: the array element a query matched.

Shared by the positional projection (``find(projection={"a.$": 1})``) and positional
updates (``{$set: {"a.$": v}}``), which both ask which element of an array the query's
conditions on that array selected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mongolet.query.matcher import compile_filter, elem_match_predicate, is_operator_object
from mongolet.query.paths import get_path


def matched_array_index(doc: Mapping[str, Any], query: Mapping[str, Any], array_path: Sequence[str]) -> int | None:
    """The index of the first element of the array at ``array_path`` that the query's
    conditions on that array match (what the positional ``$`` stands for), or None."""
    array = get_path(doc, tuple(array_path))
    if not isinstance(array, list):
        return None
    prefix = ".".join(array_path)
    tests: list[Callable[[Any], bool]] = []
    for path, condition in _conditions(query):
        if path == prefix:
            if is_operator_object(condition) and "$elemMatch" in condition:
                test = elem_match_predicate(condition["$elemMatch"])
                tests.append(test)
            else:
                tests.append(element_filter(compile_filter({"v": condition}), "v"))
        elif path.startswith(prefix + "."):
            rest = path[len(prefix) + 1 :]
            tests.append(_document_filter(compile_filter({rest: condition})))
    if not tests:
        return None
    for index, element in enumerate(array):
        if all(test(element) for test in tests):
            return index
    # Conditions may be satisfied by different elements; mongod reports the last one matched.
    for index, element in enumerate(array):
        if any(test(element) for test in tests):
            return index
    return None


def _document_filter(predicate: Callable[[Mapping[str, Any]], bool]) -> Callable[[Any], bool]:
    def test(element: Any) -> bool:
        return isinstance(element, Mapping) and predicate(element)

    return test


def _conditions(query: Mapping[str, Any]) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for key, value in query.items():
        if key in ("$and", "$or", "$nor") and isinstance(value, list):
            if key == "$and" or len(value) == 1:
                for branch in value:
                    if isinstance(branch, Mapping):
                        found.extend(_conditions(branch))
        elif not key.startswith("$"):
            found.append((key, value))
    return found


def element_filter(predicate: Callable[[Mapping[str, Any]], bool], name: str) -> Callable[[Any], bool]:
    """An array filter as a test of one element: the filter run on ``{name: element}``."""

    def test(element: Any) -> bool:
        return predicate({name: element})

    return test
