"""The unit of work: one transaction, typed repositories, an identity map, minimal flushes.

A unit of work owns an engine transaction. Models loaded through its repositories are
tracked; when the block ends cleanly the unit sends only what changed (one ordered
``bulk_write`` per collection, or one ``bulkWrite`` command for all on MongoDB 8.0) and
commits; when it raises, the transaction is rolled back
and the unit forgets every model::

    import odm
    from uow import UnitOfWork, DomainEvents
    from repositories import Repository

    class Account(odm.Model, DomainEvents):
        owner: str
        balance: int
        version: int = 0
        model_config = odm.ODMConfigDict(collection="accounts", version_field="version")

    class BankUnit(UnitOfWork):
        accounts: Repository[Account]

    def transfer(uow: BankUnit, source: odm.ObjectId, target: odm.ObjectId, amount: int) -> None:
        a, b = uow.accounts.get(source), uow.accounts.get(target)
        a.balance -= amount
        b.balance += amount

    uow = BankUnit(odm.SyncEngine(client, "bank"))
    uow.run(transfer, a_id, b_id, 10)   # retried on transient transaction errors

The public API (the same names on both twins; the async ones are awaited):

- ``UnitOfWork(engine, *, repositories=None, handlers=None, retry_budget=120.0,
  read_only=False, outbox=None)`` on an
  ``odm.SyncEngine``; ``AsyncUnitOfWork`` on an ``odm.AIOEngine`` (another pairing is a
  ``TypeError`` at construction). Repositories are declared by
  annotation on a subclass (``accounts: Repository[Account]``,
  ``transfers: TransferRepository``) or given as ``repositories={"accounts": Account}``.
- ``with uow:`` / ``async with uow:`` - a session and a transaction; a clean exit flushes and
  commits, an exception rolls back and re-raises. ``uow.flush()``, ``uow.commit()``,
  ``uow.rollback()`` inside the block (the block goes on in a new transaction). A unit is
  reusable once its block ended, and serves one thread or task at a time
  (:class:`InvalidUsageError` otherwise): concurrent workers each create their own unit.
- ``uow.run(fn, *args, **kwargs)`` calls ``fn(uow, *args, **kwargs)`` in a fresh transaction
  and returns its result; like PyMongo's ``with_transaction`` it re-runs everything on a
  ``TransientTransactionError`` and retries only the commit on an
  ``UnknownTransactionCommitResult``, with jittered backoff, within ``retry_budget`` seconds.
  ``uow.transactional(fn)`` is the decorator form.
- Repositories: ``get(id)`` (:class:`NotFoundError`), ``get_or_none``, ``get_many(ids)``,
  ``find(*queries, sort=, skip=, limit=)``, ``find_one``, ``count``, ``add``, ``add_all``,
  ``attach`` (a model loaded earlier: its changes since then are sent, version-guarded),
  ``remove``. A unit writes only the models it tracks: it does not cascade references as
  ``engine.save`` does, and a model referencing a new model it does not track is refused
  (:class:`InvalidUsageError`) before the flush sends anything. Repositories reach the
  unit through its public seam, :class:`UnitPort` (``unit.core`` and ``unit.drive``).
  Queries flush pending changes first and return the tracked object for a
  document the unit already holds. Ids go through the primary field's validation, so
  ``get("65a1...")`` (a path parameter) finds the document of that ``ObjectId``; an id the
  field refuses is not found, never sent as an operator.
- Reads at scale: ``find(..., track=False)`` and ``find_one`` return models the unit does
  not track (a change to one is written only through ``attach``, version-guarded);
  ``stream(*queries, batch_size=1000, track=)`` yields models read from a server cursor a
  batch at a time (``async for`` on the async twin), untracked ones keep memory bounded by
  the batch size; ``repository.expunge(model)`` / ``uow.expunge_all()`` release flushed
  models; ``into=`` (on ``find``, ``find_one``, ``stream``) projects into a smaller model
  class or, given fields (``into=[Account.owner]``), plain dicts as stored, untracked.
- ``UnitOfWork(engine, read_only=True)``: every query reads one snapshot (a snapshot
  session: read concern ``snapshot``, no transaction), nothing is flushed or committed, and
  ``add``/``attach``/``remove``/``flush``/``commit`` or a changed model (found when the
  block ends) raise :class:`ReadOnlyError`.
- Optimistic concurrency: ``model_config["version_field"] = "version"`` names an integer
  field; updates and deletes match the version loaded and each update bumps it by one. A
  write that matches nothing, or that the server refuses as a ``WriteConflict`` with a
  concurrent transaction (in a flush, a query's flush or the commit), raises
  :class:`ConcurrencyError` and the transaction rolls back; a ``WriteConflict``'s error is
  its ``__cause__`` and its ``TransientTransactionError`` label is kept, so ``uow.run``
  runs the unit again.
- Errors: :class:`UnitOfWorkError` is the root; :class:`InvalidUsageError` (closed, not
  active, another thread, unknown repository, a write in a read-only unit...) is a bug in
  the calling code,
  :class:`ConcurrencyError` a lost race, :class:`NotFoundError` a missing id (see
  :mod:`uow.errors`).
- Reliable events (:mod:`uow.outbox`): ``UnitOfWork(engine, outbox="outbox")`` stores each
  recorded event in the outbox collection in the unit's own transaction (one more
  ``insert`` per commit); ``uow.outbox.Relay`` / ``AsyncRelay`` deliver them to a publisher
  at least once, in commit order per aggregate, with the event id as the idempotency key,
  retrying with backoff and parking an event after ``max_attempts``. Not exactly once, no
  order across aggregates; aggregates need a version field.
- Domain events: models with the :class:`DomainEvents` mixin call ``record_event(event)``;
  after a successful commit the unit calls the handlers registered with
  ``uow.on(EventType, handler)`` (or ``handlers={EventType: handler}``), once per event; after
  a rollback the events are dropped.
- Round trips: on MongoDB 8.0 (wire version 25) a commit is one ``bulkWrite`` command
  (``MongoClient.bulk_write``) for every collection plus the ``commitTransaction``: 2,
  whatever the number of collections. On older servers a commit that inserts and updates
  models of K collections costs one ``update`` command per collection (new models are
  upserts with ``$setOnInsert``, so an existing id is still a :class:`odm.DuplicateKeyError`)
  plus the commit: K + 1; deletes add one ``delete`` command per collection that has some.
  Errors mean the same either way.
"""

from uow.core import UnitPort
from uow.errors import (
    ConcurrencyError,
    InvalidUsageError,
    NotFoundError,
    ReadOnlyError,
    TransactionsNotSupported,
    TransactionsNotSupportedError,
    UnitOfWorkClosed,
    UnitOfWorkClosedError,
    UnitOfWorkError,
    UnknownRepositoryError,
)
from uow.events import DomainEvents
from uow.unit import AsyncUnitOfWork, BaseUnitOfWork, UnitOfWork

__all__ = [
    "AsyncUnitOfWork",
    "BaseUnitOfWork",
    "ConcurrencyError",
    "DomainEvents",
    "InvalidUsageError",
    "NotFoundError",
    "ReadOnlyError",
    "TransactionsNotSupported",
    "TransactionsNotSupportedError",
    "UnitOfWork",
    "UnitOfWorkClosed",
    "UnitOfWorkClosedError",
    "UnitOfWorkError",
    "UnitPort",
    "UnknownRepositoryError",
]
