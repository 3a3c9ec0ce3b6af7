"""The command registry and what a handler receives.

A command module registers each handler with ``@command("name", ...)``; the dispatcher finds
it by the lower-cased first key of the request body. Flags describe how the command relates
to sessions and transactions, so the dispatcher applies MongoDB's rules in one place.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bson import Timestamp

from mongolet.changes import ChangeHistory
from mongolet.commands import session_history
from mongolet.commands.snapshots import SnapshotHolds
from mongolet.cursors import CursorRegistry
from mongolet.errors import MongoError
from mongolet.storage import Collection, Store
from mongolet.transactions import DirectView, Session, Transaction, TransactionManager

Handler = Callable[["CommandContext"], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    handler: Handler
    in_transaction: bool  # may run inside a multi-document transaction
    retryable_write: bool  # may carry a txnNumber outside a transaction
    admin_only: bool


REGISTRY: dict[str, CommandSpec] = {}


def command(*names: str, in_transaction: bool = False, retryable_write: bool = False,
            admin_only: bool = False) -> Callable[[Handler], Handler]:
    """Register a handler under ``names`` (matched case-insensitively)."""

    def register(handler: Handler) -> Handler:
        for name in names:
            REGISTRY[name.lower()] = CommandSpec(name, handler, in_transaction,
                                                 retryable_write, admin_only)
        return handler

    return register


@dataclass
class ServerState:
    """Everything one server keeps between commands."""

    host: str
    port: int
    replica_set: str
    enable_test_commands: bool
    store: Store = field(default_factory=Store)
    cursors: CursorRegistry = field(default_factory=CursorRegistry)
    sessions: dict[Any, Session] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    txns: TransactionManager = field(init=False)
    snapshot_holds: SnapshotHolds = field(init=False)
    fail_points: dict[str, dict[str, Any]] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    changes: ChangeHistory = field(default_factory=ChangeHistory)

    def __post_init__(self) -> None:
        self.txns = TransactionManager(self.store)
        self.snapshot_holds = SnapshotHolds(self.store)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def cluster_time(self) -> Timestamp:
        # Seconds since start keep it readable; the increment is the commit clock.
        return Timestamp(int(self.started), self.store.clock + 1)


@dataclass
class CommandContext:
    """One running command: its body, database, session and the view it reads through."""

    state: ServerState
    name: str
    body: dict[str, Any]
    db: str
    conn: Any
    session: Session | None
    view: DirectView
    txn: Transaction | None = None
    # Retryable write (txnNumber outside a transaction): the statement results to reuse.
    retry: dict[int, Any] | None = None

    def arg(self) -> Any:
        """The value of the command's first key (usually a collection name)."""
        return self.body[self.name_key]

    @property
    def name_key(self) -> str:
        return next(iter(self.body))

    def collection_name(self) -> str:
        value = self.arg()
        if not isinstance(value, str):
            raise MongoError(2, f"collection name has invalid type {type_name(value)}")
        if not value:
            raise MongoError(73, f"Invalid namespace specified '{self.db}.'")
        if "\x00" in value or value.startswith("."):
            raise MongoError(73, f"Invalid namespace specified '{self.db}.{value}'")
        return value

    def ns(self, name: str) -> str:
        return f"{self.db}.{name}"

    def collection(self, name: str) -> Collection | None:
        return self.view.collection(self.db, name)

    def session_id(self) -> Any:
        return self.session.id if self.session is not None else None

    @property
    def durable(self) -> bool:
        """Whether commits go to disk (``--dbpath``), with the session records given."""
        return self.state.store.sink is not None

    @property
    def records_statements(self) -> bool:
        """A retryable write on a durable server: its statements' results go to disk."""
        return self.retry is not None and self.session is not None and self.durable

    def statement_record(self, index: int, result: Any) -> dict[str, Any] | None:
        """What a durable store keeps with the commit of statement ``index`` of this
        retryable write, ``result`` being what ``retry`` will hold for it (None: not a
        retryable write, or in memory)."""
        if not self.records_statements:
            return None
        assert self.session is not None
        return session_history.statement_record(self.session, self.session.retry_txn_number,
                                                index, result)


def type_name(value: Any) -> str:
    """MongoDB's name for a BSON value's type, for error messages."""
    names = {bool: "bool", int: "int", float: "double", str: "string", dict: "object",
             list: "array", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def get_bool(body: dict[str, Any], key: str, default: bool = False) -> bool:
    value = body.get(key, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    if value is None:
        return default
    raise MongoError(14, f"BSON field '{key}' is the wrong type '{type_name(value)}', "
                         "expected types '[bool, long, int, decimal, double]'")


def get_int(body: dict[str, Any], key: str, default: int | None = None) -> int | None:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MongoError(14, f"BSON field '{key}' is the wrong type '{type_name(value)}', "
                             "expected types '[long, int, decimal, double]'")
    if isinstance(value, float) and not value.is_integer():
        raise MongoError(2, f"BSON field '{key}' has a non-integral value {value}")
    return int(value)


def get_doc(body: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise MongoError(14, f"BSON field '{key}' is the wrong type '{type_name(value)}', "
                             "expected type 'object'")
    return value
