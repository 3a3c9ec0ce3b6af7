"""The planner answers exactly as a collection scan: random documents, indexes, filters and
sorts, run once as planned and once with ``hint: {$natural: 1}`` (a forced scan), outside
and inside a transaction whose own writes the indexes must show to it alone."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo.synchronous.database import Database

# Mostly small integers, so that filters often hit documents; every bracket now and then.
SCALARS = st.one_of(
    st.integers(-2, 2), st.integers(-2, 2), st.integers(-2, 2),
    st.sampled_from([2.5, -0.5, float("nan"), None, "a", "b", "B", "", True, False]),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.fixed_dictionaries({"x": SCALARS}))
MISSING = object()


@st.composite
def documents(draw: Any) -> list[dict[str, Any]]:
    count = draw(st.integers(0, 30))
    docs = []
    for i in range(count):
        doc: dict[str, Any] = {"_id": i, "u": (i * 7) % 101}
        for name in ("a", "b"):
            value = draw(st.one_of(st.just(MISSING), VALUES))
            if value is not MISSING:
                doc[name] = value
        shape = draw(st.sampled_from(["none", "doc", "array"]))
        if shape == "doc":
            doc["c"] = {"x": draw(SCALARS)}
        elif shape == "array":
            doc["c"] = [{"x": draw(SCALARS)}, {}]
        docs.append(doc)
    return docs


INDEXES: list[tuple[list[tuple[str, int]], dict[str, Any]]] = [
    ([("a", 1)], {}),
    ([("b", -1)], {}),
    ([("a", 1), ("b", 1)], {}),
    ([("a", -1), ("u", 1)], {}),
    ([("b", 1), ("u", -1)], {}),
    ([("c.x", 1)], {}),
    ([("u", 1)], {"unique": True}),
    ([("b", 1)], {"sparse": True, "name": "b_sparse"}),
    ([("a", 1)], {"partialFilterExpression": {"b": {"$exists": True}}, "name": "a_partial"}),
]


@st.composite
def conditions(draw: Any) -> dict[str, Any]:
    field = draw(st.sampled_from(["a", "a", "b", "b", "c.x", "u"]))
    op = draw(st.sampled_from(["eq", "$eq", "$in", "$gt", "$gte", "$lt", "$lte", "$ne",
                               "$exists", "range", "$gt", "$gte", "$lt", "$lte", "range"]))
    if op == "eq":
        return {field: draw(VALUES)}
    if op == "$in":
        return {field: {"$in": draw(st.lists(SCALARS, max_size=3))}}
    if op == "$exists":
        return {field: {"$exists": draw(st.booleans())}}
    if op == "range":
        return {field: {"$gt": draw(SCALARS), "$lte": draw(SCALARS)}}
    return {field: {op: draw(SCALARS)}}


@st.composite
def filters(draw: Any) -> dict[str, Any]:
    parts = draw(st.lists(conditions(), min_size=1, max_size=3))
    shape = draw(st.sampled_from(["merged", "merged", "and", "or"]))
    if shape == "and" and len(parts) > 1:
        return {"$and": parts}
    if shape == "or":
        return {"$or": parts, **draw(st.sampled_from([{}, {"u": {"$gte": 10}}]))}
    merged: dict[str, Any] = {}
    for part in parts:
        merged.update(part)
    return merged


SORTS = [None, [("u", 1)], [("u", -1)], [("a", 1), ("u", 1)], [("a", -1), ("u", -1)],
         [("b", 1), ("u", -1)], [("b", -1), ("_id", 1)]]
SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def _ids(cursor: Any) -> list[Any]:
    return [doc["_id"] for doc in cursor]


def _compare(db: Database, filter: dict[str, Any], sort: Any, limit: int,
             session: Any = None) -> None:
    coll = db.items
    planned = coll.find(filter, session=session, limit=limit)
    scanned = coll.find(filter, session=session, limit=limit).hint([("$natural", 1)])
    if sort:
        planned, scanned = planned.sort(sort), scanned.sort(sort)
        assert _ids(planned) == _ids(scanned), (filter, sort)
    elif limit:  # which documents a limit without sort keeps depends on the plan's order
        everything = set(_ids(coll.find(filter, session=session).hint([("$natural", 1)])))
        got, expected = _ids(planned), _ids(scanned)
        assert len(got) == len(expected) and set(got) <= everything, filter
    else:
        assert sorted(_ids(planned)) == sorted(_ids(scanned)), filter
    counted = db.command("count", "items", query=filter, session=session) \
        if session is None else None
    if counted is not None:
        scan_count = db.command("count", "items", query=filter, hint={"$natural": 1})
        assert counted["n"] == scan_count["n"], filter
    for key in ("a", "u"):  # distinct: against the same documents without any index
        assert repr(coll.distinct(key, filter, session=session)) == repr(
            db.plain.distinct(key, filter, session=session)), (key, filter)


@given(docs=documents(), chosen=st.sets(st.integers(0, len(INDEXES) - 1), min_size=1,
                                       max_size=4),
       queries=st.lists(st.tuples(filters(), st.sampled_from(SORTS), st.sampled_from([0, 3])),
                        min_size=1, max_size=6))
@SETTINGS
def test_planner_matches_a_scan(db: Database, docs: list[dict[str, Any]], chosen: set[int],
                                queries: list[Any]) -> None:
    db.items.drop()
    db.plain.drop()
    if docs:
        db.items.insert_many(docs)
        db.plain.insert_many(docs)
    for i in sorted(chosen):
        keys, options = INDEXES[i]
        db.items.create_index(keys, **options)
    for filter, sort, limit in queries:
        _compare(db, filter, sort, limit)


@given(docs=documents(), chosen=st.sets(st.integers(0, len(INDEXES) - 1), max_size=3),
       changes=st.lists(st.tuples(filters(), VALUES), max_size=3),
       queries=st.lists(st.tuples(filters(), st.sampled_from(SORTS), st.sampled_from([0, 3])),
                        min_size=1, max_size=3))
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_planner_matches_a_scan_inside_a_transaction(
        db: Database, docs: list[dict[str, Any]], chosen: set[int], changes: list[Any],
        queries: list[Any]) -> None:
    db.items.drop()
    db.plain.drop()
    db.items.insert_many(docs or [{"_id": -1, "u": 1000}])
    db.plain.insert_many(docs or [{"_id": -1, "u": 1000}])
    for i in sorted(chosen):
        keys, options = INDEXES[i]
        db.items.create_index(keys, **options)
    before = {filter_key(f): _ids(db.items.find(f).hint([("$natural", 1)]))
              for f, _, _ in queries}
    with db.client.start_session() as session, session.start_transaction():
        for coll in (db.items, db.plain):
            for filter, value in changes:
                coll.update_many(filter, {"$set": {"a": value}}, session=session)
            coll.delete_many({"u": {"$gte": 90}}, session=session)  # not _one: plan-dependent
            coll.insert_one({"_id": 1000, "u": 500, "a": 1, "b": "a"}, session=session)
        for filter, sort, limit in queries:
            _compare(db, filter, sort, limit, session)
            # others still read the committed documents, through the indexes too
            assert sorted(_ids(db.items.find(filter))) == sorted(before[filter_key(filter)])
        session.abort_transaction()
    for filter, sort, limit in queries:
        _compare(db, filter, sort, limit)


def filter_key(filter: dict[str, Any]) -> str:
    return repr(filter)
