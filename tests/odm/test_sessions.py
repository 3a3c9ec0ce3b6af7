"""Sessions and transactions on both engines, including the seed document's examples."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest
from pymongo import AsyncMongoClient, MongoClient

import mongolet
from odm import (
    AIOEngine,
    AIOSession,
    AIOTransaction,
    ObjectId,
    SessionStateError,
    SyncEngine,
    SyncSession,
    SyncTransaction,
    TransactionsNotSupportedError,
    tracking,
)
from tests.conftest import using_real_mongodb
from tests.odm.helpers import call, find, session, transaction, transaction_in
from tests.odm.models import Account, Order, Transaction, User

Engine = SyncEngine | AIOEngine


async def test_session_used_for_save_find_count(engine: Engine) -> None:
    async with session(engine) as s:
        assert isinstance(s, AIOSession | SyncSession)
        user = User(name="John", email="john@example.com")
        await call(engine.save(user, session=s))
        users = await find(engine, User, session=s)
        assert users == [user]
        assert await call(engine.count(User, session=s)) == 1
    assert not s.is_started
    with pytest.raises(SessionStateError):
        s.get_driver_session()


async def test_transaction_commits(engine: Engine) -> None:
    async with transaction(engine) as t:
        assert isinstance(t, AIOTransaction | SyncTransaction)
        user = User(name="Alice", email="alice@example.com")
        await call(engine.save(user, session=t))
        order = Order(user_id=user.id, total=99.99)
        await call(engine.save(order, session=t))
        user.model_update(total_orders=1)  # not a field: ignored, as in ODMantic
        await call(engine.save(user, session=t))
        assert await call(engine.count(User)) == 0  # not visible outside yet
    assert await call(engine.count(User)) == 1
    assert (await call(engine.find_one(Order))).user_id == user.id


async def test_transaction_rolls_back_on_exception(engine: Engine) -> None:
    await call(engine.save(User(name="Keep", email="k@example.com")))
    users: list[User] = []
    with pytest.raises(RuntimeError, match="Something went wrong"):
        async with transaction(engine) as t:
            for i in range(5):
                user = User(name=f"User {i}", email=f"user{i}@example.com")
                await call(engine.save(user, session=t))
                users.append(user)
            raise RuntimeError("Something went wrong")
    assert await call(engine.count(User)) == 1
    # the rolled-back instances are new again: saving them sends them whole
    assert all(tracking.is_new(user) for user in users)
    await call(engine.save(users[0]))
    assert await call(engine.count(User)) == 2


async def money_transfer(engine: Engine, from_id: ObjectId, to_id: ObjectId, amount: float) -> None:
    """The seed's multi-collection transfer, written once for both engines."""
    async with transaction(engine) as txn:
        from_account = await call(engine.find_one(Account, Account.user_id == from_id, session=txn))
        if not from_account or from_account.balance < amount:
            raise ValueError("Insufficient funds")
        to_account = await call(engine.find_one(Account, Account.user_id == to_id, session=txn))
        if not to_account:
            raise ValueError("Destination account not found")
        from_account.model_update(balance=from_account.balance - amount)
        to_account.model_update(balance=to_account.balance + amount)
        await call(engine.save(from_account, session=txn))
        await call(engine.save(to_account, session=txn))
        record = Transaction(
            from_account=from_id,
            to_account=to_id,
            amount=amount,
            timestamp=datetime.datetime.utcnow(),
        )
        await call(engine.save(record, session=txn))


async def test_money_transfer(engine: Engine) -> None:
    alice, bob = ObjectId(), ObjectId()
    await call(engine.save_all([Account(user_id=alice, balance=100), Account(user_id=bob, balance=5)]))

    await money_transfer(engine, alice, bob, 30)
    balances = {a.user_id: a.balance for a in await find(engine, Account)}
    assert balances == {alice: 70, bob: 35}
    assert await call(engine.count(Transaction)) == 1

    with pytest.raises(ValueError, match="Insufficient funds"):
        await money_transfer(engine, bob, alice, 1000)
    with pytest.raises(ValueError, match="Destination account not found"):
        await money_transfer(engine, alice, ObjectId(), 1)
    balances = {a.user_id: a.balance for a in await find(engine, Account)}
    assert balances == {alice: 70, bob: 35}
    assert await call(engine.count(Transaction)) == 1


async def test_session_and_transaction_methods(engine: Engine) -> None:
    async with session(engine) as s:
        user = await call(s.save(User(name="a", email="a@x")))
        await call(s.save_all([User(name="b", email="b@x")]))
        assert await call(s.count(User)) == 2
        assert [u.name for u in await find(s, User, sort=User.name)] == ["a", "b"]
        assert await call(s.find_one(User, User.name == "b")) is not None
        await call(s.delete(user))
        assert await call(s.remove(User, User.name == "b")) == 1
    async with transaction(engine) as t:
        await call(t.save(User(name="c", email="c@x")))
    assert await call(engine.count(User)) == 1


async def test_transactions_inside_a_session(engine: Engine) -> None:
    async with session(engine) as s:
        driver_session = s.get_driver_session()
        async with transaction_in(s) as t:
            assert isinstance(t, AIOTransaction | SyncTransaction)
            assert t.get_driver_session() is driver_session
            await call(t.save(User(name="a", email="a@x")))
            assert await call(engine.count(User)) == 0
        assert s.is_started and not t.is_started
        assert await call(engine.count(User, session=s)) == 1

        kept, through_session = User(name="b", email="b@x"), User(name="c", email="c@x")
        with pytest.raises(ValueError, match="no"):
            async with transaction_in(s) as t:
                await call(t.save(kept))
                # Writes through the session itself belong to its transaction too.
                await call(engine.save(through_session, session=s))
                raise ValueError("no")
        # Rolled back: a later save sends them whole.
        assert tracking.is_new(kept) and tracking.is_new(through_session)
        assert s.is_started
        assert await call(engine.count(User, session=s)) == 1

        async with transaction_in(s) as t:  # the session can run another one
            await call(t.save(kept))
    assert await call(engine.count(User)) == 2


async def test_transaction_in_a_session_that_is_not_started(engine: Engine) -> None:
    s = engine.session()
    with pytest.raises(SessionStateError, match="not started"):
        async with transaction_in(s):
            pytest.fail("the block must not run")


async def test_raw_driver_session_is_accepted(engine: Engine) -> None:
    async with transaction(engine) as t:
        raw = t.get_driver_session()
        await call(engine.save(User(name="raw", email="r@x"), session=raw))
        assert await call(engine.count(User, session=raw)) == 1
    assert await call(engine.count(User)) == 1


def test_sync_explicit_start_commit_abort_end(sync_engine: SyncEngine) -> None:
    txn = sync_engine.transaction().start()
    sync_engine.save(User(name="a", email="a@x"), session=txn)
    txn.abort()
    txn.end()
    assert sync_engine.count(User) == 0

    txn = sync_engine.transaction().start()
    sync_engine.save(User(name="b", email="b@x"), session=txn)
    txn.commit()
    with pytest.raises(SessionStateError, match="no transaction"):
        txn.commit()
    txn.end()
    assert sync_engine.count(User) == 1

    s = sync_engine.session().start()
    with pytest.raises(SessionStateError, match="already started"):
        s.start()
    s.end()


async def test_async_explicit_start_commit_abort_end(aio_engine: AIOEngine) -> None:
    txn = await aio_engine.transaction().start()
    await aio_engine.save(User(name="a", email="a@x"), session=txn)
    await txn.abort()
    await txn.end()
    assert await aio_engine.count(User) == 0

    txn = await aio_engine.transaction().start()
    await txn.save(User(name="b", email="b@x"))
    await txn.commit()
    await txn.end()
    assert await aio_engine.count(User) == 1
    with pytest.raises(SessionStateError, match="no transaction"):
        await txn.abort()


async def test_explicit_commit_inside_block_is_not_repeated(engine: Engine) -> None:
    async with transaction(engine) as t:
        await call(engine.save(User(name="a", email="a@x"), session=t))
        await call(t.commit())
    assert await call(engine.count(User)) == 1


@pytest.fixture(scope="module")
def standalone_uri() -> Iterator[str]:
    """A server that presents itself as a standalone mongod (no replica set name)."""
    if using_real_mongodb():
        pytest.skip("needs a standalone server; the suite runs against MONGODB_URI")
    with mongolet.serve(replica_set="") as server:
        yield server.uri


def test_sync_transaction_on_a_standalone_server_is_refused(standalone_uri: str) -> None:
    with MongoClient(standalone_uri) as standalone:
        engine = SyncEngine(standalone, database="standalone_check")
        with (
            pytest.raises(TransactionsNotSupportedError, match="replica set"),
            engine.transaction(),
        ):
            pytest.fail("the block must not run")
        with engine.session() as s:  # plain sessions still work
            assert engine.count(User, session=s) == 0


async def test_async_transaction_on_a_standalone_server_is_refused(standalone_uri: str) -> None:
    standalone: AsyncMongoClient = AsyncMongoClient(standalone_uri)
    try:
        engine = AIOEngine(standalone, database="standalone_check")
        with pytest.raises(TransactionsNotSupportedError):
            async with engine.transaction():
                pytest.fail("the block must not run")
    finally:
        await standalone.close()


# ODMantic's state rules: misuse is a RuntimeError (odm's SessionStateError subclasses it).


async def test_session_started_twice_or_ended_unstarted_raises(engine: Engine) -> None:
    s = engine.session()
    with pytest.raises(RuntimeError, match="not started"):
        await call(s.end())
    await call(s.start())
    with pytest.raises(RuntimeError, match="already started"):
        await call(s.start())
    await call(s.end())
    with pytest.raises(RuntimeError, match="not started"):
        await call(s.end())


async def test_transaction_of_an_unstarted_session_is_refused_at_once(engine: Engine) -> None:
    with pytest.raises(RuntimeError, match="not started"):
        engine.session().transaction()


async def test_operations_after_a_session_ended_raise(engine: Engine) -> None:
    async with session(engine) as s:
        await call(s.save(User(name="a", email="a@x")))
    with pytest.raises(RuntimeError, match="not started"):
        await call(s.save(User(name="b", email="b@x")))
    with pytest.raises(RuntimeError, match="not started"):
        await find(s, User)
    with pytest.raises(RuntimeError, match="not started"):
        await call(engine.count(User, session=s))
    assert await call(engine.count(User)) == 1


@pytest.mark.parametrize("outcome", ["commit", "abort"])
async def test_transaction_is_unusable_after_commit_or_abort(engine: Engine, outcome: str) -> None:
    t = engine.transaction()
    await call(t.start())
    await call(t.save(User(name="in", email="in@x")))
    await call(getattr(t, outcome)())
    late = User(name="late", email="late@x")
    with pytest.raises(RuntimeError, match=f"was {outcome}"):
        await call(t.save(late))
    with pytest.raises(RuntimeError, match=f"was {outcome}"):
        await call(engine.save(late, session=t))
    with pytest.raises(RuntimeError, match=f"was {outcome}"):
        await find(engine, User, session=t)
    with pytest.raises(RuntimeError, match="no transaction"):
        await call(t.commit())
    with pytest.raises(RuntimeError, match=f"was {outcome}"):
        await call(t.start())
    # Nothing was written outside the transaction; its own session has ended, as in ODMantic.
    assert [u.name for u in await find(engine, User)] == (["in"] if outcome == "commit" else [])
    assert not t.session.is_started


async def test_transaction_exposes_its_session(engine: Engine) -> None:
    async with transaction(engine) as t:
        assert isinstance(t.session, AIOSession | SyncSession)
        assert not isinstance(t.session, AIOTransaction | SyncTransaction)
        assert t.session.get_driver_session() is t.get_driver_session()
        await call(t.session.save(User(name="via session", email="v@x")))
        assert await call(engine.count(User)) == 0  # inside the transaction
    assert await call(engine.count(User)) == 1
    async with session(engine) as s:
        async with transaction_in(s) as inner:
            assert inner.session is s
        assert s.is_started


async def test_manual_commit_in_a_session_keeps_the_session(engine: Engine) -> None:
    async with session(engine) as s:
        t = s.transaction()
        await call(t.start())
        await call(t.save(User(name="a", email="a@x")))
        await call(t.commit())
        assert s.is_started
        with pytest.raises(RuntimeError, match="was commit"):
            await call(t.save(User(name="b", email="b@x")))
        assert await call(s.count(User)) == 1


async def test_ending_a_session_aborts_its_running_transaction(engine: Engine) -> None:
    s = engine.session()
    await call(s.start())
    t = s.transaction()
    await call(t.start())
    user = User(name="a", email="a@x")
    await call(t.save(user))
    await call(s.end())
    assert tracking.is_new(user)
    with pytest.raises(RuntimeError, match="was aborted"):
        await call(t.save(user))
    assert await call(engine.count(User)) == 0


async def test_transaction_built_from_a_session_as_in_odmantic(engine: Engine) -> None:
    kind = AIOTransaction if isinstance(engine, AIOEngine) else SyncTransaction
    async with session(engine) as s:
        t = kind(s)
        assert t.session is s and t.engine is engine
        await call(t.start())
        await call(t.save(User(name="a", email="a@x")))
        await call(t.commit())
        assert s.is_started
    with pytest.raises(RuntimeError, match="not started"):
        kind(engine.session())
    assert await call(engine.count(User)) == 1
