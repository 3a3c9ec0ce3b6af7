"""Capped collections, tailable and awaitData cursors, and OP_MSG exhaust replies."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from typing import Any

import bson
import pytest
from pymongo import CursorType, MongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure
from pymongo.synchronous.database import Database

import mongolet
from tests.conftest import using_real_mongodb
from tests.raw_wire import recv_exactly


def test_capped_collection_keeps_the_newest_documents(db: Database) -> None:
    db.create_collection("log", capped=True, size=100_000, max=3)
    db.log.insert_many([{"_id": i} for i in range(5)])
    db.log.insert_one({"_id": 5})
    assert [d["_id"] for d in db.log.find()] == [3, 4, 5]


def test_tailable_await_cursor_returns_what_is_inserted_later(db: Database) -> None:
    db.create_collection("log", capped=True, size=100_000)
    db.log.insert_many([{"_id": 1, "keep": True}, {"_id": 2, "keep": False}])
    cursor = db.log.find({"keep": True},
                         cursor_type=CursorType.TAILABLE_AWAIT).max_await_time_ms(5000)
    assert [d["_id"] for d in cursor] == [1]  # at the end, still alive
    assert cursor.alive
    threading.Timer(0.1, lambda: db.log.insert_many([{"_id": 3, "keep": False},
                                                     {"_id": 4, "keep": True}])).start()
    assert cursor.next()["_id"] == 4  # the getMore waited for it, filter applied
    cursor.close()


def test_tailable_cursor_without_await_data_returns_at_once(db: Database) -> None:
    db.create_collection("log", capped=True, size=100_000)
    db.log.insert_one({"_id": 1})
    cursor = db.log.find(cursor_type=CursorType.TAILABLE)
    assert [d["_id"] for d in cursor] == [1]
    assert list(cursor) == [] and cursor.alive  # a getMore answered at once, empty
    db.log.insert_one({"_id": 2})
    assert cursor.next()["_id"] == 2
    cursor.close()


def test_tailable_cursor_on_an_ordinary_collection_is_refused(db: Database) -> None:
    db.c.insert_one({"_id": 1})
    with pytest.raises(OperationFailure) as failure:
        db.c.find(cursor_type=CursorType.TAILABLE).next()
    assert failure.value.code == 2


async def test_async_tailable_await_cursor(adb: AsyncDatabase) -> None:
    await adb.create_collection("log", capped=True, size=100_000)
    await adb.log.insert_one({"_id": 1})
    cursor = adb.log.find(cursor_type=CursorType.TAILABLE_AWAIT).max_await_time_ms(5000)
    assert (await cursor.next())["_id"] == 1

    async def later() -> None:
        await asyncio.sleep(0.1)
        await adb.log.insert_one({"_id": 2})

    task = asyncio.create_task(later())
    assert (await cursor.next())["_id"] == 2
    await task
    await cursor.close()


def test_exhaust_cursor_returns_every_document(db: Database) -> None:
    db.c.insert_many([{"_id": i} for i in range(25)])
    found = list(db.c.find(cursor_type=CursorType.EXHAUST, batch_size=4))
    assert [d["_id"] for d in found] == list(range(25))


def _op_msg(request_id: int, body: dict[str, Any], flags: int = 0) -> bytes:
    payload = struct.pack("<i", flags) + b"\x00" + bson.encode(body)
    return struct.pack("<iiii", 16 + len(payload), request_id, 0, 2013) + payload


def _read_msg(sock: socket.socket) -> tuple[int, int, int, dict[str, Any]]:
    length, request_id, response_to, _ = struct.unpack("<iiii", recv_exactly(sock, 16))
    payload = recv_exactly(sock, length - 16)
    flags = struct.unpack_from("<i", payload)[0]
    return request_id, response_to, flags, bson.decode(payload[5:])


@pytest.mark.skipif(using_real_mongodb(), reason="speaks to a mongolet of its own")
def test_exhaust_get_more_streams_batches_with_more_to_come() -> None:
    with mongolet.serve() as server:
        with MongoClient(server.uri) as client:
            client.db.c.insert_many([{"_id": i} for i in range(7)])
        with socket.create_connection((server.host, server.port)) as sock:
            sock.sendall(_op_msg(1, {"find": "c", "batchSize": 2, "$db": "db"}))
            _, _, _, first = _read_msg(sock)
            cursor_id = first["cursor"]["id"]
            sock.sendall(_op_msg(2, {"getMore": cursor_id, "collection": "c", "batchSize": 2,
                                     "$db": "db"}, flags=1 << 16))  # exhaustAllowed
            replies = []
            answers = 2
            while True:
                request_id, response_to, flags, reply = _read_msg(sock)
                assert response_to == answers  # each reply answers the previous one
                answers = request_id
                replies.append(reply["cursor"]["nextBatch"])
                if not flags & 2:  # moreToCome unset: the last one
                    break
    assert replies == [[{"_id": 2}, {"_id": 3}], [{"_id": 4}, {"_id": 5}], [{"_id": 6}]]


def test_time_series_collection_keeps_documents_with_the_same_id(db: Database) -> None:
    db.create_collection("ts", timeseries={"timeField": "t", "metaField": "m"})
    db.ts.insert_many([{"_id": 1, "t": 2, "m": "a"}, {"_id": 1, "t": 1, "m": "b"}])
    assert [d["m"] for d in db.ts.find({"_id": 1}, sort=[("t", 1)])] == ["b", "a"]
    info = next(db.list_collections(filter={"name": "ts"}))
    assert info["type"] == "timeseries" and info["options"]["timeseries"]["timeField"] == "t"
    with pytest.raises(OperationFailure) as failure:
        db.create_collection("bad", timeseries={"metaField": "m"})
    assert failure.value.code == 40414
