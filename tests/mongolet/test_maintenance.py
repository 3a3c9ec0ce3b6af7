"""validate, comment on every command, showRecordId/returnKey, write concern errors, and the
clear refusal of server-side JavaScript."""

from __future__ import annotations

import pytest
from pymongo import WriteConcern
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure, WriteConcernError
from pymongo.synchronous.database import Database


def test_validate_reports_documents_and_index_keys(db: Database) -> None:
    db.c.insert_many([{"_id": 1, "x": 1}, {"_id": 2, "x": 2}, {"_id": 3}])
    db.c.create_index("x", unique=True, sparse=True)
    result = db.validate_collection("c")
    assert result["valid"] is True and result["errors"] == []
    assert result["nrecords"] == 3
    assert result["keysPerIndex"] == {"_id_": 3, "x_1": 2}
    assert result["ns"] == f"{db.name}.c"
    with pytest.raises(OperationFailure) as failure:
        db.validate_collection("missing")
    assert failure.value.code == 26


def test_validate_counts_documents_the_validator_now_refuses(db: Database) -> None:
    db.c.insert_many([{"_id": 1, "x": 1}, {"_id": 2}])
    db.command("collMod", "c", validator={"x": {"$exists": True}})
    result = db.validate_collection("c")
    assert result["valid"] is True and result["nNonCompliantDocuments"] == 1


async def test_async_validate(adb: AsyncDatabase) -> None:
    await adb.c.insert_one({"_id": 1})
    assert (await adb.validate_collection("c"))["nrecords"] == 1


def test_comment_is_accepted_by_every_kind_of_command(db: Database) -> None:
    comment = {"why": "audit"}
    db.c.insert_one({"_id": 1}, comment=comment)
    db.c.update_one({"_id": 1}, {"$set": {"v": 1}}, comment=comment)
    assert db.c.find_one({}, comment=comment) == {"_id": 1, "v": 1}
    assert db.c.count_documents({}, comment=comment) == 1
    assert list(db.c.aggregate([{"$count": "n"}], comment=comment)) == [{"n": 1}]
    assert db.c.distinct("v", comment=comment) == [1]
    db.c.create_index("v", comment=comment)
    assert db.c.find_one_and_delete({}, comment=comment) == {"_id": 1, "v": 1}
    db.c.drop(comment=comment)
    db.command("ping", comment=comment)


def test_show_record_id_and_return_key(db: Database) -> None:
    db.c.insert_many([{"_id": 1, "x": 10, "y": 1}, {"_id": 2, "x": 20, "y": 2}])
    db.c.create_index("x")
    with_ids = list(db.c.find({}, show_record_id=True))
    assert [d["$recordId"] for d in with_ids] == [1, 2]
    assert with_ids[0]["x"] == 10
    assert list(db.c.find({}, return_key=True, hint="x_1")) == [{"x": 10}, {"x": 20}]
    assert list(db.c.find({}, return_key=True)) == [{}, {}]  # a collection scan: no key


def test_unsatisfiable_write_concern_is_a_write_concern_error(db: Database) -> None:
    coll = db.get_collection("c", write_concern=WriteConcern(w=3))
    with pytest.raises(WriteConcernError) as failure:
        coll.insert_one({"_id": 1})
    assert failure.value.code == 100
    assert failure.value.details["errInfo"]["writeConcern"]["w"] == 3
    assert db.c.find_one() == {"_id": 1}  # applied all the same, as on mongod


def test_server_side_javascript_is_refused_clearly(db: Database) -> None:
    db.c.insert_one({"_id": 1})
    with pytest.raises(OperationFailure) as failure:
        db.c.find_one({"$where": "this.x == 1"})
    assert "server-side JavaScript" in str(failure.value)
    with pytest.raises(OperationFailure) as failure:
        list(db.c.aggregate([{"$project": {"v": {"$function": {
            "body": "function() { return 1 }", "args": [], "lang": "js"}}}}]))
    assert "server-side JavaScript" in str(failure.value)
    with pytest.raises(OperationFailure) as failure:
        db.command("mapReduce", "c", map="function() {}", reduce="function() {}",
                   out={"inline": 1})
    assert failure.value.code == 115 and "not supported" in str(failure.value)


def test_db_and_collection_stats_count_documents(db: Database) -> None:
    db.c.insert_many([{"_id": i, "pad": "x" * 10} for i in range(3)])
    db.create_collection("v", viewOn="c", pipeline=[])
    stats = db.command("dbStats")
    assert stats["db"] == db.name and stats["collections"] == 1 and stats["views"] == 1
    assert stats["objects"] == 3 and stats["dataSize"] > 0
    coll = db.command("collStats", "c")
    assert coll["count"] == 3 and coll["nindexes"] == 1 and coll["capped"] is False
    with pytest.raises(OperationFailure) as failure:
        db.command("collStats", "missing")
    assert failure.value.code == 26
