"""The spec runner fails a test it cannot run or check, instead of letting it pass.

Each test runs small unified-format tests (or real spec files) against the spec server.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import BulkWriteError

from tests.spec.loader import expected_failures, load_tests, spec_root
from tests.spec.matching import Matcher, MatchError
from tests.spec.runner import ServerInfo, SpecRun, SpecTest, check_error
from tests.spec.unsupported import Unsupported

_DB = "runner-checks"
_ENTITIES = [
    {"client": {"id": "client0", "observeEvents": ["commandStartedEvent"]}},
    {"database": {"id": "database0", "client": "client0", "databaseName": _DB}},
    {"collection": {"id": "collection0", "database": "database0", "collectionName": "coll"}},
    {"session": {"id": "session0", "client": "client0"}},
]


def _spec(operations: list[Mapping[str, Any]], entities: list[Any] | None = None,
          **test: Any) -> SpecTest:
    file = {"description": "runner checks", "schemaVersion": "1.0",
            "createEntities": _ENTITIES if entities is None else entities,
            "initialData": [{"databaseName": _DB, "collectionName": "coll",
                             "documents": [{"_id": 1}]}]}
    return SpecTest("runner", "checks", file,
                    {"description": "a test", "operations": operations, **test})


def _run(spec: SpecTest, internal: MongoClient, uri: str) -> None:
    SpecRun(spec, internal, uri).run()


def _real_tests(folder: str, file_name: str) -> list[SpecTest]:
    if not spec_root().is_dir():
        pytest.skip("MongoDB spec tests not found")
    return [t for t in load_tests(spec_root()) if t.folder == folder
            and t.file_name == file_name]


_CLIENT_ERROR = {"isClientError": True}


@pytest.mark.parametrize("operation", [
    {"name": "noSuchOperation", "object": "collection0", "expectError": _CLIENT_ERROR},
    {"name": "noSuchOperation", "object": "collection0", "ignoreResultAndError": True},
    {"name": "insertOne", "object": "collection0", "expectError": _CLIENT_ERROR,
     "arguments": {"document": {"_id": 2}, "noSuchOption": 1}},
    {"name": "insertOne", "object": "noSuchEntity", "expectError": _CLIENT_ERROR,
     "arguments": {"document": {"_id": 2}}},
], ids=["unknown operation", "ignoreResultAndError", "unknown argument", "unknown entity"])
def test_what_the_runner_cannot_run_is_never_the_expected_error(
        operation: Mapping[str, Any], spec_uri: str, internal_client: MongoClient) -> None:
    with pytest.raises(Unsupported):
        _run(_spec([operation]), internal_client, spec_uri)


def test_a_client_bulk_write_model_without_its_namespace_is_never_the_expected_error(
        spec_uri: str, internal_client: MongoClient) -> None:
    operation = {"name": "clientBulkWrite", "object": "client0", "expectError": _CLIENT_ERROR,
                 "arguments": {"models": [{"insertOne": {"document": {"_id": 2}}}]}}
    with pytest.raises(Unsupported, match="namespace"):
        _run(_spec([operation]), internal_client, spec_uri)


@pytest.mark.parametrize(("test_keys", "entities"), [
    ({"expectLogMessages": []}, None),
    ({"noSuchKey": 1}, None),
    ({}, [{"client": {"id": "client0", "observeLogMessages": {"command": "debug"}}}]),
], ids=["expectLogMessages", "unknown test key", "observeLogMessages"])
def test_unknown_keys_and_log_messages_fail_loudly(
        test_keys: dict[str, Any], entities: list[Any] | None, spec_uri: str,
        internal_client: MongoClient) -> None:
    spec = _spec([], entities, **test_keys)
    with pytest.raises(Unsupported):
        _run(spec, internal_client, spec_uri)


def test_number_of_checked_out_connections_is_counted(
        spec_uri: str, internal_client: MongoClient) -> None:
    def check(connections: int) -> list[Mapping[str, Any]]:
        return [{"name": "find", "object": "collection0", "arguments": {"filter": {}}},
                {"name": "assertNumberConnectionsCheckedOut", "object": "testRunner",
                 "arguments": {"client": "client0", "connections": connections}}]

    _run(_spec(check(0)), internal_client, spec_uri)
    with pytest.raises(MatchError, match="expected 1 checked-out connections, 0 are"):
        _run(_spec(check(1)), internal_client, spec_uri)


def test_targeted_fail_point_needs_a_pinned_session(
        spec_uri: str, internal_client: MongoClient) -> None:
    operations = [
        {"name": "startTransaction", "object": "session0"},
        {"name": "insertOne", "object": "collection0",
         "arguments": {"session": "session0", "document": {"_id": 2}}},
        {"name": "targetedFailPoint", "object": "testRunner", "arguments": {
            "session": "session0", "failPoint": {
                "configureFailPoint": "failCommand", "mode": {"times": 1},
                "data": {"failCommands": ["commitTransaction"], "errorCode": 11600}}}},
    ]
    # A replica set never pins a transaction's session (only mongos and load balancers do).
    with pytest.raises(MatchError, match="not pinned"):
        _run(_spec(operations), internal_client, spec_uri)


def test_error_contains_on_a_bulk_write_error_looks_at_its_messages(
        internal_client: MongoClient) -> None:
    coll = internal_client[_DB]["bulk"]
    coll.drop()
    try:
        with pytest.raises(BulkWriteError) as raised:
            coll.insert_many([{"_id": 1}, {"_id": 1}])
        matcher = Matcher()
        check_error({"errorContains": "DUPLICATE KEY"}, raised.value, matcher)
        # The details dump names every field; the messages do not.
        assert "nInserted" in str(raised.value.details)
        with pytest.raises(MatchError, match="do not contain 'nInserted'"):
            check_error({"errorContains": "nInserted"}, raised.value, matcher)
    finally:
        internal_client.drop_database(_DB)


def _single_server_uri(client: MongoClient) -> str:
    """A direct connection to the primary (or the one server ``client`` talks to)."""
    address = client.primary or client.address
    assert address is not None
    host, port = address
    return f"mongodb://{host}:{port}/?directConnection=true"


def test_a_topology_dependent_expected_failure_passes_on_the_other_topology(
        spec_uri: str, internal_client: MongoClient, server_info: ServerInfo) -> None:
    conditional = {test_id: failure for test_id, failure in expected_failures().items()
                   if failure.conditions}
    assert len(conditional) == 6
    single = _single_server_uri(internal_client)
    tests = [t for t in load_tests(spec_root()) if t.id in conditional]
    assert len(tests) == len(conditional)
    with MongoClient(single) as direct:
        direct.admin.command("ping")
        topology = direct.topology_description.topology_type_name
    assert topology == "Single"
    for test in tests:
        assert not conditional[test.id].applies(frozenset({topology, "no secondary"}))
        _run(test, internal_client, single)  # passes: a single server has no secondary
        if conditional[test.id].applies(server_info.client_facts):
            with pytest.raises(Exception):  # noqa: B017 - fails as its line says
                _run(test, internal_client, spec_uri)


def test_expected_failure_conditions_name_facts_about_the_client(tmp_path: Path) -> None:
    listed = tmp_path / "failures.txt"
    listed.write_text("a/b::always # a reason\n"
                      "a/b::some # when ReplicaSetWithPrimary with no secondary, Sharded: why\n")
    always, some = expected_failures(listed).values()
    assert always.applies(frozenset({"Single"})) and always.reason == "a reason"
    assert some.reason == "why"
    assert some.applies(frozenset({"ReplicaSetWithPrimary", "no secondary"}))
    assert some.applies(frozenset({"Sharded"}))
    assert not some.applies(frozenset({"ReplicaSetWithPrimary"}))  # it has a secondary
    assert not some.applies(frozenset({"Single", "no secondary"}))
