"""The bank's use cases on the sync unit of work.

Each use case is a function of a unit; run it in a transaction with ``uow.run`` (which runs it
again after a write conflict) or call it inside ``with uow:``::

    unit = BankUnit(odm.SyncEngine(client, database="bank"))
    entry = unit.run(service.transfer, "alice", "bob", 30)

The rules are the models' (:mod:`examples.bank.domain`); the functions only load and add.
"""

from __future__ import annotations

from examples.bank.domain import Account, BankUnit, Transfer


def open_account(uow: BankUnit, account_id: str, owner: str, balance: int) -> Account:
    account = Account(id=account_id, owner=owner, balance=balance)
    uow.accounts.add(account)  # an existing id is an odm.DuplicateKeyError at commit
    return account


def transfer(uow: BankUnit, source: str, target: str, amount: int) -> Transfer:
    a, b = uow.accounts.get(source), uow.accounts.get(target)
    entry = a.transfer_to(b, amount)
    uow.transfers.add(entry)
    return entry


def accounts(uow: BankUnit) -> list[Account]:
    return uow.accounts.find(sort=Account.id)


def statement(uow: BankUnit, account_id: str) -> list[Transfer]:
    """The transfers from or to the account, oldest first (NotFoundError if there is none)."""
    uow.accounts.get(account_id)
    return uow.transfers.find(Transfer.involving(account_id), sort=Transfer.id)
