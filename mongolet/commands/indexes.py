"""createIndexes, listIndexes and dropIndexes."""

from __future__ import annotations

from typing import Any

from mongolet.commands import views
from mongolet.commands.registry import CommandContext, command
from mongolet.cursors import cursor_reply
from mongolet.errors import MongoError
from mongolet.indexes import IndexSpec, parse_index_spec
from mongolet.storage import Collection


def _existing_conflict(coll: Collection, spec: IndexSpec) -> bool:
    """True when ``spec`` already exists as is; raise MongoError on a conflicting index."""
    same_name = coll.indexes.get(spec.name)
    if same_name is not None:
        if same_name.same_definition(spec):
            return True
        if list(same_name.key.items()) != list(spec.key.items()):
            raise MongoError(86, f"An existing index has the same name as the requested index. "
                                 f"When index names are not specified, they are auto generated "
                                 f"and can cause conflicts. Please refer to our documentation. "
                                 f"Requested index: {spec.to_document()}, existing index: "
                                 f"{same_name.to_document()}")
        raise MongoError(85, f"An equivalent index already exists with the same name but "
                             f"different options. Requested index: {spec.to_document()}, "
                             f"existing index: {same_name.to_document()}")
    for existing in coll.indexes.values():
        if existing.same_key_and_identity(spec):
            raise MongoError(85, f"Index already exists with a different name: "
                                 f"{existing.name}")
    return False


@command("createIndexes", in_transaction=True)
async def create_indexes(ctx: CommandContext) -> dict[str, Any]:
    name = ctx.collection_name()
    raw = ctx.body.get("indexes")
    if not isinstance(raw, list):
        raise MongoError(40414 if raw is None else 14,
                         "BSON field 'createIndexes.indexes' is missing but a required field")
    if not raw:
        raise MongoError(2, "Must specify at least one index to create")
    specs = [parse_index_spec(item) for item in raw]
    view = ctx.view
    existed = view.collection(ctx.db, name)
    if ctx.txn is not None and existed is not None and existed.created_by is not ctx.txn:
        raise MongoError(263, f"Cannot create new indexes on existing collection "
                              f"{ctx.ns(name)} in a multi-document transaction.")
    coll = await view.writable_collection(ctx.db, name)
    views.check_writable(ctx, coll)
    default_collation = coll.options.get("collation")
    if default_collation is not None:  # indexes inherit the collection's collation
        for spec in specs:
            spec.options.setdefault("collation", default_collation)
    before = len(coll.indexes)
    new = [spec for spec in specs if not _existing_conflict(coll, spec)]
    texts = [s for s in [*coll.indexes.values(), *new] if "text" in s.key.values()]
    if len(texts) > 1:
        raise MongoError(85, f"An equivalent index already exists with a different name and "
                             f"options: only one text index per collection, "
                             f"{texts[0].name} exists")
    names = [spec.name for spec in new]
    if len(set(names)) != len(names):
        raise MongoError(68, "Identical index names in one createIndexes command")
    if ctx.txn is not None:
        for spec in new:
            _check_overlay_unique(ctx, coll, spec)
    for spec in new:
        coll.add_index(spec)
    if new and coll.created_by is None:
        _catalog_event(ctx, coll, "createIndexes", [spec.to_document() for spec in new])
    reply: dict[str, Any] = {"numIndexesBefore": before, "numIndexesAfter": len(coll.indexes),
                             "createdCollectionAutomatically": existed is None}
    if not new:
        reply["note"] = "all indexes already exist"
    reply["ok"] = 1.0
    return reply


def _check_overlay_unique(ctx: CommandContext, coll: Collection, spec: IndexSpec) -> None:
    """A unique index created inside a transaction must hold for the transaction's own
    documents in the new collection."""
    if not spec.unique:
        return
    seen: dict[Any, Any] = {}
    for _, doc in ctx.view.documents(coll):
        for key in spec.keys_of(doc):
            if key in seen:
                raise coll.duplicate_error(spec, doc)
            seen[key] = doc["_id"]


@command("listIndexes")
async def list_indexes(ctx: CommandContext) -> dict[str, Any]:
    name = ctx.collection_name()
    coll = ctx.collection(name)
    if coll is None:
        raise MongoError(26, f"ns does not exist: {ctx.ns(name)}")
    views.check_writable(ctx, coll)
    documents = [spec.to_document() for spec in coll.indexes.values()]
    clustered = coll.options.get("clusteredIndex")
    if isinstance(clustered, dict):  # a clustered collection's _id index is the cluster key
        documents[0] = {**clustered, "clustered": True}
    return cursor_reply(ctx.ns(name), 0, documents, first=True)


@command("dropIndexes", "deleteIndexes")
async def drop_indexes(ctx: CommandContext) -> dict[str, Any]:
    name = ctx.collection_name()
    coll = ctx.collection(name)
    if coll is None:
        raise MongoError(26, f"ns not found {ctx.ns(name)}")
    views.check_writable(ctx, coll)
    which = ctx.body.get("index")
    before = len(coll.indexes)
    if which == "*":
        dropped = [s.to_document() for n, s in coll.indexes.items() if n != "_id_"]
        for index_name in [n for n in coll.indexes if n != "_id_"]:
            coll.drop_index(index_name)
        if dropped:
            _catalog_event(ctx, coll, "dropIndexes", dropped)
        return {"nIndexesWas": before, "msg": "non-_id indexes dropped for collection",
                "ok": 1.0}
    if isinstance(which, dict):
        matching = [s.name for s in coll.indexes.values()
                    if list(s.key.items()) == list(which.items())
                    or list(s.to_document()["key"].items()) == list(which.items())]
        if not matching:
            raise MongoError(27, f"can't find index with key: {which}")
        names = matching[:1]
    elif isinstance(which, str):
        names = [which]
    elif isinstance(which, list) and all(isinstance(n, str) for n in which):
        names = list(which)
    else:
        raise MongoError(14, "BSON field 'dropIndexes.index' is missing or of the wrong type")
    for index_name in names:
        if index_name == "_id_":
            raise MongoError(72, "cannot drop _id index")
        if index_name not in coll.indexes:
            raise MongoError(27, f"index not found with name [{index_name}]")
    dropped = [coll.indexes[n].to_document() for n in names]
    for index_name in names:
        coll.drop_index(index_name)
    _catalog_event(ctx, coll, "dropIndexes", dropped)
    return {"nIndexesWas": before, "ok": 1.0}


def _catalog_event(ctx: CommandContext, coll: Collection, op: str,
                   indexes: list[dict[str, Any]]) -> None:
    """Tell the change history (an expanded change stream event)."""
    ctx.state.changes.catalog_changed(ctx.state.store.tick(), op, coll, {"indexes": indexes})
