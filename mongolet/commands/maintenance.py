"""``validate``, ``dbStats``/``collStats``, and a clear refusal of the commands mongolet leaves out (server-side
JavaScript: mapReduce, eval)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import bson

from mongolet.commands import views
from mongolet.commands.registry import CommandContext, command
from mongolet.commands.validation import validator_for
from mongolet.errors import MongoError


@command("validate")
async def validate(ctx: CommandContext) -> dict[str, Any]:
    """Check a collection: every document storable, every unique index table in step with
    the documents (mongod's validate reply shape)."""
    name = ctx.collection_name()
    coll = ctx.collection(name)
    if coll is None:
        raise MongoError(26, f"Collection '{ctx.ns(name)}' does not exist to validate.")
    if views.is_view(coll):
        raise MongoError(166, f"Namespace {ctx.ns(name)} is a view, not a collection")
    docs = [doc for _, doc in ctx.view.documents(coll)]
    errors: list[str] = []
    validator = validator_for(ctx, coll)
    non_compliant = 0
    if validator is not None:
        for doc in docs:
            try:
                validator.check(doc)
            except MongoError:
                non_compliant += 1
    keys_per_index: dict[str, int] = {}
    details: dict[str, Any] = {}
    for spec in coll.indexes.values():
        keys: dict[Hashable, Any] = {}
        count = 0
        for doc in docs:
            for key in spec.keys_of(doc):
                count += 1
                if spec.unique and key in keys and spec.name != "_id_":
                    errors.append(f"index {spec.name} has a duplicate key for _id "
                                  f"{doc['_id']!r}")
                keys[key] = doc["_id"]
        table = coll.unique_keys.get(spec.name)
        if table is not None and len(table) != len(keys):
            errors.append(f"index {spec.name} holds {len(table)} keys, the documents "
                          f"{len(keys)}")
        keys_per_index[spec.name] = count
        details[spec.name] = {"valid": not any(spec.name in e for e in errors)}
    warnings = [f"Detected {non_compliant} non-compliant documents"] if non_compliant else []
    return {"ns": coll.ns, "uuid": coll.uuid, "nInvalidDocuments": 0,
            "nNonCompliantDocuments": non_compliant, "nrecords": len(docs),
            "nIndexes": len(coll.indexes), "keysPerIndex": keys_per_index,
            "indexDetails": details, "valid": not errors, "repaired": False,
            "warnings": warnings, "errors": errors, "extraIndexEntries": [],
            "missingIndexEntries": [], "corruptRecords": [], "ok": 1.0}


@command("mapReduce", "eval", "$eval", "group")
async def server_side_javascript(ctx: CommandContext) -> dict[str, Any]:
    raise MongoError(115, f"{ctx.name_key} is not supported by mongolet: it runs no "
                          "server-side JavaScript (use an aggregation pipeline)")


SEARCH_NOT_ENABLED = (
    "Using Atlas Search Database Commands and the $listSearchIndexes aggregation stage "
    "requires additional configuration. Please connect to Atlas or an AtlasCLI local "
    "deployment to enable. (mongolet has no search indexes, as a community mongod)")


def search_not_enabled() -> MongoError:
    """What a mongod without Atlas Search answers to search index commands (31082)."""
    return MongoError(31082, SEARCH_NOT_ENABLED)


@command("createSearchIndexes", "updateSearchIndex", "dropSearchIndex")
async def search_indexes(ctx: CommandContext) -> dict[str, Any]:
    raise search_not_enabled()


def _sizes(ctx: CommandContext, coll: Any) -> tuple[int, int]:
    """(documents, their BSON bytes) of ``coll`` as this command sees it."""
    docs = [doc for _, doc in ctx.view.documents(coll)]
    return len(docs), sum(len(bson.encode(doc)) for doc in docs)


@command("dbStats")
async def db_stats(ctx: CommandContext) -> dict[str, Any]:
    """mongod's dbStats fields, from the documents themselves (no storage engine here)."""
    scale = int(ctx.body.get("scale") or 1)
    colls = ctx.view.collections(ctx.db)
    objects = size = indexes = 0
    views_count = 0
    for coll in colls:
        if views.is_view(coll):
            views_count += 1
            continue
        count, data = _sizes(ctx, coll)
        objects += count
        size += data
        indexes += len(coll.indexes)
    return {"db": ctx.db, "collections": len(colls) - views_count, "views": views_count,
            "objects": objects, "avgObjSize": size / objects if objects else 0,
            "dataSize": size / scale, "storageSize": size / scale, "indexes": indexes,
            "indexSize": 0, "totalSize": size / scale, "scaleFactor": scale,
            "fsUsedSize": 0, "fsTotalSize": 0, "ok": 1.0}


@command("collStats")
async def coll_stats(ctx: CommandContext) -> dict[str, Any]:
    name = ctx.collection_name()
    coll = ctx.collection(name)
    if coll is None:
        raise MongoError(26, f"Collection [{ctx.ns(name)}] not found.")
    scale = int(ctx.body.get("scale") or 1)
    count, size = _sizes(ctx, coll)
    reply: dict[str, Any] = {
        "ns": coll.ns, "size": size / scale, "count": count,
        "avgObjSize": size // count if count else 0, "storageSize": size / scale,
        "capped": bool(coll.options.get("capped")), "nindexes": len(coll.indexes),
        "indexSizes": {n: 0 for n in coll.indexes}, "totalIndexSize": 0,
        "totalSize": size / scale, "scaleFactor": scale, "ok": 1.0}
    if reply["capped"]:
        reply["max"] = int(coll.options.get("max") or 0)
        reply["maxSize"] = int(coll.options.get("size") or 0)
    return reply
