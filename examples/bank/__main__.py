"""``python -m examples.bank``: money transfers on the embedded server (or --uri).

A first demo with plain PyMongo: it opens accounts, runs concurrent transfers inside
transactions, and shows that the total is unchanged.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from pymongo import MongoClient
from pymongo.client_session import ClientSession

import mongolet


class InsufficientFunds(Exception):
    pass


def transfer(client: MongoClient, source: str, target: str, amount: int) -> None:
    accounts = client.bank.accounts

    def move(session: ClientSession) -> None:
        src = accounts.find_one({"_id": source}, session=session)
        if src is None or src["balance"] < amount:
            raise InsufficientFunds(f"{source} cannot pay {amount}")
        accounts.update_one({"_id": source}, {"$inc": {"balance": -amount}}, session=session)
        accounts.update_one({"_id": target}, {"$inc": {"balance": amount}}, session=session)

    with client.start_session() as session:
        session.with_transaction(move)


@contextlib.contextmanager
def database_uri(uri: str | None) -> Iterator[str]:
    if uri:
        yield uri
        return
    with mongolet.serve() as server:
        print(f"started mongolet at {server.uri}")
        yield server.uri


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.bank")
    parser.add_argument("--uri", default=os.environ.get("MONGODB_URI"),
                        help="a MongoDB replica set (default: start an embedded mongolet)")
    parser.add_argument("--transfers", type=int, default=200)
    args = parser.parse_args(argv)
    names = ["alice", "bob", "carol", "dave"]
    with database_uri(args.uri) as uri, MongoClient(uri) as client:
        client.bank.accounts.drop()
        client.bank.accounts.insert_many([{"_id": n, "balance": 100} for n in names])
        rng = random.Random(7)
        jobs = [(*rng.sample(names, 2), rng.randint(1, 60)) for _ in range(args.transfers)]
        done = refused = 0

        def run(job: tuple[str, str, int]) -> bool:
            try:
                transfer(client, *job)
            except InsufficientFunds:
                return False
            return True

        with ThreadPoolExecutor(max_workers=8) as pool:
            for ok in pool.map(run, jobs):
                done += ok
                refused += not ok
        balances = {d["_id"]: d["balance"] for d in client.bank.accounts.find()}
        total = sum(balances.values())
        print(f"{done} transfers applied, {refused} refused for insufficient funds")
        for name in names:
            print(f"  {name:<6} {balances[name]:>5}")
        print(f"  total  {total:>5} (expected {100 * len(names)})")
        return 0 if total == 100 * len(names) else 1


if __name__ == "__main__":
    sys.exit(main())
