"""The unit of work on both twins: transfers, rollbacks, the identity map, minimal flushes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pymongo import AsyncMongoClient, MongoClient

import mongolet
import odm
from tests.conftest import using_real_mongodb
from tests.uow.conftest import Twin, call, entered
from tests.uow.models import (
    Account,
    Address,
    AsyncBankUnit,
    BankUnit,
    InsufficientFunds,
    Profile,
    Transfer,
)
from uow import NotFoundError, TransactionsNotSupported


async def open_accounts(twin: Twin, *balances: int) -> list[Account]:
    accounts = [Account(owner=f"owner {i}", balance=b) for i, b in enumerate(balances)]
    await twin.save(*accounts)
    return accounts


async def balances(twin: Twin, *accounts: Account) -> list[int]:
    return [(await twin.reload(a)).balance for a in accounts]


async def test_transfer_is_a_few_declarative_lines(twin: Twin) -> None:
    alice, bob = await open_accounts(twin, 100, 5)
    twin.recorder.clear()
    async with entered(twin.unit()) as uow:
        a = await call(uow.accounts.get(alice.id))
        b = await call(uow.accounts.get(bob.id))
        a.withdraw(30)
        b.deposit(30)
        await call(uow.transfers.add(Transfer(source=a.id, target=b.id, amount=30)))
    assert await balances(twin, alice, bob) == [70, 35]
    assert await twin.count(Transfer) == 1
    # Exactly the changed paths, guarded by and bumping the version.
    updates = twin.recorder.update_statements()
    account_updates = [u for u in updates if "version" in u["q"]]
    assert [u["u"] for u in account_updates] == [
        {"$set": {"balance": 70, "version": 1}},
        {"$set": {"balance": 35, "version": 1}},
    ]
    assert all(u["q"]["version"] == 0 for u in account_updates)
    assert len(twin.recorder.named("commitTransaction")) == 1


async def test_an_exception_rolls_back_both_sides(twin: Twin) -> None:
    alice, bob = await open_accounts(twin, 10, 0)
    unit = twin.unit()
    with pytest.raises(InsufficientFunds):
        async with entered(unit) as uow:
            b = await call(uow.accounts.get(bob.id))
            b.deposit(50)
            await call(uow.flush())  # even flushed writes are undone
            a = await call(uow.accounts.get(alice.id))
            a.withdraw(50)
    assert await balances(twin, alice, bob) == [10, 0]
    assert "0 tracked" in repr(unit)  # nothing left attached to the failed unit
    assert len(twin.recorder.named("abortTransaction")) == 1


async def test_identity_map_returns_the_same_object(twin: Twin) -> None:
    alice, bob = await open_accounts(twin, 1, 2)
    async with entered(twin.unit()) as uow:
        a = await call(uow.accounts.get(alice.id))
        assert await call(uow.accounts.get(alice.id)) is a
        a.balance = 99  # a query returns the tracked object, with its pending change
        found = await call(uow.accounts.find(Account.owner == alice.owner))
        assert found == [a] and found[0] is a
        assert (await call(uow.accounts.find_one(Account.balance == 99))) is a
        many = await call(uow.accounts.get_many([bob.id, alice.id]))
        assert [m.id for m in many] == [bob.id, alice.id] and many[1] is a


async def test_unchanged_models_send_nothing(twin: Twin) -> None:
    (alice,) = await open_accounts(twin, 5)
    twin.recorder.clear()
    async with entered(twin.unit()) as uow:
        a = await call(uow.accounts.get(alice.id))
        a.balance = 5  # same value: not a change
    names = [e.command_name for e in twin.recorder.started_events]
    assert names == ["find", "commitTransaction"]


async def test_an_empty_unit_sends_nothing(twin: Twin) -> None:
    twin.recorder.clear()
    async with entered(twin.unit()):
        pass  # a transaction without operations is never sent, not even its commit
    assert twin.recorder.started_events == []


async def test_nested_and_in_place_changes_send_dotted_paths(twin: Twin) -> None:
    profile = Profile(name="p", address=Address(city="Paris", street="Rivoli"), tags=["a"])
    await twin.save(profile)
    twin.recorder.clear()
    async with entered(twin.unit()) as uow:
        p = await call(uow.profiles.get(profile.id))
        p.address.city = "Lyon"
        p.tags.append("b")
    (update,) = twin.recorder.update_statements()
    assert update["u"] == {"$set": {"address.city": "Lyon", "tags": ["a", "b"]}}
    stored = await twin.reload(profile)
    assert stored.address == Address(city="Lyon", street="Rivoli") and stored.tags == ["a", "b"]


async def test_k_collections_cost_two_round_trips_on_8_and_k_plus_one_on_7(twin: Twin) -> None:
    alice, bob = await open_accounts(twin, 100, 100)
    profile = Profile(name="p", address=Address(city="Paris", street="Rivoli"))
    await twin.save(profile)
    async with entered(twin.unit()) as uow:
        accounts = await call(uow.accounts.get_many([alice.id, bob.id]))
        p = await call(uow.profiles.get(profile.id))
        twin.recorder.clear()
        accounts[0].withdraw(1)
        accounts[1].deposit(1)
        p.name = "renamed"
        # New models join their collection's single update command (upserts).
        await call(uow.accounts.add(Account(owner="new", balance=0)))
        await call(uow.transfers.add_all([
            Transfer(source=alice.id, target=bob.id, amount=1) for _ in range(3)
        ]))
    names = [e.command_name for e in twin.recorder.started_events]
    if twin.one_write_command:  # MongoDB 8.0: one bulkWrite for the three collections
        assert names == ["bulkWrite", "commitTransaction"]
        (command,) = twin.recorder.named("bulkWrite")
        assert [ns["ns"].split(".")[1] for ns in command["nsInfo"]] == \
            ["accounts", Profile.__collection__, "transfers"]
        assert len(command["ops"]) == 7 and command["ordered"] is True
        assert "lsid" in command and "txnNumber" in command  # inside the transaction
    else:
        assert names == ["update", "update", "update", "commitTransaction"]
    assert await twin.count(Transfer) == 3
    assert await twin.count(Account) == 3


async def test_queries_see_pending_changes(twin: Twin) -> None:
    (alice,) = await open_accounts(twin, 5)
    async with entered(twin.unit()) as uow:
        await call(uow.accounts.add(Account(owner="carol", balance=7)))
        a = await call(uow.accounts.get(alice.id))
        a.balance = 50
        assert await call(uow.accounts.count()) == 2
        rich = await call(uow.accounts.find(Account.balance >= 7, sort=Account.balance))
        assert [x.owner for x in rich] == ["carol", alice.owner]
        assert await twin.count(Account) == 1  # still invisible outside the transaction
    assert await twin.count(Account) == 2


async def test_domain_query_on_a_repository_subclass(twin: Twin) -> None:
    alice, bob = await open_accounts(twin, 5, 5)
    async with entered(twin.unit()) as uow:
        await call(uow.transfers.add_all([
            Transfer(source=alice.id, target=bob.id, amount=n) for n in (3, 1, 2)
        ]))
        mine = await call(uow.transfers.by_source(alice.id))
        assert [t.amount for t in mine] == [1, 2, 3]


async def test_missing_document(twin: Twin) -> None:
    missing = odm.ObjectId()
    async with entered(twin.unit()) as uow:
        assert await call(uow.accounts.get_or_none(missing)) is None
        with pytest.raises(NotFoundError, match=f"Account with id=ObjectId\\('{missing}'\\)") as error:
            await call(uow.accounts.get(missing))
        assert error.value.model is Account and error.value.id == missing
        with pytest.raises(NotFoundError):
            await call(uow.accounts.get_many([missing]))
        assert isinstance(error.value, odm.DocumentNotFoundError)


async def test_remove_deletes_at_flush(twin: Twin) -> None:
    alice, _bob = await open_accounts(twin, 1, 2)
    async with entered(twin.unit()) as uow:
        a = await call(uow.accounts.get(alice.id))
        await call(uow.accounts.remove(a))
        assert await call(uow.accounts.get_or_none(alice.id)) is None
        assert await call(uow.accounts.count()) == 1  # flushed before counting
    assert await twin.count(Account) == 1
    deletes = twin.recorder.delete_statements()
    assert deletes[0]["q"] == {"_id": alice.id, "version": 0}


async def test_duplicate_id_is_refused_and_nothing_is_written(twin: Twin) -> None:
    (alice,) = await open_accounts(twin, 1)
    with pytest.raises(odm.DuplicateKeyError, match="duplicate key"):
        async with entered(twin.unit()) as uow:
            await call(uow.transfers.add(Transfer(source=alice.id, target=alice.id, amount=1)))
            await call(uow.accounts.add(Account(id=alice.id, owner="impostor", balance=10**6)))
    assert await twin.count(Transfer) == 0
    stored = await twin.reload(alice)
    assert (stored.owner, stored.balance) == (alice.owner, 1)


async def test_explicit_commit_and_rollback_inside_the_block(twin: Twin) -> None:
    (alice,) = await open_accounts(twin, 10)
    async with entered(twin.unit()) as uow:
        a = await call(uow.accounts.get(alice.id))
        a.balance = 20
        await call(uow.commit())
        assert await balances(twin, alice) == [20]
        a2 = await call(uow.accounts.get(alice.id))
        assert a2 is a  # still tracked after the commit, in the next transaction
        a2.balance = 30
        await call(uow.rollback())
        a3 = await call(uow.accounts.get(alice.id))
        assert a3 is not a2 and a3.balance == 20  # detached after the rollback
    assert await balances(twin, alice) == [20]


async def test_a_unit_is_reusable_after_its_block(twin: Twin) -> None:
    (alice,) = await open_accounts(twin, 0)
    unit = twin.unit()
    for _ in range(3):
        async with entered(unit) as uow:
            a = await call(uow.accounts.get(alice.id))
            a.deposit(1)
    assert await balances(twin, alice) == [3]


async def test_repositories_given_at_construction(twin: Twin) -> None:
    (alice,) = await open_accounts(twin, 4)
    base = twin.unit_class.__mro__[1]  # UnitOfWork or AsyncUnitOfWork
    unit = base(twin.engine, repositories={"ledger": Transfer, "people": Account})
    async with entered(unit) as uow:
        assert (await call(uow.people.get(alice.id))).balance == 4
        assert uow.repository(Transfer) is uow.ledger


@pytest.fixture(scope="module")
def standalone_uri() -> Iterator[str]:
    """A server that presents itself as a standalone mongod: no transactions there."""
    if using_real_mongodb():
        pytest.skip("needs a standalone server; the suite runs against MONGODB_URI")
    with mongolet.serve(replica_set="") as server:
        yield server.uri


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_server_without_transactions_is_refused_before_anything_runs(
    standalone_uri: str, flavour: str
) -> None:
    ran: list[bool] = []
    if flavour == "sync":
        with MongoClient(standalone_uri) as client:
            unit = BankUnit(odm.SyncEngine(client, database="standalone"))
            with pytest.raises(TransactionsNotSupported, match="replica set"), unit:
                ran.append(True)
            assert not unit.is_active and ran == []
        return
    aclient: AsyncMongoClient = AsyncMongoClient(standalone_uri)
    try:
        aunit = AsyncBankUnit(odm.AIOEngine(aclient, database="standalone"))
        with pytest.raises(TransactionsNotSupported, match="replica set"):
            async with aunit:
                ran.append(True)
        assert not aunit.is_active
    finally:
        await aclient.close()
    assert ran == []


async def test_async_unit_on_a_motor_client(mongodb_uri: str, db_name: str) -> None:
    from motor.motor_asyncio import AsyncIOMotorClient

    motor_client: AsyncIOMotorClient = AsyncIOMotorClient(mongodb_uri)
    try:
        unit = AsyncBankUnit(odm.AIOEngine(motor_client, database=db_name))
        alice = Account(owner="alice", balance=10)
        async with unit:
            await unit.accounts.add(alice)
        with pytest.raises(InsufficientFunds):
            async with unit:
                (await unit.accounts.get(alice.id)).withdraw(11)
        async with unit:
            a = await unit.accounts.get(alice.id)
            a.withdraw(4)
            assert await unit.accounts.count(Account.balance == 6) == 1
        raw = await motor_client[db_name]["accounts"].find_one({"_id": alice.id})
        assert (raw["balance"], raw["version"]) == (6, 1)
    finally:
        await motor_client.drop_database(db_name)
        motor_client.close()
