"""The bank's domain: accounts, the ledger of transfers, and the rules (no I/O here).

The rules live on the models, so the sync services (:mod:`examples.bank.service`) and the
async ones (:mod:`examples.di_service.services`) are thin shells around the same code::

    entry = alice.transfer_to(bob, 30)   # withdraws, deposits, returns the ledger entry

The two unit-of-work classes at the end declare the repositories the services use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import odm
from odm.query import QueryExpression, or_
from repositories import AsyncRepository, Repository
from uow import AsyncUnitOfWork, ConcurrencyError, DomainEvents, UnitOfWork
from uow.outbox import default_registry


class BankError(Exception):
    """A request the bank refuses (the web API answers 422)."""


class InsufficientFunds(BankError):
    """The source account cannot pay the amount."""

    def __init__(self, account: Account, amount: int) -> None:
        super().__init__(f"account {account.id!r} has {account.balance}, cannot pay {amount}")
        self.account_id = account.id
        self.balance = account.balance
        self.amount = amount


class InvalidTransfer(BankError):
    """Not a transfer the bank makes: to the same account, or not a positive amount."""


@dataclass(frozen=True)
class Withdrawn:
    """Money left ``account`` (handed to the handlers after the commit)."""

    account: str
    amount: int


@dataclass(frozen=True)
class Deposited:
    """Money arrived on ``account`` (handed to the handlers after the commit)."""

    account: str
    amount: int


@dataclass(frozen=True)
class TransferCompleted:
    """A transfer was applied (recorded on the source account). A unit with an outbox
    stores it with the transfer; a relay delivers it as a "transfer completed" notification."""

    transfer: str  # the ledger entry's id
    source: str
    target: str
    amount: int


TRANSFER_COMPLETED = "bank.transfer_completed"
default_registry.register(TransferCompleted, name=TRANSFER_COMPLETED)  # its stored type name


def utc_now() -> datetime:
    """Now as odm reads datetimes back: naive UTC, to the millisecond (as MongoDB stores it)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class Transfer(odm.Model):
    """A ledger entry: one per applied transfer, written in the same transaction."""

    source: str = odm.Field(index=True)
    target: str = odm.Field(index=True)
    amount: int
    at: datetime = odm.Field(default_factory=utc_now)

    model_config = odm.ODMConfigDict(collection="transfers")

    @staticmethod
    def involving(account_id: str) -> QueryExpression:
        """The query of the transfers from or to ``account_id``."""
        return or_(Transfer.source == account_id, Transfer.target == account_id)


class Account(odm.Model, DomainEvents):
    """An account, named by its id (``"alice"``); ``version`` guards concurrent writes."""

    id: str = odm.Field(primary_field=True)  # type: ignore[assignment]  # not an ObjectId
    owner: str
    balance: int = odm.Field(default=0, ge=0)
    version: int = 0

    model_config = odm.ODMConfigDict(collection="accounts", version_field="version")

    def withdraw(self, amount: int) -> None:
        if amount > self.balance:
            raise InsufficientFunds(self, amount)
        self.balance -= amount
        self.record_event(Withdrawn(self.id, amount))

    def deposit(self, amount: int) -> None:
        self.balance += amount
        self.record_event(Deposited(self.id, amount))

    def transfer_to(self, target: Account, amount: int) -> Transfer:
        """Move ``amount`` to ``target``; the ledger entry to record."""
        if amount <= 0:
            raise InvalidTransfer(f"the amount must be positive, got {amount}")
        if target.id == self.id:
            raise InvalidTransfer(f"cannot transfer from account {self.id!r} to itself")
        self.withdraw(amount)
        target.deposit(amount)
        entry = Transfer(source=self.id, target=target.id, amount=amount)
        self.record_event(TransferCompleted(str(entry.id), self.id, target.id, amount))
        return entry

    def rename(self, owner: str, seen_version: int) -> None:
        """Change the owner, if the caller saw the latest version (else a 409 in the API)."""
        if seen_version != self.version:
            raise ConcurrencyError(Account, [self.id], [seen_version])
        self.owner = owner


class BankUnit(UnitOfWork):
    """The sync unit of work of the bank (one per use case)."""

    accounts: Repository[Account]
    transfers: Repository[Transfer]


class AsyncBankUnit(AsyncUnitOfWork):
    """The async twin, on an ``odm.AIOEngine``."""

    accounts: AsyncRepository[Account]
    transfers: AsyncRepository[Transfer]


OUTBOX = "outbox"
"""The collection the bank's units store their events in (``BankUnit(engine, outbox=OUTBOX)``)."""

MODELS: list[type[odm.Model]] = [Account, Transfer]
"""What ``engine.configure_database(MODELS)`` sets up (the ledger's indexes)."""
