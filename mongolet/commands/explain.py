"""explain: the plan a find, aggregate, count, distinct, update, delete or findAndModify would
run, in mongod's shape (``queryPlanner.winningPlan`` as a tree of stages, ``rejectedPlans``,
``executionStats`` at the ``executionStats`` and ``allPlansExecution`` verbosities).

Explaining never writes: an explained update or delete only counts what it would change.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Mapping
from typing import Any

from mongolet import plan_execution
from mongolet.commands import crud_read, deadlines
from mongolet.commands.registry import CommandContext, command, get_bool, get_doc
from mongolet.commands.selection import id_keys, predicate_for
from mongolet.errors import MongoError
from mongolet.planner import Plan, Query
from mongolet.storage import Collection

VERBOSITIES = ("queryPlanner", "executionStats", "allPlansExecution")
_EXPLAINABLE = {"find": "find", "aggregate": "aggregate", "count": "count",
                "distinct": "distinct", "update": "update", "delete": "delete",
                "findandmodify": "findAndModify"}


@command("explain")
async def explain(ctx: CommandContext) -> dict[str, Any]:
    inner = ctx.body.get("explain")
    if not isinstance(inner, dict) or not inner:
        raise MongoError(2, "explain command requires a nested object")
    verbosity = ctx.body.get("verbosity", "allPlansExecution")
    if verbosity not in VERBOSITIES:
        raise MongoError(2, "verbosity string must be one of {'queryPlanner', "
                            "'executionStats', 'allPlansExecution'}")
    name = next(iter(inner))
    kind = _EXPLAINABLE.get(name.lower())
    if kind is None:
        raise MongoError(59, f"Explain failed due to unknown command: {name}")
    sub = dataclasses.replace(ctx, name=kind, body=inner)
    if kind == "aggregate":
        coll = sub.collection(sub.collection_name())
        pipeline = inner.get("pipeline")
        if not isinstance(pipeline, list):
            raise MongoError(14, "BSON field 'aggregate.pipeline' is the wrong type, expected "
                                 "type 'array'")
        from mongolet.query import expressions

        variables = expressions.evaluate_let(get_doc(inner, "let"))
        return explain_aggregate(sub, inner, coll, pipeline, variables, verbosity)
    explainer = {"find": _find, "count": _count, "distinct": _distinct, "update": _update,
                 "delete": _delete, "findAndModify": _find_and_modify}[kind]
    return explainer(sub, verbosity)


# -- the parts of every answer -----------------------------------------------------------------


def _hash(value: Any) -> str:
    return hashlib.sha1(repr(value).encode()).hexdigest()[:8].upper()


def _index_fields(plan: Plan) -> dict[str, Any]:
    index = plan.index
    assert index is not None
    return {"keyPattern": dict(index.key), "indexName": index.name,
            "isMultiKey": index.multikey,
            "multiKeyPaths": {f: [f] if index.multikey else [] for f in index.fields},
            "isUnique": index.unique, "isSparse": index.sparse,
            "isPartial": index.partial is not None, "indexVersion": 2}


def scan_stage(plan: Plan, filter: Mapping[str, Any] | None) -> dict[str, Any]:
    """The leaf stages of a plan: COLLSCAN, IDHACK, EOF, or FETCH over IXSCAN."""
    if plan.stage == "EOF":
        return {"stage": "EOF"}
    if plan.stage == "IDHACK":
        return {"stage": "IDHACK"}
    if plan.stage == "RECORD_STORE_FAST_COUNT":
        return {"stage": "RECORD_STORE_FAST_COUNT"}
    if plan.stage == "COLLSCAN":
        return {"stage": "COLLSCAN", "filter": dict(filter or {}),
                "direction": "forward" if plan.direction > 0 else "backward"}
    if plan.stage == "OR":
        fetch_or: dict[str, Any] = {"stage": "FETCH"}
        if filter:
            fetch_or["filter"] = dict(filter)
        fetch_or["inputStage"] = {"stage": "OR", "inputStages": [
            scan_stage(branch, None)["inputStage"] for branch in plan.branches]}
        return fetch_or
    direction = "forward" if plan.direction > 0 else "backward"
    if plan.stage == "COUNT_SCAN":
        return {"stage": "COUNT_SCAN", **_index_fields(plan), "indexBounds":
                plan.index_bounds(), "direction": direction}
    if plan.stage == "DISTINCT_SCAN":
        return {"stage": "PROJECTION_COVERED", "inputStage": {
            "stage": "DISTINCT_SCAN", **_index_fields(plan), "direction": direction,
            "indexBounds": plan.index_bounds()}}
    ixscan = {"stage": "IXSCAN", **_index_fields(plan), "direction": direction,
              "indexBounds": plan.index_bounds()}
    fetch: dict[str, Any] = {"stage": "FETCH"}
    if not plan.exact and filter:
        fetch["filter"] = dict(filter)
    fetch["inputStage"] = ixscan
    return fetch


def _wrap(stage: str, inner: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"stage": stage, **fields, "inputStage": inner}


def find_tree(plan: Plan, query: Query, projection: Mapping[str, Any] | None
              ) -> dict[str, Any]:
    tree = scan_stage(plan, query.filter)
    if plan.stage == "EOF":
        return tree
    if query.sort and not plan.sort_served:
        fields: dict[str, Any] = {"sortPattern": dict(query.sort), "memLimit": 104857600}
        if query.limit:
            fields["limitAmount"] = query.skip + query.limit
        fields["type"] = "simple"
        tree = _wrap("SORT", tree, **fields)
    if query.skip:
        tree = _wrap("SKIP", tree, skipAmount=query.skip)
    if query.limit and (plan.sort_served or not query.sort):
        tree = _wrap("LIMIT", tree, limitAmount=query.limit)
    if projection:
        tree = _wrap("PROJECTION_SIMPLE", tree, transformBy=dict(projection))
    return tree


def _with_stats(tree: dict[str, Any], stats: plan_execution.Stats, returned: int,
                millis: int) -> dict[str, Any]:
    """The plan tree with each stage's counters, as executionStats shows it."""
    out: dict[str, Any] = {"stage": tree["stage"]}
    stage = tree["stage"]
    if stage in ("IXSCAN", "COUNT_SCAN", "DISTINCT_SCAN"):
        n = stats.keys_examined if stage == "IXSCAN" else returned
    elif stage in ("FETCH", "COLLSCAN", "IDHACK"):
        n = stats.returned
    else:
        n = returned
    out.update({"nReturned": n, "executionTimeMillisEstimate": millis,
                "works": stats.keys_examined + stats.docs_examined + 1, "advanced": n,
                "needTime": max(stats.keys_examined + stats.docs_examined - n, 0),
                "needYield": 0, "saveState": 0, "restoreState": 0, "isEOF": 1})
    for key, value in tree.items():
        if key not in ("stage", "inputStage", "inputStages"):
            out[key] = value
    if stage in ("IXSCAN", "COUNT_SCAN", "DISTINCT_SCAN"):
        out["keysExamined"] = stats.keys_examined
        out["dupsTested"] = 0
        out["dupsDropped"] = 0
    if stage in ("FETCH", "COLLSCAN"):
        out["docsExamined"] = stats.docs_examined
    if stage == "IDHACK":
        out["keysExamined"] = stats.keys_examined
        out["docsExamined"] = stats.docs_examined
    if "inputStage" in tree:
        out["inputStage"] = _with_stats(tree["inputStage"], stats, returned, millis)
    if "inputStages" in tree:
        out["inputStages"] = [_with_stats(t, stats, returned, millis)
                              for t in tree["inputStages"]]
    return out


def _execution_stats(tree: dict[str, Any], stats: plan_execution.Stats, returned: int,
                     started: float) -> dict[str, Any]:
    millis = int((time.monotonic() - started) * 1000)
    return {"executionSuccess": True, "nReturned": returned, "executionTimeMillis": millis,
            "totalKeysExamined": stats.keys_examined,
            "totalDocsExamined": stats.docs_examined,
            "executionStages": _with_stats(tree, stats, returned, millis)}


def _answer(ctx: CommandContext, ns: str, filter: Mapping[str, Any] | None, tree: dict[str, Any],
            rejected: list[dict[str, Any]], verbosity: str,
            execution: dict[str, Any] | None,
            all_plans: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"explainVersion": "1",
                             "queryPlanner": _query_planner(ns, filter, tree, rejected)}
    if verbosity != "queryPlanner" and execution is not None:
        if verbosity == "allPlansExecution":
            execution["allPlansExecution"] = all_plans or []
        reply["executionStats"] = execution
    reply.update(_trailer(ctx))
    return reply


def _query_planner(ns: str, filter: Mapping[str, Any] | None, tree: dict[str, Any],
                   rejected: list[dict[str, Any]]) -> dict[str, Any]:
    return {"namespace": ns, "indexFilterSet": False, "parsedQuery": dict(filter or {}),
            "queryHash": _hash(filter), "planCacheKey": _hash((ns, filter)),
            "maxIndexedOrSolutionsReached": False, "maxIndexedAndSolutionsReached": False,
            "maxScansToExplodeReached": False, "winningPlan": tree,
            "rejectedPlans": rejected}


def _trailer(ctx: CommandContext) -> dict[str, Any]:
    command_doc = dict(ctx.body)
    command_doc["$db"] = ctx.db
    state = ctx.state
    return {"command": command_doc,
            "serverInfo": {"host": state.host, "port": state.port, "version": state.version.version,
                           "gitVersion": "mongolet"},
            "serverParameters": {"internalQueryFacetBufferSizeBytes": 104857600,
                                 "internalQueryFacetMaxOutputDocSizeBytes": 104857600,
                                 "internalLookupStageIntermediateDocumentMaxSizeBytes":
                                     104857600,
                                 "internalDocumentSourceGroupMaxMemoryBytes": 104857600,
                                 "internalQueryMaxBlockingSortMemoryUsageBytes": 104857600,
                                 "internalQueryProhibitBlockingMergeOnMongoS": 0,
                                 "internalQueryMaxAddToSetBytes": 104857600,
                                 "internalDocumentSourceSetWindowFieldsMaxMemoryBytes":
                                     104857600},
            "ok": 1.0}


def _other_plans(ctx: CommandContext, coll: Collection | None, rejected: list[Plan],
                 query: Query, projection: Mapping[str, Any] | None, verbosity: str,
                 predicate: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rejected plans' trees and, at allPlansExecution, what each would have done."""
    trees = [find_tree(p, query, projection) for p in rejected]
    runs: list[dict[str, Any]] = []
    if verbosity == "allPlansExecution" and coll is not None:
        for p, tree in zip(rejected, trees):
            started = time.monotonic()
            stats = plan_execution.Stats()
            n = sum(1 for _ in plan_execution.run(ctx.view, coll, p, predicate, stats))
            run = _execution_stats(tree, stats, n, started)
            run.pop("executionSuccess")
            run.pop("executionTimeMillis")
            run["executionTimeMillisEstimate"] = 0
            runs.append(run)
    return trees, runs


# -- per command --------------------------------------------------------------------------------


def _find(ctx: CommandContext, verbosity: str) -> dict[str, Any]:
    started = time.monotonic()
    req = crud_read.parse_find(ctx)
    stats = plan_execution.Stats()
    chosen, rejected, docs = crud_read.find_documents(ctx, req, stats)
    projection = get_doc(ctx.body, "projection")
    tree = find_tree(chosen, req.query, projection)
    execution = None
    if verbosity != "queryPlanner":
        returned = sum(1 for _ in docs)
        execution = _execution_stats(tree, stats, returned, started)
    predicate = predicate_for(req.coll, req.query.filter, req.variables,
                              req.query.collation) if req.query.filter and req.coll else None
    trees, runs = _other_plans(ctx, req.coll, rejected, req.query, projection, verbosity,
                               predicate)
    if execution is not None and verbosity == "allPlansExecution" and rejected:
        runs.insert(0, {k: v for k, v in execution.items()
                        if k not in ("executionSuccess", "executionTimeMillis")})
    return _answer(ctx, req.ns, req.query.filter, tree, trees, verbosity, execution, runs)


def explain_aggregate(ctx: CommandContext, body: dict[str, Any], coll: Collection | None,
                      stages: list[Any], variables: dict[str, Any] | None,
                      verbosity: str = "queryPlanner") -> dict[str, Any]:
    """An aggregate's plan: the planner's part as ``$cursor`` (or the whole answer when
    the planner stands for every stage), then the remaining stages."""
    started = time.monotonic()
    ns = ctx.ns(ctx.collection_name())
    if coll is None:
        tree: dict[str, Any] = {"stage": "EOF"}
        return _answer(ctx, ns, None, tree, [], verbosity, None)
    stats = plan_execution.Stats()
    source = crud_read.pipeline_source(ctx, coll, stages, variables,
                                       crud_read.query_collation(body, coll),
                                       deadlines.Budget(None), stats,
                                       crud_read.query_hint(body))
    tree = find_tree(source.plan, source.query, None)
    execution = None
    if verbosity != "queryPlanner":
        returned = sum(1 for _ in source.docs)
        execution = _execution_stats(tree, stats, returned, started)
    if not source.rest:
        return _answer(ctx, ns, source.query.filter, tree, [], verbosity, execution)
    cursor: dict[str, Any] = {"queryPlanner": _query_planner(ns, source.query.filter, tree,
                                                             [])}
    if execution is not None:
        if verbosity == "allPlansExecution":
            execution["allPlansExecution"] = []
        cursor["executionStats"] = execution
    reply: dict[str, Any] = {"explainVersion": "1",
                             "stages": [{"$cursor": cursor}, *source.rest]}
    reply.update(_trailer(ctx))
    return reply


def _count(ctx: CommandContext, verbosity: str) -> dict[str, Any]:
    started = time.monotonic()
    req = crud_read.parse_count(ctx)
    stats = plan_execution.Stats()
    chosen, n = crud_read.count_documents(ctx, req, stats)
    tree = scan_stage(chosen, req.query.filter)
    if chosen.stage not in ("EOF", "RECORD_STORE_FAST_COUNT"):
        tree = _wrap("COUNT", tree)
    execution = _execution_stats(tree, stats, n, started) \
        if verbosity != "queryPlanner" else None
    ns = ctx.ns(ctx.collection_name())
    return _answer(ctx, ns, req.query.filter, tree, [], verbosity, execution)


def _distinct(ctx: CommandContext, verbosity: str) -> dict[str, Any]:
    started = time.monotonic()
    body = ctx.body
    key = body.get("key")
    if not isinstance(key, str) or not key:
        raise MongoError(14, "BSON field 'distinct.key' must be a string")
    query_doc = get_doc(body, "query")
    coll = ctx.collection(ctx.collection_name())
    collation = crud_read.query_collation(body, coll)
    stats = plan_execution.Stats()
    found: list[Any] = []
    if coll is None:
        chosen = Plan("EOF")
    else:
        chosen, found = crud_read.distinct_values(ctx, coll, key, Query(
            filter=query_doc, collation=collation), None, stats)
    tree = scan_stage(chosen, query_doc)
    if chosen.stage not in ("DISTINCT_SCAN", "EOF"):
        tree = _wrap("PROJECTION_DEFAULT", tree, transformBy={})
    execution = _execution_stats(tree, stats, len(found), started) \
        if verbosity != "queryPlanner" else None
    return _answer(ctx, ctx.ns(ctx.collection_name()), query_doc, tree, [], verbosity,
                   execution)


def _write_explain(ctx: CommandContext, verbosity: str, stage: str, filter: dict[str, Any],
                   collation_of: Mapping[str, Any], hint: Any, sort: dict[str, Any] | None,
                   single: bool) -> dict[str, Any]:
    started = time.monotonic()
    name = ctx.collection_name()
    coll = ctx.collection(name)
    collation = crud_read.query_collation(dict(collation_of), coll)
    query = Query(filter=filter, sort=sort, limit=1 if single else 0, hint=hint,
                  collation=collation)
    stats = plan_execution.Stats()
    if coll is None:
        chosen: Plan = Plan("EOF")
        n = 0
        rejected: list[Plan] = []
    else:
        keys = id_keys(filter, collation) if hint is None else None
        chosen, rejected = plan_execution.choose(coll, query, keys)
        predicate = predicate_for(coll, filter, None, collation) \
            if filter and chosen.stage != "IDHACK" else None
        pairs = plan_execution.run(ctx.view, coll, chosen, predicate, stats)
        matches = list(pairs) if verbosity != "queryPlanner" else []
        n = min(len(matches), 1) if single else len(matches)
    tree = find_tree(chosen, query, None)
    if tree["stage"] == "LIMIT":
        tree = tree["inputStage"]
    tree = _wrap(stage, tree)
    execution = None
    if verbosity != "queryPlanner":
        execution = _execution_stats(tree, stats, 0, started)
        top = execution["executionStages"]
        if stage == "UPDATE":
            top.update({"nMatched": n, "nWouldModify": n, "nWouldUpsert": 0})
        else:
            top["nWouldDelete"] = n
    trees = [_wrap(stage, find_tree(p, query, None)) for p in rejected]
    return _answer(ctx, ctx.ns(name), filter, tree, trees, verbosity, execution)


def _update(ctx: CommandContext, verbosity: str) -> dict[str, Any]:
    stmts = ctx.body.get("updates")
    if not isinstance(stmts, list) or len(stmts) != 1 or not isinstance(stmts[0], dict):
        raise MongoError(9, "explained write batches must be of size 1")
    stmt = stmts[0]
    return _write_explain(ctx, verbosity, "UPDATE", get_doc(stmt, "q") or {}, stmt,
                          crud_read.query_hint(stmt), None, not get_bool(stmt, "multi"))


def _delete(ctx: CommandContext, verbosity: str) -> dict[str, Any]:
    stmts = ctx.body.get("deletes")
    if not isinstance(stmts, list) or len(stmts) != 1 or not isinstance(stmts[0], dict):
        raise MongoError(9, "explained write batches must be of size 1")
    stmt = stmts[0]
    return _write_explain(ctx, verbosity, "DELETE", get_doc(stmt, "q") or {}, stmt,
                          crud_read.query_hint(stmt), None, stmt.get("limit") == 1)


def _find_and_modify(ctx: CommandContext, verbosity: str) -> dict[str, Any]:
    body = ctx.body
    stage = "DELETE" if get_bool(body, "remove") else "UPDATE"
    return _write_explain(ctx, verbosity, stage, get_doc(body, "query") or {}, body,
                          crud_read.query_hint(body), get_doc(body, "sort"), True)
