"""Writes: insert, update, delete and findAndModify.

Each statement of a write command runs on its own (atomic per document, as on mongod);
errors of a statement become ``writeErrors`` entries while WriteConflict, which aborts a
transaction, is a top-level error. In a retryable write (``txnNumber`` outside a
transaction) a statement already executed is answered from the session's memory; on a
durable server each statement's result also goes to disk with the statement's commit
(``ctx.statement_record``), so a retry after a restart is answered the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import bson

from mongolet import changes
from mongolet.commands import deadlines, tailing, time_series, views
from mongolet.commands.crud_read import query_collation, query_hint
from mongolet.commands.registry import CommandContext, command, get_bool, get_doc, type_name
from mongolet.commands.selection import compile_filter, id_keys, planned, predicate_for, select
from mongolet.commands.validation import Validator, validator_for
from mongolet.commands.writing import check_stored_document, prepare_insert
from mongolet.errors import MongoError
from mongolet.planner import Query
from mongolet.query import collation as collations
from mongolet.query import expressions, matcher, projection, sorting, updates
from mongolet.query.collation import Collation
from mongolet.storage import Collection, Record


def _statements(ctx: CommandContext, field: str) -> list[Any]:
    value = ctx.body.get(field)
    if not isinstance(value, list):
        raise MongoError(40414 if value is None else 14,
                         f"BSON field '{ctx.name_key}.{field}' is missing but a required field"
                         if value is None else
                         f"BSON field '{ctx.name_key}.{field}' is the wrong type "
                         f"'{type_name(value)}', expected type 'array'")
    if not value:
        raise MongoError(16, f"Write batch sizes must be between 1 and 100000. Got 0 "
                             f"{field}.")
    return value


def _check_writable_namespace(ctx: CommandContext, name: str) -> None:
    if name.startswith("system."):
        raise MongoError(73, f"cannot write to '{ctx.ns(name)}'")


Variables = dict[str, Any] | None


def command_let(ctx: CommandContext) -> Variables:
    """The command's ``let`` variables, evaluated once."""
    return expressions.evaluate_let(get_doc(ctx.body, "let"))


def _statement_variables(let: Variables, stmt: dict[str, Any]) -> Variables:
    """``let`` plus the statement's own constants ``c`` (which win)."""
    constants = expressions.evaluate_let(get_doc(stmt, "c"))
    if not constants:
        return let
    return {**(let or {}), **constants}


def _predicate(filter: Mapping[str, Any] | None, variables: Variables = None,
               collation: Collation | None = None, coll: Collection | None = None
               ) -> Callable[[Mapping[str, Any]], bool]:
    keys = id_keys(filter, collation) if filter else None
    if not filter or (keys is not None and len(keys) == 1):
        return lambda doc: True  # records found by _id stay matched (_id is immutable)
    if coll is not None:
        return predicate_for(coll, filter, variables, collation)
    return compile_filter(filter, variables, collation)


def stop_after_error(ctx: CommandContext, error: MongoError) -> bool:
    """Whether a statement's error ends the command (a conflict is raised: top-level)."""
    if error.code in (112, 50):
        raise error  # a conflict aborts the transaction, time ran out: top-level errors
    return ctx.txn is not None  # any write error ends a transaction


def _write_reply(n: int, errors: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    reply: dict[str, Any] = {"n": n, **extra}
    if errors:
        reply["writeErrors"] = errors
    reply["ok"] = 1.0
    return reply


# -- insert -----------------------------------------------------------------------------------


async def run_insert(ctx: CommandContext, coll: Collection, raw: Any,
                     validator: Validator | None, index: int) -> None:
    """Statement ``index``: insert ``raw`` (its result, for a retry, is ``True``)."""
    doc = prepare_insert(raw)
    if validator is not None:
        validator.check(doc)
    await ctx.view.insert(coll, doc, ctx.statement_record(index, True),
                          key=time_series.time_series_key(coll))


@command("insert", in_transaction=True, retryable_write=True)
async def insert(ctx: CommandContext) -> dict[str, Any]:
    name = ctx.collection_name()
    _check_writable_namespace(ctx, name)
    docs = _statements(ctx, "documents")
    ordered = get_bool(ctx.body, "ordered", True)
    deadline = deadlines.Budget.of(ctx.body)
    coll = await ctx.view.writable_collection(ctx.db, name)
    views.check_writable(ctx, coll)
    validator = validator_for(ctx, coll)
    retry = ctx.retry
    n = 0
    errors: list[dict[str, Any]] = []
    for index, raw in enumerate(docs):
        if retry is not None and index in retry:
            n += 1
            continue
        try:
            deadline.check()
            await run_insert(ctx, coll, raw, validator, index)
        except MongoError as error:
            stop = stop_after_error(ctx, error)
            errors.append(error.to_write_error(index))
            if ordered or stop:
                break
            continue
        n += 1
        if retry is not None:
            retry[index] = True
    await tailing.trim(ctx, coll)
    return _write_reply(n, errors)


# -- update -----------------------------------------------------------------------------------


def _is_replacement(update: Any) -> bool:
    return isinstance(update, dict) and not any(k.startswith("$") for k in update)


def _changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    # Python equality treats 1 == 1.0 == True; a type change is still a modification.
    return new != old or bson.encode(new) != bson.encode(old)


def _updater(update: Any, array_filters: Any, query: Mapping[str, Any],
             variables: Variables = None, collation: Collation | None = None
             ) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The function turning a matched document into its updated version (array element
    comparisons of $addToSet, $pull... follow the statement's collation, as on mongod)."""
    if _is_replacement(update):
        replacement = {k: v for k, v in update.items() if k != "_id"}
        new_id = update.get("_id")

        def replace(doc: dict[str, Any]) -> dict[str, Any]:
            return {"_id": doc["_id"] if new_id is None else new_id, **replacement}

        return replace

    def apply(doc: dict[str, Any]) -> dict[str, Any]:
        return updates.apply_update(doc, update, array_filters=array_filters, query=query,
                                    variables=variables)

    return collations.under(collation, apply)


SessionRecordOf = Callable[[dict[str, Any], dict[str, Any]], "dict[str, Any] | None"]


async def _update_record(ctx: CommandContext, coll: Collection, record: Record,
                         predicate: Callable[[Mapping[str, Any]], bool],
                         apply: Callable[[dict[str, Any]], dict[str, Any]],
                         validator: Validator | None,
                         session_record: SessionRecordOf | None = None,
                         ) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Apply ``apply`` to the record if it still matches; (old, new) or None.
    ``session_record(old, new)``: what to record with the write's commit."""
    view = ctx.view
    while True:
        current = await view.current(coll, record)
        if current is None or not predicate(current):
            return None
        new = apply(current)
        if not _changed(current, new):
            return current, current
        check_stored_document(new, current)
        if validator is not None:
            validator.check(new, current)
        recorded = session_record(current, new) if session_record is not None else None
        if await view.put(coll, record, new, current, recorded):
            return current, new


def _upsert_document(ctx: CommandContext, coll: Collection, query: Mapping[str, Any],
                     update: Any, array_filters: Any, variables: Variables = None,
                     collation: Collation | None = None) -> dict[str, Any]:
    """The document an upsert inserts, checked (the caller inserts it)."""
    seed = updates.upsert_seed(query)
    if _is_replacement(update):
        new = dict(update)
        if "_id" not in new and "_id" in seed:
            new = {"_id": seed["_id"], **new}
    else:
        new = collations.under(collation, updates.apply_update)(
            seed, update, array_filters=array_filters, is_insert=True, query=query,
            variables=variables)
    new = prepare_insert(new, upsert=True)
    validator = validator_for(ctx, coll)
    if validator is not None:
        validator.check(new)
    return new


_UPDATE_FIELDS = {"q", "u", "multi", "upsert", "arrayFilters", "collation", "hint", "c",
                  "upsertSupplied", "sort"}
_DELETE_FIELDS = {"q", "limit", "collation", "hint"}


def parse_update(ctx: CommandContext, stmt: Any, where: str = "update.updates") -> None:
    """Statement errors mongod reports for the whole command, before running any
    (``where``: the statement's path in mongod's messages)."""
    if not isinstance(stmt, dict):
        raise MongoError(14, f"BSON field '{where}' items must be objects")
    for field in ("q", "u"):
        if field not in stmt:
            raise MongoError(40414, f"BSON field '{where}.{field}' is missing but a "
                                    "required field")
    for field in stmt:
        if field not in _UPDATE_FIELDS or (field == "sort"
                                           and not ctx.state.version.at_least_8):
            raise MongoError(40415, f"BSON field '{where}.{field}' is an unknown field.")
    get_doc(stmt, "q")
    update = stmt["u"]
    if not isinstance(update, dict | list):
        raise MongoError(14, "Update argument must be either an object or an array")
    multi = get_bool(stmt, "multi")
    if multi and _is_replacement(update) and update:
        raise MongoError(9, "multi update is not supported for replacement-style update")
    if get_doc(stmt, "sort") is not None and multi:
        raise MongoError(72, "Cannot specify sort with multi=true")
    collations.parse(stmt.get("collation"))


def _first_match(ctx: CommandContext, coll: Collection, query: Mapping[str, Any],
                 variables: Variables = None, collation: Collation | None = None,
                 hint: Any = None, sort: dict[str, Any] | None = None) -> Iterator[Record]:
    """The first matching record (first in ``sort`` order, if given), again and again: a
    single-document write whose target changed while it waited looks for the next match."""
    while True:
        found = _first_selected(ctx, coll, query, variables, collation, sort, hint)
        if found is None:
            return
        yield found[0]


def _first_selected(ctx: CommandContext, coll: Collection, query: Mapping[str, Any],
                    variables: Variables, collation: Collation | None,
                    sort: dict[str, Any] | None,
                    hint: Any = None) -> tuple[Record, dict[str, Any]] | None:
    if not sort:
        return next(iter(select(ctx.view, coll, query, variables=variables,
                                collation=collation, hint=hint)), None)
    matches = list(select(ctx.view, coll, query, variables=variables, collation=collation,
                          hint=hint))
    with collations.applied(collation):
        docs = sorting.sort_documents([doc for _, doc in matches], sort)
    if not docs:
        return None
    by_id = {id(doc): record for record, doc in matches}
    return by_id[id(docs[0])], docs[0]


_UNLIMITED = deadlines.Budget(None)  # statements run by bulkWrite, which has no maxTimeMS here


async def run_update(ctx: CommandContext, coll: Collection, stmt: Any, let: Variables,
                     index: int, deadline: deadlines.Budget = _UNLIMITED) -> tuple[int, int, Any]:
    """Statement ``index``: (matched, modified, upserted _id or None)."""
    query = get_doc(stmt, "q") or {}
    update = stmt["u"]
    multi = get_bool(stmt, "multi")
    upsert = get_bool(stmt, "upsert")
    array_filters = stmt.get("arrayFilters")
    variables = _statement_variables(let, stmt)
    validator = validator_for(ctx, coll)
    collation = query_collation(stmt, coll)
    hint = query_hint(stmt)
    predicate = _predicate(query, variables, collation, coll)
    apply = _updater(update, array_filters, query, variables, collation)

    matched = modified = 0
    modified_one = ctx.statement_record(index, (1, 1, None))  # retryable: never multi
    candidates: Iterable[Record]
    if multi:
        candidates = [record for record, _ in select(ctx.view, coll, query,
                                                     variables=variables, collation=collation,
                                                     hint=hint, check=deadline.check)]
    else:
        candidates = _first_match(ctx, coll, query, variables, collation,
                                  hint, get_doc(stmt, "sort"))
    for record in candidates:
        deadline.check()
        with changes.replacing(_is_replacement(update)):
            result = await _update_record(
                ctx, coll, record, predicate, apply, validator,
                (lambda old, new: modified_one) if modified_one else None)
        if result is None:
            continue
        matched += 1
        if result[0] is not result[1]:
            modified += 1
        if not multi:
            break
    if matched == 0 and upsert:
        new = _upsert_document(ctx, coll, query, update, array_filters, variables, collation)
        await ctx.view.insert(coll, new, ctx.statement_record(index, (0, 0, new["_id"])))
        return 0, 0, new["_id"]
    return matched, modified, None


@command("update", in_transaction=True, retryable_write=True)
async def update(ctx: CommandContext) -> dict[str, Any]:
    name = ctx.collection_name()
    _check_writable_namespace(ctx, name)
    stmts = _statements(ctx, "updates")
    ordered = get_bool(ctx.body, "ordered", True)
    retry = ctx.retry
    if retry is not None and any(isinstance(s, dict) and s.get("multi") for s in stmts):
        raise MongoError(72, "Cannot use (or request) retryable writes with multi=true")
    for stmt in stmts:
        parse_update(ctx, stmt)
    deadline = deadlines.Budget.of(ctx.body)
    let = command_let(ctx)
    coll = await ctx.view.writable_collection(ctx.db, name)
    views.check_writable(ctx, coll)
    n = modified = 0
    upserted: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for index, stmt in enumerate(stmts):
        if retry is not None and index in retry:
            result = retry[index]
        else:
            try:
                deadline.check()
                result = await run_update(ctx, coll, stmt, let, index, deadline)
            except MongoError as error:
                stop = stop_after_error(ctx, error)
                errors.append(error.to_write_error(index))
                if ordered or stop:
                    break
                continue
            if retry is not None:
                retry[index] = result
        matched, changed, upserted_id = result
        if upserted_id is not None:
            n += 1
            upserted.append({"index": index, "_id": upserted_id})
        n += matched
        modified += changed
    extra: dict[str, Any] = {"nModified": modified}
    if upserted:
        extra["upserted"] = upserted
    return _write_reply(n, errors, **extra)


# -- delete -----------------------------------------------------------------------------------


def parse_delete(stmt: Any, where: str = "delete.deletes") -> None:
    """Statement errors reported for the whole command (``where``: as in parse_update)."""
    if not isinstance(stmt, dict):
        raise MongoError(14, f"BSON field '{where}' items must be objects")
    for field in ("q", "limit"):
        if field not in stmt:
            raise MongoError(40414, f"BSON field '{where}.{field}' is missing but a "
                                    "required field")
    for field in stmt:
        if field not in _DELETE_FIELDS:
            raise MongoError(40415, f"BSON field '{where}.{field}' is an unknown field.")
    get_doc(stmt, "q")
    if stmt["limit"] not in (0, 1):
        raise MongoError(9, f"The limit field in delete objects must be 0 or 1. Got "
                            f"{stmt['limit']}")
    collations.parse(stmt.get("collation"))


async def run_delete(ctx: CommandContext, coll: Collection | None, stmt: Any,
                      variables: Variables, index: int,
                     deadline: deadlines.Budget = _UNLIMITED) -> int:
    query = get_doc(stmt, "q") or {}
    limit = stmt["limit"]
    if coll is None:
        matcher.compile_filter(query, variables=variables)
        return 0
    collation = query_collation(stmt, coll)
    hint = query_hint(stmt)
    predicate = _predicate(query, variables, collation, coll)
    view = ctx.view
    removed = 0
    removed_one = ctx.statement_record(index, 1)  # retryable: limit 1
    candidates = _first_match(ctx, coll, query, variables, collation, hint) if limit == 1 \
        else [record for record, _ in select(view, coll, query, variables=variables,
                                             collation=collation, hint=hint,
                                             check=deadline.check)]
    for record in candidates:
        deadline.check()
        while True:
            current = await view.current(coll, record)
            if current is None or not predicate(current):
                break
            if await view.put(coll, record, None, current, removed_one):
                removed += 1
                break
        if limit == 1 and removed:
            break
    return removed


@command("delete", in_transaction=True, retryable_write=True)
async def delete(ctx: CommandContext) -> dict[str, Any]:
    name = ctx.collection_name()
    _check_writable_namespace(ctx, name)
    stmts = _statements(ctx, "deletes")
    ordered = get_bool(ctx.body, "ordered", True)
    retry = ctx.retry
    if retry is not None and any(isinstance(s, dict) and s.get("limit") == 0 for s in stmts):
        raise MongoError(72, "Cannot use (or request) retryable writes with limit=0")
    for stmt in stmts:
        parse_delete(stmt)
    deadline = deadlines.Budget.of(ctx.body)
    let = command_let(ctx)
    coll = ctx.collection(name)
    views.check_writable(ctx, coll)
    n = 0
    errors: list[dict[str, Any]] = []
    for index, stmt in enumerate(stmts):
        if retry is not None and index in retry:
            n += retry[index]
            continue
        try:
            deadline.check()
            removed = await run_delete(ctx, coll, stmt, let, index, deadline)
        except MongoError as error:
            stop = stop_after_error(ctx, error)
            errors.append(error.to_write_error(index))
            if ordered or stop:
                break
            continue
        if retry is not None:
            retry[index] = removed
        n += removed
    return _write_reply(n, errors)


# -- findAndModify ----------------------------------------------------------------------------


def _target(ctx: CommandContext, coll: Collection, query: Query, variables: Variables
            ) -> tuple[Record, dict[str, Any]] | None:
    """The document findAndModify acts on: the first match in ``query.sort``'s order."""
    chosen, _, pairs = planned(ctx.view, coll, query, variables)
    if not query.sort or chosen.sort_served:
        return next(iter(pairs), None)
    matches = list(pairs)
    with collations.applied(query.collation):
        docs = sorting.sort_documents([doc for _, doc in matches], query.sort)
    if not docs:
        return None
    by_id = {id(doc): record for record, doc in matches}
    return by_id[id(docs[0])], docs[0]


@command("findAndModify", in_transaction=True, retryable_write=True)
async def find_and_modify(ctx: CommandContext) -> dict[str, Any]:
    retry = ctx.retry
    if retry is not None and 0 in retry:
        return dict(retry[0])
    reply = await _find_and_modify(ctx)
    if retry is not None:
        retry[0] = reply
        return dict(reply)  # the reply gets more fields on its way out; keep the stored one
    return reply


async def _find_and_modify(ctx: CommandContext) -> dict[str, Any]:
    body = ctx.body
    name = ctx.collection_name()
    _check_writable_namespace(ctx, name)
    query = get_doc(body, "query") or {}
    sort = get_doc(body, "sort")
    fields = get_doc(body, "fields")
    remove = get_bool(body, "remove")
    return_new = get_bool(body, "new")
    upsert = get_bool(body, "upsert")
    update = body.get("update")
    array_filters = body.get("arrayFilters")
    if remove and update is not None:
        raise MongoError(9, "Cannot specify both an update and remove=true")
    if not remove and update is None:
        raise MongoError(9, "Either an update or remove=true must be specified")
    if remove and return_new:
        raise MongoError(9, "Cannot specify both new=true and remove=true; 'remove' always "
                            "returns the deleted document")
    if remove and upsert:
        raise MongoError(9, "Cannot specify both upsert=true and remove=true")
    if update is not None and not isinstance(update, dict | list):
        raise MongoError(14, "Update argument must be either an object or an array")
    collations.parse(body.get("collation"))
    deadline = deadlines.Budget.of(body)
    hint = query_hint(body)
    variables = command_let(ctx)
    project = (projection.compile_projection(fields, variables=variables) if fields
               else None)
    view = ctx.view
    coll = await view.writable_collection(ctx.db, name) if not remove else ctx.collection(name)
    views.check_writable(ctx, coll)
    collation = query_collation(body, coll)
    predicate = _predicate(query, variables, collation, coll)
    apply = (_updater(update, array_filters, query, variables, collation) if update is not None
             else None)

    def shown(doc: dict[str, Any] | None) -> dict[str, Any] | None:
        return project(doc) if doc is not None and project is not None else doc

    while True:
        deadline.check()
        target: tuple[Record, dict[str, Any]] | None = None
        if coll is not None:
            target = _target(ctx, coll, Query(filter=query, sort=sort, limit=1, hint=hint,
                                              collation=collation), variables)
        if target is None:
            break
        record = target[0]
        if remove:
            current = await view.current(coll, record)  # type: ignore[arg-type]
            if current is None or not predicate(current):
                continue
            reply = {"lastErrorObject": {"n": 1}, "value": shown(current), "ok": 1.0}
            if await view.put(coll, record, None, current,  # type: ignore[arg-type]
                              ctx.statement_record(0, reply)):
                return reply
            continue
        assert coll is not None and apply is not None

        def updated(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
            return {"lastErrorObject": {"n": 1, "updatedExisting": True},
                    "value": shown(new if return_new else old), "ok": 1.0}

        with changes.replacing(_is_replacement(update)):
            result = await _update_record(
                ctx, coll, record, predicate, apply, validator_for(ctx, coll),
                (lambda old, new: ctx.statement_record(0, updated(old, new)))
                if ctx.records_statements else None)
        if result is None:
            continue
        return updated(*result)
    if upsert and not remove:
        assert coll is not None
        new = _upsert_document(ctx, coll, query, update, array_filters, variables, collation)
        reply = {"lastErrorObject": {"n": 1, "updatedExisting": False, "upserted": new["_id"]},
                 "value": shown(new) if return_new else None, "ok": 1.0}
        await view.insert(coll, new, ctx.statement_record(0, reply))
        return reply
    last_error: dict[str, Any] = {"n": 0}
    if not remove:
        last_error["updatedExisting"] = False
    return {"lastErrorObject": last_error, "value": None, "ok": 1.0}

