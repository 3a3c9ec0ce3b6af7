"""Outbox: what storing a unit's events costs its commit, and how soon a relay delivers them.

1. *commit one transfer*: a unit loads two accounts (one ``find``), moves money, adds a
   ledger entry and commits; the source records one event. The reference is that unit
   without an outbox (on mongolet presenting MongoDB 8.0: one ``bulkWrite`` for the accounts
   and the ledger, ``commitTransaction``: 3 round trips with the find); with an outbox its
   event goes in the same ``bulkWrite`` (3 as well; on 7.0 it would add one ``insert``).
   ``round_trips`` is per commit.
2. *commit to delivery*: the delay from a unit's commit returning to the publisher getting
   its event, through a relay running in a thread: following the outbox with a change stream
   (the reference) or polling every 0.1 s. ``seconds`` is the mean delay of the run's
   transfers (10; quick: 1), ``max_ms`` the longest. Each transfer commits right after the
   previous delivery, so a polling relay has just gone to sleep: its delay is close to the
   whole interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from pymongo import MongoClient

import odm
from bench.config import Config
from bench.harness import Contender, Run, Sample, Stopwatch, Workload
from bench.targets import Target
from bench.unit_of_work import RoundTrips
from repositories import Repository
from uow import DomainEvents, UnitOfWork
from uow.outbox import OutboxEvent, Relay

SECTION = "outbox"
DELIVERY_SECTION = "outbox, delivery"
DATABASE = "bench_outbox"
PLAIN, OUTBOXED = "uow commit", "uow commit + outbox"
STREAM, POLL = "relay, change stream", "relay, polling 0.1 s"


@dataclass(frozen=True)
class Moved:
    number: int
    amount: int


class BenchAccount(odm.Model, DomainEvents):
    owner: str
    balance: int
    version: int = 0
    model_config = {"collection": "accounts", "version_field": "version"}


class BenchEntry(odm.Model):
    source: odm.ObjectId
    target: odm.ObjectId
    amount: int
    model_config = {"collection": "ledger"}


class BenchUnit(UnitOfWork):
    accounts: Repository[BenchAccount]
    ledger: Repository[BenchEntry]


def transfer(uow: BenchUnit, source: Any, target: Any, number: int) -> None:
    a, b = uow.accounts.get_many([source, target])
    a.balance -= 1
    b.balance += 1
    uow.ledger.add(BenchEntry(source=a.id, target=b.id, amount=1))
    a.record_event(Moved(number, 1))


class Bank:
    """Two accounts and a counter of transfers (numbers identify their events)."""

    def __init__(self, engine: odm.SyncEngine) -> None:
        self.engine = engine
        self.accounts = [BenchAccount(owner=f"owner {i}", balance=10**9) for i in range(2)]
        engine.save_all(self.accounts)
        self.numbers = iter(range(10**9))
        self.commit(None)  # the engine's one-off checks, out of the measured runs

    def commit(self, outbox: str | None) -> int:
        number = next(self.numbers)
        with BenchUnit(self.engine, outbox=outbox) as unit:
            transfer(unit, self.accounts[0].id, self.accounts[1].id, number)
        return number


def _commits(bank: Bank, trips: RoundTrips, count: int, outbox: str | None) -> Run:
    def run() -> Sample:
        before = trips.count
        with Stopwatch() as watch:
            for _ in range(count):
                bank.commit(outbox)
        return watch.sample(round_trips=(trips.count - before) / count)

    return run


class Deliveries:
    """When the publisher got each transfer's event (by its number)."""

    def __init__(self) -> None:
        self._arrived: dict[int, float] = {}
        self._condition = threading.Condition()

    def publish(self, event: OutboxEvent) -> None:
        with self._condition:
            self._arrived[int(event.payload["number"])] = time.perf_counter()
            self._condition.notify_all()

    def wait(self, number: int, timeout: float = 10.0) -> float:
        with self._condition:
            if not self._condition.wait_for(lambda: number in self._arrived, timeout):
                raise RuntimeError(f"event {number} was not delivered within {timeout} s")
            return self._arrived[number]


def _delays(bank: Bank, deliveries: Deliveries, count: int, outbox: str,
            start_relay: Callable[[], None]) -> Run:
    def run() -> Sample:
        start_relay()  # on first use: not running during the commit workload
        delays = []
        for _ in range(count):
            number = bank.commit(outbox)
            committed = time.perf_counter()
            delays.append(deliveries.wait(number) - committed)
        return Sample(sum(delays) / count, {"max_ms": round(max(delays) * 1000, 1)})

    return run


@contextmanager
def _relay(engine: odm.SyncEngine, outbox: str, publish: Callable[[OutboxEvent], None],
           **settings: Any) -> Iterator[Relay]:
    relay = Relay(engine, publish, outbox=outbox, **settings)
    thread = threading.Thread(target=relay.run, name=f"relay {outbox}", daemon=True)
    thread.start()
    try:
        yield relay
    finally:
        relay.stop()
        thread.join(timeout=10)


@contextmanager
def workloads(config: Config, uri: str) -> Iterator[list[Workload]]:
    count = max(1, config.changed // 4)  # commits per run: 50 (quick: 2)
    delivered = max(1, count // 5)  # deliveries per run: 10 (quick: 1)
    trips = RoundTrips()
    client: MongoClient[dict[str, Any]] = MongoClient(uri, event_listeners=[trips])
    client.drop_database(DATABASE)
    engine = odm.SyncEngine(client, database=DATABASE)
    # The relays' commands are not the commits' round trips: a client of their own.
    relay_client: MongoClient[dict[str, Any]] = MongoClient(uri)
    relay_engine = odm.SyncEngine(relay_client, database=DATABASE)
    try:
        with ExitStack() as relays:
            bank = Bank(engine)

            def starter(outbox: str, deliveries: Deliveries, **settings: Any) -> Callable[[], None]:
                started: list[Relay] = []

                def start() -> None:
                    if not started:
                        started.append(relays.enter_context(
                            _relay(relay_engine, outbox, deliveries.publish, **settings)))

                return start

            commit = Workload(
                SECTION, "commit one transfer (one event)", count, PLAIN,
                [Contender(PLAIN, _commits(bank, trips, count, None)),
                 Contender(OUTBOXED, _commits(bank, trips, count, "outbox_commits"))],
                [Target(PLAIN, "round_trips", 3), Target(OUTBOXED, "round_trips", 3)],
            )
            streamed, polled = Deliveries(), Deliveries()
            stream = starter("outbox_stream", streamed, follow="stream", poll_interval=1.0)
            poll = starter("outbox_poll", polled, follow="poll", poll_interval=0.1)
            delivery = Workload(
                DELIVERY_SECTION, "commit to delivery (mean delay per event)", 1, STREAM,
                [Contender(STREAM, _delays(bank, streamed, delivered, "outbox_stream", stream)),
                 Contender(POLL, _delays(bank, polled, delivered, "outbox_poll", poll))],
            )
            yield [commit, delivery]
    finally:
        client.drop_database(DATABASE)
        client.close()
        relay_client.close()
