"""Test commands (``configureFailPoint``) and the shell that applies fail points.

mongod accepts ``configureFailPoint`` only when started with ``enableTestCommands=1``;
mongolet only with ``enable_test_commands=True`` (``--enable-test-commands``), otherwise
the command does not exist (59 CommandNotFound). The dispatcher calls ``before_command``
before it prepares a command (as mongod evaluates ``failCommand`` before checking out the
session, so a failed command leaves its transaction alone) and ``after_command`` on the reply.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from mongolet.commands.registry import CommandContext, ServerState, command
from mongolet.errors import CloseConnection, MongoError
from mongolet.failpoints import Action, FailPoints, SessionInfo

# Where each retryable write command keeps its statements.
_STATEMENTS = {"insert": "documents", "update": "updates", "delete": "deletes"}


@command("configureFailPoint", admin_only=True)
async def configure_fail_point(ctx: CommandContext) -> dict[str, Any]:
    if not ctx.state.enable_test_commands:
        raise MongoError(59, f"no such command: '{ctx.name_key}'")
    return FailPoints(ctx.state.fail_points).configure(ctx.body)


@dataclass
class Pending:
    """What is left to do to a command's reply once it has run."""

    info: SessionInfo
    fail_command: Action | None = None
    labels_override: list[str] | None = None
    transactional_write: Action | None = None


async def before_command(state: ServerState, body: dict[str, Any],
                         app_name: str | None) -> Pending | None:
    """Apply the fail points that act before a command runs; return the rest for later.

    Raises ``CloseConnection`` or the configured ``MongoError``; may trim a retryable
    write's statements to those before the one ``onPrimaryTransactionalWrite`` fails.
    """
    if not state.fail_points or not body:
        return None
    registry = FailPoints(state.fail_points)
    pending = Pending(SessionInfo.of(body))
    checked = registry.check_command(body, app_name)
    if checked is not None:
        action, pending.labels_override = checked
        if action.close_connection:
            raise CloseConnection()
        if action.block_seconds:
            await asyncio.sleep(action.block_seconds)
        if action.error is not None:
            raise action.error
        pending.fail_command = action
    write = registry.check_transactional_write(body, _new_statements(state, body))
    if write is not None and write.statement is not None:
        pending.transactional_write = write
        if write.error is not None:
            if write.statement == 0 or pending.info.command not in _STATEMENTS:
                raise CloseConnection() if write.close_connection else write.error
            key = _STATEMENTS.get(pending.info.command)
            if key is not None:  # the failing statement and those after it never run
                body[key] = list(body[key])[:write.statement]
    return pending


def after_command(pending: Pending | None, reply: dict[str, Any]) -> dict[str, Any]:
    """Finish a command's fail points: drop the connection or complete the reply."""
    if pending is None:
        return reply
    write = pending.transactional_write
    if write is not None:
        if write.close_after_run or write.close_connection:
            raise CloseConnection()
        if write.error is not None and reply.get("ok") == 1:
            failed = {"index": write.statement, "code": write.error.code,
                      "errmsg": write.error.errmsg}
            reply = {**reply, "writeErrors": [*reply.get("writeErrors", ()), failed]}
    if pending.fail_command is not None:
        reply = pending.fail_command.apply_to_reply(reply, pending.info,
                                                    pending.labels_override)
    return reply


def _new_statements(state: ServerState, body: dict[str, Any]) -> list[int]:
    """Indexes of the statements of a retryable write that a retry has not answered yet."""
    name = next(iter(body)).lower()
    if name == "findandmodify":
        count = 1
    elif name in _STATEMENTS:
        statements = body.get(_STATEMENTS[name])
        count = len(statements) if isinstance(statements, list) else 0
    else:
        return []
    done: set[int] = set()
    lsid = body.get("lsid")
    session = state.sessions.get(lsid.get("id")) if isinstance(lsid, dict) else None
    if session is not None and session.retry_txn_number == body.get("txnNumber"):
        done = set(session.retry_results or ())
    return [index for index in range(count) if index not in done]
