"""Change streams: the delay from a commit to its event reaching a ``watch()`` loop.

Both contenders insert one document at a time against a mongolet in a child process. The
reference waits for the insert's acknowledgement only; the other also waits until a
``watch()`` loop in another thread (with its own client, blocked in an awaiting getMore)
has received that insert's event. The difference per operation is the delivery delay: the
server waking the waiting getMore, the reply, and the watcher thread handing it over; the
``extra`` column shows it measured directly (from the acknowledgement to the event, median
and 99th percentile, in microseconds).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pymongo import MongoClient

import mongolet
from bench.config import Config
from bench.harness import Contender, Workload, timed

SECTION = "change streams"
REFERENCE = "insert acknowledged"
WATCHED = "insert seen by watch()"
DATABASE = "bench_changes"


class Watcher:
    """A thread iterating a change stream; ``wait_for(n)`` blocks until event ``n`` came."""

    def __init__(self, uri: str) -> None:
        self.client: MongoClient[dict[str, Any]] = MongoClient(uri)
        self.stream = self.client[DATABASE].events.watch(max_await_time_ms=1000)
        self.seen = -1
        self.arrived = threading.Condition()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        try:
            for event in self.stream:
                with self.arrived:
                    self.seen = event["fullDocument"]["n"]
                    self.arrived.notify_all()
        except Exception:  # the stream closed: the bench is over
            pass

    def wait_for(self, n: int) -> None:
        with self.arrived:
            if not self.arrived.wait_for(lambda: self.seen >= n, timeout=10):
                raise RuntimeError(f"the change event of insert {n} never arrived")

    def close(self) -> None:
        self.stream.close()
        self.client.close()
        self.thread.join(timeout=5)


def _inserts(client: MongoClient[dict[str, Any]], ops: int, counter: list[int],
             watcher: Watcher | None) -> Callable[[], list[float]]:
    """The run's work; it returns, per insert, the seconds from its acknowledgement to its
    event reaching the watcher (none without one)."""
    coll = client[DATABASE].events

    def work() -> list[float]:
        delays = []
        for _ in range(ops):
            n = counter[0] = counter[0] + 1
            coll.insert_one({"n": n})
            if watcher is not None:
                acknowledged = time.perf_counter()
                watcher.wait_for(n)
                delays.append(time.perf_counter() - acknowledged)
        return delays

    return work


def _delay(delays: list[float]) -> dict[str, float]:
    """The ``extra`` column: median and 99th percentile delay after the acknowledgement,
    in microseconds."""
    if not delays:
        return {}
    ordered = sorted(delays)
    return {"delay_us_p50": round(statistics.median(ordered) * 1e6),
            "delay_us_p99": round(ordered[int(0.99 * (len(ordered) - 1))] * 1e6)}


@contextmanager
def workloads(config: Config, uri: str) -> Iterator[list[Workload]]:
    ops = config.server_ops
    with mongolet.serve(mode="process") as server:
        client: MongoClient[dict[str, Any]] = MongoClient(server.uri)
        watcher = Watcher(server.uri)
        counter = [0]  # one numbering for both contenders: the watcher sees every insert
        try:
            contenders = [Contender(REFERENCE, timed(_inserts(client, ops, counter, None))),
                          Contender(WATCHED, timed(_inserts(client, ops, counter, watcher),
                                                   count=_delay))]
            yield [Workload(SECTION, f"commit to event x{ops}", ops, REFERENCE, contenders)]
        finally:
            watcher.close()
            client.close()
