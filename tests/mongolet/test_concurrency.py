"""Many clients at once: transfers in transactions keep the total exact, concurrent plain
$inc never loses an update."""

from __future__ import annotations

import asyncio
import random
import threading

from pymongo import AsyncMongoClient, MongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.client_session import ClientSession
from pymongo.synchronous.database import Database

ACCOUNTS = 6
START_BALANCE = 1000


def _seed(db: Database) -> None:
    db.accounts.insert_many([{"_id": i, "balance": START_BALANCE} for i in range(ACCOUNTS)])


def _total(db: Database) -> int:
    return sum(d["balance"] for d in db.accounts.find())


def test_threads_and_tasks_transfer_money_with_transactions(mongodb_uri: str,
                                                            db: Database) -> None:
    _seed(db)
    errors: list[BaseException] = []
    transfers_per_worker = 15

    def thread_worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            with MongoClient(mongodb_uri) as c:
                accounts = c[db.name].accounts
                for _ in range(transfers_per_worker):
                    src, dst = rng.sample(range(ACCOUNTS), 2)
                    amount = rng.randint(1, 50)

                    def move(s: ClientSession, src: int = src, dst: int = dst,
                             amount: int = amount) -> None:
                        accounts.update_one({"_id": src}, {"$inc": {"balance": -amount}},
                                            session=s)
                        accounts.update_one({"_id": dst}, {"$inc": {"balance": amount}},
                                            session=s)

                    with c.start_session() as s:
                        s.with_transaction(move)
        except BaseException as exc:
            errors.append(exc)

    async def async_workers() -> None:
        async with AsyncMongoClient(mongodb_uri) as c:
            accounts = c[db.name].accounts

            async def worker(seed: int) -> None:
                rng = random.Random(seed)
                for _ in range(transfers_per_worker):
                    src, dst = rng.sample(range(ACCOUNTS), 2)
                    amount = rng.randint(1, 50)

                    async def move(s: AsyncClientSession, src: int = src, dst: int = dst,
                                   amount: int = amount) -> None:
                        await accounts.update_one({"_id": src},
                                                  {"$inc": {"balance": -amount}}, session=s)
                        await accounts.update_one({"_id": dst},
                                                  {"$inc": {"balance": amount}}, session=s)

                    async with c.start_session() as s:
                        await s.with_transaction(move)

            await asyncio.gather(*(worker(100 + i) for i in range(4)))

    threads = [threading.Thread(target=thread_worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    asyncio.run(async_workers())
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert _total(db) == ACCOUNTS * START_BALANCE
    # Every transfer moved money somewhere: balances changed.
    assert any(d["balance"] != START_BALANCE for d in db.accounts.find())


def test_concurrent_plain_inc_loses_nothing(mongodb_uri: str, db: Database) -> None:
    db.counters.insert_one({"_id": "c", "n": 0})
    per_thread = 50

    def bump() -> None:
        with MongoClient(mongodb_uri) as c:
            for _ in range(per_thread):
                c[db.name].counters.update_one({"_id": "c"}, {"$inc": {"n": 1}})

    threads = [threading.Thread(target=bump) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    doc = db.counters.find_one()
    assert doc is not None and doc["n"] == 6 * per_thread


async def test_async_inc_while_transactions_hold_the_document(
        aclient: AsyncMongoClient, mongodb_uri: str, db_name: str) -> None:
    counters = aclient[db_name].counters
    await counters.insert_one({"_id": "c", "n": 0})

    async def in_transactions() -> None:
        for _ in range(10):
            async with aclient.start_session() as s:
                async def inc(session: AsyncClientSession) -> None:
                    await counters.update_one({"_id": "c"}, {"$inc": {"n": 1}},
                                              session=session)
                    await asyncio.sleep(0.005)
                await s.with_transaction(inc)

    async def plain() -> None:
        for _ in range(20):
            await counters.update_one({"_id": "c"}, {"$inc": {"n": 1}})

    await asyncio.gather(in_transactions(), in_transactions(), plain(), plain())
    doc = await counters.find_one()
    assert doc is not None and doc["n"] == 2 * 10 + 2 * 20
