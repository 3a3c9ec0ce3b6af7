"""``engine.save_all`` across model classes: one ``bulkWrite`` on MongoDB 8.0, one write per
collection on 7.0, with the same outcome and errors (both engines, both releases)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient, MongoClient

import odm
from tests.odm.helpers import CommandRecorder
from tests.uow.conftest import call


class Owner(odm.Model):
    name: str
    tags: set[str] = set()  # only odm's fallback encoder turns a set into BSON

    model_config = {"collection": "owners"}


class Pet(odm.Model):
    name: str
    owner: Owner = odm.Reference()

    model_config = {"collection": "pets"}


class Toy(odm.Model):
    label: str = odm.Field(unique=True)

    model_config = {"collection": "toys"}


@pytest.fixture(params=["sync", "async"])
async def engine(request: pytest.FixtureRequest, versioned_uri: str, recorder: CommandRecorder
                 ) -> AsyncIterator[Any]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    if request.param == "sync":
        client: MongoClient = MongoClient(versioned_uri, event_listeners=[recorder])
        client.admin.command("ping")  # the client knows the server: no hello is counted
        yield odm.SyncEngine(client, database=name)
        client.drop_database(name)
        client.close()
    else:
        aclient: AsyncMongoClient = AsyncMongoClient(versioned_uri, event_listeners=[recorder])
        await aclient.admin.command("ping")
        yield odm.AIOEngine(aclient, database=name)
        await aclient.drop_database(name)
        await aclient.close()


@pytest.fixture
def recorder() -> CommandRecorder:
    return CommandRecorder()


def writes(recorder: CommandRecorder) -> list[str]:
    return [e.command_name for e in recorder.started_events
            if e.command_name in ("insert", "update", "delete", "bulkWrite")]


async def test_save_all_across_collections(engine: Any, recorder: CommandRecorder,
                                           server_version: str) -> None:
    alice = Owner(name="alice", tags={"vip"})
    pets = [Pet(name="rex", owner=alice), Pet(name="tom", owner=alice)]
    toy = Toy(label="ball")
    recorder.clear()
    await call(engine.save_all([*pets, toy]))
    # Referenced owners first, then pets, then toys: one command on 8.0, one each on 7.0.
    assert writes(recorder) == (["bulkWrite"] if server_version == "8.0"
                                else ["insert", "insert", "insert"])
    stored = await call(engine.find_one(Pet, Pet.name == "rex"))
    assert stored.owner == alice and stored.owner.tags == {"vip"}
    alice.name = "alicia"
    toy.label = "frisbee"
    recorder.clear()
    await call(engine.save_all([toy, alice]))  # changes only: $set of the changed fields
    assert writes(recorder) == (["bulkWrite"] if server_version == "8.0"
                                else ["update", "update"])
    assert (await call(engine.find_one(Owner))).name == "alicia"
    assert (await call(engine.find_one(Toy))).label == "frisbee"
    recorder.clear()
    await call(engine.save_all([alice, toy]))  # nothing changed: nothing sent
    assert writes(recorder) == []


async def test_a_duplicate_names_the_instance_and_the_writes_before_it_stay(
        engine: Any, server_version: str) -> None:
    await call(engine.configure_database([Toy]))
    await call(engine.save(Toy(label="ball")))
    bob = Owner(name="bob")
    copy = Toy(label="ball")
    with pytest.raises(odm.DuplicateKeyError) as raised:
        await call(engine.save_all([bob, copy]))  # owners first, then the toy
    assert raised.value.instance is copy and raised.value.fields == ("label",)
    assert raised.value.key_value == {"label": "ball"}
    # Outside a transaction the owner before it is written, and tracked as saved.
    assert await call(engine.count(Owner)) == 1
    bob.name = "robert"
    await call(engine.save_all([bob, Toy(label="kite")]))
    assert (await call(engine.find_one(Owner))).name == "robert"
    assert await call(engine.count(Owner)) == 1 and await call(engine.count(Toy)) == 2
