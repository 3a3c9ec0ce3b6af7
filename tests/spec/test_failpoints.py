"""mongolet's fail points (configureFailPoint), seen through real PyMongo clients."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from pymongo import AsyncMongoClient, MongoClient, monitoring
from pymongo.errors import AutoReconnect, OperationFailure, WriteConcernError

import mongolet
from mongolet.failpoints import SessionInfo, error_labels


class _Started(monitoring.CommandListener):
    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: Any) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


def _client(uri: str, **options: Any) -> MongoClient[dict[str, Any]]:
    return MongoClient(uri, **options)


def _details(error: OperationFailure) -> Mapping[str, Any]:
    return error.details or {}


@pytest.fixture
def admin(internal_client: MongoClient) -> Iterator[Any]:
    """The admin database; every fail point is off again after the test."""
    yield internal_client.admin
    for name in ("failCommand", "onPrimaryTransactionalWrite"):
        internal_client.admin.command({"configureFailPoint": name, "mode": "off"})


@pytest.fixture
def coll_name() -> str:
    return f"fp_{uuid.uuid4().hex[:12]}"


def _fail(admin: Any, mode: Any, **data: Any) -> None:
    admin.command({"configureFailPoint": "failCommand", "mode": mode, "data": data})


def test_error_code_fails_only_the_configured_number_of_commands(
        spec_uri: str, admin: Any, coll_name: str) -> None:
    _fail(admin, {"times": 1}, failCommands=["insert"], errorCode=262)
    with _client(spec_uri, retryWrites=False) as client:
        coll = client.fp[coll_name]
        with pytest.raises(OperationFailure) as raised:
            coll.insert_one({"_id": 1})
        assert raised.value.code == 262
        assert _details(raised.value)["codeName"] == "ExceededTimeLimit"
        assert not raised.value.has_error_label("RetryableWriteError")  # not a retryable write
        coll.insert_one({"_id": 1})
        assert coll.count_documents({}) == 1
        client.drop_database("fp")


def test_retryable_write_gets_the_label_and_the_driver_retries(
        spec_uri: str, admin: Any, coll_name: str) -> None:
    _fail(admin, {"times": 1}, failCommands=["insert"], errorCode=91)
    started = _Started()
    with _client(spec_uri, event_listeners=[started]) as client:
        client.fp[coll_name].insert_one({"_id": 1})
        assert started.names.count("insert") == 2
        assert client.fp[coll_name].count_documents({}) == 1
        client.drop_database("fp")


def test_explicit_error_labels_replace_the_server_labels(
        spec_uri: str, admin: Any, coll_name: str) -> None:
    _fail(admin, {"times": 1}, failCommands=["insert"], errorCode=262, errorLabels=[])
    with _client(spec_uri) as client, pytest.raises(OperationFailure) as raised:
        client.fp[coll_name].insert_one({"_id": 1})
    assert "errorLabels" not in _details(raised.value)


def test_error_in_a_transaction_is_transient(spec_uri: str, admin: Any,
                                             coll_name: str) -> None:
    with _client(spec_uri) as client, client.start_session() as session:
        client.fp[coll_name].insert_one({"_id": 0})
        _fail(admin, {"times": 1}, failCommands=["insert"], errorCode=112)
        session.start_transaction()
        with pytest.raises(OperationFailure) as raised:
            client.fp[coll_name].insert_one({"_id": 1}, session=session)
        assert raised.value.has_error_label("TransientTransactionError")
        session.abort_transaction()
        client.drop_database("fp")


def test_close_connection_is_a_network_error(spec_uri: str, admin: Any) -> None:
    _fail(admin, {"times": 1}, failCommands=["ping"], closeConnection=True)
    with _client(spec_uri) as client:
        with pytest.raises(AutoReconnect):
            client.admin.command("ping")
        assert client.admin.command("ping")["ok"] == 1


def test_block_connection_delays_the_reply(spec_uri: str, admin: Any) -> None:
    _fail(admin, {"times": 1}, failCommands=["ping"], blockConnection=True, blockTimeMS=200)
    with _client(spec_uri) as client:
        client.admin.command("hello")
        start = time.monotonic()
        client.admin.command("ping")
        assert time.monotonic() - start >= 0.19


def test_write_concern_error_is_added_to_an_applied_write(
        spec_uri: str, admin: Any, coll_name: str) -> None:
    _fail(admin, {"times": 1}, failCommands=["insert"],
          writeConcernError={"code": 64, "errmsg": "waiting for replication timed out"})
    with _client(spec_uri, retryWrites=False) as client:
        with pytest.raises(WriteConcernError) as raised:
            client.fp[coll_name].insert_one({"_id": 1})
        assert raised.value.code == 64
        assert client.fp[coll_name].count_documents({}) == 1
        client.drop_database("fp")


def test_app_name_and_skip_select_the_commands_that_fail(spec_uri: str, admin: Any) -> None:
    _fail(admin, {"skip": 1}, failCommands=["ping"], errorCode=2, appName="target")
    with _client(spec_uri, appName="other") as other, \
            _client(spec_uri, appName="target") as target:
        other.admin.command("ping")
        target.admin.command("ping")  # skipped once
        with pytest.raises(OperationFailure):
            target.admin.command("ping")
        other.admin.command("ping")


def test_on_primary_transactional_write_commits_then_drops_the_connection(
        spec_uri: str, admin: Any, coll_name: str) -> None:
    admin.command({"configureFailPoint": "onPrimaryTransactionalWrite", "mode": {"times": 1}})
    started = _Started()
    with _client(spec_uri, event_listeners=[started]) as client:
        client.fp[coll_name].update_one({"_id": 1}, {"$inc": {"n": 1}}, upsert=True)
        assert started.names.count("update") == 2  # the retry is answered, not re-applied
        assert client.fp[coll_name].find_one({"_id": 1}) == {"_id": 1, "n": 1}
        client.drop_database("fp")


def test_bad_configurations_are_refused(admin: Any) -> None:
    with pytest.raises(OperationFailure):
        admin.command({"configureFailPoint": "noSuchFailPoint", "mode": "alwaysOn"})
    with pytest.raises(OperationFailure):
        admin.command({"configureFailPoint": "failCommand", "mode": "sometimes",
                       "data": {"failCommands": ["ping"]}})
    with pytest.raises(OperationFailure):
        admin.command({"configureFailPoint": "failCommand", "mode": "alwaysOn", "data": {}})


def test_without_test_commands_the_command_does_not_exist() -> None:
    with mongolet.serve() as server, _client(server.uri) as client:
        with pytest.raises(OperationFailure) as raised:
            client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
        assert raised.value.code == 59
        assert _details(raised.value)["codeName"] == "CommandNotFound"


async def test_async_client_sees_the_configured_error(spec_uri: str, admin: Any) -> None:
    _fail(admin, {"times": 1}, failCommands=["ping"], errorCode=11601)
    client: AsyncMongoClient = AsyncMongoClient(spec_uri)
    try:
        with pytest.raises(OperationFailure) as raised:
            await client.admin.command("ping")
        assert _details(raised.value)["codeName"] == "Interrupted"
        assert (await client.admin.command("ping"))["ok"] == 1
    finally:
        await client.close()


def test_labels_follow_mongods_rules() -> None:
    retryable_write = SessionInfo("insert", has_txn_number=True, has_autocommit=False)
    in_transaction = SessionInfo("insert", has_txn_number=True, has_autocommit=True)
    commit = SessionInfo("committransaction", has_txn_number=True, has_autocommit=True)
    plain = SessionInfo("insert", has_txn_number=False, has_autocommit=False)
    assert error_labels(retryable_write, 91) == ["RetryableWriteError"]
    assert error_labels(retryable_write, 11000) == []
    assert error_labels(plain, 91) == []
    assert error_labels(in_transaction, 91) == ["TransientTransactionError"]
    assert error_labels(in_transaction, 251) == ["TransientTransactionError"]
    assert error_labels(commit, 91) == ["RetryableWriteError"]
    assert error_labels(commit, 251) == ["TransientTransactionError"]
    assert error_labels(commit, 251, wce_code=64) == []
    assert error_labels(retryable_write, None, wce_code=91) == ["RetryableWriteError"]
