"""Models shared by the odm tests."""

from __future__ import annotations

import datetime
import decimal
import enum

from odm import EmbeddedModel, Field, Index, Model, ObjectId, Reference
from odm.query import desc


class User(Model):
    name: str
    email: str


class Order(Model):
    user_id: ObjectId
    total: float


class Account(Model):
    user_id: ObjectId
    balance: float


class Transaction(Model):
    from_account: ObjectId
    to_account: ObjectId
    amount: float
    timestamp: datetime.datetime


class Status(enum.Enum):
    ACTIVE = "active"
    CLOSED = "closed"


class Address(EmbeddedModel):
    city: str
    zip_code: str = Field("00000", key_name="zip")


class Item(EmbeddedModel):
    sku: str
    qty: int = 1


class Customer(Model):
    name: str = Field(key_name="n")
    age: int = 0
    tags: list[str] = []
    scores: list[int] = []
    address: Address | None = None
    addresses: list[Address] = []
    by_label: dict[str, Address] = {}
    items: list[Item] = []
    status: Status = Status.ACTIVE
    price: decimal.Decimal = decimal.Decimal("0")
    seen_at: datetime.datetime | None = None
    extra: dict[str, int] = {}


class Publisher(Model):
    name: str


class Author(Model):
    name: str
    publisher: Publisher = Reference()


class Book(Model):
    title: str
    author: Author = Reference(key_name="author_id")


class Player(Model):
    name: str = Field(unique=True)
    level: int = Field(1, index=True)
    team: str = "none"

    model_config = {
        "collection": "players",
        "indexes": lambda: [Index(Player.team, desc(Player.level), name="team_level")],
    }


class Product(Model):
    sku: str = Field(primary_field=True)
    label: str = ""
