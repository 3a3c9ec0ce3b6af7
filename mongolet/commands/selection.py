"""Finding the documents a filter selects, with a fast path for ``_id`` lookups.

Point reads by ``_id`` (``{_id: v}``, ``{_id: {$eq: v}}``, ``{_id: {$in: [...]}}``) go straight
to the record dict; every other filter scans the collection in natural order.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator, Mapping
from typing import Any

from bson import Regex

from mongolet.query import collation as collations
from mongolet.query import matcher
from mongolet.storage import Collection, Record, canonical_id
from mongolet.transactions import DirectView


def _plain(value: Any) -> bool:
    """A value whose equality match is exact equality (no operator, array or regex)."""
    if isinstance(value, dict):
        return not any(isinstance(k, str) and k.startswith("$") for k in value)
    return not isinstance(value, list | Regex | re.Pattern)


def _has_strings(value: Any) -> bool:
    if isinstance(value, str):
        return True
    if isinstance(value, dict):
        return any(_has_strings(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_strings(v) for v in value)
    return False


def id_keys(filter: Mapping[str, Any] | None,
            collation: collations.Collation | None = None) -> list[Hashable] | None:
    """The ``_id`` keys a filter is exactly limited to, or None when it is not a point read
    (strings compared under a collation are not: ``"a"`` may match ``"A"``)."""
    if not filter or len(filter) != 1 or "_id" not in filter:
        return None
    value = filter["_id"]
    if collation is not None and _has_strings(value):
        return None
    if _plain(value):
        return [canonical_id(value)]
    if isinstance(value, dict) and len(value) == 1:
        if "$eq" in value and _plain(value["$eq"]):
            return [canonical_id(value["$eq"])]
        candidates = value.get("$in")
        if isinstance(candidates, list) and all(_plain(v) for v in candidates):
            return list(dict.fromkeys(canonical_id(v) for v in candidates))
    return None


def compile_filter(filter: Mapping[str, Any], variables: Mapping[str, Any] | None = None,
                   collation: collations.Collation | None = None
                   ) -> matcher.Predicate:
    """``matcher.compile_filter``, compiled and evaluated under ``collation``."""
    with collations.applied(collation):
        predicate = matcher.compile_filter(filter, variables=variables)
    return collations.under(collation, predicate)


def select(view: DirectView, coll: Collection, filter: Mapping[str, Any] | None, *,
           variables: Mapping[str, Any] | None = None,
           collation: collations.Collation | None = None
           ) -> Iterator[tuple[Record, dict[str, Any]]]:
    """``(record, document)`` pairs matching ``filter``, in natural order."""
    # A time series collection's records are not keyed by _id.
    keys = id_keys(filter, collation) if "timeseries" not in coll.options else None
    if keys is not None:
        found = []
        for key in keys:
            record, doc = view.lookup(coll, key)
            if record is not None and doc is not None:
                found.append((record, doc))
        if len(found) > 1:  # $in: natural order, not the order of the list
            order = {k: i for i, k in enumerate(coll.records)}
            found.sort(key=lambda pair: order.get(pair[0].key, 0))
        return iter(found)
    if not filter:
        return view.documents(coll)
    predicate = compile_filter(filter, variables, collation)
    return ((record, doc) for record, doc in view.documents(coll) if predicate(doc))
