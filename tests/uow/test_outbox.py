"""The transactional outbox on both twins: events stored with the changes, delivered by a
relay at least once, in order per aggregate, retried, parked, leased."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pydantic
import pytest
from pymongo import AsyncMongoClient, MongoClient

import mongolet
import odm
from tests.servers import server_uri
from tests.uow.conftest import Twin, call, entered
from tests.uow.models import (
    Account,
    AsyncBankUnit,
    BankUnit,
    Deposited,
    Transfer,
    Withdrawn,
)
from uow import ConcurrencyError, DomainEvents
from uow.outbox import (
    AsyncRelay,
    EventRegistry,
    EventTypeError,
    OutboxEvent,
    Relay,
    UnknownEventTypeError,
    UnversionedAggregateError,
)


class Renamed(pydantic.BaseModel):
    account: odm.ObjectId
    owner: str


class Note(odm.Model, DomainEvents):
    """Records events but has no version field: refused by an outbox."""

    text: str
    model_config = {"collection": "notes"}


def relay(twin: Twin, publisher: Callable[[OutboxEvent], Any], **settings: Any) -> Any:
    settings.setdefault("backoff", 0.01)
    settings.setdefault("poll_interval", 0.05)
    kind = Relay if twin.flavour == "sync" else AsyncRelay
    return kind(twin.engine, publisher, **settings)


async def outbox(twin: Twin) -> list[dict[str, Any]]:
    cursor = twin.engine.database.outbox.find({}, sort=[("committed_at", 1), ("index", 1)])
    return list(await call(cursor.to_list(None)))


async def open_accounts(twin: Twin, *balances: int) -> list[Account]:
    accounts = [Account(owner=f"owner {i}", balance=b) for i, b in enumerate(balances)]
    await twin.save(*accounts)
    return accounts


async def transfer(twin: Twin, source: Account, target: Account, amount: int) -> None:
    async with entered(twin.unit(outbox="outbox")) as uow:
        a = await call(uow.accounts.get(source.id))
        b = await call(uow.accounts.get(target.id))
        a.withdraw(amount)
        b.deposit(amount)
        await call(uow.transfers.add(Transfer(source=a.id, target=b.id, amount=amount)))


def _run_sync(coroutine: Any) -> Any:
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("a sync unit's body must not suspend")


# ---------------------------------------------------------------- storing


async def test_events_are_stored_with_the_changes_in_one_transaction(twin: Twin) -> None:
    alice, bob = await open_accounts(twin, 100, 0)
    twin.recorder.clear()
    await transfer(twin, alice, bob, 30)
    commands = list(twin.recorder.started_events)
    stored = await outbox(twin)
    assert [(d["type"], d["payload"]) for d in stored] == [
        ("tests.uow.models.Withdrawn", {"account": alice.id, "amount": 30}),
        ("tests.uow.models.Deposited", {"account": bob.id, "amount": 30}),
    ]
    assert [d["aggregate"] for d in stored] == [
        {"type": "Account", "collection": "accounts", "id": alice.id},
        {"type": "Account", "collection": "accounts", "id": bob.id},
    ]
    assert [(d["sequence"], d["index"], d["state"]) for d in stored] == [
        (1, 0, "pending"), (1, 0, "pending")  # each account's version after the commit
    ]
    assert len({d["_id"] for d in stored}) == 2 and stored[0]["committed_at"] is not None
    # In the same transaction as the writes: on 8.0 in their one bulkWrite (the accounts, the
    # transfer and the outbox: no round trip more than without an outbox), on 7.0 a command
    # per collection then one insert.
    writes = ["bulkWrite"] if twin.one_write_command else ["update", "update", "insert"]
    names = [e.command_name for e in commands]
    assert names == ["find", "find", *writes, "commitTransaction"]
    if twin.one_write_command:
        (bulk,) = [e.command for e in commands if e.command_name == "bulkWrite"]
        database = twin.engine.database_name
        assert [ns["ns"] for ns in bulk["nsInfo"]] == [
            f"{database}.accounts", f"{database}.transfers", f"{database}.outbox"
        ]
        assert [op.get("insert") for op in bulk["ops"]][-2:] == [2, 2]  # the two events
    assert len({c.command["txnNumber"] for c in commands}) == 1
    assert len({c.command["lsid"]["id"] for c in commands}) == 1
    registry = EventRegistry()
    registry.register(Withdrawn)
    event = OutboxEvent.from_document(stored[0], registry).event
    assert event == Withdrawn(alice.id, 30)


async def test_pydantic_events_and_an_unchanged_aggregate(twin: Twin) -> None:
    (alice,) = await open_accounts(twin, 5)
    async with entered(twin.unit(outbox=True)) as uow:
        a = await call(uow.accounts.get(alice.id))
        a.record_event(Renamed(account=a.id, owner="Alice"))  # no change to the account
    (stored,) = await outbox(twin)
    assert stored["type"] == f"{__name__}.Renamed" and stored["payload"] == {"account": alice.id, "owner": "Alice"}
    # The aggregate still gets a version: concurrent writers of its events serialize.
    assert stored["sequence"] == 1 and (await twin.reload(alice)).version == 1


async def test_each_event_carries_its_aggregates_version_after_the_commit(twin: Twin) -> None:
    alice, bob, carol = await open_accounts(twin, 100, 100, 100)
    async with entered(twin.unit(outbox=True)) as uow:
        a, b, c = await call(uow.accounts.get_many([alice.id, bob.id, carol.id]))
        a.withdraw(5)
        b.withdraw(1)
        await call(uow.flush())  # a and b at version 1 now
        a.deposit(1)  # changed again: version 2 at the commit
        c.record_event(Renamed(account=c.id, owner="Carol"))
        await call(uow.accounts.remove(c))  # deleted: its events come after version 0
        dave = Account(owner="Dave", balance=0)
        dave.deposit(3)
        await call(uow.accounts.add(dave))
        twin.recorder.clear()
    names = [e.command_name for e in twin.recorder.started_events]
    sequences = {(d["aggregate"]["id"], d["type"].rsplit(".", 1)[1]): (d["sequence"], d["index"])
                 for d in await outbox(twin)}
    assert sequences == {
        (alice.id, "Withdrawn"): (2, 0), (alice.id, "Deposited"): (2, 1),
        (bob.id, "Withdrawn"): (1, 0),  # flushed before, unchanged since: not bumped
        (carol.id, "Renamed"): (1, 0),
        (dave.id, "Deposited"): (0, 0),
    }
    assert (await twin.reload(alice)).version == 2 and (await twin.reload(bob)).version == 1
    # The commit's flush: the outbox's documents in the changes' bulkWrite on 8.0.
    writes = ["bulkWrite"] if twin.one_write_command else ["delete", "update", "insert"]
    assert names == [*writes, "commitTransaction"]


async def test_nothing_is_stored_from_a_rolled_back_or_failed_attempt(twin: Twin) -> None:
    alice, bob = await open_accounts(twin, 100, 0)
    with pytest.raises(RuntimeError):
        async with entered(twin.unit(outbox="outbox")) as uow:
            a = await call(uow.accounts.get(alice.id))
            a.withdraw(10)
            await call(uow.flush())
            raise RuntimeError("the caller gave up")
    # A stale version: the flush fails, nothing of the unit is written, events included.
    with pytest.raises(ConcurrencyError):
        async with entered(twin.unit(outbox="outbox")) as uow:
            a = await call(uow.accounts.get(alice.id))
            await transfer(twin, alice, bob, 1)  # another unit commits first
            a.withdraw(10)
    assert [d["payload"]["amount"] for d in await outbox(twin)] == [1, 1]
    stored = await twin.reload(alice)
    assert (stored.balance, stored.version) == (99, 1)


async def test_a_refused_write_stores_no_event_and_names_its_model(twin: Twin) -> None:
    alice, bob = await open_accounts(twin, 100, 0)
    impostor = Account(id=bob.id, owner="impostor", balance=10)
    impostor.deposit(1)
    with pytest.raises(odm.DuplicateKeyError, match="duplicate key") as raised:
        async with entered(twin.unit(outbox=True)) as uow:
            (await call(uow.accounts.get(alice.id))).withdraw(5)
            await call(uow.accounts.add(impostor))
    assert raised.value.instance is impostor and raised.value.key_value == {"_id": bob.id}
    # A stale version: the other writer's events only (the outbox rides on the same command).
    with pytest.raises(ConcurrencyError) as stale:
        async with entered(twin.unit(outbox=True)) as uow:
            a = await call(uow.accounts.get(alice.id))
            await transfer(twin, alice, bob, 1)
            a.withdraw(10)
    assert stale.value.ids == [alice.id]
    assert [d["payload"]["amount"] for d in await outbox(twin)] == [1, 1]
    assert (await twin.reload(alice)).balance == 99


async def test_rollback_in_the_block_leaves_no_event_and_no_version_bump(twin: Twin) -> None:
    (alice,) = await open_accounts(twin, 5)
    async with entered(twin.unit(outbox=True)) as uow:
        a = await call(uow.accounts.get(alice.id))
        a.record_event(Renamed(account=a.id, owner="x"))
        await call(uow.rollback())
        assert a.version == 0 and a.pending_events == []
    assert await outbox(twin) == [] and (await twin.reload(alice)).version == 0


async def test_uow_run_stores_each_event_of_the_committed_attempt_once(
    twin: Twin
) -> None:
    (alice,) = await open_accounts(twin, 10)
    other: MongoClient = MongoClient(twin.uri)
    attempts: list[int] = []
    handled: list[Any] = []
    unit = twin.unit(outbox="outbox", handlers={Withdrawn: handled.append})

    def withdraw(uow: Any, amount: int) -> Any:
        async def body() -> None:
            attempts.append(1)
            a = await call(uow.accounts.get(alice.id))
            if len(attempts) == 1:  # a concurrent writer: a write conflict, the unit re-runs
                other[twin.engine.database.name]["accounts"].update_one(
                    {"_id": alice.id}, {"$inc": {"balance": 100}}
                )
            a.withdraw(amount)
        return body() if twin.flavour == "async" else _run_sync(body())

    try:
        await call(unit.run(withdraw, 3))
    finally:
        other.close()
    assert len(attempts) == 2
    assert [d["payload"]["amount"] for d in await outbox(twin)] == [3]
    assert handled == [Withdrawn(alice.id, 3)]  # in-process handlers keep working


async def test_an_aggregate_without_a_version_field_is_refused(twin: Twin) -> None:
    unit = twin.unit(outbox=True, repositories={"notes": Note})
    with pytest.raises(UnversionedAggregateError, match=r"Note .*version field"):
        async with entered(unit) as uow:
            note = Note(text="hi")
            note.record_event(Renamed(account=odm.ObjectId(), owner="n"))
            await call(uow.notes.add(note))
    assert await twin.count(Note) == 0 and await outbox(twin) == []
    async with entered(twin.unit(repositories={"notes": Note})) as uow:  # no outbox: fine
        note = Note(text="hi")
        note.record_event(Renamed(account=odm.ObjectId(), owner="n"))
        await call(uow.notes.add(note))
    assert await twin.count(Note) == 1


# ---------------------------------------------------------------- delivering


async def test_the_relay_delivers_in_commit_order_per_aggregate(twin: Twin) -> None:
    alice, bob, carol = await open_accounts(twin, 1_000, 1_000, 1_000)
    pairs = [(alice, bob), (bob, carol), (carol, alice), (alice, carol), (bob, alice)] * 3
    for amount, (source, target) in enumerate(pairs, start=1):
        await transfer(twin, source, target, amount)
    delivered: list[OutboxEvent] = []
    r = relay(twin, delivered.append)
    assert await call(r.drain(10)) == 2 * len(pairs) == r.delivered
    by_account: dict[Any, list[tuple[int, int]]] = defaultdict(list)
    amounts: dict[Any, list[int]] = defaultdict(list)
    for event in delivered:
        by_account[event.aggregate_id].append((event.sequence, event.index))
        decoded = event.event
        assert isinstance(decoded, Withdrawn | Deposited)
        amounts[event.aggregate_id].append(decoded.amount)
    for account in (alice, bob, carol):
        sequence = by_account[account.id]
        assert sequence == sorted(sequence) and len(set(sequence)) == len(sequence)
        # the order the transfers were committed in
        assert amounts[account.id] == [
            n for n, pair in enumerate(pairs, start=1) if account in pair
        ]
    assert await call(r.counts()) == {"pending": 0, "delivered": 30, "parked": 0}
    assert await call(r.drain(1)) == 0  # delivered ones are not sent again


async def test_a_failing_publisher_is_retried_then_the_event_is_parked(twin: Twin) -> None:
    alice, bob = await open_accounts(twin, 100, 100)
    await transfer(twin, alice, bob, 7)
    calls: list[tuple[str, str]] = []

    def flaky(event: OutboxEvent) -> None:
        calls.append((type(event.event).__name__, event.id))
        if isinstance(event.event, Withdrawn):
            raise ConnectionError("broker down")
        if sum(1 for kind, _ in calls if kind == "Deposited") < 3:
            raise TimeoutError("slow broker")  # fails twice, then goes through

    r = relay(twin, flaky, max_attempts=4)
    assert await call(r.drain(5)) == 1
    assert [kind for kind, _ in calls].count("Withdrawn") == 4
    assert [kind for kind, _ in calls].count("Deposited") == 3
    (parked,) = await call(r.parked())
    assert isinstance(parked.event, Withdrawn) and parked.attempts == 4 and parked.state == "parked"
    assert parked.last_error == "ConnectionError: broker down"
    assert await call(r.counts()) == {"pending": 0, "delivered": 1, "parked": 1}
    # Replayed with a working publisher: delivered, with its id unchanged.
    later: list[OutboxEvent] = []
    fixed = relay(twin, later.append)
    assert await call(fixed.replay([parked.id])) == 1
    assert await call(fixed.drain(5)) == 1 and [e.id for e in later] == [parked.id]
    assert await call(fixed.parked()) == []


async def test_a_failing_event_holds_back_its_aggregates_later_events(twin: Twin) -> None:
    alice, bob = await open_accounts(twin, 100, 100)
    await transfer(twin, alice, bob, 1)
    await transfer(twin, alice, bob, 2)
    seen: list[tuple[str, int]] = []
    failures = {"left": 3}

    def publish(event: OutboxEvent) -> None:
        if isinstance(event.event, Withdrawn) and failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("not yet")
        seen.append((type(event.event).__name__, event.payload["amount"]))

    r = relay(twin, publish, max_attempts=10)
    assert await call(r.drain(5)) == 4
    assert [s for s in seen if s[0] == "Withdrawn"] == [("Withdrawn", 1), ("Withdrawn", 2)]


class Crash(BaseException):
    """Stands for the relay process dying in the middle of a publish."""


async def test_a_crashed_relays_lease_expires_and_another_delivers(twin: Twin) -> None:
    alice, bob = await open_accounts(twin, 100, 100)
    await transfer(twin, alice, bob, 5)

    def dies(event: OutboxEvent) -> None:
        raise Crash

    first = relay(twin, dies, lease_seconds=0.3)
    with pytest.raises(Crash):
        await call(first.run_once())
    leased = await call(twin.engine.database.outbox.find_one({"lease_owner": first.owner}))
    delivered: list[OutboxEvent] = []
    second = relay(twin, delivered.append, lease_seconds=0.3)
    # The crashed relay's lease holds at first: that event waits, the other one goes...
    await call(second.run_once())
    assert [e.id for e in delivered] != [] and leased["_id"] not in [e.id for e in delivered]
    time.sleep(0.35)  # ...until the lease expires
    await call(second.drain(5))
    assert sorted(type(e.event).__name__ for e in delivered) == ["Deposited", "Withdrawn"]


async def test_two_relays_at_once_deliver_each_event_once(twin: Twin) -> None:
    accounts = await open_accounts(twin, *[1_000] * 6)
    for i in range(12):
        await transfer(twin, accounts[i % 6], accounts[(i + 1) % 6], i + 1)
    seen: list[tuple[str, str]] = []
    order: dict[Any, list[tuple[int, int]]] = defaultdict(list)
    lock = threading.Lock()

    def recorder(name: str) -> Callable[[OutboxEvent], None]:
        def publish(event: OutboxEvent) -> None:
            time.sleep(0.002)  # a publish takes a while: the relays overlap
            with lock:
                seen.append((name, event.id))
                order[event.aggregate_id].append((event.sequence, event.index))
        return publish

    one, two = relay(twin, recorder("one")), relay(twin, recorder("two"))
    if twin.flavour == "sync":
        threads = [threading.Thread(target=r.drain, args=(10,)) for r in (one, two)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        await asyncio.gather(one.drain(10), two.drain(10))
    ids = [event_id for _, event_id in seen]
    assert len(ids) == 24 and len(set(ids)) == 24
    assert one.delivered + two.delivered == 24
    # Whichever relay published them, each account's events went out in its commit order.
    assert all(published == sorted(published) for published in order.values())


class Held:
    """A publisher that records each event and holds the first one ``seconds`` (or until
    :meth:`release`): a slow or paused publish, on either twin."""

    def __init__(self, twin: Twin, seconds: float = 5.0) -> None:
        self.sync, self.seconds = twin.flavour == "sync", seconds
        self.ids: list[str] = []
        self.started: Any = threading.Event() if self.sync else asyncio.Event()
        self.go: Any = threading.Event() if self.sync else asyncio.Event()

    def publisher(self) -> Callable[[OutboxEvent], Any]:
        def publish(event: OutboxEvent) -> None:
            self.ids.append(event.id)
            if len(self.ids) == 1:
                self.started.set()
                self.go.wait(self.seconds)

        async def apublish(event: OutboxEvent) -> None:
            self.ids.append(event.id)
            if len(self.ids) == 1:
                self.started.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.go.wait(), self.seconds)

        return publish if self.sync else apublish

    async def wait_started(self) -> None:
        if self.sync:
            assert self.started.wait(5)
        else:
            await asyncio.wait_for(self.started.wait(), 5)

    def release(self) -> None:
        self.go.set()


def start(twin: Twin, run: Callable[[], Any]) -> Callable[[], Any]:
    """``run()`` in a thread (sync) or a task (async); returns what awaits its end."""
    if twin.flavour == "sync":
        thread = threading.Thread(target=run)
        thread.start()

        async def joined() -> None:
            thread.join(10)
            assert not thread.is_alive()
        return joined
    task = asyncio.create_task(run())
    return lambda: asyncio.wait_for(task, 10)


async def one_event(twin: Twin) -> Any:
    (alice,) = await open_accounts(twin, 5)
    async with entered(twin.unit(outbox=True)) as uow:
        a = await call(uow.accounts.get(alice.id))
        a.record_event(Renamed(account=a.id, owner="Alice"))
    (stored,) = await outbox(twin)
    return stored["_id"]


async def test_a_publish_longer_than_the_lease_keeps_it_renewed(twin: Twin) -> None:
    event_id = await one_event(twin)
    slow, fast = Held(twin, seconds=0.9), Held(twin)  # 3x the lease
    first = relay(twin, slow.publisher(), lease_seconds=0.3)
    second = relay(twin, fast.publisher(), lease_seconds=0.3)
    finished = start(twin, first.run_once)
    await slow.wait_started()
    # The second relay runs all along the slow publish: the renewed lease keeps it out.
    assert await call(second.drain(5)) == 0
    await finished()
    assert slow.ids == [event_id] and fast.ids == []
    assert (first.delivered, second.delivered, first.leases_lost) == (1, 0, 0)
    stored = await call(twin.engine.database.outbox.find_one({"_id": event_id}))
    assert stored["state"] == "delivered" and stored["delivered_by"] == first.owner


async def test_a_relay_whose_lease_was_taken_over_does_not_mark_the_event(twin: Twin) -> None:
    event_id = await one_event(twin)
    paused, other = Held(twin), Held(twin)
    first = relay(twin, paused.publisher(), lease_seconds=0.3)
    second = relay(twin, other.publisher(), lease_seconds=0.3)
    first_done = start(twin, first.run_once)
    await paused.wait_started()
    # The first relay stalls past its lease without renewing (as a paused process does):
    # the lease lapses, and its renewal finds it lost from then on.
    lapsed = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
    await call(twin.engine.database.outbox.update_one(
        {"_id": event_id, "lease_owner": first.owner}, {"$set": {"lease_until": lapsed}}
    ))
    second_done = start(twin, second.run_once)
    await other.wait_started()  # the second relay took the lease over and publishes
    paused.release()
    await first_done()
    outbox_ = twin.engine.database.outbox
    stored = await call(outbox_.find_one({"_id": event_id}))
    assert stored["state"] == "pending" and stored["lease_owner"] == second.owner
    assert (first.delivered, first.leases_lost) == (0, 1)
    other.release()
    await second_done()
    stored = await call(outbox_.find_one({"_id": event_id}))
    assert stored["state"] == "delivered" and stored["delivered_by"] == second.owner
    assert second.delivered == 1 and paused.ids == other.ids == [event_id]  # same id twice


async def test_a_restarted_relay_resumes_its_change_stream_from_the_stored_token(
    twin: Twin,
) -> None:
    alice, bob = await open_accounts(twin, 100, 100)
    relays = twin.engine.database.outbox_relays
    await call(relays.insert_one({"_id": "resumer", "resume_token": {"_data": "not a token"}}))
    delivered: list[OutboxEvent] = []
    first = relay(twin, delivered.append, name="resumer", follow="stream", poll_interval=0.1)
    # A token the server cannot resume from: the relay starts a new stream, delivers anyway.
    await call(first.wait())  # opens the stream
    await transfer(twin, alice, bob, 1)
    assert await call(first.drain(5)) == 2
    await call(first.wait())  # the stream saw the insert: its token is stored
    stored = (await call(relays.find_one({"_id": "resumer"})))["resume_token"]
    assert stored != {"_data": "not a token"}
    await call(first.close())
    twin.recorder.clear()
    second = relay(twin, delivered.append, name="resumer", follow="stream", poll_interval=0.1)
    await call(second.wait())
    (opened,) = [c for c in twin.recorder.named("aggregate")
                 if c["aggregate"] == "outbox" and "$changeStream" in c["pipeline"][0]]
    assert opened["pipeline"][0]["$changeStream"]["resumeAfter"] == stored
    await call(second.close())


async def test_a_running_relay_follows_the_outbox(twin: Twin) -> None:
    alice, bob = await open_accounts(twin, 100, 100)
    for follow in ("auto", "poll"):
        delivered: list[OutboxEvent] = []
        r = relay(twin, delivered.append, follow=follow, poll_interval=0.1, name=follow)
        if twin.flavour == "sync":
            worker: Any = threading.Thread(target=r.run)
            worker.start()
        else:
            worker = asyncio.create_task(r.run())
        try:
            deadline = time.monotonic() + 5
            while r.following == "unknown" and time.monotonic() < deadline:
                await asyncio.sleep(0.01)  # idle, following the outbox
            await transfer(twin, alice, bob, 1)
            while len(delivered) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert sorted(type(e.event).__name__ for e in delivered) == ["Deposited", "Withdrawn"]
        finally:
            r.stop()
            if twin.flavour == "sync":
                worker.join()
            else:
                await worker
        assert r.following == ("stream" if follow == "auto" else "poll")
    relays = twin.engine.database.outbox_relays
    token = await call(relays.find_one({"_id": "auto"}))
    assert token is not None and token["resume_token"]  # where a restarted relay resumes


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_relay_polls_a_server_without_change_streams(flavour: str) -> None:
    with mongolet.serve(replica_set="") as server:  # a standalone: no change streams
        if flavour == "sync":
            client: Any = MongoClient(server.uri)
            r: Any = Relay(odm.SyncEngine(client, database="standalone"), print,
                           poll_interval=0.05)
        else:
            client = AsyncMongoClient(server.uri)
            r = AsyncRelay(odm.AIOEngine(client, database="standalone"), print,
                           poll_interval=0.05)
        try:
            await call(r.wait())
            assert r.following == "poll"
        finally:
            await call(client.close())


# ---------------------------------------------------------------- the registry


def test_the_registry_names_classes_and_refuses_what_it_cannot_store() -> None:
    registry = EventRegistry()
    assert registry.name_of(Withdrawn) == "tests.uow.models.Withdrawn"  # registered on use

    @registry.register(name="account.renamed")
    class Moved(pydantic.BaseModel):
        to: str

    assert registry.encode(Moved(to="x")) == ("account.renamed", {"to": "x"})
    assert registry.decode("account.renamed", {"to": "y"}) == Moved(to="y")

    @dataclass
    class Other:
        to: str

    with pytest.raises(EventTypeError, match=r"'account.renamed' is already .*Moved"):
        registry.register(Other, name="account.renamed")
    with pytest.raises(EventTypeError, match="pydantic models or dataclasses"):
        registry.register(dict)
    with pytest.raises(UnknownEventTypeError, match=r"unknown event type 'gone'.*register"):
        registry.decode("gone", {})


# ---------------------------------------------------------------- a commit that fails


@pytest.fixture(scope="module")
def fault_uri() -> Iterator[str]:
    """A server with test commands (fail points): MONGODB_URI's, or a mongolet of its own."""
    with server_uri(enable_test_commands=True) as uri:
        yield uri


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_commit_that_fails_stores_nothing_and_the_retry_stores_once(
    fault_uri: str, db_name: str, flavour: str
) -> None:
    admin: MongoClient = MongoClient(fault_uri)
    if flavour == "sync":
        client: Any = MongoClient(fault_uri)
        engine: Any = odm.SyncEngine(client, database=db_name)
        unit: Any = BankUnit(engine, outbox=True)
    else:
        client = AsyncMongoClient(fault_uri)
        engine = odm.AIOEngine(client, database=db_name)
        unit = AsyncBankUnit(engine, outbox=True)
    alice = Account(owner="alice", balance=10)
    await call(engine.save(alice))
    attempts: list[int] = []

    def withdraw(uow: Any) -> Any:
        async def body() -> None:
            attempts.append(1)
            (await call(uow.accounts.get(alice.id))).withdraw(4)
        return body() if flavour == "async" else _run_sync(body())

    admin.admin.command({  # the first commit fails as a write conflict would
        "configureFailPoint": "failCommand", "mode": {"times": 1},
        "data": {"failCommands": ["commitTransaction"], "errorCode": 112,
                 "errorLabels": ["TransientTransactionError"]},
    })
    try:
        await call(unit.run(withdraw))
        stored = list(admin[db_name].outbox.find())
        assert len(attempts) == 2  # the failed attempt's event died with its transaction
        assert [d["payload"]["amount"] for d in stored] == [4] and stored[0]["sequence"] == 1
        assert admin[db_name].accounts.find_one({"_id": alice.id})["balance"] == 6
    finally:
        admin.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
        admin.drop_database(db_name)
        admin.close()
        await call(client.close())


async def test_a_coroutine_publisher_goes_with_the_async_relay(twin: Twin) -> None:
    alice, bob = await open_accounts(twin, 10, 10)
    await transfer(twin, alice, bob, 2)
    delivered: list[str] = []

    async def publish(event: OutboxEvent) -> None:
        await asyncio.sleep(0)  # awaited by the async relay, before the event is marked
        delivered.append(event.id)

    if twin.flavour == "sync":
        with pytest.raises(TypeError, match="AsyncRelay"):
            Relay(twin.engine, publish)
        return
    r = AsyncRelay(twin.engine, publish)
    assert await r.drain(5) == 2 and len(delivered) == 2


async def test_an_event_type_the_relay_does_not_know_is_parked_with_the_reason(
    twin: Twin,
) -> None:
    alice, bob = await open_accounts(twin, 10, 10)
    await transfer(twin, alice, bob, 2)
    r = relay(twin, lambda event: event.event, registry=EventRegistry(), max_attempts=2)
    assert await call(r.drain(5)) == 0
    parked = await call(r.parked())
    assert len(parked) == 2 and all(
        e.last_error.startswith("UnknownEventTypeError: unknown event type "
                                "'tests.uow.models.") for e in parked if e.last_error
    )
    assert all(e.last_error for e in parked)
