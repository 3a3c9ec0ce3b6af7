"""The errors odm raises: each names the model, the document and the reason."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymongo.errors import OperationFailure

if TYPE_CHECKING:
    from pydantic import ValidationError
    from pymongo.errors import PyMongoError

    from odm.model import Model


class ODMError(Exception):
    """Base class of every error raised by odm."""


class BaseEngineException(ODMError):
    """An engine operation failed; ``model`` is the model class involved."""

    def __init__(self, message: str, model: type[Model]) -> None:
        super().__init__(message)
        self.model = model


class DocumentNotFoundError(BaseEngineException):
    """The document of ``instance`` is not (or no longer) in the database.

    Raised by ``engine.delete`` like ODMantic does.
    """

    def __init__(self, instance: Model) -> None:
        model = type(instance)
        pk = getattr(instance, model.__primary_field__)
        super().__init__(
            f"Document not found for {model.__name__} with {model.__primary_field__}={pk!r}",
            model,
        )
        self.instance = instance


class DuplicateKeyError(BaseEngineException):
    """A unique index refused the write of ``instance``.

    ``driver_error`` is PyMongo's error (``BulkWriteError`` or ``DuplicateKeyError``),
    ``fields`` the model fields of the violated index and ``key_names`` their stored keys
    (from the server's ``keyPattern``), ``key_value`` the duplicated value when the server
    reports it.
    """

    def __init__(self, instance: Model, driver_error: PyMongoError) -> None:
        model = type(instance)
        details: dict[str, Any] = getattr(driver_error, "details", None) or {}
        write_error = (details.get("writeErrors") or [details])[0]
        by_key = {field.key_name: name for name, field in model.__odm_fields__.items()}
        self.key_names: tuple[str, ...] = tuple((write_error.get("keyPattern") or {}).keys())
        # The model's field names (``fields``) of the stored keys (``key_names``) of the index.
        self.fields: tuple[str, ...] = tuple(by_key.get(key, key) for key in self.key_names)
        self.key_value: dict[str, Any] | None = write_error.get("keyValue")
        super().__init__(
            f"Duplicate key error on {model.__name__} "
            f"(fields {', '.join(self.fields) or 'unknown'}, value {self.key_value!r}): "
            f"{write_error.get('errmsg', driver_error)}",
            model,
        )
        self.instance = instance
        self.driver_error = driver_error


class DocumentParsingError(ODMError, ValueError):
    """A stored document does not fit its model.

    ``model`` is the model class, ``primary_value`` the document's primary key (or
    ``"<unknown>"``), ``field`` the first failing path in the document, in stored keys
    (``"address.zip"`` for ``Address.zip_code = Field(key_name="zip")``), ``reason`` why it
    failed, and ``validation_error`` pydantic's full error when pydantic
    raised one.
    """

    def __init__(
        self,
        model: type[Any],
        primary_value: Any,
        field: str,
        reason: str,
        validation_error: ValidationError | None = None,
    ) -> None:
        self.model = model
        self.primary_value = primary_value
        self.field = field
        self.reason = reason
        self.validation_error = validation_error
        count = validation_error.error_count() if validation_error is not None else 1
        more = f" (and {count - 1} more errors)" if count > 1 else ""
        super().__init__(
            f"Cannot parse the {model.__name__} document with _id={primary_value!r}: "
            f"field {field or '<document>'!r}: {reason}{more}"
        )

    @classmethod
    def from_validation_error(
        cls, model: type[Any], primary_value: Any, error: ValidationError
    ) -> DocumentParsingError:
        """Name the first failing field of pydantic's ``error``."""
        errors = error.errors(include_url=False)
        first = errors[0] if errors else {"loc": (), "msg": str(error)}
        field = ".".join(str(part) for part in first["loc"])
        return cls(model, primary_value, field, str(first["msg"]), error)


class PrimaryKeyChangeError(ODMError, NotImplementedError, ValueError):
    """A primary key cannot be changed on an instance; copy it into a new one instead.

    A ``NotImplementedError`` (what ODMantic raises on assignment) and a ``ValueError``
    (what it raises from ``model_update``).
    """


class TransactionsNotSupportedError(ODMError):
    """The server cannot run multi-document transactions (a standalone ``mongod``).

    Transactions need a replica set member or a ``mongos``.
    """


class IndexConflictError(ODMError, OperationFailure):
    """An index declared by a model conflicts with one that already exists.

    Pass ``update_existing_indexes=True`` to ``configure_database`` to replace it. A
    ``pymongo.errors.OperationFailure`` (what ODMantic lets through from the server), with
    MongoDB's ``code``: 85 (IndexOptionsConflict) or 86 (IndexKeySpecsConflict).
    """

    def __init__(
        self, message: str, driver_error: PyMongoError | None = None, code: int | None = None
    ) -> None:
        if code is None and isinstance(driver_error, OperationFailure):
            code = driver_error.code
        OperationFailure.__init__(self, message, code)
        self.driver_error = driver_error


class SessionStateError(ODMError, RuntimeError):
    """A session or transaction was used in the wrong state (not started, already ended,
    a transaction already committed or aborted).

    A ``RuntimeError``, as ODMantic raises for these.
    """


__all__ = [
    "BaseEngineException",
    "DocumentNotFoundError",
    "DocumentParsingError",
    "DuplicateKeyError",
    "IndexConflictError",
    "ODMError",
    "PrimaryKeyChangeError",
    "SessionStateError",
    "TransactionsNotSupportedError",
]
