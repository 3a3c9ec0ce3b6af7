"""Unit of work: commit N changed models spread over K collections, in one transaction.

Contenders: a hand-written ``bulk_write`` per collection in a transaction (the reference:
K writes + the commit = K+1 round trips), our engine's ``save`` one by one in a transaction
(N+1), and our engine's ``save_all`` (one ``bulk_write`` per collection). The unit of work
itself joins through :mod:`bench.uow_commit` when that module exists. Round trips are
counted with PyMongo's command monitoring: every command the client sends.

Setup (untimed, every run): load the N models, change one field of each.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pymongo import MongoClient, UpdateOne
from pymongo.monitoring import CommandListener, CommandStartedEvent

import odm
from bench.config import Config
from bench.harness import Contender, Run, Sample, Stopwatch, Workload
from bench.targets import Target

SECTION = "unit of work"
DATABASE = "bench_uow"
REFERENCE = "bulk_write by hand"
UOW = "uow commit"


class RoundTrips(CommandListener):
    """Counts the commands a client sends (each is one request and its reply)."""

    def __init__(self) -> None:
        self.count = 0

    def started(self, event: CommandStartedEvent) -> None:
        self.count += 1

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


def item_models(k: int) -> list[type[odm.Model]]:
    """K model classes of one small shape, each with a collection of its own."""
    return [
        type(f"UowItem{i}", (odm.Model,), {
            "__annotations__": {"name": str, "value": int, "tags": list[str]},
            "__module__": __name__,
            "model_config": {"collection": f"uow_items_{i}"},
        })
        for i in range(k)
    ]


class Changes:
    """The N loaded-and-changed models (and their raw documents) a run commits."""

    def __init__(self, client: MongoClient[dict[str, Any]], models: list[type[odm.Model]],
                 n: int) -> None:
        self.engine = odm.SyncEngine(client, database=DATABASE)
        self.db = client[DATABASE]
        self.models = models
        per_collection = max(1, n // len(models))
        for model in models:
            self.db[+model].delete_many({})
            self.engine.save_all([model(name=f"item {j}", value=j, tags=["a", "b"])
                                  for j in range(per_collection)])
        self.instances: list[odm.Model] = []
        self.documents: dict[str, list[dict[str, Any]]] = {}

    def load_models(self) -> None:
        self.instances = [x for model in self.models for x in self.engine.find(model)]
        for instance in self.instances:
            instance.value += 1  # type: ignore[attr-defined]

    def load_documents(self) -> None:
        self.documents = {+m: list(self.db[+m].find()) for m in self.models}
        for docs in self.documents.values():
            for doc in docs:
                doc["value"] += 1


def _counted(trips: RoundTrips, setup: Callable[[], None], work: Callable[[], None]) -> Run:
    def run() -> Sample:
        setup()
        before = trips.count
        with Stopwatch() as watch:
            work()
        return watch.sample(round_trips=trips.count - before)

    return run


def _contenders(client: MongoClient[dict[str, Any]], trips: RoundTrips,
                changes: Changes) -> list[Contender]:
    engine = changes.engine

    def by_hand() -> None:
        with client.start_session() as session, session.start_transaction():
            for name, docs in changes.documents.items():
                changes.db[name].bulk_write(
                    [UpdateOne({"_id": d["_id"]}, {"$set": {"value": d["value"]}})
                     for d in docs], ordered=False, session=session)

    def one_by_one() -> None:
        with engine.transaction() as txn:
            for instance in changes.instances:
                engine.save(instance, session=txn)

    def save_all() -> None:
        with engine.transaction() as txn:
            engine.save_all(changes.instances, session=txn)

    contenders = [
        Contender(REFERENCE, _counted(trips, changes.load_documents, by_hand)),
        Contender("odm save one by one", _counted(trips, changes.load_models, one_by_one)),
        Contender("odm save_all", _counted(trips, changes.load_models, save_all)),
    ]
    commit = _uow_commit(client)
    if commit is not None:
        contenders.append(Contender(UOW, _counted(
            trips, changes.load_models, lambda: commit(changes.instances))))
    return contenders


def _uow_commit(client: MongoClient[dict[str, Any]]) -> Callable[[list[Any]], None] | None:
    """The unit of work's commit, from bench/uow_commit.py (written with the uow package):
    ``commit_function(client, database) -> Callable[[list[Model]], None]`` registers the
    changed models with a new unit of work and commits it."""
    try:
        module = importlib.import_module("bench.uow_commit")
    except ImportError:
        return None
    factory = getattr(module, "commit_function", None)
    return factory(client, DATABASE) if callable(factory) else None


@contextmanager
def workloads(config: Config, uri: str) -> Iterator[list[Workload]]:
    k, n = config.collections, config.changed
    trips = RoundTrips()
    client: MongoClient[dict[str, Any]] = MongoClient(uri, event_listeners=[trips])
    try:
        changes = Changes(client, item_models(k), n)
        contenders = _contenders(client, trips, changes)
        targets = [Target(REFERENCE, "round_trips", k + 1),
                   Target("odm save_all", "round_trips", k + 1),
                   Target("odm save_all", "within", 1.2, REFERENCE)]
        if any(c.name == UOW for c in contenders):
            targets += [Target(UOW, "round_trips", k + 1), Target(UOW, "within", 1.2, REFERENCE)]
        total = len(changes.models) * max(1, n // k)
        yield [Workload(SECTION, f"commit {total} changed across {k} collections", total,
                        REFERENCE, contenders, targets)]
    finally:
        client.drop_database(DATABASE)
        client.close()
