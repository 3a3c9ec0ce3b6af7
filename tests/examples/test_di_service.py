"""The dependency-injector example: tests swap the database through the container.

The container gets the suite's server through its configuration (``config.uri``), or a
server of the test's own through ``container.client.override(...)``: no mocks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from dependency_injector import providers
from pymongo import MongoClient
from pymongo.errors import InvalidOperation

import mongolet
from examples.bank.domain import Account, AsyncBankUnit, InsufficientFunds, InvalidTransfer
from examples.di_service import services
from examples.di_service.__main__ import main
from examples.di_service.containers import Container, mongo_client
from uow import NotFoundError, ReadOnlyError


@pytest.fixture
async def container(
    mongodb_uri: str, db_name: str, client: MongoClient
) -> AsyncIterator[Container]:
    """The example's container on the suite's server and a fresh database."""
    container = Container()
    container.config.uri.from_value(mongodb_uri)
    container.config.database.from_value(db_name)
    await container.init_resources()  # type: ignore[misc]
    await services.prepare_database()
    yield container
    await container.shutdown_resources()  # type: ignore[misc]
    client.drop_database(db_name)


async def test_each_injection_gets_a_new_unit_on_one_engine(container: Container) -> None:
    first = await container.unit_of_work()  # type: ignore[misc]
    second = await container.unit_of_work()  # type: ignore[misc]
    assert isinstance(first, AsyncBankUnit) and first is not second
    assert first.engine is second.engine is await container.engine()  # type: ignore[misc]


async def test_units_store_events_in_the_outbox_the_relay_delivers(
    container: Container,
) -> None:
    unit = await container.unit_of_work()  # type: ignore[misc]
    assert unit.outbox is container.outbox() and unit.outbox.collection == "outbox"
    relay = await container.relay()  # type: ignore[misc]
    assert relay is await container.relay()  # type: ignore[misc]  # one per container
    await services.open_account("alice", "Alice", 100)
    await services.open_account("bob", "Bob", 0)
    entries = [await services.transfer("alice", "bob", n) for n in (10, 20)]
    notifications = container.notifications()
    assert len(notifications) == 0  # stored, not delivered yet
    await relay.drain()
    assert [(n.transfer, n.amount) for n in notifications.received] == [
        (str(entry.id), entry.amount) for entry in entries
    ]
    assert await relay.counts() == {"pending": 0, "delivered": 6, "parked": 0}


async def test_the_query_side_gets_read_only_units(container: Container) -> None:
    reader = await container.read_unit()  # type: ignore[misc]
    assert isinstance(reader, AsyncBankUnit) and reader.read_only
    assert not (await container.unit_of_work()).read_only  # type: ignore[misc]
    async with reader:
        with pytest.raises(ReadOnlyError, match="read-only"):
            await reader.accounts.add(Account(id="mallory", owner="M", balance=10**6))
    assert await services.accounts() == []


async def test_use_cases_through_injected_units(container: Container) -> None:
    await services.open_account("alice", "Alice", 100)
    await services.open_account("bob", "Bob", 0)
    entry = await services.transfer("alice", "bob", 40)
    with pytest.raises(InsufficientFunds, match="account 'bob' has 40, cannot pay 41"):
        await services.transfer("bob", "alice", 41)
    with pytest.raises(InvalidTransfer, match="to itself"):
        await services.transfer("bob", "bob", 1)
    with pytest.raises(NotFoundError, match="'zed'"):
        await services.transfer("alice", "zed", 1)
    assert [(a.id, a.balance, a.version) for a in await services.accounts()] == [
        ("alice", 60, 1),
        ("bob", 40, 1),
    ]
    assert [t.id for t in await services.statement("alice")] == [entry.id]


async def test_concurrent_use_cases_each_have_their_own_unit(container: Container) -> None:
    await services.open_account("alice", "Alice", 100)
    await services.open_account("bob", "Bob", 0)
    # One shared unit would refuse the second task ("already active"); here each call gets
    # its own, and the write conflicts between them are run again.
    await asyncio.gather(*(services.transfer("alice", "bob", 3) for _ in range(12)))
    alice = await services.get_account("alice")
    assert (alice.balance, alice.version) == (64, 12)
    assert len(await services.statement("bob")) == 12


async def test_overriding_the_client_swaps_the_database(db_name: str) -> None:
    container = Container()  # no config.uri: the overriding client replaces the real one
    container.config.database.from_value(db_name)
    with mongolet.serve() as own, container.client.override(
        providers.Resource(mongo_client, uri=own.uri)
    ):
        await container.init_resources()  # type: ignore[misc]
        try:
            await services.open_account("carol", "Carol", 7)
            assert [a.id for a in await services.accounts()] == ["carol"]
        finally:
            await container.shutdown_resources()  # type: ignore[misc]
        with MongoClient(own.uri) as raw:
            assert raw[db_name].accounts.find_one() == {
                "_id": "carol", "owner": "Carol", "balance": 7, "version": 0,
            }


async def test_shutdown_closes_the_client(mongodb_uri: str) -> None:
    container = Container()
    container.config.uri.from_value(mongodb_uri)
    await container.init_resources()  # type: ignore[misc]
    client = await container.client()  # type: ignore[misc]
    assert (await client.admin.command("ping"))["ok"] == 1
    await container.shutdown_resources()  # type: ignore[misc]
    with pytest.raises(InvalidOperation, match="after close"):
        await client.admin.command("ping")


def test_python_m_examples_di_service(
    mongodb_uri: str, db_name: str, client: MongoClient, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        assert main(["--uri", mongodb_uri, "--database", db_name]) == 0
    finally:
        client.drop_database(db_name)
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "transferred 30 from alice to bob",
        "refused: account 'bob' has 50, cannot pay 500",
        "10 concurrent transfers of 1 from alice to bob, each in a unit of its own",
        "  alice  Alice Martin    60  (version 11)",
        "  bob    Bob Chen        60  (version 11)",
        "bob's statement: 11 transfers, 40 received",
        "11 'transfer completed' notifications delivered by the outbox relay",
        "container shut down: the client is closed",
    ]
