"""A user's tests on the pytest_odm_uow plugin alone: its fixtures and fail_point, on the
mongolet it starts (pytest-asyncio in its default strict mode)."""

from __future__ import annotations

import pytest
from pymongo.errors import AutoReconnect, OperationFailure

import odm
from pytest_odm_uow import fail_point
from repositories import AsyncRepository, Repository
from uow import AsyncUnitOfWork, UnitOfWork


class Account(odm.Model):
    owner: str
    balance: int
    model_config = odm.ODMConfigDict(collection="accounts")


class Bank(UnitOfWork):
    accounts: Repository[Account]


class AsyncBank(AsyncUnitOfWork):
    accounts: AsyncRepository[Account]


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_a_fresh_database(mongodb_db, run):
    assert mongodb_db.list_collection_names() == []
    mongodb_db.things.insert_one({"run": run})


def test_the_server_is_mongolet(mongodb_server, mongodb_uri):
    assert mongodb_server.is_mongolet and mongodb_server.uri == mongodb_uri


def test_a_unit_retries_a_failed_commit(mongodb_client, odm_engine, uow_factory):
    alice = Account(owner="alice", balance=10)
    with uow_factory(Bank) as uow:
        uow.accounts.add(alice)
    attempts = []

    def deposit(uow):
        attempts.append(1)
        uow.accounts.get(alice.id).balance += 5

    with fail_point(mongodb_client, "commitTransaction", error_code=112,
                    labels=["TransientTransactionError"]):
        uow_factory(Bank).run(deposit)
    assert len(attempts) == 2
    assert odm_engine.find_one(Account, Account.id == alice.id).balance == 15


@pytest.mark.asyncio
async def test_the_async_twin(mongodb_aclient, mongodb_adb, odm_aengine, auow_factory):
    async with auow_factory(AsyncBank) as uow:
        await uow.accounts.add(Account(owner="bob", balance=1))
    assert await mongodb_adb.accounts.count_documents({}) == 1
    async with fail_point(mongodb_aclient, "insert", error_code=2):
        with pytest.raises(OperationFailure):
            await odm_aengine.save(Account(owner="carol", balance=0))
    assert await odm_aengine.count(Account) == 1


def test_a_dropped_connection(mongodb_client):
    with fail_point(mongodb_client, "ping", close_connection=True), \
            pytest.raises(AutoReconnect):
        mongodb_client.admin.command("ping")


@pytest.mark.mongodb_transactions
def test_runs_where_there_are_transactions(mongodb_client):
    with mongodb_client.start_session() as session, session.start_transaction():
        mongodb_client.t.things.insert_one({}, session=session)


@pytest.mark.mongodb_real
def test_needs_a_real_mongodb():
    pytest.fail("skipped on mongolet")
