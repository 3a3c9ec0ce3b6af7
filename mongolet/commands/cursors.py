"""getMore and killCursors."""

from __future__ import annotations

from typing import Any

from bson import Int64

from mongolet.commands.change_streams import (
    RESUMABLE_CHANGE_STREAM_ERROR,
    RESUMABLE_CODES,
    ChangeStream,
)
from mongolet.commands.registry import CommandContext, command, get_int
from mongolet.cursors import cursor_reply, take_batch
from mongolet.errors import MongoError
from mongolet.failpoints import FailPoints


@command("getMore", in_transaction=True)
async def get_more(ctx: CommandContext) -> dict[str, Any]:
    body = ctx.body
    cursor_id = body["getMore"]
    if isinstance(cursor_id, bool) or not isinstance(cursor_id, int):
        raise MongoError(14, "BSON field 'getMore.getMore' is the wrong type, expected type "
                             "'long'")
    name = body.get("collection")
    if not isinstance(name, str):
        raise MongoError(40414, "BSON field 'getMore.collection' is missing but a required "
                                "field")
    batch_size = get_int(body, "batchSize")
    if batch_size is not None and batch_size < 0:
        raise MongoError(51024, f"BSON field 'batchSize' value must be >= 0, actual value "
                                f"'{batch_size}'")
    registry = ctx.state.cursors
    cursor = registry.get(int(cursor_id), ctx.ns(name))
    if cursor.session_id is not None and cursor.session_id != ctx.session_id():
        raise MongoError(50737, f"Cannot run getMore on cursor {cursor_id}, which was created "
                                "in a different session")
    failure = FailPoints(ctx.state.fail_points).check_get_more() \
        if ctx.state.fail_points else None
    if failure is not None:
        if isinstance(cursor.stream, ChangeStream) and failure.code in RESUMABLE_CODES:
            failure.add_label(RESUMABLE_CHANGE_STREAM_ERROR)
        raise failure
    if cursor.stream is not None:
        max_time = get_int(body, "maxTimeMS")
        try:
            batch, over, fields = await cursor.stream.get_more(
                batch_size or None, max_time / 1000 if max_time is not None else None)
        except MongoError:
            registry.kill(cursor.id)  # as mongod: a failed getMore kills its cursor
            raise
        if over:
            registry.kill(cursor.id)
        reply = cursor_reply(cursor.ns, 0 if over else cursor.id, batch, first=False)
        reply["cursor"].update(fields)
        return reply
    batch, rest = take_batch(cursor.docs, batch_size or None)
    if rest is None:
        registry.kill(cursor.id)
        return cursor_reply(cursor.ns, 0, batch, first=False)
    cursor.docs = rest
    return cursor_reply(cursor.ns, cursor.id, batch, first=False)


@command("killCursors", in_transaction=True)
async def kill_cursors(ctx: CommandContext) -> dict[str, Any]:
    ids = ctx.body.get("cursors")
    if not isinstance(ids, list):
        raise MongoError(40414, "BSON field 'killCursors.cursors' is missing but a required "
                                "field")
    killed: list[Int64] = []
    not_found: list[Int64] = []
    registry = ctx.state.cursors
    for cursor_id in ids:
        (killed if registry.kill(int(cursor_id)) else not_found).append(Int64(cursor_id))
    return {"cursorsKilled": killed, "cursorsNotFound": not_found, "cursorsAlive": [],
            "cursorsUnknown": [], "ok": 1.0}
