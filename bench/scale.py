"""Queries as the collection grows: does an indexed query cost what an ``_id`` lookup costs,
and stay flat from 1,000 to 100,000 documents?

One workload per query (a unique-index lookup, an index equality returning ~50 documents,
the newest 10 by an indexed field, a count of an indexed range of 100, an update by a
unique index, and the ``_id`` lookup itself), each run at every size on a collection with
the indexes and on the same documents without them. Targets: at the largest size, within
3x of the ``_id`` lookup there, and less than 1.5x of its own cost at the smallest size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pymongo import DESCENDING, MongoClient
from pymongo.collection import Collection

from bench.config import Config
from bench.harness import Contender, Workload, timed
from bench.targets import Target

SECTION = "scale"
OPS = 20  # queries per run (the same for every contender, so times compare)
GROUP_SIZE = 50
Query = Callable[[Collection[dict[str, Any]], int, int], Any]


def sizes(config: Config) -> tuple[int, ...]:
    return (100, 1_000) if config.documents < 100 else (1_000, 10_000, 100_000)


def _label(n: int, indexed: bool = True) -> str:
    return f"{n:,} docs" + ("" if indexed else ", no index")


def _key(i: int, n: int) -> int:
    return (i * 7919) % n


def _by_id(coll: Collection[dict[str, Any]], i: int, n: int) -> Any:
    return coll.find_one({"_id": _key(i, n)})


def _unique(coll: Collection[dict[str, Any]], i: int, n: int) -> Any:
    return coll.find_one({"email": f"user{_key(i, n)}@example.com"})


def _equality(coll: Collection[dict[str, Any]], i: int, n: int) -> Any:
    return list(coll.find({"group": _key(i, n) % max(n // GROUP_SIZE, 1)}))


def _newest(coll: Collection[dict[str, Any]], i: int, n: int) -> Any:
    return list(coll.find({}).sort("ts", DESCENDING).limit(10))


def _count_range(coll: Collection[dict[str, Any]], i: int, n: int) -> Any:
    start = _key(i, max(n - 100, 1))
    return coll.count_documents({"value": {"$gte": start, "$lt": start + 100}})


def _update(coll: Collection[dict[str, Any]], i: int, n: int) -> Any:
    return coll.update_one({"email": f"user{_key(i, n)}@example.com"},
                           {"$inc": {"counter": 1}})


QUERIES: dict[str, Query] = {
    "_id lookup": _by_id,
    "unique-index lookup": _unique,
    f"index equality (~{GROUP_SIZE} docs)": _equality,
    "newest 10 by an indexed field": _newest,
    "count of an indexed range of 100": _count_range,
    "update by a unique index": _update,
}


def _fill(client: MongoClient[dict[str, Any]], n: int) -> dict[bool, Collection[dict[str, Any]]]:
    db = client[f"bench_scale_{n}"]
    client.drop_database(db.name)
    groups = max(n // GROUP_SIZE, 1)
    docs = [{"_id": i, "email": f"user{i}@example.com", "group": i % groups, "ts": i,
             "value": i, "counter": 0, "name": f"document {i}"} for i in range(n)]
    for name in ("indexed", "plain"):
        for start in range(0, n, 10_000):
            db[name].insert_many(docs[start:start + 10_000], ordered=False)
    db.indexed.create_index("email", unique=True)
    db.indexed.create_index("group")
    db.indexed.create_index([("ts", DESCENDING)])
    db.indexed.create_index("value")
    return {True: db.indexed, False: db.plain}


def _work(query: Query, coll: Collection[dict[str, Any]], n: int) -> Callable[[], None]:
    def work() -> None:
        for i in range(OPS):
            query(coll, i, n)

    return work


@contextmanager
def workloads(config: Config, uri: str) -> Iterator[list[Workload]]:
    ns = sizes(config)
    largest, smallest = ns[-1], ns[0]
    with MongoClient(uri) as client:
        colls = {n: _fill(client, n) for n in ns}
        reference = f"_id lookup, {_label(largest)}"
        found = []
        for title, query in QUERIES.items():
            contenders = [Contender(_label(n), timed(_work(query, colls[n][True], n)))
                          for n in ns]
            if query is not _by_id:
                contenders += [Contender(_label(n, indexed=False),
                                         timed(_work(query, colls[n][False], n))) for n in ns]
            contenders.append(Contender(reference, timed(_work(_by_id, colls[largest][True],
                                                               largest))))
            targets = [Target(_label(largest), "within", 1.5, _label(smallest))]
            if query is not _by_id:
                targets.append(Target(_label(largest), "within", 3.0, reference))
            found.append(Workload(SECTION, f"{title} x{OPS}", OPS, _label(smallest),
                                  contenders, targets))
        try:
            yield found
        finally:
            for n in ns:
                client.drop_database(f"bench_scale_{n}")
