"""Reads at scale on both twins: untracked queries, streams, expunge, read-only units and
projections."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

import odm
from tests.uow.conftest import Twin, call, entered
from tests.uow.models import Account
from uow import InvalidUsageError, ReadOnlyError


async def collect(items: Any, stop_after: int | None = None) -> list[Any]:
    """Every item of a sync or async stream (or the first ``stop_after``)."""
    found: list[Any] = []
    if hasattr(items, "__aiter__"):
        async for item in items:
            found.append(item)
            if stop_after is not None and len(found) == stop_after:
                await items.aclose()
                break
    else:
        for item in items:
            found.append(item)
            if stop_after is not None and len(found) == stop_after:
                items.close()
                break
    return found


async def _accounts(twin: Twin, count: int) -> list[Account]:
    accounts = [Account(owner=f"o{i:03}", balance=i) for i in range(count)]
    await twin.save(*accounts)
    return accounts


def _tracked(unit: Any) -> int:
    return len(unit._core.identity_map)


# ---------------------------------------------------------------- untracked queries


async def test_an_untracked_model_changed_and_never_attached_is_not_written(twin: Twin) -> None:
    (alice,) = await _accounts(twin, 1)
    async with entered(twin.unit()) as uow:
        (plain,) = await call(uow.accounts.find(track=False))
        tracked = await call(uow.accounts.get(alice.id))
        assert plain is not tracked and _tracked(uow) == 1  # only the get's model
        plain.balance = 999
        again = await call(uow.accounts.find_one(Account.id == alice.id, track=False))
        assert again is not plain and again.balance == 0
    assert (await twin.reload(alice)).balance == 0
    async with entered(twin.unit()) as uow:  # attach: its changes since loaded, guarded
        await call(uow.accounts.attach(plain))
    stored = await twin.reload(alice)
    assert (stored.balance, stored.version) == (999, 1)


# ---------------------------------------------------------------- streams


async def test_an_untracked_stream_reads_in_batches_and_keeps_nothing(twin: Twin) -> None:
    await _accounts(twin, 25)
    twin.recorder.clear()
    async with entered(twin.unit()) as uow:
        streamed = uow.accounts.stream(sort=Account.owner, batch_size=10, track=False)
        owners = [a.owner for a in await collect(streamed)]
        assert _tracked(uow) == 0
    assert owners == [f"o{i:03}" for i in range(25)]
    (find,) = twin.recorder.named("find")
    assert find["batchSize"] == 10
    assert [g["batchSize"] for g in twin.recorder.named("getMore")] == [10, 10]


async def test_a_stream_left_early_closes_its_cursor(twin: Twin) -> None:
    await _accounts(twin, 30)
    twin.recorder.clear()
    async with entered(twin.unit()) as uow:
        first = await collect(uow.accounts.stream(batch_size=5, track=False), stop_after=7)
        assert len(first) == 7
        assert len(twin.recorder.named("killCursors")) == 1
        assert await call(uow.accounts.count()) == 30  # the unit goes on


async def test_a_tracked_stream_changed_in_chunks_with_expunge(twin: Twin) -> None:
    await _accounts(twin, 24)
    peak = 0

    async def handle(uow: Any, account: Account, chunk: list[Account]) -> None:
        nonlocal peak
        account.balance += 100
        chunk.append(account)
        peak = max(peak, _tracked(uow))
        if len(chunk) == 8:  # a chunk done: send it, then let the unit forget it
            await call(uow.flush())
            for done in chunk:
                await call(uow.accounts.expunge(done))
            chunk.clear()

    async with entered(twin.unit()) as uow:
        chunk: list[Account] = []
        stream = uow.accounts.stream(sort=Account.owner, batch_size=8)
        if hasattr(stream, "__aiter__"):
            async for account in stream:
                await handle(uow, account, chunk)
        else:
            for account in stream:
                await handle(uow, account, chunk)
        assert _tracked(uow) == 0
    assert peak == 8  # never more than a chunk tracked
    assert sorted(a.balance for a in await call(twin.engine.find(Account))) == [
        i + 100 for i in range(24)
    ]


async def test_expunge_refuses_what_would_be_lost(twin: Twin) -> None:
    alice, _ = await _accounts(twin, 2)
    async with entered(twin.unit()) as uow:
        a = await call(uow.accounts.get(alice.id))
        a.balance = 5
        with pytest.raises(InvalidUsageError, match="not flushed yet"):
            await call(uow.accounts.expunge(a))
        new = Account(owner="new", balance=0)
        await call(uow.accounts.add(new))
        with pytest.raises(InvalidUsageError, match="not flushed yet"):
            await call(uow.accounts.expunge(new))
        with pytest.raises(InvalidUsageError, match="not flushed yet"):
            uow.expunge_all()
        assert _tracked(uow) == 2  # all or nothing
        await call(uow.flush())
        uow.expunge_all()
        assert _tracked(uow) == 0
        with pytest.raises(InvalidUsageError, match="does not track"):
            await call(uow.accounts.expunge(a))
        assert await call(uow.accounts.get(alice.id)) is not a  # loaded afresh
    assert (await twin.reload(alice)).balance == 5


# ---------------------------------------------------------------- read-only units


async def test_a_read_only_unit_sees_one_snapshot(twin: Twin) -> None:
    (alice,) = await _accounts(twin, 1)
    twin.recorder.clear()
    async with entered(twin.unit(read_only=True)) as reader:
        assert reader.read_only
        assert await call(reader.accounts.count()) == 1
        async with entered(twin.unit()) as writer:  # commits between the reader's queries
            (await call(writer.accounts.get(alice.id))).deposit(50)
            await call(writer.accounts.add(Account(owner="bob", balance=1)))
        assert [(a.owner, a.balance) for a in await call(reader.accounts.find())] == [
            ("o000", 0)
        ]
        assert await call(reader.accounts.count()) == 1
        streamed = await collect(reader.accounts.stream(track=False, batch_size=1))
        assert [a.balance for a in streamed] == [0]
    assert await twin.count(Account) == 2  # the writer's commit is there
    reads = [*twin.recorder.named("find"), *twin.recorder.named("aggregate")]
    ours = [r for r in reads if r.get("readConcern", {}).get("level") == "snapshot"]
    assert len(ours) == 4  # every read of the reader, none in a transaction
    assert not any("autocommit" in r for r in ours)
    assert len(twin.recorder.named("commitTransaction")) == 1  # the writer's only


async def test_a_read_only_unit_refuses_writes(twin: Twin) -> None:
    (alice,) = await _accounts(twin, 1)
    async with entered(twin.unit(read_only=True)) as reader:
        a = await call(reader.accounts.get(alice.id))
        for attempt in (
            lambda: reader.accounts.add(Account(owner="x", balance=0)),
            lambda: reader.accounts.add_all([Account(owner="x", balance=0)]),
            lambda: reader.accounts.remove(a),
            lambda: reader.accounts.attach(a),
            reader.flush,
            reader.commit,
        ):
            with pytest.raises(ReadOnlyError, match="read-only"):
                await call(attempt())
        assert await call(reader.accounts.get(alice.id)) is a  # still usable


async def test_changing_a_model_in_a_read_only_unit_raises(twin: Twin) -> None:
    (alice,) = await _accounts(twin, 1)
    twin.recorder.clear()
    with pytest.raises(ReadOnlyError, match=r"changed \(balance\) in a read-only"):
        async with entered(twin.unit(read_only=True)) as reader:
            (await call(reader.accounts.get(alice.id))).balance = 1000
    assert twin.recorder.named("update") == []
    assert (await twin.reload(alice)).balance == 0


async def test_run_on_a_read_only_unit(twin: Twin) -> None:
    await _accounts(twin, 3)

    async def total(uow: Any) -> int:
        return sum(a.balance for a in await call(uow.accounts.find(track=False)))

    unit = twin.unit(read_only=True)
    if twin.flavour == "async":
        assert await unit.run(total) == 3
    else:
        from tests.uow.test_error_contract import _sync

        assert unit.run(lambda uow: _sync(total(uow))) == 3
    assert not unit.is_active


# ---------------------------------------------------------------- projections


class AccountRow(BaseModel):
    owner: str
    balance: int


class AccountName(odm.Model):
    owner: str

    model_config = {"collection": "accounts"}


async def test_projections_load_a_subset_untracked(twin: Twin) -> None:
    accounts = await _accounts(twin, 3)
    twin.recorder.clear()
    async with entered(twin.unit()) as uow:
        rows = await call(uow.accounts.find(sort=Account.owner, into=AccountRow))
        assert rows == [AccountRow(owner=f"o{i:03}", balance=i) for i in range(3)]
        names = await call(uow.accounts.find(Account.balance >= 1, into=AccountName))
        assert sorted((n.id, n.owner) for n in names) == sorted(
            (a.id, a.owner) for a in accounts[1:]
        )
        plain = await call(uow.accounts.find_one(Account.balance == 2, into=[Account.owner]))
        assert plain == {"owner": "o002"}
        streamed = await collect(uow.accounts.stream(sort=Account.owner, batch_size=2,
                                                     into=[Account.balance]))
        assert streamed == [{"balance": i} for i in range(3)]
        assert _tracked(uow) == 0
        with pytest.raises(TypeError, match="nickname not a field of Account"):
            class Wrong(BaseModel):
                nickname: str

            await call(uow.accounts.find(into=Wrong))
    projections = [f.get("projection") for f in twin.recorder.named("find")]
    assert projections[:3] == [
        {"owner": 1, "balance": 1, "_id": 0}, {"owner": 1, "_id": 1}, {"owner": 1, "_id": 0},
    ]
