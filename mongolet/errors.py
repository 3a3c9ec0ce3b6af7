"""MongoDB's error codes and names, and the exception every layer of mongolet raises.

A ``MongoError`` raised anywhere below the command dispatcher becomes the reply
``{ok: 0, errmsg, code, codeName, errorLabels?}`` that a real mongod would send, so the
drivers (and our users) see exactly MongoDB's error for each situation.

    >>> raise MongoError(2, "unknown operator: $foo")          # doctest: +SKIP
    >>> raise MongoError.named("NoSuchTransaction", "...")      # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# code -> codeName, as in MongoDB's src/mongo/base/error_codes.yml (the ones we use).
CODE_NAMES: dict[int, str] = {
    1: "InternalError",
    2: "BadValue",
    4: "NoSuchKey",
    6: "HostUnreachable",
    7: "HostNotFound",
    8: "UnknownError",
    9: "FailedToParse",
    10: "UserNotFound",
    11: "UnauthorizedOnServer",
    13: "Unauthorized",
    14: "TypeMismatch",
    15: "Overflow",
    16: "InvalidLength",
    17: "ProtocolError",
    20: "IllegalOperation",
    22: "InvalidBSON",
    24: "LockTimeout",
    26: "NamespaceNotFound",
    27: "IndexNotFound",
    28: "PathNotViable",
    40: "ConflictingUpdateOperators",
    43: "CursorNotFound",
    48: "NamespaceExists",
    47: "NoMatchingDocument",
    50: "MaxTimeMSExpired",
    51: "UnknownError",
    52: "DollarPrefixedFieldName",
    54: "NotSingleValueField",
    56: "EmptyFieldName",
    57: "DottedFieldName",
    59: "CommandNotFound",
    64: "WriteConcernFailed",
    66: "ImmutableField",
    67: "CannotCreateIndex",
    68: "IndexAlreadyExists",
    72: "InvalidOptions",
    73: "InvalidNamespace",
    79: "UnknownReplWriteConcern",
    85: "IndexOptionsConflict",
    86: "IndexKeySpecsConflict",
    89: "NetworkTimeout",
    91: "ShutdownInProgress",
    96: "OperationFailed",
    100: "UnsatisfiableWriteConcern",
    112: "WriteConflict",
    113: "InitialSyncFailure",
    115: "CommandNotSupported",
    121: "DocumentValidationFailure",
    125: "CommandFailed",
    136: "CappedPositionLost",
    165: "ViewDepthLimitExceeded",
    166: "CommandNotSupportedOnView",
    167: "OptionNotSupportedOnView",
    168: "InvalidPipelineOperator",
    189: "PrimarySteppedDown",
    197: "InvalidIndexSpecificationOption",
    206: "NoSuchSession",
    225: "TransactionTooOld",
    239: "SnapshotTooOld",
    246: "SnapshotUnavailable",
    251: "NoSuchTransaction",
    256: "TransactionCommitted",
    257: "TransactionTooLarge",
    260: "InvalidResumeToken",
    261: "TooManyLogicalSessions",
    262: "ExceededTimeLimit",
    263: "OperationNotSupportedInTransaction",
    264: "TooManyFilesOpen",
    267: "PreparedTransactionInProgress",
    280: "ChangeStreamFatalError",
    286: "ChangeStreamHistoryLost",
    290: "TransactionExceededLifetimeLimitSeconds",
    9001: "SocketException",
    10107: "NotWritablePrimary",
    10334: "BSONObjectTooLarge",
    11000: "DuplicateKey",
    11600: "InterruptedAtShutdown",
    11601: "Interrupted",
    11602: "InterruptedDueToReplStateChange",
    13297: "DatabaseDifferCase",
    13435: "NotPrimaryNoSecondaryOk",
    13436: "NotPrimaryOrSecondary",
    16755: "Location16755",
    17419: "Location17419",
    31082: "SearchNotEnabled",
    31249: "Location31249",
    31254: "Location31254",
    40324: "Location40324",
    40414: "Location40414",
    50811: "Location50811",
}

NAME_CODES: dict[str, int] = {name: code for code, name in CODE_NAMES.items()}

TRANSIENT_TRANSACTION_ERROR = "TransientTransactionError"
UNKNOWN_COMMIT_RESULT = "UnknownTransactionCommitResult"
RETRYABLE_WRITE_ERROR = "RetryableWriteError"


def code_name(code: int) -> str:
    """MongoDB's name for ``code``; unknown codes get mongod's ``Location<code>`` form."""
    return CODE_NAMES.get(code, f"Location{code}")


class MongoError(Exception):
    """A command failure, answered as ``{ok: 0, errmsg, code, codeName, errorLabels}``."""

    def __init__(
        self,
        code: int,
        errmsg: str,
        *,
        labels: Iterable[str] = (),
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(errmsg)
        self.code = code
        self.errmsg = errmsg
        self.labels: list[str] = list(labels)
        # Extra reply fields, e.g. keyPattern/keyValue of a duplicate key.
        self.extra: dict[str, Any] = dict(extra or {})

    @property
    def code_name(self) -> str:
        return code_name(self.code)

    @classmethod
    def named(cls, name: str, errmsg: str, **kwargs: Any) -> MongoError:
        """Build an error from its codeName: ``MongoError.named("WriteConflict", "...")``."""
        return cls(NAME_CODES[name], errmsg, **kwargs)

    def add_label(self, label: str) -> MongoError:
        if label not in self.labels:
            self.labels.append(label)
        return self

    def to_reply(self) -> dict[str, Any]:
        """The command reply document for this error."""
        reply: dict[str, Any] = {"ok": 0.0, "errmsg": self.errmsg, "code": self.code,
                                 "codeName": self.code_name}
        reply.update(self.extra)
        if self.labels:
            reply["errorLabels"] = list(self.labels)
        return reply

    def to_write_error(self, index: int) -> dict[str, Any]:
        """This error as one entry of a write command's ``writeErrors`` array."""
        entry: dict[str, Any] = {"index": index, "code": self.code, "errmsg": self.errmsg}
        entry.update(self.extra)
        return entry

    def __repr__(self) -> str:
        return f"MongoError({self.code}, {self.errmsg!r}, labels={self.labels!r})"


def bad_value(errmsg: str) -> MongoError:
    """Code 2 BadValue: an unknown operator, a wrong argument shape."""
    return MongoError(2, errmsg)


def type_mismatch(errmsg: str) -> MongoError:
    """Code 14 TypeMismatch: e.g. ``$inc`` on a string."""
    return MongoError(14, errmsg)


def failed_to_parse(errmsg: str) -> MongoError:
    """Code 9 FailedToParse: a malformed command or update document."""
    return MongoError(9, errmsg)


def duplicate_key(ns: str, index_name: str, key_pattern: dict[str, Any],
                  key_value: dict[str, Any]) -> MongoError:
    """Code 11000 with mongod's message and the ``keyPattern``/``keyValue`` fields."""
    shown = ", ".join(f"{k}: {v!r}" for k, v in key_value.items())
    return MongoError(
        11000,
        f"E11000 duplicate key error collection: {ns} index: {index_name} dup key: {{ {shown} }}",
        extra={"keyPattern": dict(key_pattern), "keyValue": dict(key_value)},
    )


class CloseConnection(Exception):
    """Raised by a command handler to drop the client's connection without an answer
    (a fail point's ``closeConnection``: the driver then sees a network error)."""
