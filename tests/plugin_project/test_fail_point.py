"""``pytest_odm_uow.fail_point`` on a mongolet with test commands: the next N commands fail
as asked, the fail point is off after the block, and a unit of work retries through it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient, MongoClient
from pymongo.errors import AutoReconnect, OperationFailure

import odm
from pytest_odm_uow import fail_point
from repositories import AsyncRepository, Repository
from tests.conftest import MongoletVersions
from uow import AsyncUnitOfWork, UnitOfWork


class Account(odm.Model):
    owner: str
    balance: int
    model_config = odm.ODMConfigDict(collection="accounts")


class Bank(UnitOfWork):
    accounts: Repository[Account]


class AsyncBank(AsyncUnitOfWork):
    accounts: AsyncRepository[Account]


@pytest.fixture
def test_client(mongolet_versions: MongoletVersions) -> Iterator[MongoClient[dict[str, Any]]]:
    """A client of a mongolet with test commands enabled (the suite's server has none)."""
    with MongoClient(mongolet_versions.uri("8.0")) as client:
        yield client
        client.drop_database("fail_points")


@pytest.fixture
async def test_aclient(
    mongolet_versions: MongoletVersions,
) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongolet_versions.uri("8.0"))
    yield client
    await client.drop_database("fail_points")
    await client.close()


def test_the_next_n_commands_fail_with_the_code_and_labels_then_it_is_off(
    test_client: MongoClient[dict[str, Any]],
) -> None:
    things = test_client.fail_points.things
    with fail_point(test_client, "insert", error_code=2, labels=["Mine"], times=2):
        for _ in range(2):
            with pytest.raises(OperationFailure) as failed:
                things.insert_one({})
            assert failed.value.code == 2 and failed.value.has_error_label("Mine")
        things.insert_one({"third": True})  # times=2: the third runs
    assert things.count_documents({}) == 1


def test_it_is_switched_off_when_the_block_raises(test_client: MongoClient[dict[str, Any]]) -> None:
    with pytest.raises(RuntimeError), fail_point(test_client, "insert", error_code=2, times=None):
        raise RuntimeError("the test's own error")
    test_client.fail_points.things.insert_one({})  # not failed


def test_close_connection_is_a_network_error(test_client: MongoClient[dict[str, Any]]) -> None:
    with fail_point(test_client, "ping", close_connection=True), pytest.raises(AutoReconnect):
        test_client.admin.command("ping")
    assert test_client.admin.command("ping")["ok"] == 1


def test_a_unit_of_work_retries_a_transient_commit_failure(
    test_client: MongoClient[dict[str, Any]],
) -> None:
    engine = odm.SyncEngine(test_client, database="fail_points")
    alice = Account(owner="alice", balance=10)
    with Bank(engine) as unit:
        unit.accounts.add(alice)
    attempts: list[int] = []

    def deposit(unit: Bank) -> None:
        attempts.append(1)
        unit.accounts.get(alice.id).balance += 5

    with fail_point(test_client, "commitTransaction", error_code=112,
                    labels=["TransientTransactionError"]):
        Bank(engine).run(deposit)
    assert len(attempts) == 2  # the first commit failed, the unit ran again
    stored = engine.find_one(Account, Account.id == alice.id)
    assert stored is not None and stored.balance == 15  # applied once


async def test_the_async_twin(test_aclient: AsyncMongoClient[dict[str, Any]]) -> None:
    engine = odm.AIOEngine(test_aclient, database="fail_points")
    alice = Account(owner="alice", balance=10)
    async with AsyncBank(engine) as unit:
        await unit.accounts.add(alice)
    attempts: list[int] = []

    async def deposit(unit: AsyncBank) -> None:
        attempts.append(1)
        (await unit.accounts.get(alice.id)).balance += 5

    async with fail_point(test_aclient, "commitTransaction", error_code=112,
                          labels=["TransientTransactionError"]):
        await AsyncBank(engine).run(deposit)
    assert len(attempts) == 2
    stored = await engine.find_one(Account, Account.id == alice.id)
    assert stored is not None and stored.balance == 15
    async with fail_point(test_aclient, "insert", error_code=2):
        with pytest.raises(OperationFailure):
            await test_aclient.fail_points.things.insert_one({})


def test_a_fail_point_that_does_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="what should the command do"):
        fail_point(None, "insert")
    with pytest.raises(ValueError, match="times must be at least 1"):
        fail_point(None, "insert", error_code=2, times=0)
