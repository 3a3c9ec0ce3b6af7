"""The entity map of one unified-format test: clients with event listeners, databases,
collections and sessions, built from ``createEntities`` and closed when the test ends."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gridfs import GridFSBucket
from pymongo import MongoClient, monitoring
from pymongo.client_session import ClientSession, TransactionOptions
from pymongo.read_concern import ReadConcern
from pymongo.read_preferences import (
    Nearest,
    Primary,
    PrimaryPreferred,
    Secondary,
    SecondaryPreferred,
)
from pymongo.server_api import ServerApi
from pymongo.synchronous.change_stream import ChangeStream
from pymongo.synchronous.collection import Collection
from pymongo.synchronous.command_cursor import CommandCursor
from pymongo.synchronous.cursor import Cursor
from pymongo.synchronous.database import Database
from pymongo.write_concern import WriteConcern

from tests.spec.unsupported import Unsupported

# Commands whose events drivers redact and the format ignores unless observeSensitiveCommands.
SENSITIVE_COMMANDS = frozenset(monitoring._SENSITIVE_COMMANDS)

# One server that is always up: selecting a server never takes long, except for a
# secondary, which a one-member replica set never has (do not wait 30 s for it).
SERVER_SELECTION_TIMEOUT_MS = 2000

_READ_PREFERENCES: dict[str, Any] = {
    "primary": Primary,
    "primarypreferred": PrimaryPreferred,
    "secondary": Secondary,
    "secondarypreferred": SecondaryPreferred,
    "nearest": Nearest,
}


def read_preference(spec: Mapping[str, Any]) -> Any:
    """``{mode, tagSets?, maxStalenessSeconds?}`` as a PyMongo read preference."""
    mode = _READ_PREFERENCES[spec["mode"].lower()]
    if mode is Primary:
        return Primary()
    return mode(tag_sets=spec.get("tagSets"), max_staleness=spec.get("maxStalenessSeconds", -1))


def write_concern(spec: Mapping[str, Any]) -> WriteConcern:
    """``{w?, journal?, wtimeoutMS?}`` as a PyMongo WriteConcern."""
    known = {"w", "journal", "wtimeoutMS"}
    if set(spec) - known:
        raise Unsupported(f"unsupported writeConcern fields {sorted(set(spec) - known)}")
    return WriteConcern(w=spec.get("w"), j=spec.get("journal"), wtimeout=spec.get("wtimeoutMS"))


def read_concern(spec: Mapping[str, Any]) -> ReadConcern:
    return ReadConcern(level=spec.get("level"))


def concern_options(spec: Mapping[str, Any]) -> dict[str, Any]:
    """databaseOptions / collectionOptions / transaction options as PyMongo keyword args."""
    options: dict[str, Any] = {}
    for key, value in spec.items():
        if key == "readConcern":
            options["read_concern"] = read_concern(value)
        elif key == "writeConcern":
            options["write_concern"] = write_concern(value)
        elif key == "readPreference":
            options["read_preference"] = read_preference(value)
        elif key == "maxCommitTimeMS":
            options["max_commit_time_ms"] = value
        elif key == "timeoutMS":
            options["timeout"] = value / 1000
        else:
            raise Unsupported(f"unsupported option {key!r}")
    return options


@dataclass
class Event:
    """One observed event: its format name and the PyMongo event object."""

    name: str
    kind: str  # "command" or "cmap"
    value: Any


class EventRecorder(monitoring.CommandListener, monitoring.ConnectionPoolListener):
    """Keeps, in order, the events a client entity was asked to observe."""

    def __init__(self, observe: list[str], ignore_commands: list[str],
                 observe_sensitive: bool) -> None:
        self.observe = set(observe)
        self.ignore = {name.lower() for name in ignore_commands} | {"configurefailpoint"}
        if not observe_sensitive:
            self.ignore |= SENSITIVE_COMMANDS
        self.observe_sensitive = observe_sensitive
        self.events: list[Event] = []
        self.started_commands: list[Any] = []  # every started command, for the lsid checks
        self.checked_out = 0  # connections checked out and not yet checked in, observed or not
        self.enabled = True

    def _command(self, name: str, event: Any, redacted: bool) -> None:
        if not self.enabled or event.command_name.lower() in self.ignore:
            return
        if redacted and not self.observe_sensitive:
            return
        if name == "commandStartedEvent":
            self.started_commands.append(event)
        if name in self.observe:
            self.events.append(Event(name, "command", event))

    def started(self, event: Any) -> None:
        if isinstance(event, monitoring.CommandStartedEvent):
            self._command("commandStartedEvent", event, event.command == {})

    def succeeded(self, event: Any) -> None:
        if isinstance(event, monitoring.CommandSucceededEvent):
            self._command("commandSucceededEvent", event, event.reply == {})

    def failed(self, event: Any) -> None:
        if isinstance(event, monitoring.CommandFailedEvent):
            self._command("commandFailedEvent", event, False)

    def _cmap(self, name: str, event: Any) -> None:
        if self.enabled and name in self.observe:
            self.events.append(Event(name, "cmap", event))

    def pool_created(self, event: Any) -> None:
        self._cmap("poolCreatedEvent", event)

    def pool_ready(self, event: Any) -> None:
        self._cmap("poolReadyEvent", event)

    def pool_cleared(self, event: Any) -> None:
        self._cmap("poolClearedEvent", event)

    def pool_closed(self, event: Any) -> None:
        self._cmap("poolClosedEvent", event)

    def connection_created(self, event: Any) -> None:
        self._cmap("connectionCreatedEvent", event)

    def connection_ready(self, event: Any) -> None:
        self._cmap("connectionReadyEvent", event)

    def connection_closed(self, event: Any) -> None:
        self._cmap("connectionClosedEvent", event)

    def connection_check_out_started(self, event: Any) -> None:
        self._cmap("connectionCheckOutStartedEvent", event)

    def connection_check_out_failed(self, event: Any) -> None:
        self._cmap("connectionCheckOutFailedEvent", event)

    def connection_checked_out(self, event: Any) -> None:
        self.checked_out += 1
        self._cmap("connectionCheckedOutEvent", event)

    def connection_checked_in(self, event: Any) -> None:
        self.checked_out -= 1
        self._cmap("connectionCheckedInEvent", event)


_CLIENT_KEYS = {"id", "uriOptions", "useMultipleMongoses", "observeEvents",
                "ignoreCommandMonitoringEvents", "observeSensitiveCommands",
                "storeEventsAsEntities", "serverApi"}


@dataclass
class EntityMap:
    """Named entities of one test. ``uri`` is the server every client entity connects to."""

    uri: str
    entities: dict[str, Any] = field(default_factory=dict)
    recorders: dict[str, EventRecorder] = field(default_factory=dict)
    lsids: dict[str, Any] = field(default_factory=dict)

    def __setitem__(self, name: str, value: Any) -> None:
        if name in self.entities:
            raise Unsupported(f"entity {name!r} already exists")
        self.entities[name] = value

    def get(self, name: str, kind: type | tuple[type, ...] | None = None) -> Any:
        if name not in self.entities:
            raise Unsupported(f"no entity named {name!r}")
        value = self.entities[name]
        if kind is not None and not isinstance(value, kind):
            raise Unsupported(f"entity {name!r} is a {type(value).__name__}, not {kind}")
        return value

    def lsid_of(self, session_name: str) -> Any:
        self.get(session_name, ClientSession)
        return self.lsids[session_name]

    def recorder(self, client_name: str) -> EventRecorder:
        self.get(client_name, MongoClient)
        if client_name not in self.recorders:  # every client entity has one: a bad name
            raise Unsupported(f"client {client_name!r} observes no events")
        return self.recorders[client_name]

    def create(self, specs: list[Mapping[str, Any]]) -> None:
        for spec in specs:
            if len(spec) != 1:
                raise Unsupported(f"an entity has exactly one type key: {spec!r}")
            kind, options = next(iter(spec.items()))
            builder = getattr(self, f"_create_{kind}", None)
            if builder is None:
                raise Unsupported(f"unsupported entity type {kind!r}")
            builder(copy.deepcopy(dict(options)))

    def _create_client(self, spec: dict[str, Any]) -> None:
        # observeLogMessages among them: log messages are not captured yet, and a test
        # expecting some must fail rather than pass with nothing checked.
        unsupported = (set(spec) - _CLIENT_KEYS) | ({"storeEventsAsEntities"} & set(spec))
        if unsupported:
            raise Unsupported(f"unsupported client options {sorted(unsupported)}")
        recorder = EventRecorder(spec.get("observeEvents", []),
                                 spec.get("ignoreCommandMonitoringEvents", []),
                                 spec.get("observeSensitiveCommands", False))
        # useMultipleMongoses only matters for sharded clusters; we have one server.
        options = {"serverSelectionTimeoutMS": SERVER_SELECTION_TIMEOUT_MS,
                   **spec.get("uriOptions", {})}
        if "serverApi" in spec:
            api = spec["serverApi"]
            options["server_api"] = ServerApi(api["version"], strict=api.get("strict"),
                                              deprecation_errors=api.get("deprecationErrors"))
        client: MongoClient = MongoClient(self.uri, event_listeners=[recorder], **options)
        self[spec["id"]] = client
        self.recorders[spec["id"]] = recorder

    def _create_database(self, spec: dict[str, Any]) -> None:
        client = self.get(spec["client"], MongoClient)
        options = concern_options(spec.get("databaseOptions", {}))
        self[spec["id"]] = client.get_database(spec["databaseName"], **options)

    def _create_collection(self, spec: dict[str, Any]) -> None:
        database = self.get(spec["database"], Database)
        options = concern_options(spec.get("collectionOptions", {}))
        self[spec["id"]] = database.get_collection(spec["collectionName"], **options)

    def _create_session(self, spec: dict[str, Any]) -> None:
        client = self.get(spec["client"], MongoClient)
        options: dict[str, Any] = {}
        for key, value in spec.get("sessionOptions", {}).items():
            if key == "causalConsistency":
                options["causal_consistency"] = value
            elif key == "snapshot":
                options["snapshot"] = value
            elif key == "defaultTransactionOptions":
                options["default_transaction_options"] = TransactionOptions(
                    **concern_options(value))
            else:
                raise Unsupported(f"unsupported session option {key!r}")
        session = client.start_session(**options)
        self[spec["id"]] = session
        self.lsids[spec["id"]] = copy.deepcopy(session.session_id)

    def _create_bucket(self, spec: dict[str, Any]) -> None:
        database = self.get(spec["database"], Database)
        options = dict(spec.get("bucketOptions", {}))
        kwargs: dict[str, Any] = {}
        if "bucketName" in options:
            kwargs["bucket_name"] = options.pop("bucketName")
        if "chunkSizeBytes" in options:
            kwargs["chunk_size_bytes"] = options.pop("chunkSizeBytes")
        options.pop("disableMD5", None)  # PyMongo 4 never computes an MD5
        kwargs.update(concern_options(options))
        self[spec["id"]] = GridFSBucket(database, **kwargs)

    def _create_thread(self, spec: dict[str, Any]) -> None:
        raise Unsupported("thread entities are not supported by this runner")

    def close(self) -> None:
        """End sessions, then close clients (the format's cleanup of the entity map)."""
        for value in self.entities.values():
            if isinstance(value, ChangeStream | CommandCursor | Cursor):
                value.close()
        for value in self.entities.values():
            if isinstance(value, ClientSession):
                value.end_session()
        for value in self.entities.values():
            if isinstance(value, MongoClient):
                value.close()
        self.entities.clear()


__all__ = ["Collection", "Database", "EntityMap", "Event", "EventRecorder"]
