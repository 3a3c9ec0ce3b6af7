"""Command line: ``python -m mongolet [--host 127.0.0.1] [--port 27017]``."""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading

from mongolet.server import DEFAULT_REPLICA_SET, MongoletServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m mongolet",
        description="An embedded MongoDB-compatible server (in memory) for development and tests.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=27017, help="port (0 picks a free one)")
    parser.add_argument("--replica-set", default=DEFAULT_REPLICA_SET,
                        help="replica set name the server reports (default %(default)s)")
    parser.add_argument("--enable-test-commands", action="store_true",
                        help="accept configureFailPoint and other test commands, as mongod does "
                             "with enableTestCommands=1")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow binding a non-loopback address (there is no authentication)")
    parser.add_argument("--exit-with-stdin", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    server = MongoletServer(args.host, args.port, replica_set=args.replica_set,
                            enable_test_commands=args.enable_test_commands,
                            allow_remote=args.allow_remote)
    await server.start()
    print(f"mongolet listening on {server.uri}", flush=True)
    stop = asyncio.Event()
    if args.exit_with_stdin:
        # Started by serve(mode="process"): exit when the parent closes our stdin (or dies).
        loop = asyncio.get_running_loop()

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
    except (ValueError, OSError) as exc:
        print(f"mongolet: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
