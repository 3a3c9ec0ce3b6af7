"""The domain the unit-of-work tests use: accounts with a version, a ledger, profiles."""

from __future__ import annotations

from dataclasses import dataclass

import odm
from repositories import AsyncRepository, Repository
from uow import AsyncUnitOfWork, DomainEvents, UnitOfWork


@dataclass(frozen=True)
class Withdrawn:
    account: odm.ObjectId
    amount: int


@dataclass(frozen=True)
class Deposited:
    account: odm.ObjectId
    amount: int


class InsufficientFunds(Exception):
    pass


class Account(odm.Model, DomainEvents):
    owner: str
    balance: int
    version: int = 0

    model_config = {"collection": "accounts", "version_field": "version"}

    def withdraw(self, amount: int) -> None:
        if amount > self.balance:
            raise InsufficientFunds(f"{self.owner} has {self.balance}, needs {amount}")
        self.balance -= amount
        self.record_event(Withdrawn(self.id, amount))

    def deposit(self, amount: int) -> None:
        self.balance += amount
        self.record_event(Deposited(self.id, amount))


class Transfer(odm.Model):
    """A ledger entry: one per applied transfer."""

    source: odm.ObjectId
    target: odm.ObjectId
    amount: int

    model_config = {"collection": "transfers"}


class Address(odm.EmbeddedModel):
    city: str
    street: str


class Profile(odm.Model):
    """No version field: updates are guarded by the id only."""

    name: str
    address: Address
    tags: list[str] = []


class Owner(odm.Model):
    """Referenced by :class:`Pet` (a unit does not cascade references)."""

    name: str

    model_config = {"collection": "ref_owners"}


class Pet(odm.Model):
    name: str
    owner: Owner = odm.Reference()

    model_config = {"collection": "ref_pets"}


class TransferRepository(Repository[Transfer]):
    def by_source(self, account_id: odm.ObjectId) -> list[Transfer]:
        return self.find(Transfer.source == account_id, sort=Transfer.amount)


class AsyncTransferRepository(AsyncRepository[Transfer]):
    async def by_source(self, account_id: odm.ObjectId) -> list[Transfer]:
        return await self.find(Transfer.source == account_id, sort=Transfer.amount)


class BankUnit(UnitOfWork):
    accounts: Repository[Account]
    transfers: TransferRepository
    profiles: Repository[Profile]


class AsyncBankUnit(AsyncUnitOfWork):
    accounts: AsyncRepository[Account]
    transfers: AsyncTransferRepository
    profiles: AsyncRepository[Profile]
