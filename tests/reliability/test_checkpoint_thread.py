"""A checkpoint is written off the event loop: clients are served while it is written.

The checkpoint's file writes are held at a gate (a ``mongolet.files.Files`` that waits), so
the checkpoint stays in progress for as long as the test wants, however fast the disk. A
checkpoint written on the event loop would hold every client behind the gate.
"""

from __future__ import annotations

import threading
from pathlib import Path

from pymongo import MongoClient

import mongolet
from mongolet import durability
from mongolet.files import Files
from tests.reliability.nodes import only_mongolet

pytestmark = only_mongolet


class GatedFiles(Files):
    """Writes to ``checkpoint.tmp`` wait for ``gate`` to be set (up to 30 s)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.waiting = threading.Event()  # a checkpoint write reached the gate
        self.journals_started = 0  # journals replaced (after each checkpoint)
        self.checkpointed = threading.Event()  # a checkpoint was renamed into place
        self._gated: set[int] = set()

    def open(self, path: Path, flags: int, mode: int = 0o644) -> int:
        fd = super().open(path, flags, mode)
        if path.name == "checkpoint.tmp":
            self._gated.add(fd)
        return fd

    def write(self, fd: int, data: bytes | memoryview) -> int:
        if fd in self._gated:
            self.waiting.set()
            assert self.gate.wait(30), "the gate was never opened"
        return super().write(fd, data)

    def close(self, fd: int) -> None:
        self._gated.discard(fd)
        super().close(fd)

    def replace(self, source: Path, target: Path) -> None:
        super().replace(source, target)
        if target.name == durability.JOURNAL:
            self.journals_started += 1
        elif target.name == durability.CHECKPOINT:
            self.checkpointed.set()


def test_clients_are_served_while_a_checkpoint_is_written(tmp_path: Path) -> None:
    files = GatedFiles()
    dbpath = tmp_path / "data"
    with mongolet.serve(dbpath=dbpath, checkpoint_bytes=32 * 1024, files=files) as server, \
            MongoClient(server.uri, socketTimeoutMS=10_000) as client:
        items = client.app.items
        n = 0
        while not files.waiting.is_set():  # until a checkpoint starts (and waits)
            items.insert_one({"_id": n, "pad": "x" * 500})
            n += 1
            assert n < 1000
        started = files.journals_started
        during = n
        # Served meanwhile: writes and reads, fewer bytes than checkpoint_bytes in all, so
        # that the journal they start does not trigger a second checkpoint at once (which
        # would race the file checks below).
        for _ in range(100):
            items.insert_one({"_id": n, "pad": "y" * 100})
            assert items.find_one({"_id": n})["pad"] == "y" * 100
            n += 1
        assert files.journals_started == started  # the checkpoint is still held
        files.gate.set()
        # Wait for the checkpoint before writing again: writes made meanwhile would fill the
        # journal that starts after it and trigger a second checkpoint, racing the checks.
        assert files.checkpointed.wait(30)
        while files.journals_started == started:  # its journal starts at the next write
            items.insert_one({"_id": n})
            n += 1
            assert n < during + 10_000
        records = durability.read_records(dbpath, durability.CHECKPOINT)
        in_checkpoint = sum(len(r.get("d", ())) for r in records if r["k"] == "docs")
        assert in_checkpoint < n  # a snapshot from before the writes made during it
        assert durability.read_records(dbpath)[0]["n"] == records[0]["n"] + 1
    with mongolet.serve(dbpath=dbpath) as server, MongoClient(server.uri) as client:
        assert client.app.items.count_documents({}) == n
