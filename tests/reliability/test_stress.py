"""Stress: many workers, sync and async, moving money at random for a fixed time.

8 threads (``UnitOfWork``, one shared ``MongoClient``) and 8 tasks (``AsyncUnitOfWork``, one
shared ``AsyncMongoClient``) transfer random amounts between 6 accounts through ``uow.run``
for a few seconds, bounded in count too, while a chaos thread keeps re-arming ``failCommand``
with a small activation probability (transient write errors, commits applied whose reply is
lost, closed connections on reads and commits). Write conflicts between the workers come on
their own. A transfer larger than the balance is a domain refusal (``InsufficientFunds``):
nothing written.

Afterwards: the total is exact, the ledger explains every balance, every success a worker
was told of is in the ledger exactly once, and the ledger holds nothing else.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from typing import Any

import pytest
from pymongo import AsyncMongoClient, MongoClient

from odm import AIOEngine, SyncEngine
from tests.reliability.conftest import (
    START_BALANCE,
    Books,
    FailPoint,
    FaultRecorder,
    make_transfer,
)
from tests.uow.models import Account, AsyncBankUnit, BankUnit, InsufficientFunds

ACCOUNTS = 6
SYNC_WORKERS = 8
ASYNC_WORKERS = 8
DURATION = 6.0  # seconds of transfers
MAX_PER_WORKER = 150
CHAOS_PERIOD = 0.25  # seconds between re-armings of the fail point

TRANSIENT = {"errorCode": 112, "errorLabels": ["TransientTransactionError"]}
CHAOS = [  # (commands, data, activation probability)
    (["update"], TRANSIENT, 0.05),
    (["commitTransaction"], TRANSIENT, 0.05),
    (["commitTransaction"], {"writeConcernError": {"code": 91}}, 0.05),
    (["commitTransaction"], {"errorCode": 91}, 0.03),
    (["commitTransaction"], {"closeConnection": True}, 0.02),
    (["find"], {"closeConnection": True}, 0.01),
    (["update"], {"closeConnection": True}, 0.01),
    (None, None, 0.0),  # a quiet spell
]


class Outcomes:
    """What the workers were told (one lock: threads and the loop's tasks add to it)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.succeeded: list[Any] = []  # transfer ids run() returned
        self.refused = 0
        self.runs = 0
        self.errors: list[BaseException] = []

    def add(self, entry: Any = None, refused: bool = False,
            error: BaseException | None = None) -> None:
        with self.lock:
            self.runs += 1
            if entry is not None:
                self.succeeded.append(entry.id)
            self.refused += refused
            if error is not None:
                self.errors.append(error)


def _amounts(seed: int, ids: list[Any]) -> Any:
    rng = random.Random(seed)
    while True:
        source, target = rng.sample(ids, 2)
        yield source, target, rng.randint(1, 40)


@pytest.mark.slow
async def test_many_workers_keep_the_books_exact_under_faults(
    fault_uri: str,
    db_name: str,
    app_name: str,
    fail_point: FailPoint,
    admin_client: MongoClient,
    figures: Any,
) -> None:
    recorder = FaultRecorder()
    options: dict[str, Any] = {"appName": app_name, "event_listeners": [recorder],
                               "maxPoolSize": SYNC_WORKERS + ASYNC_WORKERS}
    client: MongoClient = MongoClient(fault_uri, **options)
    aclient: AsyncMongoClient = AsyncMongoClient(fault_uri, **options)
    engine, aengine = SyncEngine(client, database=db_name), AIOEngine(aclient, database=db_name)
    accounts = [Account(owner=f"owner{i}", balance=START_BALANCE) for i in range(ACCOUNTS)]
    engine.save_all(accounts)
    ids = [a.id for a in accounts]
    books = Books(admin_client, db_name)
    start = books.balances()
    outcomes = Outcomes()
    attempts: list[int] = []  # one item per call of the unit's function (list.append: atomic)
    deadline = time.monotonic() + DURATION
    stop_chaos = threading.Event()
    armed: Counter[str] = Counter()

    def chaos() -> None:
        rng = random.Random(7)
        menu: list[Any] = []
        while not stop_chaos.wait(CHAOS_PERIOD):
            if not menu:  # every kind of fault in each round, in a random order
                menu = rng.sample(CHAOS, len(CHAOS))
            commands, data, probability = menu.pop()
            if commands is None:
                fail_point.off()
                continue
            fail_point.fail({"activationProbability": probability}, failCommands=commands,
                            **dict(data))
            armed[f"{commands[0]}:{next(iter(data))}"] += 1

    def sync_worker(seed: int) -> None:
        unit = BankUnit(engine)
        transfer = make_transfer("sync", attempts)
        plan = _amounts(seed, ids)
        for _ in range(MAX_PER_WORKER):
            if time.monotonic() >= deadline:
                break
            try:
                outcomes.add(unit.run(transfer, *next(plan)))
            except InsufficientFunds:
                outcomes.add(refused=True)
            except Exception as error:
                outcomes.add(error=error)

    async def async_worker(seed: int) -> None:
        unit = AsyncBankUnit(aengine)
        transfer = make_transfer("async", attempts)
        plan = _amounts(seed, ids)
        for _ in range(MAX_PER_WORKER):
            if time.monotonic() >= deadline:
                break
            try:
                outcomes.add(await unit.run(transfer, *next(plan)))
            except InsufficientFunds:
                outcomes.add(refused=True)
            except Exception as error:
                outcomes.add(error=error)

    chaos_thread = threading.Thread(target=chaos, name="chaos")
    threads = [threading.Thread(target=sync_worker, args=(seed,), name=f"sync-{seed}")
               for seed in range(SYNC_WORKERS)]
    started = time.monotonic()
    try:
        chaos_thread.start()
        for thread in threads:
            thread.start()
        await asyncio.gather(*(async_worker(100 + seed) for seed in range(ASYNC_WORKERS)))
        for thread in threads:
            await asyncio.to_thread(thread.join, 60)
    finally:
        stop_chaos.set()
        chaos_thread.join()
        fail_point.off()
        elapsed = time.monotonic() - started
        client.close()
        await aclient.close()
        fail_point.kill_sessions(recorder.lsids)

    assert not any(thread.is_alive() for thread in threads), "a worker is stuck"
    assert outcomes.errors == [], f"{len(outcomes.errors)} transfers failed: {outcomes.errors[:3]}"
    balances = books.check(start)  # total exact, ledger matches every balance
    assert all(balance >= 0 for balance in balances.values())
    ledger = Counter(entry["_id"] for entry in books.ledger())
    reported = Counter(outcomes.succeeded)
    assert all(count == 1 for count in reported.values())  # ids are unique per success
    assert ledger == reported, "the ledger and the reported successes differ"
    assert outcomes.runs == outcomes.refused + len(outcomes.succeeded)
    retries = len(attempts) - outcomes.runs
    faults = len(recorder.faults)
    kinds = Counter(f"{name} {kind}" for name, kind in recorder.faults)
    assert len(outcomes.succeeded) >= 50, "too few transfers went through to mean anything"
    assert faults > 0 and retries > 0, "the chaos did not bite"
    figures(transfers=len(outcomes.succeeded), refused=outcomes.refused, retries=retries,
            faults=faults, conflicts=recorder.conflicts, workers=SYNC_WORKERS + ASYNC_WORKERS,
            seconds=round(elapsed, 1), armings=sum(armed.values()), losses=0,
            fault_kinds="; ".join(f"{k}: {v}" for k, v in sorted(kinds.items())))
