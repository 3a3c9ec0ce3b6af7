"""The query planner as a user sees it: explain() shapes, hint, min/max, index visibility in
transactions and snapshots, and maxTimeMS - through PyMongo's sync and async clients."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ExecutionTimeout, OperationFailure
from pymongo.read_concern import ReadConcern
from pymongo.synchronous.database import Database


def _stages(plan: dict[str, Any]) -> list[str]:
    """Stage names of a plan tree, top down."""
    found = []
    while plan:
        found.append(plan["stage"])
        plan = plan.get("inputStage")  # type: ignore[assignment]
    return found


def _ixscan(plan: dict[str, Any]) -> dict[str, Any]:
    while plan["stage"] not in ("IXSCAN", "COUNT_SCAN", "DISTINCT_SCAN"):
        plan = plan["inputStage"]
    return plan


def _fill(db: Database, n: int = 200) -> None:
    db.items.insert_many([{"_id": i, "a": i % 10, "ts": i, "email": f"u{i}@x",
                           "tags": [i % 3, i % 5]} for i in range(n)])
    db.items.create_index("a")
    db.items.create_index([("ts", DESCENDING)])
    db.items.create_index("email", unique=True)
    db.items.create_index([("a", ASCENDING), ("ts", ASCENDING)])


# -- explain shapes -----------------------------------------------------------------------------


def test_find_explain_shows_the_index_its_bounds_and_stats(db: Database) -> None:
    _fill(db)
    plan = db.items.find({"email": "u7@x"}).explain()
    assert "IXSCAN" in str(plan["queryPlanner"])
    winning = plan["queryPlanner"]["winningPlan"]
    assert _stages(winning) == ["FETCH", "IXSCAN"]
    ixscan = _ixscan(winning)
    assert ixscan["indexName"] == "email_1" and ixscan["keyPattern"] == {"email": 1}
    assert ixscan["direction"] == "forward" and ixscan["isUnique"] is True
    assert ixscan["indexBounds"] == {"email": ['["u7@x", "u7@x"]']}
    stats = plan["executionStats"]
    assert stats["nReturned"] == 1 and stats["totalKeysExamined"] == 1
    assert stats["totalDocsExamined"] <= 1
    assert plan["queryPlanner"]["namespace"] == f"{db.name}.items"
    assert plan["ok"] == 1.0


def test_collection_scan_without_a_usable_index(db: Database) -> None:
    _fill(db)
    plan = db.items.find({"email": {"$regex": "^u1"}}).explain()
    winning = plan["queryPlanner"]["winningPlan"]
    assert winning["stage"] == "COLLSCAN" and winning["direction"] == "forward"
    assert plan["executionStats"]["totalDocsExamined"] == 200
    assert plan["executionStats"]["totalKeysExamined"] == 0


def test_sort_served_backward_with_limit_stops_early(db: Database) -> None:
    _fill(db)
    cursor = db.items.find({}, {"ts": 1, "_id": 0}).sort("ts", ASCENDING).skip(1).limit(3)
    assert [d["ts"] for d in cursor.clone()] == [1, 2, 3]
    plan = cursor.explain()
    winning = plan["queryPlanner"]["winningPlan"]
    assert _stages(winning) == ["PROJECTION_SIMPLE", "LIMIT", "SKIP", "FETCH", "IXSCAN"]
    ixscan = _ixscan(winning)
    assert ixscan["indexName"] == "ts_-1" and ixscan["direction"] == "backward"
    assert ixscan["indexBounds"] == {"ts": ["[MinKey, MaxKey]"]}
    assert plan["executionStats"]["totalKeysExamined"] <= 5  # not the whole index
    newest = db.items.find({}).sort("ts", DESCENDING).limit(10)
    assert [d["ts"] for d in newest] == list(range(199, 189, -1))


def test_blocking_sort_and_compound_prefix_bounds(db: Database) -> None:
    _fill(db)
    plan = db.items.find({"a": 3, "ts": {"$gte": 50, "$lt": 120}}).sort("email", 1).explain()
    winning = plan["queryPlanner"]["winningPlan"]
    assert winning["stage"] == "SORT" and winning["sortPattern"] == {"email": 1}
    ixscan = _ixscan(winning)
    assert ixscan["indexName"] == "a_1_ts_1"
    assert ixscan["indexBounds"] == {"a": ["[3, 3]"], "ts": ["[50, 120)"]}
    assert plan["executionStats"]["nReturned"] == 7
    assert plan["executionStats"]["totalKeysExamined"] == 7
    assert any(_ixscan(p)["indexName"] in ("a_1", "ts_-1")
               for p in plan["queryPlanner"]["rejectedPlans"])
    assert len(plan["executionStats"]["allPlansExecution"]) >= 2


def test_in_and_multikey_bounds(db: Database) -> None:
    _fill(db)
    db.items.create_index("tags")
    plan = db.command("explain", {"find": "items", "filter": {"tags": {"$in": [4, 2]}}},
                      verbosity="executionStats")
    ixscan = _ixscan(plan["queryPlanner"]["winningPlan"])
    assert ixscan["isMultiKey"] is True and ixscan["indexBounds"] == {"tags": ["[2, 2]", "[4, 4]"]}
    expected = [d["_id"] for d in db.items.find({"tags": {"$in": [4, 2]}}).hint({"$natural": 1})]
    assert sorted(d["_id"] for d in db.items.find({"tags": {"$in": [4, 2]}})) == sorted(expected)
    assert "allPlansExecution" not in plan["executionStats"]


def test_count_distinct_and_missing_collection_explains(db: Database) -> None:
    _fill(db)
    count = db.command("explain", {"count": "items", "query": {"ts": {"$gte": 10, "$lt": 110}}},
                       verbosity="executionStats")
    assert _stages(count["queryPlanner"]["winningPlan"]) == ["COUNT", "COUNT_SCAN"]
    assert count["executionStats"]["nReturned"] == 100
    assert count["executionStats"]["totalDocsExamined"] == 0
    assert db.items.count_documents({"ts": {"$gte": 10, "$lt": 110}}) == 100
    distinct = db.command("explain", {"distinct": "items", "key": "a"})
    assert _stages(distinct["queryPlanner"]["winningPlan"]) == ["PROJECTION_COVERED",
                                                                "DISTINCT_SCAN"]
    assert db.items.distinct("a") == list(range(10))
    missing = db.nothing.find({"a": 1}).explain()
    assert missing["queryPlanner"]["winningPlan"] == {"stage": "EOF"}


def test_write_explains_change_nothing(db: Database) -> None:
    _fill(db)
    update = db.command("explain", {"update": "items", "updates": [
        {"q": {"a": 4}, "u": {"$set": {"x": 1}}, "multi": True}]}, verbosity="executionStats")
    assert _stages(update["queryPlanner"]["winningPlan"])[:2] == ["UPDATE", "FETCH"]
    assert update["executionStats"]["executionStages"]["nMatched"] == 20
    delete = db.command("explain", {"delete": "items", "deletes": [
        {"q": {"email": "u1@x"}, "limit": 1}]}, verbosity="executionStats")
    assert delete["queryPlanner"]["winningPlan"]["stage"] == "DELETE"
    assert delete["executionStats"]["executionStages"]["nWouldDelete"] == 1
    fam = db.command("explain", {"findAndModify": "items", "query": {"a": 1},
                                 "sort": {"ts": -1}, "update": {"$inc": {"a": 1}}})
    assert fam["queryPlanner"]["winningPlan"]["stage"] == "UPDATE"
    assert "IXSCAN" in str(fam["queryPlanner"])
    assert db.items.count_documents({"x": 1}) == 0
    assert db.items.count_documents({}) == 200
    assert db.items.count_documents({"a": 1}) == 20


def test_aggregate_explain_pushes_the_leading_match(db: Database) -> None:
    _fill(db)
    plan = db.command("explain", {"aggregate": "items", "cursor": {}, "pipeline": [
        {"$match": {"a": 2}}, {"$group": {"_id": None, "n": {"$sum": 1}}}]},
        verbosity="executionStats")
    cursor_stage = plan["stages"][0]["$cursor"]
    assert "IXSCAN" in str(cursor_stage["queryPlanner"]["winningPlan"])
    assert cursor_stage["executionStats"]["nReturned"] == 20
    assert plan["stages"][1] == {"$group": {"_id": None, "n": {"$sum": 1}}}
    flat = db.command("aggregate", "items", pipeline=[{"$match": {"email": "u3@x"}}],
                      explain=True)
    assert "IXSCAN" in str(flat["queryPlanner"])
    result = list(db.items.aggregate([{"$match": {"a": 2}}, {"$sort": {"ts": -1}},
                                      {"$limit": 2}, {"$project": {"ts": 1, "_id": 0}}]))
    assert result == [{"ts": 192}, {"ts": 182}]


def test_explain_errors(db: Database) -> None:
    with pytest.raises(OperationFailure) as verbosity:
        db.command("explain", {"find": "items"}, verbosity="everything")
    assert verbosity.value.code == 2
    with pytest.raises(OperationFailure) as unknown:
        db.command("explain", {"insert": "items", "documents": [{}]})
    assert unknown.value.code == 59


# -- hint, min/max ---------------------------------------------------------------------------


def test_hint_by_name_and_key_pattern_and_unknown_hint(db: Database) -> None:
    _fill(db)
    by_name = db.items.find({"a": 1, "ts": {"$gt": 150}}).hint("ts_-1").explain()
    assert _ixscan(by_name["queryPlanner"]["winningPlan"])["indexName"] == "ts_-1"
    by_key = db.items.find({"a": 1}).hint([("a", 1), ("ts", 1)]).explain()
    assert _ixscan(by_key["queryPlanner"]["winningPlan"])["indexName"] == "a_1_ts_1"
    natural = db.items.find({"a": 1}).hint([("$natural", -1)]).explain()
    assert natural["queryPlanner"]["winningPlan"]["direction"] == "backward"
    assert [d["ts"] for d in db.items.find({"a": 1}).hint("ts_-1")][:2] == [191, 181]
    with pytest.raises(OperationFailure) as unknown:
        list(db.items.find({"a": 1}).hint("nope_1"))
    assert unknown.value.code == 2
    with pytest.raises(OperationFailure) as unknown_key:
        db.items.count_documents({"a": 1}, hint=[("zzz", 1)])
    assert unknown_key.value.code == 2
    result = db.items.update_many({"a": 1}, {"$set": {"hinted": True}}, hint="a_1")
    assert result.modified_count == 20


def test_min_max_need_a_hint_and_bound_the_scan(db: Database) -> None:
    _fill(db)
    found = list(db.items.find().hint([("ts", -1)]).min([("ts", 20)]).max([("ts", 15)]))
    assert [d["ts"] for d in found] == [20, 19, 18, 17, 16]
    with pytest.raises(OperationFailure) as no_hint:
        db.command("find", "items", min={"ts": 5})
    assert no_hint.value.code == 51173


# -- visibility ------------------------------------------------------------------------------


def test_transaction_sees_its_own_writes_through_indexes_and_others_do_not(
        db: Database) -> None:
    _fill(db, 50)
    client = db.client
    with client.start_session() as session, session.start_transaction():
        db.items.insert_one({"_id": 1000, "a": 77, "ts": 5000, "email": "new@x"},
                            session=session)
        db.items.update_one({"email": "u3@x"}, {"$set": {"a": 77}}, session=session)
        db.items.delete_one({"email": "u4@x"}, session=session)
        mine = sorted(d["_id"] for d in db.items.find({"a": 77}, session=session))
        assert mine == [3, 1000]
        assert db.items.find_one({"email": "u4@x"}, session=session) is None
        assert db.items.find_one({}, sort=[("ts", -1)], session=session)["_id"] == 1000
        # outside the transaction, through the same indexes: the committed state only
        assert list(db.items.find({"a": 77})) == []
        assert db.items.find_one({"email": "u4@x"})["_id"] == 4
        assert db.items.count_documents({"ts": {"$gte": 0}}) == 50
        assert db.items.find_one({}, sort=[("ts", -1)])["_id"] == 49
    assert sorted(d["_id"] for d in db.items.find({"a": 77})) == [3, 1000]
    assert db.items.find_one({"email": "u4@x"}) is None


def test_aborted_transaction_leaves_no_index_entries(db: Database) -> None:
    _fill(db, 20)
    with db.client.start_session() as session:
        session.start_transaction()
        db.items.insert_one({"_id": 99, "a": 55, "ts": 999, "email": "gone@x"},
                            session=session)
        session.abort_transaction()
    assert db.items.find_one({"a": 55}) is None
    assert db.items.count_documents({"email": "gone@x"}) == 0
    db.items.insert_one({"_id": 100, "a": 56, "ts": 998, "email": "gone@x"})  # no duplicate


def test_snapshot_reads_see_old_versions_through_indexes(db: Database) -> None:
    _fill(db, 30)
    with db.client.start_session(snapshot=True) as session:
        assert db.items.find_one({"email": "u5@x"}, session=session)["a"] == 5
        db.items.update_one({"email": "u5@x"}, {"$set": {"a": 99, "ts": -1}})
        db.items.delete_one({"email": "u6@x"})
        assert db.items.find_one({"a": 99}, session=session) is None
        assert db.items.find_one({"email": "u6@x"}, session=session)["_id"] == 6
        oldest = db.items.find_one({}, sort=[("ts", 1)], session=session)
        assert oldest["_id"] == 0
    assert db.items.find_one({"a": 99})["_id"] == 5
    assert db.items.find_one({}, sort=[("ts", 1)])["_id"] == 5


def test_partial_and_sparse_indexes_answer_only_what_they_hold(db: Database) -> None:
    db.items.insert_many([{"_id": 1, "a": 1, "b": 5}, {"_id": 2, "a": 1},
                          {"_id": 3, "a": 2, "b": None}])
    db.items.create_index("a", partialFilterExpression={"b": {"$exists": True}},
                           name="a_partial")
    db.items.create_index("b", sparse=True)
    assert sorted(d["_id"] for d in db.items.find({"a": 1})) == [1, 2]
    implied = db.items.find({"a": 1, "b": {"$exists": True}}).explain()
    assert "a_partial" in str(implied["queryPlanner"]["winningPlan"])
    assert sorted(d["_id"] for d in db.items.find({"b": None})) == [2, 3]
    not_sparse = db.items.find({"b": None}).explain()
    assert "b_1" not in str(not_sparse["queryPlanner"]["winningPlan"])


# -- maxTimeMS -------------------------------------------------------------------------------

# A filter costly to evaluate on every document, so a scan of a few thousand takes long.
_SLOW = {"$expr": {"$lt": [{"$sum": {"$map": {"input": "$n", "in": {"$multiply": [
    "$$this", {"$add": ["$$this", 1]}]}}}}, -1]}}


def _slow_collection(db: Database) -> None:
    db.slow.insert_many([{"_id": i, "n": list(range(100))} for i in range(1500)])


def test_max_time_ms_expires_reads_and_writes(db: Database) -> None:
    _slow_collection(db)
    with pytest.raises(ExecutionTimeout) as find:
        list(db.slow.find(_SLOW).max_time_ms(20))
    assert find.value.code == 50
    with pytest.raises(ExecutionTimeout):
        db.slow.count_documents(_SLOW, maxTimeMS=20)
    with pytest.raises(ExecutionTimeout):
        db.command("count", "slow", query=_SLOW, maxTimeMS=20)
    with pytest.raises(ExecutionTimeout):
        db.slow.distinct("_id", _SLOW, maxTimeMS=20)
    with pytest.raises(ExecutionTimeout):
        list(db.slow.aggregate([{"$match": _SLOW}], maxTimeMS=20))
    with pytest.raises(OperationFailure) as update:
        db.command("update", "slow", updates=[{"q": _SLOW, "u": {"$set": {"x": 1}},
                                                "multi": True}] * 5, maxTimeMS=20)
    assert update.value.code == 50
    assert db.slow.find_one({"_id": 1}, max_time_ms=20000)["_id"] == 1  # enough time: fine
    with pytest.raises(OperationFailure) as bad:
        db.command("find", "slow", maxTimeMS=-1)
    assert bad.value.code == 2


def test_max_time_ms_covers_get_more(db: Database) -> None:
    _slow_collection(db)
    cursor = db.slow.find({"$or": [{"_id": {"$lt": 2}}, _SLOW]}).max_time_ms(30).batch_size(1)
    assert next(cursor)["_id"] == 0  # the first batch is quick
    with pytest.raises(ExecutionTimeout):
        list(cursor)  # the getMore scanning the rest runs out of time


# -- async twins ---------------------------------------------------------------------------------


async def test_async_explain_hint_and_transaction_visibility(adb: AsyncDatabase) -> None:
    await adb.items.insert_many([{"_id": i, "a": i % 4, "ts": i} for i in range(40)])
    await adb.items.create_index("a")
    await adb.items.create_index([("ts", -1)])
    plan = await adb.items.find({"a": 2}).explain()
    assert "IXSCAN" in str(plan["queryPlanner"])
    assert plan["executionStats"]["nReturned"] == 10
    newest = await adb.items.find({}).sort("ts", -1).limit(3).to_list()
    assert [d["ts"] for d in newest] == [39, 38, 37]
    with pytest.raises(OperationFailure) as unknown:
        await adb.items.find({"a": 1}).hint("missing_1").to_list()
    assert unknown.value.code == 2
    async with adb.client.start_session() as session:
        await session.start_transaction()
        await adb.items.insert_one({"_id": 500, "a": 9, "ts": 500}, session=session)
        assert [d["_id"] async for d in adb.items.find({"a": 9}, session=session)] == [500]
        assert await adb.items.find_one({"a": 9}) is None
        await session.commit_transaction()
    assert (await adb.items.find_one({"a": 9}))["_id"] == 500


async def test_async_max_time_ms(adb: AsyncDatabase) -> None:
    await adb.slow.insert_many([{"_id": i, "n": list(range(100))} for i in range(1500)])
    with pytest.raises(ExecutionTimeout):
        await adb.slow.find(_SLOW).max_time_ms(20).to_list()
    with pytest.raises(ExecutionTimeout):
        await adb.slow.count_documents(_SLOW, maxTimeMS=20)


async def test_async_snapshot_read_through_index(adb: AsyncDatabase) -> None:
    await adb.items.insert_many([{"_id": i, "a": i} for i in range(10)])
    await adb.items.create_index("a")
    async with adb.client.start_session(snapshot=True) as session:
        assert (await adb.items.find_one({"a": 3}, session=session))["_id"] == 3
        await adb.items.update_one({"a": 3}, {"$set": {"a": 33}})
        assert (await adb.items.find_one({"a": 3}, session=session))["_id"] == 3
        assert await adb.items.find_one({"a": 33}, session=session) is None
    assert (await adb.items.find_one({"a": 33}))["_id"] == 3
    assert ReadConcern("snapshot").level == "snapshot"


def test_or_of_indexed_clauses_is_a_union_of_index_scans(db: Database) -> None:
    _fill(db)
    query = {"$or": [{"email": "u5@x"}, {"ts": {"$gte": 198}}, {"a": 1, "ts": 11}]}
    plan = db.items.find(query).explain()
    winning = plan["queryPlanner"]["winningPlan"]
    assert _stages(winning)[:2] == ["FETCH", "OR"]
    assert {s["indexName"] for s in winning["inputStage"]["inputStages"]} >= {"email_1", "ts_-1"}
    assert plan["executionStats"]["nReturned"] == 4
    assert plan["executionStats"]["totalDocsExamined"] == 4
    assert sorted(d["_id"] for d in db.items.find(query)) == [5, 11, 198, 199]
    unindexed = db.items.find({"$or": [{"email": "u5@x"}, {"nope": 1}]}).explain()
    assert unindexed["queryPlanner"]["winningPlan"]["stage"] == "COLLSCAN"


def test_sort_by_id_is_served_by_the_id_index(db: Database) -> None:
    _fill(db)
    cursor = db.items.find({"a": {"$exists": True}}).sort("_id", -1).limit(3)
    assert [d["_id"] for d in cursor.clone()] == [199, 198, 197]
    plan = cursor.explain()
    ixscan = _ixscan(plan["queryPlanner"]["winningPlan"])
    assert ixscan["indexName"] == "_id_" and ixscan["direction"] == "backward"
    assert plan["executionStats"]["totalKeysExamined"] == 3
    db.items.insert_one({"_id": 500, "a": 1})  # kept in step once built
    assert db.items.find_one({}, sort=[("_id", -1)])["_id"] == 500
    assert [d["_id"] for d in db.items.find({"_id": {"$gt": 198}})] == [199, 500]


def test_a_cursor_over_an_index_survives_writes_between_batches(db: Database) -> None:
    db.items.insert_many([{"_id": i, "ts": i} for i in range(300)])
    db.items.create_index("ts")
    cursor = db.items.find({"ts": {"$gte": 0}}).sort("ts", 1).batch_size(10)
    seen = [next(cursor)["ts"] for _ in range(10)]
    db.items.insert_many([{"_id": 1000 + i, "ts": -1 - i} for i in range(300)])
    db.items.delete_many({"ts": {"$lt": 5}})  # already returned
    db.items.update_many({"ts": {"$gte": 290}}, {"$inc": {"ts": 1000}})
    rest = [d["ts"] for d in cursor]
    assert seen + rest == list(range(290)) + list(range(1290, 1300))


def test_an_index_with_a_collation_serves_queries_with_that_collation(db: Database) -> None:
    db.create_collection("people", collation={"locale": "en", "strength": 2})
    db.people.insert_many([{"_id": 1, "name": "abc"}, {"_id": 2, "name": "ABC"},
                           {"_id": 3, "name": "Bob"}, {"_id": 4, "name": "alice"}])
    db.people.create_index("name")
    assert sorted(d["_id"] for d in db.people.find({"name": "Abc"})) == [1, 2]
    plan = db.people.find({"name": "Abc"}).explain()
    assert _ixscan(plan["queryPlanner"]["winningPlan"])["indexName"] == "name_1"
    ordered = [d["name"] for d in db.people.find({}).sort("name", 1)]
    assert ordered == ["abc", "ABC", "alice", "Bob"]
    simple = db.people.find({"name": "Abc"}).collation({"locale": "simple"})
    assert list(simple) == []
    assert "COLLSCAN" in str(simple.explain()["queryPlanner"]["winningPlan"])
