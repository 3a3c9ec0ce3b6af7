"""``python -m examples.di_service``: the bank's async services, wired with dependency-injector.

A short scenario: open two accounts, transfer, get one transfer refused, run ten transfers at
once (each gets its own unit of work from the container), print the balances and a statement
and how many "transfer completed" notifications the outbox relay (a task) delivered, then shut
the container down, which closes the client.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

import mongolet
from examples.bank.domain import MODELS, InsufficientFunds
from examples.di_service import services
from examples.di_service.containers import Container


async def scenario(container: Container) -> None:
    await container.init_resources()  # type: ignore[misc]  # the client is an async resource
    try:
        engine = await container.engine()  # type: ignore[misc]
        for model in MODELS:  # start from empty collections
            await engine.get_collection(model).drop()
        await engine.database.drop_collection(container.config.outbox())
        await services.prepare_database()
        relay = await container.relay()  # type: ignore[misc]
        relaying = asyncio.create_task(relay.run())  # delivers while the services commit

        await services.open_account("alice", "Alice Martin", 100)
        await services.open_account("bob", "Bob Chen", 20)
        entry = await services.transfer("alice", "bob", 30)
        print(f"transferred {entry.amount} from {entry.source} to {entry.target}")
        try:
            await services.transfer("bob", "alice", 500)
        except InsufficientFunds as refused:
            print(f"refused: {refused}")
        await asyncio.gather(*(services.transfer("alice", "bob", 1) for _ in range(10)))
        print("10 concurrent transfers of 1 from alice to bob, each in a unit of its own")

        for account in await services.accounts():
            print(f"  {account.id:<6} {account.owner:<13} {account.balance:>4}"
                  f"  (version {account.version})")
        lines = await services.statement("bob")
        print(f"bob's statement: {len(lines)} transfers, {sum(t.amount for t in lines)} received")
        relay.stop()
        await relaying
        await relay.drain()
        notifications = container.notifications()
        print(f"{len(notifications)} 'transfer completed' notifications delivered by the outbox "
              "relay")
    finally:
        await container.shutdown_resources()  # type: ignore[misc]
        print("container shut down: the client is closed")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.di_service")
    parser.add_argument("--uri", default=os.environ.get("MONGODB_URI"),
                        help="a MongoDB replica set (default: $MONGODB_URI, else an embedded "
                        "mongolet)")
    parser.add_argument("--database", default="di_service_example",
                        help="its accounts and transfers are reset (default: %(default)s)")
    args = parser.parse_args(argv)

    container = Container()
    container.config.database.from_value(args.database)
    if args.uri:
        container.config.uri.from_value(args.uri)
        asyncio.run(scenario(container))
        return 0
    with mongolet.serve() as server:
        print(f"started mongolet at {server.uri}")
        container.config.uri.from_value(server.uri)
        asyncio.run(scenario(container))
    return 0


if __name__ == "__main__":
    sys.exit(main())
