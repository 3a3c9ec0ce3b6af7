"""The unified test format's rules for comparing expected and actual values.

Pure functions, no I/O. ``match`` follows "Evaluating Matches" of the unified test format:
documents at the root may carry extra fields, nested ones may not; arrays have the same
length; numbers compare across int/long/double; ``$$``-operators ($$exists, $$type,
$$unsetOrMatches, $$sessionLsid, $$matchesEntity, $$matchesHexBytes, $$lte,
$$matchAsDocument, $$matchAsRoot) stand for assertions. ``equal_exactly`` is the stricter
rule for ``outcome`` collection contents.
"""

from __future__ import annotations

import binascii
import datetime
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bson import (
    Binary,
    Code,
    Decimal128,
    Int64,
    MaxKey,
    MinKey,
    ObjectId,
    Regex,
    Timestamp,
    json_util,
)

from tests.spec.unsupported import Unsupported

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>"})()


class RootDocuments(list[Any]):
    """The documents of an iterable result (find, aggregate, list*): each one is matched
    as a root-level document, so it may carry fields the expectation does not name."""


class MatchError(AssertionError):
    """An expected value did not match; the message names the path."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Int64) and not isinstance(value, bool)


_TYPES: dict[str, Callable[[Any], bool]] = {
    "double": lambda v: isinstance(v, float),
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, Mapping),
    "array": lambda v: isinstance(v, list | tuple),
    "binData": lambda v: isinstance(v, bytes | Binary),
    "undefined": lambda v: v is None,
    "objectId": lambda v: isinstance(v, ObjectId),
    "bool": lambda v: isinstance(v, bool),
    "date": lambda v: isinstance(v, datetime.datetime),
    "null": lambda v: v is None,
    "regex": lambda v: isinstance(v, Regex | re.Pattern),
    "javascript": lambda v: isinstance(v, Code),
    "javascriptWithScope": lambda v: isinstance(v, Code),
    "int": lambda v: _is_number(v) and isinstance(v, int) and not isinstance(v, Int64),
    "long": lambda v: isinstance(v, Int64),
    "timestamp": lambda v: isinstance(v, Timestamp),
    "decimal": lambda v: isinstance(v, Decimal128),
    "number": lambda v: _is_number(v) or isinstance(v, Decimal128),
    "minKey": lambda v: isinstance(v, MinKey),
    "maxKey": lambda v: isinstance(v, MaxKey),
}


def is_operator(value: Any) -> bool:
    """True for ``{$$name: argument}``: one key that starts with ``$$``."""
    return isinstance(value, Mapping) and len(value) == 1 and next(iter(value)).startswith("$$")


class Matcher:
    """Matches expectations against actual values.

    ``lsid_of(name)`` and ``entity(name)`` resolve the names that ``$$sessionLsid`` and
    ``$$matchesEntity`` refer to (the entity map of the running test).
    """

    def __init__(self, lsid_of: Callable[[str], Any] | None = None,
                 entity: Callable[[str], Any] | None = None) -> None:
        self._lsid_of = lsid_of
        self._entity = entity

    def match(self, expected: Any, actual: Any, *, root: bool = True, path: str = "$") -> None:
        """Raise ``MatchError`` unless ``actual`` matches ``expected``."""
        if is_operator(expected):
            name, argument = next(iter(expected.items()))
            self._operator(name, argument, actual, root, path)
            return
        if actual is MISSING:
            raise MatchError(f"{path}: expected {expected!r}, but the field is missing")
        if isinstance(expected, Mapping):
            self._match_document(expected, actual, root, path)
        elif isinstance(expected, list | tuple):
            if not isinstance(actual, list | tuple):
                raise MatchError(f"{path}: expected an array {expected!r}, got {actual!r}")
            if len(actual) != len(expected):
                raise MatchError(f"{path}: expected {len(expected)} elements, got "
                                 f"{len(actual)}: {actual!r}")
            element_root = isinstance(actual, RootDocuments)
            for index, (want, got) in enumerate(zip(expected, actual)):
                self.match(want, got, root=element_root, path=f"{path}[{index}]")
        elif not equal_scalars(expected, actual):
            raise MatchError(f"{path}: expected {expected!r} ({type(expected).__name__}), "
                             f"got {actual!r} ({type(actual).__name__})")

    def _match_document(self, expected: Mapping[str, Any], actual: Any, root: bool,
                        path: str) -> None:
        if not isinstance(actual, Mapping):
            raise MatchError(f"{path}: expected a document {expected!r}, got {actual!r}")
        for key, want in expected.items():
            self.match(want, actual.get(key, MISSING), root=False, path=f"{path}.{key}")
        if not root:
            extra = [key for key in actual if key not in expected]
            if extra:
                raise MatchError(f"{path}: unexpected fields {extra} in nested document "
                                 f"{dict(actual)!r}")

    def _operator(self, name: str, argument: Any, actual: Any, root: bool, path: str) -> None:
        if name == "$$exists":
            if (actual is not MISSING) != bool(argument):
                raise MatchError(f"{path}: expected the field to {'' if argument else 'not '}"
                                 f"exist, got {actual!r}")
        elif name == "$$unsetOrMatches":
            if actual is MISSING or (actual is None and path == "$"):
                return
            self.match(argument, actual, root=root, path=path)
        elif name == "$$type":
            names = argument if isinstance(argument, list) else [argument]
            unknown = [n for n in names if n not in _TYPES]
            if unknown:
                raise Unsupported(f"unknown $$type alias {unknown}")
            if actual is MISSING or not any(_TYPES[n](actual) for n in names):
                raise MatchError(f"{path}: expected type {names}, got {actual!r}")
        elif name == "$$sessionLsid":
            if self._lsid_of is None:
                raise Unsupported("$$sessionLsid needs an entity map")
            lsid = self._lsid_of(argument)
            if actual != lsid:
                raise MatchError(f"{path}: expected the lsid of {argument} {lsid!r}, "
                                 f"got {actual!r}")
        elif name == "$$matchesEntity":
            if self._entity is None:
                raise Unsupported("$$matchesEntity needs an entity map")
            self.match(self._entity(argument), actual, root=root, path=path)
        elif name == "$$matchesHexBytes":
            if bytes(actual) != binascii.unhexlify(argument):
                raise MatchError(f"{path}: expected bytes {argument}, got {actual!r}")
        elif name == "$$lte":
            if actual is MISSING or not _is_number(actual) or actual > argument:
                raise MatchError(f"{path}: expected a number <= {argument}, got {actual!r}")
        elif name == "$$matchAsDocument":
            self.match(argument, json_util.loads(actual), root=False, path=path)
        elif name == "$$matchAsRoot":
            self.match(argument, actual, root=True, path=path)
        else:
            raise Unsupported(f"unsupported special operator {name}")


def equal_scalars(expected: Any, actual: Any) -> bool:
    """Same BSON type (ints, longs and doubles are one "number" type) and same value."""
    if _is_number(expected):
        return _is_number(actual) and expected == actual
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if expected is None:
        return actual is None
    if isinstance(expected, bytes | Binary) and isinstance(actual, bytes | Binary):
        same_subtype = getattr(expected, "subtype", 0) == getattr(actual, "subtype", 0)
        return same_subtype and bytes(expected) == bytes(actual)
    return type(expected) is type(actual) and expected == actual


def equal_exactly(expected: Any, actual: Any) -> bool:
    """Outcome data: equal values, any key order, no extra or missing fields."""
    if isinstance(expected, Mapping):
        return (isinstance(actual, Mapping) and set(expected) == set(actual)
                and all(equal_exactly(v, actual[k]) for k, v in expected.items()))
    if isinstance(expected, list | tuple):
        return (isinstance(actual, list | tuple) and len(expected) == len(actual)
                and all(equal_exactly(e, a) for e, a in zip(expected, actual)))
    return equal_scalars(expected, actual)


def sequence_repr(values: Sequence[Any]) -> str:
    return "\n".join(f"  {value!r}" for value in values)
