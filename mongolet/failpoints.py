"""mongod's test fail points, as a small registry with no I/O.

``configureFailPoint`` (only with test commands enabled) stores a fail point here; before a
command runs the dispatcher asks ``check_command`` whether ``failCommand`` fires for it and
gets an ``Action``: answer with an error, drop the connection, block first, or add a
``writeConcernError`` to the reply. ``check_transactional_write`` does the same for
``onPrimaryTransactionalWrite``, which mongod triggers per statement of a retryable write.
The async shell that sleeps, raises and edits replies is ``mongolet.commands.testing``.

Modes are mongod's: ``"alwaysOn"``, ``"off"``, ``{times: n}`` (the next n matching commands),
``{skip: n}`` (all matching commands after the first n), ``{activationProbability: p}``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from mongolet.errors import (
    RETRYABLE_WRITE_ERROR,
    TRANSIENT_TRANSACTION_ERROR,
    MongoError,
)

FAIL_COMMAND = "failCommand"
ON_PRIMARY_TRANSACTIONAL_WRITE = "onPrimaryTransactionalWrite"
FAIL_GET_MORE = "failGetMoreAfterCursorCheckout"
KNOWN_FAIL_POINTS = (FAIL_COMMAND, ON_PRIMARY_TRANSACTIONAL_WRITE, FAIL_GET_MORE)

# ErrorCodes::isRetriableError (error_codes.yml, category RetriableError).
RETRIABLE_CODES = frozenset({6, 7, 89, 91, 134, 189, 202, 262, 9001, 10107, 11600, 11602,
                             13435, 13436})
# mongod's isTransientTransactionError: conflicts, snapshot and routing errors.
TRANSIENT_CODES = frozenset({24, 112, 267, 239, 246, 63, 150, 249, 13388})
NO_SUCH_TRANSACTION = 251
_COMMIT_OR_ABORT = ("committransaction", "aborttransaction")
RETRYABLE_WRITE_COMMANDS = ("insert", "update", "delete", "findandmodify")


@dataclass(frozen=True)
class SessionInfo:
    """The parts of a command's session fields that error labels depend on."""

    command: str  # lower-cased command name
    has_txn_number: bool
    has_autocommit: bool

    @classmethod
    def of(cls, body: MutableMapping[str, Any]) -> SessionInfo:
        return cls(next(iter(body)).lower() if body else "", "txnNumber" in body,
                   "autocommit" in body)

    @property
    def is_commit_or_abort(self) -> bool:
        return self.command in _COMMIT_OR_ABORT

    @property
    def is_retryable_write(self) -> bool:
        return self.has_txn_number and not self.has_autocommit


def error_labels(info: SessionInfo, code: int | None, wce_code: int | None = None) -> list[str]:
    """The labels mongod's ErrorLabelBuilder gives an error (or writeConcernError)."""
    if info.has_txn_number and info.has_autocommit and code is not None:
        transient = code in TRANSIENT_CODES
        if info.is_commit_or_abort:
            transient |= code == NO_SUCH_TRANSACTION and wce_code is None
        else:
            transient |= code in RETRIABLE_CODES or code == NO_SUCH_TRANSACTION
        if transient:
            return [TRANSIENT_TRANSACTION_ERROR]
    retryable = info.is_retryable_write or (info.has_txn_number and info.has_autocommit
                                            and info.is_commit_or_abort)
    if retryable and (code in RETRIABLE_CODES or wce_code in RETRIABLE_CODES):
        return [RETRYABLE_WRITE_ERROR]
    return []


@dataclass
class Action:
    """What a fail point does to one command."""

    close_connection: bool = False
    block_seconds: float = 0.0
    error: MongoError | None = None
    write_concern_error: dict[str, Any] | None = None
    # onPrimaryTransactionalWrite: the statement that fails (or after which the connection
    # drops); statements before it run and are committed.
    statement: int | None = None
    close_after_run: bool = False

    def apply_to_reply(self, reply: dict[str, Any], info: SessionInfo,
                       labels_override: list[str] | None) -> dict[str, Any]:
        """Add the writeConcernError (and its labels) to an ok reply."""
        if self.write_concern_error is None or reply.get("ok") != 1:
            return reply
        wce = dict(self.write_concern_error)
        reply = dict(reply)  # the handler may keep its reply to answer a retry: leave it be
        reply["writeConcernError"] = wce
        labels = labels_override if labels_override is not None else error_labels(
            info, None, wce.get("code"))
        if labels:
            reply["errorLabels"] = list(labels)
        return reply


@dataclass
class _Mode:
    kind: str  # "alwaysOn", "off", "times", "skip", "probability"
    value: float = 0

    @classmethod
    def parse(cls, mode: Any) -> _Mode:
        if mode in ("alwaysOn", "off"):
            return cls(mode)
        if isinstance(mode, dict) and len(mode) == 1:
            (key, value), = mode.items()
            if key in ("times", "skip") and isinstance(value, int) and not isinstance(
                    value, bool) and value >= 0:
                return cls(key, value)
            if key == "activationProbability" and isinstance(value, int | float) and (
                    0 <= value <= 1):
                return cls("probability", value)
        raise MongoError(2, f"'mode' must be one of 'off', 'alwaysOn', 'times', 'skip' and "
                            f"'activationProbability', not {mode!r}")

    def fire(self) -> bool:
        """One matching evaluation: does the fail point fire? (consumes times/skip)."""
        if self.kind == "alwaysOn":
            return True
        if self.kind == "times":
            if self.value <= 0:
                return False
            self.value -= 1
            return True
        if self.kind == "skip":
            if self.value > 0:
                self.value -= 1
                return False
            return True
        if self.kind == "probability":
            return random.random() < self.value
        return False

    @property
    def active(self) -> bool:
        return self.kind != "off" and not (self.kind == "times" and self.value <= 0)


@dataclass
class _FailPoint:
    mode: _Mode
    data: dict[str, Any] = field(default_factory=dict)
    entered: int = 0


class FailPoints:
    """The fail points of one server, kept in ``store`` (name -> configured fail point)."""

    def __init__(self, store: MutableMapping[str, Any]) -> None:
        self._store = store

    def configure(self, cmd: MutableMapping[str, Any]) -> dict[str, Any]:
        """``{configureFailPoint: name, mode, data?}`` -> mongod's reply ``{count, ok}``."""
        name = cmd.get("configureFailPoint")
        if not isinstance(name, str):
            raise MongoError(14, "BSON field 'configureFailPoint' is the wrong type, "
                                 "expected type 'string'")
        if name not in KNOWN_FAIL_POINTS:
            raise MongoError(2, f"{name} not found")
        if "mode" not in cmd:
            raise MongoError(2, "Missing mode argument")
        mode = _Mode.parse(cmd["mode"])
        data = cmd.get("data", {})
        if not isinstance(data, dict):
            raise MongoError(14, "the 'data' option must be an object")
        if name == FAIL_COMMAND and mode.kind != "off":
            _check_fail_command_data(data)
        previous = self._store.pop(name, None)
        if mode.kind != "off":
            self._store[name] = _FailPoint(mode, dict(data))
        return {"count": previous.entered if isinstance(previous, _FailPoint) else 0,
                "ok": 1.0}

    def clear(self) -> None:
        self._store.clear()

    def _active(self, name: str) -> _FailPoint | None:
        point = self._store.get(name)
        return point if isinstance(point, _FailPoint) and point.mode.active else None

    def check_get_more(self) -> MongoError | None:
        """``failGetMoreAfterCursorCheckout``: the error a getMore fails with, if it fires."""
        point = self._active(FAIL_GET_MORE)
        if point is None or not point.mode.fire():
            return None
        point.entered += 1
        code = int(point.data.get("errorCode", 1))
        return MongoError(code, "Failing getMore via 'failGetMoreAfterCursorCheckout' "
                                "failpoint")

    def check_command(self, body: MutableMapping[str, Any], app_name: str | None
                      ) -> tuple[Action, list[str] | None] | None:
        """``failCommand`` for this command: the action and the labels override, or None."""
        point = self._active(FAIL_COMMAND)
        if point is None or not body:
            return None
        name = next(iter(body))
        if name.lower() == "configurefailpoint":
            return None
        data = point.data
        if name.lower() not in {str(c).lower() for c in data.get("failCommands", ())}:
            return None
        if "appName" in data and data["appName"] != app_name:
            return None
        namespace = data.get("namespace")
        if namespace is not None and namespace != f"{body.get('$db')}.{body.get(name)}":
            return None
        if not point.mode.fire():
            return None
        point.entered += 1
        labels: list[str] | None = None
        if "errorLabels" in data:
            labels = [str(label) for label in data["errorLabels"]]
        action = Action(close_connection=bool(data.get("closeConnection")))
        if data.get("blockConnection"):
            action.block_seconds = float(data.get("blockTimeMS", 0)) / 1000
        if "errorCode" in data:
            code = int(data["errorCode"])
            info = SessionInfo.of(body)
            error = MongoError(code, "Failing command via 'failCommand' failpoint",
                               labels=labels if labels is not None else error_labels(info, code))
            extra = data.get("errorExtraInfo")
            if isinstance(extra, dict):
                error.extra.update(extra)
            action.error = error
        if "writeConcernError" in data:
            wce = dict(data["writeConcernError"])  # as given, as mongod's failCommand
            action.write_concern_error = wce
        return action, labels

    def check_transactional_write(self, body: MutableMapping[str, Any],
                                  new_statements: Iterable[int]) -> Action | None:
        """``onPrimaryTransactionalWrite`` for a retryable write whose statements
        ``new_statements`` (indexes not already answered from a retry) are about to run."""
        point = self._active(ON_PRIMARY_TRANSACTIONAL_WRITE)
        info = SessionInfo.of(body)
        if point is None or not info.is_retryable_write or (
                info.command not in RETRYABLE_WRITE_COMMANDS):
            return None
        for index in new_statements:
            if not point.mode.fire():
                continue
            point.entered += 1
            data = point.data
            action = Action(statement=index)
            close = data.get("closeConnection", True)
            code = data.get("failBeforeCommitExceptionCode")
            if code is not None:
                action.error = MongoError(
                    int(code), "Failing write for test due to failpoint. The write must not "
                               "be reflected.")
                action.close_connection = bool(close)
            else:
                action.close_after_run = bool(close)
            return action
        return None


def _check_fail_command_data(data: dict[str, Any]) -> None:
    commands = data.get("failCommands")
    if not isinstance(commands, list) or not all(isinstance(c, str) for c in commands):
        raise MongoError(2, "failCommand fail point needs 'data.failCommands', an array of "
                            "command names")
    if "errorCode" in data and not isinstance(data["errorCode"], int | float):
        raise MongoError(14, "'data.errorCode' must be a number")
    if "blockTimeMS" in data and not isinstance(data["blockTimeMS"], int | float):
        raise MongoError(14, "'data.blockTimeMS' must be a number")
    if "errorLabels" in data and not isinstance(data["errorLabels"], list):
        raise MongoError(14, "'data.errorLabels' must be an array")
    if "writeConcernError" in data and not isinstance(data["writeConcernError"], dict):
        raise MongoError(14, "'data.writeConcernError' must be an object")
