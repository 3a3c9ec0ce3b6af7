"""The unit's error contract on both twins: lost races, the error hierarchy, twin pairing,
ids as users pass them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient, MongoClient
from pymongo.errors import OperationFailure

import odm
from repositories import Repository
from tests.servers import server_uri
from tests.uow.conftest import Twin, call, entered
from tests.uow.models import Account, AsyncBankUnit, BankUnit, Transfer
from uow import (
    AsyncUnitOfWork,
    ConcurrencyError,
    InvalidUsageError,
    NotFoundError,
    TransactionsNotSupported,
    TransactionsNotSupportedError,
    UnitOfWork,
    UnitOfWorkClosed,
    UnitOfWorkClosedError,
    UnitOfWorkError,
    UnknownRepositoryError,
)

TRANSIENT = "TransientTransactionError"


def _assert_write_conflict(error: ConcurrencyError, account: Account) -> None:
    assert not isinstance(error, InvalidUsageError)
    assert error.model is Account and error.collection == "accounts"
    assert error.ids == [account.id] and error.expected_versions == {account.id: 0}
    assert error.has_error_label(TRANSIENT)
    cause = error.__cause__
    assert isinstance(cause, OperationFailure) and cause.code == 112
    assert cause.has_error_label(TRANSIENT)
    assert "WriteConflict" in str(error)


async def _commit_a_deposit(twin: Twin, account: Account, amount: int) -> None:
    """Another unit loads ``account``, deposits and commits."""
    async with entered(twin.unit()) as other:
        (await call(other.accounts.get(account.id))).deposit(amount)


@pytest.mark.parametrize("where", ["commit", "flush", "query"])
async def test_the_loser_of_two_interleaved_units_gets_concurrency_error(
    twin: Twin, where: str
) -> None:
    alice = Account(owner="alice", balance=10)
    await twin.save(alice)
    with pytest.raises(ConcurrencyError) as raised:
        try:
            async with entered(twin.unit()) as loser:
                mine = await call(loser.accounts.get(alice.id))  # its snapshot starts here
                await _commit_a_deposit(twin, alice, 5)  # the winner commits first
                mine.withdraw(3)
                await call(loser.transfers.add(Transfer(source=alice.id, target=alice.id,
                                                        amount=3)))
                if where == "flush":
                    await call(loser.flush())
                elif where == "query":
                    await call(loser.accounts.count())  # queries flush first
        except InvalidUsageError:  # the misuse branch never catches a lost race
            pytest.fail("InvalidUsageError caught a ConcurrencyError")
    _assert_write_conflict(raised.value, alice)
    assert isinstance(raised.value, UnitOfWorkError)
    stored = await twin.reload(alice)
    assert (stored.balance, stored.version) == (15, 1)  # the winner's write only
    assert await twin.count(Transfer) == 0  # nothing of the loser


async def test_run_retries_a_lost_race_and_succeeds(twin: Twin) -> None:
    alice = Account(owner="alice", balance=10)
    await twin.save(alice)
    attempts: list[int] = []

    async def body(uow: Any) -> int:
        attempts.append(1)
        mine = await call(uow.accounts.get(alice.id))
        if len(attempts) == 1:
            await _commit_a_deposit(twin, alice, 5)
        mine.withdraw(3)
        return int(mine.balance)

    if twin.flavour == "async":
        result = await twin.unit().run(body)
    else:
        result = twin.unit().run(lambda uow: _sync(body(uow)))
    assert len(attempts) == 2
    assert result == 12
    stored = await twin.reload(alice)
    assert (stored.balance, stored.version) == (12, 2)


def _sync(coroutine: Any) -> Any:
    """A test body written as a coroutine, run from the sync unit (a sync unit's calls never
    suspend; the winner's unit is sync too)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("a sync unit's body must not suspend")


# ---------------------------------------------------------------- a conflict at commit


@pytest.fixture(scope="module")
def fault_uri() -> Iterator[str]:
    """A server with test commands (fail points): MONGODB_URI's, or a mongolet of its own."""
    with server_uri(enable_test_commands=True) as uri:
        yield uri


def _fail_next_commit(uri: str, database: str) -> MongoClient:
    admin: MongoClient = MongoClient(uri)
    admin.admin.command({
        "configureFailPoint": "failCommand",
        "mode": {"times": 1},
        "data": {"failCommands": ["commitTransaction"], "errorCode": 112,
                 "errorLabels": [TRANSIENT]},
    })
    return admin


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_write_conflict_at_commit_is_a_concurrency_error(
    fault_uri: str, db_name: str, flavour: str
) -> None:
    if flavour == "sync":
        client: Any = MongoClient(fault_uri)
        unit: Any = BankUnit(odm.SyncEngine(client, database=db_name))
    else:
        client = AsyncMongoClient(fault_uri)
        unit = AsyncBankUnit(odm.AIOEngine(client, database=db_name))
    admin = _fail_next_commit(fault_uri, db_name)
    try:
        alice = Account(owner="alice", balance=10)
        with pytest.raises(ConcurrencyError) as raised:
            async with entered(unit) as uow:
                await call(uow.accounts.add(alice))
        assert raised.value.model is None and raised.value.ids == []
        assert raised.value.has_error_label(TRANSIENT)
        assert isinstance(raised.value.__cause__, OperationFailure)
        assert admin[db_name]["accounts"].count_documents({}) == 0

        _fail_next_commit(fault_uri, db_name)

        async def body(uow: Any) -> None:
            await call(uow.accounts.add(Account(owner="bob", balance=1)))

        if flavour == "sync":
            unit.run(lambda uow: _sync(body(uow)))
        else:
            await unit.run(body)
        assert [d["owner"] for d in admin[db_name]["accounts"].find()] == ["bob"]
    finally:
        admin.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
        admin.drop_database(db_name)
        admin.close()
        if flavour == "sync":
            client.close()
        else:
            await client.close()


# ---------------------------------------------------------------- the hierarchy


def test_misuse_and_conflicts_are_separate_branches() -> None:
    for misuse in (UnitOfWorkClosedError, UnknownRepositoryError):
        assert issubclass(misuse, InvalidUsageError) and issubclass(misuse, UnitOfWorkError)
    assert not issubclass(ConcurrencyError, InvalidUsageError)
    assert issubclass(ConcurrencyError, UnitOfWorkError)
    assert issubclass(NotFoundError, UnitOfWorkError)
    assert issubclass(NotFoundError, odm.DocumentNotFoundError)
    assert not issubclass(NotFoundError, InvalidUsageError)
    assert UnitOfWorkClosed is UnitOfWorkClosedError  # the old names stay
    assert TransactionsNotSupported is TransactionsNotSupportedError
    assert issubclass(UnknownRepositoryError, AttributeError)


def _documented_attributes(cls: type) -> set[str]:
    section = (cls.__doc__ or "").split("Attributes:")[-1]
    return set(re.findall(r"^\s*- ``(\w+)``", section, re.MULTILINE))


def test_concurrency_error_documents_the_attributes_it_has() -> None:
    documented = _documented_attributes(ConcurrencyError)
    assert documented == {"model", "collection", "ids", "expected_versions", "error_labels"}
    error = ConcurrencyError(Account, [1], [0])
    assert {name for name in documented if hasattr(error, name)} == documented
    assert error.expected_versions == {1: 0} and not error.has_error_label(TRANSIENT)


async def test_misuse_errors_are_invalid_usage(twin: Twin) -> None:
    unit = twin.unit()
    with pytest.raises(InvalidUsageError, match="not active"):
        await call(unit.accounts.get_or_none(1))
    unit.close()
    with pytest.raises(InvalidUsageError, match="closed"):
        async with entered(unit):
            pass


# ---------------------------------------------------------------- twins paired


def test_each_wrong_pairing_of_twins_fails_at_construction() -> None:
    sync_client: MongoClient = MongoClient(connect=False)
    async_client: AsyncMongoClient = AsyncMongoClient(connect=False)
    sync_engine, async_engine = odm.SyncEngine(sync_client), odm.AIOEngine(async_client)
    with pytest.raises(TypeError, match=r"UnitOfWork needs an odm\.SyncEngine, got AIOEngine; "
                                        r"an odm\.AIOEngine goes with AsyncUnitOfWork"):
        UnitOfWork(async_engine)
    with pytest.raises(TypeError, match=r"BankUnit needs an odm\.SyncEngine, got AIOEngine"):
        BankUnit(async_engine)
    with pytest.raises(TypeError, match=r"AsyncBankUnit needs an odm\.AIOEngine, got "
                                        r"SyncEngine; an odm\.SyncEngine goes with UnitOfWork"):
        AsyncBankUnit(sync_engine)
    with pytest.raises(TypeError, match=r"needs an odm\.AIOEngine, got MongoClient"):
        AsyncUnitOfWork(sync_client)
    with pytest.raises(TypeError, match=r"SyncEngine needs a pymongo\.MongoClient, got "
                                        r"AsyncMongoClient; an asynchronous client goes with "
                                        r"odm\.AIOEngine"):
        odm.SyncEngine(async_client)
    with pytest.raises(TypeError, match=r"AIOEngine needs a pymongo\.AsyncMongoClient \(or a "
                                        r"Motor client\), got MongoClient; a MongoClient goes "
                                        r"with odm\.SyncEngine"):
        odm.AIOEngine(sync_client)
    with pytest.raises(TypeError, match="Repository is not an AsyncRepository"):
        class Mixed(AsyncUnitOfWork):
            accounts: Repository[Account]

        Mixed(async_engine)
    sync_client.close()


def test_a_motor_client_goes_with_the_async_engine() -> None:
    from motor.motor_asyncio import AsyncIOMotorClient

    motor_client: AsyncIOMotorClient = AsyncIOMotorClient(connect=False)
    AsyncBankUnit(odm.AIOEngine(motor_client))
    with pytest.raises(TypeError, match=r"an asynchronous client goes with odm\.AIOEngine"):
        odm.SyncEngine(motor_client)
    motor_client.close()


# ---------------------------------------------------------------- ids as users pass them


async def test_ids_as_strings_find_their_documents(twin: Twin) -> None:
    alice, bob = Account(owner="alice", balance=1), Account(owner="bob", balance=2)
    await twin.save(alice, bob)
    async with entered(twin.unit()) as uow:
        by_string = await call(uow.accounts.get(str(alice.id)))  # a FastAPI path parameter
        assert by_string.owner == "alice" and by_string.id == alice.id
        assert await call(uow.accounts.get(alice.id)) is by_string  # one object per document
        assert (await call(uow.accounts.get_or_none(str(bob.id)))).owner == "bob"
        both = await call(uow.accounts.get_many([str(bob.id), alice.id]))
        assert [a.owner for a in both] == ["bob", "alice"]
    # The engines' lookups too.
    found = await call(twin.engine.find_one(Account, Account.id == str(alice.id)))
    assert found is not None and found.owner == "alice"
    assert await twin.count(Account, Account.id.in_([str(alice.id), str(bob.id)])) == 2
    assert await twin.count(Account, Account.id != str(alice.id)) == 1


@pytest.mark.parametrize(
    "bad", ["not-hex", "65a1", {"$ne": None}, {"$gt": ""}, 12, re.compile(".*")]
)
async def test_an_id_that_cannot_be_valid_is_not_found_and_never_queried(
    twin: Twin, bad: Any
) -> None:
    await twin.save(Account(owner="alice", balance=1))
    twin.recorder.clear()
    async with entered(twin.unit()) as uow:
        with pytest.raises(NotFoundError) as missing:
            await call(uow.accounts.get(bad))
        assert missing.value.id == bad  # named as given
        assert await call(uow.accounts.get_or_none(bad)) is None
        with pytest.raises(NotFoundError):
            await call(uow.accounts.get_many([bad]))
    assert twin.recorder.named("find") == []  # nothing sent: no operator reaches the server
    assert await call(twin.engine.find_one(Account, Account.id == bad)) is None


async def test_a_string_primary_field_validates_its_own_way(twin: Twin) -> None:
    class Code(odm.Model):
        id: str = odm.Field(primary_field=True, pattern=r"^[a-z]{3}$")
        label: str

        model_config = {"collection": "codes"}

    await twin.save(Code(id="abc", label="first"))
    unit_class = UnitOfWork if twin.flavour == "sync" else AsyncUnitOfWork
    unit = unit_class(twin.engine, repositories={"codes": Code})
    async with entered(unit) as uow:
        assert (await call(uow.codes.get("abc"))).label == "first"
        assert await call(uow.codes.get_or_none("ABC")) is None  # refused by the pattern
        assert await call(uow.codes.get_or_none(ObjectId())) is None
