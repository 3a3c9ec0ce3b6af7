"""The pytest plugin's costs (:mod:`pytest_odm_uow`): a fresh database per test, and starting
the session's server.

``tests`` simulated tests per run, each an insert and a read: on one shared database (the
reference), on one shared database emptied after each test (``delete_many``), and on a
fresh database per test, dropped after it (the plugin's ``mongodb_db``). Then starting and
stopping a server and pinging it once, as a session does: mongolet in a thread (the
plugin's default, the reference), in a child process, and durable in a data directory.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pymongo import MongoClient

from bench.config import Config
from bench.harness import Contender, Workload, timed
from pytest_odm_uow.servers import start

DATABASES = "pytest plugin: a database per test"
SERVERS = "pytest plugin: a server per session"
SHARED, CLEARED, FRESH = "shared database", "shared, delete_many after", "fresh database, dropped"
THREAD, PROCESS, DURABLE = "mongolet thread", "mongolet process", "mongolet durable (dbpath)"


def _tests(client: MongoClient[dict[str, Any]], tests: int, how: str) -> Callable[[], None]:
    def test_body(name: str) -> None:
        things = client[name].things
        things.insert_one({"n": 1})
        things.find_one({"n": 1})

    def work() -> None:
        for _ in range(tests):
            if how == FRESH:
                name = f"t_{uuid.uuid4().hex[:16]}"
                test_body(name)
                client.drop_database(name)
            else:
                test_body("bench_testing")
                if how == CLEARED:
                    client.bench_testing.things.delete_many({})

    return work


def _start(mode: str, durable: bool, starts: int) -> Callable[[], None]:
    def work() -> None:
        for _ in range(starts):
            with tempfile.TemporaryDirectory() as folder, \
                    start(dbpath=folder if durable else None, mode=mode) as server:
                client: MongoClient[dict[str, Any]] = MongoClient(server.uri)
                with client:
                    client.admin.command("ping")

    return work


@contextmanager
def workloads(config: Config, uri: str) -> Iterator[list[Workload]]:
    tests = max(10, config.server_ops // 5)
    starts = 1 if config.repeats <= 2 else 3
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    try:
        yield [
            Workload(DATABASES, f"tests (insert + find) x{tests}", tests, SHARED,
                     [Contender(how, timed(_tests(client, tests, how)))
                      for how in (SHARED, CLEARED, FRESH)]),
            Workload(SERVERS, f"start, ping, stop a server x{starts}", starts, THREAD, [
                Contender(THREAD, timed(_start("thread", False, starts))),
                Contender(PROCESS, timed(_start("process", False, starts))),
                Contender(DURABLE, timed(_start("thread", True, starts))),
            ]),
        ]
    finally:
        client.drop_database("bench_testing")
        client.close()
