"""Unit of work: commit N changed models spread over K collections, in one transaction.

Run for K = 1, C and 2C collections (C = ``--collections``, 4 by default: 1, 4, 8) on a
mongolet presenting MongoDB 8.0 and one presenting 7.0 (``--uri``: that server only).
Contenders: PyMongo by hand at its best on each release (the reference: on 8.0 one
``MongoClient.bulk_write`` of every collection, the ``bulkWrite`` command, + the commit =
2 round trips; on 7.0 a ``bulk_write`` per collection, K+1), the per-collection
``bulk_write`` by hand on 8.0 too, our engine's ``save`` one by one in a transaction (N+1),
our engine's ``save_all`` and the unit of work (:mod:`bench.uow_commit`): 2 round trips on
8.0, K+1 on 7.0. Round trips are counted with PyMongo's command monitoring: every command the
client sends.

Setup (untimed, every run): load the N models, change one field of each.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pymongo import MongoClient, UpdateOne
from pymongo.monitoring import CommandListener, CommandStartedEvent

import mongolet
import odm
from bench.config import Config
from bench.harness import Contender, Run, Sample, Stopwatch, Workload
from bench.targets import Target

SECTION = "unit of work"
DATABASE = "bench_uow"
PER_COLLECTION = "bulk_write by hand"  # the reference on 7.0
ONE_COMMAND = "client bulk_write by hand"  # the reference on 8.0
UOW = "uow commit"
SAVE_ALL = "odm save_all"


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
    """K model classes of one small shape, each with a collection of its own (of this K:
    the workloads of several K share a database)."""
    return [
        type(f"UowItem{k}x{i}", (odm.Model,), {
            "__annotations__": {"name": str, "value": int, "tags": list[str]},
            "__module__": __name__,
            "model_config": {"collection": f"uow_items_{k}x{i}"},
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
                changes: Changes, at_least_8: bool) -> list[Contender]:
    engine = changes.engine

    def requests(namespace: bool) -> dict[str, list[UpdateOne]]:
        return {name: [UpdateOne({"_id": d["_id"]}, {"$set": {"value": d["value"]}},
                                 namespace=f"{DATABASE}.{name}" if namespace else None)
                       for d in docs] for name, docs in changes.documents.items()}

    def per_collection() -> None:
        with client.start_session() as session, session.start_transaction():
            for name, batch in requests(False).items():
                changes.db[name].bulk_write(batch, ordered=False, session=session)

    def one_command() -> None:
        with client.start_session() as session, session.start_transaction():
            client.bulk_write([r for batch in requests(True).values() for r in batch],
                              ordered=False, session=session)

    def one_by_one() -> None:
        with engine.transaction() as txn:
            for instance in changes.instances:
                engine.save(instance, session=txn)

    def save_all() -> None:
        with engine.transaction() as txn:
            engine.save_all(changes.instances, session=txn)

    contenders = [Contender(PER_COLLECTION,
                            _counted(trips, changes.load_documents, per_collection))]
    if at_least_8:
        contenders.append(Contender(ONE_COMMAND,
                                    _counted(trips, changes.load_documents, one_command)))
    contenders += [
        Contender("odm save one by one", _counted(trips, changes.load_models, one_by_one)),
        Contender(SAVE_ALL, _counted(trips, changes.load_models, save_all)),
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
def _servers(config: Config, uri: str) -> Iterator[list[tuple[str, str]]]:
    """``(release, uri)`` of each server to run on: ``uri`` (mongolet presenting 8.0) and a
    mongolet presenting 7.0; with ``--uri``, that server only."""
    if config.uri:
        yield [("", uri)]
        return
    with mongolet.serve(mode=config.server_mode, version="7.0") as older:
        yield [("8.0", uri), ("7.0", older.uri)]


def _workload(config: Config, client: MongoClient[dict[str, Any]], trips: RoundTrips,
              release: str, k: int) -> Workload:
    hello = client.admin.command("hello")
    at_least_8 = int(hello.get("maxWireVersion", 0)) >= 25
    release = release or ("8.0+" if at_least_8 else "before 8.0")
    changes = Changes(client, item_models(k), config.changed)
    contenders = _contenders(client, trips, changes, at_least_8)
    reference = ONE_COMMAND if at_least_8 else PER_COLLECTION
    trips_wanted = 2 if at_least_8 else k + 1
    targets = [Target(reference, "round_trips", trips_wanted),
               Target(SAVE_ALL, "round_trips", trips_wanted),
               Target(SAVE_ALL, "within", 1.2, reference)]
    if any(c.name == UOW for c in contenders):
        targets += [Target(UOW, "round_trips", trips_wanted),
                    Target(UOW, "within", 1.2, reference)]
    total = len(changes.models) * max(1, config.changed // k)
    return Workload(SECTION, f"commit {total} changed across {k} collections, MongoDB "
                             f"{release}", total, reference, contenders, targets)


@contextmanager
def workloads(config: Config, uri: str) -> Iterator[list[Workload]]:
    ks = sorted({1, config.collections, 2 * config.collections})
    trips = RoundTrips()
    with _servers(config, uri) as servers:
        clients: list[MongoClient[dict[str, Any]]] = []
        try:
            found: list[Workload] = []
            for release, server in servers:
                client: MongoClient[dict[str, Any]] = MongoClient(server, event_listeners=[trips])
                clients.append(client)
                found += [_workload(config, client, trips, release, k) for k in ks]
            yield found
        finally:
            for client in clients:
                client.drop_database(DATABASE)
                client.close()
