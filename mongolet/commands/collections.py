"""Catalog commands: create, drop, dropDatabase, listCollections, listDatabases, collMod,
renameCollection."""

from __future__ import annotations

from typing import Any

from mongolet.commands import time_series, validation, views
from mongolet.commands.registry import CommandContext, command, get_bool, get_doc
from mongolet.cursors import cursor_reply
from mongolet.errors import MongoError
from mongolet.query import collation as collations
from mongolet.query import matcher
from mongolet.storage import Collection

_SYSTEM_DATABASES = ("admin", "config", "local")
_CREATE_OPTIONS = {
    "capped", "size", "max", "validator", "validationLevel", "validationAction",
    "storageEngine", "indexOptionDefaults", "viewOn", "pipeline", "collation",
    "timeseries", "expireAfterSeconds", "clusteredIndex", "changeStreamPreAndPostImages",
    "encryptedFields", "autoIndexId", "idIndex", "flags",
}
_IGNORED_FIELDS = {"$db", "lsid", "$clusterTime", "txnNumber", "autocommit", "startTransaction",
                   "readConcern", "writeConcern", "$readPreference", "comment", "maxTimeMS",
                   "apiVersion", "apiStrict", "apiDeprecationErrors"}


@command("create", in_transaction=True)
async def create(ctx: CommandContext) -> dict[str, Any]:
    name = ctx.collection_name()
    options = {k: v for k, v in ctx.body.items()
               if k != ctx.name_key and k not in _IGNORED_FIELDS}
    unknown = set(options) - _CREATE_OPTIONS
    if unknown:
        field = sorted(unknown)[0]
        raise MongoError(40415, f"BSON field 'create.{field}' is an unknown field.")
    time_series.check_time_series(options.get("timeseries"))
    views.check_definition(ctx, options)
    validation.check_options("create", options)
    collations.parse(options.get("collation"))  # a default collation mongolet can apply
    clustered = options.get("clusteredIndex")
    if clustered is not None:
        if not isinstance(clustered, dict) or clustered.get("key") != {"_id": 1} \
                or clustered.get("unique") is not True:
            raise MongoError(2, "The clusteredIndex option requires {key: {_id: 1}, "
                                "unique: true}")
        # mongod stores it with its index version and default name.
        options["clusteredIndex"] = {"v": 2, **clustered,
                                     "name": clustered.get("name", "_id_")}
    if options.get("capped") and not options.get("size"):
        raise MongoError(72, "the 'size' field is required when 'capped' is true")
    existing = ctx.state.store.collection(ctx.db, name)
    if existing is not None:
        visible = ctx.collection(name) is existing
        if ctx.txn is not None and not visible:
            from mongolet.transactions import write_conflict
            raise write_conflict()
        if visible and existing.options == options and ctx.txn is None:
            return {"ok": 1.0}  # mongod 7.0: an identical create is a no-op
        raise MongoError(48, f"Collection {ctx.ns(name)} already exists.")
    if ctx.txn is not None:
        coll = ctx.state.store.create_collection(ctx.db, name, options, created_by=ctx.txn)
        ctx.txn.created.append(coll)
    else:
        ctx.state.store.create_collection(ctx.db, name, options)
    return {"ok": 1.0}


@command("drop")
async def drop(ctx: CommandContext) -> dict[str, Any]:
    name = ctx.collection_name()
    state = ctx.state
    coll = ctx.collection(name)
    state.txns.abort_touching(ctx.db, name)
    if coll is None:
        return {"ok": 1.0}  # mongod 7.0: dropping a missing collection succeeds
    state.store.drop_collection(ctx.db, name)
    return {"nIndexesWas": len(coll.indexes), "ns": coll.ns, "ok": 1.0}


@command("dropDatabase")
async def drop_database(ctx: CommandContext) -> dict[str, Any]:
    state = ctx.state
    state.txns.abort_touching(ctx.db)
    state.store.drop_database(ctx.db)
    return {"dropped": ctx.db, "ok": 1.0}


def collection_info(coll: Collection) -> dict[str, Any]:
    if views.is_view(coll):
        return {"name": coll.name, "type": "view",
                "options": {"viewOn": coll.options["viewOn"],
                            "pipeline": coll.options.get("pipeline", []),
                            **{k: v for k, v in coll.options.items()
                               if k not in ("viewOn", "pipeline")}},
                "info": {"readOnly": True}}
    return {
        "name": coll.name,
        "type": "timeseries" if "timeseries" in coll.options else "collection",
        "options": dict(coll.options),
        "info": {"readOnly": False, "uuid": coll.uuid},
        "idIndex": {"v": 2, "key": {"_id": 1}, "name": "_id_"},
    }


@command("listCollections")
async def list_collections(ctx: CommandContext) -> dict[str, Any]:
    body = ctx.body
    filter = get_doc(body, "filter")
    name_only = get_bool(body, "nameOnly")
    predicate = matcher.compile_filter(filter) if filter else None
    entries = []
    for coll in sorted(ctx.view.collections(ctx.db), key=lambda c: c.name):
        info = collection_info(coll)
        if predicate is not None and not predicate(info):
            continue
        entries.append({"name": info["name"], "type": info["type"]} if name_only else info)
    return cursor_reply(ctx.ns("$cmd.listCollections"), 0, entries, first=True)


@command("listDatabases", admin_only=True)
async def list_databases(ctx: CommandContext) -> dict[str, Any]:
    body = ctx.body
    filter = get_doc(body, "filter")
    name_only = get_bool(body, "nameOnly")
    predicate = matcher.compile_filter(filter) if filter else None
    store = ctx.state.store
    names = sorted(set(_SYSTEM_DATABASES) | {
        db for db in store.databases if ctx.view.collections(db)})
    databases = []
    total = 0
    for db in names:
        colls = ctx.view.collections(db)
        size = sum(c.count_latest() for c in colls) * 4096 + 8192 * len(colls)
        if db in _SYSTEM_DATABASES and not colls:
            size = 8192
        entry: dict[str, Any] = {"name": db, "sizeOnDisk": size, "empty": not colls}
        if predicate is not None and not predicate(entry):
            continue
        total += size
        databases.append({"name": db} if name_only else entry)
    reply: dict[str, Any] = {"databases": databases}
    if not name_only:
        reply["totalSize"] = total
        reply["totalSizeMb"] = total // (1024 * 1024)
    reply["ok"] = 1.0
    return reply


@command("collMod")
async def coll_mod(ctx: CommandContext) -> dict[str, Any]:
    name = ctx.collection_name()
    coll = ctx.collection(name)
    if coll is None:
        raise MongoError(26, f"ns does not exist: {ctx.ns(name)}")
    validation.check_options("collMod", ctx.body)
    before = dict(coll.options)
    changes = {key: value for key, value in ctx.body.items()
               if key in ("validator", "validationLevel", "validationAction",
                          "changeStreamPreAndPostImages", "expireAfterSeconds")}
    coll.update_options(changes)
    # A change stream's "modify" event (showExpandedEvents).
    ctx.state.changes.catalog_changed(
        ctx.state.store.tick(), "modify", coll, changes,
        before={"collectionOptions": {"uuid": coll.uuid, **before}})
    return {"ok": 1.0}


@command("renameCollection", admin_only=True)
async def rename_collection(ctx: CommandContext) -> dict[str, Any]:
    source, target = ctx.arg(), ctx.body.get("to")
    if not isinstance(source, str) or not isinstance(target, str) \
            or "." not in source or "." not in target:
        raise MongoError(73, "Invalid namespace specified for renameCollection")
    src_db, src_name = source.split(".", 1)
    dst_db, dst_name = target.split(".", 1)
    store = ctx.state.store
    coll = ctx.view.collection(src_db, src_name)
    if coll is None:
        raise MongoError(26, "Source collection " + source + " does not exist")
    if ctx.view.collection(dst_db, dst_name) is not None:
        if not get_bool(ctx.body, "dropTarget"):
            raise MongoError(48, "target namespace exists")
        ctx.state.txns.abort_touching(dst_db, dst_name)
    ctx.state.txns.abort_touching(src_db, src_name)
    store.rename_collection(coll, dst_db, dst_name)  # replaces the target
    return {"ok": 1.0}
