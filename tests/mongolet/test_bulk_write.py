"""MongoDB 8.0's client-level bulkWrite command, through PyMongo's MongoClient.bulk_write and
AsyncMongoClient.bulk_write, and mongolet presenting 8.0 or 7.0."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient, MongoClient, monitoring
from pymongo.errors import ClientBulkWriteException, InvalidOperation, OperationFailure
from pymongo.operations import (
    DeleteMany,
    DeleteOne,
    InsertOne,
    ReplaceOne,
    UpdateMany,
    UpdateOne,
)
from pymongo.write_concern import WriteConcern

from tests.conftest import MongoletVersions


class Commands(monitoring.CommandListener):
    """The commands a client sent (PyMongo command monitoring)."""

    def __init__(self) -> None:
        self.events: list[monitoring.CommandStartedEvent] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.events.append(event)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def named(self, name: str) -> list[monitoring.CommandStartedEvent]:
        return [e for e in self.events if e.command_name == name]


@pytest.fixture
def uri(mongolet_versions: MongoletVersions) -> str:
    return mongolet_versions.uri("8.0")


@pytest.fixture
def names() -> Iterator[tuple[str, str]]:
    """Two namespaces in two databases of their own."""
    tag = uuid.uuid4().hex[:10]
    yield f"a_{tag}.x", f"b_{tag}.y"


@pytest.fixture
def client(uri: str, names: tuple[str, str]) -> Iterator[MongoClient]:
    with MongoClient(uri) as c:
        yield c
        for ns in names:
            c.drop_database(ns.split(".")[0])


@pytest.fixture
async def aclient(uri: str, names: tuple[str, str]) -> AsyncIterator[AsyncMongoClient]:
    c: AsyncMongoClient = AsyncMongoClient(uri)
    try:
        yield c
        for ns in names:
            await c.drop_database(ns.split(".")[0])
    finally:
        await c.close()


def coll(client: MongoClient, ns: str) -> Any:
    db, name = ns.split(".", 1)
    return client[db][name]


def mixed_models(a: str, b: str) -> list[Any]:
    return [
        InsertOne({"_id": 10, "v": 10}, namespace=a),
        InsertOne({"_id": 1, "v": 1}, namespace=b),
        UpdateOne({"_id": 1}, {"$inc": {"v": 5}}, namespace=a),
        UpdateMany({"v": {"$gte": 2}}, {"$set": {"big": True}}, namespace=a),
        ReplaceOne({"_id": 99}, {"r": 1}, upsert=True, namespace=a),
        DeleteOne({"_id": 0}, namespace=a),
        DeleteMany({"v": {"$lt": 3}}, namespace=b),
    ]


def check_mixed(result: Any) -> None:
    assert (result.inserted_count, result.matched_count, result.modified_count,
            result.upserted_count, result.deleted_count) == (2, 5, 5, 1, 2)
    assert result.insert_results[0].inserted_id == 10
    assert result.update_results[2].matched_count == 1
    assert result.update_results[3].modified_count == 4
    assert result.update_results[4].upserted_id == 99
    assert result.delete_results[6].deleted_count == 1


def test_mixed_namespaces_in_one_command(client: MongoClient, uri: str,
                                        names: tuple[str, str]) -> None:
    a, b = names
    coll(client, a).insert_many([{"_id": i, "v": i} for i in range(4)])
    seen = Commands()
    with MongoClient(uri, event_listeners=[seen]) as c:
        result = c.bulk_write(mixed_models(a, b), verbose_results=True)
    check_mixed(result)
    assert [e.command_name for e in seen.events if e.command_name != "endSessions"] \
        == ["bulkWrite"]
    assert [d["_id"] for d in coll(client, a).find({"big": True})] == [1, 2, 3, 10]
    assert coll(client, a).find_one({"_id": 99}) == {"_id": 99, "r": 1}
    assert coll(client, b).count_documents({}) == 0


async def test_mixed_namespaces_async(aclient: AsyncMongoClient, names: tuple[str, str]
                                      ) -> None:
    a, b = names
    db, name = a.split(".")
    await aclient[db][name].insert_many([{"_id": i, "v": i} for i in range(4)])
    result = await aclient.bulk_write(mixed_models(a, b), verbose_results=True)
    check_mixed(result)
    assert await aclient[db][name].count_documents({"big": True}) == 4


def test_summary_results_without_verbose(client: MongoClient, names: tuple[str, str]) -> None:
    a, b = names
    result = client.bulk_write([InsertOne({"_id": 1}, namespace=a),
                                InsertOne({"_id": 2}, namespace=b)])
    assert result.inserted_count == 2 and not result.has_verbose_results


def test_raw_reply_is_a_cursor_of_per_op_results(client: MongoClient, names: tuple[str, str]
                                                  ) -> None:
    a, _ = names
    coll(client, a).insert_one({"_id": 1, "v": 1})
    reply = client.admin.command({
        "bulkWrite": 1, "nsInfo": [{"ns": a}], "ops": [
            {"insert": 0, "document": {"_id": 2}},
            {"update": 0, "filter": {"_id": 1}, "updateMods": {"$set": {"v": 2}}},
            {"update": 0, "filter": {"_id": 3}, "updateMods": {"$set": {"v": 3}},
             "upsert": True},
            {"insert": 0, "document": {"_id": 1}},
            {"delete": 0, "filter": {"_id": 2}, "multi": False}],
        "ordered": False, "errorsOnly": False})
    batch = reply["cursor"]["firstBatch"]
    assert reply["cursor"]["id"] == 0 and reply["cursor"]["ns"] == "admin.$cmd.bulkWrite"
    assert batch[0] == {"ok": 1.0, "idx": 0, "n": 1}
    assert batch[1] == {"ok": 1.0, "idx": 1, "n": 1, "nModified": 1}
    assert batch[2] == {"ok": 1.0, "idx": 2, "n": 1, "nModified": 0, "upserted": {"_id": 3}}
    assert batch[3]["ok"] == 0 and batch[3]["idx"] == 3 and batch[3]["code"] == 11000
    assert batch[4] == {"ok": 1.0, "idx": 4, "n": 1}
    assert {k: reply[k] for k in ("nErrors", "nInserted", "nMatched", "nModified",
                                  "nUpserted", "nDeleted")} == \
        {"nErrors": 1, "nInserted": 1, "nMatched": 1, "nModified": 1, "nUpserted": 1,
         "nDeleted": 1}
    only_errors = client.admin.command({
        "bulkWrite": 1, "nsInfo": [{"ns": a}], "errorsOnly": True,
        "ops": [{"insert": 0, "document": {"_id": 7}}, {"insert": 0, "document": {"_id": 7}}]})
    assert [r["idx"] for r in only_errors["cursor"]["firstBatch"]] == [1]


def test_command_is_for_the_admin_database_and_checks_its_ops(client: MongoClient,
                                                              names: tuple[str, str]) -> None:
    a, _ = names
    db = a.split(".")[0]
    with pytest.raises(OperationFailure) as info:
        client[db].command({"bulkWrite": 1, "nsInfo": [{"ns": a}],
                            "ops": [{"insert": 0, "document": {}}]})
    assert info.value.code == 13
    bad = [({"insert": 1, "document": {}}, 10412), ({"insert": 0}, 40414),
           ({"update": 0, "filter": {}}, 40414), ({"remove": 0, "filter": {}}, 40415),
           ({"delete": 0, "filter": {}, "bogus": 1}, 40415),
           ({"update": 0, "filter": {}, "updateMods": {"x": 1}, "multi": True}, 9)]
    for op, code in bad:
        with pytest.raises(OperationFailure) as info:
            client.admin.command({"bulkWrite": 1, "nsInfo": [{"ns": a}], "ops": [op]})
        assert info.value.code == code, op
    with pytest.raises(OperationFailure) as info:
        client.admin.command({"bulkWrite": 1, "nsInfo": [{"ns": "nodot"}],
                              "ops": [{"insert": 0, "document": {}}]})
    assert info.value.code == 73
    assert coll(client, a).count_documents({}) == 0  # nothing ran


@pytest.mark.parametrize("ordered", [True, False])
def test_write_errors_ordered_and_unordered(client: MongoClient, names: tuple[str, str],
                                            ordered: bool) -> None:
    a, b = names
    coll(client, b).insert_one({"_id": 2})
    with pytest.raises(ClientBulkWriteException) as info:
        client.bulk_write([InsertOne({"_id": 1}, namespace=a), InsertOne({"_id": 2}, namespace=b),
                           InsertOne({"_id": 3}, namespace=a)], ordered=ordered,
                          verbose_results=True)
    error = info.value
    assert [(e["idx"], e["code"]) for e in error.write_errors] == [(1, 11000)]
    assert error.write_errors[0]["keyValue"] == {"_id": 2}
    assert error.partial_result is not None
    assert error.partial_result.inserted_count == (1 if ordered else 2)
    assert [d["_id"] for d in coll(client, a).find()] == ([1] if ordered else [1, 3])


def test_write_concern_error(client: MongoClient, names: tuple[str, str]) -> None:
    a, _ = names
    with pytest.raises(ClientBulkWriteException) as info:
        client.bulk_write([InsertOne({"_id": 1}, namespace=a)], write_concern=WriteConcern(w=3))
    assert [e["code"] for e in info.value.write_concern_errors] == [100]
    assert coll(client, a).count_documents({}) == 1  # applied, not acknowledged by w:3


def test_options_let_comment_bypass_validation(client: MongoClient, names: tuple[str, str]
                                               ) -> None:
    a, _ = names
    db, name = a.split(".")
    client[db].create_collection(name, validator={"v": {"$gte": 0}})
    coll(client, a).insert_many([{"_id": 1, "v": 1, "tags": [1, 5, 9]}, {"_id": 2, "v": 2}])
    with pytest.raises(ClientBulkWriteException) as info:
        client.bulk_write([InsertOne({"_id": 3, "v": -1}, namespace=a)])
    assert info.value.write_errors[0]["code"] == 121
    client.bulk_write([InsertOne({"_id": 3, "v": -1}, namespace=a)],
                      bypass_document_validation=True, comment="bypass")
    client.bulk_write([UpdateMany({"$expr": {"$eq": ["$v", "$$which"]}},
                                  [{"$set": {"seen": "$$mark"}}], namespace=a)],
                      let={"which": 2, "mark": "yes"})
    assert coll(client, a).find_one({"_id": 2})["seen"] == "yes"
    client.bulk_write([UpdateOne({"_id": 1}, {"$set": {"tags.$[t]": 0}}, namespace=a,
                                 array_filters=[{"t": {"$gt": 4}}], hint="_id_")])
    assert coll(client, a).find_one({"_id": 1})["tags"] == [1, 0, 0]


def test_collation_and_sort(client: MongoClient, names: tuple[str, str]) -> None:
    a, _ = names
    coll(client, a).insert_many([{"_id": i, "name": n, "rank": r}
                                 for i, (n, r) in enumerate([("Ann", 2), ("ann", 3), ("bob", 1)])])
    client.bulk_write([
        UpdateOne({"name": "ANN"}, {"$set": {"top": True}}, sort={"rank": -1},
                  collation={"locale": "en", "strength": 2}, namespace=a),
        ReplaceOne({}, {"name": "first"}, sort={"rank": 1}, namespace=a),
        DeleteMany({"name": "ANN"}, collation={"locale": "en", "strength": 2}, namespace=a),
    ])
    assert list(coll(client, a).find({}, {"_id": 1, "name": 1})) == [{"_id": 2, "name": "first"}]


def test_update_one_sort_in_the_update_command(client: MongoClient, names: tuple[str, str]
                                               ) -> None:
    a, _ = names
    c = coll(client, a)
    c.insert_many([{"_id": i, "rank": r} for i, r in enumerate([5, 9, 1])])
    c.update_one({}, {"$set": {"max": True}}, sort={"rank": -1})
    c.replace_one({}, {"rank": 0, "min": True}, sort={"rank": 1})
    assert c.find_one({"max": True})["_id"] == 1 and c.find_one({"min": True})["_id"] == 2
    with pytest.raises(OperationFailure) as info:
        c.database.command({"update": c.name, "updates": [
            {"q": {}, "u": {"$set": {"a": 1}}, "multi": True, "sort": {"rank": 1}}]})
    assert info.value.code == 72


def test_in_a_transaction_commits_or_aborts_whole(client: MongoClient, names: tuple[str, str]
                                                  ) -> None:
    a, b = names
    coll(client, a).insert_one({"_id": 0})
    coll(client, b).insert_one({"_id": 0})
    with client.start_session() as session, session.start_transaction():
        client.bulk_write([InsertOne({"_id": 1}, namespace=a), InsertOne({"_id": 1}, namespace=b)],
                          session=session)
        assert coll(client, a).count_documents({}) == 1  # not visible outside yet
    assert coll(client, a).count_documents({}) == coll(client, b).count_documents({}) == 2
    with client.start_session() as session:
        session.start_transaction()
        with pytest.raises(ClientBulkWriteException) as info:
            client.bulk_write([InsertOne({"_id": 2}, namespace=a),
                               InsertOne({"_id": 0}, namespace=b)], session=session)
        assert info.value.write_errors[0]["code"] == 11000
        with pytest.raises(OperationFailure) as aborted:  # the error aborted the transaction
            session.commit_transaction()
        assert aborted.value.code == 251
    assert coll(client, a).count_documents({}) == 2  # the first insert went with it


async def test_in_a_transaction_async(aclient: AsyncMongoClient, names: tuple[str, str]
                                      ) -> None:
    a, b = names
    async with aclient.start_session() as session:
        await session.start_transaction()
        await aclient.bulk_write([InsertOne({"_id": 1}, namespace=a),
                                  DeleteOne({"_id": 1}, namespace=b)], session=session)
        await session.abort_transaction()
    db, name = a.split(".")
    assert await aclient[db][name].count_documents({}) == 0


def test_retryable_write_is_applied_once(client: MongoClient, uri: str,
                                        names: tuple[str, str]) -> None:
    a, b = names
    coll(client, a).insert_one({"_id": 1, "n": 0})
    client.admin.command({"configureFailPoint": "failCommand", "mode": {"times": 1},
                          "data": {"failCommands": ["bulkWrite"],
                                   "writeConcernError": {"code": 91, "errmsg": "shutting down",
                                                         "errorLabels": ["RetryableWriteError"]}}})
    seen = Commands()
    with MongoClient(uri, event_listeners=[seen]) as c:
        result = c.bulk_write([UpdateOne({"_id": 1}, {"$inc": {"n": 1}}, namespace=a),
                               InsertOne({"_id": 5}, namespace=b)], verbose_results=True)
    sent = seen.named("bulkWrite")
    assert len(sent) == 2 and sent[0].command["txnNumber"] == sent[1].command["txnNumber"]
    assert result.modified_count == 1 and result.inserted_count == 1
    assert coll(client, a).find_one({"_id": 1})["n"] == 1  # the retry was answered, not run
    assert coll(client, b).count_documents({}) == 1


def test_multi_ops_are_not_retryable(client: MongoClient, names: tuple[str, str]) -> None:
    a, _ = names
    with client.start_session() as session, pytest.raises(OperationFailure) as info:
        client.admin.command({"bulkWrite": 1, "nsInfo": [{"ns": a}], "txnNumber": 7,
                              "ops": [{"delete": 0, "filter": {}, "multi": True}]},
                             session=session)
    assert info.value.code == 72


def test_driver_splits_batches_at_the_message_size(client: MongoClient, uri: str,
                                                   names: tuple[str, str]) -> None:
    a, b = names
    hello = client.admin.command("hello")
    assert hello["maxWriteBatchSize"] == 100_000 and hello["maxMessageSizeBytes"] == 48_000_000
    blob = "x" * 4_000_000
    seen = Commands()
    with MongoClient(uri, event_listeners=[seen]) as c:
        result = c.bulk_write([InsertOne({"_id": i, "blob": blob}, namespace=(a, b)[i % 2])
                               for i in range(14)])
    assert result.inserted_count == 14
    assert len(seen.named("bulkWrite")) == 2  # 56 MB of documents: two commands
    assert coll(client, a).count_documents({}) == coll(client, b).count_documents({}) == 7


def test_more_ops_than_the_advertised_batch_size_are_refused(client: MongoClient,
                                                             names: tuple[str, str]) -> None:
    a, _ = names
    limit = client.admin.command("hello")["maxWriteBatchSize"]
    ops = [{"insert": 0, "document": {"_id": i}} for i in range(limit + 1)]
    with pytest.raises(OperationFailure) as info:
        client.admin.command({"bulkWrite": 1, "nsInfo": [{"ns": a}], "ops": ops})
    assert info.value.code == 16 and str(limit) in str(info.value)
    assert coll(client, a).count_documents({}) == 0


def test_versions_reported(mongolet_versions: MongoletVersions) -> None:
    for version, wire in (("8.0", 25), ("7.0", 21)):
        with MongoClient(mongolet_versions.uri(version)) as c:
            assert c.admin.command("hello")["maxWireVersion"] == wire
            info = c.admin.command("buildInfo")
            assert info["version"] == f"{version}.0" and info["versionArray"][:2] == \
                [int(p) for p in version.split(".")]
            assert c.admin.command("serverStatus")["version"] == f"{version}.0"


def test_seven_has_no_bulk_write_command_nor_update_sort(mongolet_versions: MongoletVersions,
                                                         names: tuple[str, str]) -> None:
    a, _ = names
    with MongoClient(mongolet_versions.uri("7.0")) as c:
        with pytest.raises(InvalidOperation, match=r"8\.0"):  # the driver knows from the wire
            c.bulk_write([InsertOne({"_id": 1}, namespace=a)])
        with pytest.raises(OperationFailure) as info:
            c.admin.command({"bulkWrite": 1, "nsInfo": [{"ns": a}],
                             "ops": [{"insert": 0, "document": {}}]})
        assert info.value.code == 59
        with pytest.raises(OperationFailure) as unknown:
            coll(c, a).update_one({}, {"$set": {"x": 1}}, sort={"x": 1})
        assert unknown.value.code == 40415
        c.drop_database(a.split(".")[0])


def test_unknown_version_is_refused() -> None:
    import mongolet
    from mongolet.__main__ import parse_args

    with pytest.raises(ValueError, match=r"7\.0"), mongolet.serve(version="6.0"):
        pass
    assert parse_args(["--version", "7.0"]).version == "7.0"
    assert parse_args([]).version == "8.0"


def _durable(path: Any) -> tuple[Any, Any]:
    """A durable dispatcher as the server builds one, in this process."""
    from mongolet.commands import Dispatcher, ServerOptions, SessionHistory
    from mongolet.durability import Durability

    store_dir = Durability(path)
    history = SessionHistory()
    store = store_dir.load(history.add)
    dispatcher = Dispatcher(ServerOptions("127.0.0.1", 27017), store, history)
    store_dir.session_records = dispatcher.session_records
    return store_dir, dispatcher


def _run(dispatcher: Any, body: dict[str, Any], db: str = "admin") -> dict[str, Any]:
    import asyncio

    from mongolet.commands import ConnectionInfo

    reply = asyncio.run(dispatcher.handle({**body, "$db": db}, ConnectionInfo(1, "test")))
    del reply["operationTime"], reply["$clusterTime"]
    return dict(reply)


@pytest.mark.parametrize("checkpoint", [False, True], ids=["journal", "checkpoint"])
def test_a_retryable_bulk_write_retried_after_a_restart_is_answered_not_applied(
        tmp_path: Any, checkpoint: bool) -> None:
    from bson import Binary, Int64

    path = tmp_path / "data"
    store_dir, dispatcher = _durable(path)
    _run(dispatcher, {"insert": "c", "documents": [{"_id": "a", "v": 0}, {"_id": "gone"}]},
         "db")
    command = {
        "bulkWrite": 1, "nsInfo": [{"ns": "db.c"}, {"ns": "other.d"}],
        "ops": [{"insert": 1, "document": {"_id": 1}},
                {"update": 0, "filter": {"_id": "a"}, "updateMods": {"$inc": {"v": 1}}},
                {"update": 0, "filter": {"_id": "new"}, "updateMods": {"$inc": {"v": 5}},
                 "upsert": True},
                {"delete": 0, "filter": {"_id": "gone"}, "multi": False}],
        "lsid": {"id": Binary.from_uuid(uuid.uuid4())}, "txnNumber": Int64(4)}
    first = _run(dispatcher, command)
    assert first["nErrors"] == 0 and first["nUpserted"] == 1
    dispatcher.close()
    store_dir.close(checkpoint=checkpoint)  # without a checkpoint: as after a crash

    store_dir, dispatcher = _durable(path)
    try:
        again = _run(dispatcher, command)
        assert again == first
        found = _run(dispatcher, {"find": "c", "filter": {}, "sort": {"_id": 1}}, "db")
        assert found["cursor"]["firstBatch"] == [{"_id": "a", "v": 1}, {"_id": "new", "v": 5}]
        other = _run(dispatcher, {"find": "d", "filter": {}}, "other")
        assert other["cursor"]["firstBatch"] == [{"_id": 1}]
    finally:
        dispatcher.close()
        store_dir.close()


def test_a_child_process_server_presents_the_release_asked_for() -> None:
    import mongolet

    with mongolet.serve(mode="process", version="7.0") as server, \
            MongoClient(server.uri) as c:
        assert server.version == "7.0"
        assert c.admin.command("hello")["maxWireVersion"] == 21  # --version 7.0 reached it
