"""Crash test of the outbox: ``kill -9`` of the writing process and of the relay process.

A writer process runs transfers in units with an outbox, each recording one event; a relay
process publishes the events by appending a line per publish to a file. At seeded random
moments one of them is killed with SIGKILL and started again (the relay alternating sync and
async). At the end a last relay drains the outbox, and then:

- every event of a committed transfer was published at least once, and nothing else was
  (an event is in the outbox exactly when its transfer is in the ledger, one each);
- a transfer the writer saw acknowledged is in the ledger;
- duplicates (a relay killed between its publish and its mark) carry the same event id;
- per account, the first publishes come in the account's commit order.

The server (a durable mongolet child process) is not killed here; tests/reliability/
test_crash.py covers that. ``MONGOLET_OUTBOX_CRASH_SEED`` picks another seed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from pymongo import MongoClient

import odm
from tests.reliability.nodes import Node, only_mongolet
from tests.reliability.outbox_processes import ACCOUNTS
from tests.uow.models import Account

pytestmark = only_mongolet

SEED = int(os.environ.get("MONGOLET_OUTBOX_CRASH_SEED", "20261203"))
KILLS = 6
DATABASE = "outbox_crash"


class Child:
    """``python -m tests.reliability.outbox_processes ROLE ...``, killed with SIGKILL."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.outbox_processes", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.strip() == "ready", self.process.stderr.read() if self.process.stderr else ""

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        died = self.process.returncode
        stderr = self.process.stderr.read() if self.process.stderr else ""
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        assert died == -signal.SIGKILL, f"it died on its own ({died}): {stderr}"


def _just_published(log: Path, timeout: float = 1.0) -> None:
    """Return as soon as the relay appends a line (or after ``timeout``)."""
    size = log.stat().st_size if log.exists() else 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and log.stat().st_size > size:
            return
        time.sleep(0.001)


def test_events_survive_kill_9_of_the_writer_and_of_the_relay(
    tmp_path: Path, nodes: list[Node], figures: Any
) -> None:
    rng = random.Random(SEED)
    node = Node(tmp_path / "data")
    nodes.append(node)
    client: MongoClient = node.client()
    engine = odm.SyncEngine(client, database=DATABASE)
    engine.save_all([Account(owner=f"owner {n}", balance=1_000) for n in range(ACCOUNTS)])
    acked_log, published_log = tmp_path / "acked.log", tmp_path / "published.log"
    flavours = ["sync", "async"]
    relays_started = 1
    writer = Child("writer", node.uri, DATABASE, str(acked_log), str(SEED))
    relay = Child("relay", node.uri, DATABASE, str(published_log), "sync")
    kills = {"writer": 0, "relay": 0}
    try:
        for round_no in range(KILLS):
            time.sleep(rng.uniform(0.2, 0.8))
            if rng.random() < 0.5:
                writer.kill()
                kills["writer"] += 1
                writer = Child("writer", node.uri, DATABASE, str(acked_log), str(SEED + round_no))
            else:
                _just_published(published_log)  # most likely inside a publish: a duplicate
                relay.kill()
                kills["relay"] += 1
                flavour = flavours[relays_started % 2]
                relays_started += 1
                relay = Child("relay", node.uri, DATABASE, str(published_log), flavour)
        time.sleep(rng.uniform(0.1, 0.5))
        writer.kill()  # the writer's last moment is a kill too
        outbox = client[DATABASE].outbox
        deadline = time.monotonic() + 20
        while outbox.count_documents({"state": {"$ne": "delivered"}}) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        relay.kill()
        if writer.process.poll() is None:
            writer.kill()

    db = client[DATABASE]
    ledger = {str(doc["_id"]) for doc in db.transfers.find({}, {"_id": 1})}
    stored = list(db.outbox.find())
    event_of = {doc["_id"]: doc["payload"]["transfer_id"] for doc in stored}
    acked = {line.split()[1] for line in acked_log.read_text().splitlines()}
    published = [line.split() for line in published_log.read_text().splitlines()]

    assert ledger and acked <= ledger  # what the writer saw committed is there
    # An event is stored exactly when its transfer committed, once.
    assert sorted(event_of.values()) == sorted(ledger)
    assert all(doc["state"] == "delivered" for doc in stored), "an event was never delivered"
    published_ids = {event_id for event_id, *_ in published}
    assert published_ids == set(event_of), "an event published that was never committed"
    # A duplicate is the same event again: same id, same transfer.
    for event_id, transfer_id, *_ in published:
        assert event_of[event_id] == transfer_id
    # Per account, first publishes in commit order.
    first: dict[str, list[tuple[int, int]]] = defaultdict(list)
    seen: set[str] = set()
    for event_id, _, account, sequence, index in published:
        if event_id not in seen:
            seen.add(event_id)
            first[account].append((int(sequence), int(index)))
    for order in first.values():
        assert order == sorted(order)
    balances = sum(doc["balance"] for doc in db.accounts.find())
    assert balances == ACCOUNTS * 1_000
    figures(outbox_transfers=len(ledger), outbox_published=len(published),
            outbox_duplicates=len(published) - len(published_ids),
            writer_kills=kills["writer"], relay_kills=kills["relay"])
