"""mongolet itself: point reads, inserts and small transactions per second, against the
no-work floor of :mod:`bench.floor_server` (the same transport answering canned replies).

Both servers run as child processes (their own core and GIL, as a real server would) and
are driven by the same synchronous PyMongo client code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pymongo import MongoClient

import mongolet
from bench.config import Config
from bench.floor_server import serve_floor
from bench.harness import Contender, Run, Workload, timed
from bench.targets import Target

SECTION = "mongolet"
REFERENCE = "no-work floor"
SERVER = "mongolet"
DATABASE = "bench_server"
COLLECTION = "points"


def _point_reads(client: MongoClient[dict[str, Any]], ops: int) -> Callable[[], None]:
    coll = client[DATABASE][COLLECTION]

    def work() -> None:
        for i in range(ops):
            coll.find_one({"_id": i % ops})

    return work


def _inserts(client: MongoClient[dict[str, Any]], ops: int) -> Callable[[], None]:
    coll = client[DATABASE]["inserted"]

    def work() -> None:
        for i in range(ops):
            coll.insert_one({"n": i, "name": "inserted"})

    return work


def _transactions(client: MongoClient[dict[str, Any]], ops: int) -> Callable[[], None]:
    """Each: insert one, update one, commit (three round trips)."""
    coll = client[DATABASE][COLLECTION]

    def work() -> None:
        for i in range(ops):
            with client.start_session() as session, session.start_transaction():
                coll.insert_one({"n": i}, session=session)
                coll.update_one({"_id": i % ops}, {"$inc": {"n": 1}}, session=session)

    return work


def _runs(client: MongoClient[dict[str, Any]], ops: int) -> dict[str, Run]:
    def empty_inserted() -> None:
        client[DATABASE]["inserted"].delete_many({})

    return {
        "reads": timed(_point_reads(client, ops)),
        "inserts": timed(_inserts(client, ops), setup=empty_inserted),
        "transactions": timed(_transactions(client, ops)),
    }


@contextmanager
def workloads(config: Config, uri: str) -> Iterator[list[Workload]]:
    ops = config.server_ops
    with mongolet.serve(mode="process") as real, serve_floor() as floor_uri:
        clients: dict[str, MongoClient[dict[str, Any]]] = {
            REFERENCE: MongoClient(floor_uri), SERVER: MongoClient(real.uri)}
        try:
            clients[SERVER][DATABASE][COLLECTION].insert_many(
                [{"_id": i, "name": f"point {i}", "n": i} for i in range(ops)])
            runs = {name: _runs(client, ops) for name, client in clients.items()}
            titles = {"reads": f"point reads x{ops}", "inserts": f"inserts x{ops}",
                      "transactions": f"transactions (insert+update+commit) x{ops}"}
            yield [
                Workload(SECTION, title, ops, REFERENCE,
                         [Contender(name, runs[name][key]) for name in clients],
                         [Target(SERVER, "within", 3.0, REFERENCE)] if key == "reads" else [])
                for key, title in titles.items()
            ]
        finally:
            for client in clients.values():
                client.close()
