"""The network side of mongolet: an asyncio server on loopback, and ``serve()``.

Each connection is one task that reads a message, hands its command to the
``Dispatcher`` and writes the answer. All commands run on one event loop in one thread, so
each command is atomic unless it awaits: the command layer relies on this.

Data lives in memory unless ``dbpath`` names a data directory (``mongolet.durability``):
then it is replayed at start, every commit is journaled (fsynced) before it is acknowledged,
and a clean stop writes a checkpoint. The sessions' outcomes (committed transactions,
retryable writes' results) are journaled with their commits and come back too, so a driver's
retry after a restart is answered as before it.

    >>> with serve() as server:                         # doctest: +SKIP
    ...     client = MongoClient(server.uri)
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from mongolet.change_file import HistoryFile
from mongolet.changes import DEFAULT_SIZE as DEFAULT_HISTORY_SIZE
from mongolet.changes import ChangeHistory
from mongolet.commands import ConnectionInfo, Dispatcher, ServerOptions, SessionHistory
from mongolet.durability import DataFormatError, DbpathLockedError, Durability, DurabilityError
from mongolet.errors import CloseConnection, MongoError
from mongolet.files import Files
from mongolet.storage import Store
from mongolet.wire import (
    HEADER_SIZE,
    FramingError,
    Request,
    decode_request,
    encode_error_reply,
    encode_reply,
    parse_header,
)

DEFAULT_REPLICA_SET = "mongolet"
Mode = Literal["thread", "process"]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: addresses no other machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind_address(host: str, allow_remote: bool) -> None:
    """mongolet has no authentication: refuse to listen beyond loopback unless asked to."""
    if not allow_remote and not is_loopback(host):
        raise ValueError(
            f"refusing to bind {host!r}: mongolet has no authentication and listens on loopback "
            "only; pass allow_remote=True (--allow-remote) to expose it on another address"
        )


def connection_uri(host: str, port: int, replica_set: str | None) -> str:
    """The URI a driver uses to reach the server as a replica set primary (or directly)."""
    shown = f"[{host}]" if ":" in host else host
    if replica_set:
        return f"mongodb://{shown}:{port}/?replicaSet={replica_set}"
    return f"mongodb://{shown}:{port}/?directConnection=true"


class MongoletServer:
    """One listening socket and its connections, on the running event loop."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        replica_set: str = DEFAULT_REPLICA_SET,
        enable_test_commands: bool = False,
        allow_remote: bool = False,
        dbpath: str | os.PathLike[str] | None = None,
        checkpoint_bytes: int | None = None,
        files: Files | None = None,
        change_history_size: int = DEFAULT_HISTORY_SIZE,
    ) -> None:
        check_bind_address(host, allow_remote)
        self.changes = ChangeHistory(change_history_size)
        self.host = "127.0.0.1" if host == "localhost" else host
        self.port = port
        self.replica_set = replica_set
        self.enable_test_commands = enable_test_commands
        self.dbpath = os.fspath(dbpath) if dbpath is not None else None
        self.checkpoint_bytes = checkpoint_bytes
        self.files = files  # the data directory's file operations (tests replace them)
        self.durability: Durability | None = None
        self.change_file: HistoryFile | None = None
        self.dispatcher: Dispatcher | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._connection_ids = itertools.count(1)
        self._reply_ids = itertools.count(1)

    @property
    def uri(self) -> str:
        return connection_uri(self.host, self.port, self.replica_set)

    async def start(self) -> None:
        """Open the data directory (if any), bind (a free port when ``port`` is 0), then
        build the dispatcher for that address."""
        store = None
        history = SessionHistory()
        if self.dbpath is not None:
            self.durability = Durability(self.dbpath, checkpoint_bytes=self.checkpoint_bytes,
                                         files=self.files)
            store = self.durability.load(history.add)
            self.change_file = HistoryFile(self.dbpath, self.changes)
            try:
                self.change_file.load(store.clock)
            except BaseException:
                self._close_durability(checkpoint=False)
                raise
        try:
            self._server = await asyncio.start_server(self._serve_connection, self.host,
                                                      self.port)
        except BaseException:
            self._close_durability(checkpoint=False)
            raise
        self.port = self._server.sockets[0].getsockname()[1]
        self.dispatcher = Dispatcher(
            ServerOptions(
                host=self.host,
                port=self.port,
                replica_set=self.replica_set,
                enable_test_commands=self.enable_test_commands,
            ),
            store if store is not None else Store(),
            history,
            self.changes,
        )
        if self.durability is not None:
            self.durability.session_records = self.dispatcher.session_records

    async def close(self) -> None:
        """Stop listening, drop every connection, and let the dispatcher clean up."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=2)
        if self.dispatcher is not None:
            self.dispatcher.close()
        self._close_durability(checkpoint=True)

    def _close_durability(self, checkpoint: bool) -> None:
        if self.change_file is not None:
            self.change_file.close()
            self.change_file = None
        if self.durability is not None:
            durability, self.durability = self.durability, None
            durability.close(checkpoint=checkpoint)

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        conn = ConnectionInfo(id=next(self._connection_ids), client=f"{peer[0]}:{peer[1]}")
        self._writers.add(writer)
        dispatcher = self.dispatcher
        assert dispatcher is not None, "start() binds before accepting"
        try:
            while True:
                header = parse_header(await reader.readexactly(HEADER_SIZE))
                payload = await reader.readexactly(header.length - HEADER_SIZE)
                try:
                    request = decode_request(header, payload)
                except MongoError as error:
                    # Well framed but unreadable: answer it and keep the connection.
                    writer.write(encode_error_reply(
                        header.request_id, header.op_code, error, next(self._reply_ids)))
                    await writer.drain()
                    continue
                reply = await dispatcher.handle(request.body, conn)
                if request.more_to_come:
                    continue
                if self.durability is not None:
                    reply = self._synced(reply)
                if request.exhaust_allowed and _streams(request, reply):
                    await self._exhaust(request, reply, conn, writer)
                    continue
                writer.write(self._frame(request, reply))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, FramingError, CloseConnection):
            pass  # the client went away, sent garbage framing, or a fail point dropped it
        except asyncio.CancelledError:
            pass
        finally:
            self._writers.discard(writer)
            dispatcher.connection_closed(conn)
            writer.close()

    async def _exhaust(self, request: Request, reply: dict[str, Any], conn: ConnectionInfo,
                       writer: asyncio.StreamWriter) -> None:
        """An exhaust getMore: send batches unasked (moreToCome) until the cursor ends."""
        dispatcher = self.dispatcher
        assert dispatcher is not None
        previous: int | None = None
        while True:
            more = _streams(request, reply)
            reply_id = next(self._reply_ids)
            try:
                frame = encode_reply(request, reply, reply_id, more_to_come=more,
                                     response_to=previous)
            except Exception:
                frame = self._frame(request, reply)
                more = False
            writer.write(frame)
            await writer.drain()
            if not more:
                return
            previous = reply_id
            reply = await dispatcher.handle(request.body, conn)
            if self.durability is not None:
                reply = self._synced(reply)

    def _synced(self, reply: dict[str, Any]) -> dict[str, Any]:
        """``reply``, once every journaled change is on disk: nothing reaches a client (an
        acknowledgement, data) before it is durable."""
        assert self.durability is not None
        try:
            self.durability.sync()
        except DurabilityError as error:
            return MongoError(1, str(error)).to_reply()
        return reply

    def _frame(self, request: Request, reply: dict[str, object]) -> bytes:
        try:
            return encode_reply(request, reply, next(self._reply_ids))
        except Exception as exc:  # e.g. a reply over 16 MiB, or a value BSON cannot hold
            error = MongoError(10334 if "too large" in str(exc) else 1,
                               f"cannot encode reply: {exc}")
            return encode_reply(request, error.to_reply(), next(self._reply_ids))


def _streams(request: Request, reply: dict[str, Any]) -> bool:
    """Whether an exhaust getMore goes on after ``reply`` (its cursor is still open)."""
    cursor = reply.get("cursor")
    return next(iter(request.body), "") == "getMore" and reply.get("ok") == 1.0 \
        and isinstance(cursor, dict) and bool(cursor.get("id"))


@dataclass
class Server:
    """A running mongolet, as ``serve()`` yields it."""

    host: str
    port: int
    replica_set: str = DEFAULT_REPLICA_SET
    dbpath: str | None = None  # the data directory; None: in memory
    _stop: list[object] = field(default_factory=list, repr=False)

    @property
    def uri(self) -> str:
        """Connect as to the primary of a one-member replica set (transactions allowed)."""
        return connection_uri(self.host, self.port, self.replica_set)

    @property
    def direct_uri(self) -> str:
        """Connect directly, without replica set discovery (transactions still work)."""
        return connection_uri(self.host, self.port, None)

    def stop(self) -> None:
        while self._stop:
            stopper = self._stop.pop()
            stopper()  # type: ignore[operator]


class _ServerThread(threading.Thread):
    """Runs a MongoletServer's event loop in a daemon thread."""

    def __init__(self, server: MongoletServer) -> None:
        super().__init__(name=f"mongolet-{server.port or 'new'}", daemon=True)
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.startup_error: BaseException | None = None

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.start())
        except BaseException as exc:
            self.startup_error = exc
            self.ready.set()
            return
        self.ready.set()
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(self.server.close())
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.join(timeout=10)


_LISTENING = re.compile(r"mongodb://\[?([^\]/]+?)\]?:(\d+)/")
# What a child that cannot start prints (``python -m mongolet --exit-with-stdin``).
_FAILED = re.compile(r"^mongolet failed: (\w+): (.*)$")
_CHILD_ERRORS: dict[str, type[Exception]] = {
    cls.__name__: cls for cls in (DurabilityError, DataFormatError, DbpathLockedError,
                                  ValueError, OSError)}


def _start_process(host: str, port: int, replica_set: str, enable_test_commands: bool,
                   allow_remote: bool, dbpath: str | None = None,
                   checkpoint_bytes: int | None = None,
                   change_history_size: int = DEFAULT_HISTORY_SIZE
                   ) -> tuple[subprocess.Popen[str], int]:
    args = [sys.executable, "-m", "mongolet", "--host", host, "--port", str(port),
            "--replica-set", replica_set, "--exit-with-stdin"]
    if enable_test_commands:
        args.append("--enable-test-commands")
    if allow_remote:
        args.append("--allow-remote")
    if dbpath is not None:
        args += ["--dbpath", dbpath]
    if checkpoint_bytes is not None:
        args += ["--checkpoint-bytes", str(checkpoint_bytes)]
    if change_history_size != DEFAULT_HISTORY_SIZE:
        args += ["--change-history", str(change_history_size)]
    # stdin stays open for the child's lifetime: when we die, it sees EOF and exits too.
    process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    line = process.stdout.readline()
    match = _LISTENING.search(line)
    if not match:
        process.kill()
        process.wait()
        failed = _FAILED.match(line.strip())
        if failed and failed.group(1) in _CHILD_ERRORS:
            raise _CHILD_ERRORS[failed.group(1)](failed.group(2))
        raise RuntimeError(f"mongolet did not start: {line.strip() or 'no output'}")
    return process, int(match.group(2))


def _stop_process(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()


@contextlib.contextmanager
def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    mode: Mode = "thread",
    replica_set: str = DEFAULT_REPLICA_SET,
    enable_test_commands: bool = False,
    allow_remote: bool = False,
    dbpath: str | os.PathLike[str] | None = None,
    checkpoint_bytes: int | None = None,
    files: Files | None = None,
    change_history_size: int = DEFAULT_HISTORY_SIZE,
) -> Iterator[Server]:
    """Run mongolet in the background for the duration of a ``with`` block.

    ``port=0`` picks a free port. ``mode="thread"`` runs the server's event loop in a daemon
    thread of this process; ``mode="process"`` runs it in a child process (its own GIL, so a
    busy client does not slow the server down). ``server.uri`` presents it as the primary of
    a one-member replica set, so sessions and transactions work::

        with mongolet.serve() as server:
            client = MongoClient(server.uri)

    ``dbpath`` keeps the data in that directory across restarts (created if missing): every
    acknowledged write or committed transaction is on disk first. An unreadable directory
    raises ``DataFormatError``, one another server has open ``DbpathLockedError``.
    ``checkpoint_bytes`` is the journal size that triggers a checkpoint (default 64 MiB).
    ``files`` (thread mode) replaces the data directory's file operations
    (``mongolet.files``; tests simulate power cuts with it).
    ``change_history_size`` is how many change events (mongod's oplog entries) the server
    keeps for change streams to resume from (default 100,000).
    """
    check_bind_address(host, allow_remote)
    path = os.fspath(dbpath) if dbpath is not None else None
    if mode == "process":
        if files is not None:
            raise ValueError("files= needs mode='thread' (the server runs in this process)")
        process, bound_port = _start_process(host, port, replica_set, enable_test_commands,
                                             allow_remote, path, checkpoint_bytes,
                                             change_history_size)
        handle = Server("127.0.0.1" if host == "localhost" else host, bound_port, replica_set,
                        path)
        handle._stop.append(lambda: _stop_process(process))
    elif mode == "thread":
        server = MongoletServer(host, port, replica_set=replica_set,
                                enable_test_commands=enable_test_commands,
                                allow_remote=allow_remote, dbpath=path,
                                checkpoint_bytes=checkpoint_bytes, files=files,
                                change_history_size=change_history_size)
        thread = _ServerThread(server)
        thread.start()
        thread.ready.wait()
        if thread.startup_error is not None:
            thread.join(timeout=10)
            raise thread.startup_error
        handle = Server(server.host, server.port, replica_set, path)
        handle._stop.append(thread.stop)
    else:
        raise ValueError(f"mode must be 'thread' or 'process', not {mode!r}")
    try:
        yield handle
    finally:
        handle.stop()
