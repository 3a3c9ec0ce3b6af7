"""Running a plan of ``mongolet.planner`` against a collection, through a reader's view.

An index scan walks the entries inside the plan's bounds; each entry names a record, whose
version *visible to the reader* (``view.lookup``: its snapshot, or its transaction's own
write) is the candidate. An entry that came from another version of the record (an older
one still retained, or another transaction's uncommitted one) does not hold the candidate's
key and is skipped, so a reader never sees through an index what its snapshot cannot see.
Then the full filter decides, unless the plan is exact. ``Stats`` counts keys and documents
examined for ``explain``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sortedcontainers import SortedList

from mongolet.index_order import TOP
from mongolet.indexes import IndexEntries
from mongolet.planner import FULL, IndexInfo, KeyRange, Plan, Query, plan
from mongolet.query.paths import MISSING, get_path
from mongolet.storage import Collection, Record
from mongolet.transactions import DirectView

Predicate = Callable[[Mapping[str, Any]], bool]


@dataclass
class Stats:
    keys_examined: int = 0
    docs_examined: int = 0
    returned: int = 0


def index_infos(coll: Collection) -> list[IndexInfo]:
    """The planner's view of ``coll``'s indexes (multikey as of now)."""
    infos = []
    for name, spec in coll.indexes.items():
        if not spec.ordered or spec.options.get("hidden"):
            continue  # the planner does not see hidden indexes, as on mongod
        entries = coll.entries.get(name)
        infos.append(IndexInfo(name, spec.key, unique=spec.unique or name == "_id_",
                               sparse=spec.sparse,
                               partial=spec.options.get("partialFilterExpression"),
                               multikey=entries is not None and entries.multikey,
                               collation=spec.collation
                               if spec.options.get("collation") is not None else None))
    return infos


def estimate_for(coll: Collection) -> Callable[[str, list[KeyRange]], int]:
    def estimate(name: str, ranges: list[KeyRange]) -> int:
        found = coll.index_entries(name)
        if found is None:
            return 0
        entries = found.entries
        return sum(max(entries.bisect_right(hi) - entries.bisect_left(lo), 0)
                   for lo, hi in ranges)

    return estimate


def choose(coll: Collection, query: Query, id_keys: list[Hashable] | None = None
           ) -> tuple[Plan, list[Plan]]:
    """The winning and rejected plans for ``query`` on ``coll``."""
    if id_keys is not None and query.hint is None and query.min is None \
            and query.max is None:
        return Plan("IDHACK", id_keys=id_keys, estimate=len(id_keys), exact=True), []
    return plan(query, index_infos(coll), estimate_for(coll), len(coll.records), id_keys)


def run(view: DirectView, coll: Collection, chosen: Plan, predicate: Predicate | None,
        stats: Stats | None = None, check: Callable[[], None] | None = None
        ) -> Iterator[tuple[Record, dict[str, Any]]]:
    """``(record, document)`` pairs the plan finds that pass ``predicate`` (None: all);
    ``check`` runs every few documents examined (maxTimeMS raises from it)."""
    stats = stats if stats is not None else Stats()
    if chosen.stage == "IDHACK":
        return _id_lookups(view, coll, chosen, predicate, stats)
    if chosen.stage == "COLLSCAN":
        return _collection_scan(view, coll, chosen.direction, predicate, stats, check)
    if chosen.stage == "EOF":
        return iter(())
    if chosen.stage == "OR":
        return _union(view, coll, chosen, predicate, stats, check)
    return _index_scan(view, coll, chosen, None if chosen.exact else predicate, stats, check)


def _id_lookups(view: DirectView, coll: Collection, chosen: Plan, predicate: Predicate | None,
                stats: Stats) -> Iterator[tuple[Record, dict[str, Any]]]:
    found = []
    for key in chosen.id_keys or ():
        stats.keys_examined += 1
        record, doc = view.lookup(coll, key)
        if record is not None and doc is not None:
            stats.docs_examined += 1
            if predicate is None or predicate(doc):
                found.append((record, doc))
    if len(found) > 1:  # $in: natural order, not the order of the list
        found.sort(key=lambda pair: pair[0].seq)
    stats.returned += len(found)
    return iter(found)


_CHECK_EVERY = 32  # documents or keys examined between two maxTimeMS checks


def _collection_scan(view: DirectView, coll: Collection, direction: int,
                     predicate: Predicate | None, stats: Stats,
                     check: Callable[[], None] | None = None,
                     ) -> Iterator[tuple[Record, dict[str, Any]]]:
    pairs = view.documents(coll)
    if direction < 0:
        pairs = reversed(list(pairs))
    for record, doc in pairs:
        stats.docs_examined += 1
        if check is not None and not stats.docs_examined % _CHECK_EVERY:
            check()
        if predicate is None or predicate(doc):
            stats.returned += 1
            yield record, doc


def visible(view: DirectView, coll: Collection, entries: IndexEntries, entry: tuple[Any, ...]
            ) -> tuple[Record, dict[str, Any]] | None:
    """The record of ``entry`` and its version the reader sees, if that version holds the
    entry's key."""
    record = entries.records.get(entry[-1])
    if record is None:
        return None
    doc = view.lookup(coll, record.key)[1]
    if doc is None:
        return None
    if len(record.versions) == 1 and record.locked_by is None:
        return record, doc  # the entry can only be this version's
    if entry[:-1] not in entries.keys(doc):
        return None
    return record, doc


_CHUNK = 64  # entries read at once: a cursor's later batches may follow other writes


def walk(entries: SortedList, lower: tuple[Any, ...], upper: tuple[Any, ...],
         reverse: bool = False) -> Iterator[tuple[Any, ...]]:
    """The entries from ``lower`` to ``upper``, read a chunk at a time so that writes
    between two chunks (a cursor waiting for its getMore) never disturb the walk."""
    while True:
        chunk = list(itertools.islice(entries.irange(lower, upper, reverse=reverse), _CHUNK))
        yield from chunk
        if len(chunk) < _CHUNK:
            return
        # resume after the last entry read (entries are unique: they end with a seq)
        if reverse:
            upper = (*chunk[-1][:-1], chunk[-1][-1] - 0.5)
        else:
            lower = (*chunk[-1][:-1], chunk[-1][-1] + 0.5)


def _index_scan(view: DirectView, coll: Collection, chosen: Plan, predicate: Predicate | None,
                stats: Stats, check: Callable[[], None] | None = None,
                ) -> Iterator[tuple[Record, dict[str, Any]]]:
    assert chosen.index is not None
    entries = coll.index_entries(chosen.index.name)
    if entries is None:
        return
    reverse = chosen.direction < 0
    seen: set[int] | None = set() if entries.multikey else None
    for lower, upper in chosen.ranges():
        for entry in walk(entries.entries, lower, upper, reverse):
            stats.keys_examined += 1
            if check is not None and not stats.keys_examined % _CHECK_EVERY:
                check()
            if seen is not None and entry[-1] in seen:
                continue
            found = visible(view, coll, entries, entry)
            if found is None:
                continue
            if seen is not None:
                seen.add(entry[-1])
            if predicate is not None:
                stats.docs_examined += 1
                if not predicate(found[1]):
                    continue
            stats.returned += 1
            yield found


def _union(view: DirectView, coll: Collection, chosen: Plan, predicate: Predicate | None,
           stats: Stats, check: Callable[[], None] | None = None,
           ) -> Iterator[tuple[Record, dict[str, Any]]]:
    """Each clause's index scan in turn, every document once, then the whole filter."""
    seen: set[int] = set()
    scanned = Stats()
    base = stats.keys_examined
    for branch in chosen.branches:
        for record, doc in _index_scan(view, coll, branch, None, scanned, check):
            stats.keys_examined = base + scanned.keys_examined
            if record.seq in seen:
                continue
            seen.add(record.seq)
            stats.docs_examined += 1
            if predicate is None or predicate(doc):
                stats.returned += 1
                yield record, doc
    stats.keys_examined = base + scanned.keys_examined


def count(view: DirectView, coll: Collection, chosen: Plan, stats: Stats | None = None) -> int:
    """How many documents an exact index plan finds, reading keys only (COUNT_SCAN)."""
    assert chosen.exact and chosen.index is not None
    stats = stats if stats is not None else Stats()
    n = 0
    for _ in _index_scan(view, coll, chosen, None, stats):
        n += 1
    return n


def query_of(filter: Mapping[str, Any] | None, **kwargs: Any) -> Query:
    return Query(filter=filter, **kwargs)


def distinct_scan(view: DirectView, coll: Collection, chosen: Plan, path: str,
                  stats: Stats | None = None) -> list[Any]:
    """The distinct values of ``path``, the first field of the plan's (non-multikey) index,
    one visible document per key (DISTINCT_SCAN): a jump past each key found."""
    assert chosen.index is not None
    stats = stats if stats is not None else Stats()
    entries = coll.index_entries(chosen.index.name)
    found: list[Any] = []
    if entries is None:
        return found
    for lower, upper in chosen.ranges():
        start: tuple[Any, ...] = lower
        while True:
            first = next(iter(entries.entries.irange(start, upper)), None)
            if first is None:
                break
            group = first[0]
            for entry in entries.entries.irange((group,), (group, TOP)):
                stats.keys_examined += 1
                pair = visible(view, coll, entries, entry)
                if pair is None:
                    continue
                stats.docs_examined += 1
                value = get_path(pair[1], path)
                if value is not MISSING:
                    found.append(value)
                    break
            start = (group, TOP)
    return found


def distinct_plan(coll: Collection, query: Query, path: str) -> Plan | None:
    """An index scan answering distinct ``path`` from keys alone, or None: an index whose
    first field is ``path`` (not multikey, same collation) and a filter it bounds exactly."""
    if query.hint is not None:
        return None
    infos = index_infos(coll)
    if query.filter:
        chosen = choose(coll, query)[0]
        if chosen.stage != "IXSCAN" or not chosen.exact or chosen.index is None:
            return None
        if chosen.index.fields[0] != path or chosen.index.multikey or any(
                not (len(ivs) == 1 and ivs[0].full) for ivs in chosen.bounds[1:]):
            return None
        chosen.direction = 1
        return chosen
    for info in infos:
        if info.fields[0] == path and not info.multikey and not info.sparse \
                and info.partial is None and info.collation == query.collation:
            return Plan("IXSCAN", index=info, bounds=[[FULL] for _ in info.fields],
                        exact=True)
    return None
