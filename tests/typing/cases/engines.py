"""Engines, cursors, sessions and transactions, sync and async, as users call them."""

from __future__ import annotations

from typing import assert_type

from pymongo import AsyncMongoClient, MongoClient

from odm import (
    AIOCursor,
    AIOEngine,
    AIOSession,
    AIOTransaction,
    Field,
    Model,
    SyncCursor,
    SyncEngine,
    SyncSession,
    SyncTransaction,
)
from odm.query import desc


class Player(Model):
    name: str = Field(unique=True)
    level: int = Field(default=1, index=True)


def sync_app(client: MongoClient[dict[str, object]]) -> None:
    engine = SyncEngine(client, database="game")
    engine.configure_database([Player])
    saved = engine.save(Player(name="Leeroy"))
    assert_type(saved, Player)
    assert_type(engine.save_all([saved]), list[Player])
    cursor = engine.find(Player, Player.level >= 2, sort=desc(Player.level), limit=10)
    assert_type(cursor, SyncCursor[Player])
    for player in cursor:
        assert_type(player, Player)
    assert_type(engine.find_one(Player, Player.name == "Leeroy"), Player | None)
    assert_type(engine.count(Player), int)
    assert_type(engine.remove(Player, Player.level < 0, just_one=True), int)
    engine.delete(saved)
    with engine.session() as session:
        assert_type(session, SyncSession)
        assert_type(session.find_one(Player), Player | None)
        with session.transaction() as inner:
            assert_type(inner, SyncTransaction)
            assert_type(inner.session, SyncSession)
    with engine.transaction() as transaction:
        assert_type(transaction, SyncTransaction)
        assert_type(transaction.save(saved), Player)
        engine.save(saved, session=transaction)
        transaction.commit()


async def async_app(client: AsyncMongoClient[dict[str, object]]) -> None:
    engine = AIOEngine(client, database="game")
    await engine.configure_database([Player])
    saved = await engine.save(Player(name="Leeroy"))
    assert_type(saved, Player)
    cursor = engine.find(Player, Player.level >= 2)
    assert_type(cursor, AIOCursor[Player])
    assert_type(await cursor, list[Player])
    async for player in engine.find(Player):
        assert_type(player, Player)
    assert_type(await engine.find_one(Player), Player | None)
    assert_type(await engine.count(Player), int)
    async with engine.session() as session:
        assert_type(session, AIOSession)
        assert_type(await session.save(saved), Player)
    async with engine.transaction() as transaction:
        assert_type(transaction, AIOTransaction)
        assert_type(transaction.session, AIOSession)
        await engine.save(saved, session=transaction)
        await transaction.abort()
