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

State rules (ODMantic's; :class:`~odm.exceptions.SessionStateError` is a ``RuntimeError``):
starting twice, ending what was never started, ``session.transaction()`` on a session not
started, and any operation through a session that ended or a transaction after its
``commit()``/``abort()`` raise. A transaction's ``session`` is the session it runs in.
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
        # "committed" or "aborted" once a transaction ended that way (never reused).
        self._outcome: str | None = None
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

    def _check_started(self) -> None:
        if self._driver_session is None and self._outcome is None:
            raise SessionStateError(f"This {type(self).__name__} is not started")

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
            raise SessionStateError(_NOT_STARTED_SESSION.format(type(session).__name__))
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

    def _end_state(self) -> Any:
        """Leave the started state; returns the driver session to end."""
        if self._driver_session is None:
            raise SessionStateError(f"This {type(self).__name__} is not started")
        running = self._transaction
        if running is not None and running._in_transaction:
            # Ending the driver session aborts the transaction running in it.
            running._in_transaction = False
            running._outcome = "aborted"
            running._forget_saved(rolled_back=True)
            running._release()
        return self._release()

    def _forget_saved(self, rolled_back: bool) -> None:
        saved, self._saved = self._saved, []
        if rolled_back:
            tracking.restore(saved)


_NOT_STARTED_SESSION = (
    "Cannot start a transaction in this {}: it is not started (use it as a context manager "
    "or call start() first)"
)


class _TransactionState(_SessionState):
    """What both transaction flavours add: the session they run in, and their end."""

    session: Any

    def _init_transaction(self, session: Any, provided: bool) -> None:
        # As in ODMantic: a transaction of a session needs that session started now.
        if provided and not session.is_started:
            raise SessionStateError(_NOT_STARTED_SESSION.format(type(session).__name__))
        self.session = session
        self._provided = provided

    def get_driver_session(self) -> Any:
        """The driver session, while the transaction is in progress."""
        if not self._in_transaction:
            state = f"was {self._outcome}" if self._outcome else "is not started"
            raise SessionStateError(
                f"This {type(self).__name__} {state}: it cannot run operations any more"
                if self._outcome
                else f"This {type(self).__name__} {state}: use it as a context manager "
                "or call start() first"
            )
        return self._driver_session

    def _check_can_start(self) -> None:
        if self._outcome is not None:
            raise SessionStateError(
                f"This {type(self).__name__} was {self._outcome}: create a new transaction"
            )
        self._check_not_started()


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
        """End the driver session (aborting a transaction still running in it)."""
        await maybe_await(self._end_state().end_session())

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


class AIOTransaction(_TransactionState, AIOSession):
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
        self._check_can_start()
        await self.engine.check_transactions_supported()
        if not self._provided:
            await self.session.start()
        self._borrow(self.session)
        try:
            await maybe_await(self._driver_session.start_transaction())
        except BaseException:
            await self._finish(None)
            raise
        self._in_transaction = True
        return self

    async def _finish(self, outcome: str | None) -> None:
        self._outcome = outcome
        self._release()
        if not self._provided and self.session.is_started:
            await self.session.end()

    async def commit(self) -> None:
        """Commit the transaction; the transaction cannot be used afterwards."""
        self._check_in_transaction("commit")
        self._in_transaction = False
        try:
            await self._driver_session.commit_transaction()
        except BaseException:
            self._forget_saved(rolled_back=True)
            await self._finish("aborted")
            raise
        self._forget_saved(rolled_back=False)
        await self._finish("committed")

    async def abort(self) -> None:
        """Abort the transaction: none of its writes happened."""
        self._check_in_transaction("abort")
        self._in_transaction = False
        try:
            await self._driver_session.abort_transaction()
        finally:
            self._forget_saved(rolled_back=True)
            await self._finish("aborted")

    async def end(self) -> None:
        """Abort the transaction if it is still in progress (nothing after commit/abort)."""
        self._check_started()
        if self._in_transaction:
            await self.abort()
        elif self._outcome is None:
            await self._finish("aborted")

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
            if self._outcome is None and self.is_started:
                await self._finish("aborted")
        _translate(exc)


class SyncSession(_SessionState):
    """An synchronous session (``with engine.session() as session``)."""

    def __init__(self, engine: SyncEngine) -> None:
        super().__init__()
        self.engine = engine

    def start(self) -> Self:
        """Start the driver session."""
        self._check_not_started()
        self._driver_session = self.engine.client.start_session()
        return self

    def end(self) -> None:
        """End the driver session (aborting a transaction still running in it)."""
        self._end_state().end_session()

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


class SyncTransaction(_TransactionState, SyncSession):
    """An synchronous transaction (``with engine.transaction() as transaction``, or
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
        self._check_can_start()
        self.engine.check_transactions_supported()
        if not self._provided:
            self.session.start()
        self._borrow(self.session)
        try:
            self._driver_session.start_transaction()
        except BaseException:
            self._finish(None)
            raise
        self._in_transaction = True
        return self

    def _finish(self, outcome: str | None) -> None:
        self._outcome = outcome
        self._release()
        if not self._provided and self.session.is_started:
            self.session.end()

    def commit(self) -> None:
        """Commit the transaction; the transaction cannot be used afterwards."""
        self._check_in_transaction("commit")
        self._in_transaction = False
        try:
            self._driver_session.commit_transaction()
        except BaseException:
            self._forget_saved(rolled_back=True)
            self._finish("aborted")
            raise
        self._forget_saved(rolled_back=False)
        self._finish("committed")

    def abort(self) -> None:
        """Abort the transaction: none of its writes happened."""
        self._check_in_transaction("abort")
        self._in_transaction = False
        try:
            self._driver_session.abort_transaction()
        finally:
            self._forget_saved(rolled_back=True)
            self._finish("aborted")

    def end(self) -> None:
        """Abort the transaction if it is still in progress (nothing after commit/abort)."""
        self._check_started()
        if self._in_transaction:
            self.abort()
        elif self._outcome is None:
            self._finish("aborted")

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
            if self._outcome is None and self.is_started:
                self._finish("aborted")
        _translate(exc)
