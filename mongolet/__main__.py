"""Command line: ``mongolet`` or ``python -m mongolet [--host 127.0.0.1] [--port 27017] [--dbpath DIR]
[--version 8.0|7.0]``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import threading

from mongolet.changes import DEFAULT_SIZE as DEFAULT_HISTORY_SIZE
from mongolet.durability import DurabilityError
from mongolet.server import DEFAULT_REPLICA_SET, MongoletServer
from mongolet.versions import DEFAULT_VERSION, VERSIONS


def program_name(argv0: str | None = None) -> str:
    """How the user started us: ``mongolet`` (the console script) or ``python -m mongolet``."""
    name = os.path.basename(sys.argv[0] if argv0 is None else argv0)
    return "python -m mongolet" if name in ("__main__.py", "") else name


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=program_name(),
        description="An embedded MongoDB-compatible server for development and tests: in "
                    "memory, or durable in a data directory with --dbpath.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=27017,
                        help="port (default %(default)s; 0 picks a free one)")
    parser.add_argument("--replica-set", default=DEFAULT_REPLICA_SET,
                        help="replica set name the server reports (default %(default)s)")
    parser.add_argument("--enable-test-commands", action="store_true",
                        help="accept configureFailPoint and other test commands, as mongod does "
                             "with enableTestCommands=1")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow binding a non-loopback address (there is no authentication)")
    parser.add_argument("--dbpath", metavar="DIR",
                        help="keep the data in DIR across restarts (created if missing); "
                             "without it the data lives in memory")
    parser.add_argument("--version", default=DEFAULT_VERSION, choices=sorted(VERSIONS),
                        help="the MongoDB release to present itself as (default %(default)s; "
                             "7.0 has wire version 21 and no bulkWrite command)")
    parser.add_argument("--change-history", type=int, default=DEFAULT_HISTORY_SIZE,
                        metavar="N",
                        help="change events kept for change streams to resume from, as "
                             "mongod's oplog (default %(default)s)")
    parser.add_argument("--checkpoint-bytes", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--exit-with-stdin", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):  # SIGTERM stops cleanly (a checkpoint)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    server = MongoletServer(args.host, args.port, replica_set=args.replica_set,
                            enable_test_commands=args.enable_test_commands,
                            allow_remote=args.allow_remote, dbpath=args.dbpath,
                            checkpoint_bytes=args.checkpoint_bytes, version=args.version,
                            change_history_size=args.change_history)
    await server.start()
    where = f" (data in {args.dbpath})" if args.dbpath else ""
    print(f"mongolet listening on {server.uri}{where}", flush=True)
    if args.exit_with_stdin:
        # Started by serve(mode="process"): exit when the parent closes our stdin (or dies).

        def watch_stdin() -> None:
            sys.stdin.read()
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=watch_stdin, daemon=True).start()
    try:
        await stop.wait()
    finally:
        await server.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        print("mongolet stopped", flush=True)
    except (ValueError, OSError, DurabilityError) as exc:
        if args.exit_with_stdin:  # serve(mode="process") raises it again from this line
            print(f"mongolet failed: {type(exc).__name__}: {exc}", flush=True)
        print(f"mongolet: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
