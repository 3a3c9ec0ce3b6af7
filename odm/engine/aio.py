"""``AIOEngine`` and its sessions: the asynchronous shells (PyMongo's ``AsyncMongoClient``
or Motor).

Every method drives one generator of :mod:`odm.engine.operations` or of the session core
(:mod:`odm.engine.session`) with :func:`~odm.engine.effects.drive_async`; the logic is there,
shared with :mod:`odm.engine.sync`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterable
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from pymongo import AsyncMongoClient

from odm.engine import operations
from odm.engine.base import BaseEngine, driver_session, is_motor_client, wrong_client
from odm.engine.effects import drive_async, maybe_await
from odm.engine.session import SessionCore, TransactionCore
from odm.loading import instance_from_document, instances_from_documents
from odm.model import Model
from odm.query_compiler import FindRequest, SortArg, find_request

ModelT = TypeVar("ModelT", bound=Model)


class AIOCursor(Generic[ModelT]):
    """The result of ``AIOEngine.find``: ``await`` it for a list, or ``async for`` over it."""

    def __init__(self, request: FindRequest[ModelT], collection: Any, session: Any) -> None:
        self._request = request
        self._collection = collection
        self._session = session

    async def _open(self) -> Any:
        steps = operations.open_cursor(self._request, self._collection, self._session)
        return await drive_async(steps, None)

    async def _to_list(self) -> list[ModelT]:
        cursor = await self._open()
        documents = await cursor.to_list(None)
        return instances_from_documents(self._request.model, documents)

    def __await__(self) -> Generator[Any, None, list[ModelT]]:
        return self._to_list().__await__()

    async def _iterate(self) -> AsyncIterator[ModelT]:
        cursor = await self._open()
        try:
            async for raw in cursor:
                yield instance_from_document(self._request.model, raw)
        finally:
            await maybe_await(cursor.close())

    def __aiter__(self) -> AsyncIterator[ModelT]:
        return self._iterate()


class AIOEngine(BaseEngine[Any]):
    """Save and query models asynchronously.

    >>> from pymongo import AsyncMongoClient
    >>> from odm import AIOEngine, Model
    >>> class Player(Model):
    ...     name: str
    >>> engine = AIOEngine(AsyncMongoClient("mongodb://localhost:27017"), database="game")
    >>> async def demo() -> None:
    ...     await engine.save(Player(name="Leeroy"))
    ...     players = await engine.find(Player, Player.name == "Leeroy")
    ...     async with engine.transaction() as transaction:
    ...         await engine.save(Player(name="Jenkins"), session=transaction)
    """

    def __init__(self, client: Any = None, database: str = "test") -> None:
        if client is not None and not (
            isinstance(client, AsyncMongoClient) or is_motor_client(client)
        ):
            raise wrong_client("AIOEngine", client)
        super().__init__(client if client is not None else AsyncMongoClient(), database)

    def session(self) -> AIOSession:
        """A session to pass as ``session=`` (``async with engine.session() as s``)."""
        return AIOSession(self)

    def transaction(self) -> AIOTransaction:
        """A transaction: commits when its block ends cleanly, aborts when it raises."""
        return AIOTransaction(self)

    def find(
        self,
        model: type[ModelT],
        *queries: Any,
        sort: SortArg = None,
        skip: int = 0,
        limit: int | None = None,
        session: Any = None,
    ) -> AIOCursor[ModelT]:
        """Instances of ``model`` matching every query (``await`` or ``async for``)."""
        request = find_request(model, queries, sort=sort, skip=skip, limit=limit)
        return AIOCursor(request, self.get_collection(model), driver_session(session))

    async def find_one(
        self, model: type[ModelT], *queries: Any, sort: SortArg = None, session: Any = None
    ) -> ModelT | None:
        """The first matching instance, or ``None``."""
        found = await self.find(model, *queries, sort=sort, limit=1, session=session)
        return found[0] if found else None

    async def count(self, model: type[ModelT], *queries: Any, session: Any = None) -> int:
        """How many documents of ``model`` match every query."""
        return await drive_async(operations.count(self, model, queries, session), self)

    async def save(self, instance: ModelT, *, session: Any = None) -> ModelT:
        """Insert or update ``instance`` (only its changes) and the models it references."""
        await self.save_all([instance], session=session)
        return instance

    async def save_all(self, instances: Iterable[ModelT], *, session: Any = None) -> list[ModelT]:
        """Save many instances: one write (a ``bulk_write`` or a plain call) per collection;
        on MongoDB 8.0 one ``bulkWrite`` command for every collection."""
        return await drive_async(operations.save_all(self, instances, session), self)

    async def delete(self, instance: ModelT, *, session: Any = None) -> None:
        """Delete ``instance``'s document; :class:`DocumentNotFoundError` if it is missing."""
        await drive_async(operations.delete(self, instance, session), self)

    async def remove(
        self, model: type[ModelT], *queries: Any, just_one: bool = False, session: Any = None
    ) -> int:
        """Delete the matching documents (the first one with ``just_one``); returns the count."""
        return await drive_async(operations.remove(self, model, queries, just_one, session), self)

    async def configure_database(
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
        await drive_async(steps, self)

    async def check_transactions_supported(self) -> None:
        """Raise :class:`TransactionsNotSupportedError` on a standalone server."""
        await drive_async(operations.check_transactions_supported(self), self)


class AIOSession(SessionCore):
    """An asynchronous session (``async with engine.session() as session``)."""

    engine: AIOEngine

    def __init__(self, engine: AIOEngine) -> None:
        super().__init__(engine)

    async def start(self) -> Self:
        """Start the driver session."""
        return await drive_async(self._start_steps(), self.engine)

    async def end(self) -> None:
        """End the driver session (aborting a transaction still running in it)."""
        await drive_async(self._end_steps(), self.engine)

    def transaction(self) -> AIOTransaction:
        """A transaction in this (started) session; the session stays open after it."""
        return AIOTransaction(self.engine, session=self)

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await drive_async(self._exit_steps(exc), self.engine)

    def find(
        self,
        model: type[ModelT],
        *queries: Any,
        sort: SortArg = None,
        skip: int = 0,
        limit: int | None = None,
    ) -> AIOCursor[ModelT]:
        """``engine.find`` in this session."""
        return self.engine.find(model, *queries, sort=sort, skip=skip, limit=limit, session=self)

    async def find_one(
        self, model: type[ModelT], *queries: Any, sort: SortArg = None
    ) -> ModelT | None:
        """``engine.find_one`` in this session."""
        return await self.engine.find_one(model, *queries, sort=sort, session=self)

    async def count(self, model: type[ModelT], *queries: Any) -> int:
        """``engine.count`` in this session."""
        return await self.engine.count(model, *queries, session=self)

    async def save(self, instance: ModelT) -> ModelT:
        """``engine.save`` in this session."""
        return await self.engine.save(instance, session=self)

    async def save_all(self, instances: Iterable[ModelT]) -> list[ModelT]:
        """``engine.save_all`` in this session."""
        return await self.engine.save_all(instances, session=self)

    async def delete(self, instance: ModelT) -> None:
        """``engine.delete`` in this session."""
        await self.engine.delete(instance, session=self)

    async def remove(self, model: type[ModelT], *queries: Any, just_one: bool = False) -> int:
        """``engine.remove`` in this session."""
        return await self.engine.remove(model, *queries, just_one=just_one, session=self)


class AIOTransaction(TransactionCore, AIOSession):
    """An asynchronous transaction (``async with engine.transaction() as transaction``, or
    ``session.transaction()`` inside a started session).

    ``session`` is the :class:`AIOSession` it runs in (its own one for
    ``engine.transaction()``). After ``commit()`` or ``abort()`` it cannot be used any more.
    """

    session: AIOSession

    def __init__(
        self, context: AIOEngine | AIOSession, session: AIOSession | None = None
    ) -> None:
        # ``AIOTransaction(engine)`` or, as in ODMantic, ``AIOTransaction(session)``.
        if isinstance(context, AIOSession):
            session = context
            context = context.engine
        super().__init__(context)
        self._init_transaction(session or AIOSession(context), session is not None)

    async def start(self) -> Self:
        """Check the server can run transactions, start a session and a transaction."""
        return await drive_async(self._start_steps(), self.engine)

    async def commit(self) -> None:
        """Commit the transaction; the transaction cannot be used afterwards."""
        await drive_async(self._commit_steps(), self.engine)

    async def abort(self) -> None:
        """Abort the transaction: none of its writes happened."""
        await drive_async(self._abort_steps(), self.engine)

    async def end(self) -> None:
        """Abort the transaction if it is still in progress (nothing after commit/abort)."""
        await drive_async(self._end_steps(), self.engine)
