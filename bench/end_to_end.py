"""End to end on one server, same client settings for everyone (``MongoClient(uri)``).

Workloads on the flat user shape: find N by a filter, find one by id (repeated), update one
field of N loaded documents, insert N one by one, insert N in one call. Contenders: raw
PyMongo (the reference) and its async client, ours sync (SyncEngine) and async (AIOEngine on
``AsyncMongoClient``), ODMantic sync (SyncEngine) and async (AIOEngine on Motor, as its docs
use), and Beanie (``init_beanie`` on ``AsyncMongoClient``, as Beanie 2 needs).

Each contender works in a collection of its own. The read workloads run first on documents
seeded once (untimed); the insert workloads empty the collection before each run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import beanie
import motor.motor_asyncio
import odmantic
from bson import ObjectId
from pymongo import AsyncMongoClient, MongoClient

import odm
from bench import shapes
from bench.config import Config
from bench.harness import Contender, Run, Workload, timed, timed_async
from bench.models import BEANIE_DOCUMENTS, BeanieUser, OdmanticUser, OdmUser
from bench.targets import Target

SECTION = "end to end"
DATABASE = "bench_e2e"
REFERENCE = "pymongo"
MIN_AGE = 18  # every seeded user matches age >= 18: "find N by a filter" returns N


def _targets() -> list[Target]:
    return [
        Target("odm sync", "within", 1.25, REFERENCE),
        Target("odm async", "within", 1.25, "pymongo async"),
        Target("odm async", "faster", 1.0, "odmantic async"),
        Target("odm async", "faster", 1.0, "beanie"),
        Target("odm sync", "faster", 1.0, "odmantic sync"),
    ]


class SyncSubject(Protocol):
    collection: str

    def find_many(self) -> list[Any]: ...
    def find_by_ids(self, ids: list[ObjectId]) -> None: ...
    def load(self) -> list[Any]: ...
    def update_each(self, loaded: list[Any]) -> None: ...
    def insert_each(self, rows: list[dict[str, Any]]) -> None: ...
    def insert_all(self, rows: list[dict[str, Any]]) -> None: ...


class AsyncSubject(Protocol):
    collection: str

    async def find_many(self) -> list[Any]: ...
    async def find_by_ids(self, ids: list[ObjectId]) -> None: ...
    async def load(self) -> list[Any]: ...
    async def update_each(self, loaded: list[Any]) -> None: ...
    async def insert_each(self, rows: list[dict[str, Any]]) -> None: ...
    async def insert_all(self, rows: list[dict[str, Any]]) -> None: ...


# --- the contenders, each as its documentation shows ----------------------------------------


class PyMongoSync:
    collection = "pymongo_users"

    def __init__(self, client: MongoClient[dict[str, Any]]) -> None:
        self.coll = client[DATABASE][self.collection]

    def find_many(self) -> list[Any]:
        return list(self.coll.find({"age": {"$gte": MIN_AGE}}))

    def find_by_ids(self, ids: list[ObjectId]) -> None:
        for oid in ids:
            self.coll.find_one({"_id": oid})

    def load(self) -> list[Any]:
        return self.find_many()

    def update_each(self, loaded: list[Any]) -> None:
        for doc in loaded:
            self.coll.update_one({"_id": doc["_id"]}, {"$set": {"score": doc["score"] + 1}})

    def insert_each(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.coll.insert_one(dict(row))

    def insert_all(self, rows: list[dict[str, Any]]) -> None:
        self.coll.insert_many([dict(row) for row in rows])


class PyMongoAsync:
    collection = "pymongo_async_users"

    def __init__(self, client: AsyncMongoClient[dict[str, Any]]) -> None:
        self.coll = client[DATABASE][self.collection]

    async def find_many(self) -> list[Any]:
        return await self.coll.find({"age": {"$gte": MIN_AGE}}).to_list()

    async def find_by_ids(self, ids: list[ObjectId]) -> None:
        for oid in ids:
            await self.coll.find_one({"_id": oid})

    async def load(self) -> list[Any]:
        return await self.find_many()

    async def update_each(self, loaded: list[Any]) -> None:
        for doc in loaded:
            await self.coll.update_one({"_id": doc["_id"]},
                                       {"$set": {"score": doc["score"] + 1}})

    async def insert_each(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            await self.coll.insert_one(dict(row))

    async def insert_all(self, rows: list[dict[str, Any]]) -> None:
        await self.coll.insert_many([dict(row) for row in rows])


class OdmSync:
    collection = +OdmUser

    def __init__(self, client: MongoClient[dict[str, Any]]) -> None:
        self.engine = odm.SyncEngine(client, database=DATABASE)

    def find_many(self) -> list[Any]:
        return list(self.engine.find(OdmUser, OdmUser.age >= MIN_AGE))

    def find_by_ids(self, ids: list[ObjectId]) -> None:
        for oid in ids:
            self.engine.find_one(OdmUser, OdmUser.id == oid)

    def load(self) -> list[Any]:
        return self.find_many()

    def update_each(self, loaded: list[Any]) -> None:
        for user in loaded:
            user.score += 1
            self.engine.save(user)

    def insert_each(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.engine.save(OdmUser(**row))

    def insert_all(self, rows: list[dict[str, Any]]) -> None:
        self.engine.save_all([OdmUser(**row) for row in rows])


class OdmAsync:
    collection = +OdmUser

    def __init__(self, client: AsyncMongoClient[dict[str, Any]]) -> None:
        self.engine = odm.AIOEngine(client, database=DATABASE)

    async def find_many(self) -> list[Any]:
        return await self.engine.find(OdmUser, OdmUser.age >= MIN_AGE)

    async def find_by_ids(self, ids: list[ObjectId]) -> None:
        for oid in ids:
            await self.engine.find_one(OdmUser, OdmUser.id == oid)

    async def load(self) -> list[Any]:
        return await self.find_many()

    async def update_each(self, loaded: list[Any]) -> None:
        for user in loaded:
            user.score += 1
            await self.engine.save(user)

    async def insert_each(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            await self.engine.save(OdmUser(**row))

    async def insert_all(self, rows: list[dict[str, Any]]) -> None:
        await self.engine.save_all([OdmUser(**row) for row in rows])


class OdmanticSync:
    collection = +OdmanticUser

    def __init__(self, client: MongoClient[dict[str, Any]]) -> None:
        self.engine = odmantic.SyncEngine(client, database=DATABASE)

    def find_many(self) -> list[Any]:
        return list(self.engine.find(OdmanticUser, OdmanticUser.age >= MIN_AGE))

    def find_by_ids(self, ids: list[ObjectId]) -> None:
        for oid in ids:
            self.engine.find_one(OdmanticUser, OdmanticUser.id == oid)

    def load(self) -> list[Any]:
        return self.find_many()

    def update_each(self, loaded: list[Any]) -> None:
        for user in loaded:
            user.score += 1
            self.engine.save(user)

    def insert_each(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.engine.save(OdmanticUser(**row))

    def insert_all(self, rows: list[dict[str, Any]]) -> None:
        self.engine.save_all([OdmanticUser(**row) for row in rows])


class OdmanticAsync:
    collection = +OdmanticUser

    def __init__(self, client: Any) -> None:
        self.engine = odmantic.AIOEngine(client, database=DATABASE)

    async def find_many(self) -> list[Any]:
        return await self.engine.find(OdmanticUser, OdmanticUser.age >= MIN_AGE)

    async def find_by_ids(self, ids: list[ObjectId]) -> None:
        for oid in ids:
            await self.engine.find_one(OdmanticUser, OdmanticUser.id == oid)

    async def load(self) -> list[Any]:
        return await self.find_many()

    async def update_each(self, loaded: list[Any]) -> None:
        for user in loaded:
            user.score += 1
            await self.engine.save(user)

    async def insert_each(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            await self.engine.save(OdmanticUser(**row))

    async def insert_all(self, rows: list[dict[str, Any]]) -> None:
        await self.engine.save_all([OdmanticUser(**row) for row in rows])


class Beanie:
    collection = "beanie_users"

    async def find_many(self) -> list[Any]:
        return await BeanieUser.find(BeanieUser.age >= MIN_AGE).to_list()

    async def find_by_ids(self, ids: list[ObjectId]) -> None:
        for oid in ids:
            await BeanieUser.get(oid)

    async def load(self) -> list[Any]:
        return await self.find_many()

    async def update_each(self, loaded: list[Any]) -> None:
        for user in loaded:
            await user.set({BeanieUser.score: user.score + 1})

    async def insert_each(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            await BeanieUser(**row).insert()

    async def insert_all(self, rows: list[dict[str, Any]]) -> None:
        await BeanieUser.insert_many([BeanieUser(**row) for row in rows])


# --- the workloads, the same for every contender ---------------------------------------------


class _Seeds:
    """Untimed data handling through a plain client of its own."""

    def __init__(self, client: MongoClient[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
        self.db = client[DATABASE]
        self.rows = rows

    def seed(self, collection: str) -> list[ObjectId]:
        self.empty(collection)
        docs = [{"_id": ObjectId(), **row} for row in self.rows]
        self.db[collection].insert_many(docs)
        return [d["_id"] for d in docs]

    def empty(self, collection: str) -> None:
        self.db[collection].delete_many({})


def _sync_runs(subject: SyncSubject, seeds: _Seeds, ids: list[ObjectId]) -> dict[str, Run]:
    rows = seeds.rows
    loaded: list[Any] = []

    def load() -> None:
        loaded[:] = subject.load()

    return {
        "find": timed(subject.find_many),
        "get": timed(lambda: subject.find_by_ids(ids)),
        "update": timed(lambda: subject.update_each(loaded), setup=load),
        "insert each": timed(lambda: subject.insert_each(rows),
                             setup=lambda: seeds.empty(subject.collection)),
        "insert all": timed(lambda: subject.insert_all(rows),
                            setup=lambda: seeds.empty(subject.collection)),
    }


def _async_runs(loop: asyncio.AbstractEventLoop, subject: AsyncSubject, seeds: _Seeds,
                ids: list[ObjectId]) -> dict[str, Run]:
    rows: list[dict[str, Any]] = seeds.rows
    loaded: list[Any] = []

    async def load() -> None:
        loaded[:] = await subject.load()

    def emptying() -> Callable[[], Awaitable[None]]:
        async def empty() -> None:
            seeds.empty(subject.collection)  # untimed, so a blocking call is harmless
        return empty

    return {
        "find": timed_async(loop, subject.find_many),
        "get": timed_async(loop, lambda: subject.find_by_ids(ids)),
        "update": timed_async(loop, lambda: subject.update_each(loaded), setup=load),
        "insert each": timed_async(loop, lambda: subject.insert_each(rows), setup=emptying()),
        "insert all": timed_async(loop, lambda: subject.insert_all(rows), setup=emptying()),
    }


@contextmanager
def workloads(config: Config, uri: str) -> Iterator[list[Workload]]:
    n = config.documents
    loop = asyncio.new_event_loop()
    sync_client: MongoClient[dict[str, Any]] = MongoClient(uri)
    seed_client: MongoClient[dict[str, Any]] = MongoClient(uri)

    async def async_clients() -> tuple[AsyncMongoClient[dict[str, Any]], Any]:
        # Created on the loop that will use them (Motor and AsyncMongoClient bind to it).
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
        await beanie.init_beanie(database=client[DATABASE], document_models=BEANIE_DOCUMENTS)
        return client, motor.motor_asyncio.AsyncIOMotorClient(uri)

    async_client, motor_client = loop.run_until_complete(async_clients())
    try:
        seeds = _Seeds(seed_client, [shapes.flat_fields(i) for i in range(n)])
        subjects: dict[str, SyncSubject | AsyncSubject] = {
            REFERENCE: PyMongoSync(sync_client),
            "pymongo async": PyMongoAsync(async_client),
            "odm sync": OdmSync(sync_client),
            "odm async": OdmAsync(async_client),
            "odmantic sync": OdmanticSync(sync_client),
            "odmantic async": OdmanticAsync(motor_client),
            "beanie": Beanie(),
        }
        runs: dict[str, dict[str, Run]] = {}
        for name, subject in subjects.items():
            ids = seeds.seed(subject.collection)[: config.lookups]
            if asyncio.iscoroutinefunction(subject.find_many):
                runs[name] = _async_runs(loop, subject, seeds, ids)  # type: ignore[arg-type]
            else:
                runs[name] = _sync_runs(subject, seeds, ids)  # type: ignore[arg-type]
        titles = {
            "find": (f"find {n} by a filter", n),
            "get": (f"find one by id x{config.lookups}", config.lookups),
            "update": (f"update one field of {n}", n),
            "insert each": (f"insert {n} one by one", n),
            "insert all": (f"insert {n} in one call", n),
        }
        yield [
            Workload(SECTION, title, ops, REFERENCE,
                     [Contender(name, runs[name][key]) for name in subjects], _targets())
            for key, (title, ops) in titles.items()
        ]
    finally:
        seed_client.drop_database(DATABASE)
        motor_client.close()
        loop.run_until_complete(async_client.close())
        loop.close()
        sync_client.close()
        seed_client.close()
