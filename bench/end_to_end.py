"""End to end on one server, same client settings for everyone (``MongoClient(uri)``).

Workloads on the flat user shape: find N by a filter, find one by id (repeated), update one
field of N loaded documents, insert N one by one, insert N in one call. Contenders: raw
PyMongo (the reference) and its async client, ours sync (SyncEngine) and async (AIOEngine on
``AsyncMongoClient``), ODMantic sync (SyncEngine) and async (AIOEngine on Motor, as its docs
use), and Beanie (``init_beanie`` on ``AsyncMongoClient``, as Beanie 2 needs).

Each contender works in a collection of its own (the sync and async twins of a library
too), and looks up ids seeded in it. The read workloads run first on documents seeded once
(untimed); the insert workloads empty the collection before each run. Each run counts what
its find returned and how many lookups found their document: :func:`check` flags a
contender whose figures come from less work. The client's CPU time is reported beside the
wall clock: the server's share of the wall clock would dilute the ratios.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
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
from bench.harness import Contender, Row, Run, Workload, timed, timed_async
from bench.models import (
    BEANIE_DOCUMENTS,
    BeanieUser,
    OdmanticAsyncUser,
    OdmanticUser,
    OdmAsyncUser,
    OdmUser,
)
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
    def find_by_ids(self, ids: list[ObjectId]) -> int: ...
    def load(self) -> list[Any]: ...
    def update_each(self, loaded: list[Any]) -> None: ...
    def insert_each(self, rows: list[dict[str, Any]]) -> None: ...
    def insert_all(self, rows: list[dict[str, Any]]) -> None: ...


class AsyncSubject(Protocol):
    collection: str

    async def find_many(self) -> list[Any]: ...
    async def find_by_ids(self, ids: list[ObjectId]) -> int: ...
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

    def find_by_ids(self, ids: list[ObjectId]) -> int:
        return sum(self.coll.find_one({"_id": oid}) is not None for oid in ids)

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

    async def find_by_ids(self, ids: list[ObjectId]) -> int:
        return sum([await self.coll.find_one({"_id": oid}) is not None for oid in ids])

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
    def __init__(self, client: MongoClient[dict[str, Any]], model: type[Any] = OdmUser) -> None:
        self.engine = odm.SyncEngine(client, database=DATABASE)
        self.model = model
        self.collection = +model

    def find_many(self) -> list[Any]:
        return list(self.engine.find(self.model, self.model.age >= MIN_AGE))

    def find_by_ids(self, ids: list[ObjectId]) -> int:
        model = self.model
        return sum(self.engine.find_one(model, model.id == oid) is not None for oid in ids)

    def load(self) -> list[Any]:
        return self.find_many()

    def update_each(self, loaded: list[Any]) -> None:
        for user in loaded:
            user.score += 1
            self.engine.save(user)

    def insert_each(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.engine.save(self.model(**row))

    def insert_all(self, rows: list[dict[str, Any]]) -> None:
        self.engine.save_all([self.model(**row) for row in rows])


class OdmAsync:
    def __init__(self, client: AsyncMongoClient[dict[str, Any]],
                 model: type[Any] = OdmAsyncUser) -> None:
        self.engine = odm.AIOEngine(client, database=DATABASE)
        self.model = model
        self.collection = +model

    async def find_many(self) -> list[Any]:
        return await self.engine.find(self.model, self.model.age >= MIN_AGE)

    async def find_by_ids(self, ids: list[ObjectId]) -> int:
        model = self.model
        return sum([await self.engine.find_one(model, model.id == oid) is not None
                    for oid in ids])

    async def load(self) -> list[Any]:
        return await self.find_many()

    async def update_each(self, loaded: list[Any]) -> None:
        for user in loaded:
            user.score += 1
            await self.engine.save(user)

    async def insert_each(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            await self.engine.save(self.model(**row))

    async def insert_all(self, rows: list[dict[str, Any]]) -> None:
        await self.engine.save_all([self.model(**row) for row in rows])


class OdmanticSync:
    def __init__(self, client: MongoClient[dict[str, Any]],
                 model: type[Any] = OdmanticUser) -> None:
        self.engine = odmantic.SyncEngine(client, database=DATABASE)
        self.model = model
        self.collection = +model

    def find_many(self) -> list[Any]:
        return list(self.engine.find(self.model, self.model.age >= MIN_AGE))

    def find_by_ids(self, ids: list[ObjectId]) -> int:
        model = self.model
        return sum(self.engine.find_one(model, model.id == oid) is not None for oid in ids)

    def load(self) -> list[Any]:
        return self.find_many()

    def update_each(self, loaded: list[Any]) -> None:
        for user in loaded:
            user.score += 1
            self.engine.save(user)

    def insert_each(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.engine.save(self.model(**row))

    def insert_all(self, rows: list[dict[str, Any]]) -> None:
        self.engine.save_all([self.model(**row) for row in rows])


class OdmanticAsync:
    def __init__(self, client: Any, model: type[Any] = OdmanticAsyncUser) -> None:
        self.engine = odmantic.AIOEngine(client, database=DATABASE)
        self.model = model
        self.collection = +model

    async def find_many(self) -> list[Any]:
        return await self.engine.find(self.model, self.model.age >= MIN_AGE)

    async def find_by_ids(self, ids: list[ObjectId]) -> int:
        model = self.model
        return sum([await self.engine.find_one(model, model.id == oid) is not None
                    for oid in ids])

    async def load(self) -> list[Any]:
        return await self.find_many()

    async def update_each(self, loaded: list[Any]) -> None:
        for user in loaded:
            user.score += 1
            await self.engine.save(user)

    async def insert_each(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            await self.engine.save(self.model(**row))

    async def insert_all(self, rows: list[dict[str, Any]]) -> None:
        await self.engine.save_all([self.model(**row) for row in rows])


class Beanie:
    collection = "beanie_users"

    async def find_many(self) -> list[Any]:
        return await BeanieUser.find(BeanieUser.age >= MIN_AGE).to_list()

    async def find_by_ids(self, ids: list[ObjectId]) -> int:
        return sum([await BeanieUser.get(oid) is not None for oid in ids])

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


class Seeds:
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


def _found(found: int) -> dict[str, float]:
    return {"found": found}


def _documents(documents: list[Any]) -> dict[str, float]:
    return {"documents": len(documents)}


def sync_runs(subject: SyncSubject, seeds: Seeds, ids: list[ObjectId]) -> dict[str, Run]:
    """The runs of a synchronous contender; ``ids`` exist in its collection."""
    rows = seeds.rows
    loaded: list[Any] = []

    def load() -> None:
        loaded[:] = subject.load()

    return {
        "find": timed(subject.find_many, count=_documents),
        "get": timed(lambda: subject.find_by_ids(ids), count=_found),
        "update": timed(lambda: subject.update_each(loaded), setup=load),
        "insert each": timed(lambda: subject.insert_each(rows),
                             setup=lambda: seeds.empty(subject.collection)),
        "insert all": timed(lambda: subject.insert_all(rows),
                            setup=lambda: seeds.empty(subject.collection)),
    }


def async_runs(loop: asyncio.AbstractEventLoop, subject: AsyncSubject, seeds: Seeds,
               ids: list[ObjectId]) -> dict[str, Run]:
    """The runs of an asynchronous contender, on ``loop``."""
    rows: list[dict[str, Any]] = seeds.rows
    loaded: list[Any] = []

    async def load() -> None:
        loaded[:] = await subject.load()

    def emptying() -> Callable[[], Awaitable[None]]:
        async def empty() -> None:
            seeds.empty(subject.collection)  # untimed, so a blocking call is harmless
        return empty

    return {
        "find": timed_async(loop, subject.find_many, count=_documents),
        "get": timed_async(loop, lambda: subject.find_by_ids(ids), count=_found),
        "update": timed_async(loop, lambda: subject.update_each(loaded), setup=load),
        "insert each": timed_async(loop, lambda: subject.insert_each(rows), setup=emptying()),
        "insert all": timed_async(loop, lambda: subject.insert_all(rows), setup=emptying()),
    }


def lookups(config: Config) -> int:
    """Lookups per run: as many ids as were seeded, at most."""
    return min(config.lookups, config.documents)


def titles(config: Config) -> dict[str, tuple[str, int]]:
    """Workload key -> (title, operations per run)."""
    n = config.documents
    return {
        "find": (f"find {n} by a filter", n),
        "get": (f"find one by id x{lookups(config)}", lookups(config)),
        "update": (f"update one field of {n}", n),
        "insert each": (f"insert {n} one by one", n),
        "insert all": (f"insert {n} in one call", n),
    }


def check(rows: Sequence[Row], config: Config) -> list[str]:
    """What makes a contender's figures incomparable: a find that returned fewer than N
    documents, or lookups that missed ids (decoding nothing looks fast)."""
    names = titles(config)
    wanted = {names["find"][0]: ("documents", config.documents),
              names["get"][0]: ("found", lookups(config))}
    problems = []
    for row in rows:
        if row.section != SECTION or row.workload not in wanted:
            continue
        counter, expected = wanted[row.workload]
        got = row.counters.get(counter)
        if got != expected:
            problems.append(f"{row.workload} / {row.contender}: {counter}={got}, "
                            f"expected {expected}")
    return problems


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
        seeds = Seeds(seed_client, [shapes.flat_fields(i) for i in range(n)])
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
            ids = seeds.seed(subject.collection)[: lookups(config)]
            if asyncio.iscoroutinefunction(subject.find_many):
                runs[name] = async_runs(loop, subject, seeds, ids)  # type: ignore[arg-type]
            else:
                runs[name] = sync_runs(subject, seeds, ids)  # type: ignore[arg-type]
        collections = [subject.collection for subject in subjects.values()]
        if len(set(collections)) != len(collections):
            raise RuntimeError(f"contenders share a collection: {collections}")
        yield [
            Workload(SECTION, title, ops, REFERENCE,
                     [Contender(name, runs[name][key]) for name in subjects], _targets(),
                     client_cpu=True)
            for key, (title, ops) in titles(config).items()
        ]
    finally:
        seed_client.drop_database(DATABASE)
        motor_client.close()
        loop.run_until_complete(async_client.close())
        loop.close()
        sync_client.close()
        seed_client.close()
