"""Power cuts, simulated (``tests/reliability/powerloss.py``), against the durable store.

A scripted workload (inserts, multi-collection transfer transactions, counters, deletes, a
rename, an index, several checkpoints written by the checkpoint thread, a clean stop) runs
on a durable mongolet whose file operations are logged. Then, at every fsync boundary and
at random points, the disk is rebuilt as a power cut could leave it, and the store is
loaded from it: every write acknowledged before the cut must be there, and every transfer
whole or absent. The same check fails against two stores broken on purpose.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

import mongolet
from mongolet.durability import Durability
from mongolet.storage import Store
from tests.reliability.nodes import only_mongolet
from tests.reliability.powerloss import (
    AckBeforeFsync,
    RecordingFiles,
    RenameBeforeSync,
    crash_points,
    power_cuts,
    write_image,
)

pytestmark = only_mongolet

SEED = 20261203
OPENING = 1000


@dataclass(frozen=True)
class Ack:
    """A reply the client got once the log held ``at`` operations."""

    at: int
    kind: str  # "item", "deleted", "transfer", "count", "renamed", "index", "accounts"
    value: Any = None


def run_workload(dbpath: Path, files: RecordingFiles) -> list[Ack]:
    """The scripted workload on a durable mongolet using ``files``; its acknowledgements."""
    acks: list[Ack] = []

    def acked(kind: str, value: Any = None) -> None:
        acks.append(Ack(len(files.log), kind, value))

    with mongolet.serve(dbpath=dbpath, checkpoint_bytes=6000, files=files) as server, \
            MongoClient(server.uri) as client:
        app = client.app
        app.accounts.insert_many([{"_id": "a", "balance": OPENING},
                                  {"_id": "b", "balance": OPENING}])
        acked("accounts")
        app.temp.insert_one({"_id": "t"})
        for i in range(36):
            app.items.insert_one({"_id": i, "pad": "x" * 150})
            acked("item", i)
            with client.start_session() as session, session.start_transaction():
                app.accounts.update_one({"_id": "a"}, {"$inc": {"balance": -i}},
                                        session=session)
                app.accounts.update_one({"_id": "b"}, {"$inc": {"balance": i}},
                                        session=session)
                app.ledger.insert_one({"_id": i, "amount": i}, session=session)
            acked("transfer", i)
            if i % 3 == 0:
                app.counters.update_one({"_id": "n"}, {"$inc": {"n": 1}}, upsert=True)
                acked("count", i // 3 + 1)
            if i % 5 == 4:
                app.items.delete_one({"_id": i - 2})
                acked("deleted", i - 2)
            if i == 12:
                app.temp.rename("renamed")
                acked("renamed")
            if i == 20:
                app.ledger.create_index("amount", unique=True, name="amount_1")
                acked("index")
    return acks


def problems_in(store: Store, acks: list[Ack], deleted: set[Any]) -> list[str]:
    """What of ``acks`` the store lost, and any transfer it holds in part; ``deleted``: the
    items the workload deletes (a delete on disk before its reply may be there)."""
    def docs(name: str) -> dict[Any, dict[str, Any]]:
        coll = store.collection("app", name)
        return {} if coll is None else {d["_id"]: d for d in coll.latest_documents()}

    found: list[str] = []
    items, ledger, accounts = docs("items"), docs("ledger"), docs("accounts")
    for ack in acks:
        if ack.kind == "item" and ack.value not in deleted and ack.value not in items:
            found.append(f"acknowledged insert of item {ack.value} lost")
        elif ack.kind == "deleted" and ack.value in items:
            found.append(f"acknowledged delete of item {ack.value} undone")
        elif ack.kind == "transfer" and ack.value not in ledger:
            found.append(f"acknowledged transfer {ack.value} lost")
        elif ack.kind == "count" and docs("counters").get("n", {}).get("n", 0) < ack.value:
            found.append(f"acknowledged increment to {ack.value} lost")
        elif ack.kind == "renamed" and (not docs("renamed") or docs("temp")):
            found.append("acknowledged rename lost")
        elif ack.kind == "accounts" and set(accounts) != {"a", "b"}:
            found.append("acknowledged accounts lost")
        elif ack.kind == "index":
            coll = store.collection("app", "ledger")
            if coll is None or "amount_1" not in coll.indexes:
                found.append("acknowledged index lost")
    moved = sum(entry["amount"] for entry in ledger.values())
    balances = {key: account["balance"] for key, account in accounts.items()}
    # (the two accounts are two writes of an insert_many: not one unit before their ack)
    if ledger and balances != {"a": OPENING - moved, "b": OPENING + moved}:
        found.append(f"partial transfer: balances {balances} but ledger moved {moved}")
    return found


@contextmanager
def _image_dir(tmp_path: Path) -> Iterator[Path]:
    """Where disk images are loaded from: in memory when the machine has a tmpfs (a loaded
    store fsyncs; the image's own durability is not what is tested)."""
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else tmp_path) as directory:
        yield Path(directory) / "image"


def power_loss_problems(image_dir: Path, files: RecordingFiles, acks: list[Ack],
                        random_points: int = 40, first_only: bool = False
                        ) -> tuple[list[str], int]:
    """Load the store after every simulated power cut; the problems found (``first_only``:
    stop at the first), and how many disk images were tried."""
    points = crash_points(files.log, random_points, SEED)
    problems: list[str] = []
    deleted = {a.value for a in acks if a.kind == "deleted"}
    images = 0
    for point, cut, image in power_cuts(files.log, points, SEED):
        images += 1
        write_image(image, image_dir)
        durable = [a for a in acks if a.at <= point.index]
        where = f"power cut {point.why} (op {point.index} of {len(files.log)}), {cut.name}"
        durability = Durability(image_dir)
        try:
            store = durability.load()
        except Exception as exc:
            problems.append(f"{where}: restart failed: {type(exc).__name__}: {exc}")
            continue
        try:
            problems += [f"{where}: {p}" for p in problems_in(store, durable, deleted)]
        finally:
            durability.close(checkpoint=False)
        if problems and first_only:
            break
    return problems, images


def test_every_power_cut_keeps_every_acknowledged_write_and_whole_transactions(
        tmp_path: Path, figures: Callable[..., None]) -> None:
    files = RecordingFiles()
    acks = run_workload(tmp_path / "data", files)
    kinds = [op.kind for op in files.log]
    renames = [op for op in files.log if op.kind == "rename"]
    assert sum(op.target == "checkpoint" for op in renames) >= 3  # checkpoints were cut too
    assert sum(op.target == "journal" for op in renames) >= 3
    with _image_dir(tmp_path) as image_dir:
        problems, images = power_loss_problems(image_dir, files, acks)
    assert not problems, "\n".join(problems[:20])
    # And a real server started on the last image shows the whole workload.
    write_image(next(image for *_, image in power_cuts(
        files.log, crash_points(files.log, 0, SEED)[-1:], SEED)), tmp_path / "last")
    with mongolet.serve(dbpath=tmp_path / "last") as server, MongoClient(server.uri) as c:
        assert c.app.ledger.count_documents({}) == 36
        assert c.app.accounts.find_one({"_id": "a"})["balance"] == OPENING - sum(range(36))
    figures(operations_logged=len(files.log), fsyncs=kinds.count("fsync"),
            directory_fsyncs=kinds.count("fsync_dir"), acknowledged=len(acks),
            power_cuts=images, losses=len(problems))


@pytest.mark.parametrize(("broken", "symptom"), [
    (AckBeforeFsync, "lost"),
    (RenameBeforeSync, "restart failed"),
], ids=["journal acknowledged before its fsync", "checkpoint renamed before its fsync"])
def test_the_power_loss_check_fails_on_a_store_broken_on_purpose(
        tmp_path: Path, broken: type[RecordingFiles], symptom: str) -> None:
    files = broken()
    acks = run_workload(tmp_path / "data", files)
    with _image_dir(tmp_path) as image_dir:
        problems, _ = power_loss_problems(image_dir, files, acks, random_points=0,
                                          first_only=True)
    assert any(symptom in problem for problem in problems), problems[:5]
