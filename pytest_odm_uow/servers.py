"""The server a test session runs against: a deployment named by a URI, or a mongolet."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class MongoDBServer:
    """``uri`` and what kind of server answers it: ``"mongolet"`` (started by the plugin) or
    ``"mongodb"`` (a deployment given with ``--mongodb-uri`` or ``MONGODB_URI``)."""

    uri: str
    kind: Literal["mongolet", "mongodb"]

    @property
    def is_mongolet(self) -> bool:
        return self.kind == "mongolet"

    def supports_transactions(self) -> bool:
        """Whether the server runs transactions: a replica set member or a mongos."""
        from pymongo import MongoClient

        client: MongoClient[dict[str, Any]] = MongoClient(self.uri, serverSelectionTimeoutMS=10_000)
        with client:
            hello = client.admin.command("hello")
        return "setName" in hello or hello.get("msg") == "isdbgrid"


@contextlib.contextmanager
def start(uri: str | None = None, *, dbpath: str | os.PathLike[str] | None = None,
          version: str | None = None, mode: str = "thread") -> Iterator[MongoDBServer]:
    """The deployment at ``uri``, or a mongolet with test commands on (for fail points)
    until the block ends; ``dbpath`` makes that mongolet durable."""
    if uri:
        yield MongoDBServer(uri, "mongodb")
        return
    import mongolet

    options: dict[str, Any] = {"enable_test_commands": True, "mode": mode, "dbpath": dbpath}
    if version:
        options["version"] = version
    with mongolet.serve(**options) as server:
        yield MongoDBServer(server.uri, "mongolet")
