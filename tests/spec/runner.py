"""Runs one test of a unified-format file: set up data and entities, run the operations
with their expectations, then check events and the collections' outcome.

The runner talks to the server only through real PyMongo clients: the *internal* client
(set-up, outcome, fail point clean-up) and the client entities the test creates.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bson import SON, Regex
from pymongo import MongoClient
from pymongo.client_session import ClientSession
from pymongo.errors import (
    BulkWriteError,
    ClientBulkWriteException,
    ConnectionFailure,
    NotPrimaryError,
    OperationFailure,
    PyMongoError,
)
from pymongo.read_concern import ReadConcern
from pymongo.read_preferences import ReadPreference
from pymongo.results import BulkWriteResult
from pymongo.synchronous.client_session import _TxnState
from pymongo.synchronous.database import Database
from pymongo.write_concern import WriteConcern

from tests.spec.entities import EntityMap, concern_options
from tests.spec.matching import Matcher, MatchError, equal_exactly, sequence_repr
from tests.spec.operations import bulk_result, client_bulk_result, run_entity_operation
from tests.spec.unsupported import Unsupported

SUPPORTED_SCHEMA = (1, 21)
# PyMongo's transaction states (plain ints) by the format's names.
_TXN_STATES = {_TxnState.NONE: "none", _TxnState.STARTING: "starting",
               _TxnState.IN_PROGRESS: "in_progress", _TxnState.COMMITTED: "committed",
               _TxnState.COMMITTED_EMPTY: "committed", _TxnState.ABORTED: "aborted"}


# --- runOnRequirements ------------------------------------------------------------------

@dataclass(frozen=True)
class ServerInfo:
    """What the server reports, as runOnRequirements sees it."""

    version: tuple[int, ...]
    topology: str  # "single", "replicaset", "sharded"
    parameters: Mapping[str, Any] = field(default_factory=dict)
    # What the client sees ("ReplicaSetWithPrimary", "Single" with directConnection...)
    # and the secondaries it could select: some expected failures hold for some clients.
    client_topology: str = "Unknown"
    secondaries: int = 0

    @property
    def client_facts(self) -> frozenset[str]:
        """What expected_failures.txt conditions may name about the client."""
        facts = {self.client_topology}
        if self.secondaries == 0:
            facts.add("no secondary")
        return frozenset(facts)

    @classmethod
    def probe(cls, client: MongoClient) -> ServerInfo:
        build = client.admin.command("buildInfo")
        hello = client.admin.command("hello")
        if hello.get("msg") == "isdbgrid":
            topology = "sharded"
        elif "setName" in hello:
            topology = "replicaset"
        else:
            topology = "single"
        try:
            parameters = client.admin.command("getParameter", "*")
        except OperationFailure:
            parameters = {}
        version = tuple(int(part) for part in build["versionArray"][:3])
        secondaries = 0
        if client.topology_description.topology_type_name.startswith("ReplicaSet"):
            secondaries = len(hello.get("hosts", [])) + len(hello.get("passives", [])) - 1
        return cls(version, topology, parameters,
                   client.topology_description.topology_type_name, max(secondaries, 0))

    def describe(self) -> str:
        return f"{'.'.join(map(str, self.version))} {self.topology}"


def _version(text: str) -> tuple[int, ...]:
    parts = tuple(int(part) for part in text.split("."))
    return parts + (0,) * (3 - len(parts))


def unmet_requirement(requirement: Mapping[str, Any], server: ServerInfo) -> str | None:
    """Why ``requirement`` does not hold for ``server`` (None when it holds)."""
    if "minServerVersion" in requirement and server.version < _version(
            requirement["minServerVersion"]):
        return f"minServerVersion {requirement['minServerVersion']}"
    if "maxServerVersion" in requirement and server.version > _version(
            requirement["maxServerVersion"]):
        return f"maxServerVersion {requirement['maxServerVersion']}"
    topologies = requirement.get("topologies")
    if topologies:
        accepted = {"sharded" if t == "sharded-replicaset" else t for t in topologies}
        if server.topology not in accepted:
            return f"topologies {topologies}"
    if requirement.get("serverless") == "require":
        return "serverless: require"
    if requirement.get("auth") is True:
        return "auth: true (the server runs without authentication)"
    if requirement.get("csfle") is True:
        return "csfle: true (no client-side field level encryption here)"
    for name, value in requirement.get("serverParameters", {}).items():
        if server.parameters.get(name) != value:
            return f"serverParameters {name}={value!r}"
    return None


def skip_reason(requirements: Sequence[Mapping[str, Any]] | None,
                server: ServerInfo) -> str | None:
    """A skip reason when none of ``requirements`` holds; None to run the test."""
    if not requirements:
        return None
    unmet = [unmet_requirement(r, server) for r in requirements]
    if any(reason is None for reason in unmet):
        return None
    return f"runOnRequirements not met by {server.describe()}: " + "; ".join(
        str(reason) for reason in unmet)


def check_schema_version(text: str) -> None:
    version = tuple(int(part) for part in text.split("."))
    if version[0] != SUPPORTED_SCHEMA[0] or version[:2] > SUPPORTED_SCHEMA:
        raise Unsupported(f"schemaVersion {text} is not supported (runner supports "
                         f"{SUPPORTED_SCHEMA[0]}.0 to {SUPPORTED_SCHEMA[0]}.{SUPPORTED_SCHEMA[1]})")


# --- errors -------------------------------------------------------------------------------

def is_client_error(error: BaseException) -> bool:
    """Errors raised by the driver itself (argument checks, network errors), not by a reply."""
    if isinstance(error, NotPrimaryError):
        return False
    if isinstance(error, ConnectionFailure):
        return True
    return not isinstance(error, OperationFailure)


def error_messages(error: BaseException) -> list[str]:
    """The messages ``errorContains`` searches: a bulk write error's are those of its write
    (concern) errors; its ``str`` dumps every field, names and values alike."""
    if isinstance(error, BulkWriteError):
        details = error.details or {}
        return [str(item.get("errmsg", "")) for key in ("writeErrors", "writeConcernErrors")
                for item in details.get(key, [])]
    return [str(error)]


def check_error(expected: Mapping[str, Any], error: BaseException, matcher: Matcher) -> None:
    """Assert ``error`` is what ``expectError`` describes."""
    if isinstance(error, ClientBulkWriteException):
        _check_client_bulk_error(expected, error, matcher)
        # The rest (errorCode, labels...) describe the top-level error that stopped it.
        expected = {k: v for k, v in expected.items()
                    if k not in ("writeErrors", "writeConcernErrors", "expectResult")}
        if error.error is not None:
            error = error.error
    details: Mapping[str, Any] = getattr(error, "details", None) or {}
    for key, want in expected.items():
        if key == "isError":
            continue
        if key == "isClientError":
            if is_client_error(error) != want:
                raise MatchError(f"expected a {'client' if want else 'server'} error, got "
                                 f"{type(error).__name__}: {error}")
        elif key == "errorContains":
            messages = error_messages(error)
            if not any(want.lower() in message.lower() for message in messages):
                raise MatchError(f"error messages {messages!r} do not contain {want!r}")
        elif key == "errorCode":
            code = details.get("code", getattr(error, "code", None))
            if code != want:
                raise MatchError(f"expected error code {want}, got {code}: {error}")
        elif key == "errorCodeName":
            name = details.get("codeName")
            if not isinstance(name, str) or name.lower() != want.lower():
                raise MatchError(f"expected codeName {want}, got {name}: {error}")
        elif key in ("errorLabelsContain", "errorLabelsOmit"):
            has_label = getattr(error, "has_error_label", lambda label: False)
            for label in want:
                if has_label(label) != (key == "errorLabelsContain"):
                    raise MatchError(f"{key} {label}: error {type(error).__name__} "
                                     f"{error} has labels {details.get('errorLabels')}")
        elif key == "errorResponse":
            matcher.match(want, dict(details))
        elif key == "expectResult":
            if not isinstance(error, BulkWriteError):
                raise MatchError(f"expectError.expectResult needs a bulk write error, got "
                                 f"{type(error).__name__}: {error}")
            matcher.match(want, bulk_result(BulkWriteResult(dict(error.details), True)))
        else:
            raise Unsupported(f"unsupported expectError field {key!r}")


def _error_entry(error: Mapping[str, Any]) -> dict[str, Any]:
    """A write (concern) error as the format's WriteError: code, message, details."""
    entry = {"code": error["code"], "message": error.get("errmsg", "")}
    if "errInfo" in error:
        entry["details"] = error["errInfo"]
    return entry


def _check_client_bulk_error(expected: Mapping[str, Any], error: ClientBulkWriteException,
                             matcher: Matcher) -> None:
    """A client bulk write's write errors (by op index), write concern errors and partial
    result."""
    if "writeErrors" in expected:
        actual = {str(e["idx"]): e for e in error.write_errors or []}
        want = expected["writeErrors"]
        if set(want) != set(actual):
            raise MatchError(f"write errors at {sorted(actual)}, expected at {sorted(want)}")
        for index, entry in want.items():
            e = actual[index]
            matcher.match(entry, _error_entry(e))
    if "writeConcernErrors" in expected:
        matcher.match(expected["writeConcernErrors"],
                      [_error_entry(e) for e in error.write_concern_errors or []])
    if "expectResult" in expected:
        matcher.match(expected["expectResult"], client_bulk_result(error.partial_result))


# --- a test -------------------------------------------------------------------------------

@dataclass
class SpecTest:
    """One element of ``tests`` with the file that holds it."""

    folder: str
    file_name: str
    file: Mapping[str, Any]
    test: Mapping[str, Any]

    @property
    def id(self) -> str:
        return f"{self.folder}/{self.file_name}::{self.test['description']}"

    def skip_reason(self, server: ServerInfo) -> str | None:
        return (skip_reason(self.file.get("runOnRequirements"), server)
                or skip_reason(self.test.get("runOnRequirements"), server)
                or self.test.get("skipReason"))


class SpecRun:
    """The state of one running test: its entities, fail points and touched databases."""

    def __init__(self, spec: SpecTest, internal: MongoClient, uri: str) -> None:
        self.spec = spec
        self.internal = internal
        self.entities = EntityMap(uri)
        self.matcher = Matcher(lsid_of=self.entities.lsid_of, entity=self.entities.get)
        self.fail_points: list[str] = []
        self.databases: set[str] = set()

    def run(self) -> None:
        check_schema_version(self.spec.file["schemaVersion"])
        _check_keys("file", self.spec.file, _FILE_KEYS)
        _check_keys("test", self.spec.test, _TEST_KEYS)
        try:
            self.entities.create(self.spec.file.get("createEntities", []))
            self.databases.update(value.name for value in self.entities.entities.values()
                                  if isinstance(value, Database))
            self._initial_data(self.spec.file.get("initialData", []))
            self.run_operations(self.spec.test["operations"])
            for recorder in self.entities.recorders.values():
                recorder.enabled = False
            self._disable_fail_points()
            for expected in self.spec.test.get("expectEvents", []):
                self._check_events(expected)
            self._check_outcome(self.spec.test.get("outcome", []))
        finally:
            self.clean_up()

    def clean_up(self) -> None:
        try:
            self.entities.close()
        finally:
            self._disable_fail_points()
            kill_all_sessions(self.internal)
            for name in self.databases:
                self.internal.drop_database(name)

    # set-up and checks -------------------------------------------------------------------

    def _initial_data(self, collections: Sequence[Mapping[str, Any]]) -> None:
        for data in collections:
            self.databases.add(data["databaseName"])
            db = self.internal.get_database(data["databaseName"],
                                            write_concern=WriteConcern(w="majority"))
            db.drop_collection(data["collectionName"])
            options = data.get("createOptions")
            if options or not data["documents"]:
                db.create_collection(data["collectionName"], check_exists=False,
                                     **(options or {}))
            if data["documents"]:
                db[data["collectionName"]].insert_many(data["documents"])

    def _check_outcome(self, collections: Sequence[Mapping[str, Any]]) -> None:
        for data in collections:
            self.databases.add(data["databaseName"])
            collection = self.internal[data["databaseName"]].get_collection(
                data["collectionName"], read_preference=ReadPreference.PRIMARY,
                read_concern=ReadConcern("local"))
            actual = list(collection.find({}, sort=[("_id", 1)]))
            expected = data["documents"]
            if not equal_exactly(expected, actual):
                raise MatchError(
                    f"outcome of {data['databaseName']}.{data['collectionName']}:\nexpected\n"
                    f"{sequence_repr(expected)}\nactual\n{sequence_repr(actual)}")

    def _check_events(self, expected: Mapping[str, Any]) -> None:
        _check_keys("expectEvents", expected, _EXPECT_EVENTS_KEYS)
        kind = expected.get("eventType", "command")
        recorder = self.entities.recorder(expected["client"])
        actual = [event for event in recorder.events if event.kind == kind]
        wanted = expected["events"]
        if expected.get("ignoreExtraEvents"):
            actual = actual[:len(wanted)]
        shown = "\nexpected:\n" + sequence_repr(wanted) + "\nactual:\n" + sequence_repr(
            [(e.name, getattr(e.value, "command", getattr(e.value, "command_name", "")))
             for e in actual])
        if len(actual) != len(wanted):
            raise MatchError(f"{expected['client']}: expected {len(wanted)} {kind} events, "
                             f"got {len(actual)}{shown}")
        for index, (want, got) in enumerate(zip(wanted, actual)):
            (name, fields), = want.items()
            if got.name != name:
                raise MatchError(f"event {index}: expected {name}, got {got.name}{shown}")
            try:
                self._check_event_fields(fields, got.value)
            except MatchError as error:
                raise MatchError(f"event {index} ({name}): {error}{shown}") from None

    def _check_event_fields(self, fields: Mapping[str, Any], event: Any) -> None:
        for key, want in fields.items():
            if key == "command":
                self.matcher.match(want, _plain_equality(event.command))
            elif key == "reply":
                self.matcher.match(want, event.reply)
            elif key == "commandName":
                if event.command_name != want:
                    raise MatchError(f"commandName {event.command_name!r} != {want!r}")
            elif key == "databaseName":
                if event.database_name != want:
                    raise MatchError(f"databaseName {event.database_name!r} != {want!r}")
            elif key == "hasServiceId":
                if (event.service_id is not None) != want:
                    raise MatchError(f"hasServiceId: {event.service_id!r}")
            elif key == "hasServerConnectionId":
                if (event.server_connection_id is not None) != want:
                    raise MatchError(f"hasServerConnectionId: {event.server_connection_id!r}")
            else:
                raise Unsupported(f"unsupported event field {key!r}")

    # operations ----------------------------------------------------------------------------

    def run_operations(self, operations: Sequence[Mapping[str, Any]],
                       in_callback: bool = False) -> None:
        for operation in operations:
            if operation["object"] == "testRunner":
                self._special_operation(operation["name"], operation.get("arguments", {}))
            else:
                self._entity_operation(operation, in_callback)

    def _entity_operation(self, operation: Mapping[str, Any], in_callback: bool) -> None:
        _check_keys("operation", operation, _OPERATION_KEYS)
        name = operation["name"]
        target = self.entities.get(operation["object"])
        arguments = operation.get("arguments", {})
        expect_error = operation.get("expectError")
        try:
            if name == "withTransaction":
                result = self._with_transaction(target, dict(arguments))
            else:
                result = run_entity_operation(target, name, arguments, self.entities)
        except (PyMongoError, ValueError, TypeError) as error:
            if isinstance(error, MatchError):
                raise
            if isinstance(error, TypeError) and "unexpected keyword argument" in str(error):
                # The runner passed PyMongo an option it does not have: a runner bug.
                raise Unsupported(f"{name}: {error}") from error
            if expect_error is not None:
                check_error(expect_error, error, self.matcher)
            elif not operation.get("ignoreResultAndError"):
                raise
            if in_callback:
                raise  # with_transaction must see the error to decide on retrying
            return
        if expect_error is not None:
            raise MatchError(f"{name} succeeded with {result!r}, expected error {expect_error}")
        if "expectResult" in operation:
            try:
                self.matcher.match(operation["expectResult"], result)
            except MatchError as error:
                raise MatchError(f"{name} result: {error}") from None
        if "saveResultAsEntity" in operation:
            self.entities[operation["saveResultAsEntity"]] = result

    def _with_transaction(self, session: Any, arguments: dict[str, Any]) -> Any:
        if not isinstance(session, ClientSession):
            raise TypeError("withTransaction runs on a session entity")
        callback = arguments.pop("callback")
        options = concern_options(arguments)
        return session.with_transaction(
            lambda _session: self.run_operations(callback, in_callback=True), **options)

    def _special_operation(self, name: str, args: Mapping[str, Any]) -> None:
        handler = getattr(self, f"_test_{name}", None)
        if handler is None:
            raise Unsupported(f"unsupported testRunner operation {name!r}")
        handler(**args)

    def _configure_fail_point(self, client: MongoClient, command: Mapping[str, Any]) -> None:
        client.admin.command(SON(command))
        self.fail_points.append(command["configureFailPoint"])

    def _disable_fail_points(self) -> None:
        # One server: the internal client reaches every fail point the test configured.
        while self.fail_points:
            name = self.fail_points.pop()
            self.internal.admin.command({"configureFailPoint": name, "mode": "off"})

    def _test_failPoint(self, client: str, failPoint: Mapping[str, Any]) -> None:
        self._configure_fail_point(self.entities.get(client, MongoClient), failPoint)

    def _test_targetedFailPoint(self, session: str, failPoint: Mapping[str, Any]) -> None:
        # The format: an error unless the session is pinned (to a mongos), for the fail
        # point goes to the server it is pinned to.
        entity = self._session(session)
        if entity._transaction.pinned_address is None:
            raise MatchError(f"targetedFailPoint: session {session} is not pinned")
        self._configure_fail_point(entity.client, failPoint)

    def _session(self, name: str) -> Any:
        return self.entities.get(name, ClientSession)

    def _test_assertSessionTransactionState(self, session: str, state: str) -> None:
        actual = _TXN_STATES[self._session(session)._transaction.state]
        if actual != state:
            raise MatchError(f"session {session} transaction state {actual}, expected {state}")

    def _test_assertSessionPinned(self, session: str) -> None:
        if self._session(session)._transaction.pinned_address is None:
            raise MatchError(f"session {session} is not pinned")

    def _test_assertSessionUnpinned(self, session: str) -> None:
        if self._session(session)._transaction.pinned_address is not None:
            raise MatchError(f"session {session} is pinned")

    def _test_assertSessionDirty(self, session: str) -> None:
        if not self._session(session)._server_session.dirty:
            raise MatchError(f"session {session} is not dirty")

    def _test_assertSessionNotDirty(self, session: str) -> None:
        if self._session(session)._server_session.dirty:
            raise MatchError(f"session {session} is dirty")

    def _last_two_lsids(self, client: str) -> tuple[Any, Any]:
        started = self.entities.recorder(client).started_commands
        if len(started) < 2:
            raise MatchError(f"{client} started {len(started)} commands, need 2")
        return started[-1].command["lsid"], started[-2].command["lsid"]

    def _test_assertSameLsidOnLastTwoCommands(self, client: str) -> None:
        last, before = self._last_two_lsids(client)
        if last != before:
            raise MatchError(f"lsids differ: {before} then {last}")

    def _test_assertDifferentLsidOnLastTwoCommands(self, client: str) -> None:
        last, before = self._last_two_lsids(client)
        if last == before:
            raise MatchError(f"the last two commands share lsid {last}")

    def _collection_names(self, databaseName: str) -> list[str]:
        return self.internal[databaseName].list_collection_names()

    def _test_assertCollectionExists(self, databaseName: str, collectionName: str) -> None:
        if collectionName not in self._collection_names(databaseName):
            raise MatchError(f"collection {databaseName}.{collectionName} does not exist")

    def _test_assertCollectionNotExists(self, databaseName: str, collectionName: str) -> None:
        if collectionName in self._collection_names(databaseName):
            raise MatchError(f"collection {databaseName}.{collectionName} exists")

    def _index_names(self, databaseName: str, collectionName: str) -> list[str]:
        return [index["name"] for index in
                self.internal[databaseName][collectionName].list_indexes()]

    def _test_assertIndexExists(self, databaseName: str, collectionName: str,
                                indexName: str) -> None:
        if indexName not in self._index_names(databaseName, collectionName):
            raise MatchError(f"index {indexName} does not exist on {collectionName}")

    def _test_assertIndexNotExists(self, databaseName: str, collectionName: str,
                                   indexName: str) -> None:
        if indexName in self._index_names(databaseName, collectionName):
            raise MatchError(f"index {indexName} exists on {collectionName}")

    def _test_assertNumberConnectionsCheckedOut(self, client: str, connections: int) -> None:
        actual = self.entities.recorder(client).checked_out
        if actual != connections:
            raise MatchError(f"{client}: expected {connections} checked-out connections, "
                             f"{actual} are")

    def _test_createEntities(self, entities: list[Mapping[str, Any]]) -> None:
        self.entities.create(entities)

    def _test_wait(self, ms: int) -> None:
        time.sleep(ms / 1000)


# The keys of the format (schema 1.21) this runner acts on; any other fails the test, as a
# key it ignored (expectLogMessages, say) would let it pass without checking that part.
_FILE_KEYS = frozenset({"description", "schemaVersion", "runOnRequirements", "createEntities",
                        "initialData", "tests", "_yamlAnchors"})
_TEST_KEYS = frozenset({"description", "runOnRequirements", "skipReason", "operations",
                        "expectEvents", "outcome"})
_OPERATION_KEYS = frozenset({"name", "object", "arguments", "expectError", "expectResult",
                             "saveResultAsEntity", "ignoreResultAndError"})
_EXPECT_EVENTS_KEYS = frozenset({"client", "eventType", "events", "ignoreExtraEvents"})


def _check_keys(what: str, value: Mapping[str, Any], known: frozenset[str]) -> None:
    unknown = sorted(set(value) - known)
    if unknown:
        raise Unsupported(f"unsupported {what} keys {unknown}")


def _plain_equality(command: Mapping[str, Any]) -> Mapping[str, Any]:
    """``command`` with ``{field: {$eq: value}}`` filters written ``{field: value}``.

    PyMongo's GridFS looks files and chunks up with ``{_id: {$eq: id}}`` (against operator
    injection) where the spec tests expect ``{_id: id}``: the same query for a value that is
    neither a document nor a regular expression, which is all this rewrites."""
    def plain(query: Any) -> Any:
        if not isinstance(query, Mapping):
            return query
        return {k: v["$eq"] if not k.startswith("$") and isinstance(v, Mapping)
                and list(v) == ["$eq"]
                and not isinstance(v["$eq"], Mapping | re.Pattern | Regex) else v
                for k, v in query.items()}

    name = next(iter(command), "")
    if name == "find" and "filter" in command:
        return {**command, "filter": plain(command["filter"])}
    if name == "delete" and isinstance(command.get("deletes"), list):
        return {**command, "deletes": [{**d, "q": plain(d.get("q"))} if isinstance(d, Mapping)
                                       else d for d in command["deletes"]]}
    return command


def kill_all_sessions(client: MongoClient) -> None:
    """End every open transaction on the server (ignoring, as the format allows, failures)."""
    with contextlib.suppress(PyMongoError):
        client.admin.command("killAllSessions", [])
