"""Reads: find, count, distinct and aggregate (with ``$out`` / ``$merge`` as last stage)."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator
from typing import Any

from bson import Int64

from mongolet.commands import change_streams, local_sessions, maintenance, tailing, views
from mongolet.commands.registry import CommandContext, command, get_bool, get_doc, get_int
from mongolet.commands.selection import compile_filter, select
from mongolet.commands.writing import write_pipeline_output
from mongolet.cursors import DEFAULT_FIRST_BATCH, cursor_reply, take_batch
from mongolet.errors import MongoError
from mongolet.query import aggregation, expressions, matcher, paths, projection, sorting, values
from mongolet.query import collation as collations
from mongolet.query.collation import Collation
from mongolet.storage import Collection


def query_collation(spec: dict[str, Any], coll: Collection | None) -> Collation | None:
    """The collation a query runs with: its own ``collation``, else its collection's
    default one (None: the simple collation)."""
    if spec.get("collation") is not None:
        return collations.parse(spec["collation"])
    if coll is not None and coll.options.get("collation") is not None:
        return collations.parse(coll.options["collation"])
    return None


def matching(ctx: CommandContext, coll: Collection, filter: dict[str, Any] | None,
             variables: dict[str, Any] | None = None, collation: Collation | None = None
             ) -> Iterator[dict[str, Any]]:
    """The documents of a collection or view that ``filter`` selects, in natural order."""
    if views.is_view(coll):
        docs = views.documents(ctx, coll)
        if not filter:
            return iter(docs)
        predicate = compile_filter(filter, variables, collation)
        return (doc for doc in docs if predicate(doc))
    return (doc for _, doc in select(ctx.view, coll, filter, variables=variables,
                                     collation=collation))


def open_cursor(ctx: CommandContext, ns: str, docs: Iterator[dict[str, Any]],
                batch_size: int | None, single_batch: bool = False) -> dict[str, Any]:
    """Answer with a first batch; keep a cursor for the rest unless it is exhausted."""
    batch, rest = take_batch(docs, batch_size)
    cursor_id = 0
    if rest is not None and not single_batch:
        cursor_id = ctx.state.cursors.open(ns, rest, ctx.session_id(), ctx.txn).id
        if ctx.session is not None:
            ctx.session.cursor_ids.add(cursor_id)
    return cursor_reply(ns, cursor_id, batch, first=True)


def first_batch_size(ctx: CommandContext, cursor_doc: dict[str, Any] | None = None) -> int:
    source = cursor_doc if cursor_doc is not None else ctx.body
    size = get_int(source, "batchSize")
    if size is None:
        return DEFAULT_FIRST_BATCH
    if size < 0:
        raise MongoError(51024, f"BSON field 'batchSize' value must be >= 0, actual value "
                                f"'{size}'")
    return size


@command("find", in_transaction=True)
async def find(ctx: CommandContext) -> dict[str, Any]:
    body = ctx.body
    name = ctx.collection_name()
    ns = ctx.ns(name)
    filter = get_doc(body, "filter")
    sort = get_doc(body, "sort")
    projection_spec = get_doc(body, "projection")
    skip = get_int(body, "skip", 0) or 0
    limit = get_int(body, "limit", 0) or 0
    batch_size = first_batch_size(ctx)
    single_batch = get_bool(body, "singleBatch")
    if skip < 0:
        raise MongoError(51024, f"BSON field 'skip' value must be >= 0, actual value '{skip}'")
    if limit < 0:
        # Legacy negative limit: one batch of at most |limit| documents.
        limit, single_batch = -limit, True
    coll = ctx.collection(name)
    collation = query_collation(body, coll)
    let = expressions.evaluate_let(get_doc(body, "let"))
    project = (projection.compile_projection(projection_spec, query=filter, variables=let)
               if projection_spec else None)
    if get_bool(body, "tailable"):
        return tailing.open_tailable(ctx, ns, coll, filter, project,
                                     min(batch_size, limit) if limit else batch_size)
    if coll is None:
        if filter:
            # bad filters fail even on missing collections
            matcher.compile_filter(filter, variables=let)
        return cursor_reply(ns, 0, [], first=True)
    docs = matching(ctx, coll, filter, let, collation)
    if sort:
        with collations.applied(collation):
            docs = iter(sorting.sort_documents(list(docs), sort))
    if skip or limit:
        docs = itertools.islice(docs, skip, skip + limit if limit else None)
    if get_bool(body, "returnKey"):  # mongod shows no record id with the key either
        docs = map(_index_key(coll, body.get("hint"), sort), docs)
    else:
        if project is not None:
            docs = map(project, docs)
        if get_bool(body, "showRecordId"):
            docs = _with_record_ids(coll, docs)
    if limit:
        batch_size = min(batch_size, limit)
    return open_cursor(ctx, ns, docs, batch_size, single_batch)


def _index_key(coll: Collection, hint: Any, sort: dict[str, Any] | None
               ) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``returnKey``: a document's key in the index the query used (the hinted one, else
    one that gives the sort; none for a collection scan, as mongod answers then: empty
    documents)."""
    spec = None
    if isinstance(hint, str):
        spec = coll.indexes.get(hint)
    elif isinstance(hint, dict):
        spec = next((s for s in coll.indexes.values() if s.key == hint), None)
    elif sort:
        spec = next((s for s in coll.indexes.values()
                     if list(s.key)[:len(sort)] == list(sort)), None)
    if spec is None:
        return lambda doc: {}
    fields = list(spec.key)
    return lambda doc: {f: v for f in fields
                        for v in [next(iter(paths.path_values(doc, f)), None)]}


def _with_record_ids(coll: Collection, docs: Iterator[dict[str, Any]]
                     ) -> Iterator[dict[str, Any]]:
    """``showRecordId``: each document with ``$recordId``, its place in the collection."""
    order = {key: i + 1 for i, key in enumerate(coll.records)}
    for doc in docs:
        record_id = order.get(values.canonical_key(doc.get("_id")))
        yield {**doc, "$recordId": Int64(record_id or 0)} if record_id else doc


@command("count")
async def count(ctx: CommandContext) -> dict[str, Any]:
    body = ctx.body
    name = ctx.collection_name()
    query = get_doc(body, "query")
    skip = get_int(body, "skip", 0) or 0
    limit = get_int(body, "limit", 0) or 0
    if skip < 0:
        raise MongoError(51024, "BSON field 'skip' value must be >= 0")
    coll = ctx.collection(name)
    collation = query_collation(body, coll)
    if coll is None:
        if query:
            matcher.compile_filter(query)
        return {"n": 0, "ok": 1.0}
    if not query and not views.is_view(coll):
        n = coll.count_latest()
    else:
        n = sum(1 for _ in matching(ctx, coll, query, collation=collation))
    n = max(n - skip, 0)
    if limit:
        n = min(n, abs(limit))
    return {"n": n, "ok": 1.0}


@command("distinct", in_transaction=True)
async def distinct(ctx: CommandContext) -> dict[str, Any]:
    body = ctx.body
    name = ctx.collection_name()
    key = body.get("key")
    if not isinstance(key, str):
        raise MongoError(14 if key is not None else 40414,
                         "BSON field 'distinct.key' is missing but a required field"
                         if key is None else "BSON field 'distinct.key' must be a string")
    if not key:
        raise MongoError(40352, "FieldPath cannot be constructed with empty string")
    query = get_doc(body, "query")
    coll = ctx.collection(name)
    collation = query_collation(body, coll)
    if coll is None:
        if query:
            matcher.compile_filter(query)
        return {"values": [], "ok": 1.0}
    seen: dict[Any, Any] = {}
    matches = list(matching(ctx, coll, query, collation=collation))
    with collations.applied(collation):  # values equal under the collation count once
        for doc in matches:
            for value in paths.path_values(doc, key):
                items = value if isinstance(value, list) else [value]
                for item in items:
                    seen.setdefault(values.canonical_key(item), item)
        result = sorted(seen.values(), key=functools.cmp_to_key(values.compare))
    return {"values": result, "ok": 1.0}


_OUTPUT_STAGES = ("$out", "$merge")


def _check_output_read_concern(stage: str, read_concern: Any) -> None:
    """A pipeline that writes cannot promise a linearizable read or read a snapshot."""
    level = read_concern.get("level") if isinstance(read_concern, dict) else None
    if level in ("linearizable", "snapshot"):
        raise MongoError(72, f"{stage} cannot be used with a '{level}' read concern level")


@command("aggregate", in_transaction=True)
async def aggregate(ctx: CommandContext) -> dict[str, Any]:
    body = ctx.body
    target = ctx.arg()
    pipeline = body.get("pipeline")
    if not isinstance(pipeline, list):
        raise MongoError(14 if pipeline is not None else 40414,
                         "BSON field 'aggregate.pipeline' is missing but a required field"
                         if pipeline is None else
                         "BSON field 'aggregate.pipeline' is the wrong type, expected type "
                         "'array'")
    if body.get("explain"):
        raise MongoError(2, "mongolet does not support explain")
    cursor_doc = get_doc(body, "cursor")
    if cursor_doc is None:
        raise MongoError(9, "The 'cursor' option is required, except for aggregate with the "
                            "explain argument")
    for i, stage in enumerate(pipeline):
        if not isinstance(stage, dict) or len(stage) != 1:
            raise MongoError(40323, "A pipeline stage specification object must contain "
                                    "exactly one field.")
        stage_name = next(iter(stage))
        if stage_name == "$listSearchIndexes":
            raise maintenance.search_not_enabled()
        if stage_name == change_streams.STAGE and i:
            raise MongoError(40602, "$changeStream is only valid as the first stage in a "
                                    "pipeline")
        if stage_name in _OUTPUT_STAGES and i != len(pipeline) - 1:
            raise MongoError(40601, f"{stage_name} can only be the final stage in the pipeline")
    if change_streams.is_change_stream(pipeline):
        return await change_streams.open_change_stream(ctx, pipeline, cursor_doc)
    output = pipeline[-1] if pipeline and next(iter(pipeline[-1])) in _OUTPUT_STAGES else None
    if output is not None and ctx.txn is not None:
        raise MongoError(263, f"{next(iter(output))} cannot be used in a transaction")
    if output is not None:
        _check_output_read_concern(next(iter(output)), body.get("readConcern"))
    stages = pipeline[:-1] if output is not None else pipeline
    source: list[dict[str, Any]] = []
    collectionless = target == 1 or target == 1.0
    if collectionless:
        ns = ctx.ns("$cmd.aggregate")
    else:
        name = ctx.collection_name()
        ns = ctx.ns(name)
        coll = ctx.collection(name)
        source = list(matching(ctx, coll, None)) if coll is not None else []
    if stages and next(iter(stages[0])) in aggregation.SOURCE_STAGES:
        stage_name = next(iter(stages[0]))
        if not collectionless:
            raise MongoError(73, f"{stage_name} must be run against the database with "
                                 "{aggregate: 1}, not a collection")
        source = local_sessions.list_local_sessions(ctx, stages[0][stage_name])
        stages = stages[1:]
    variables = expressions.evaluate_let(get_doc(body, "let"))
    collation = query_collation(body, None if collectionless else ctx.collection(ctx.arg()))
    with collations.applied(collation):
        results = aggregation.run_pipeline(source, stages, views.PipelineSource(ctx),
                                           variables=variables)
    if output is not None:
        await write_pipeline_output(ctx, results, output)
        return cursor_reply(ns, 0, [], first=True)
    return open_cursor(ctx, ns, iter(results), first_batch_size(ctx, cursor_doc))
