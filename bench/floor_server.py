"""The no-work floor: mongolet's transport answering every command with a canned reply.

It reads and decodes each message and encodes each reply exactly as mongolet does, but
stores and finds nothing, so its speed is the wire protocol + BSON + asyncio cost that any
mongolet command pays. ``python -m bench.floor_server`` runs it (``serve_floor()`` starts
it as a child process, as ``mongolet.serve(mode="process")`` does for mongolet).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bson import Int64, ObjectId, Timestamp

from mongolet.commands import ConnectionInfo, Dispatcher, ServerOptions
from mongolet.server import MongoletServer

CANNED_DOCUMENT: dict[str, Any] = {"_id": 1, "name": "canned", "n": 1}
_LISTENING = re.compile(r"mongodb://[^:/]+:(\d+)/")


def hello_reply(host: str, port: int, replica_set: str, conn: ConnectionInfo) -> dict[str, Any]:
    """The fields drivers need to take the server for a replica set primary with sessions."""
    address = f"{host}:{port}"
    now = datetime.datetime.now(datetime.UTC)
    op_time = {"ts": Timestamp(1, 1), "t": Int64(1)}
    return {
        "isWritablePrimary": True, "ismaster": True, "helloOk": True,
        "hosts": [address], "setName": replica_set, "setVersion": 1, "secondary": False,
        "primary": address, "me": address, "electionId": ObjectId("7fffffff0000000000000001"),
        "lastWrite": {"opTime": op_time, "lastWriteDate": now,
                      "majorityOpTime": op_time, "majorityWriteDate": now},
        "maxBsonObjectSize": 16 * 1024 * 1024, "maxMessageSizeBytes": 48_000_000,
        "maxWriteBatchSize": 100_000, "localTime": now, "logicalSessionTimeoutMinutes": 30,
        "connectionId": conn.id, "minWireVersion": 0, "maxWireVersion": 21,
        "readOnly": False, "ok": 1.0,
    }


class FloorDispatcher(Dispatcher):
    """Replies of the right shape to hello, find, insert, update, delete, commit...; no work."""

    async def handle(self, body: dict[str, Any], conn: ConnectionInfo) -> dict[str, Any]:
        name = next(iter(body), "")
        lowered = name.lower()
        if lowered in ("hello", "ismaster"):
            options = self.options
            return hello_reply(options.host, options.port, options.replica_set, conn)
        if lowered in ("find", "aggregate"):
            ns = f"{body.get('$db', 'test')}.{body[name]}"
            return {"cursor": {"firstBatch": [CANNED_DOCUMENT], "id": Int64(0), "ns": ns},
                    "ok": 1.0}
        if lowered == "getmore":
            ns = f"{body.get('$db', 'test')}.{body.get('collection', '')}"
            return {"cursor": {"nextBatch": [], "id": Int64(0), "ns": ns}, "ok": 1.0}
        if lowered in ("insert", "delete"):
            return {"n": len(body.get("documents") or body.get("deletes") or ()), "ok": 1.0}
        if lowered == "update":
            count = len(body.get("updates") or ())
            return {"n": count, "nModified": count, "ok": 1.0}
        return {"ok": 1.0}  # ping, commitTransaction, abortTransaction, endSessions, ...

    def connection_closed(self, conn: ConnectionInfo) -> None:
        """No state to drop."""

    def close(self) -> None:
        """No state to drop."""


class FloorServer(MongoletServer):
    """mongolet's transport with the floor dispatcher in place of mongolet's."""

    async def start(self) -> None:
        await super().start()
        self.dispatcher = FloorDispatcher(ServerOptions(self.host, self.port, self.replica_set))


async def _run(port: int) -> None:
    server = FloorServer("127.0.0.1", port)
    await server.start()
    print(f"floor listening on {server.uri}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def watch_stdin() -> None:  # exit when the parent closes our stdin (or dies)
        sys.stdin.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    try:
        await stop.wait()
    finally:
        await server.close()


@contextlib.contextmanager
def serve_floor() -> Iterator[str]:
    """Run the floor in a child process; yield its replica-set URI."""
    process = subprocess.Popen([sys.executable, "-m", "bench.floor_server", "--port", "0"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               cwd=Path(__file__).resolve().parents[1])  # finds `bench`
    assert process.stdout is not None and process.stdin is not None
    try:
        line = process.stdout.readline()
        match = _LISTENING.search(line)
        if not match:
            raise RuntimeError(f"the floor server did not start: {line.strip() or 'no output'}")
        yield line.split(" on ", 1)[1].strip()
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor_server", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(_run(parser.parse_args(argv).port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
