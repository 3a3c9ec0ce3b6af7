"""mongolet's transport: serve(), the command line, and what bad bytes on a socket get."""

from __future__ import annotations

import signal
import socket
import struct
import subprocess
import sys
import time

import bson
import pytest
from pymongo import AsyncMongoClient, MongoClient

import mongolet
from mongolet.wire import OP_MSG, OP_QUERY, OP_REPLY
from tests.conftest import using_real_mongodb
from tests.raw_wire import recv_exactly

pytestmark = pytest.mark.skipif(
    using_real_mongodb(), reason="tests of mongolet's own transport (MONGODB_URI is set)"
)


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_serve_gives_a_replica_set_primary_that_runs_transactions(mode: str) -> None:
    with mongolet.serve(mode=mode) as server, MongoClient(server.uri) as client:  # type: ignore[arg-type]
        hello = client.admin.command("hello")
        assert hello["setName"] == "mongolet"
        assert hello["isWritablePrimary"] is True
        assert hello["me"] == f"127.0.0.1:{server.port}"
        accounts = client.bank.accounts
        with client.start_session() as session, session.start_transaction():
            accounts.insert_one({"_id": "alice", "balance": 10}, session=session)
        assert accounts.find_one({"_id": "alice"}) == {"_id": "alice", "balance": 10}


def test_serve_stops_listening_on_exit() -> None:
    with mongolet.serve() as server:
        port = server.port
    with socket.socket() as sock, pytest.raises(OSError):
        sock.connect(("127.0.0.1", port))


def test_direct_connection_uri_runs_transactions() -> None:
    with mongolet.serve() as server, MongoClient(server.direct_uri) as client:
        coll = client.db.c
        with client.start_session() as session:
            session.with_transaction(lambda s: coll.insert_one({"x": 1}, session=s))
        assert coll.count_documents({}) == 1


async def test_async_client_connects() -> None:
    with mongolet.serve() as server:
        client: AsyncMongoClient = AsyncMongoClient(server.uri)
        try:
            await client.db.c.insert_one({"x": 1})
            assert await client.db.c.find_one({}, {"_id": 0}) == {"x": 1}
        finally:
            await client.close()


def test_refuses_non_loopback_address_unless_allowed() -> None:
    with pytest.raises(ValueError, match=r"refusing to bind '0\.0\.0\.0'"), mongolet.serve(host="0.0.0.0"):
        pass


def test_command_line_prints_uri_and_stops_on_ctrl_c() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "mongolet", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("mongolet listening on mongodb://127.0.0.1:")
        uri = line.split()[-1]
        with MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
            assert client.admin.command("ping")["ok"] == 1.0
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
        assert process.returncode == 0, err
        assert "mongolet stopped" in out
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_command_line_refuses_remote_bind_without_flag() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mongolet", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 1
    assert "--allow-remote" in result.stderr


# --- raw sockets: bytes no driver would send ------------------------------------------------

def _op_msg(body: bytes, request_id: int = 7, flags: int = 0) -> bytes:
    payload = struct.pack("<i", flags) + b"\x00" + body
    return struct.pack("<iiii", 16 + len(payload), request_id, 0, OP_MSG) + payload


def _read_reply(sock: socket.socket) -> tuple[int, int, dict]:
    header = recv_exactly(sock, 16)
    length, _request_id, response_to, op_code = struct.unpack("<iiii", header)
    payload = recv_exactly(sock, length - 16)
    if op_code == OP_REPLY:
        return response_to, op_code, bson.decode(payload[20:])
    assert op_code == OP_MSG
    return response_to, op_code, bson.decode(payload[5:])


@pytest.fixture
def raw(mongodb_uri: str):
    host_port = mongodb_uri.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        yield sock


def test_invalid_bson_gets_an_error_and_the_connection_carries_on(raw: socket.socket) -> None:
    raw.sendall(_op_msg(b"\x10\x00\x00\x00garbage-garbage!", request_id=41))
    response_to, _, reply = _read_reply(raw)
    assert response_to == 41
    assert reply["ok"] == 0 and reply["code"] == 22  # InvalidBSON
    raw.sendall(_op_msg(bson.encode({"ping": 1, "$db": "admin"}), request_id=42))
    response_to, _, reply = _read_reply(raw)
    assert (response_to, reply["ok"]) == (42, 1.0)


def test_unknown_command_is_command_not_found(raw: socket.socket) -> None:
    raw.sendall(_op_msg(bson.encode({"frobnicate": 1, "$db": "admin"})))
    _, _, reply = _read_reply(raw)
    assert (reply["ok"], reply["code"], reply["codeName"]) == (0.0, 59, "CommandNotFound")
    assert "frobnicate" in reply["errmsg"]


def test_legacy_op_query_handshake_gets_op_reply(raw: socket.socket) -> None:
    query = bson.encode({"isMaster": 1, "helloOk": True})
    payload = struct.pack("<i", 0) + b"admin.$cmd\x00" + struct.pack("<ii", 0, -1) + query
    raw.sendall(struct.pack("<iiii", 16 + len(payload), 5, 0, OP_QUERY) + payload)
    response_to, op_code, reply = _read_reply(raw)
    assert (response_to, op_code) == (5, OP_REPLY)
    assert reply["ok"] == 1.0 and reply["ismaster"] is True


def test_impossible_length_closes_only_that_connection(raw: socket.socket, client: MongoClient) -> None:
    raw.sendall(struct.pack("<iiii", 3, 1, 0, OP_MSG))
    raw.settimeout(5)
    assert raw.recv(1) == b""  # closed by the server
    assert client.admin.command("ping")["ok"] == 1.0  # everyone else carries on


def test_truncated_and_random_messages_do_not_hurt_the_server(
    mongodb_uri: str, client: MongoClient
) -> None:
    host_port = mongodb_uri.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    rng = __import__("random").Random(1234)
    valid = _op_msg(bson.encode({"insert": "c", "documents": [{"a": 1}], "$db": "fuzz"}))
    for _ in range(60):
        cut = valid[: rng.randrange(1, len(valid))]
        noise = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(rng.choice([cut, noise, cut + noise]))
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(5)
            try:
                while sock.recv(4096):
                    pass
            except OSError:
                pass
    assert client.admin.command("ping")["ok"] == 1.0
    # No truncated or corrupted insert was applied.
    assert client.fuzz.c.count_documents({}) == 0


def test_oversize_document_in_a_sequence_is_refused(raw: socket.socket) -> None:
    # Past mongod's internal limit (16 MiB + 16 KiB) the message itself is refused.
    big = bson.encode({"_id": 1, "blob": b"x" * (16 * 1024 * 1024 + 16 * 1024)})
    identifier = b"documents\x00"
    section = b"\x01" + struct.pack("<i", 4 + len(identifier) + len(big)) + identifier + big
    body = bson.encode({"insert": "c", "$db": "big"})
    payload = struct.pack("<i", 0) + b"\x00" + body + section
    raw.sendall(struct.pack("<iiii", 16 + len(payload), 9, 0, OP_MSG) + payload)
    _, _, reply = _read_reply(raw)
    assert reply["ok"] == 0 and reply["code"] == 10334


def test_server_process_exits_when_parent_closes_stdin() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "mongolet", "--port", "0", "--exit-with-stdin"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    assert process.stdout.readline().startswith("mongolet listening")
    process.stdin.close()
    deadline = time.monotonic() + 10
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if process.poll() is None:
        process.kill()
    assert process.wait() == 0
    process.stdout.close()

