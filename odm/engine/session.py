"""Sessions and transactions of both engines, as ODMantic documents them: their state and
logic, written once (:class:`SessionCore`, :class:`TransactionCore`; I/O only as
:mod:`odm.engine.effects`). The flavours beside each engine (``SyncSession`` in
:mod:`odm.engine.sync`, ``AIOSession`` in :mod:`odm.engine.aio`) are shells driving them.

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

from typing import Any, Self

from odm import tracking
from odm.engine.base import is_transactions_unsupported
from odm.engine.effects import (
    Abort,
    CheckTransactions,
    Commit,
    EndSession,
    StartSession,
    StartTransaction,
    Steps,
)
from odm.exceptions import SessionStateError, TransactionsNotSupportedError
from odm.model import Model

_Saved = list[tuple[Model, dict[str, Any] | None]]


class SessionCore:
    """A session's state and logic, for both flavours (I/O only as effects)."""

    engine: Any

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._driver_session: Any = None
        self._owns_driver_session = True
        self._in_transaction = False
        # "committed" or "aborted" once a transaction ended that way (never reused).
        self._outcome: str | None = None
        self._saved: _Saved = []
        # session.transaction(): the transaction running in this session, and the session a
        # transaction runs in.
        self._transaction: SessionCore | None = None
        self._parent: SessionCore | None = None

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

    def _borrow(self, session: SessionCore) -> None:
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

    # The I/O, once for both flavours (the shells drive these generators).

    def _start_steps(self) -> Steps[Self]:
        self._check_not_started()
        self._driver_session = yield StartSession()
        return self

    def _end_steps(self) -> Steps[None]:
        yield EndSession(self._end_state())

    def _exit_steps(self, exc: BaseException | None) -> Steps[None]:
        yield from self._end_steps()


_NOT_STARTED_SESSION = (
    "Cannot start a transaction in this {}: it is not started (use it as a context manager "
    "or call start() first)"
)


class TransactionCore(SessionCore):
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



    def _start_steps(self) -> Steps[Self]:
        self._check_can_start()
        yield CheckTransactions()
        if not self._provided:
            yield from self.session._start_steps()
        self._borrow(self.session)
        try:
            yield StartTransaction(self._driver_session)
        except BaseException:
            yield from self._finish_steps(None)
            raise
        self._in_transaction = True
        return self

    def _finish_steps(self, outcome: str | None) -> Steps[None]:
        self._outcome = outcome
        self._release()
        if not self._provided and self.session.is_started:
            yield from self.session._end_steps()

    def _commit_steps(self) -> Steps[None]:
        self._check_in_transaction("commit")
        self._in_transaction = False
        try:
            yield Commit(self._driver_session)
        except BaseException:
            self._forget_saved(rolled_back=True)
            yield from self._finish_steps("aborted")
            raise
        self._forget_saved(rolled_back=False)
        yield from self._finish_steps("committed")

    def _abort_steps(self) -> Steps[None]:
        self._check_in_transaction("abort")
        self._in_transaction = False
        try:
            yield Abort(self._driver_session)
        finally:
            self._forget_saved(rolled_back=True)
            yield from self._finish_steps("aborted")

    def _end_steps(self) -> Steps[None]:
        self._check_started()
        if self._in_transaction:
            yield from self._abort_steps()
        elif self._outcome is None:
            yield from self._finish_steps("aborted")

    def _exit_steps(self, exc: BaseException | None) -> Steps[None]:
        """Commit after a clean block, abort after a failed one; then translate a
        server's refusal of transactions."""
        try:
            if exc is None and self._in_transaction:
                yield from self._commit_steps()
            elif self._in_transaction:
                yield from self._abort_steps()
        finally:
            if self._outcome is None and self.is_started:
                yield from self._finish_steps("aborted")
        _translate(exc)


def _translate(error: BaseException | None) -> None:
    if error is not None and is_transactions_unsupported(error):
        raise TransactionsNotSupportedError(str(error)) from error
