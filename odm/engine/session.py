"""Sessions and transactions of both engines, as ODMantic documents them.

``engine.session()`` / ``engine.transaction()`` return these objects. Each is a context
manager (``async with`` for the AIO ones), can be passed as ``session=`` to every engine
method, offers the engine's methods directly (``await session.save(x)``), and can be driven
explicitly with ``start()`` / ``end()`` (plus ``commit()`` / ``abort()`` on transactions).
``session.transaction()`` runs a transaction inside a started session, as in ODMantic: it
ends with its block, the session stays open.

A transaction checks first that the server can run one (a replica set member or a mongos)
and raises :class:`~odm.exceptions.TransactionsNotSupportedError` otherwise. It commits when
its block ends cleanly; when the block raises it aborts and re-raises. Instances saved in an
aborted transaction get their previous change-tracking snapshots back, so a later ``save``
sends them whole again.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Any, Self, TypeVar

from odm import commands, tracking
from odm.engine.aio import AIOCursor, AIOEngine
from odm.engine.base import maybe_await
from odm.engine.sync import SyncCursor, SyncEngine
from odm.exceptions import SessionStateError, TransactionsNotSupportedError
from odm.model import Model

ModelT = TypeVar("ModelT", bound=Model)

_Saved = list[tuple[Model, dict[str, Any] | None]]


class _SessionState:
    """The state both flavours share (no I/O)."""

    def __init__(self) -> None:
        self._driver_session: Any = None
        self._owns_driver_session = True
        self._in_transaction = False
        self._saved: _Saved = []
        # session.transaction(): the transaction running in this session, and the session a
        # transaction runs in.
        self._transaction: _SessionState | None = None
        self._parent: _SessionState | None = None

    def get_driver_session(self) -> Any:
        """The driver session (PyMongo's ``ClientSession``/``AsyncClientSession`` or Motor's)."""
        if self._driver_session is None:
            raise SessionStateError(
                f"This {type(self).__name__} is not started: use it as a context manager "
                "or call start() first"
            )
        return self._driver_session

    @property
    def is_started(self) -> bool:
        return self._driver_session is not None

    def _check_not_started(self) -> None:
        if self._driver_session is not None:
            raise SessionStateError(f"This {type(self).__name__} is already started")

    def _check_in_transaction(self, action: str) -> None:
        if not self._in_transaction:
            raise SessionStateError(f"Cannot {action}: no transaction in progress")

    def record_saved(self, previous: _Saved) -> None:
        """Called by the engines after a write in this session (snapshots to restore)."""
        if self._in_transaction:
            self._saved.extend(previous)
        elif self._transaction is not None:  # written through the session of a transaction
            self._transaction.record_saved(previous)

    def _borrow(self, session: _SessionState) -> None:
        """Run in ``session``'s driver session (a transaction inside a session)."""
        self._check_not_started()
        if not session.is_started:
            raise SessionStateError(
                f"Cannot start a transaction in this {type(session).__name__}: it is not "
                "started (use it as a context manager or call start() first)"
            )
        self._driver_session = session.get_driver_session()
        self._owns_driver_session = False
        self._parent = session
        session._transaction = self

    def _release(self) -> Any:
        """Forget the driver session; returns it when this object must end it."""
        session, self._driver_session = self._driver_session, None
        parent, self._parent = self._parent, None
        if parent is not None and parent._transaction is self:
            parent._transaction = None
        owned, self._owns_driver_session = self._owns_driver_session, True
        return session if owned else None

    def _forget_saved(self, rolled_back: bool) -> None:
        saved, self._saved = self._saved, []
        if rolled_back:
            tracking.restore(saved)


def _translate(error: BaseException | None) -> None:
    if error is not None and commands.is_transactions_unsupported(error):
        raise TransactionsNotSupportedError(str(error)) from error


class AIOSession(_SessionState):
    """An asynchronous session (``async with engine.session() as session``)."""

    def __init__(self, engine: AIOEngine) -> None:
        super().__init__()
        self.engine = engine

    async def start(self) -> Self:
        """Start the driver session."""
        self._check_not_started()
        self._driver_session = await maybe_await(self.engine.client.start_session())
        return self

    async def end(self) -> None:
        """End the driver session (aborting a transaction still in progress)."""
        borrowed = None if self._owns_driver_session else self._driver_session
        session = self._release()
        if self._in_transaction:
            self._in_transaction = False
            self._forget_saved(rolled_back=True)
            if borrowed is not None and borrowed.in_transaction:  # the session lives on
                await borrowed.abort_transaction()
        if session is not None:
            await maybe_await(session.end_session())

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
        await self.end()

    def find(
        self,
        model: type[ModelT],
        *queries: Any,
        sort: commands.SortArg = None,
        skip: int = 0,
        limit: int | None = None,
    ) -> AIOCursor[ModelT]:
        return self.engine.find(model, *queries, sort=sort, skip=skip, limit=limit, session=self)

    async def find_one(
        self, model: type[ModelT], *queries: Any, sort: commands.SortArg = None
    ) -> ModelT | None:
        return await self.engine.find_one(model, *queries, sort=sort, session=self)

    async def count(self, model: type[ModelT], *queries: Any) -> int:
        return await self.engine.count(model, *queries, session=self)

    async def save(self, instance: ModelT) -> ModelT:
        return await self.engine.save(instance, session=self)

    async def save_all(self, instances: Iterable[ModelT]) -> list[ModelT]:
        return await self.engine.save_all(instances, session=self)

    async def delete(self, instance: ModelT) -> None:
        await self.engine.delete(instance, session=self)

    async def remove(self, model: type[ModelT], *queries: Any, just_one: bool = False) -> int:
        return await self.engine.remove(model, *queries, just_one=just_one, session=self)


class AIOTransaction(AIOSession):
    """An asynchronous transaction (``async with engine.transaction() as transaction``, or
    ``session.transaction()`` inside a started session)."""

    def __init__(self, engine: AIOEngine, session: AIOSession | None = None) -> None:
        super().__init__(engine)
        self._session = session

    async def start(self) -> Self:
        """Check the server can run transactions, start a session and a transaction."""
        await self.engine.check_transactions_supported()
        if self._session is None:
            await super().start()
        else:
            self._borrow(self._session)
        try:
            await maybe_await(self._driver_session.start_transaction())
        except BaseException:
            await super().end()
            raise
        self._in_transaction = True
        return self

    async def commit(self) -> None:
        """Commit the transaction."""
        self._check_in_transaction("commit")
        self._in_transaction = False
        await self._driver_session.commit_transaction()
        self._forget_saved(rolled_back=False)

    async def abort(self) -> None:
        """Abort the transaction: none of its writes happened."""
        self._check_in_transaction("abort")
        self._in_transaction = False
        try:
            await self._driver_session.abort_transaction()
        finally:
            self._forget_saved(rolled_back=True)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc is None and self._in_transaction:
                await self.commit()
            elif self._in_transaction:
                await self.abort()
        finally:
            await self.end()
        _translate(exc)


class SyncSession(_SessionState):
    """A synchronous session (``with engine.session() as session``)."""

    def __init__(self, engine: SyncEngine) -> None:
        super().__init__()
        self.engine = engine

    def start(self) -> Self:
        """Start the driver session."""
        self._check_not_started()
        self._driver_session = self.engine.client.start_session()
        return self

    def end(self) -> None:
        """End the driver session (aborting a transaction still in progress)."""
        borrowed = None if self._owns_driver_session else self._driver_session
        session = self._release()
        if self._in_transaction:
            self._in_transaction = False
            self._forget_saved(rolled_back=True)
            if borrowed is not None and borrowed.in_transaction:  # the session lives on
                borrowed.abort_transaction()
        if session is not None:
            session.end_session()

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
        self.end()

    def find(
        self,
        model: type[ModelT],
        *queries: Any,
        sort: commands.SortArg = None,
        skip: int = 0,
        limit: int | None = None,
    ) -> SyncCursor[ModelT]:
        return self.engine.find(model, *queries, sort=sort, skip=skip, limit=limit, session=self)

    def find_one(
        self, model: type[ModelT], *queries: Any, sort: commands.SortArg = None
    ) -> ModelT | None:
        return self.engine.find_one(model, *queries, sort=sort, session=self)

    def count(self, model: type[ModelT], *queries: Any) -> int:
        return self.engine.count(model, *queries, session=self)

    def save(self, instance: ModelT) -> ModelT:
        return self.engine.save(instance, session=self)

    def save_all(self, instances: Iterable[ModelT]) -> list[ModelT]:
        return self.engine.save_all(instances, session=self)

    def delete(self, instance: ModelT) -> None:
        self.engine.delete(instance, session=self)

    def remove(self, model: type[ModelT], *queries: Any, just_one: bool = False) -> int:
        return self.engine.remove(model, *queries, just_one=just_one, session=self)


class SyncTransaction(SyncSession):
    """A synchronous transaction (``with engine.transaction() as transaction``, or
    ``session.transaction()`` inside a started session)."""

    def __init__(self, engine: SyncEngine, session: SyncSession | None = None) -> None:
        super().__init__(engine)
        self._session = session

    def start(self) -> Self:
        """Check the server can run transactions, start a session and a transaction."""
        self.engine.check_transactions_supported()
        if self._session is None:
            super().start()
        else:
            self._borrow(self._session)
        try:
            self._driver_session.start_transaction()
        except BaseException:
            super().end()
            raise
        self._in_transaction = True
        return self

    def commit(self) -> None:
        """Commit the transaction."""
        self._check_in_transaction("commit")
        self._in_transaction = False
        self._driver_session.commit_transaction()
        self._forget_saved(rolled_back=False)

    def abort(self) -> None:
        """Abort the transaction: none of its writes happened."""
        self._check_in_transaction("abort")
        self._in_transaction = False
        try:
            self._driver_session.abort_transaction()
        finally:
            self._forget_saved(rolled_back=True)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc is None and self._in_transaction:
                self.commit()
            elif self._in_transaction:
                self.abort()
        finally:
            self.end()
        _translate(exc)
