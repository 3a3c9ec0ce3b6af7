"""The bank example: its CLI end to end, and its services under a real write conflict."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

import mongolet
import odm
from examples.bank import service
from examples.bank.__main__ import OPENING, Books, Progress, check_books, main
from examples.bank.domain import BankUnit, InsufficientFunds, Transfer

ROOT = Path(__file__).resolve().parents[2]
TOTAL = sum(balance for _, _, balance in OPENING)


def summary_count(output: str, label: str) -> int:
    match = re.search(rf"^{label}:\s+(\d+)", output, re.MULTILINE)
    assert match, f"no {label!r} line in:\n{output}"
    return int(match.group(1))


@pytest.fixture
def engine(client: MongoClient, db: Database) -> odm.SyncEngine:
    return odm.SyncEngine(client, database=db.name)


def open_accounts(engine: odm.SyncEngine, **balances: int) -> None:
    unit = BankUnit(engine)
    with unit:
        for account_id, balance in balances.items():
            service.open_account(unit, account_id, account_id.title(), balance)


def test_cli_runs_the_batch_and_the_books_balance(
    mongodb_uri: str, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--uri", mongodb_uri, "--database", db.name, "--transfers", "60", "--workers", "6"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("Using MongoDB at ") and "mongodb://" not in out  # hosts only
    assert "FAILED" not in out and out.rstrip().endswith("The books balance.")
    # Progress: a line per tenth of the batch, the last one at 60/60.
    progress = re.findall(r"^\s+(\d+)/60\s+applied", out, re.MULTILINE)
    assert progress == [str(n) for n in range(6, 61, 6)]
    applied, refused = summary_count(out, "Applied"), summary_count(out, "Refused")
    assert applied + refused == 60 and applied > 0
    # One "transfer completed" notification per applied transfer, through the outbox relay.
    assert summary_count(out, "Notified") == applied
    assert f"[ok] outbox: {applied} 'transfer completed' notifications delivered" in out
    assert db.outbox.count_documents({"type": "bank.transfer_completed", "state": "delivered"}) == applied
    assert f"[ok] total unchanged: {TOTAL:,} before, {TOTAL:,} after" in out

    # The database agrees with what it printed.
    accounts = {doc["_id"]: doc for doc in db.accounts.find()}
    assert sorted(accounts) == sorted(account_id for account_id, _, _ in OPENING)
    assert sum(doc["balance"] for doc in accounts.values()) == TOTAL
    assert db.transfers.count_documents({}) == applied
    for account_id, doc in accounts.items():
        # Each applied transfer updated both its accounts once: a retried attempt never
        # bumped a version, a refused one wrote nothing.
        involving = {"$or": [{"source": account_id}, {"target": account_id}]}
        moves = db.transfers.count_documents(involving)
        assert doc["version"] == moves
        assert re.search(rf"^{account_id}\s.*\s{doc['balance']:,}$", out, re.MULTILINE)


def test_cli_starts_over_on_a_second_run(
    mongodb_uri: str, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--uri", mongodb_uri, "--database", db.name, "--transfers", "10", "--workers", "2"]
    assert main(argv) == 0
    assert main(argv) == 0  # the accounts are opened again, not duplicated
    out = capsys.readouterr().out
    assert out.count("The books balance.") == 2
    assert db.accounts.count_documents({}) == len(OPENING)
    last_applied = int(re.findall(r"^Applied:\s+(\d+)", out, re.MULTILINE)[-1])
    assert db.transfers.count_documents({}) == last_applied


def test_the_checks_fail_when_money_appears(
    engine: odm.SyncEngine, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    open_accounts(engine, alice=100, bob=50)
    opened = {"alice": 100, "bob": 50}
    db.accounts.update_one({"_id": "bob"}, {"$inc": {"balance": 5}})  # a bug outside the unit
    books = Books()
    assert check_books(engine, opened, books, Progress(0, books)) is False
    out = capsys.readouterr().out
    assert "[FAILED] total unchanged: 150 before, 155 after" in out
    assert "[FAILED] each balance = opened + its ledger entries" in out


def test_cli_exits_2_on_a_server_without_transactions(
    db_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with mongolet.serve(replica_set="") as standalone:  # a standalone mongod: no transactions
        assert main(["--uri", standalone.uri, "--database", db_name]) == 2
    assert "error: cannot use the database" in capsys.readouterr().err


def test_cli_refuses_a_batch_of_zero(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--transfers", "0"])
    assert exit_.value.code == 2
    assert "--transfers: must be at least 1, got 0" in capsys.readouterr().err


def test_python_m_examples_bank_on_its_own_embedded_server() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    done = subprocess.run(
        [sys.executable, "-m", "examples.bank", "--transfers", "40"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("Started mongolet, the embedded server, at mongodb://127.0.0.1:")
    assert "  40/40  applied" in done.stdout
    assert done.stdout.rstrip().endswith("The books balance.")
    assert done.stderr == ""


# ---------------------------------------------------------------- the services


def test_transfer_moves_money_and_writes_the_ledger(engine: odm.SyncEngine) -> None:
    open_accounts(engine, alice=100, bob=5)
    unit = BankUnit(engine)
    entry = unit.run(service.transfer, "alice", "bob", 30)
    assert (entry.source, entry.target, entry.amount) == ("alice", "bob", 30)
    assert [(a.id, a.balance, a.version) for a in unit.run(service.accounts)] == [
        ("alice", 70, 1),
        ("bob", 35, 1),
    ]
    assert [t.id for t in unit.run(service.statement, "bob")] == [entry.id]


def test_a_refused_transfer_writes_nothing(engine: odm.SyncEngine) -> None:
    open_accounts(engine, alice=10, bob=0)
    unit = BankUnit(engine)
    with pytest.raises(InsufficientFunds, match="account 'alice' has 10, cannot pay 11"):
        unit.run(service.transfer, "alice", "bob", 11)
    assert [(a.balance, a.version) for a in unit.run(service.accounts)] == [(10, 0), (0, 0)]
    assert engine.count(Transfer) == 0


def test_two_transfers_racing_on_one_account_both_apply(engine: odm.SyncEngine) -> None:
    """Both read alice before either writes: one loses the write conflict and runs again."""
    open_accounts(engine, alice=100, bob=0, carol=0)
    both_read = threading.Barrier(2, timeout=10)
    attempts: list[str] = []

    def racing(uow: BankUnit, source: str, target: str, amount: int) -> Transfer:
        entry = service.transfer(uow, source, target, amount)  # read and changed, not written
        attempts.append(target)
        if attempts.count(target) == 1:  # first attempts only: wait for the other one
            both_read.wait()
        return entry

    results: dict[str, Any] = {}

    def worker(target: str, amount: int) -> None:
        results[target] = BankUnit(engine).run(racing, "alice", target, amount)

    threads = [threading.Thread(target=worker, args=args) for args in (("bob", 30), ("carol", 50))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["bob", "carol"]  # both applied
    assert len(attempts) >= 3  # the loser ran again (more than once if the winner was slow)
    accounts = {a.id: a for a in BankUnit(engine).run(service.accounts)}
    assert (accounts["alice"].balance, accounts["alice"].version) == (20, 2)
    assert engine.count(Transfer) == 2

