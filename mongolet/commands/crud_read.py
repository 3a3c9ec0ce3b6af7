"""Reads: find, count, distinct and aggregate (with ``$out`` / ``$merge`` as last stage)."""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from bson import Int64

from mongolet import plan_execution
from mongolet.commands import change_streams, deadlines, local_sessions, maintenance, tailing, views
from mongolet.commands.registry import CommandContext, command, get_bool, get_doc, get_int
from mongolet.commands.selection import (
    compile_filter,
    id_keys,
    planned,
    predicate_for,
    select,
)
from mongolet.commands.writing import write_pipeline_output
from mongolet.cursors import DEFAULT_FIRST_BATCH, cursor_reply, take_batch
from mongolet.errors import MongoError
from mongolet.planner import Plan, Query
from mongolet.query import aggregation, expressions, matcher, paths, projection, sorting, values
from mongolet.query import collation as collations
from mongolet.query.collation import Collation
from mongolet.storage import Collection
from mongolet.text_search import TextSearch


def query_collation(spec: dict[str, Any], coll: Collection | None) -> Collation | None:
    """The collation a query runs with: its own ``collation``, else its collection's
    default one (None: the simple collation)."""
    if spec.get("collation") is not None:
        return collations.parse(spec["collation"])
    if coll is not None and coll.options.get("collation") is not None:
        return collations.parse(coll.options["collation"])
    return None


def matching(ctx: CommandContext, coll: Collection, filter: Mapping[str, Any] | None,
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


def query_hint(body: dict[str, Any]) -> Any:
    """The ``hint`` of a command: an index name, a key pattern, or None."""
    hint = body.get("hint")
    if hint is None or hint == {} or hint == "":
        return None
    if not isinstance(hint, str | dict):
        raise MongoError(9, "hint must be a string or an object")
    return hint


@dataclass
class FindRequest:
    """A find command, parsed (what running and explaining it share)."""

    ns: str
    coll: Collection | None
    query: Query
    projection: Callable[[dict[str, Any]], dict[str, Any]] | None
    variables: dict[str, Any] | None
    batch_size: int
    single_batch: bool
    budget: deadlines.Budget
    score_fields: list[str]  # projected {$meta: "textScore"} fields
    score_sort: bool  # sorted by {$meta: "textScore"} first
    return_key: bool = False  # returnKey: each document's index key instead of the document
    show_record_id: bool = False


def parse_find(ctx: CommandContext) -> FindRequest:
    started = time.monotonic()
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
    budget = deadlines.Budget.of(body, started)
    if skip < 0:
        raise MongoError(51024, f"BSON field 'skip' value must be >= 0, actual value '{skip}'")
    if limit < 0:
        # Legacy negative limit: one batch of at most |limit| documents.
        limit, single_batch = -limit, True
    coll = ctx.collection(name)
    collation = query_collation(body, coll)
    let = expressions.evaluate_let(get_doc(body, "let"))
    score_fields = [k for k, v in (projection_spec or {}).items() if _is_text_score(v)]
    if score_fields:
        projection_spec = {k: v for k, v in (projection_spec or {}).items()
                           if k not in score_fields}
    score_sort = bool(sort) and _is_text_score(next(iter(sort.values()))) if sort else False
    if sort:
        sort = {k: v for k, v in sort.items() if not _is_text_score(v)}
    if (score_fields or score_sort) and not (filter and "$text" in filter):
        raise MongoError(40218, "query requires text score metadata, but it is not available")
    project = (projection.compile_projection(projection_spec, query=filter, variables=let)
               if projection_spec else None)
    if coll is None and filter:
        # bad filters fail even on missing collections
        matcher.compile_filter(filter, variables=let)
    if limit:
        batch_size = min(batch_size, limit)
    query = Query(filter=filter, sort=sort, skip=skip, limit=limit, hint=query_hint(body),
                  min=get_doc(body, "min"), max=get_doc(body, "max"), collation=collation)
    if sort:
        sorting.parse_sort(sort)
    return FindRequest(ns, coll, query, project, let, batch_size, single_batch, budget,
                       score_fields, score_sort, get_bool(body, "returnKey"),
                       get_bool(body, "showRecordId"))



def _index_key(coll: Collection, hint: Any, sort: Mapping[str, Any] | None
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



def _is_text_score(value: Any) -> bool:
    return isinstance(value, dict) and value.get("$meta") == "textScore"


def find_documents(ctx: CommandContext, req: FindRequest,
                   stats: plan_execution.Stats | None = None
                   ) -> tuple[Plan, list[Plan], Iterator[dict[str, Any]]]:
    """The plan a find runs and the documents it returns (lazily: a served sort with a
    limit stops early)."""
    query, coll = req.query, req.coll
    if coll is None:
        return Plan("EOF"), [], iter(())
    text: TextSearch | None = None
    if views.is_view(coll):
        chosen: Plan = Plan("COLLSCAN")
        rejected: list[Plan] = []
        docs = matching(ctx, coll, query.filter, req.variables, query.collation)
    else:
        text = TextSearch(coll, query.filter["$text"]) \
            if query.filter and "$text" in query.filter else None
        chosen, rejected, pairs = planned(ctx.view, coll, query, req.variables, stats,
                                          req.budget.check, text)
        docs = (doc for _, doc in pairs)
    docs = deadlines.limited(docs, req.budget)
    if query.sort and not chosen.sort_served:
        with collations.applied(query.collation):
            docs = iter(sorting.sort_documents(list(docs), query.sort))
    if req.score_sort and text is not None:
        scores = text.scores
        docs = iter(sorted(docs, key=lambda d: -scores.get(id(d), 0.0)))
    if query.skip or query.limit:
        docs = itertools.islice(docs, query.skip,
                                query.skip + query.limit if query.limit else None)
    if req.return_key:  # mongod shows no record id with the key either
        docs = map(_index_key(coll, query.hint, query.sort), docs)
    else:
        if req.score_fields and text is not None:
            docs = _with_scores(docs, req.projection, req.score_fields, text.scores)
        elif req.projection is not None:
            docs = map(req.projection, docs)
        if req.show_record_id:
            docs = _with_record_ids(coll, docs)
    return chosen, rejected, docs


def _with_scores(docs: Iterator[dict[str, Any]],
                 project: Callable[[dict[str, Any]], dict[str, Any]] | None,
                 fields: list[str], scores: dict[int, float]) -> Iterator[dict[str, Any]]:
    for doc in docs:
        shown = dict(project(doc)) if project is not None else dict(doc)
        for name in fields:
            shown[name] = scores.get(id(doc), 0.0)
        yield shown


@command("find", in_transaction=True)
async def find(ctx: CommandContext) -> dict[str, Any]:
    req = parse_find(ctx)
    if get_bool(ctx.body, "tailable"):
        filter = dict(req.query.filter) if req.query.filter is not None else None
        return tailing.open_tailable(ctx, req.ns, req.coll, filter, req.projection,
                                     req.batch_size)
    if req.coll is None:
        return cursor_reply(req.ns, 0, [], first=True)
    docs = find_documents(ctx, req)[2]
    return open_cursor(ctx, req.ns, docs, req.batch_size, req.single_batch)


@dataclass
class CountRequest:
    coll: Collection | None
    query: Query
    skip: int
    limit: int
    budget: deadlines.Budget


def parse_count(ctx: CommandContext) -> CountRequest:
    started = time.monotonic()
    body = ctx.body
    name = ctx.collection_name()
    query = get_doc(body, "query")
    skip = get_int(body, "skip", 0) or 0
    limit = get_int(body, "limit", 0) or 0
    budget = deadlines.Budget.of(body, started)
    if skip < 0:
        raise MongoError(51024, "BSON field 'skip' value must be >= 0")
    coll = ctx.collection(name)
    collation = query_collation(body, coll)
    if coll is None and query:
        matcher.compile_filter(query)
    return CountRequest(coll, Query(filter=query, hint=query_hint(body), collation=collation),
                        skip, limit, budget)


def count_documents(ctx: CommandContext, req: CountRequest,
                    stats: plan_execution.Stats | None = None) -> tuple[Plan, int]:
    """The plan a count runs (COUNT_SCAN when the index alone answers) and its count."""
    coll, query = req.coll, req.query
    if coll is None:
        return Plan("EOF"), 0
    if not query.filter and not views.is_view(coll) and query.hint is None:
        chosen, n = Plan("RECORD_STORE_FAST_COUNT"), coll.count_latest()
    elif views.is_view(coll):
        chosen = Plan("COLLSCAN")
        n = len(list(deadlines.limited(
            matching(ctx, coll, query.filter, collation=query.collation), req.budget)))
    else:
        keys = id_keys(query.filter, query.collation) if query.hint is None else None
        chosen = plan_execution.choose(coll, query, keys)[0]
        if chosen.stage == "IXSCAN" and chosen.exact:
            n = plan_execution.count(ctx.view, coll, chosen, stats)
            chosen.stage = "COUNT_SCAN"
        else:
            pairs = plan_execution.run(ctx.view, coll, chosen, None if chosen.stage == "IDHACK"
                                       else predicate_for(coll, query.filter or {}, None,
                                                          query.collation), stats,
                                       req.budget.check)
            n = len(list(deadlines.limited(pairs, req.budget)))
    req.budget.check()
    n = max(n - req.skip, 0)
    if req.limit:
        n = min(n, abs(req.limit))
    return chosen, n


@command("count")
async def count(ctx: CommandContext) -> dict[str, Any]:
    req = parse_count(ctx)
    return {"n": count_documents(ctx, req)[1], "ok": 1.0}


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
    return {"values": distinct_values(ctx, coll, key, Query(filter=query, collation=collation),
                                      deadlines.Budget.of(body))[1], "ok": 1.0}


def distinct_values(ctx: CommandContext, coll: Collection, key: str, query: Query,
                    budget: deadlines.Budget | None = None,
                    stats: plan_execution.Stats | None = None) -> tuple[Plan, list[Any]]:
    """The plan a distinct runs (DISTINCT_SCAN when keys alone answer) and its values."""
    budget = budget if budget is not None else deadlines.Budget(None)
    collation = query.collation
    by_index = None if views.is_view(coll) else plan_execution.distinct_plan(coll, query, key)
    if by_index is not None:
        with collations.applied(collation):
            found = plan_execution.distinct_scan(ctx.view, coll, by_index, key, stats)
            budget.check()
            result = sorted(found, key=functools.cmp_to_key(values.compare))
        by_index.stage = "DISTINCT_SCAN"
        return by_index, result
    seen: dict[Any, Any] = {}
    if views.is_view(coll):
        chosen = Plan("COLLSCAN")
        docs = matching(ctx, coll, query.filter, collation=collation)
    else:
        chosen, _, pairs = planned(ctx.view, coll, query, None, stats, budget.check)
        docs = (doc for _, doc in pairs)
    matches = list(deadlines.limited(docs, budget))
    with collations.applied(collation):  # values equal under the collation count once
        for doc in matches:
            for value in paths.path_values(doc, key):
                items = value if isinstance(value, list) else [value]
                for item in items:
                    seen.setdefault(values.canonical_key(item), item)
        result = sorted(seen.values(), key=functools.cmp_to_key(values.compare))
    return chosen, result


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
    cursor_doc = get_doc(body, "cursor")
    if cursor_doc is None and not body.get("explain"):
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
        return await change_streams.open_change_stream(ctx, pipeline, cursor_doc or {})
    output = pipeline[-1] if pipeline and next(iter(pipeline[-1])) in _OUTPUT_STAGES else None
    if output is not None and ctx.txn is not None:
        raise MongoError(263, f"{next(iter(output))} cannot be used in a transaction")
    if output is not None:
        _check_output_read_concern(next(iter(output)), body.get("readConcern"))
    stages = pipeline[:-1] if output is not None else pipeline
    source: list[dict[str, Any]] = []
    collectionless = target == 1 or target == 1.0
    variables = expressions.evaluate_let(get_doc(body, "let"))
    if collectionless:
        ns = ctx.ns("$cmd.aggregate")
    else:
        name = ctx.collection_name()
        ns = ctx.ns(name)
        coll = ctx.collection(name)
        if body.get("explain"):
            from mongolet.commands.explain import explain_aggregate

            return explain_aggregate(ctx, body, coll, stages, variables)
        if coll is not None:
            pushed = pipeline_source(ctx, coll, stages, variables,
                                     query_collation(body, coll), deadlines.Budget.of(body),
                                     hint=query_hint(body))
            source, stages = list(pushed.docs), pushed.rest
    if stages and next(iter(stages[0])) in aggregation.SOURCE_STAGES:
        stage_name = next(iter(stages[0]))
        if not collectionless:
            raise MongoError(73, f"{stage_name} must be run against the database with "
                                 "{aggregate: 1}, not a collection")
        source = local_sessions.list_local_sessions(ctx, stages[0][stage_name])
        stages = stages[1:]
    collation = query_collation(body, None if collectionless else ctx.collection(ctx.arg()))
    with collations.applied(collation):
        results = aggregation.run_pipeline(source, stages, views.PipelineSource(ctx),
                                           variables=variables)
    if output is not None:
        await write_pipeline_output(ctx, results, output)
        return cursor_reply(ns, 0, [], first=True)
    return open_cursor(ctx, ns, iter(results), first_batch_size(ctx, cursor_doc or {}))


@dataclass
class PipelineSource:
    """The documents a pipeline starts from, found by the planner for its leading
    ``$match`` / ``$sort`` / ``$limit``, and the stages left to run on them."""

    plan: Plan
    rejected: list[Plan]
    query: Query
    docs: Iterator[dict[str, Any]]
    rest: list[dict[str, Any]]
    pushed: int  # how many leading stages the query stands for


def pipeline_source(ctx: CommandContext, coll: Collection, stages: list[dict[str, Any]],
                    variables: dict[str, Any] | None, collation: Collation | None,
                    budget: deadlines.Budget, stats: plan_execution.Stats | None = None,
                    hint: Any = None) -> PipelineSource:
    filters: list[dict[str, Any]] = []
    i = 0
    while i < len(stages) and "$match" in stages[i] and isinstance(stages[i]["$match"], dict):
        filters.append(stages[i]["$match"])
        i += 1
    sort: dict[str, Any] | None = None
    limit = 0
    if i < len(stages) and "$sort" in stages[i] and isinstance(stages[i]["$sort"], dict):
        sort = stages[i]["$sort"]
        sorting.parse_sort(sort, stage=True)
        i += 1
        if i < len(stages) and "$limit" in stages[i]:
            value = stages[i]["$limit"]
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                limit = value
                i += 1
    filter = filters[0] if len(filters) == 1 else ({"$and": filters} if filters else None)
    query = Query(filter=filter, sort=sort, limit=limit, collation=collation, hint=hint)
    if views.is_view(coll):
        return PipelineSource(Plan("COLLSCAN"), [], query, matching(ctx, coll, None),
                              stages, 0)
    chosen, rejected, pairs = planned(ctx.view, coll, query, variables, stats, budget.check)
    docs: Iterator[dict[str, Any]] = deadlines.limited((doc for _, doc in pairs), budget)
    if sort and not chosen.sort_served:
        with collations.applied(collation):
            docs = iter(sorting.sort_documents(list(docs), sort))
    if limit:
        docs = itertools.islice(docs, limit)
    return PipelineSource(chosen, rejected, query, docs, stages[i:], i)
