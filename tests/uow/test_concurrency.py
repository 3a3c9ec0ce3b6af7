"""Concurrency on both twins: optimistic versions, retries, events, misuse, many workers."""

from __future__ import annotations

import asyncio
import random
import threading
from typing import Any

import pytest
from bson import ObjectId
from pymongo import MongoClient

from tests.uow.conftest import Twin, call, entered
from tests.uow.models import Account, BankUnit, Deposited, InsufficientFunds, Transfer, Withdrawn
from uow import (
    ConcurrencyError,
    UnitOfWorkClosed,
    UnitOfWorkError,
    UnknownRepositoryError,
)


async def test_a_stale_version_raises_concurrency_error(twin: Twin) -> None:
    alice = Account(owner="alice", balance=10)
    await twin.save(alice)
    stale = await twin.reload(alice)  # read now, written back later
    async with entered(twin.unit()) as uow:  # meanwhile, someone else changes it
        (await call(uow.accounts.get(alice.id))).deposit(5)
    stale.balance -= 10
    with pytest.raises(ConcurrencyError) as error:
        async with entered(twin.unit()) as uow:
            await call(uow.transfers.add(Transfer(source=alice.id, target=alice.id, amount=1)))
            await call(uow.accounts.attach(stale))
    assert error.value.model is Account and error.value.collection == "accounts"
    assert error.value.ids == [alice.id] and error.value.expected_versions == {alice.id: 0}
    assert "reload it and try again" in str(error.value)
    # Rolled back as a whole: the ledger entry of the failed unit is not there either.
    assert (await twin.reload(alice)).balance == 15
    assert await twin.count(Transfer) == 0


async def test_attach_sends_changes_since_loaded(twin: Twin) -> None:
    alice = Account(owner="alice", balance=10)
    await twin.save(alice)
    loaded = await twin.reload(alice)
    loaded.balance = 3
    twin.recorder.clear()
    async with entered(twin.unit()) as uow:
        await call(uow.accounts.attach(loaded))
    (update,) = twin.recorder.update_statements()
    assert update["u"] == {"$set": {"balance": 3, "version": 1}}
    assert loaded.version == 1 and (await twin.reload(alice)).version == 1
    with pytest.raises(TypeError, match="use add\\(\\) for a new one"):
        async with entered(twin.unit()) as uow:
            await call(uow.accounts.attach(Account(owner="new", balance=0)))


async def test_events_fire_after_commit_only(twin: Twin) -> None:
    alice, bob = Account(owner="a", balance=10), Account(owner="b", balance=0)
    await twin.save(alice, bob)
    seen: list[Any] = []
    unit = twin.unit(handlers={Withdrawn: seen.append})
    unit.on(Deposited, seen.append)

    def transfer(uow: Any, amount: int) -> Any:
        async def body() -> None:
            a = await call(uow.accounts.get(alice.id))
            b = await call(uow.accounts.get(bob.id))
            a.withdraw(amount)
            b.deposit(amount)
        return body()

    async with entered(unit):
        await transfer(unit, 4)
        assert seen == []  # not before the commit
    assert seen == [Withdrawn(alice.id, 4), Deposited(bob.id, 4)]
    with pytest.raises(InsufficientFunds):
        async with entered(unit):
            a = await call(unit.accounts.get(alice.id))
            a.deposit(1)  # recorded, then rolled back: never handed out
            a.withdraw(100)
    async with entered(unit):
        pass
    assert len(seen) == 2


async def test_transient_errors_rerun_the_function_once_committed(twin: Twin) -> None:
    alice = Account(owner="a", balance=10)
    await twin.save(alice)
    other: MongoClient = MongoClient(twin.uri)
    attempts: list[int] = []
    seen: list[Any] = []
    unit = twin.unit(handlers={Withdrawn: seen.append})

    def withdraw(uow: Any, amount: int) -> Any:
        async def body() -> int:
            attempts.append(1)
            a = await call(uow.accounts.get(alice.id))
            if len(attempts) == 1:  # a concurrent writer gets there first: a write conflict
                other[twin.engine.database.name]["accounts"].update_one(
                    {"_id": alice.id}, {"$inc": {"balance": 100}}
                )
            a.withdraw(amount)
            return a.balance
        return body() if twin.flavour == "async" else _run_sync(body())

    try:
        result = await call(unit.run(withdraw, 3))
    finally:
        other.close()
    assert len(attempts) == 2
    assert result == 107 and (await twin.reload(alice)).balance == 107
    assert seen == [Withdrawn(alice.id, 3)]  # the aborted attempt's event is dropped


def _run_sync(coroutine: Any) -> Any:
    """Run a test body written as a coroutine from sync code (it only awaits sync results)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("a sync unit's body must not suspend")


async def test_run_and_transactional_return_the_result(twin: Twin) -> None:
    alice = Account(owner="a", balance=10)
    await twin.save(alice)

    def read(uow: Any, account_id: Any) -> Any:
        async def body() -> int:
            return int((await call(uow.accounts.get(account_id))).balance)
        return body() if twin.flavour == "async" else _run_sync(body())

    unit = twin.unit()
    assert await call(unit.run(read, alice.id)) == 10
    assert await call(unit.transactional(read)(alice.id)) == 10
    assert not unit.is_active


async def test_misuse_is_refused_with_clear_errors(twin: Twin) -> None:
    unit = twin.unit()
    with pytest.raises(UnitOfWorkError, match="not active"):
        await call(unit.accounts.get_or_none(1))
    with pytest.raises(UnknownRepositoryError, match="no repository 'ledger'"):
        unit.ledger  # noqa: B018
    with pytest.raises(UnknownRepositoryError, match="no repository for 'int'"):
        unit.repository(int)
    async with entered(unit):
        with pytest.raises(UnitOfWorkError, match="already active"):
            async with entered(unit):
                pass
        with pytest.raises(TypeError, match="expects an Account, got Transfer"):
            stray = Transfer(source=ObjectId(), target=ObjectId(), amount=1)
            await call(unit.accounts.add(stray))  # type: ignore[arg-type]
    unit.close()
    with pytest.raises(UnitOfWorkClosed):
        async with entered(unit):
            pass


def test_another_thread_cannot_use_an_active_unit(client: MongoClient, db_name: str) -> None:
    import odm

    unit = BankUnit(odm.SyncEngine(client, database=db_name))
    errors: list[BaseException] = []

    def intrude() -> None:
        try:
            unit.accounts.get_or_none(1)
        except BaseException as error:
            errors.append(error)

    with unit:
        thread = threading.Thread(target=intrude)
        thread.start()
        thread.join()
    client.drop_database(db_name)
    assert len(errors) == 1 and isinstance(errors[0], UnitOfWorkError)
    assert "one thread or task at a time" in str(errors[0])


# ---------------------------------------------------------------- many workers

WORKERS = 8
TRANSFERS_PER_WORKER = 12
START_BALANCE = 100


def _plan(seed: int, ids: list[Any]) -> list[tuple[Any, Any, int]]:
    rng = random.Random(seed)
    plan = []
    for _ in range(TRANSFERS_PER_WORKER):
        source, target = rng.sample(ids, 2)
        plan.append((source, target, rng.randint(1, 60)))
    return plan


def _transfer_sync(uow: BankUnit, source: Any, target: Any, amount: int) -> Transfer:
    a, b = uow.accounts.get(source), uow.accounts.get(target)
    a.withdraw(amount)
    b.deposit(amount)
    entry = Transfer(source=source, target=target, amount=amount)
    uow.transfers.add(entry)
    return entry


async def _transfer_async(uow: Any, source: Any, target: Any, amount: int) -> Transfer:
    a, b = await uow.accounts.get(source), await uow.accounts.get(target)
    a.withdraw(amount)
    b.deposit(amount)
    entry = Transfer(source=source, target=target, amount=amount)
    await uow.transfers.add(entry)
    return entry


async def _check_books(twin: Twin, ids: list[Any], applied: list[Transfer]) -> None:
    accounts = {a.id: a for a in await call(twin.engine.find(Account)) if True}
    ledger = await call(twin.engine.find(Transfer))
    assert sum(a.balance for a in accounts.values()) == START_BALANCE * len(ids)
    assert sorted(t.id for t in ledger) == sorted(t.id for t in applied)  # each exactly once
    expected = dict.fromkeys(ids, START_BALANCE)
    for t in ledger:
        expected[t.source] -= t.amount
        expected[t.target] += t.amount
    assert {i: a.balance for i, a in accounts.items()} == expected
    assert all(a.balance >= 0 for a in accounts.values())


async def test_concurrent_workers_keep_the_books_exact(twin: Twin) -> None:
    accounts = [Account(owner=f"o{i}", balance=START_BALANCE) for i in range(4)]
    await twin.save(*accounts)
    ids = [a.id for a in accounts]
    applied: list[Transfer] = []
    refused: list[InsufficientFunds] = []

    if twin.flavour == "sync":
        def worker(seed: int) -> None:
            unit = twin.unit()  # one unit per worker, one shared engine
            for source, target, amount in _plan(seed, ids):
                try:
                    applied.append(unit.run(_transfer_sync, source, target, amount))
                except InsufficientFunds as error:
                    refused.append(error)

        threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        async def task(seed: int) -> None:
            unit = twin.unit()
            for source, target, amount in _plan(seed, ids):
                try:
                    applied.append(await unit.run(_transfer_async, source, target, amount))
                except InsufficientFunds as error:
                    refused.append(error)

        await asyncio.gather(*(task(seed) for seed in range(WORKERS)))

    assert len(applied) + len(refused) == WORKERS * TRANSFERS_PER_WORKER
    assert applied  # most transfers go through
    await _check_books(twin, ids, applied)
