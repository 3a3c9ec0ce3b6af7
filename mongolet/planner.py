"""The query planner: which index (if any) answers a query, with which bounds, in which order.

Planning is pure: it reads a filter, a sort, a hint, ``min``/``max`` and a description of the
collection's indexes (``IndexInfo``), and asks an ``Estimate`` callback how many entries a
set of bounds holds. It never touches documents; ``mongolet.plan_execution`` runs the plan.

A filter's top-level conditions on one field - equality, ``$in`` and the comparisons
``$gt``/``$gte``/``$lt``/``$lte`` (within their type bracket) - become *intervals* of index
keys; a compound index takes points on its leading fields and at most one range after them.
Bounds are always a superset of the matches: every candidate is checked against the full
filter, unless the plan is ``exact`` (the bounds say everything the filter says), which lets a
count skip fetching documents. A sort is *served* when the index, after fields pinned by
equality, lists the sort's fields in its order or exactly reversed.

Among the plans, the one with the fewest estimated keys to examine wins (a plan that serves
the sort of a limited query only needs ``skip + limit`` of them); as on mongod, a collection
scan is a candidate only when no index applies.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bson import Regex

from mongolet.errors import MongoError
from mongolet.index_order import BOTTOM, TOP, bracket_end, bracket_start, directed, order_key
from mongolet.query import collation as collations
from mongolet.query import values

_RANGE_OPS = ("$gt", "$gte", "$lt", "$lte")
# Brackets whose comparisons stay inside the bracket (mongod's type bracketing).
_RANGEABLE = {values.NUMBER, values.STRING, values.OBJECTID, values.DATE, values.BOOL,
              values.TIMESTAMP, values.BINARY}
_BRACKET_SHOWN = {
    values.NUMBER: ("-inf.0", "inf.0"),
    values.STRING: ('""', "{}"),
    values.OBJECTID: ("ObjectId('000000000000000000000000')",
                      "ObjectId('ffffffffffffffffffffffff')"),
    values.DATE: ("new Date(-9223372036854775808)", "new Date(9223372036854775807)"),
    values.BOOL: ("false", "true"),
    values.TIMESTAMP: ("Timestamp(0, 0)", "Timestamp(4294967295, 4294967295)"),
    values.BINARY: ("BinData(0, )", "BinData(128, )"),
}


@dataclass(frozen=True)
class IndexInfo:
    """What the planner knows of one index."""

    name: str
    key: dict[str, Any]
    unique: bool = False
    sparse: bool = False
    partial: Mapping[str, Any] | None = None
    multikey: bool = False
    collation: collations.Collation | None = None

    @property
    def fields(self) -> list[str]:
        return list(self.key)

    @property
    def directions(self) -> list[int]:
        return [-1 if float(d) < 0 else 1 for d in self.key.values()]


@dataclass(frozen=True)
class Interval:
    """Keys of one field from ``lo`` to ``hi`` (order keys, or BOTTOM/TOP), ascending."""

    lo: Any
    lo_incl: bool
    hi: Any
    hi_incl: bool
    lo_shown: str
    hi_shown: str

    @property
    def point(self) -> bool:
        return self.lo_incl and self.hi_incl and self.lo == self.hi

    @property
    def full(self) -> bool:
        return self.lo is BOTTOM and self.hi is TOP

    def shown(self, reverse: bool) -> str:
        if reverse:
            return (("[" if self.hi_incl else "(") + f"{self.hi_shown}, {self.lo_shown}"
                    + ("]" if self.lo_incl else ")"))
        return (("[" if self.lo_incl else "(") + f"{self.lo_shown}, {self.hi_shown}"
                + ("]" if self.hi_incl else ")"))


FULL = Interval(BOTTOM, True, TOP, True, "MinKey", "MaxKey")
KeyRange = tuple[tuple[Any, ...], tuple[Any, ...]]  # (lower, upper) in stored order


@dataclass
class Query:
    """What a command asks, as the planner sees it."""

    filter: Mapping[str, Any] | None = None
    sort: Mapping[str, Any] | None = None
    skip: int = 0
    limit: int = 0
    hint: Any = None
    min: Mapping[str, Any] | None = None
    max: Mapping[str, Any] | None = None
    collation: collations.Collation | None = None


@dataclass
class Plan:
    """One way to answer a query: ``stage`` is COLLSCAN, IXSCAN, IDHACK or EOF."""

    stage: str
    index: IndexInfo | None = None
    bounds: list[list[Interval]] = field(default_factory=list)  # per index field
    direction: int = 1
    sort_served: bool = False
    exact: bool = False  # the bounds alone decide the matches
    id_keys: list[Any] | None = None
    key_range: KeyRange | None = None  # min/max
    estimate: float = 0.0
    branches: list[Plan] = field(default_factory=list)  # OR: one index scan per $or clause

    def ranges(self) -> list[KeyRange]:
        """The stored-order ``(lower, upper)`` tuples to scan, in scan order."""
        if self.key_range is not None:
            return [self.key_range]
        assert self.index is not None
        per_field: list[list[tuple[Any, bool, Any, bool]]] = []
        for intervals, direction in zip(self.bounds, self.index.directions):
            stored = [_stored(iv, direction) for iv in intervals]
            stored.sort(key=_interval_sort_key)
            per_field.append(stored)
            if not all(iv.point for iv in intervals):
                break
        result = [_key_range(combo) for combo in itertools.product(*per_field)]
        if self.direction < 0:
            result.reverse()
        return result

    def index_bounds(self) -> dict[str, list[str]]:
        """explain's ``indexBounds``: intervals as mongod prints them, in scan order."""
        assert self.index is not None
        shown: dict[str, list[str]] = {}
        for name, intervals, direction in zip(self.index.fields, self.bounds,
                                              self.index.directions):
            reverse = (direction * self.direction) < 0
            ordered = sorted(intervals, key=lambda iv: _interval_sort_key(_stored(iv, 1)))
            if reverse:
                ordered.reverse()
            shown[name] = [iv.shown(reverse) for iv in ordered]
        return shown


Estimate = Callable[[str, list[KeyRange]], int]


def _stored(iv: Interval, direction: int) -> tuple[Any, bool, Any, bool]:
    if direction >= 0:
        return iv.lo, iv.lo_incl, iv.hi, iv.hi_incl
    return directed(iv.hi, -1), iv.hi_incl, directed(iv.lo, -1), iv.lo_incl


class _SortKeyOf:
    """Orders stored interval starts (BOTTOM/TOP and keys alike)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _SortKeyOf) -> bool:
        return bool(self.value < other.value)


def _interval_sort_key(stored: tuple[Any, bool, Any, bool]) -> _SortKeyOf:
    return _SortKeyOf((stored[0],))


def _key_range(combo: Sequence[tuple[Any, bool, Any, bool]]) -> KeyRange:
    lower: list[Any] = []
    upper: list[Any] = []
    for lo, _, hi, _ in combo:
        lower.append(lo)
        upper.append(hi)
    lo, lo_incl, hi, hi_incl = combo[-1]
    if not lo_incl:
        lower.append(TOP)
    if hi_incl:
        upper.append(TOP)
    return tuple(lower), tuple(upper)


# -- the filter, field by field ----------------------------------------------------------------


@dataclass
class Conditions:
    """The conditions a filter puts on one field that bounds can express."""

    points: list[Any] | None = None
    ranges: list[tuple[str, Any]] = field(default_factory=list)
    residual: bool = False  # conditions no interval expresses

    @property
    def has_null(self) -> bool:
        return self.points is not None and any(v is None for v in self.points)


def _plain(value: Any) -> bool:
    """A value an equality interval can stand for (not an array, regex or operator)."""
    if isinstance(value, list | Regex | re.Pattern):
        return False
    if isinstance(value, Mapping):
        return not any(isinstance(k, str) and k.startswith("$") for k in value)
    return not (values.is_nan(value) or values.bracket(value) in (values.MINKEY, values.MAXKEY))


def analyze(filter: Mapping[str, Any] | None) -> tuple[dict[str, Conditions], bool]:
    """Per-field conditions, and whether the filter says more (top-level operators)."""
    fields: dict[str, Conditions] = {}
    residual = _collect(filter or {}, fields)
    return fields, residual


def _collect(filter: Mapping[str, Any], fields: dict[str, Conditions]) -> bool:
    residual = False
    for name, condition in filter.items():
        if name == "$and" and isinstance(condition, list) \
                and all(isinstance(c, Mapping) for c in condition):
            for part in condition:
                residual = _collect(part, fields) or residual
            continue
        if name.startswith("$"):
            residual = True
            continue
        found = fields.setdefault(name, Conditions())
        if isinstance(condition, Mapping) and condition and \
                all(isinstance(k, str) and k.startswith("$") for k in condition):
            for op, arg in condition.items():
                _add_operator(found, op, arg)
        elif _plain(condition):
            _add_points(found, [condition])
        else:
            found.residual = True
    return residual


def _add_points(found: Conditions, points: list[Any]) -> None:
    if found.points is not None:
        found.residual = True
        return
    found.points = points


def _add_operator(found: Conditions, op: str, arg: Any) -> None:
    if op == "$eq" and _plain(arg):
        _add_points(found, [arg])
    elif op == "$in" and isinstance(arg, list) and all(_plain(v) for v in arg):
        _add_points(found, list(arg))
    elif op in _RANGE_OPS and _plain(arg) and values.bracket(arg) in _RANGEABLE:
        found.ranges.append((op, arg))
    else:
        found.residual = True


def _point(value: Any) -> Interval:
    key = order_key(value)
    shown = values.render(value)
    return Interval(key, True, key, True, shown, shown)


def _range(op: str, value: Any) -> Interval:
    kind = values.bracket(value)
    key = order_key(value)
    shown = values.render(value)
    lo_shown, hi_shown = _BRACKET_SHOWN.get(kind, ("", ""))
    if kind == values.NUMBER:
        lo = order_key(-math.inf)  # NaN matches no range
        start: Interval = Interval(lo, True, bracket_end(kind), True, lo_shown, hi_shown)
    else:
        start = Interval(bracket_start(kind), True, bracket_end(kind), False, lo_shown,
                         hi_shown)
    if op in ("$gt", "$gte"):
        return Interval(key, op == "$gte", start.hi, start.hi_incl, shown, start.hi_shown)
    return Interval(start.lo, True, key, op == "$lte", start.lo_shown, shown)


def _intersect(a: Interval, b: Interval) -> Interval | None:
    if (a.lo, not a.lo_incl) < (b.lo, not b.lo_incl):
        lo, lo_incl, lo_shown = b.lo, b.lo_incl, b.lo_shown
    else:
        lo, lo_incl, lo_shown = a.lo, a.lo_incl, a.lo_shown
    if (a.hi, a.hi_incl) < (b.hi, b.hi_incl):
        hi, hi_incl, hi_shown = a.hi, a.hi_incl, a.hi_shown
    else:
        hi, hi_incl, hi_shown = b.hi, b.hi_incl, b.hi_shown
    if lo > hi or (lo == hi and not (lo_incl and hi_incl)):
        return None
    return Interval(lo, lo_incl, hi, hi_incl, lo_shown, hi_shown)


def field_intervals(found: Conditions, multikey: bool) -> tuple[list[Interval], bool]:
    """The intervals for one field, and whether they express all of its conditions."""
    if found.points is not None:
        unique: dict[Any, Interval] = {}
        for value in found.points:
            iv = _point(value)
            unique.setdefault(iv.lo, iv)
        intervals = list(unique.values())
        return intervals, not found.ranges and not found.residual and not multikey
    if found.ranges:
        if multikey:  # each comparison may match a different element: no intersection
            return [_range(*found.ranges[0])], False
        current: Interval | None = _range(*found.ranges[0])
        for op, value in found.ranges[1:]:
            nxt = _range(op, value)
            current = _intersect(current, nxt) if current is not None else None
        return ([current] if current is not None else []), not found.residual
    return [FULL], False


# -- choosing ----------------------------------------------------------------------------------


def parse_sort(sort: Mapping[str, Any] | None) -> list[tuple[str, int]] | None:
    """``[(field, 1 | -1)]``, or None when no index can give this order ($meta, $natural)."""
    if not sort:
        return []
    parsed = []
    for name, direction in sort.items():
        if not values.is_number(direction) or name.startswith("$"):
            return None
        parsed.append((name, -1 if float(values.numeric(direction)) < 0 else 1))
    return parsed


def _serves_sort(index: IndexInfo, sort: list[tuple[str, int]],
                 pinned: set[str]) -> int:
    """1 or -1 when scanning ``index`` that way yields ``sort``'s order, else 0."""
    if not sort or index.multikey:
        return 0
    fields, directions = index.fields, index.directions
    i = 0
    scan = 0
    for name, direction in sort:
        while i < len(fields) and fields[i] != name and fields[i] in pinned:
            i += 1
        if i >= len(fields) or fields[i] != name:
            if name in pinned:
                continue  # a pinned sort field orders nothing
            return 0
        want = direction * directions[i]
        if scan and want != scan:
            return 0
        scan = want
        i += 1
    return scan or 1


def _partial_implied(partial: Mapping[str, Any], filter: Mapping[str, Any],
                     fields: dict[str, Conditions]) -> bool:
    for name, condition in partial.items():
        if name in filter and filter[name] == condition:
            continue
        if isinstance(condition, Mapping) and dict(condition) == {"$exists": True}:
            found = fields.get(name)
            if found is not None and (found.ranges or (found.points and not found.has_null)):
                continue
        return False
    return True


def find_hinted(hint: Any, indexes: Sequence[IndexInfo]) -> IndexInfo | None:
    """The index ``hint`` names (None: ``$natural``); BadValue when there is none."""
    if isinstance(hint, str):
        for index in indexes:
            if index.name == hint:
                return index
    elif isinstance(hint, Mapping):
        if hint and next(iter(hint)) == "$natural":
            return None
        wanted = [(k, v if isinstance(v, str) else float(values.numeric(v)))
                  for k, v in hint.items() if isinstance(v, str) or values.is_number(v)]
        for index in indexes:
            if [(k, v if isinstance(v, str) else float(v))
                    for k, v in index.key.items()] == wanted:
                return index
    raise MongoError(2, "error processing query: planner returned error :: caused by :: "
                        "hint provided does not correspond to an existing index")


def natural_direction(query: Query) -> int:
    hint = query.hint
    if isinstance(hint, Mapping) and hint and next(iter(hint)) == "$natural":
        return -1 if float(values.numeric(hint["$natural"])) < 0 else 1
    return 1


def plan(query: Query, indexes: Sequence[IndexInfo], estimate: Estimate, total: int,
         id_keys: list[Any] | None = None) -> tuple[Plan, list[Plan]]:
    """The winning plan and the rejected ones."""
    with collations.applied(query.collation):
        return _plan(query, indexes, estimate, total, id_keys)


def _plan(query: Query, indexes: Sequence[IndexInfo], estimate: Estimate, total: int,
          id_keys: list[Any] | None) -> tuple[Plan, list[Plan]]:
    hinted: IndexInfo | None = None
    if query.hint is not None and query.hint != {} and query.hint != "":
        hinted = find_hinted(query.hint, indexes)
        if hinted is None:
            return Plan("COLLSCAN", direction=natural_direction(query), estimate=total), []
    if query.min is not None or query.max is not None:
        return _min_max_plan(query, hinted, indexes, estimate), []
    if id_keys is not None and hinted is None:
        return Plan("IDHACK", id_keys=id_keys, estimate=len(id_keys), exact=True), []
    filter = query.filter or {}
    fields, residual = analyze(filter)
    sort = parse_sort(query.sort)
    needed = query.skip + query.limit if query.limit else 0
    candidates: list[Plan] = []
    for index in ([hinted] if hinted is not None else indexes):
        if index.collation != query.collation and hinted is None:
            continue
        candidate = _index_plan(index, fields, residual, filter, sort, hinted is not None)
        if candidate is None:
            continue
        keys = estimate(index.name, candidate.ranges())
        cost = float(keys)
        if candidate.sort_served and needed:
            cost = min(cost, needed * (1 if candidate.exact else 2))
        elif sort and not candidate.sort_served:
            cost += keys * 0.2  # a blocking sort
        if index.unique and candidate.exact and all(
                all(iv.point for iv in ivs) for ivs in candidate.bounds):
            cost = min(cost, 1)
        candidate.estimate = cost
        candidates.append(candidate)
    if hinted is None:
        union = _or_plan(query, indexes, estimate, total, sort)
        if union is not None:
            candidates.append(union)
    if not candidates:
        return Plan("COLLSCAN", estimate=total), []
    candidates.sort(key=lambda p: (p.estimate, -_bounded_fields(p), p.index.name
                                   if p.index else ""))
    return candidates[0], candidates[1:]


def _or_plan(query: Query, indexes: Sequence[IndexInfo], estimate: Estimate, total: int,
             sort: list[tuple[str, int]] | None) -> Plan | None:
    """An OR of index scans, one per clause of a top-level ``$or``, when every clause has
    an index (else a scan is needed anyway)."""
    clauses = (query.filter or {}).get("$or")
    if not isinstance(clauses, list) or not clauses \
            or not all(isinstance(c, Mapping) for c in clauses):
        return None
    branches = []
    for clause in clauses:
        branch, _ = _plan(Query(filter=clause, collation=query.collation), indexes, estimate,
                          total, None)
        if branch.stage != "IXSCAN":
            return None
        branch.sort_served = False
        branches.append(branch)
    keys = sum(b.estimate for b in branches)
    return Plan("OR", branches=branches, sort_served=sort == [],
                estimate=keys + (keys * 0.2 if sort else 0))


def _bounded_fields(p: Plan) -> int:
    return sum(1 for ivs in p.bounds if not (len(ivs) == 1 and ivs[0].full))


def _index_plan(index: IndexInfo, fields: dict[str, Conditions], residual: bool,
                filter: Mapping[str, Any], sort: list[tuple[str, int]] | None,
                hinted: bool) -> Plan | None:
    if index.partial is not None and not hinted \
            and not _partial_implied(index.partial, filter, fields):
        return None
    bounds: list[list[Interval]] = []
    absorbed: set[str] = set()
    pinned: set[str] = set()
    open_range = False
    for name in index.fields:
        found = fields.get(name)
        if open_range or found is None:
            bounds.append([FULL])
            open_range = True
            continue
        if found.has_null and index.sparse and not hinted:
            return None
        intervals, exact = field_intervals(found, index.multikey)
        bounds.append(intervals)
        if exact:
            absorbed.add(name)
        if found.points is not None:
            if len(intervals) == 1:
                pinned.add(name)
        else:
            open_range = True
    bounded = any(not (len(ivs) == 1 and ivs[0].full) for ivs in bounds)
    direction = _serves_sort(index, sort or [], pinned) if sort is not None else 0
    if not bounded and not direction and not hinted:
        return None
    if not bounded and (index.sparse or index.partial is not None) and not hinted:
        return None  # a full scan of it would miss documents
    exact = (not residual and set(fields) == absorbed and index.partial is None)
    return Plan("IXSCAN", index=index, bounds=bounds, direction=direction or 1,
                sort_served=bool(direction) or sort == [], exact=exact)


def _min_max_plan(query: Query, hinted: IndexInfo | None, indexes: Sequence[IndexInfo],
                  estimate: Estimate) -> Plan:
    if hinted is None:
        raise MongoError(51173, "When using min()/max() a hint of which index to use must be "
                                "provided")
    bound = query.min if query.min is not None else query.max
    assert bound is not None
    if list(bound) != hinted.fields or (query.min is not None and query.max is not None
                                        and list(query.min) != list(query.max)):
        raise MongoError(51174, "The index chosen is not consistent with min/max")
    directions = hinted.directions
    lower: tuple[Any, ...] = (BOTTOM,)
    upper: tuple[Any, ...] = (TOP,)
    if query.min is not None:
        lower = tuple(directed(order_key(v), d) for v, d in zip(query.min.values(), directions))
    if query.max is not None:
        upper = tuple(directed(order_key(v), d) for v, d in zip(query.max.values(), directions))
    sort = parse_sort(query.sort)
    direction = _serves_sort(hinted, sort or [], set()) if sort else 1
    p = Plan("IXSCAN", index=hinted, bounds=[[FULL] for _ in hinted.fields],
             direction=direction or 1, sort_served=bool(direction) or sort == [],
             key_range=(lower, upper))
    p.estimate = estimate(hinted.name, [p.key_range]) if p.key_range else 0
    return p

