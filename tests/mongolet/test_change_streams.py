"""Change streams through PyMongo: watching a collection, a database and the deployment while
others write; a transaction's events at its commit; pre- and post-images; resuming after a
dropped connection and after a restart with a data directory; history lost."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure
from pymongo.synchronous.change_stream import ChangeStream
from pymongo.synchronous.database import Database

import mongolet
from tests.conftest import using_real_mongodb

mongolet_only = pytest.mark.skipif(using_real_mongodb(), reason="starts mongolets of its own")


def later(action: Callable[[], Any], delay: float = 0.05) -> threading.Thread:
    """Run ``action`` in another thread while this one waits on a change stream."""

    def run() -> None:
        time.sleep(delay)
        action()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def take(stream: ChangeStream[Any], n: int) -> list[dict[str, Any]]:
    return [stream.next() for _ in range(n)]


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["operationType"] for e in events]


# -- watching ----------------------------------------------------------------------------------


def test_collection_stream_shows_each_write_while_another_client_writes(db: Database) -> None:
    db.c.insert_one({"_id": 0})  # before the stream: not shown
    with db.c.watch(max_await_time_ms=5000) as stream:

        def writes() -> None:
            db.c.insert_one({"_id": 1, "a": {"b": 1}, "arr": [1, 2, 3], "gone": True})
            db.c.update_one({"_id": 1}, {"$set": {"a.b": 2}, "$unset": {"gone": 1},
                                         "$pop": {"arr": 1}})
            db.c.replace_one({"_id": 1}, {"x": 1})
            db.c.delete_one({"_id": 1})
            db.other.insert_one({"_id": 9})  # another collection: not shown

        writer = later(writes)
        events = take(stream, 4)
        writer.join()
    assert kinds(events) == ["insert", "update", "replace", "delete"]
    insert, update, replace, delete = events
    assert insert["fullDocument"] == {"_id": 1, "a": {"b": 1}, "arr": [1, 2, 3], "gone": True}
    assert insert["ns"] == {"db": db.name, "coll": "c"}
    assert insert["documentKey"] == {"_id": 1}
    assert update["updateDescription"] == {"updatedFields": {"a.b": 2},
                                           "removedFields": ["gone"],
                                           "truncatedArrays": [{"field": "arr", "newSize": 2}]}
    assert "fullDocument" not in update
    assert replace["fullDocument"] == {"_id": 1, "x": 1}
    assert delete["documentKey"] == {"_id": 1} and "fullDocument" not in delete
    times = [e["clusterTime"] for e in events]
    assert times == sorted(times) and len(set(times)) == 4
    assert len({e["_id"]["_data"] for e in events}) == 4


def test_database_stream_sees_every_collection_and_ends_with_drop_database(
        client: MongoClient, db: Database) -> None:
    with db.watch(max_await_time_ms=5000) as stream:
        db.a.insert_one({"_id": 1})
        db.b.insert_one({"_id": 2})
        db.a.drop()  # a database stream goes on
        client.drop_database(db.name)
        events = take(stream, 6)
        assert not stream.alive
    assert kinds(events) == ["insert", "insert", "drop", "drop", "dropDatabase", "invalidate"]
    assert [e["ns"] for e in events[:2]] == [{"db": db.name, "coll": "a"},
                                             {"db": db.name, "coll": "b"}]
    assert events[4]["ns"] == {"db": db.name}


def test_collection_stream_is_invalidated_by_rename(client: MongoClient, db: Database) -> None:
    db.c.insert_one({"_id": 1})
    with db.c.watch() as stream:
        db.c.rename("d")
        rename, invalidate = take(stream, 2)
        assert not stream.alive
    assert rename["operationType"] == "rename"
    assert rename["to"] == {"db": db.name, "coll": "d"}
    assert invalidate["operationType"] == "invalidate"
    # startAfter an invalidate opens a new stream after it; resumeAfter may not.
    with db.c.watch(start_after=invalidate["_id"]) as again:
        db.c.insert_one({"_id": 2})
        assert again.next()["documentKey"] == {"_id": 2}
    with pytest.raises(OperationFailure) as failure:
        db.c.watch(resume_after=invalidate["_id"])
    assert failure.value.code == 260


def test_deployment_stream_sees_every_database(client: MongoClient, db: Database) -> None:
    other = client[db.name + "_2"]
    try:
        match = {"$match": {"ns.db": {"$in": [db.name, other.name]}}}
        with client.watch([match], max_await_time_ms=5000) as stream:
            writer = later(lambda: (db.c.insert_one({"_id": 1}), other.c.insert_one({"_id": 2})))
            events = take(stream, 2)
            writer.join()
        assert [e["ns"]["db"] for e in events] == [db.name, other.name]
    finally:
        client.drop_database(other.name)


def test_stages_after_change_stream_shape_the_events(db: Database) -> None:
    pipeline = [{"$match": {"operationType": "insert", "fullDocument.keep": True}},
                {"$project": {"fullDocument.keep": 0}},
                {"$addFields": {"seen": True}}]
    with db.c.watch(pipeline) as stream:
        db.c.insert_many([{"_id": 1, "keep": False}, {"_id": 2, "keep": True, "v": 1}])
        db.c.delete_one({"_id": 2})
        db.c.insert_one({"_id": 3, "keep": True})
        first, second = take(stream, 2)
    assert first["fullDocument"] == {"_id": 2, "v": 1} and first["seen"] is True
    assert second["fullDocument"] == {"_id": 3}


def test_a_stage_that_drops_the_resume_token_is_a_fatal_error(db: Database) -> None:
    with db.c.watch([{"$project": {"_id": 0}}]) as stream:
        db.c.insert_one({"_id": 1})
        with pytest.raises(OperationFailure) as failure:
            stream.next()
    assert failure.value.code == 280
    assert failure.value.has_error_label("NonResumableChangeStreamError")


def test_bad_change_stream_requests_fail_as_on_mongod(client: MongoClient, db: Database) -> None:
    for pipeline, code in [([{"$changeStream": {"nope": 1}}], 40415),
                           ([{"$match": {}}, {"$changeStream": {}}], 40602),
                           ([{"$changeStream": {}}, {"$group": {"_id": 1}}], 17352),
                           ([{"$changeStream": {"allChangesForCluster": True}}], 73)]:
        with pytest.raises(OperationFailure) as failure:
            db.command("aggregate", "c", pipeline=pipeline, cursor={})
        assert failure.value.code == code, pipeline
    with client.start_session() as session:
        session.start_transaction()
        with pytest.raises(OperationFailure) as failure:
            db.c.watch(session=session)
        session.abort_transaction()
    assert failure.value.code == 263


def test_get_more_waits_for_an_event_without_holding_up_the_server(db: Database) -> None:
    with db.c.watch(max_await_time_ms=10_000) as stream:
        # The write below is served while this stream's getMore is waiting on the server.
        writer = later(lambda: db.c.insert_one({"_id": 1}), delay=0.3)
        event = stream.next()
        writer.join()
    assert event["documentKey"] == {"_id": 1}


def test_empty_batches_carry_a_post_batch_resume_token(db: Database) -> None:
    with db.c.watch(max_await_time_ms=50) as stream:
        assert stream.try_next() is None
        token = stream.resume_token
        assert token is not None
        db.c.insert_one({"_id": 1})
    with db.c.watch(resume_after=token) as resumed:
        assert resumed.next()["documentKey"] == {"_id": 1}


# -- transactions ------------------------------------------------------------------------------


def test_transaction_events_appear_at_commit_in_order(client: MongoClient,
                                                      db: Database) -> None:
    db.c.insert_one({"_id": 0, "n": 0})
    with db.watch(max_await_time_ms=100) as stream, client.start_session() as session:
        with session.start_transaction():
            db.c.insert_one({"_id": 1}, session=session)
            db.c.update_one({"_id": 0}, {"$inc": {"n": 1}}, session=session)
            db.d.delete_many({}, session=session)
            db.d.insert_one({"_id": 2}, session=session)
            assert stream.try_next() is None  # nothing before the commit
        events = take(stream, 3)
        with session.start_transaction():
            db.c.insert_one({"_id": 3}, session=session)
            session.abort_transaction()
        db.c.insert_one({"_id": 4})
        after = stream.next()
        lsid = session.session_id
    assert kinds(events) == ["insert", "update", "insert"]
    assert [e["documentKey"] for e in events] == [{"_id": 1}, {"_id": 0}, {"_id": 2}]
    assert {e["clusterTime"] for e in events} == {events[0]["clusterTime"]}
    assert all(e["lsid"] == lsid for e in events)
    assert len({e["txnNumber"] for e in events}) == 1
    assert after["documentKey"] == {"_id": 4} and "lsid" not in after  # aborted: nothing


# -- full documents ----------------------------------------------------------------------------


def test_pre_and_post_images_with_the_collection_option(db: Database) -> None:
    db.create_collection("c", changeStreamPreAndPostImages={"enabled": True})
    db.c.insert_one({"_id": 1, "v": 1})
    with db.c.watch(full_document="required",
                    full_document_before_change="required") as stream:
        db.c.update_one({"_id": 1}, {"$set": {"v": 2}})
        db.c.replace_one({"_id": 1}, {"v": 3})
        db.c.delete_one({"_id": 1})
        update, replace, delete = take(stream, 3)
    assert update["fullDocument"] == {"_id": 1, "v": 2}
    assert update["fullDocumentBeforeChange"] == {"_id": 1, "v": 1}
    assert replace["fullDocumentBeforeChange"] == {"_id": 1, "v": 2}
    assert delete["fullDocumentBeforeChange"] == {"_id": 1, "v": 3}


def test_images_without_the_option_are_null_or_an_error(db: Database) -> None:
    db.c.insert_one({"_id": 1, "v": 1})
    with db.c.watch(full_document="whenAvailable",
                    full_document_before_change="whenAvailable") as stream:
        db.c.update_one({"_id": 1}, {"$set": {"v": 2}})
        event = stream.next()
    assert event["fullDocument"] is None and event["fullDocumentBeforeChange"] is None
    with db.c.watch(full_document_before_change="required") as stream:
        db.c.update_one({"_id": 1}, {"$set": {"v": 3}})
        with pytest.raises(OperationFailure):
            stream.next()
    db.command("collMod", "c", changeStreamPreAndPostImages={"enabled": True})
    with db.c.watch(full_document_before_change="required") as stream:
        db.c.update_one({"_id": 1}, {"$set": {"v": 4}})
        assert stream.next()["fullDocumentBeforeChange"] == {"_id": 1, "v": 3}


def test_update_lookup_reads_the_document_as_it_is_now(db: Database) -> None:
    db.c.insert_one({"_id": 1, "v": 1})
    with db.c.watch(full_document="updateLookup") as stream:
        db.c.update_one({"_id": 1}, {"$set": {"v": 2}})
        db.c.update_one({"_id": 1}, {"$set": {"v": 3}})
        first = stream.next()
    assert first["updateDescription"]["updatedFields"] == {"v": 2}
    assert first["fullDocument"] == {"_id": 1, "v": 3}  # looked up when read


def test_expanded_events_show_catalog_changes(db: Database) -> None:
    with db.watch(show_expanded_events=True) as stream:
        db.create_collection("c")
        db.c.create_index("x", name="x_1")
        db.c.drop_index("x_1")
        db.command("collMod", "c", changeStreamPreAndPostImages={"enabled": False})
        db.c.update_one({"_id": 1}, {"$set": {"a": {"1": 1}}}, upsert=True)
        db.c.update_one({"_id": 1}, {"$set": {"a.1": 2}})
        events = take(stream, 6)
    assert kinds(events) == ["create", "createIndexes", "dropIndexes", "modify", "insert",
                             "update"]
    assert events[1]["operationDescription"]["indexes"][0]["name"] == "x_1"
    assert all("collectionUUID" in e for e in events)
    assert events[5]["updateDescription"]["disambiguatedPaths"] == {"a.1": ["a", "1"]}


# -- resuming ----------------------------------------------------------------------------------


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[mongolet.Server]:
    with mongolet.serve(enable_test_commands=True) as server:
        yield server


@mongolet_only
def test_stream_resumes_after_a_dropped_connection(own_server: mongolet.Server) -> None:
    client: MongoClient = MongoClient(own_server.uri)
    with client:
        coll = client.db.c
        with coll.watch(max_await_time_ms=200) as stream:
            coll.insert_one({"_id": 1})
            assert stream.next()["documentKey"] == {"_id": 1}
            client.admin.command("configureFailPoint", "failCommand", mode={"times": 1},
                                 data={"failCommands": ["getMore"], "closeConnection": True})
            coll.insert_one({"_id": 2})
            coll.insert_one({"_id": 3})
            keys = [e["documentKey"]["_id"] for e in take(stream, 2)]
    assert keys == [2, 3]  # nothing lost, nothing twice


@mongolet_only
def test_stream_resumes_after_a_restart_with_a_data_directory(tmp_path: Path) -> None:
    with mongolet.serve(dbpath=tmp_path) as server:
        port = server.port
        client: MongoClient = MongoClient(server.uri, serverSelectionTimeoutMS=10_000)
        stream = client.db.c.watch(max_await_time_ms=200)
        client.db.c.insert_one({"_id": 1})
        assert stream.next()["documentKey"] == {"_id": 1}
        client.db.c.insert_one({"_id": 2})  # not read yet when the server stops
    with mongolet.serve(dbpath=tmp_path, port=port) as server:
        client.db.c.insert_one({"_id": 3})
        keys = [e["documentKey"]["_id"] for e in take(stream, 2)]  # resumed by the driver
        stream.close()
        client.close()
    assert keys == [2, 3]


@mongolet_only
def test_a_resume_token_older_than_the_history_is_history_lost(tmp_path: Path) -> None:
    with mongolet.serve(change_history_size=3) as server, MongoClient(server.uri) as client:
        coll = client.db.c
        with coll.watch() as stream:
            coll.insert_one({"_id": 0})
            token = stream.next()["_id"]
        start = client.admin.command("ping")["operationTime"]
        coll.insert_many([{"_id": i} for i in range(1, 5)])
        for options in ({"resume_after": token}, {"start_at_operation_time": start}):
            with pytest.raises(OperationFailure) as failure:
                coll.watch(**options)
            assert failure.value.code == 286
            assert failure.value.details is not None
            assert failure.value.details["codeName"] == "ChangeStreamHistoryLost"
        with coll.watch() as fresh:  # a new stream starts now: nothing lost
            coll.insert_one({"_id": 5})
            assert fresh.next()["documentKey"] == {"_id": 5}


@mongolet_only
def test_commits_the_history_file_lacks_are_history_lost(tmp_path: Path) -> None:
    with mongolet.serve(dbpath=tmp_path) as server, MongoClient(server.uri) as client:
        with client.db.c.watch() as stream:
            client.db.c.insert_one({"_id": 1})
            token = stream.next()["_id"]
        client.db.c.insert_one({"_id": 2})
    (tmp_path / "changes").unlink()  # as a power loss could leave it: older than the data
    with mongolet.serve(dbpath=tmp_path) as server, MongoClient(server.uri) as client:
        assert client.db.c.count_documents({}) == 2
        with pytest.raises(OperationFailure) as failure:
            client.db.c.watch(resume_after=token)
        assert failure.value.code == 286  # reported, never silently skipped


# -- async -------------------------------------------------------------------------------------


async def test_async_stream_while_tasks_write(adb: AsyncDatabase) -> None:
    async with await adb.c.watch(max_await_time_ms=5000) as stream:

        async def writes() -> None:
            await asyncio.sleep(0.05)
            await adb.c.insert_one({"_id": 1})
            await adb.c.update_one({"_id": 1}, {"$set": {"v": 1}})

        task = asyncio.create_task(writes())
        events = [await stream.next(), await stream.next()]
        await task
        token = stream.resume_token
    assert kinds(events) == ["insert", "update"]
    await adb.c.delete_one({"_id": 1})
    async with await adb.c.watch(resume_after=token) as resumed:
        assert (await resumed.next())["operationType"] == "delete"


async def test_async_transaction_events_at_commit(adb: AsyncDatabase) -> None:
    client = adb.client
    async with await adb.watch(max_await_time_ms=100) as stream, \
            client.start_session() as session:
        async with await session.start_transaction():
            await adb.c.insert_one({"_id": 1}, session=session)
            await adb.d.insert_one({"_id": 2}, session=session)
            assert await stream.try_next() is None
        events = [await stream.next(), await stream.next()]
        lsid = session.session_id
    assert [e["ns"]["coll"] for e in events] == ["c", "d"]
    assert all(e["lsid"] == lsid for e in events)


@mongolet_only
async def test_async_stream_resumes_after_a_dropped_connection(own_server: mongolet.Server
                                                               ) -> None:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient = AsyncMongoClient(own_server.uri)
    try:
        coll = client.db.c
        async with await coll.watch(max_await_time_ms=200) as stream:
            await coll.insert_one({"_id": 1})
            assert (await stream.next())["documentKey"] == {"_id": 1}
            await client.admin.command("configureFailPoint", "failCommand", mode={"times": 1},
                                       data={"failCommands": ["getMore"],
                                             "closeConnection": True})
            await coll.insert_many([{"_id": 2}, {"_id": 3}])
            keys = [(await stream.next())["documentKey"]["_id"] for _ in range(2)]
    finally:
        await client.close()
    assert keys == [2, 3]
