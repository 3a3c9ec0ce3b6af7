"""A durable mongolet in a child process, to stop cleanly or ``kill -9`` and start again.

Shared by the durability, durable-session and crash tests; they are about mongolet's own
storage, so they skip when the suite runs on a real MongoDB (``only_mongolet``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from tests.conftest import using_real_mongodb

only_mongolet = pytest.mark.skipif(using_real_mongodb(),
                                   reason="durability of mongolet's own storage")


class Node:
    """``python -m mongolet --dbpath DIR --port 0`` in a child process."""

    def __init__(self, dbpath: Path, *args: str) -> None:
        self.dbpath = dbpath
        self.log = dbpath.parent / f"{dbpath.name}.stderr"
        with open(self.log, "a") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mongolet", "--port", "0", "--dbpath", str(dbpath),
                 *args],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "mongodb://" not in line:
            self.process.wait(timeout=10)
            raise RuntimeError(f"mongolet did not start: {line!r} {self.stderr()}")
        self.uri = line.split(" on ", 1)[1].split(" ", 1)[0]
        self._clients: list[MongoClient] = []

    @property
    def pid(self) -> int:
        return self.process.pid

    def client(self, **options: Any) -> MongoClient:
        options.setdefault("serverSelectionTimeoutMS", 2000)
        client: MongoClient = MongoClient(self.uri, **options)
        self._clients.append(client)
        return client

    def stderr(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def _close_clients(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()

    def kill(self) -> None:
        """``kill -9``: no checkpoint, no cleanup."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._close_clients()
        self._close()

    def stop(self) -> None:
        """A clean stop (SIGTERM): open transactions abort, a checkpoint is written."""
        self._close_clients()
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=20) == 0, self.stderr()
        self._close()

    def halt(self, how: str) -> None:
        self.kill() if how == "kill" else self.stop()

    def _close(self) -> None:
        if self.process.stdout is not None:
            self.process.stdout.close()


def start(nodes: list[Node], dbpath: Path, *args: str) -> Node:
    node = Node(dbpath, *args)
    nodes.append(node)
    return node
