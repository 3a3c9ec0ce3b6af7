"""The two processes of the outbox crash test, run as ``python -m`` and killed with -9.

``writer URI DB LOG SEED``: transfers in units with an outbox (``uow.run``), each recording
a ``TransferCompleted`` event on its source account, appending ``acked <transfer id>`` to
LOG once ``run`` returned. ``relay URI DB LOG sync|async``: a relay whose publisher appends
``<event id> <transfer id> <account> <sequence> <index>`` to LOG, one ``write`` per line
(O_APPEND: a line is whole or absent after a kill).
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import threading
import time

import pydantic
from pymongo import AsyncMongoClient, MongoClient

import odm
from tests.uow.models import Account, BankUnit, Transfer
from uow.outbox import AsyncRelay, OutboxEvent, Relay, default_registry

ACCOUNTS = 6
WRITERS = 2


class TransferCompleted(pydantic.BaseModel):
    transfer_id: str
    source: odm.ObjectId
    target: odm.ObjectId
    amount: int


default_registry.register(TransferCompleted, name="crash.transfer_completed")


def _appender(path: str) -> int:
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def transfer(uow: BankUnit, source: odm.ObjectId, target: odm.ObjectId, amount: int) -> str:
    a, b = uow.accounts.get(source), uow.accounts.get(target)
    a.balance -= amount
    b.balance += amount
    entry = Transfer(source=a.id, target=b.id, amount=amount)
    uow.transfers.add(entry)
    a.record_event(TransferCompleted(
        transfer_id=str(entry.id), source=a.id, target=b.id, amount=amount
    ))
    return str(entry.id)


def writer(uri: str, database: str, log: str, seed: int) -> None:
    client: MongoClient = MongoClient(uri)
    engine = odm.SyncEngine(client, database=database)
    ids = [account.id for account in engine.find(Account, sort=Account.owner)]
    fd = _appender(log)

    def work(worker: int) -> None:
        rng = random.Random(seed * 10 + worker)
        unit = BankUnit(engine, outbox="outbox")
        while True:
            source, target = rng.sample(ids, 2)
            done = unit.run(transfer, source, target, rng.randint(1, 5))
            os.write(fd, f"acked {done}\n".encode())

    threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _publisher(log: str) -> object:
    fd = _appender(log)

    def publish(event: OutboxEvent) -> None:
        completed = event.event
        assert isinstance(completed, TransferCompleted)
        line = (f"{event.id} {completed.transfer_id} {event.aggregate_id} "
                f"{event.sequence} {event.index}\n")
        os.write(fd, line.encode())
        time.sleep(0.01)  # the broker's acknowledgement: a kill may land before the mark

    return publish


def relay(uri: str, database: str, log: str, flavour: str) -> None:
    settings = {"lease_seconds": 1.0, "poll_interval": 0.1, "backoff": 0.05}
    if flavour == "sync":
        client: MongoClient = MongoClient(uri)
        Relay(odm.SyncEngine(client, database=database), _publisher(log), **settings).run()  # type: ignore[arg-type]
    else:
        async def main() -> None:
            aclient: AsyncMongoClient = AsyncMongoClient(uri)
            engine = odm.AIOEngine(aclient, database=database)
            await AsyncRelay(engine, _publisher(log), **settings).run()  # type: ignore[arg-type]

        asyncio.run(main())


if __name__ == "__main__":
    role, uri, database, log, extra = sys.argv[1:6]
    print("ready", flush=True)
    if role == "writer":
        writer(uri, database, log, int(extra))
    else:
        relay(uri, database, log, extra)
