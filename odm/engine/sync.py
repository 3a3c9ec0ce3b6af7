"""``SyncEngine`` and its sessions: the synchronous shells (PyMongo's ``MongoClient``).

Every method drives one generator of :mod:`odm.engine.operations` or of the session core
(:mod:`odm.engine.session`) with :func:`~odm.engine.effects.drive_sync`; the logic is there,
shared with :mod:`odm.engine.aio`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from pymongo import MongoClient

from odm.engine import operations
from odm.engine.base import BaseEngine, driver_session, wrong_client
from odm.engine.effects import drive_sync
from odm.engine.session import SessionCore, TransactionCore
from odm.loading import instances_from_documents, iter_instances
from odm.model import Model
from odm.query_compiler import FindRequest, SortArg, find_request

ModelT = TypeVar("ModelT", bound=Model)


class SyncCursor(Generic[ModelT]):
    """The result of ``SyncEngine.find``: iterate over it (``list(engine.find(...))``)."""

    def __init__(self, request: FindRequest[ModelT], collection: Any, session: Any) -> None:
        self._request = request
        self._collection = collection
        self._session = session

    def _open(self) -> Any:
        return drive_sync(operations.open_cursor(self._request, self._collection, self._session),
                          None)

    def to_list(self) -> list[ModelT]:
        """Every result at once (fastest: one parsing pass)."""
        with self._open() as cursor:
            return instances_from_documents(self._request.model, cursor)

    def __iter__(self) -> Iterator[ModelT]:
        with self._open() as cursor:
            yield from iter_instances(self._request.model, cursor)


class SyncEngine(BaseEngine[Any]):
    """Save and query models synchronously.

    >>> from pymongo import MongoClient
    >>> from odm import SyncEngine, Model
    >>> class Player(Model):
    ...     name: str
    >>> engine = SyncEngine(MongoClient("mongodb://localhost:27017"), database="game")
    >>> def demo() -> None:
    ...     engine.save(Player(name="Leeroy"))
    ...     players = list(engine.find(Player, Player.name == "Leeroy"))
    ...     with engine.transaction() as transaction:
    ...         engine.save(Player(name="Jenkins"), session=transaction)
    """

    def __init__(self, client: Any = None, database: str = "test") -> None:
        if client is not None and not isinstance(client, MongoClient):
            raise wrong_client("SyncEngine", client)
        super().__init__(client if client is not None else MongoClient(), database)

    def session(self) -> SyncSession:
        """A session to pass as ``session=`` (``with engine.session() as s``)."""
        return SyncSession(self)

    def transaction(self) -> SyncTransaction:
        """A transaction: commits when its block ends cleanly, aborts when it raises."""
        return SyncTransaction(self)

    def find(
        self,
        model: type[ModelT],
        *queries: Any,
        sort: SortArg = None,
        skip: int = 0,
        limit: int | None = None,
        session: Any = None,
    ) -> SyncCursor[ModelT]:
        """Instances of ``model`` matching every query (an iterable cursor)."""
        request = find_request(model, queries, sort=sort, skip=skip, limit=limit)
        return SyncCursor(request, self.get_collection(model), driver_session(session))

    def find_one(
        self, model: type[ModelT], *queries: Any, sort: SortArg = None, session: Any = None
    ) -> ModelT | None:
        """The first matching instance, or ``None``."""
        found = self.find(model, *queries, sort=sort, limit=1, session=session).to_list()
        return found[0] if found else None

    def count(self, model: type[ModelT], *queries: Any, session: Any = None) -> int:
        """How many documents of ``model`` match every query."""
        return drive_sync(operations.count(self, model, queries, session), self)

    def save(self, instance: ModelT, *, session: Any = None) -> ModelT:
        """Insert or update ``instance`` (only its changes) and the models it references."""
        self.save_all([instance], session=session)
        return instance

    def save_all(self, instances: Iterable[ModelT], *, session: Any = None) -> list[ModelT]:
        """Save many instances: one write (a ``bulk_write`` or a plain call) per collection;
        on MongoDB 8.0 one ``bulkWrite`` command for every collection."""
        return drive_sync(operations.save_all(self, instances, session), self)

    def delete(self, instance: ModelT, *, session: Any = None) -> None:
        """Delete ``instance``'s document; :class:`DocumentNotFoundError` if it is missing."""
        drive_sync(operations.delete(self, instance, session), self)

    def remove(
        self, model: type[ModelT], *queries: Any, just_one: bool = False, session: Any = None
    ) -> int:
        """Delete the matching documents (the first one with ``just_one``); returns the count."""
        return drive_sync(operations.remove(self, model, queries, just_one, session), self)

    def configure_database(
        self,
        models: Iterable[type[Model]],
        *,
        update_existing_indexes: bool = False,
        session: Any = None,
    ) -> None:
        """Create the indexes every model declares.

        An existing index with the same name or keys but other options raises
        :class:`IndexConflictError`, unless ``update_existing_indexes`` replaces it.
        """
        steps = operations.configure_database(self, models, update_existing_indexes, session)
        drive_sync(steps, self)

    def check_transactions_supported(self) -> None:
        """Raise :class:`TransactionsNotSupportedError` on a standalone server."""
        drive_sync(operations.check_transactions_supported(self), self)


class SyncSession(SessionCore):
    """A synchronous session (``with engine.session() as session``)."""

    engine: SyncEngine

    def __init__(self, engine: SyncEngine) -> None:
        super().__init__(engine)

    def start(self) -> Self:
        """Start the driver session."""
        return drive_sync(self._start_steps(), self.engine)

    def end(self) -> None:
        """End the driver session (aborting a transaction still running in it)."""
        drive_sync(self._end_steps(), self.engine)

    def transaction(self) -> SyncTransaction:
        """A transaction in this (started) session; the session stays open after it."""
        return SyncTransaction(self.engine, session=self)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        drive_sync(self._exit_steps(exc), self.engine)

    def find(
        self,
        model: type[ModelT],
        *queries: Any,
        sort: SortArg = None,
        skip: int = 0,
        limit: int | None = None,
    ) -> SyncCursor[ModelT]:
        """``engine.find`` in this session."""
        return self.engine.find(model, *queries, sort=sort, skip=skip, limit=limit, session=self)

    def find_one(
        self, model: type[ModelT], *queries: Any, sort: SortArg = None
    ) -> ModelT | None:
        """``engine.find_one`` in this session."""
        return self.engine.find_one(model, *queries, sort=sort, session=self)

    def count(self, model: type[ModelT], *queries: Any) -> int:
        """``engine.count`` in this session."""
        return self.engine.count(model, *queries, session=self)

    def save(self, instance: ModelT) -> ModelT:
        """``engine.save`` in this session."""
        return self.engine.save(instance, session=self)

    def save_all(self, instances: Iterable[ModelT]) -> list[ModelT]:
        """``engine.save_all`` in this session."""
        return self.engine.save_all(instances, session=self)

    def delete(self, instance: ModelT) -> None:
        """``engine.delete`` in this session."""
        self.engine.delete(instance, session=self)

    def remove(self, model: type[ModelT], *queries: Any, just_one: bool = False) -> int:
        """``engine.remove`` in this session."""
        return self.engine.remove(model, *queries, just_one=just_one, session=self)


class SyncTransaction(TransactionCore, SyncSession):
    """A synchronous transaction (``with engine.transaction() as transaction``, or
    ``session.transaction()`` inside a started session).

    ``session`` is the :class:`SyncSession` it runs in (its own one for
    ``engine.transaction()``). After ``commit()`` or ``abort()`` it cannot be used any more.
    """

    session: SyncSession

    def __init__(
        self, context: SyncEngine | SyncSession, session: SyncSession | None = None
    ) -> None:
        # ``SyncTransaction(engine)`` or, as in ODMantic, ``SyncTransaction(session)``.
        if isinstance(context, SyncSession):
            session = context
            context = context.engine
        super().__init__(context)
        self._init_transaction(session or SyncSession(context), session is not None)

    def start(self) -> Self:
        """Check the server can run transactions, start a session and a transaction."""
        return drive_sync(self._start_steps(), self.engine)

    def commit(self) -> None:
        """Commit the transaction; the transaction cannot be used afterwards."""
        drive_sync(self._commit_steps(), self.engine)

    def abort(self) -> None:
        """Abort the transaction: none of its writes happened."""
        drive_sync(self._abort_steps(), self.engine)

    def end(self) -> None:
        """Abort the transaction if it is still in progress (nothing after commit/abort)."""
        drive_sync(self._end_steps(), self.engine)
