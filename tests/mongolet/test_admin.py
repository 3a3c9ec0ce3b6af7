"""Handshake, diagnostics and catalog commands: what drivers and harnesses ask a server."""

from __future__ import annotations

import pytest
from bson import ObjectId, Timestamp
from pymongo import AsyncMongoClient, MongoClient
from pymongo.errors import CollectionInvalid, OperationFailure
from pymongo.synchronous.database import Database


def test_hello_presents_a_replica_set_primary(client: MongoClient) -> None:
    reply = client.admin.command("hello")
    assert reply["isWritablePrimary"] is True and reply["helloOk"] is True
    assert reply["setName"] and reply["hosts"] == [reply["me"]] == [reply["primary"]]
    assert reply["maxWireVersion"] >= 21 and reply["logicalSessionTimeoutMinutes"] == 30
    assert isinstance(reply["electionId"], ObjectId)
    assert "topologyVersion" not in reply and "compression" not in reply
    legacy = client.admin.command("isMaster")
    assert legacy["ismaster"] is True


def test_replies_carry_cluster_time(client: MongoClient) -> None:
    reply = client.admin.command("ping")
    assert isinstance(reply["operationTime"], Timestamp)
    signature = reply["$clusterTime"]["signature"]
    assert bytes(signature["hash"]) == b"\x00" * 20 and signature["keyId"] == 0


def test_cluster_time_advances_with_writes(client: MongoClient, db: Database) -> None:
    before = client.admin.command("ping")["operationTime"]
    db.c.insert_one({})
    after = client.admin.command("ping")["operationTime"]
    assert after > before


def test_harness_commands(client: MongoClient) -> None:
    assert client.admin.command("buildInfo")["versionArray"][0] in (7, 8)
    assert client.admin.command("buildinfo")["version"][:2] in ("7.", "8.")
    assert "argv" in client.admin.command("getCmdLineOpts")
    assert "enableTestCommands" in client.admin.command("getParameter", "*")
    assert client.admin.command("serverStatus")["storageEngine"]["name"]
    assert client.admin.command("hostInfo")["ok"] == 1
    assert ":" in client.admin.command("whatsmyuri")["you"]
    assert client.admin.command("connectionStatus")["ok"] == 1
    assert client.admin.command("getLog", "startupWarnings")["ok"] == 1


def test_admin_only_commands_elsewhere_are_refused(db: Database) -> None:
    with pytest.raises(OperationFailure) as info:
        db.command("listDatabases")
    assert info.value.code == 13


def test_unknown_command(client: MongoClient) -> None:
    with pytest.raises(OperationFailure) as unknown:
        client.admin.command("noSuchThing")
    assert unknown.value.code == 59


def test_create_list_and_drop_collections(db: Database) -> None:
    db.create_collection("a")
    db.create_collection("capped", capped=True, size=4096)
    with pytest.raises(CollectionInvalid):
        db.create_collection("a")
    with pytest.raises(OperationFailure) as exists:
        db.command("create", "capped", capped=True, size=1)
    assert exists.value.code == 48
    infos = {c["name"]: c for c in db.list_collections()}
    assert set(infos) == {"a", "capped"}
    assert infos["capped"]["options"] == {"capped": True, "size": 4096}
    assert infos["a"]["type"] == "collection" and infos["a"]["info"]["readOnly"] is False
    assert infos["a"]["idIndex"] == {"v": 2, "key": {"_id": 1}, "name": "_id_"}
    assert db.list_collection_names(filter={"name": "a"}) == ["a"]
    name_only = db.command("listCollections", nameOnly=True)["cursor"]["firstBatch"]
    assert {"name": "a", "type": "collection"} in name_only
    assert db.command("drop", "a")["ns"] == f"{db.name}.a"
    db.drop_collection("never-existed")  # fine in 7.0
    assert db.list_collection_names() == ["capped"]


def test_list_and_drop_databases(client: MongoClient, db: Database) -> None:
    db.c.insert_one({})
    listed = client.admin.command("listDatabases")
    entry = next(d for d in listed["databases"] if d["name"] == db.name)
    assert entry["empty"] is False and entry["sizeOnDisk"] > 0 and "totalSize" in listed
    assert db.name in client.list_database_names()
    assert client.admin.command("listDatabases", nameOnly=True)["databases"][0].keys() == {"name"}
    client.drop_database(db.name)
    assert db.name not in client.list_database_names()


def test_rename_collection(client: MongoClient, db: Database) -> None:
    db.a.insert_one({"_id": 1})
    db.a.rename("b")
    assert db.list_collection_names() == ["b"] and db.b.find_one() == {"_id": 1}


async def test_async_handshake_and_catalog(mongodb_uri: str, db_name: str) -> None:
    async with AsyncMongoClient(mongodb_uri) as c:
        assert (await c.admin.command("ping"))["ok"] == 1
        await c[db_name].create_collection("x")
        assert await c[db_name].list_collection_names() == ["x"]
        await c.drop_database(db_name)


def test_direct_connection_uri(mongodb_uri: str) -> None:
    if "replicaSet=" not in mongodb_uri:
        pytest.skip("only meaningful for mongolet's replica set URI")
    direct = mongodb_uri.replace("replicaSet=mongolet", "directConnection=true")
    with MongoClient(direct) as c, c.start_session() as s, s.start_transaction():
        c.t_direct.c.insert_one({"_id": 1}, session=s)
    with MongoClient(direct) as c:
        assert c.t_direct.c.find_one() == {"_id": 1}
        c.drop_database("t_direct")
