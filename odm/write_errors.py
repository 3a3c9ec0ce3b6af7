"""Write errors: a refused write as odm's error (a duplicate key names the instance), and
the writes applied before it marked saved. One place for the engines' per-collection and
client-wide (MongoDB 8.0 ``bulkWrite``) writes and for the unit of work's flushes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo.errors import (
    BulkWriteError,
    ClientBulkWriteException,
    OperationFailure,
    PyMongoError,
    WriteError,
)
from pymongo.errors import DuplicateKeyError as DriverDuplicateKeyError

from odm.exceptions import DuplicateKeyError
from odm.model import Model
from odm.saving import SaveOperation, WriteKind, mark_saved

# MongoDB's error code (see the server's error_codes.yml).
DUPLICATE_KEY = 11000


def is_duplicate_key(write_error: Mapping[str, Any]) -> bool:
    """A write error document (``writeErrors[i]``) refusing a duplicate key."""
    return write_error.get("code") == DUPLICATE_KEY


def duplicate_key_error(instance: Model, write_error: Mapping[str, Any]) -> DuplicateKeyError:
    """odm's error for ``instance`` refused by a unique index, from the write error document
    (PyMongo's ``DuplicateKeyError`` as its cause, with the details)."""
    driver_error = DriverDuplicateKeyError(
        str(write_error.get("errmsg", "")), DUPLICATE_KEY, dict(write_error)
    )
    return DuplicateKeyError(instance, driver_error)


def translate_write_error(
    error: PyMongoError, operations: Sequence[SaveOperation]
) -> Exception:
    """Our error for a failed write; marks the operations applied before it as saved."""
    if len(operations) == 1 and isinstance(error, WriteError):
        error = _as_bulk_write_error(error, operations[0])
    if isinstance(error, BulkWriteError):
        write_errors = error.details.get("writeErrors") or [{}]
        index = write_errors[0].get("index", 0)
        mark_saved(operations[:index])
        if is_duplicate_key(write_errors[0]) and index < len(operations):
            return DuplicateKeyError(operations[index].instance, error)
    elif isinstance(error, OperationFailure) and error.code == DUPLICATE_KEY and operations:
        return DuplicateKeyError(operations[0].instance, error)
    return error


def _as_bulk_write_error(error: WriteError, operation: SaveOperation) -> BulkWriteError:
    """What ``bulk_write`` raises when the server refuses its one request: a single save
    written with a plain call fails as a batch of one did."""
    op: dict[str, Any]
    if operation.kind is WriteKind.INSERT:
        op = operation.document
    elif operation.kind is WriteKind.UPDATE:
        op = {"q": operation.filter, "u": operation.update, "multi": False, "upsert": True}
    else:
        op = {"q": operation.filter, "u": operation.document, "upsert": True}
    details = error.details or {}
    return BulkWriteError({
        "writeErrors": [{**details, "op": op}],
        "writeConcernErrors": [],
        "nInserted": 0,
        "nUpserted": 0,
        "nMatched": 0,
        "nModified": 0,
        "nRemoved": 0,
        "upserted": [],
    })


def translate_client_write_error(
    error: PyMongoError, operations: Sequence[SaveOperation]
) -> Exception:
    """Our error for a refused client bulk write, as :func:`translate_write_error` gives for
    a per-collection one: the writes applied before the refused one are marked saved, a
    duplicate key names the instance, a top-level error is raised as itself."""
    if not isinstance(error, ClientBulkWriteException):
        return error
    if error.error is not None:
        return error.error if isinstance(error.error, Exception) else error
    first: Mapping[str, Any] = error.write_errors[0] if error.write_errors else {}  # type: ignore[assignment]
    index = int(first.get("idx", 0))
    mark_saved(operations[:index])
    if is_duplicate_key(first) and index < len(operations):
        return duplicate_key_error(operations[index].instance, first)
    return error
