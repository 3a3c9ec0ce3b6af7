"""The errors the unit of work raises; each names what went wrong and where."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from odm import DocumentNotFoundError, Model, ODMError, TransactionsNotSupportedError


class UnitOfWorkError(ODMError):
    """A unit of work was misused: entered twice, shared between threads or tasks,
    used outside its ``with`` block, or used after ``close()``."""


class UnitOfWorkClosed(UnitOfWorkError):
    """The unit of work was closed; create a new one."""


class UnknownRepositoryError(UnitOfWorkError, AttributeError):
    """The unit has no repository of that name or for that model."""


TransactionsNotSupported = TransactionsNotSupportedError
"""odm's error: the server is standalone (transactions need a replica set or mongos)."""


class NotFoundError(DocumentNotFoundError):
    """``repository.get(id)`` found no document: ``model`` and ``id`` say which."""

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
    """A guarded write matched no document: another writer changed or deleted it first.

    ``model``, ``collection`` and ``ids`` name the documents; ``expected_version`` maps each id
    to the version this unit had loaded (``None`` when the model has no version field).
    The transaction is rolled back.
    """

    def __init__(
        self,
        model: type[Model],
        ids: Sequence[Any],
        expected_versions: Sequence[Any | None] = (),
        reason: str = "was changed or deleted by another writer",
    ) -> None:
        self.model = model
        self.collection = model.__collection__
        self.ids = list(ids)
        self.expected_versions = dict(zip(self.ids, expected_versions, strict=False))
        described = ", ".join(
            f"{id!r}" + (f" (version {version!r})" if version is not None else "")
            for id, version in zip(self.ids, list(expected_versions) + [None] * len(self.ids))
        )
        super().__init__(
            f"{model.__name__} {described} in collection {self.collection!r} {reason} "
            "since it was loaded; reload it and try again"
        )


__all__ = [
    "ConcurrencyError",
    "NotFoundError",
    "TransactionsNotSupported",
    "UnitOfWorkClosed",
    "UnitOfWorkError",
    "UnknownRepositoryError",
]
