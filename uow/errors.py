"""The errors the unit of work raises; each names what went wrong and where.

Two branches under one root, as SQLAlchemy separates ``InvalidRequestError`` from
``StaleDataError``: catching the misuse branch never hides a lost race::

    UnitOfWorkError                  anything the unit of work itself raises
    ├── InvalidUsageError            the calling code is wrong: fix the code
    │   ├── UnitOfWorkClosedError    (alias UnitOfWorkClosed)
    │   ├── UnknownRepositoryError   (also an AttributeError)
    │   └── ReadOnlyError            a write asked of a read-only unit
    ├── ConcurrencyError             another writer got there first: reload and retry
    └── NotFoundError                (also odm.DocumentNotFoundError)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from odm import DocumentNotFoundError, Model, ODMError, TransactionsNotSupportedError


class UnitOfWorkError(ODMError):
    """The root of every error the unit of work raises (misuse, conflicts, missing ids)."""


class InvalidUsageError(UnitOfWorkError):
    """The unit of work was misused: entered twice, shared between threads or tasks, used
    outside its ``with`` block or after ``close()``, given a second object for a tracked
    document... A bug in the calling code, never a data conflict."""


class UnitOfWorkClosedError(InvalidUsageError):
    """The unit of work was closed; create a new one."""


UnitOfWorkClosed = UnitOfWorkClosedError
"""The former name of :class:`UnitOfWorkClosedError`."""


class UnknownRepositoryError(InvalidUsageError, AttributeError):
    """The unit has no repository of that name or for that model."""


class ReadOnlyError(InvalidUsageError):
    """A read-only unit was asked to write: ``add``, ``add_all``, ``attach``, ``remove``,
    ``flush``, ``commit``, or a model it loaded was changed (found when its block ends)."""


TransactionsNotSupported = TransactionsNotSupportedError
"""odm's error: the server is standalone (transactions need a replica set or mongos)."""


class NotFoundError(DocumentNotFoundError, UnitOfWorkError):
    """``repository.get(id)`` found no document: ``model`` (the model class) and ``id`` (the
    id as given) say which. ``instance`` is ``None``."""

    def __init__(self, model: type[Model], id: Any) -> None:
        message = (
            f"{model.__name__} with {model.__primary_field__}={id!r} not found "
            f"in collection {model.__collection__!r}"
        )
        # DocumentNotFoundError describes an instance; here there is only an id.
        Exception.__init__(self, message)
        self.model = model
        self.id = id
        self.instance = None  # type: ignore[assignment]


class ConcurrencyError(UnitOfWorkError):
    """Another writer changed or deleted a document this unit wrote; the transaction is
    rolled back and nothing of the unit is written.

    Raised for a guarded write that matched nothing (a stale version) and for the server's
    ``WriteConflict`` (code 112) in a flush, a query that flushed, or a commit; the driver's
    error is then ``__cause__`` and its labels stay: ``has_error_label(
    "TransientTransactionError")`` is true and ``uow.run`` runs the unit again.

    Attributes:

    - ``model``: the model class, ``None`` when the server did not say (a conflict at commit);
    - ``collection``: its collection name, or ``None``;
    - ``ids``: the primary keys concerned (a list, empty when unknown);
    - ``expected_versions``: a dict mapping each of ``ids`` to the version this unit had
      loaded (``None`` when the model has no version field);
    - ``error_labels``: the driver error's labels (a frozenset).
    """

    def __init__(
        self,
        model: type[Model] | None,
        ids: Sequence[Any] = (),
        expected_versions: Sequence[Any | None] = (),
        reason: str = "was changed or deleted by another writer",
        *,
        error_labels: Iterable[str] = (),
    ) -> None:
        self.model = model
        self.collection: str | None = model.__collection__ if model is not None else None
        self.ids = list(ids)
        self.expected_versions: dict[Any, Any] = dict(
            zip(self.ids, expected_versions, strict=False)
        )
        self.error_labels = frozenset(error_labels)
        if model is None:
            message = f"This unit's transaction {reason}; run it again"
        else:
            versions = list(expected_versions) + [None] * len(self.ids)
            described = ", ".join(
                f"{id!r}" + (f" (version {version!r})" if version is not None else "")
                for id, version in zip(self.ids, versions, strict=False)
            )
            message = (
                f"{model.__name__} {described} in collection {self.collection!r} {reason} "
                "since it was loaded; reload it and try again"
            )
        super().__init__(message)

    def has_error_label(self, label: str) -> bool:
        """As PyMongo's errors: ``True`` if the driver error carried ``label``."""
        return label in self.error_labels


__all__ = [
    "ConcurrencyError",
    "InvalidUsageError",
    "NotFoundError",
    "ReadOnlyError",
    "TransactionsNotSupported",
    "TransactionsNotSupportedError",
    "UnitOfWorkClosed",
    "UnitOfWorkClosedError",
    "UnitOfWorkError",
    "UnknownRepositoryError",
]
