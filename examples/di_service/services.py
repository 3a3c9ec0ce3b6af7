"""The bank's use cases, async, each receiving a new unit of work from the container.

``@inject`` fills the ``uow`` parameter from ``Container.unit_of_work`` (a factory: a new unit
per call); callers pass only the business arguments::

    entry = await services.transfer("alice", "bob", 30)

A use case that writes runs its body in ``uow.run``: one transaction, run again after a write
conflict; ``rename`` (guarded by the version the client saw, so a lost race is the
client's to retry) uses ``async with uow:``, and reads a read-only unit
(``Container.read_unit``). The rules are the models'
(:mod:`examples.bank.domain`), shared with the sync services of :mod:`examples.bank.service`.
"""

from __future__ import annotations

from dependency_injector.wiring import Provide, inject

import odm
from examples.bank.domain import MODELS, Account, AsyncBankUnit, Transfer
from examples.di_service.containers import Container

Unit = AsyncBankUnit


@inject
async def prepare_database(engine: odm.AIOEngine = Provide[Container.engine]) -> None:
    """Create the collections' indexes (idempotent; at start-up)."""
    await engine.configure_database(MODELS)


@inject
async def open_account(
    account_id: str, owner: str, balance: int, uow: Unit = Provide[Container.unit_of_work]
) -> Account:
    """A new account; an existing id is an ``odm.DuplicateKeyError``."""

    async def body(uow: Unit) -> Account:
        account = Account(id=account_id, owner=owner, balance=balance)
        await uow.accounts.add(account)
        return account

    return await uow.run(body)


@inject
async def transfer(
    source: str, target: str, amount: int, uow: Unit = Provide[Container.unit_of_work]
) -> Transfer:
    """Move ``amount``: ``InsufficientFunds``, ``InvalidTransfer`` or ``NotFoundError`` if not."""

    async def body(uow: Unit) -> Transfer:
        a, b = await uow.accounts.get(source), await uow.accounts.get(target)
        entry = a.transfer_to(b, amount)
        await uow.transfers.add(entry)
        return entry

    return await uow.run(body)


@inject
async def rename(
    account_id: str, owner: str, seen_version: int, uow: Unit = Provide[Container.unit_of_work]
) -> Account:
    """Change the owner; ``ConcurrencyError`` when the account changed since ``seen_version``,
    or when a concurrent write wins the race for it (the unit's flush or commit then meets a
    ``WriteConflict``). Not retried: the caller's version is stale either way."""
    async with uow:
        account = await uow.accounts.get(account_id)
        account.rename(owner, seen_version)
    return account


@inject
async def get_account(account_id: str, uow: Unit = Provide[Container.read_unit]) -> Account:
    async with uow:  # read-only: one snapshot, nothing to commit
        return await uow.accounts.get(account_id)


@inject
async def accounts(uow: Unit = Provide[Container.read_unit]) -> list[Account]:
    async with uow:
        return await uow.accounts.find(sort=Account.id, track=False)


@inject
async def statement(account_id: str, uow: Unit = Provide[Container.read_unit]) -> list[Transfer]:
    """The transfers from or to the account, oldest first (``NotFoundError`` if none), read
    in one snapshot: the account and its transfers as of the same moment."""
    async with uow:
        await uow.accounts.get(account_id)
        return await uow.transfers.find(Transfer.involving(account_id), sort=Transfer.id)
