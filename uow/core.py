"""The unit of work's logic, written once for both twins (no I/O here).

Every operation is a generator of :mod:`uow.effects`: it yields the I/O it needs and gets
the result back. :class:`~uow.unit.UnitOfWork` runs those effects with the sync engine,
:class:`~uow.unit.AsyncUnitOfWork` awaits them with the async one, so enter / flush / commit /
rollback / retries / queries exist in one copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import bson
from pymongo.errors import ClientBulkWriteException, PyMongoError

from odm import Model
from odm import tracking as odm_tracking
from odm.facts import check_model_class
from odm.ids import INVALID_ID, primary_key_value
from odm.loading import instances_from_documents
from odm.query_compiler import SortArg, find_request
from uow import flush as flushing
from uow import reading
from uow.effects import (
    Abort,
    BulkWrite,
    Call,
    CheckTransactions,
    ClientBulkWrite,
    CloseCursor,
    Commit,
    Count,
    EndSession,
    FetchBatch,
    Find,
    FindDocuments,
    InsertDocuments,
    OpenCursor,
    Sleep,
    StartSession,
    StartTransaction,
    Steps,
)
from uow.errors import InvalidUsageError, NotFoundError, ReadOnlyError, UnitOfWorkClosedError
from uow.events import HandlerRegistry, drop_events, take_events
from uow.identity_map import IdentityMap, State
from uow.outbox import writing as outbox_writing
from uow.outbox.records import Outbox
from uow.retry import RetryPolicy

Owner = tuple[int, object]

_WHOLE = 1 << 30  # a list-returning query reads its cursor to the end, batch by batch


class Status(enum.Enum):
    IDLE = "idle"
    ACTIVE = "active"
    CLOSED = "closed"


_ACTIVE = Status.ACTIVE


def current_owner() -> Owner:
    """The thread, and the asyncio task when there is one, running this code."""
    # _get_running_loop returns None outside a loop (get_running_loop would raise: slower).
    loop = asyncio._get_running_loop()
    task = asyncio.current_task(loop) if loop is not None else None
    return (threading.get_ident(), task)


def _describe(owner: Owner) -> str:
    thread, task = owner
    return f"thread {thread}" + (f", task {task!r}" if task is not None else "")


def _is_literal_safe(value: Any) -> bool:
    """A value that stands for itself in ``{key: value}`` and in ``$in`` (not an operator
    document nor a regular expression, which would select other documents)."""
    if isinstance(value, Mapping):
        return not any(str(key).startswith("$") for key in value)
    return not isinstance(value, re.Pattern | bson.Regex)


def _id_is(model: type[Model], id: Any) -> dict[str, Any]:
    """The filter of one id, always ``$eq``: an id from user input such as
    ``{"$ne": None}`` or a regex is data, never an operator (the MongoDB manual's advice)."""
    return {model.__primary_key__: {"$eq": id}}


def _id_in(model: type[Model], ids: list[Any]) -> dict[str, Any]:
    """The filter of several ids: ``$in``, or ``$eq`` one by one when one of them is not
    literal-safe (``$in`` would refuse a ``$`` document and match a regex)."""
    key = model.__primary_key__
    if all(_is_literal_safe(id) for id in ids):
        return {key: {"$in": ids}}
    return {"$or": [{key: {"$eq": id}} for id in ids]}


class UnitPort(Protocol):
    """The public seam between a unit of work and its repositories (or any code reading and
    writing through a unit): ``core`` is the unit's state and logic (its operations are
    generators of effects: ``core.get(model, id)``, ``core.find(...)``, ``core.identity_map``...)
    and ``drive(steps)`` runs one with the unit's engine; the async unit's ``drive`` returns
    an awaitable."""

    @property
    def core(self) -> UnitCore: ...

    def drive(self, steps: Steps) -> Any: ...


class UnitCore:
    """State and logic of one unit of work; ``unit`` is the public object it belongs to."""

    def __init__(
        self,
        unit: Any,
        engine: Any,
        handlers: HandlerRegistry,
        retry_budget: float,
        read_only: bool = False,
        outbox: Outbox | None = None,
    ) -> None:
        self.unit = unit
        self.outbox = outbox
        self._outbox_pending: outbox_writing.Pending | None = None
        self.read_only = read_only
        self.engine = engine
        self.handlers = handlers
        self.retry_budget = retry_budget
        self.identity_map = IdentityMap()
        self.session: Any = None
        self.status = Status.IDLE
        self.owner: Owner | None = None
        self._lock = threading.Lock()
        # What to put back if the transaction rolls back; models deleted during it.
        self._restore_log: list[tuple[Model, dict[str, Any] | None, Any]] = []
        self._departed: list[Model] = []

    # ------------------------------------------------------------ who may use it

    def _name(self) -> str:
        return type(self.unit).__name__

    def check_active(self) -> None:
        """Raise unless the unit is inside its block, in this thread/task."""
        status = self.status
        if status is _ACTIVE and self.owner == current_owner():
            return  # the common case, first (an enum member lookup costs ~0.1 us)
        if status is Status.CLOSED:
            raise UnitOfWorkClosedError(f"This {self._name()} is closed; create a new one")
        if status is not Status.ACTIVE:
            raise InvalidUsageError(
                f"This {self._name()} is not active: use it inside `with uow:` "
                "(`async with` for AsyncUnitOfWork) or through uow.run(...)"
            )
        if self.owner != current_owner():
            raise InvalidUsageError(
                f"This {self._name()} is in use by {_describe(self.owner or (0, None))}; a unit "
                "of work serves one thread or task at a time: create one unit per worker"
            )

    def _claim(self) -> None:
        with self._lock:
            if self.status is Status.CLOSED:
                raise UnitOfWorkClosedError(f"This {self._name()} is closed; create a new one")
            if self.status is Status.ACTIVE:
                where = "already" if self.owner == current_owner() else "in use by another thread/task,"
                raise InvalidUsageError(
                    f"This {self._name()} is {where} active: a unit of work cannot be entered "
                    "again before its block ends (create one unit per worker)"
                )
            self.status = Status.ACTIVE
            self.owner = current_owner()

    def close(self) -> None:
        with self._lock:
            if self.status is Status.ACTIVE:
                raise InvalidUsageError(f"Cannot close this {self._name()} inside its block")
            self.status = Status.CLOSED

    # ------------------------------------------------------------ begin / end

    def enter(self) -> Steps:
        self._claim()
        try:
            yield CheckTransactions()
            session = yield StartSession(snapshot=self.read_only)
            self.session = session
            if not self.read_only:  # a snapshot session reads without a transaction
                yield StartTransaction(session)
        except BaseException:
            yield from self._end()
            raise
        return self.unit

    def _end(self) -> Steps:
        """Leave the block: nothing tracked any more, the session ended, idle again."""
        session, self.session = self.session, None
        self.identity_map.clear()
        self.status, self.owner = Status.IDLE, None
        if session is not None:
            # The session is gone either way; the server expires it.
            with contextlib.suppress(PyMongoError):
                yield EndSession(session)

    def _abort(self) -> Steps:
        """Roll back: the server forgets the writes, the unit forgets the models."""
        session = self.session
        try:
            if session is not None and session.in_transaction:
                yield Abort(session)
        except PyMongoError:
            pass  # the server already aborted it: nothing was committed
        finally:
            odm_tracking.restore(self._restore_log)
            outbox_writing.undo(self._outbox_pending)
            self._outbox_pending = None
            drop_events([*self.identity_map.clear(), *self._departed])
            self._restore_log, self._departed = [], []

    def _committed(self) -> list[Any]:
        """After a successful commit: the events to hand out; nothing left to restore."""
        events = take_events([*self.identity_map.instances(), *self._departed])
        self._restore_log, self._departed = [], []
        self._outbox_pending = None
        return events

    def _dispatch(self, events: Iterable[Any]) -> Steps:
        for handler, event in self.handlers.calls(events):
            yield Call(handler, (event,))

    def exit(self, error: BaseException | None) -> Steps:
        """End the block: flush and commit when it ended cleanly, else roll back."""
        if self.status is Status.ACTIVE:
            self.check_active()
        events: list[Any] = []
        try:
            if error is None and self.read_only:
                self._check_unchanged()
                yield from self._abort()
            elif error is None:
                yield from self._final_flush()
                yield from self._commit()
                events = self._committed()
            else:
                yield from self._abort()
        except BaseException:
            yield from self._abort()
            raise
        finally:
            yield from self._end()
        yield from self._dispatch(events)

    def _commit(self) -> Steps:
        """``commitTransaction``; a write conflict becomes a ConcurrencyError."""
        try:
            yield Commit(self.session)
        except PyMongoError as error:
            translated = flushing.commit_error(error)
            if translated is error:
                raise
            raise translated from error

    def commit(self) -> Steps:
        """Flush and commit now; the block goes on in a new transaction."""
        self.check_active()
        self.check_writable("commit")
        yield from self._final_flush()
        yield from self._commit()
        events = self._committed()
        yield StartTransaction(self.session)
        yield from self._dispatch(events)

    def rollback(self) -> Steps:
        """Abort now and detach every model; the block goes on in a new transaction."""
        self.check_active()
        yield from self._abort()
        if not self.read_only:
            yield StartTransaction(self.session)

    # ------------------------------------------------------------ flush

    def _final_flush(self) -> Steps:
        """The flush before a commit, with the outbox's events: in the changes' ``bulkWrite``
        on MongoDB 8.0 (one round trip for both), else one ``insert`` after them."""
        if self.outbox is None:
            yield from self.flush()
            return
        self.check_active()
        self.check_writable("flush")
        written = {id(instance) for instance, _, _ in self._restore_log}
        pending = outbox_writing.prepare(self.identity_map, self._departed, written)
        self._outbox_pending = pending  # its version bumps are undone on rollback
        batches = flushing.plan(self.identity_map)  # after prepare: its bumps are changes
        if pending is None:
            yield from self._send(batches)
            return
        # The documents need the versions after this flush and what it deletes: the plan
        # says both, so they are built before anything is sent.
        deleted = {id(instance) for instance in self._departed} | flushing.deleted(batches)
        documents = outbox_writing.documents(
            self.outbox, pending, deleted, flushing.versions_after(batches)
        )
        if batches and self.engine.client_bulk_write_supported():
            inserts = outbox_writing.requests(self.outbox, documents, self.engine.database_name)
            yield from self._flush_at_once(batches, inserts)
            return
        yield from self._send(batches)
        yield InsertDocuments(self.outbox.collection, documents, self.session)

    def flush(self) -> Steps:
        """Send the pending changes: one ordered bulk_write per collection, or one bulkWrite
        for all of them on MongoDB 8.0 (see uow.flush)."""
        self.check_active()
        self.check_writable("flush")
        yield from self._send(flushing.plan(self.identity_map))

    def _send(self, batches: list[flushing.Batch]) -> Steps:
        # MongoDB 8.0 (known after enter()): one bulkWrite where a bulk_write per collection
        # would send several commands (one command either way costs less client time so).
        if flushing.per_collection_commands(batches) > 1 \
                and self.engine.client_bulk_write_supported():
            yield from self._flush_at_once(batches)
        elif batches:
            yield from self._flush_per_collection(batches)

    def _flush_per_collection(self, batches: list[flushing.Batch]) -> Steps:
        """One ordered ``bulk_write`` per collection (servers before MongoDB 8.0)."""
        for batch in batches:
            try:
                result = yield BulkWrite(batch.model, batch.requests(), self.session)
            except PyMongoError as error:
                translated = flushing.write_error(batch, error)
                if translated is error:
                    raise
                raise translated from error
            missed = flushing.unapplied(batch, result)
            if missed:
                current = yield FindDocuments(
                    batch.model, flushing.lookup_filter(missed), self.session
                )
                raise flushing.concurrency_error(missed, current)
            self._restore_log.extend(flushing.applied(batch))
            self._departed.extend(
                write.entry.instance for write in batch.writes if write.kind is flushing.DELETE
            )
        self.identity_map.flushed([w.entry for b in batches for w in b.writes])

    def _flush_at_once(self, batches: list[flushing.Batch], after: Sequence[Any] = ()) -> Steps:
        """Every collection's writes in one ``bulkWrite`` command (one round trip), then the
        requests ``after`` (the outbox's inserts) in the same command."""
        requests = flushing.client_requests(
            batches, self.engine.database_name, self.engine.codec_options
        )
        requests.extend(after)
        try:
            result = yield ClientBulkWrite(requests, self.session)
        except ClientBulkWriteException as error:
            translated = flushing.client_write_error(batches, error)
            if translated is error:
                raise
            if translated is error.error:  # a top-level error: raised as on 7.0
                raise translated from None
            # A write conflict's cause is the server's error, as on 7.0.
            raise translated from (error.error or error)
        if flushing.client_missed(batches, result):
            yield from self._find_missed(batches)
        for batch in batches:
            self._restore_log.extend(flushing.applied(batch))
            self._departed.extend(
                write.entry.instance for write in batch.writes if write.kind is flushing.DELETE
            )
        self.identity_map.flushed([w.entry for b in batches for w in b.writes])

    def _find_missed(self, batches: list[flushing.Batch]) -> Steps:
        """Raise the ConcurrencyError naming the guarded writes that missed: the summary
        counts said some did, the documents as they are now say which (collection order)."""
        unseen: list[tuple[list[flushing.Write], list[dict[str, Any]]]] = []
        for batch in batches:
            writes = flushing.guarded(batch)
            if not writes:
                continue
            current = yield FindDocuments(batch.model, flushing.lookup_filter(writes), self.session)
            missed = flushing.culprits(writes, current, unversioned_deletes=False)
            if missed:
                raise flushing.concurrency_error(missed, current)
            maybe = flushing.undetected(writes, current)
            if maybe:
                unseen.append((maybe, current))
        # The documents do not show it: the first collection with writes that may have missed.
        if unseen:
            raise flushing.concurrency_error(*unseen[0])
        writes = next(w for b in batches if (w := flushing.guarded(b)))
        raise flushing.concurrency_error(writes, [])

    # ------------------------------------------------------------ queries

    def get_or_none(self, model: type[Model], id: Any) -> Steps:
        self.check_active()
        check_model_class(model, "get")
        id = primary_key_value(model, id)
        if id is INVALID_ID:
            return None  # no document can have it: nothing to ask the server
        entry = self.identity_map.lookup(model, id)
        if entry is not None:
            return None if entry.state is State.REMOVED else entry.instance
        found = yield Find(model, (_id_is(model, id),), self.session, limit=1)
        return self.identity_map.loaded(found[0]) if found else None

    def get(self, model: type[Model], id: Any) -> Steps:
        instance = yield from self.get_or_none(model, id)  # ids as given: "65a1..." too
        if instance is None:
            raise NotFoundError(model, id)
        return instance

    def get_many(self, model: type[Model], ids: Iterable[Any]) -> Steps:
        """The models of ``ids``, in that order (one query for those not tracked yet)."""
        self.check_active()
        check_model_class(model, "get_many")
        given = list(ids)
        ids = [primary_key_value(model, id) for id in given]
        to_load = [
            id for id in ids if id is not INVALID_ID and self.identity_map.lookup(model, id) is None
        ]
        if to_load:
            for instance in (yield Find(model, (_id_in(model, to_load),), self.session)):
                self.identity_map.loaded(instance)
        found: list[Model] = []
        for id, as_given in zip(ids, given, strict=True):
            entry = None if id is INVALID_ID else self.identity_map.lookup(model, id)
            if entry is None or entry.state is State.REMOVED:
                raise NotFoundError(model, as_given)
            found.append(entry.instance)
        return found

    def find(
        self,
        model: type[Model],
        queries: Sequence[Any],
        sort: SortArg = None,
        skip: int = 0,
        limit: int | None = None,
        *,
        track: bool = True,
        into: Any = None,
    ) -> Steps:
        """Flush, then query; documents already tracked come back as the tracked objects.

        ``track=False``: new, untracked instances; ``into=``: projected results (untracked)."""
        self.check_active()
        check_model_class(model, "find")
        if into is not None or not track:  # read through a cursor: nothing to track
            stream = yield from self.open_stream(
                model, queries, sort, skip, limit, 0, track=False, into=into
            )
            found: list[Any] = []
            try:
                while batch := (yield from self.next_batch(stream, _WHOLE)):
                    found.extend(batch)
            finally:
                yield from self.close_stream(stream)
            return found
        yield from self._flush_for_query()
        loaded = yield Find(model, tuple(queries), self.session, sort, skip, limit)
        return [self.identity_map.loaded(instance) for instance in loaded]

    def find_one(
        self,
        model: type[Model],
        queries: Sequence[Any],
        sort: SortArg = None,
        *,
        track: bool = True,
        into: Any = None,
    ) -> Steps:
        found = yield from self.find(model, queries, sort=sort, limit=1, track=track, into=into)
        return found[0] if found else None

    def count(self, model: type[Model], queries: Sequence[Any]) -> Steps:
        self.check_active()
        check_model_class(model, "count")
        yield from self._flush_for_query()
        return (yield Count(model, tuple(queries), self.session))

    # ------------------------------------------------------------ streams

    def open_stream(
        self,
        model: type[Model],
        queries: Sequence[Any],
        sort: SortArg = None,
        skip: int = 0,
        limit: int | None = None,
        batch_size: int = 0,
        *,
        track: bool = True,
        into: Any = None,
    ) -> Steps:
        """Flush, then open a server cursor read ``batch_size`` documents at a time (0: in
        the server's batches)."""
        self.check_active()
        check_model_class(model, "stream")
        if batch_size:
            reading.check_batch_size(batch_size)
        projection = reading.projection(model, into) if into is not None else None
        request = find_request(model, queries, sort=sort, skip=skip, limit=limit)
        yield from self._flush_for_query()
        stream = reading.Stream(request, batch_size, track and projection is None, projection)
        stream.cursor = yield OpenCursor(
            request, projection.fields if projection else None, batch_size, self.session
        )
        return stream

    def next_batch(self, stream: reading.Stream, size: int | None = None) -> Steps:
        """The stream's next models (or projected results); ``[]`` once it is exhausted."""
        self.check_active()
        if stream.done:
            return []
        documents = yield FetchBatch(stream.cursor, size or stream.batch_size)
        if not documents:
            stream.done = True
            return []
        if stream.projection is not None:
            return stream.projection.convert_all(documents)
        instances = instances_from_documents(stream.request.model, documents)
        if not stream.track:
            return instances
        loaded = self.identity_map.loaded
        return [loaded(instance) for instance in instances]

    def close_stream(self, stream: reading.Stream) -> Steps:
        """Release the server cursor (a stream left early)."""
        stream.done = True
        cursor, stream.cursor = stream.cursor, None
        if cursor is not None:
            with contextlib.suppress(PyMongoError):
                yield CloseCursor(cursor)

    def expunge(self, instances: Iterable[Model]) -> None:
        """Stop tracking ``instances`` (already flushed): the unit no longer holds them."""
        self.check_active()
        self.identity_map.expunge(list(instances))

    def expunge_all(self) -> None:
        """Stop tracking every model (each already flushed)."""
        self.check_active()
        self.identity_map.expunge(self.identity_map.instances())

    # ------------------------------------------------------------ read-only units

    def check_writable(self, operation: str) -> None:
        if self.read_only:
            raise ReadOnlyError(
                f"This {self._name()} is read-only: it cannot {operation} (open a unit "
                "without read_only=True to write)"
            )

    def _flush_for_query(self) -> Steps:
        """Queries see pending changes; a read-only unit has none to send."""
        if not self.read_only:
            yield from self.flush()

    def _check_unchanged(self) -> None:
        """A read-only unit's models must come back as they were loaded."""
        for entry in self.identity_map:
            update = odm_tracking.changes(entry.instance)[1]
            if update:
                instance = entry.instance
                model = type(instance)
                paths = sorted({path for part in update.values() for path in part})
                raise ReadOnlyError(
                    f"{model.__name__} {getattr(instance, model.__primary_field__)!r} was "
                    f"changed ({', '.join(paths)}) in a read-only {self._name()}: it writes "
                    "nothing; change models in a unit opened for writing"
                )

    # ------------------------------------------------------------ retries

    def run(
        self, function: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Steps:
        """``function(unit, *args, **kwargs)`` in a unit, retried as ``with_transaction`` does."""
        if not callable(function):
            raise TypeError(f"run() expects a callable, got {function!r}")
        if self.read_only:
            yield from self.enter()
            try:
                result = yield Call(function, (self.unit, *args), kwargs)
            except BaseException as error:
                yield from self.exit(error)
                raise
            yield from self.exit(None)
            return result
        policy = RetryPolicy(self.retry_budget)
        while True:
            delay = policy.next_delay()
            if delay:
                yield Sleep(delay)
            yield from self.enter()
            try:
                result = yield Call(function, (self.unit, *args), kwargs)
                yield from self._final_flush()
            except BaseException as error:
                try:
                    yield from self._abort()
                finally:
                    yield from self._end()
                if policy.retry_transaction(error):
                    continue
                raise
            committed = yield from self._commit_retrying(policy)
            if committed:
                return result

    def _commit_retrying(self, policy: RetryPolicy) -> Steps:
        """Commit (again on an unknown result); False when the whole unit must run again."""
        while True:
            try:
                yield Commit(self.session)
                break
            except BaseException as error:
                if policy.retry_commit(error):
                    continue
                translated = flushing.commit_error(error)
                try:
                    yield from self._abort()
                finally:
                    yield from self._end()
                if policy.retry_transaction(translated):
                    return False
                if translated is error:
                    raise
                raise translated from error
        events = self._committed()
        yield from self._end()
        yield from self._dispatch(events)
        return True


__all__ = ["Status", "UnitCore", "current_owner"]
