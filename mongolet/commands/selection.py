"""Finding the documents a filter selects, through the query planner.

Point reads by ``_id`` (``{_id: v}``, ``{_id: {$eq: v}}``, ``{_id: {$in: [...]}}``) go straight
to the record dict (IDHACK); other filters use the plan ``mongolet.planner`` picks: an index
scan when an index applies, else a scan of the collection in natural order.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any

from bson import Regex

from mongolet import plan_execution
from mongolet.planner import Plan, Query
from mongolet.query import collation as collations
from mongolet.query import matcher
from mongolet.storage import Collection, Record, canonical_id
from mongolet.text_search import TextSearch
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


def predicate_for(coll: Collection, filter: Mapping[str, Any],
                  variables: Mapping[str, Any] | None = None,
                  collation: collations.Collation | None = None) -> matcher.Predicate:
    """``compile_filter``, with a ``$text`` condition answered by ``coll``'s text index."""
    if "$text" not in filter:
        return compile_filter(filter, variables, collation)
    text = TextSearch(coll, filter["$text"])
    rest = compile_filter({k: v for k, v in filter.items() if k != "$text"}, variables,
                          collation)
    return lambda doc: text.score(doc) is not None and rest(doc)


def select(view: DirectView, coll: Collection, filter: Mapping[str, Any] | None, *,
           variables: Mapping[str, Any] | None = None,
           collation: collations.Collation | None = None, hint: Any = None,
           check: Callable[[], None] | None = None,
           ) -> Iterator[tuple[Record, dict[str, Any]]]:
    """``(record, document)`` pairs matching ``filter`` (natural order when no index helps,
    index order when one does); ``check`` is called now and then while scanning (it raises
    to interrupt)."""
    return planned(view, coll, Query(filter=filter, collation=collation, hint=hint),
                   variables, check=check)[2]


def planned(view: DirectView, coll: Collection, query: Query,
            variables: Mapping[str, Any] | None = None,
            stats: plan_execution.Stats | None = None,
            check: Callable[[], None] | None = None,
            text: TextSearch | None = None,
            ) -> tuple[Plan, list[Plan], Iterator[tuple[Record, dict[str, Any]]]]:
    """The winning plan for ``query``, the rejected ones, and the pairs it finds (a
    ``$text`` condition goes to ``text``, which keeps the scores, or to a new search)."""
    filter = query.filter
    if filter and "$text" in filter:
        if text is None:
            text = TextSearch(coll, filter["$text"])
        rest = {k: v for k, v in filter.items() if k != "$text"}
        chosen, rejected, pairs = planned(view, coll, dataclasses.replace(query, filter=rest),
                                          variables, stats, check)
        return chosen, rejected, text.matching(pairs)
    # A time series collection's records are not keyed by _id.
    keys = (id_keys(filter, query.collation)
            if query.hint is None and "timeseries" not in coll.options else None)
    chosen, rejected = plan_execution.choose(coll, query, keys)
    predicate = None
    if filter and chosen.stage != "IDHACK":
        predicate = compile_filter(filter, variables, query.collation)
    return chosen, rejected, plan_execution.run(view, coll, chosen, predicate, stats, check)
