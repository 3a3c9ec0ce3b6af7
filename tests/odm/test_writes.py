"""How saves reach the server: one command per collection, whichever driver call sends it.

A single save goes out through ``insert_one``/``update_one``/``replace_one`` and a batch of
inserts through ``insert_many`` (cheaper for the client than ``bulk_write``); the server
gets the same commands, and a refused write raises what ``bulk_write`` raised.
"""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import InsertOne, MongoClient, ReplaceOne, UpdateOne
from pymongo.errors import BulkWriteError

from odm import AIOEngine, Field, Model, SyncEngine
from odm.saving import save_operation, write_call, write_requests
from tests.odm.helpers import CommandRecorder, call

Engine = SyncEngine | AIOEngine


class Gauge(Model):
    level: int = 0
    model_config = {"collection": "gauges"}


class Named(Model):
    key: str = Field(primary_field=True)
    level: int = 0
    model_config = {"collection": "named"}


class Bare(Model):
    key: str = Field(primary_field=True)
    model_config = {"collection": "bare"}


def _validated(client: MongoClient, db_name: str, name: str) -> None:
    client[db_name].create_collection(name, validator={"level": {"$gte": 0}})


def _refused(client: MongoClient, db_name: str, name: str, request: Any) -> dict[str, Any]:
    """What bulk_write raises for ``request`` (the reference)."""
    with pytest.raises(BulkWriteError) as caught:
        client[db_name][name].bulk_write([request], ordered=True)
    details: dict[str, Any] = caught.value.details
    return details


def _without_document_id(details: dict[str, Any]) -> dict[str, Any]:
    # The server names the failing document: the raw reference used another one.
    for error in details["writeErrors"]:
        error.get("errInfo", {}).pop("failingDocumentId", None)
    return details


async def test_one_command_per_save(monitored: Engine, recorder: CommandRecorder) -> None:
    gauge = await call(monitored.save(Gauge(level=1)))
    gauge.level = 2
    await call(monitored.save(gauge))
    await call(monitored.save(Named(key="a")))
    await call(monitored.save(Bare(key="b")))
    await call(monitored.save_all([Gauge(), Gauge()]))
    assert [(e.command_name, e.command.get("ordered")) for e in recorder.started_events] == [
        ("insert", True), ("update", True), ("update", True), ("update", True), ("insert", True)
    ]
    updates = [u["updates"][0] for u in recorder.named("update")]
    assert updates == [
        {"q": {"_id": gauge.id}, "u": {"$set": {"level": 2}}, "upsert": True, "multi": False},
        {"q": {"_id": "a"}, "u": {"$set": {"level": 0}}, "upsert": True, "multi": False},
        {"q": {"_id": "b"}, "u": {"_id": "b"}, "upsert": True, "multi": False},
    ]


def test_write_calls() -> None:
    new = save_operation(Gauge())
    assert new is not None
    assert write_call([new])[0] == "insert_one"
    assert write_call([new, new])[0] == "insert_many"
    chosen = save_operation(Named(key="k"))
    assert chosen is not None
    assert write_call([chosen])[0] == "update_one"
    assert write_call([new, chosen])[0] == "bulk_write"
    bare = save_operation(Bare(key="k"))
    assert bare is not None
    assert write_call([bare])[0] == "replace_one"
    assert [type(r) for r in write_requests([new, chosen, bare])] == [
        InsertOne, UpdateOne, ReplaceOne
    ]


async def test_a_refused_insert_raises_what_bulk_write_raises(
    engine: Engine, client: MongoClient, db_name: str
) -> None:
    _validated(client, db_name, "gauges")
    gauge = Gauge(level=-1)
    with pytest.raises(BulkWriteError) as caught:
        await call(engine.save(gauge))
    expected = _refused(client, db_name, "gauges", InsertOne(gauge.model_dump_doc()))
    assert _without_document_id(caught.value.details) == _without_document_id(expected)
    assert caught.value.details["writeErrors"][0]["code"] == 121
    assert save_operation(gauge) is not None  # still new: nothing was saved


async def test_a_refused_update_raises_what_bulk_write_raises(
    engine: Engine, client: MongoClient, db_name: str
) -> None:
    _validated(client, db_name, "gauges")
    gauge = await call(engine.save(Gauge(level=1)))
    gauge.level = -1
    with pytest.raises(BulkWriteError) as caught:
        await call(engine.save(gauge))
    request = UpdateOne({"_id": gauge.id}, {"$set": {"level": -1}}, upsert=True)
    assert caught.value.details == _refused(client, db_name, "gauges", request)
    operation = save_operation(gauge)
    assert operation is not None and operation.update == {"$set": {"level": -1}}


async def test_a_refused_replace_raises_what_bulk_write_raises(
    engine: Engine, client: MongoClient, db_name: str
) -> None:
    client[db_name].create_collection("bare", validator={"_id": {"$ne": "no"}})
    with pytest.raises(BulkWriteError) as caught:
        await call(engine.save(Bare(key="no")))
    request = ReplaceOne({"_id": "no"}, {"_id": "no"}, upsert=True)
    assert caught.value.details == _refused(client, db_name, "bare", request)
