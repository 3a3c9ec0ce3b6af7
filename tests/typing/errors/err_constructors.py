"""Constructor mistakes both checkers must report (with or without a mixin)."""

from odm import Field, Model, Reference
from uow import DomainEvents


class Publisher(Model):
    name: str


class Account(Model, DomainEvents):
    owner: str
    balance: int
    nickname: str = Field(key_name="nick")
    publisher: Publisher = Reference()
    level: int = Field(default=1)


Account(owner=1, balance=2, nickname="n", publisher=Publisher(name="p"))  # E: mypy[arg-type] pyright[reportArgumentType]
Account(owner="a", balance="ten", nickname="n", publisher=Publisher(name="p"))  # E: mypy[arg-type] pyright[reportArgumentType]
Account(owner="a", balance=1, publisher=Publisher(name="p"))  # E: mypy[call-arg] pyright[reportCallIssue]
Account(owner="a", balance=1, nickname="n")  # E: mypy[call-arg] pyright[reportCallIssue]
Account(owner="a", balance=1, nickname="n", publisher=Publisher(name="p"), unknown=3)  # E: mypy[call-arg] pyright[reportCallIssue]
Publisher()  # E: mypy[call-arg] pyright[reportCallIssue]
Publisher(name="p", id="not an ObjectId")  # E: mypy[arg-type] pyright[reportArgumentType]
Account(owner="a", balance=1, nickname="n", publisher=Publisher(name="p"), level=2)
