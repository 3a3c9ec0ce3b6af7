"""Wrong arguments to uow.run / transactional both checkers must report."""

from odm import Model, SyncEngine
from repositories import Repository
from uow import UnitOfWork


class Account(Model):
    balance: int


class BankUnit(UnitOfWork):
    accounts: Repository[Account]


def deposit(uow: BankUnit, owner: str, amount: int) -> None:
    uow.accounts.find(Account.balance > amount)


def other(uow: UnitOfWork, n: int) -> str:
    return str(n)


def service(engine: SyncEngine) -> None:
    uow = BankUnit(engine)
    uow.run(deposit, "ann", 10)
    uow.run(other, 3)
    uow.run(deposit, "ann", "ten")  # E: mypy[arg-type] pyright[reportArgumentType]
    uow.run(deposit, "ann")  # E: mypy[call-arg] pyright[reportCallIssue]
    uow.run(deposit, "ann", 1, 2)  # E: mypy[call-arg] pyright[reportCallIssue]
    deposit_tx = uow.transactional(deposit)
    deposit_tx("ann", amount="x")  # E: mypy[arg-type] pyright[reportArgumentType]
    UnitOfWork(engine).run(deposit, "ann", 1)  # E: mypy[arg-type] pyright[reportArgumentType]
