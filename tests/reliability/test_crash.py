"""Crash test: transfers against a durable mongolet, ``kill -9`` at a random moment, restart.

Worker threads run bank transfers, each one transaction: debit one account, credit another,
insert a ledger entry with a unique transfer id. Another worker inserts audit events outside
transactions. Every transfer or event whose commit was acknowledged is remembered. The server
(``python -m mongolet --dbpath DIR``, small checkpoints so that kills also land on checkpoints)
is killed with SIGKILL at a seeded random moment, restarted on the same directory, and then:

- the total balance is exact and, for every account, start + credits - debits == balance
  (a transfer is there whole or not at all);
- every acknowledged transfer is in the ledger exactly once, every acknowledged event is
  there; the ledger holds no transfer that was never attempted;
- a transaction left open at the kill never appears;
- a transfer whose commit was in flight at the kill (its outcome unknown to the client) has
  its commit retried, as a driver or ``uow.run`` does, once the server is back on the same
  port: answered ok, the transfer is in the ledger once; answered NoSuchTransaction, it is
  not there (the server keeps each session's committed transaction across the restart).

Then the next round runs on the restarted server. ``MONGOLET_CRASH_SEED`` picks another seed.
"""

from __future__ import annotations

import os
import random
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.client_session import ClientSession
from pymongo.errors import OperationFailure, PyMongoError

from tests.reliability.nodes import Node, only_mongolet

pytestmark = only_mongolet

ACCOUNTS = 8
START_BALANCE = 1_000
TRANSFER_WORKERS = 3
ROUNDS = 4
SEED = int(os.environ.get("MONGOLET_CRASH_SEED", "20240501"))


@dataclass
class Books:
    """What the clients know: attempted and acknowledged transfers and events."""

    attempted: set[str] = field(default_factory=set)
    acknowledged: set[str] = field(default_factory=set)
    events_acknowledged: set[int] = field(default_factory=set)
    # Commits in flight at a kill (outcome unknown): retried after the restart.
    in_doubt: list[tuple[str, ClientSession]] = field(default_factory=list)
    resolved_committed: set[str] = field(default_factory=set)
    resolved_absent: set[str] = field(default_factory=set)
    conflicts_retried: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def transfer_worker(client: MongoClient, worker: int, round_no: int, seed: int,
                    books: Books, dying: threading.Event) -> None:
    rng = random.Random(seed)
    bank = client.bank
    n = 0
    while not dying.is_set():
        n += 1
        tid = f"r{round_no}-w{worker}-{n}"
        source, target = rng.sample(range(ACCOUNTS), 2)
        amount = rng.randint(1, 50)
        with books.lock:
            books.attempted.add(tid)
        while True:
            session = client.start_session()
            try:
                session.start_transaction()
                bank.accounts.update_one({"_id": source}, {"$inc": {"balance": -amount}},
                                         session=session)
                bank.accounts.update_one({"_id": target}, {"$inc": {"balance": amount}},
                                         session=session)
                bank.ledger.insert_one({"tid": tid, "source": source, "target": target,
                                        "amount": amount}, session=session)
                try:
                    session.commit_transaction()
                except PyMongoError as error:
                    if dying.is_set() and error.has_error_label("UnknownTransactionCommitResult"):
                        with books.lock:  # sent, outcome unknown: retried after the restart
                            books.in_doubt.append((tid, session))
                        session = None
                        return
                    raise
                with books.lock:  # the commit was acknowledged
                    books.acknowledged.add(tid)
                break
            except PyMongoError as error:
                if dying.is_set():
                    return  # in flight at the kill, before its commit: absent, checked later
                if error.has_error_label("TransientTransactionError"):
                    with books.lock:
                        books.conflicts_retried += 1
                    continue  # a write conflict with another worker: run it again
                raise
            finally:
                if session is not None:
                    session.end_session()


def event_worker(client: MongoClient, round_no: int, books: Books,
                 dying: threading.Event) -> None:
    """Acknowledged writes outside transactions (one document each)."""
    n = 0
    while not dying.is_set():
        n += 1
        event_id = round_no * 1_000_000 + n
        try:
            client.bank.events.insert_one({"_id": event_id, "round": round_no})
        except PyMongoError:
            if dying.is_set():
                return
            raise
        with books.lock:
            books.events_acknowledged.add(event_id)


def guarded(errors: list[BaseException], job: Callable[..., None],
            job_args: tuple[Any, ...]) -> None:
    """Run a worker; its failure (other than the kill's) fails the test."""
    try:
        job(*job_args)
    except BaseException as exc:
        errors.append(exc)


def resolve_in_doubt(books: Books, budget: float = 20.0) -> None:
    """Retry each commit whose outcome the kill hid, as ``uow.run`` does on
    UnknownTransactionCommitResult, until the restarted server answers it."""
    deadline = time.monotonic() + budget
    for tid, session in books.in_doubt:
        while True:
            try:
                session.commit_transaction()
                books.resolved_committed.add(tid)
                break
            except OperationFailure as error:
                if error.code == 251:  # the commit never reached the journal
                    books.resolved_absent.add(tid)
                    break
                if not error.has_error_label("UnknownTransactionCommitResult"):
                    raise
            except PyMongoError as error:
                if not error.has_error_label("UnknownTransactionCommitResult"):
                    raise
            assert time.monotonic() < deadline, f"the commit of {tid} never got an answer"
            time.sleep(0.05)
        session.end_session()
    books.in_doubt.clear()


def check(client: MongoClient, books: Books, open_ids: list[str]) -> dict[str, int]:
    bank = client.bank
    balances = {doc["_id"]: doc["balance"] for doc in bank.accounts.find()}
    assert set(balances) == set(range(ACCOUNTS))
    assert sum(balances.values()) == ACCOUNTS * START_BALANCE, "money appeared or vanished"
    ledger = list(bank.ledger.find({}, {"_id": 0}))
    expected = dict.fromkeys(range(ACCOUNTS), START_BALANCE)
    for entry in ledger:
        expected[entry["source"]] -= entry["amount"]
        expected[entry["target"]] += entry["amount"]
    assert balances == expected, "a transfer is there in part"
    tids = [entry["tid"] for entry in ledger]
    assert len(tids) == len(set(tids)), "a transfer is in the ledger twice"
    lost = books.acknowledged - set(tids)
    assert not lost, f"acknowledged transfers lost: {sorted(lost)[:10]}"
    assert set(tids) <= books.attempted, "the ledger holds transfers never attempted"
    retried_lost = books.resolved_committed - set(tids)
    assert not retried_lost, f"commits retried after a restart and ok, lost: {retried_lost}"
    refused_there = books.resolved_absent & set(tids)
    assert not refused_there, \
        f"commits retried after a restart were refused, yet applied: {refused_there}"
    events = {doc["_id"] for doc in bank.events.find({}, {"_id": 1})}
    assert books.events_acknowledged <= events, "acknowledged events lost"
    assert bank.limbo.count_documents({"_id": {"$in": open_ids}}) == 0, \
        "an uncommitted transaction appeared"
    assert bank.vault.find_one() == {"_id": "vault", "gold": 0}, \
        "an uncommitted transaction appeared"
    return {"ledger": len(tids), "in_doubt_applied": len(set(tids) - books.acknowledged),
            "in_doubt_retried": len(books.resolved_committed | books.resolved_absent),
            "retried_committed": len(books.resolved_committed)}


@pytest.mark.slow
def test_kill_9_loses_no_acknowledged_transfer(tmp_path: Path,
                                               figures: Callable[..., None]) -> None:
    rng = random.Random(SEED)
    dbpath = tmp_path / "data"
    books = Books()
    open_ids: list[str] = []
    args = ("--checkpoint-bytes", "131072")
    node = Node(dbpath, *args)
    try:
        client = node.client(serverSelectionTimeoutMS=500)
        client.bank.accounts.insert_many(
            [{"_id": i, "balance": START_BALANCE} for i in range(ACCOUNTS)])
        client.bank.ledger.create_index("tid", unique=True)
        client.bank.vault.insert_one({"_id": "vault", "gold": 0})
        kills = 0
        started = time.monotonic()
        for round_no in range(ROUNDS):
            dying = threading.Event()
            jobs: list[tuple[Callable[..., None], tuple[Any, ...]]] = [
                (transfer_worker, (client, w, round_no, rng.randrange(2**32), books, dying))
                for w in range(TRANSFER_WORKERS)]
            jobs.append((event_worker, (client, round_no, books, dying)))
            errors: list[BaseException] = []
            threads = [threading.Thread(target=guarded, args=(errors, *job)) for job in jobs]
            for thread in threads:
                thread.start()
            # A transaction that is open (written, never committed) when the server dies.
            session = client.start_session()
            session.start_transaction()
            open_id = f"open-{round_no}"
            client.bank.limbo.insert_one({"_id": open_id}, session=session)
            client.bank.vault.update_one({"_id": "vault"}, {"$inc": {"gold": 1_000_000}},
                                         session=session)
            open_ids.append(open_id)

            time.sleep(rng.uniform(0.3, 1.5))
            dying.set()
            os.kill(node.pid, signal.SIGKILL)
            node.process.wait(timeout=10)
            kills += 1
            for thread in threads:
                thread.join(timeout=20)
                assert not thread.is_alive(), "a worker hung after the kill"
            assert not errors, errors
            # Back on the same port: the sessions of the in-doubt commits retry them.
            port = re.search(r":(\d+)/", node.uri).group(1)  # type: ignore[union-attr]
            restarted = Node(dbpath, *args, "--port", port)
            resolve_in_doubt(books)
            node.kill()  # already dead: closes its clients

            node = restarted
            client = node.client(serverSelectionTimeoutMS=500)
            state = check(client, books, open_ids)
        # A clean stop at the end (checkpoint), and the books still balance.
        node.stop()
        node = Node(dbpath)
        client = node.client()
        state = check(client, books, open_ids)
        elapsed = time.monotonic() - started
    finally:
        if node.process.poll() is None:
            node.kill()
    acknowledged = len(books.acknowledged)
    assert acknowledged > 50, "too few transfers to mean anything"
    print(f"\ncrash test (seed {SEED}): {kills} kills survived, {acknowledged} transfers "
          f"acknowledged ({state['in_doubt_applied']} more in flight at a kill and applied "
          f"whole; {state['in_doubt_retried']} commits in doubt retried after a restart, "
          f"{state['retried_committed']} of them ok and applied once), "
          f"{len(books.events_acknowledged)} single writes acknowledged, "
          f"{books.conflicts_retried} write conflicts retried, 0 lost, {elapsed:.1f} s")
    figures(kills=kills, transfers_acknowledged=acknowledged,
            in_flight_applied=state["in_doubt_applied"],
            in_doubt_commits_retried=state["in_doubt_retried"],
            single_writes_acknowledged=len(books.events_acknowledged), lost=0)
