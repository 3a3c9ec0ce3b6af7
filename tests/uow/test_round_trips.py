"""A commit's round trips on MongoDB 8.0 (one ``bulkWrite`` for every collection, then the
commit) and 7.0 (one write command per collection and kind, then the commit), and errors that
mean the same on both. Each test runs on both twins and both releases (see ``twin``)."""

from __future__ import annotations

import enum

import pytest

import odm
from repositories import AsyncRepository, Repository
from tests.uow.conftest import Twin, call, entered
from tests.uow.models import Account, Address, Profile, Transfer
from uow import AsyncUnitOfWork, ConcurrencyError, UnitOfWork


async def _world(twin: Twin) -> tuple[Account, Account, Profile, Transfer]:
    alice, bob = Account(owner="alice", balance=100), Account(owner="bob", balance=0)
    profile = Profile(name="p", address=Address(city="Paris", street="Rivoli"))
    old = Transfer(source=alice.id, target=bob.id, amount=1)
    await twin.save(alice, bob, profile, old)
    return alice, bob, profile, old


async def test_a_commit_is_two_round_trips_on_8_and_one_per_write_command_on_7(twin: Twin
                                                                               ) -> None:
    alice, bob, profile, old = await _world(twin)
    twin.recorder.clear()
    async with entered(twin.unit()) as uow:
        a, b = await call(uow.accounts.get_many([alice.id, bob.id]))
        p = await call(uow.profiles.get(profile.id))
        gone = await call(uow.transfers.get(old.id))
        twin.recorder.clear()  # the loads' finds are not the commit's
        a.withdraw(10)
        b.deposit(10)
        p.name = "renamed"
        await call(uow.transfers.remove(gone))
        await call(uow.transfers.add(Transfer(source=a.id, target=b.id, amount=10)))
    names = [e.command_name for e in twin.recorder.started_events]
    if twin.one_write_command:
        assert names == ["bulkWrite", "commitTransaction"]
    else:  # accounts, profiles, then transfers' delete and upsert
        assert names == ["update", "update", "delete", "update", "commitTransaction"]
    assert [(await twin.reload(x)).balance for x in (alice, bob)] == [90, 10]
    assert (await twin.reload(profile)).name == "renamed"
    assert await twin.count(Transfer) == 1 and await twin.count(Transfer, Transfer.amount == 10)


async def test_a_duplicate_in_a_later_collection_names_its_model_and_writes_nothing(
    twin: Twin,
) -> None:
    alice, _, _, _ = await _world(twin)
    await call(twin.engine.get_collection(Profile).create_index("name", unique=True))
    twin.recorder.clear()
    newcomer = Profile(name="p", address=Address(city="Lyon", street="Bellecour"))
    with pytest.raises(odm.DuplicateKeyError) as raised:
        async with entered(twin.unit()) as uow:
            (await call(uow.accounts.get(alice.id))).withdraw(50)
            await call(uow.profiles.add(newcomer))
    error = raised.value
    assert error.instance is newcomer and error.fields == ("name",)
    assert error.key_value == {"name": "p"}
    assert (await twin.reload(alice)).balance == 100  # the account's write went with it
    assert await twin.count(Profile) == 1
    assert len(twin.recorder.named("abortTransaction")) == 1


async def test_a_new_model_with_a_taken_id_names_its_model_and_id(twin: Twin) -> None:
    alice, _, _, _ = await _world(twin)
    impostor = Account(id=alice.id, owner="impostor", balance=10**6)
    with pytest.raises(odm.DuplicateKeyError, match="duplicate key") as raised:
        async with entered(twin.unit()) as uow:
            await call(uow.transfers.add(Transfer(source=alice.id, target=alice.id, amount=1)))
            await call(uow.accounts.add(impostor))
    assert raised.value.instance is impostor and raised.value.key_value == {"_id": alice.id}
    assert await twin.count(Transfer) == 1  # the world's only, not the unit's
    assert (await twin.reload(alice)).owner == "alice"


async def test_a_stale_version_in_a_later_collection_is_a_concurrency_error(twin: Twin
                                                                            ) -> None:
    alice, _, profile, _ = await _world(twin)
    stale = await twin.reload(alice)
    async with entered(twin.unit()) as other:  # another writer bumps the version
        (await call(other.accounts.get(alice.id))).deposit(1)
    with pytest.raises(ConcurrencyError) as raised:
        async with entered(twin.unit()) as uow:
            (await call(uow.profiles.get(profile.id))).name = "changed"
            stale.balance = 0
            await call(uow.accounts.attach(stale))
    error = raised.value
    assert error.model is Account and error.ids == [alice.id]
    assert error.expected_versions == {alice.id: 0}
    assert (await twin.reload(profile)).name == "p"  # nothing of the unit written
    assert (await twin.reload(alice)).balance == 101


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Tagged(odm.Model):
    """Values only odm's fallback encoder turns into BSON (a set, an enum)."""

    tags: set[str]
    colour: Colour

    model_config = {"collection": "tagged"}


class TagUnit(UnitOfWork):
    tagged: Repository[Tagged]
    accounts: Repository[Account]


class AsyncTagUnit(AsyncUnitOfWork):
    tagged: AsyncRepository[Tagged]
    accounts: AsyncRepository[Account]


async def test_values_needing_odms_encoder_go_through_the_flush(twin: Twin) -> None:
    (alice, _, _, _) = await _world(twin)
    unit = TagUnit(twin.engine) if twin.flavour == "sync" else AsyncTagUnit(twin.engine)
    item = Tagged(tags={"a"}, colour=Colour.RED)
    async with entered(unit) as uow:
        await call(uow.tagged.add(item))
        (await call(uow.accounts.get(alice.id))).withdraw(1)
    async with entered(unit) as uow:
        again = await call(uow.tagged.get(item.id))
        assert again.tags == {"a"} and again.colour is Colour.RED
        again.tags.add("b")
        again.colour = Colour.BLUE
    stored = await call(twin.engine.find_one(Tagged, Tagged.id == item.id))
    assert stored.tags == {"a", "b"} and stored.colour is Colour.BLUE


async def test_a_deleted_document_in_a_later_collection_is_named(twin: Twin) -> None:
    alice, _, profile, _ = await _world(twin)
    stale = await call(twin.engine.find_one(Profile, Profile.id == profile.id))
    await call(twin.engine.delete(profile))  # gone before the unit starts
    with pytest.raises(ConcurrencyError, match="deleted by another writer") as raised:
        async with entered(twin.unit()) as uow:
            (await call(uow.accounts.get(alice.id))).withdraw(5)
            stale.name = "changed"
            await call(uow.profiles.attach(stale))
    assert raised.value.model is Profile and raised.value.ids == [profile.id]
    assert (await twin.reload(alice)).balance == 100
