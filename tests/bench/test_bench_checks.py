"""The bench's own checks: a contender whose figures come from less work is caught.

The end-to-end workloads count what each run did (documents a find returned, lookups that
found their document); ``bench.end_to_end.check`` names any contender short of N. Here
real contenders, broken the way the bench once was, run against the test server.
"""

from __future__ import annotations

from typing import Any

from pymongo import MongoClient

from bench import end_to_end
from bench.config import Config
from bench.end_to_end import MIN_AGE, PyMongoSync, Seeds, sync_runs
from bench.harness import Contender, Workload, rotated, run_workload
from bench.shapes import flat_fields


class _Subject(PyMongoSync):
    def __init__(self, client: MongoClient[dict[str, Any]], db: str, collection: str) -> None:
        super().__init__(client)
        self.collection = collection
        self.coll = client[db][collection]


class _ShortFind(_Subject):
    def find_many(self) -> list[Any]:
        return list(self.coll.find({"age": {"$gte": MIN_AGE}}).limit(3))


def test_check_names_contenders_whose_finds_or_lookups_fall_short(
        client: MongoClient[dict[str, Any]], db_name: str) -> None:
    config = Config(documents=8, lookups=5)
    seeds = Seeds(client, [flat_fields(i) for i in range(config.documents)])
    seeds.db = client[db_name]
    good = _Subject(client, db_name, "good")
    short = _ShortFind(client, db_name, "short")
    # The bug this guards against: twins sharing a collection, the second one's seeding
    # deleting the ids the first one then looks up.
    stale = _Subject(client, db_name, "shared")
    twin = _Subject(client, db_name, "shared")
    runs = {}
    for name, subject in [("pymongo", good), ("short find", short), ("stale ids", stale),
                          ("twin", twin)]:
        ids = seeds.seed(subject.collection)[: config.lookups]
        runs[name] = sync_runs(subject, seeds, ids)
    titles = end_to_end.titles(config)
    rows = []
    for key in ("find", "get"):
        title, ops = titles[key]
        workload = Workload(end_to_end.SECTION, title, ops, "pymongo",
                            [Contender(name, run[key]) for name, run in runs.items()])
        rows += run_workload(workload, repeats=1, warmups=0)
    problems = end_to_end.check(rows, config)
    assert problems == [
        f"find 8 by a filter / short find: documents=3, expected {config.documents}",
        f"find one by id x5 / stale ids: found=0, expected {config.lookups}",
    ]
    client.drop_database(db_name)


def test_rounds_rotate_the_order_of_contenders() -> None:
    contenders = [Contender(name, lambda: None) for name in "abc"]  # type: ignore[arg-type, misc]
    firsts = [rotated(contenders, round_)[0].name for round_ in range(4)]
    assert firsts == ["a", "b", "c", "a"]
    assert sorted(c.name for c in rotated(contenders, 2)) == ["a", "b", "c"]
