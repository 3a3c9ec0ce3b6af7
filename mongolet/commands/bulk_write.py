"""The client-level ``bulkWrite`` command (MongoDB 8.0): inserts, updates, replaces and
deletes across several namespaces in one command.

Each op names its namespace by an index into ``nsInfo``. The ops are translated into the
statements of the insert, update and delete commands and run by the same code
(``crud_write``), so matching, update operators, upserts, validation, retryable-write memory
and durable statement records behave exactly as there. The reply is a cursor of per-op
results (only the errors with ``errorsOnly``) with the summed counts beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bson import Int64

from mongolet.commands import views
from mongolet.commands.crud_write import (
    Variables,
    command_let,
    parse_delete,
    parse_update,
    run_delete,
    run_insert,
    run_update,
    stop_after_error,
)
from mongolet.commands.registry import CommandContext, command, get_bool, type_name
from mongolet.commands.validation import validator_for
from mongolet.errors import MongoError

MAX_OPS = 100_000  # the maxWriteBatchSize the handshake advertises
_CURSOR_NS = "admin.$cmd.bulkWrite"
_INSERT_FIELDS = {"insert", "document"}
# bulkWrite's field -> the update / delete statement's field.
_UPDATE_FIELDS = {"update": None, "filter": "q", "updateMods": "u", "arrayFilters": "arrayFilters",
                  "multi": "multi", "hint": "hint", "upsert": "upsert",
                  "collation": "collation", "sort": "sort", "constants": "c"}
_DELETE_FIELDS = {"delete": None, "filter": "q", "multi": None, "hint": "hint",
                  "collation": "collation"}


@dataclass(frozen=True)
class _Op:
    kind: str  # "insert", "update" or "delete"
    db: str
    coll: str
    statement: Any  # the document to insert, or the update / delete statement

    @property
    def multi(self) -> bool:
        return (self.kind == "update" and bool(self.statement.get("multi"))) or \
            (self.kind == "delete" and self.statement["limit"] == 0)


@command("bulkWrite", in_transaction=True, retryable_write=True, admin_only=True)
async def bulk_write(ctx: CommandContext) -> dict[str, Any]:
    if not ctx.state.version.at_least_8:  # 7.0 has no such command
        raise MongoError(59, f"no such command: '{ctx.name_key}'")
    body = ctx.body
    namespaces = [_namespace(entry) for entry in _array(body, "nsInfo")]
    raw_ops = _array(body, "ops")
    if len(raw_ops) > MAX_OPS:
        raise MongoError(16, f"Write batch sizes must be between 1 and {MAX_OPS}. Got "
                             f"{len(raw_ops)} operations.")
    ops = [_parse_op(ctx, raw, namespaces) for raw in raw_ops]
    ordered = get_bool(body, "ordered", True)
    errors_only = get_bool(body, "errorsOnly")
    retry = ctx.retry
    if retry is not None and any(op.multi for op in ops):
        raise MongoError(72, "Cannot use (or request) retryable writes with multi=true")
    let = command_let(ctx)
    counts = dict.fromkeys(("nErrors", "nInserted", "nUpserted", "nMatched", "nModified",
                            "nDeleted"), 0)
    results: list[dict[str, Any]] = []
    for index, op in enumerate(ops):
        if retry is not None and index in retry:
            result = retry[index]
        else:
            try:
                result = await _run_op(ctx, op, let, index)
            except MongoError as error:
                stop = stop_after_error(ctx, error)
                counts["nErrors"] += 1
                results.append({"ok": 0.0, "idx": index, "code": error.code,
                                "errmsg": error.errmsg, **error.extra})
                if ordered or stop:
                    break
                continue
            if retry is not None:
                retry[index] = result
        entry = _tally(op.kind, result, counts)
        if not errors_only:
            results.append({"ok": 1.0, "idx": index, **entry})
    return {"cursor": {"id": Int64(0), "firstBatch": results, "ns": _CURSOR_NS},
            **counts, "ok": 1.0}


async def _run_op(ctx: CommandContext, op: _Op, let: Variables, index: int) -> Any:
    """Op ``index``'s result, as the insert, update or delete command keeps it for a retry."""
    view = ctx.view
    if op.kind == "delete":
        coll = view.collection(op.db, op.coll)
        views.check_writable(ctx, coll)
        return await run_delete(ctx, coll, op.statement, let, index)
    coll = await view.writable_collection(op.db, op.coll)
    views.check_writable(ctx, coll)
    if op.kind == "insert":
        await run_insert(ctx, coll, op.statement, validator_for(ctx, coll), index)
        return True
    return await run_update(ctx, coll, op.statement, let, index)


def _tally(kind: str, result: Any, counts: dict[str, int]) -> dict[str, Any]:
    """Add one op's result to the command's counts; its entry in the results cursor."""
    if kind == "insert":
        counts["nInserted"] += 1
        return {"n": 1}
    if kind == "delete":
        counts["nDeleted"] += result
        return {"n": result}
    matched, modified, upserted_id = result
    counts["nMatched"] += matched
    counts["nModified"] += modified
    if upserted_id is None:
        return {"n": matched, "nModified": modified}
    counts["nUpserted"] += 1
    return {"n": 1, "nModified": 0, "upserted": {"_id": upserted_id}}


# -- parsing ----------------------------------------------------------------------------------


def _array(body: dict[str, Any], field: str) -> list[Any]:
    value = body.get(field)
    if value is None:
        raise MongoError(40414, f"BSON field 'bulkWrite.{field}' is missing but a required "
                                "field")
    if not isinstance(value, list):
        raise MongoError(14, f"BSON field 'bulkWrite.{field}' is the wrong type "
                             f"'{type_name(value)}', expected type 'array'")
    if not value and field == "ops":
        raise MongoError(16, f"Write batch sizes must be between 1 and {MAX_OPS}. Got 0 "
                             "operations.")
    return value


def _namespace(entry: Any) -> tuple[str, str]:
    if not isinstance(entry, dict) or not isinstance(entry.get("ns"), str):
        raise MongoError(40414, "BSON field 'bulkWrite.nsInfo.ns' is missing but a required "
                                "field")
    ns: str = entry["ns"]
    db, _, coll = ns.partition(".")
    if not db or not coll or "\x00" in ns or coll.startswith(".") or \
            set('/\\ "$').intersection(db):
        raise MongoError(73, f"Invalid namespace specified '{ns}'")
    if coll.startswith("system."):
        raise MongoError(73, f"cannot write to '{ns}'")
    return db, coll


def _parse_op(ctx: CommandContext, raw: Any, namespaces: list[tuple[str, str]]) -> _Op:
    """One op, checked, as the statement the insert, update or delete command would run."""
    if not isinstance(raw, dict) or not raw:
        raise MongoError(14, "BSON field 'bulkWrite.ops' items must be objects")
    kind = next(iter(raw))
    if kind not in ("insert", "update", "delete"):
        raise MongoError(40415, f"BSON field 'bulkWrite.ops.{kind}' is an unknown field.")
    allowed = {"insert": _INSERT_FIELDS, "update": _UPDATE_FIELDS,
               "delete": _DELETE_FIELDS}[kind]
    for field in raw:
        if field not in allowed:
            raise MongoError(40415, f"BSON field 'bulkWrite.ops.{field}' is an unknown field.")
    ns_index = raw[kind]
    if isinstance(ns_index, bool) or not isinstance(ns_index, int) or \
            not 0 <= ns_index < len(namespaces):
        raise MongoError(10412,  # mongod's "invalid nsInfo index" BadValue variant
                         f"BulkWrite ops entry {ns_index!r} has an invalid nsInfo index")
    db, coll = namespaces[ns_index]
    if kind == "insert":
        if "document" not in raw:
            raise MongoError(40414, "BSON field 'bulkWrite.ops.document' is missing but a "
                                    "required field")
        return _Op(kind, db, coll, raw["document"])
    if "filter" not in raw:
        raise MongoError(40414, "BSON field 'bulkWrite.ops.filter' is missing but a "
                                "required field")
    statement = {_UPDATE_FIELDS[k] if kind == "update" else _DELETE_FIELDS[k]: v
                 for k, v in raw.items()
                 if (_UPDATE_FIELDS if kind == "update" else _DELETE_FIELDS)[k] is not None}
    if kind == "delete":
        statement["limit"] = 0 if get_bool(raw, "multi") else 1
        parse_delete(statement, "bulkWrite.ops")
    else:
        if "updateMods" not in raw:
            raise MongoError(40414, "BSON field 'bulkWrite.ops.updateMods' is missing but a "
                                    "required field")
        parse_update(ctx, statement, "bulkWrite.ops")
    return _Op(kind, db, coll, statement)
