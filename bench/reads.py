"""Reads at scale: N stored documents read through the engine and through a unit of work.

Contenders on one collection of N small documents (N = ``Config.reads``, 50,000 by
default): ``engine.find`` (the reference: a list of models, no unit of work), a unit's
tracked ``find`` (every model in its identity map), an untracked ``stream`` (batches of
1,000, nothing kept) and a projection of two fields into a smaller pydantic model. Each row
also shows ``peak_kib``: the peak of Python allocations (``tracemalloc``) while the
contender reads, measured in one extra untimed pass (tracing slows everything down).

The second workload streams N/5 and 2N documents (10,000 and 100,000) untracked, from
collections of their own: its peak memory must stay flat (bounded by the batch size) while
its time grows with N.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel
from pymongo import MongoClient

import odm
from bench.config import Config
from bench.harness import Contender, Run, Sample, Stopwatch, Workload
from bench.targets import Target
from uow import UnitOfWork

SECTION = "reads"
DATABASE = "bench_reads"
REFERENCE = "engine.find"
TRACKED = "uow find (tracked)"
STREAM = "uow stream (untracked)"
PROJECTION = "uow find into= (projection)"
FEW, MANY = "stream N/5", "stream 2N"
MEMORY_SECTION = "reads, memory as N grows"
BATCH = 1000


def item_model(collection: str) -> type[odm.Model]:
    """A model of the small shape read here, on ``collection``."""
    return type(f"ReadItem_{collection}", (odm.Model,), {
        "__annotations__": {"name": str, "value": int, "tags": list[str]},
        "__module__": __name__,
        "model_config": {"collection": collection},
    })


class ItemRow(BaseModel):
    """The list view's projection: two of the three fields."""

    name: str
    value: int


def peak_kib(work: Callable[[], Any]) -> float:
    """The peak of Python allocations while ``work`` runs, above what was allocated before."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        work()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return round((peak - before) / 1024, 1)


def measured(work: Callable[[], Any]) -> Run:
    """A run timing ``work``; its samples carry the peak memory of one untimed traced pass."""
    peak: list[float] = []

    def run() -> Sample:
        if not peak:
            peak.append(peak_kib(work))
        with Stopwatch() as watch:
            work()
        return watch.sample(peak_kib=peak[0])

    return run


def fill(client: MongoClient[dict[str, Any]], model: type[odm.Model], n: int) -> None:
    """N small documents in ``model``'s collection (raw inserts: the setup is not measured)."""
    collection = client[DATABASE][+model]
    collection.drop()
    for start in range(0, n, 10_000):
        collection.insert_many([
            {"name": f"item {i}", "value": i, "tags": ["a", "b"]}
            for i in range(start, min(n, start + 10_000))
        ])


def _unit(engine: odm.SyncEngine, model: type[odm.Model]) -> UnitOfWork:
    return UnitOfWork(engine, repositories={"items": model})


def _engine_find(engine: odm.SyncEngine, model: type[odm.Model]) -> Callable[[], Any]:
    return lambda: engine.find(model).to_list()


def _tracked_find(engine: odm.SyncEngine, model: type[odm.Model]) -> Callable[[], Any]:
    def work() -> int:
        with _unit(engine, model) as uow:
            return len(uow.items.find())

    return work


def _stream(engine: odm.SyncEngine, model: type[odm.Model]) -> Callable[[], Any]:
    def work() -> int:
        count = 0
        with _unit(engine, model) as uow:
            for _ in uow.items.stream(batch_size=BATCH, track=False):
                count += 1
        return count

    return work


def _projection(engine: odm.SyncEngine, model: type[odm.Model]) -> Callable[[], Any]:
    def work() -> int:
        with _unit(engine, model) as uow:
            return len(uow.items.find(into=ItemRow))

    return work


@contextmanager
def workloads(config: Config, uri: str) -> Iterator[list[Workload]]:
    n = config.reads
    small, large = max(1, n // 5), 2 * n
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    engine = odm.SyncEngine(client, database=DATABASE)
    try:
        items, few, many = (item_model(f"read_items_{size}") for size in (n, small, large))
        for model, size in ((items, n), (few, small), (many, large)):
            fill(client, model, size)
        contenders = [
            Contender(REFERENCE, measured(_engine_find(engine, items))),
            Contender(TRACKED, measured(_tracked_find(engine, items))),
            Contender(STREAM, measured(_stream(engine, items))),
            Contender(PROJECTION, measured(_projection(engine, items))),
        ]
        sizes = [
            Contender(FEW, measured(_stream(engine, few))),
            Contender(MANY, measured(_stream(engine, many))),
        ]
        yield [
            Workload(SECTION, f"read {n:,} documents", n, REFERENCE, contenders,
                     [Target(STREAM, "within", 1.1, REFERENCE)]),
            Workload(MEMORY_SECTION, f"untracked stream of {small:,} vs {large:,} documents",
                     large, FEW, sizes, [Target(MANY, "peak_within", 1.25, FEW)]),
        ]
    finally:
        client.drop_database(DATABASE)
        client.close()
