"""commitTransaction and abortTransaction (the dispatcher has already checked the session's
transaction state: here the transaction is open, or committed for a repeated commit)."""

from __future__ import annotations

from typing import Any

from mongolet.commands import session_history
from mongolet.commands.registry import CommandContext, command
from mongolet.errors import MongoError
from mongolet.transactions import COMMITTED


@command("commitTransaction", in_transaction=True, admin_only=True)
async def commit_transaction(ctx: CommandContext) -> dict[str, Any]:
    txn = ctx.txn
    assert txn is not None, "the dispatcher only runs this inside a transaction"
    if txn.state != COMMITTED:
        # A durable store keeps the outcome with the commit: a commit retried after a
        # restart is answered ok, as mongod answers it from config.transactions.
        record = (session_history.transaction_record(ctx.session, txn.number)
                  if ctx.session is not None and ctx.durable else None)
        ctx.state.txns.commit(txn, record)
    return {"ok": 1.0}


@command("abortTransaction", in_transaction=True, admin_only=True)
async def abort_transaction(ctx: CommandContext) -> dict[str, Any]:
    txn = ctx.txn
    assert txn is not None, "the dispatcher only runs this inside a transaction"
    if txn.state == COMMITTED:
        raise MongoError(256, f"Transaction with {{ txnNumber: {txn.number} }} has been "
                              "committed.")
    ctx.state.txns.abort(txn)
    return {"ok": 1.0}
