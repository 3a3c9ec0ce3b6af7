"""``python -m examples.bank``: concurrent money transfers in MongoDB transactions.

Starts an embedded mongolet (or uses ``--uri`` / ``MONGODB_URI``), opens five accounts and runs
a batch of transfers on a thread pool. Several threads move money between the same accounts
at once, so their transactions conflict and ``uow.run`` runs them again; transfers larger than
the balance are refused. Each unit stores its events in a transactional outbox, and a relay
(a thread) delivers the "transfer completed" ones as notifications. At the end it prints the
balances and checks the books: the total is unchanged, the ledger has one entry per applied
transfer, each balance is its opening balance plus what the domain events and the ledger say
moved, and one notification was delivered per applied transfer.

Exit status: 0 when every check holds, 1 when one fails, 2 when the server cannot be used.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from pymongo import MongoClient
from pymongo.errors import ConnectionFailure
from pymongo.uri_parser import parse_uri

import mongolet
import odm
from examples.bank import service
from examples.bank.domain import (
    MODELS,
    OUTBOX,
    Account,
    BankUnit,
    Deposited,
    InsufficientFunds,
    Transfer,
    Withdrawn,
)
from examples.bank.notifications import Notifications
from uow import TransactionsNotSupported
from uow.outbox import Relay

OPENING = [
    ("alice", "Alice Martin", 1000),
    ("bob", "Bob Chen", 600),
    ("carol", "Carol Diaz", 400),
    ("dave", "Dave Okafor", 300),
    ("erin", "Erin Novak", 200),
]

Job = tuple[str, str, int]
Outcome = Transfer | InsufficientFunds


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m examples.bank",
        description="Concurrent transfers between bank accounts, in MongoDB transactions.",
    )
    parser.add_argument(
        "--uri",
        default=os.environ.get("MONGODB_URI"),
        help="a MongoDB replica set or mongos (default: $MONGODB_URI, else an embedded mongolet)",
    )
    parser.add_argument(
        "--database",
        default="bank_example",
        help="the database to use; its accounts, transfers and outbox collections are reset "
        "(default: %(default)s)",
    )
    parser.add_argument("--transfers", type=positive, default=200, help="default: %(default)s")
    parser.add_argument("--workers", type=positive, default=8, help="threads (default: 8)")
    parser.add_argument("--seed", type=int, default=7, help="of the random plan (default: 7)")
    return parser.parse_args(argv)


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def say(text: str = "") -> None:
    print(text, flush=True)  # flushed: progress shows up at once in piped logs too


def money(amount: int) -> str:
    return f"{amount:,}"


@contextlib.contextmanager
def server_uri(uri: str | None) -> Iterator[str]:
    """``uri``, or the URI of an embedded mongolet running for the duration of the block."""
    if uri:
        hosts = ", ".join(f"{host}:{port}" for host, port in parse_uri(uri)["nodelist"])
        say(f"Using MongoDB at {hosts}")  # not the whole URI: it may hold a password
        yield uri
        return
    with mongolet.serve() as server:
        say(f"Started mongolet, the embedded server, at {server.uri}")
        yield server.uri


def plan(seed: int, count: int, account_ids: list[str]) -> list[Job]:
    """``count`` random transfers: two distinct accounts and an amount from 10 to 250."""
    rng = random.Random(seed)
    jobs: list[Job] = []
    for _ in range(count):
        source, target = rng.sample(account_ids, 2)
        jobs.append((source, target, rng.randint(10, 250)))
    return jobs


class Books:
    """What the workers saw: how often a use case ran, and the money the events moved."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.attempts = 0
        self.paid_out: Counter[str] = Counter()
        self.paid_in: Counter[str] = Counter()

    def counted(self, use_case: Callable[..., Transfer]) -> Callable[..., Transfer]:
        """``use_case``, counting each run (``uow.run`` runs it again after a conflict)."""

        def attempt(uow: BankUnit, *args: Any) -> Transfer:
            with self._lock:
                self.attempts += 1
            return use_case(uow, *args)

        return attempt

    # Event handlers: the unit calls them after a commit, once per event; the events of an
    # attempt that was rolled back are dropped, so a retried transfer is counted once.
    def withdrawn(self, event: Withdrawn) -> None:
        with self._lock:
            self.paid_out[event.account] += event.amount

    def deposited(self, event: Deposited) -> None:
        with self._lock:
            self.paid_in[event.account] += event.amount


class Progress:
    """A line per tenth of the batch: plain lines, readable in a terminal and in CI logs."""

    def __init__(self, total: int, books: Books) -> None:
        self.total = total
        self.books = books
        self.step = max(1, total // 10)
        self.applied: list[Transfer] = []
        self.refused: list[InsufficientFunds] = []
        self.started = time.monotonic()

    @property
    def retries(self) -> int:
        return self.books.attempts - len(self.applied) - len(self.refused)

    def record(self, outcome: Outcome) -> None:
        if isinstance(outcome, Transfer):
            self.applied.append(outcome)
        else:
            self.refused.append(outcome)
        done = len(self.applied) + len(self.refused)
        if done % self.step == 0 or done == self.total:
            width = len(str(self.total))
            say(
                f"  {done:>{width}}/{self.total}  applied {len(self.applied):>{width}}"
                f"  refused {len(self.refused):>{width}}  retries {self.retries:>{width + 1}}"
                f"  {time.monotonic() - self.started:5.1f} s"
            )


def run_batch(engine: odm.SyncEngine, jobs: list[Job], workers: int, books: Books) -> Progress:
    """Every job on a thread pool, each in a unit of its own; the outcomes as they come."""
    handlers: dict[type, Callable[[Any], None]] = {
        Withdrawn: books.withdrawn,
        Deposited: books.deposited,
    }
    attempt = books.counted(service.transfer)

    def work(job: Job) -> Outcome:
        unit = BankUnit(engine, handlers=handlers, outbox=OUTBOX)  # a new unit per use case
        try:
            return unit.run(attempt, *job)
        except InsufficientFunds as refused:
            return refused

    progress = Progress(len(jobs), books)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in as_completed([pool.submit(work, job) for job in jobs]):
            progress.record(future.result())
    return progress


def check_books(
    engine: odm.SyncEngine,
    opened: dict[str, int],
    books: Books,
    progress: Progress,
    notified: int | None = None,
) -> bool:
    """Print the balances and the checks; True when every check holds."""
    unit = BankUnit(engine)
    final = unit.run(service.accounts)
    ledger = {a.id: unit.run(service.statement, a.id) for a in final}
    entries = engine.count(Transfer)

    say()
    say(f"{'account':<8} {'owner':<13} {'opened':>7} {'paid out':>9} {'paid in':>9} {'balance':>8}")
    for a in final:
        say(
            f"{a.id:<8} {a.owner:<13} {money(opened[a.id]):>7} {money(books.paid_out[a.id]):>9}"
            f" {money(books.paid_in[a.id]):>9} {money(a.balance):>8}"
        )
    before, after = sum(opened.values()), sum(a.balance for a in final)
    say(f"{'total':<22} {money(before):>7} {'':>9} {'':>9} {money(after):>8}")

    def from_events(a: Account) -> int:
        return opened[a.id] - books.paid_out[a.id] + books.paid_in[a.id]

    def from_ledger(a: Account) -> int:
        paid_in = sum(t.amount for t in ledger[a.id] if t.target == a.id)
        paid_out = sum(t.amount for t in ledger[a.id] if t.source == a.id)
        return opened[a.id] - paid_out + paid_in

    checks = [
        (before == after, f"total unchanged: {money(before)} before, {money(after)} after"),
        (
            entries == len(progress.applied),
            f"ledger: {entries} entries for {len(progress.applied)} applied transfers",
        ),
        (
            all(from_events(a) == a.balance for a in final),
            "each balance = opened - paid out + paid in (events handed out after commits)",
        ),
        (
            all(from_ledger(a) == a.balance for a in final),
            "each balance = opened + its ledger entries",
        ),
        (all(a.balance >= 0 for a in final), "no balance below zero"),
    ]
    if notified is not None:
        checks.append((
            notified == len(progress.applied),
            f"outbox: {notified} 'transfer completed' notifications delivered for "
            f"{len(progress.applied)} applied transfers",
        ))
    say()
    say("Checks:")
    for ok, text in checks:
        say(f"  [{'ok' if ok else 'FAILED'}] {text}")
    return all(ok for ok, _ in checks)


def run(engine: odm.SyncEngine, args: argparse.Namespace) -> bool:
    for model in MODELS:  # start from empty collections, with the ledger's indexes
        engine.get_collection(model).drop()
    for name in (OUTBOX, f"{OUTBOX}_relays"):
        engine.database.drop_collection(name)
    engine.configure_database(MODELS)

    unit = BankUnit(engine)
    with unit:  # one transaction: all the accounts, or none
        for account_id, owner, balance in OPENING:
            service.open_account(unit, account_id, owner, balance)
    opened = {a.id: a.balance for a in unit.run(service.accounts)}
    say(f"Opened {len(opened)} accounts holding {money(sum(opened.values()))} in total.")

    jobs = plan(args.seed, args.transfers, list(opened))
    say(f"Running {len(jobs)} transfers on {args.workers} threads (seed {args.seed}):")
    books = Books()
    notifications = Notifications()
    relay = Relay(engine, notifications.publish, outbox=OUTBOX, poll_interval=0.2)
    relaying = threading.Thread(target=relay.run, name="outbox relay")
    relaying.start()  # delivers while the transfers commit
    try:
        progress = run_batch(engine, jobs, args.workers, books)
    finally:
        relay.stop()
        relaying.join()
    relay.drain(timeout=30)  # what committed since its last pass

    say()
    say(f"Applied:  {len(progress.applied)} transfers")
    refused = progress.refused
    example = f', e.g. "{refused[0]}"' if refused else ""
    say(f"Refused:  {len(refused)} for insufficient funds{example}")
    say(f"Retries:  {progress.retries} (transactions that lost a write conflict, run again)")
    say(f"Notified: {len(notifications)} 'transfer completed' notifications delivered by the "
        f"outbox relay ({relay.delivered} events in all)")
    ok = check_books(engine, opened, books, progress, len(notifications))
    say()
    say("The books balance." if ok else "The books do NOT balance.")
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with server_uri(args.uri) as uri:
            client: MongoClient[Any] = MongoClient(uri)
            with client:
                say(f"Database {args.database!r} (its accounts and transfers are reset)")
                return 0 if run(odm.SyncEngine(client, database=args.database), args) else 1
    except (ConnectionFailure, TransactionsNotSupported) as error:  # unreachable, standalone
        print(f"error: cannot use the database: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
