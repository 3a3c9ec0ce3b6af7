"""Bad input: bytes no driver would send, and documents, ids and query values that must not
get through.

- Wire fuzz (mongolet's transport): messages PyMongo really sent, captured through a
  recording proxy, then truncated, bit-flipped, overwritten, spliced, re-framed and rebuilt
  with wrong-typed fields, plus pure noise: a few thousand, bounded in time. The server must
  answer each with a well-formed reply or close that connection only, keep answering
  ``ping``, and another client's transfers must go on meanwhile with exact books.
- Through the real clients and through odm/uow (and against a real MongoDB when
  ``MONGODB_URI`` is set): invalid ObjectIds, wrong types, ``$``-prefixed and dotted keys,
  documents over 16 MiB, operator injection through query values and ids. Each gets a typed,
  clear error, or is stored and matched as plain data, and writes nothing it should not:
  every test compares the whole database before and after.
"""

from __future__ import annotations

import contextlib
import random
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import bson
import pytest
from pydantic import ValidationError
from pymongo import MongoClient
from pymongo.errors import (
    BulkWriteError,
    ClientBulkWriteException,
    DocumentTooLarge,
    OperationFailure,
    WriteError,
)

import mongolet
import odm
from mongolet.wire import OP_MSG, OP_QUERY, OP_REPLY
from tests.conftest import using_real_mongodb
from tests.reliability.conftest import START_BALANCE, Books, make_transfer
from tests.uow.conftest import Twin, call, entered
from tests.uow.models import Account, Address, BankUnit, Profile, Transfer
from uow import NotFoundError

MiB = 1024 * 1024
MAX_BSON = 16 * MiB


def snapshot(client: MongoClient, db_name: str) -> dict[str, list[Any]]:
    """Every document of every collection of the database, to compare before and after."""
    db = client[db_name]
    return {name: sorted(bson.encode(doc) for doc in db[name].find())
            for name in sorted(db.list_collection_names())}


# ====================================================================== wire fuzz

FUZZ_SECONDS = 5.0
FUZZ_MAX = 4000
HEADER = struct.Struct("<iiii")


class _Proxy:
    """A loopback TCP proxy that records what clients send (one byte string per
    connection), so the fuzz starts from messages PyMongo really produced."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.streams: list[bytearray] = []
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._open += [downstream, upstream]
            stream = bytearray()
            self.streams.append(stream)
            for source, sink, record in ((downstream, upstream, stream),
                                         (upstream, downstream, None)):
                thread = threading.Thread(target=self._pump, args=(source, sink, record),
                                          daemon=True)
                thread.start()
                self._threads.append(thread)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, record: bytearray | None) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                if record is not None:
                    record += chunk
                sink.sendall(chunk)
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()
        for s in self._open:
            with contextlib.suppress(OSError):
                s.close()
        for thread in self._threads:
            thread.join(5)

    def messages(self) -> list[bytes]:
        """The recorded streams cut into messages (by their length fields)."""
        found = []
        for stream in self.streams:
            pos = 0
            while pos + 16 <= len(stream):
                (length,) = struct.unpack_from("<i", stream, pos)
                if length < 16 or pos + length > len(stream):
                    break
                found.append(bytes(stream[pos:pos + length]))
                pos += length
        return found


def _capture(host: str, port: int) -> list[bytes]:
    """Messages of a real session: handshake, CRUD, a transaction, an aggregate, a cursor."""
    proxy = _Proxy(host, port)
    try:
        uri = f"mongodb://127.0.0.1:{proxy.port}/?directConnection=true"
        with MongoClient(uri, appName="fuzz-capture") as client:
            coll = client.fuzz.c
            client.admin.command("ping")
            coll.insert_many([{"_id": i, "a": i, "tags": ["x", "y"]} for i in range(5)])
            list(coll.find({"a": {"$gte": 1}}, {"a": 1}).sort("a", -1).batch_size(2))
            coll.update_one({"_id": 1}, {"$set": {"b.c": 1}, "$inc": {"a": 1}})
            coll.count_documents({"tags": "x"})
            list(coll.aggregate([{"$match": {"a": {"$lt": 4}}}, {"$group": {"_id": None,
                                                                             "n": {"$sum": 1}}}]))
            with client.start_session() as session, session.start_transaction():
                coll.insert_one({"_id": 10, "a": 10}, session=session)
                coll.update_one({"_id": 0}, {"$set": {"a": -1}}, session=session)
                coll.find_one({"_id": 10}, session=session)
            coll.delete_one({"_id": 2})
            coll.create_index("a")
    finally:
        proxy.close()
    # Leave out the monitor's awaitable hellos (they wait maxAwaitTimeMS by design).
    return [m for m in proxy.messages() if b"maxAwaitTimeMS" not in m]


_ODD_VALUES: list[Any] = [
    None, -1, 0, 2**31 - 1, 2**63 - 1, -(2**63), 1.5, float("nan"), float("inf"), True, "",
    "x" * 2000, "$where", "a.b", [], [[]], {}, {"$gt": 1}, {"$where": "sleep(1000)"},
    bson.Regex(".*"), b"\x00\xff", bson.Int64(-5), bson.ObjectId(), bson.MinKey(),
    bson.Decimal128("NaN"), bson.Timestamp(0, 0),
]


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value} if random.random() < 0.5 else [value]
    return value


class _Mutator:
    """Seeded mutations of real messages. Each returns (bytes, framed): ``framed`` when the
    header's length matches the bytes (the message can share a connection with others)."""

    def __init__(self, seed: int, corpus: list[bytes]) -> None:
        self.rng = random.Random(seed)
        self.corpus = corpus
        self.bodies = [self._body(m) for m in corpus]
        self.bodies = [b for b in self.bodies if b is not None]

    @staticmethod
    def _body(message: bytes) -> dict[str, Any] | None:
        _, _, _, op_code = HEADER.unpack_from(message)
        if op_code != OP_MSG or message[20] != 0:
            return None
        try:
            return bson.decode(message[21:21 + struct.unpack_from("<i", message, 21)[0]])
        except Exception:
            return None

    def _frame(self, payload: bytes, op_code: int = OP_MSG) -> bytes:
        return HEADER.pack(16 + len(payload), self.rng.randrange(1, 2**31), 0,
                           op_code) + payload

    def _reframe(self, message: bytes) -> bytes:
        return struct.pack("<i", len(message)) + message[4:]

    def next(self) -> tuple[str, bytes, bool]:
        rng = self.rng
        m = bytearray(rng.choice(self.corpus))
        kind = rng.choice(["truncate", "flip", "flip-body", "overwrite", "resize", "splice",
                           "fields", "fields", "deep", "noise", "noise-framed", "length",
                           "opcode", "sections"])
        if kind == "truncate":
            return kind, bytes(m[:rng.randrange(0, len(m))]), False
        if kind == "flip":  # anywhere, header included
            for _ in range(rng.randint(1, 8)):
                m[rng.randrange(len(m))] ^= 1 << rng.randrange(8)
            return kind, bytes(m), struct.unpack_from("<i", m)[0] == len(m)
        if kind == "flip-body":
            for _ in range(rng.randint(1, 16)):
                m[rng.randrange(16, len(m))] ^= 1 << rng.randrange(8)
            return kind, bytes(m), True
        if kind == "overwrite":
            for _ in range(rng.randint(1, 8)):
                m[rng.randrange(16, len(m))] = rng.randrange(256)
            return kind, bytes(m), True
        if kind == "resize":  # bytes inserted or deleted inside, length fixed up
            pos = rng.randrange(16, len(m))
            if rng.random() < 0.5:
                m[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
            else:
                del m[pos:pos + rng.randint(1, 16)]
            return kind, self._reframe(bytes(m)), True
        if kind == "splice":
            other = rng.choice(self.corpus)
            cut = rng.randrange(16, len(m))
            return kind, self._reframe(bytes(m[:cut]) + other[rng.randrange(16, len(other)):]), True
        if kind in ("fields", "deep") and self.bodies:
            body = dict(rng.choice(self.bodies))
            for _ in range(rng.randint(1, 3)):
                key = rng.choice(list(body))
                if kind == "deep":
                    body[key] = _deep(rng.choice([50, 120, 400]))
                elif rng.random() < 0.15:
                    del body[key]
                else:
                    body[key] = rng.choice(_ODD_VALUES)
            body.setdefault("$db", "fuzz")
            try:
                encoded = bson.encode(body)
            except Exception:
                encoded = bson.encode({"ping": 1, "$db": "fuzz"})
            return kind, self._frame(b"\x00\x00\x00\x00\x00" + encoded), True
        if kind == "noise":
            return kind, bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64))), False
        if kind == "noise-framed":
            payload = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 128)))
            return kind, self._frame(payload, rng.choice([OP_MSG, OP_QUERY, 2012, 2004, 1])), True
        if kind == "length":
            m[0:4] = struct.pack("<i", rng.choice([0, -1, 15, 16, len(m) - 1, len(m) + 1,
                                                    48 * MiB + 1, rng.randrange(2**31)]))
            return kind, bytes(m), False
        if kind == "opcode":
            m[12:16] = struct.pack("<i", rng.choice([0, 1, 2004, 2012, 2013, 9999, -1]))
            return kind, bytes(m), True
        # "sections": the OP_MSG's flags and section kinds
        if len(m) > 21:
            m[16:20] = struct.pack("<I", rng.choice([1, 2, 1 << 16, 0xFFFFFFFF, 1 << 17]))
            m[20] = rng.choice([0, 1, 2, 255])
        return kind, bytes(m), True


def _read_message(sock: socket.socket) -> tuple[int, dict[str, Any]] | None:
    """One reply, checked to be well-formed; None when the server closed the connection."""
    header = _recv(sock, 16)
    if header is None:
        return None
    length, _, response_to, op_code = HEADER.unpack(header)
    assert 16 <= length <= 48 * MiB, f"reply length {length}"
    payload = _recv(sock, length - 16)
    assert payload is not None, "reply cut short"
    if op_code == OP_REPLY:
        doc = bson.decode(payload[20:])
    else:
        assert op_code == OP_MSG, f"reply op code {op_code}"
        assert payload[4] == 0
        doc = bson.decode(payload[5:])
    assert doc.get("ok") in (0, 1), doc
    if doc["ok"] == 0:
        assert isinstance(doc.get("errmsg"), str) and isinstance(doc.get("code"), int), doc
    return response_to, doc


def _recv(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        try:
            chunk = sock.recv(n - len(data))
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


PING_ID = 0x7FFF0000


def _ping_message() -> bytes:
    payload = b"\x00\x00\x00\x00\x00" + bson.encode({"ping": 1, "$db": "admin"})
    return HEADER.pack(16 + len(payload), PING_ID, 0, OP_MSG) + payload


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[mongolet.Server]:
    """A server of the fuzz's own: what the fuzz writes (random databases, sessions) stays
    there."""
    with mongolet.serve() as server:
        yield server


@pytest.mark.skipif(using_real_mongodb(), reason="a fuzz of mongolet's own transport")
def test_random_and_broken_messages_leave_the_server_and_other_clients_fine(
    fuzz_server: Any, figures: Callable[..., None]
) -> None:
    host, port = "127.0.0.1", fuzz_server.port
    corpus = _capture(host, port)
    assert len(corpus) >= 15 and any(b"commitTransaction" in m for m in corpus)
    mutator = _Mutator(20240607, corpus)

    # Meanwhile, another client moves money between two accounts, in transactions.
    other = MongoClient(fuzz_server.uri, appName="fuzz-bystander")
    engine = odm.SyncEngine(other, database="bystander")
    accounts = [Account(owner="a", balance=START_BALANCE), Account(owner="b", balance=START_BALANCE)]
    engine.save_all(accounts)
    start = Books(other, "bystander").balances()
    done = threading.Event()
    bystander: dict[str, Any] = {"transfers": 0, "errors": []}

    def transfers() -> None:
        unit, transfer = BankUnit(engine), make_transfer("sync")
        rng = random.Random(5)
        while not done.is_set():
            source, target = rng.sample([a.id for a in accounts], 2)
            try:
                unit.run(transfer, source, target, rng.randint(1, 5))
                bystander["transfers"] += 1
            except Exception as error:  # InsufficientFunds included: amounts stay small
                bystander["errors"].append(error)

    thread = threading.Thread(target=transfers)
    thread.start()
    kinds: dict[str, int] = {}
    tried = closed = answered = 0
    shared: socket.socket | None = None
    deadline = time.monotonic() + FUZZ_SECONDS
    try:
        while tried < FUZZ_MAX and time.monotonic() < deadline:
            kind, message, framed = mutator.next()
            tried += 1
            kinds[kind] = kinds.get(kind, 0) + 1
            where = f"input #{tried} ({kind}): {message[:80]!r}"
            if framed:
                # A whole message, then a ping on the same connection: read up to its reply.
                if shared is None:
                    shared = socket.create_connection((host, port), timeout=10)
                try:
                    shared.sendall(message + _ping_message())
                except OSError:
                    shared.close()
                    shared, closed = None, closed + 1
                    continue
                while True:
                    try:
                        reply = _read_message(shared)
                    except TimeoutError:
                        pytest.fail(f"no reply within 10 s to {where}")
                    if reply is None:
                        shared.close()
                        shared, closed = None, closed + 1
                        break
                    answered += 1
                    if reply[0] == PING_ID:  # the connection still serves commands
                        assert reply[1]["ok"] == 1, f"ping after {where}: {reply[1]}"
                        break
            else:
                # Framing broken: its own connection, closed for writing so the server sees
                # the end of the bytes; it answers or closes, and must not hang.
                with socket.create_connection((host, port), timeout=10) as sock:
                    sock.sendall(message)
                    sock.shutdown(socket.SHUT_WR)
                    try:
                        while (reply := _read_message(sock)) is not None:
                            answered += 1
                    except TimeoutError:
                        pytest.fail(f"the server neither answered nor closed: {where}")
                    closed += 1
            if tried % 250 == 0:
                assert other.admin.command("ping")["ok"] == 1.0, where
    finally:
        done.set()
        thread.join(30)
        if shared is not None:
            shared.close()
    assert other.admin.command("ping")["ok"] == 1.0
    assert bystander["errors"] == []
    assert bystander["transfers"] >= 1, "the other client's transactions did not go on"
    Books(other, "bystander").check(start)  # ...with exact books
    assert len(Books(other, "bystander").ledger()) == bystander["transfers"]
    other.close()
    assert tried >= 300
    figures(inputs=tried, answered=answered, connections_closed=closed,
            bystander_transfers=bystander["transfers"], losses=0,
            kinds="; ".join(f"{k}: {v}" for k, v in sorted(kinds.items())))


# ====================================================================== typed errors


async def _two_accounts(twin: Twin) -> tuple[Account, Account]:
    alice, bob = Account(owner="alice", balance=100), Account(owner="bob", balance=100)
    await twin.save(alice, bob)
    return alice, bob


async def test_an_invalid_object_id_is_a_validation_error_naming_the_field(
    twin: Twin, admin_client: MongoClient, db_name: str, figures: Callable[..., None]
) -> None:
    alice, bob = await _two_accounts(twin)
    before = snapshot(admin_client, db_name)
    with pytest.raises(ValidationError) as raised:
        Transfer(source="not-an-id", target=bob.id, amount=1)
    assert {error["loc"][0] for error in raised.value.errors()} == {"source"}
    assert "Invalid ObjectId 'not-an-id': expected an ObjectId or 24 hex characters" in str(
        raised.value)
    # Inside a unit, after money moved: the whole unit is rolled back.
    with pytest.raises(ValidationError):
        async with entered(twin.unit()) as uow:
            (await call(uow.accounts.get(alice.id))).withdraw(10)
            await call(uow.flush())
            await call(uow.transfers.add(Transfer(source=alice.id, target="0xbad", amount=10)))
    # An id that is no ObjectId finds nothing (and writes nothing).
    for bad in ("not-an-id", "", 12, None):
        with pytest.raises(NotFoundError, match="not found in collection 'accounts'"):
            async with entered(twin.unit()) as uow:
                await call(uow.accounts.get(bad))
    assert snapshot(admin_client, db_name) == before
    figures(inputs=6, losses=0)


async def test_wrong_types_are_refused_before_anything_is_written(
    twin: Twin, admin_client: MongoClient, db_name: str, figures: Callable[..., None]
) -> None:
    alice, bob = await _two_accounts(twin)
    before = snapshot(admin_client, db_name)
    with pytest.raises(ValidationError) as raised:
        Account(owner="carol", balance="lots")
    assert [error["loc"] for error in raised.value.errors()] == [("balance",)]
    with pytest.raises(ValidationError) as raised:  # a JSON payload carrying operators
        Account.model_validate({"owner": {"$ne": None}, "balance": {"$inc": 1000}})
    assert {error["loc"][0] for error in raised.value.errors()} == {"owner", "balance"}
    # Assignments are validated too: the unit raises, and rolls back what it had written.
    with pytest.raises(ValidationError, match="balance"):
        async with entered(twin.unit()) as uow:
            a, b = await call(uow.accounts.get(alice.id)), await call(uow.accounts.get(bob.id))
            a.withdraw(30)
            await call(uow.flush())
            b.balance = "thirty more"
    with pytest.raises(ValidationError, match="owner"):
        async with entered(twin.unit()) as uow:
            (await call(uow.accounts.get(alice.id))).owner = {"$set": {"balance": 10**9}}
    assert snapshot(admin_client, db_name) == before
    figures(inputs=4, losses=0)


class Bag(odm.Model):
    """A dict field: its keys are the user's data, whatever they look like."""

    data: dict[str, int] = {}

    model_config = {"collection": "bags"}


def test_dollar_prefixed_and_dotted_keys_behave_as_on_mongod(
    admin_client: MongoClient, db_name: str, figures: Callable[..., None]
) -> None:
    """MongoDB 5.0+ (manual: "Field Names with Periods and Dollar Signs"): inserts may hold
    ``$``-prefixed and dotted field names, top level and nested; a replacement document may
    not start a top-level field with ``$``, nor may ``$set`` create one in an existing
    document (52 DollarPrefixedFieldName), nor may ``_id`` hold one."""
    coll = admin_client[db_name].keys
    stored = {"_id": 1, "$price": 50, "a.b": 1, "nested": {"$inc": True, "x.y": 2}}
    coll.insert_one(dict(stored))
    assert coll.find_one({"_id": 1}) == stored
    before = snapshot(admin_client, db_name)
    with pytest.raises(WriteError) as raised:
        coll.update_one({"_id": 1}, {"$set": {"$hotel": 320}})
    assert raised.value.code == 52 and "$hotel" in str(raised.value)
    with pytest.raises(ValueError, match=r"replacement can not include \$ operators"):
        coll.replace_one({"_id": 1}, {"$bad": 1})  # PyMongo's own check
    reply = admin_client[db_name].command(
        {"update": "keys", "updates": [{"q": {"_id": 1}, "u": {"x": 1, "$bad": 1}}]})
    assert reply["n"] == 0 and reply["writeErrors"][0]["code"] == 52
    with pytest.raises(WriteError) as raised:
        coll.insert_one({"_id": {"$oid": 1}})
    assert raised.value.code == 52
    with pytest.raises(OperationFailure) as raised:  # a filter's top level is operators
        coll.find_one({"$bad": 1})
    assert raised.value.code == 2 and "unknown top level operator: $bad" in str(raised.value)
    assert snapshot(admin_client, db_name) == before
    figures(inputs=6, losses=0)


async def test_a_dict_field_with_dollar_and_dotted_keys_is_data_through_the_unit(
    twin: Twin, admin_client: MongoClient, db_name: str, figures: Callable[..., None]
) -> None:
    with pytest.raises(TypeError, match=r"cannot start with '\$' nor contain '\.'"):
        class Bad(odm.Model):  # a field's own stored name is checked at class creation
            x: int = odm.Field(key_name="$x")

    bag, other = Bag(data={"$gt": 1, "a.b": 2}), Bag(data={"plain": 1})
    async with entered(twin.unit(repositories={"bags": Bag})) as uow:
        await call(uow.bags.add_all([bag, other]))
    raw = admin_client[db_name].bags
    assert raw.find_one({"_id": bag.id}) == {"_id": bag.id, "data": {"$gt": 1, "a.b": 2}}
    async with entered(twin.unit(repositories={"bags": Bag})) as uow:
        loaded = await call(uow.bags.get(bag.id))
        loaded.data["$gt"] = 5  # the whole dict is written back, no dotted path is built
        loaded.data["c.d"] = 3
    assert raw.find_one({"_id": bag.id})["data"] == {"$gt": 5, "a.b": 2, "c.d": 3}
    assert raw.find_one({"_id": other.id})["data"] == {"plain": 1}  # nothing else touched
    async with entered(twin.unit(repositories={"bags": Bag})) as uow:
        assert await call(uow.bags.find(Bag.data == {"$gt": 1})) == []  # literal, not "> 1"
        found = await call(uow.bags.find(Bag.data == {"$gt": 5, "a.b": 2, "c.d": 3}))
        assert [b.id for b in found] == [bag.id]
    figures(inputs=5, losses=0)


def test_documents_over_16_mib_are_refused_and_nothing_is_written(
    admin_client: MongoClient, db_name: str, figures: Callable[..., None]
) -> None:
    coll = admin_client[db_name].big
    coll.insert_one({"_id": "grows", "blob": b"y" * (9 * MiB)})
    before = snapshot(admin_client, db_name)
    # More than PyMongo's 16 KiB of allowance over the limit: refused before it is sent.
    with pytest.raises(DocumentTooLarge):
        coll.insert_one({"_id": "huge", "blob": b"x" * (MAX_BSON + 64 * 1024)})
    # Just over: sent, and refused by the server (mongod: 2 "object to insert too large" as
    # a write error, see the next test).
    with pytest.raises(OperationFailure) as raised:
        coll.insert_one({"_id": "over", "blob": b"x" * MAX_BSON})
    assert raised.value.code == 2
    # An update growing a document past the limit.
    with pytest.raises(WriteError) as raised:
        coll.update_one({"_id": "grows"}, {"$set": {"more": b"z" * (9 * MiB)}})
    assert raised.value.code == 17419
    assert "Resulting document after update is larger than 16777216" in str(raised.value)
    # An upsert whose new document outgrows it (a 9 MiB query field, doubled by a pipeline).
    with pytest.raises(WriteError) as raised:
        coll.update_one({"_id": "new", "s": "s" * (9 * MiB)},
                        [{"$set": {"t": {"$concat": ["$s", "$s"]}}}], upsert=True)
    assert raised.value.code == 17420
    assert "Document to upsert is larger than 16777216" in str(raised.value)
    assert snapshot(admin_client, db_name) == before
    figures(inputs=4, losses=0)


def test_a_document_just_over_16_mib_gets_the_write_error_mongod_gives(
    admin_client: MongoClient, db_name: str
) -> None:
    coll = admin_client[db_name].big
    document = {"_id": "over", "blob": b"x" * MAX_BSON}
    with pytest.raises(WriteError) as raised:
        coll.insert_one(document)
    assert raised.value.code == 2
    assert (f"object to insert too large. size in bytes: {len(bson.encode(document))}, "
            f"max size: {MAX_BSON}") in str(raised.value)
    assert coll.count_documents({}) == 0


@pytest.mark.parametrize("size", [MAX_BSON, MAX_BSON + 64 * 1024],
                         ids=["just-over", "beyond-the-16KiB-allowance"])
async def test_an_oversize_document_in_a_unit_rolls_the_whole_unit_back(
    twin: Twin, admin_client: MongoClient, db_name: str, size: int, figures: Callable[..., None]
) -> None:
    alice, _ = await _two_accounts(twin)
    before = snapshot(admin_client, db_name)
    twin.recorder.clear()
    with pytest.raises((DocumentTooLarge, OperationFailure)) as raised:
        async with entered(twin.unit()) as uow:
            (await call(uow.accounts.get(alice.id))).withdraw(10)
            await call(uow.flush())  # the account's update is sent, inside the transaction
            profile = Profile(name="big", address=Address(city="c", street="s"), tags=["x" * size])
            await call(uow.profiles.add(profile))
    if isinstance(raised.value, OperationFailure):
        error = raised.value
        # The flush's bulk_write reports the statement's own error (17420: upsert too large).
        if isinstance(error, BulkWriteError):
            code = error.details["writeErrors"][0]["code"]
        elif isinstance(error, ClientBulkWriteException):  # MongoDB 8.0: one bulkWrite
            code = error.write_errors[0]["code"] if error.write_errors else error.code
        else:
            code = error.code
        assert code in (2, 10334, 17419, 17420), error
        assert not error.has_error_label("TransientTransactionError")
    sent = [c.get("update") or c["nsInfo"][0]["ns"].split(".")[1]
            for c in twin.recorder.named("update") + twin.recorder.named("bulkWrite")]
    assert sent[:1] == ["accounts"]
    assert snapshot(admin_client, db_name) == before
    figures(inputs=1, losses=0)


class Handle(odm.Model):
    """A string primary key: a regex id would match other ids if sent as a value."""

    name: str = odm.Field(primary_field=True)
    owner: str

    model_config = {"collection": "handles"}


async def test_operators_in_query_values_and_ids_are_matched_as_data(
    twin: Twin, admin_client: MongoClient, db_name: str, figures: Callable[..., None]
) -> None:
    alice, _ = await _two_accounts(twin)
    odd = Account(owner="$where", balance=1)
    await twin.save(odd, Handle(name="alice", owner="alice"), Handle(name="bob", owner="bob"))
    before = snapshot(admin_client, db_name)
    unit = twin.unit(repositories={"handles": Handle})

    async def owners(*queries: Any) -> list[str]:
        async with entered(unit) as uow:
            return sorted(a.owner for a in await call(uow.accounts.find(*queries)))

    assert await owners(Account.owner == {"$ne": None}) == []
    assert await owners(Account.owner.in_([{"$ne": None}, {"$gt": ""}])) == []
    assert await owners(Account.owner == "$where") == ["$where"]
    assert await owners(Account.owner.in_(["$where", "alice"])) == ["$where", "alice"]
    # Ids from user input: an operator document or a regex is an id that does not exist.
    for bad in ({"$ne": None}, {"$gt": ""}, {"$exists": True}, bson.Regex(".*"),
                re.compile("^a")):
        async with entered(unit) as uow:
            assert await call(uow.accounts.get_or_none(bad)) is None
            assert await call(uow.handles.get_or_none(bad)) is None
            with pytest.raises(NotFoundError):
                await call(uow.handles.get_many(["alice", bad]))
            with pytest.raises(NotFoundError):
                await call(uow.accounts.get(bad))
    async with entered(unit) as uow:  # the plain ones still work
        assert [h.owner for h in await call(uow.handles.get_many(["bob", "alice"]))] == [
            "bob", "alice"]
        assert (await call(uow.accounts.get(alice.id))).owner == "alice"
    assert snapshot(admin_client, db_name) == before
    figures(inputs=24, losses=0)
