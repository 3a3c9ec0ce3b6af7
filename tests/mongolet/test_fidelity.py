"""Behaviours MongoDB's driver spec tests showed mongolet getting wrong, pinned through the
real PyMongo clients (sync and async) so they stay fixed."""

from __future__ import annotations

import pytest
from bson import Timestamp
from pymongo import AsyncMongoClient, MongoClient, ReturnDocument, UpdateOne, WriteConcern
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure, WriteConcernError, WriteError
from pymongo.read_concern import ReadConcern
from pymongo.synchronous.database import Database

# -- let: command variables in filters, update pipelines and projections ----------------------

_BY_LET_ID = {"$expr": {"$eq": ["$_id", "$$id"]}}


def test_update_one_let_in_filter_and_pipeline(db: Database) -> None:
    db.c.insert_many([{"_id": 1}, {"_id": 2}])
    result = db.c.update_one(_BY_LET_ID, [{"$set": {"x": "$$x"}}], let={"id": 1, "x": "foo"})
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert list(db.c.find()) == [{"_id": 1, "x": "foo"}, {"_id": 2}]


def test_update_many_and_delete_with_let(db: Database) -> None:
    db.c.insert_many([{"_id": 1, "x": 1}, {"_id": 2, "x": 2}, {"_id": 3, "x": 3}])
    moved = db.c.update_many({"$expr": {"$gte": ["$x", "$$low"]}}, {"$inc": {"x": 10}},
                             let={"low": 2})
    assert moved.modified_count == 2
    assert db.c.delete_many({"$expr": {"$gt": ["$x", "$$limit"]}},
                            let={"limit": 12}).deleted_count == 1
    assert db.c.delete_one(_BY_LET_ID, let={"id": 1}).deleted_count == 1
    assert list(db.c.find()) == [{"_id": 2, "x": 12}]


def test_upsert_pipeline_sees_let(db: Database) -> None:
    db.c.update_one({"_id": 5}, [{"$set": {"y": "$$y"}}], upsert=True, let={"y": 7})
    assert db.c.find_one() == {"_id": 5, "y": 7}


def test_let_values_are_expressions(db: Database) -> None:
    db.c.insert_one({"_id": 1})
    docs = list(db.c.aggregate(
        [{"$project": {"_id": 0, "y": "$$y", "z": "$$z"}}],
        let={"y": {"$literal": "$bar"}, "z": {"$add": [1, 2]}}))
    assert docs == [{"y": "$bar", "z": 3}]


def test_find_one_and_modify_with_let(db: Database) -> None:
    db.c.insert_many([{"_id": 1, "x": 1}, {"_id": 2, "x": 2}])
    after = db.c.find_one_and_update(_BY_LET_ID, [{"$set": {"x": "$$v"}}],
                                     let={"id": 2, "v": "new"},
                                     return_document=ReturnDocument.AFTER)
    assert after == {"_id": 2, "x": "new"}
    assert db.c.find_one_and_replace(_BY_LET_ID, {"r": 1}, let={"id": 1}) == {"_id": 1, "x": 1}
    assert db.c.find_one_and_delete(_BY_LET_ID, let={"id": 1}) == {"_id": 1, "r": 1}


def test_let_with_an_invalid_variable_name_is_refused(db: Database) -> None:
    db.c.insert_one({"_id": 1})
    with pytest.raises(OperationFailure) as info:
        db.c.update_one({"_id": 1}, {"$set": {"a": 1}}, let={"Bad": 1})
    assert info.value.code == 16867


async def test_bulk_write_with_let_async(adb: AsyncDatabase) -> None:
    await adb.c.insert_many([{"_id": 1, "x": 20}, {"_id": 2, "x": 21}])
    await adb.c.bulk_write([UpdateOne(_BY_LET_ID, [{"$set": {"x": "$$x"}}])],
                           let={"id": 1, "x": 99})
    assert await adb.c.find_one({"_id": 1}) == {"_id": 1, "x": 99}
    assert await adb.c.count_documents({"x": 21}) == 1


# -- snapshot reads outside transactions -------------------------------------------------------


def test_snapshot_session_reads_one_point_in_time(client: MongoClient, db: Database) -> None:
    db.c.insert_many([{"_id": 1, "x": 11}, {"_id": 2, "x": 11}])
    with client.start_session(snapshot=True) as session:
        assert db.c.find_one({"_id": 1}, session=session) == {"_id": 1, "x": 11}
        at = session._snapshot_time
        assert isinstance(at, Timestamp)
        db.c.update_one({"_id": 1}, {"$inc": {"x": 1}})
        db.c.insert_one({"_id": 3, "x": 5})
        db.c.delete_one({"_id": 2})
        assert list(db.c.find(session=session)) == [{"_id": 1, "x": 11}, {"_id": 2, "x": 11}]
        assert db.c.distinct("x", session=session) == [11]
        assert db.c.count_documents({}, session=session) == 2
        assert list(db.c.aggregate([{"$match": {"_id": 1}}], session=session)) == [
            {"_id": 1, "x": 11}]
    assert db.c.find_one({"_id": 1}) == {"_id": 1, "x": 12}


def test_snapshot_reply_names_at_cluster_time(db: Database) -> None:
    db.c.insert_one({"_id": 1})
    reply = db.command("find", "c", readConcern={"level": "snapshot"})
    at = reply["cursor"]["atClusterTime"]
    assert isinstance(at, Timestamp)
    db.c.insert_one({"_id": 2})
    again = db.command("find", "c", readConcern={"level": "snapshot", "atClusterTime": at})
    assert again["cursor"]["firstBatch"] == [{"_id": 1}]
    assert again["cursor"]["atClusterTime"] == at
    distinct = db.command("distinct", "c", key="_id", readConcern={"level": "snapshot"})
    assert distinct["values"] == [1, 2] and isinstance(distinct["atClusterTime"], Timestamp)


def test_snapshot_errors_are_mongods(db: Database) -> None:
    db.c.insert_one({"_id": 1})
    now = db.command("ping")["operationTime"]
    future = Timestamp(now.time, now.inc + 1000)
    with pytest.raises(OperationFailure) as info:
        db.command("find", "c", readConcern={"level": "snapshot", "atClusterTime": future})
    assert info.value.code == 72
    with pytest.raises(OperationFailure) as info:
        db.command("find", "c", readConcern={"level": "snapshot",
                                             "atClusterTime": Timestamp(1, 1)})
    assert info.value.code == 239 and info.value.details["codeName"] == "SnapshotTooOld"
    with pytest.raises(OperationFailure) as info:
        db.command("insert", "c", documents=[{"_id": 2}], readConcern={"level": "snapshot"})
    assert info.value.code == 72


async def test_snapshot_session_async(aclient: AsyncMongoClient, adb: AsyncDatabase) -> None:
    await adb.c.insert_one({"_id": 1, "x": 1})
    async with aclient.start_session(snapshot=True) as session:
        assert await adb.c.find_one({}, session=session) == {"_id": 1, "x": 1}
        await adb.c.update_one({"_id": 1}, {"$set": {"x": 2}})
        assert await adb.c.find_one({}, session=session) == {"_id": 1, "x": 1}


def test_out_refuses_linearizable_and_snapshot_read_concern(db: Database) -> None:
    db.c.insert_one({"_id": 1})
    for level in ("linearizable", "snapshot"):
        with pytest.raises(OperationFailure) as info:
            db.command("aggregate", "c", pipeline=[{"$out": "o"}], cursor={},
                       readConcern={"level": level})
        assert info.value.code == 72
    db.command("aggregate", "c", pipeline=[{"$out": "o"}], cursor={},
               readConcern={"level": "majority"})
    assert list(db.o.find()) == [{"_id": 1}]


# -- update pipelines keep _id -----------------------------------------------------------------


def test_update_pipeline_dropping_id_keeps_it(db: Database) -> None:
    db.c.insert_one({"_id": 1, "x": 1, "t": {"u": {"v": 1}}})
    result = db.c.update_one({"_id": 1}, [{"$replaceRoot": {"newRoot": "$t"}},
                                          {"$addFields": {"foo": 1}}])
    assert result.modified_count == 1
    assert db.c.find_one() == {"_id": 1, "u": {"v": 1}, "foo": 1}
    db.c.update_one({"_id": 1}, [{"$project": {"_id": 0, "foo": 1}}])
    raw = db.command("find", "c")["cursor"]["firstBatch"][0]
    assert list(raw.items()) == [("_id", 1), ("foo", 1)]


async def test_update_pipeline_changing_id_is_66_async(adb: AsyncDatabase) -> None:
    await adb.c.insert_one({"_id": 1})
    with pytest.raises(OperationFailure) as info:
        await adb.c.update_one({"_id": 1}, [{"$set": {"_id": 2}}])
    assert info.value.code == 66
    await adb.c.update_one({"_id": 1}, [{"$replaceWith": {"a": 1}}])
    assert await adb.c.find_one() == {"_id": 1, "a": 1}


# -- $listLocalSessions, $merge duplicate keys ------------------------------------------------


def test_list_local_sessions_lists_this_session(client: MongoClient, db: Database) -> None:
    with client.start_session() as session:
        docs = list(db.aggregate([{"$listLocalSessions": {}}], session=session))
        ids = [doc["_id"]["id"] for doc in docs]
        assert session.session_id["id"] in ids
        mine = docs[ids.index(session.session_id["id"])]
        assert set(mine) == {"_id", "lastUse"} and len(mine["_id"]["uid"]) == 32
    assert list(db.aggregate([{"$listLocalSessions": {"users": [{"user": "u", "db": "d"}]}}])
                ) == []


def test_list_local_sessions_misuse(db: Database) -> None:
    db.c.insert_one({"_id": 1})
    cases = [("c", [{"$listLocalSessions": {}}], 73),
             (1, [{"$match": {}}, {"$listLocalSessions": {}}], 40602),
             (1, [{"$listLocalSessions": {"bogus": 1}}], 40415)]
    for target, pipeline, code in cases:
        with pytest.raises(OperationFailure) as info:
            db.command("aggregate", target, pipeline=pipeline, cursor={})
        assert info.value.code == code


async def test_merge_fail_reports_key_pattern_and_value_async(adb: AsyncDatabase) -> None:
    await adb.c.insert_many([{"_id": 1, "x": 1}, {"_id": 2, "x": 1}])
    with pytest.raises(OperationFailure) as info:
        await adb.aggregate([{"$documents": [{"_id": 2, "x": 1}]},
                             {"$merge": {"into": "c", "whenMatched": "fail"}}])
    assert info.value.code == 11000
    details = info.value.details or {}
    assert details["keyPattern"] == {"_id": 1} and details["keyValue"] == {"_id": 2}


# -- write concerns a one-member replica set cannot satisfy -----------------------------------


def test_unsatisfiable_w_applies_the_write_with_a_write_concern_error(db: Database) -> None:
    reply = db.command("insert", "c", documents=[{"_id": 1}], writeConcern={"w": 10})
    assert reply["ok"] == 1.0 and reply["n"] == 1
    assert reply["writeConcernError"]["code"] == 100
    assert reply["writeConcernError"]["codeName"] == "UnsatisfiableWriteConcern"
    tagged = db.command("delete", "c", deletes=[{"q": {}, "limit": 0}],
                        writeConcern={"w": "dc-east"})
    assert tagged["n"] == 1 and tagged["writeConcernError"]["code"] == 79
    assert "writeConcernError" not in db.command("insert", "c", documents=[{"_id": 2}],
                                                 writeConcern={"w": "majority"})
    with pytest.raises(OperationFailure) as info:
        db.command("insert", "c", documents=[{"_id": 3}], writeConcern={"w": -1})
    assert info.value.code == 9
    assert db.c.count_documents({}) == 1


def test_commit_with_unsatisfiable_w_commits(client: MongoClient, db: Database) -> None:
    db.c.insert_one({"_id": 0})
    with client.start_session() as session:
        session.start_transaction(write_concern=WriteConcern(w=10))
        db.c.insert_one({"_id": 1}, session=session)
        with pytest.raises(OperationFailure) as info:
            session.commit_transaction()
        assert info.value.code == 100
        assert not info.value.has_error_label("UnknownTransactionCommitResult")
    assert db.c.count_documents({}) == 2


async def test_find_and_modify_with_unsatisfiable_w_async(adb: AsyncDatabase) -> None:
    strict = adb.get_collection("c", write_concern=WriteConcern(w=2))
    with pytest.raises(WriteConcernError) as info:
        await strict.find_one_and_update({"_id": 1}, {"$set": {"a": 1}}, upsert=True)
    assert info.value.code == 100
    assert await adb.c.find_one() == {"_id": 1, "a": 1}


# -- collection validators --------------------------------------------------------------------


def test_validator_refuses_writes_with_121_and_err_info(db: Database) -> None:
    db.create_collection("c", validator={"x": {"$type": "string"}})
    db.c.insert_one({"_id": 1, "x": "ok"})
    with pytest.raises(WriteError) as info:
        db.c.insert_one({"_id": 2, "x": 2})
    assert info.value.code == 121
    err_info = (info.value.details or {})["errInfo"]
    assert err_info["failingDocumentId"] == 2
    assert err_info["details"] == {"operatorName": "$type",
                                   "specifiedAs": {"x": {"$type": "string"}},
                                   "reason": "type did not match", "consideredValue": 2,
                                   "consideredType": "int"}
    with pytest.raises(OperationFailure) as fam:
        db.c.find_one_and_update({"_id": 1}, {"$set": {"x": 1}})
    assert fam.value.code == 121 and fam.value.details["errInfo"]["failingDocumentId"] == 1
    with pytest.raises(WriteError):
        db.c.update_one({"_id": 3}, {"$set": {"y": 1}}, upsert=True)
    db.c.insert_one({"_id": 4, "x": 4}, bypass_document_validation=True)
    assert sorted(d["_id"] for d in db.c.find()) == [1, 4]


def test_validation_level_moderate_and_action_warn(db: Database) -> None:
    db.c.insert_many([{"_id": 1, "x": 1}, {"_id": 2, "x": "s"}])
    db.command("collMod", "c", validator={"x": {"$type": "string"}},
               validationLevel="moderate")
    db.c.update_one({"_id": 1}, {"$set": {"y": 1}})  # already invalid: left alone
    with pytest.raises(WriteError):
        db.c.update_one({"_id": 2}, {"$set": {"x": 2}})
    db.command("collMod", "c", validationAction="warn")
    db.c.update_one({"_id": 2}, {"$set": {"x": 2}})
    assert db.c.find_one({"_id": 2}) == {"_id": 2, "x": 2}
    with pytest.raises(OperationFailure) as info:
        db.command("collMod", "c", validationLevel="sometimes")
    assert info.value.code == 2


async def test_validator_details_for_several_clauses_async(adb: AsyncDatabase) -> None:
    await adb.create_collection("c", validator={"a": {"$gte": 0}, "b": {"$exists": True}})
    with pytest.raises(WriteError) as info:
        await adb.c.insert_one({"_id": 1, "a": -1})
    details = (info.value.details or {})["errInfo"]["details"]
    assert details["operatorName"] == "$and"
    assert [c["index"] for c in details["clausesNotSatisfied"]] == [0, 1]
    assert details["clausesNotSatisfied"][0]["details"]["reason"] == "comparison failed"
    assert details["clausesNotSatisfied"][1]["details"] == {
        "operatorName": "$exists", "specifiedAs": {"b": {"$exists": True}},
        "reason": "path does not exist"}


# -- the $set-by-_id fast path behaves as the general update path -----------------------------


def test_plain_set_keeps_order_appends_new_fields_sorted(db: Database) -> None:
    db.c.insert_one({"_id": 1, "b": 1, "a": 1})
    result = db.c.update_one({"_id": 1}, {"$set": {"z": 1, "a": 2, "10": 1, "2": 1, "m": 1}})
    assert result.modified_count == 1
    raw = db.command("find", "c")["cursor"]["firstBatch"][0]
    assert list(raw.items()) == [("_id", 1), ("b", 1), ("a", 2), ("2", 1), ("10", 1),
                                 ("m", 1), ("z", 1)]


def test_plain_set_noop_and_type_change(db: Database) -> None:
    db.c.insert_one({"_id": 1, "a": 1, "l": [1, {"x": 1}]})
    assert db.c.update_one({"_id": 1}, {"$set": {"a": 1, "l": [1, {"x": 1}]}}
                           ).modified_count == 0
    assert db.c.update_one({"_id": 1}, {"$set": {"a": 1.0}}).modified_count == 1
    assert isinstance(db.c.find_one()["a"], float)


async def test_upsert_by_id_with_plain_set_async(adb: AsyncDatabase) -> None:
    result = await adb.c.update_one({"_id": "k"}, {"$set": {"name": "n", "age": 3}},
                                    upsert=True)
    assert result.upserted_id == "k"
    raw = (await adb.command("find", "c"))["cursor"]["firstBatch"][0]
    assert list(raw.items()) == [("_id", "k"), ("age", 3), ("name", "n")]
    with pytest.raises(WriteError) as info:
        await adb.c.update_one({"_id": "k"}, {"$set": {"_id": "other"}})
    assert info.value.code == 66


# -- collation ("en": ICU root order; strength, caseLevel, numericOrdering) --------------------

_EN2 = {"locale": "en_US", "strength": 2}


def test_collation_in_filters_counts_and_writes(db: Database) -> None:
    db.c.insert_many([{"_id": 1, "x": "ping"}, {"_id": 2, "x": "pINg"}, {"_id": 3, "x": "pïng"},
                      {"_id": 4, "x": "pong"}])
    assert [d["_id"] for d in db.c.find({"x": "PING"}, collation=_EN2)] == [1, 2]
    assert db.c.count_documents({"x": {"$in": ["PING"]}},
                                collation={"locale": "en", "strength": 1}) == 3
    assert db.c.count_documents({"x": "PING"}) == 0  # simple: code points
    assert db.c.update_many({"x": "Ping"}, {"$set": {"y": 1}}, collation=_EN2
                            ).modified_count == 2
    assert db.c.delete_one({"x": "PONG"}, collation=_EN2).deleted_count == 1
    caseless = {"locale": "en", "strength": 1, "caseLevel": True}
    assert db.c.count_documents({"x": "pÏNg"}, collation=caseless) == 1  # accents ignored
    assert db.c.count_documents({"x": "ping"}, collation=caseless) == 2  # case not


def test_collation_reaches_array_update_operators(db: Database) -> None:
    db.c.insert_one({"_id": 1, "tags": ["a", "b"]})
    db.c.update_one({"_id": 1}, {"$addToSet": {"tags": "A"}}, collation=_EN2)
    assert db.c.find_one()["tags"] == ["a", "b"]
    db.c.update_one({"_id": 1}, {"$pull": {"tags": "B"}}, collation=_EN2)
    assert db.c.find_one()["tags"] == ["a"]
    db.c.update_one({"_id": 1}, {"$addToSet": {"tags": "A"}})  # simple collation
    assert db.c.find_one()["tags"] == ["a", "A"]


def test_collation_orders_like_icu(db: Database) -> None:
    db.c.insert_many([{"x": v} for v in ["b", "B", "a", "á", "A", "10", "9", "_z", " z"]])
    got = [d["x"] for d in db.c.find({}, {"_id": 0}).sort("x", 1).collation({"locale": "en"})]
    assert got == [" z", "_z", "10", "9", "a", "A", "á", "b", "B"]
    numeric = {"locale": "en", "numericOrdering": True}
    got = [d["x"] for d in db.c.find({"x": {"$lt": "a"}}).sort("x", 1).collation(numeric)]
    assert got == [" z", "_z", "9", "10"]
    assert [d["x"] for d in db.c.find({}).sort("x", 1)][:3] == [" z", "10", "9"]


async def test_collation_in_distinct_aggregate_and_find_and_modify_async(
        adb: AsyncDatabase) -> None:
    await adb.c.insert_many([{"_id": 1, "s": "PING"}, {"_id": 2, "s": "ping"},
                             {"_id": 3, "s": "Pong"}])
    assert await adb.c.distinct("s", collation=_EN2) == ["PING", "Pong"]
    grouped = await (await adb.c.aggregate(
        [{"$group": {"_id": "$s", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}],
        collation=_EN2)).to_list()
    assert [g["n"] for g in grouped] == [2, 1]
    found = await adb.c.find_one_and_delete({"s": "pong"}, collation=_EN2)
    assert found == {"_id": 3, "s": "Pong"}


def test_collection_default_collation_and_refused_options(db: Database) -> None:
    db.create_collection("c", collation={"locale": "en", "strength": 2})
    db.c.insert_many([{"_id": "A"}, {"_id": "b"}])
    assert db.c.find_one({"_id": "a"}) == {"_id": "A"}
    assert db.c.find_one({"_id": "a"}, collation={"locale": "simple"}) is None
    for bad in ({"locale": "fr"}, {"locale": "en", "caseFirst": "upper"},
                {"locale": "en", "strength": 6}):
        with pytest.raises(OperationFailure) as info:
            db.c.find_one({}, collation=bad)
        assert info.value.code == 2
    with pytest.raises(OperationFailure) as info:
        db.c.find_one({}, collation={"strength": 2})
    assert info.value.code == 40414


# -- read-only views ---------------------------------------------------------------------------


def test_view_reads_run_its_pipeline(db: Database) -> None:
    db.c.insert_many([{"_id": i, "x": i * 10, "s": "a" if i % 2 else "b"} for i in range(1, 5)])
    db.create_collection("v", viewOn="c", pipeline=[{"$match": {"_id": {"$gt": 1}}},
                                                    {"$project": {"s": 0}}])
    db.create_collection("vv", viewOn="v", pipeline=[{"$match": {"x": {"$lt": 40}}}])
    assert db.v.estimated_document_count() == 3
    assert db.v.count_documents({"x": {"$gte": 30}}) == 2
    assert list(db.v.find({}, sort=[("x", -1)], limit=1)) == [{"_id": 4, "x": 40}]
    assert db.vv.distinct("x") == [20, 30]
    assert list(db.vv.aggregate([{"$group": {"_id": None, "n": {"$sum": 1}}}])) == [
        {"_id": None, "n": 2}]
    db.c.insert_one({"_id": 5, "x": 5})
    assert db.vv.count_documents({}) == 3  # a view is evaluated at each read
    infos = {i["name"]: i for i in db.list_collections()}
    assert infos["v"]["type"] == "view" and infos["v"]["options"]["viewOn"] == "c"
    assert infos["v"]["info"] == {"readOnly": True}


async def test_view_refuses_writes_and_indexes_async(adb: AsyncDatabase) -> None:
    await adb.c.insert_one({"_id": 1})
    await adb.create_collection("v", viewOn="c", pipeline=[])
    for write in (adb.v.insert_one({"_id": 2}), adb.v.update_one({}, {"$set": {"a": 1}}),
                  adb.v.delete_many({}), adb.v.find_one_and_delete({}),
                  adb.v.create_index("a")):
        with pytest.raises(OperationFailure) as info:
            await write
        assert info.value.code == 166
        assert info.value.details["codeName"] == "CommandNotSupportedOnView"
    with pytest.raises(OperationFailure) as info:
        await adb.create_collection("w", viewOn="c", pipeline=[{"$out": "x"}])
    assert info.value.code == 167
    assert info.value.details["codeName"] == "OptionNotSupportedOnView"
    await adb.drop_collection("v")
    assert await adb.list_collection_names() == ["c"]


def test_unique_index_with_collation_holds_equal_strings_once(db: Database) -> None:
    db.c.create_index("name", unique=True, collation=_EN2)
    db.c.insert_one({"name": "Alice"})
    with pytest.raises(WriteError) as info:
        db.c.insert_one({"name": "ALICE"})
    assert info.value.code == 11000
    db.create_collection("d", collation={"locale": "en", "strength": 1})
    db.d.create_index("name", unique=True)  # inherits the collection's collation
    db.d.insert_one({"name": "resume"})
    with pytest.raises(WriteError):
        db.d.insert_one({"name": "Résumé"})
    with pytest.raises(OperationFailure) as bad:
        db.c.create_index("other", collation={"locale": "de"})
    assert bad.value.code == 2


def test_transaction_reads_at_a_chosen_cluster_time(client: MongoClient, db: Database) -> None:
    db.c.insert_one({"_id": 1, "x": 1})
    with client.start_session(causal_consistency=False) as holder:
        # A snapshot session holds the history of its point in time (as mongod's window).
        at = db.command("find", "c", readConcern={"level": "snapshot"}, session=holder
                        )["cursor"]["atClusterTime"]
        db.c.update_one({"_id": 1}, {"$set": {"x": 2}})
        with client.start_session(causal_consistency=False) as session:
            session.start_transaction(read_concern=ReadConcern())
            reply = db.command("find", "c", session=session,
                               readConcern={"level": "snapshot", "atClusterTime": at})
            assert reply["cursor"]["firstBatch"] == [{"_id": 1, "x": 1}]
            with pytest.raises(OperationFailure) as info:  # written since: a conflict
                db.c.update_one({"_id": 1}, {"$set": {"x": 3}}, session=session)
            assert info.value.code == 112
    assert db.c.find_one() == {"_id": 1, "x": 2}
