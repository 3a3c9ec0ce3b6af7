"""Units of work and repositories: run/transactional check the function's arguments."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import assert_type

import bson

from odm import AIOEngine, Model, ODMConfigDict, SyncEngine
from repositories import AsyncRepository, Repository
from uow import AsyncUnitOfWork, DomainEvents, UnitOfWork


class Account(Model, DomainEvents):
    owner: str
    balance: int
    version: int = 0
    model_config = ODMConfigDict(collection="accounts", version_field="version")


class BankUnit(UnitOfWork):
    accounts: Repository[Account]


class AsyncBankUnit(AsyncUnitOfWork):
    accounts: AsyncRepository[Account]


def transfer(uow: BankUnit, source: bson.ObjectId, target: bson.ObjectId, amount: int) -> int:
    a, b = uow.accounts.get(source), uow.accounts.get(target)
    assert_type(a, Account)
    a.balance -= amount
    b.balance += amount
    return b.balance


async def async_transfer(uow: AsyncBankUnit, source: bson.ObjectId, amount: int) -> None:
    account = await uow.accounts.get(source)
    assert_type(account, Account)
    assert_type(await uow.accounts.find(Account.balance > amount), list[Account])
    account.balance -= amount


def sync_service(engine: SyncEngine, a: bson.ObjectId, b: bson.ObjectId) -> None:
    uow = BankUnit(engine)
    assert_type(uow.run(transfer, a, b, 10), int)
    assert_type(uow.run(transfer, a, b, amount=10), int)
    transfer_tx: Callable[[bson.ObjectId, bson.ObjectId, int], int] = uow.transactional(transfer)
    transfer_tx(a, b, 5)
    with uow:
        assert_type(uow.accounts.get_or_none(a), Account | None)
        assert_type(uow.accounts.find(Account.owner == "ann", limit=3), list[Account])
        assert_type(uow.accounts.count(), int)
        uow.accounts.add(Account(owner="bob", balance=0))


async def async_service(engine: AIOEngine, a: bson.ObjectId) -> None:
    uow = AsyncBankUnit(engine)
    await uow.run(async_transfer, a, 10)
    transfer_tx: Callable[[bson.ObjectId, int], Awaitable[None]] = uow.transactional(
        async_transfer
    )
    await transfer_tx(a, 3)
    async with uow:
        await uow.accounts.add(Account(owner="cy", balance=1))


def repositories(uow: BankUnit, ids: list[bson.ObjectId]) -> None:
    assert_type(uow.accounts.get_many(ids), list[Account])
    assert_type(uow.accounts.find_one(Account.owner == "ann"), Account | None)
    uow.accounts.remove(uow.accounts.get(ids[0]))
    uow.on(str, lambda event: None)


async def async_repositories(uow: AsyncBankUnit, ids: list[bson.ObjectId]) -> None:
    assert_type(await uow.accounts.get_many(ids), list[Account])
    assert_type(await uow.accounts.get_or_none(ids[0]), Account | None)
    assert_type(await uow.accounts.count(), int)
    await uow.accounts.remove(await uow.accounts.get(ids[0]))
