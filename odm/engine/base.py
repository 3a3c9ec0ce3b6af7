"""What both engines share, without I/O: the client, the database, collections, sessions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

from bson.codec_options import CodecOptions, TypeRegistry
from pymongo.errors import OperationFailure

from odm import tracking
from odm.bson import fallback_encoder
from odm.exceptions import DocumentNotFoundError, TransactionsNotSupportedError
from odm.facts import check_model_class
from odm.model import Model
from odm.saving import SaveOperation, mark_saved

ClientT = TypeVar("ClientT")

# MongoDB's error code (see the server's error_codes.yml).
ILLEGAL_OPERATION = 20

_INVALID_DATABASE_CHARACTERS = frozenset('/\\. "$\x00')


class BaseEngine(Generic[ClientT]):
    """``client``, ``database`` (the driver's database object), ``database_name`` and
    ``get_collection(model)``; the sync and async engines add the I/O."""

    def __init__(self, client: ClientT, database: str = "test") -> None:
        if not isinstance(database, str) or not database:
            raise ValueError(f"database must be a non-empty name, got {database!r}")
        if _INVALID_DATABASE_CHARACTERS.intersection(database):
            raise ValueError(f"Invalid database name {database!r}: it contains one of /\\. \"$")
        self.client: ClientT = client
        self.database_name = database
        self.database: Any = client[database]  # type: ignore[index]
        base_options = getattr(client, "codec_options", None) or CodecOptions()
        self._codec_options = base_options.with_options(
            type_registry=TypeRegistry(fallback_encoder=fallback_encoder)
        )
        self._collections: dict[str, Any] = {}
        self._hello: dict[str, Any] | None = None

    def get_collection(self, model: type[Model]) -> Any:
        """The driver collection of ``model`` (PyMongo, PyMongo async or Motor)."""
        check_model_class(model, "get_collection")
        return self._collection(model.__collection__)

    def _collection(self, name: str) -> Any:
        collection = self._collections.get(name)
        if collection is None:
            collection = self.database.get_collection(name, codec_options=self._codec_options)
            self._collections[name] = collection
        return collection

    @property
    def codec_options(self) -> CodecOptions[Any]:
        """The codec options of the engine's collections (odm's fallback encoder added)."""
        return self._codec_options

    def client_bulk_write_supported(self) -> bool | None:
        """Whether one ``client.bulk_write`` can write several collections: a PyMongo client
        on MongoDB 8.0 or later (wire version 25, the ``bulkWrite`` command), as the
        handshake of :meth:`check_transactions_supported` said, else as the client's view
        of the servers says; ``None`` while the client knows no server yet."""
        from pymongo import AsyncMongoClient, MongoClient  # Motor's client has no bulk_write

        if not isinstance(self.client, MongoClient | AsyncMongoClient):
            return False
        if self._hello is not None:
            return int(self._hello.get("maxWireVersion", 0)) >= 25
        servers = [s for s in self.client.topology_description.known_servers if s.is_writable]
        if not servers:
            return None
        return min(s.max_wire_version for s in servers) >= 25

    def _raise_unless_transactions(self) -> None:
        if self._hello is not None and not supports_transactions(self._hello):
            raise TransactionsNotSupportedError(transactions_unsupported_message(self._hello))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(database={self.database_name!r})"


def is_motor_client(client: Any) -> bool:
    """A Motor client (asyncio), without importing Motor (an optional extra)."""
    return type(client).__module__.startswith("motor.")


def wrong_client(engine: str, client: Any) -> TypeError:
    """The error of an engine given the other twin's client (or no client at all)."""
    sync = engine == "SyncEngine"
    wanted = "pymongo.MongoClient" if sync else "pymongo.AsyncMongoClient (or a Motor client)"
    twin = "odm.AIOEngine" if sync else "odm.SyncEngine"
    found = type(client).__name__
    hint = ""
    if sync and ("Async" in found or is_motor_client(client)):
        hint = f"; an asynchronous client goes with {twin}"
    elif not sync and found == "MongoClient":
        hint = f"; a MongoClient goes with {twin}"
    return TypeError(f"{engine} needs a {wanted}, got {found}{hint}")


def driver_session(session: Any) -> Any:
    """The driver session behind ``session=`` (ours or a raw driver session)."""
    if session is None:
        return None
    get_driver_session = getattr(session, "get_driver_session", None)
    if get_driver_session is not None:
        return get_driver_session()
    return session


def transactions_unsupported_message(hello: dict[str, Any]) -> str:
    return (
        "This server cannot run transactions: it is a standalone server (its hello reply has "
        "no setName and is not a mongos). Transactions need a replica set member or a mongos."
    )


def after_save(operations: Sequence[SaveOperation], session: Any) -> None:
    """Track what a successful write stored; a transaction keeps the previous snapshots."""
    previous = mark_saved(operations)
    record = getattr(session, "record_saved", None)
    if record is not None:
        record(previous)


def after_delete(instance: Model, deleted_count: int) -> None:
    """``delete`` of a missing document is an error (as in ODMantic); else forget it."""
    if deleted_count == 0:
        raise DocumentNotFoundError(instance)
    tracking.forget(instance)


def supports_transactions(hello: Mapping[str, Any]) -> bool:
    """A replica set member (``setName``) or a ``mongos`` (``msg: isdbgrid``) can run them."""
    return bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"


def is_transactions_unsupported(error: BaseException) -> bool:
    """PyMongo's error when a standalone server is asked for a transaction."""
    return (
        isinstance(error, OperationFailure)
        and error.code == ILLEGAL_OPERATION
        and "Transaction numbers" in str(error)
    )
